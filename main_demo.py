"""Headless conversation demo: ``python main_demo.py --text "你好"`` (see ``--help``).

The demo lives in ``pipelines.headless_demo`` (also ``python -m pipelines demo`` and the
``persona-demo`` script); this file keeps DL-B's familiar entry point at the repository root.
"""

from pipelines.headless_demo import SCRIPTED, main, piped_lines

__all__ = ["SCRIPTED", "main", "piped_lines"]

if __name__ == "__main__":
    from pipelines import native_stderr

    native_stderr.install()  # mediapipe's threads' C++ log lines off stderr
    raise SystemExit(main())
