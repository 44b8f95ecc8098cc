"""The desktop app: a PySide6 window over the conversation engine in ``pipelines/``.

``python -m app`` opens it.  Everything that runs a model lives in ``pipelines``
and runs on worker threads; this package only shows what the engine publishes
(streamed text, video chunks with their audio, timings, errors) and edits the
same settings file the command line uses.
"""
