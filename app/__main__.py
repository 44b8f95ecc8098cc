"""``python -m app`` / ``persona-app``: open the persona's window."""

import sys


def run() -> int:
    from app.qt_env import check_qt_libraries, prepare_qt_env

    prepare_qt_env()  # before anything imports Qt (cv2's plugin paths must not leak into PySide6)
    missing = check_qt_libraries()  # Qt would abort with a misleading "xcb-cursor0 is needed" otherwise
    if missing:
        print(f"error: {missing}", file=sys.stderr)
        return 2
    from app.main_window import main

    return main()


if __name__ == "__main__":
    sys.exit(run())
