"""Run a long function (fine-tuning, enrollment, webcam recording) off the UI thread.

``BackgroundTask(fn)`` moves a worker QObject to its own QThread and calls
``fn(report, cancelled)`` there: ``report(payload)`` becomes the ``progress``
signal and ``cancelled()`` reads the flag ``cancel()`` sets.  Results and errors
come back as signals on the UI thread.
"""

from __future__ import annotations

import threading
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Signal, Slot


class _Worker(QObject):
    progress = Signal(object)
    done = Signal(object)
    failed = Signal(str, str)

    def __init__(
        self, fn: Callable[[Callable[[Any], None], Callable[[], bool]], Any], cancel_flag: threading.Event
    ) -> None:
        super().__init__()
        self.fn = fn
        self.cancel_flag = cancel_flag

    @Slot()
    def run(self) -> None:
        try:
            result = self.fn(self.progress.emit, self.cancel_flag.is_set)
        except BaseException as exc:  # reported, never lost
            self.failed.emit(
                f"{type(exc).__name__}: {exc}" if not isinstance(exc, ValueError) else str(exc), traceback.format_exc()
            )
        else:
            self.done.emit(result)


class BackgroundTask(QObject):
    progress = Signal(object)
    done = Signal(object)
    failed = Signal(str, str)
    ended = Signal()

    def __init__(self, fn, name: str = "task", parent=None) -> None:
        super().__init__(parent)
        self.cancel_flag = threading.Event()
        self.thread = QThread()
        self.thread.setObjectName(name)
        self.worker = _Worker(fn, self.cancel_flag)
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.run)
        self.worker.progress.connect(self.progress)
        self.worker.done.connect(self._on_done)
        self.worker.failed.connect(self._on_failed)
        self.running = False

    def start(self) -> "BackgroundTask":
        self.running = True
        self.thread.start()
        return self

    def cancel(self) -> None:
        self.cancel_flag.set()

    def wait(self, ms: int = 60000) -> bool:
        """Wait for the running work to end (the thread's loop stops once it returns)."""
        self.thread.quit()
        return self.thread.wait(ms)

    def _finish(self) -> None:
        self.running = False
        self.thread.quit()
        self.thread.wait(5000)
        self.ended.emit()

    def _on_done(self, result) -> None:
        self._finish()
        self.done.emit(result)

    def _on_failed(self, message: str, tb: str) -> None:
        self._finish()
        self.failed.emit(message, tb)
