""" "Train lip-sync" in the Fine-tuning area: clips of the persona speaking -> the ``personal`` face model.

Runs ``pipelines.face.personal.train.train`` — the code behind ``python -m pipelines
lipsync-train`` — on a background thread: the data report, a progress bar with ETA and
the live train / validation loss arrive as signals.  Cancel stops after the current step
(the last finished epoch's checkpoint stays; Resume continues it).  "Use in settings"
sets ``face.backend`` to ``personal`` and ``face.personal.checkpoint`` to the new weights.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from pipelines.settings import Settings

from .loss_plot import LossPlot
from .tasks import BackgroundTask

log = logging.getLogger(__name__)


class LipsyncTrainBox(QGroupBox):
    use_result = Signal(object)  # {"face.backend": "personal", "face.personal.checkpoint": ...}
    finished = Signal(object)  # the training summary (tests)

    def __init__(self, settings: Settings, parent=None) -> None:
        super().__init__("Train lip-sync", parent)
        self.settings = settings
        self.task: BackgroundTask | None = None
        self.result: dict | None = None
        cfg = settings.face.personal
        lay = QVBoxLayout(self)
        lay.addWidget(
            QLabel("1-5 minutes of video of the persona speaking (with sound): a lip-sync model of this face.")
        )
        self.clips = QListWidget()
        self.clips.setMaximumHeight(70)
        lay.addWidget(self.clips)
        grid = QGridLayout()
        lay.addLayout(grid)
        add = QPushButton("Add clips…")
        add.clicked.connect(self._browse)
        clear = QPushButton("Clear")
        clear.clicked.connect(self.clips.clear)
        grid.addWidget(add, 0, 0)
        grid.addWidget(clear, 0, 1)
        grid.addWidget(QLabel("Output folder"), 1, 0)
        from pipelines.face.personal.train import default_out

        persona = str(getattr(settings, "persona", "") or "default")
        self.out_edit = QLineEdit(str(default_out(Path(persona).name)))
        grid.addWidget(self.out_edit, 1, 1, 1, 3)
        self.width_spin = self._spin(2, 64, cfg.width)
        self.crop_spin = self._spin(64, 160, cfg.crop, 32)
        self.epochs_spin = self._spin(1, 10000, cfg.epochs)
        for col, (label, w) in enumerate(
            (("Width", self.width_spin), ("Crop px", self.crop_spin), ("Epochs", self.epochs_spin))
        ):
            grid.addWidget(QLabel(label), 2, 2 * col if col < 2 else 4)
            grid.addWidget(w, 2, 2 * col + 1 if col < 2 else 5)
        row = QHBoxLayout()
        lay.addLayout(row)
        self.start_button = QPushButton("Train lip-sync")
        self.start_button.clicked.connect(lambda: self.start(False))
        self.resume_button = QPushButton("Resume")
        self.resume_button.clicked.connect(lambda: self.start(True))
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.use_button = QPushButton("Use in settings")
        self.use_button.setEnabled(False)
        self.use_button.clicked.connect(self._use)
        for b in (self.start_button, self.resume_button, self.cancel_button, self.use_button):
            row.addWidget(b)
        self.progress = QProgressBar()
        lay.addWidget(self.progress)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        self.plot = LossPlot()
        lay.addWidget(self.plot)

    @staticmethod
    def _spin(lo: int, hi: int, value: int, step: int = 1) -> QSpinBox:
        s = QSpinBox()
        s.setRange(lo, hi)
        s.setSingleStep(step)
        s.setValue(int(value))
        return s

    def _browse(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self, "Clips of the persona speaking", "", "Video (*.mp4 *.mov *.webm *.mkv *.avi)"
        )
        for f in files:
            self.clips.addItem(f)

    def clip_paths(self) -> list[str]:
        return [self.clips.item(i).text() for i in range(self.clips.count())]

    @property
    def running(self) -> bool:
        return self.task is not None and self.task.running

    def start(self, resume: bool = False) -> None:
        if self.running:
            return
        clips, out = self.clip_paths(), self.out_edit.text().strip()
        if not clips or not out:
            self.status.setText("Add clips of the persona speaking and choose an output folder first.")
            return
        from pipelines.face.personal.train import TrainOptions
        from pipelines.face.personal.train_cli import contentvec_path

        cfg = self.settings.face.personal
        opts = TrainOptions(
            width=self.width_spin.value(),
            crop=self.crop_spin.value(),
            epochs=self.epochs_spin.value(),
            batch=cfg.batch,
            lr=cfg.lr,
            min_seconds=cfg.min_seconds,
            val_share=cfg.val_share,
            device=self.settings.device,
            threads=self.settings.threads,
            audio_features=cfg.audio_features,
            contentvec=contentvec_path(self.settings),
        )

        def work(report, cancelled):
            from pipelines.face.personal.data import prepare, report_lines
            from pipelines.face.personal.train import feature_maker, train

            data = prepare(
                clips,
                crop=opts.crop,
                min_seconds=opts.min_seconds,
                val_share=opts.val_share,
                progress=lambda m, f: report(("status", m)),
                features=feature_maker(opts),
            )
            report(("status", "\n".join(report_lines(data.report))))
            return train(
                clips,
                out,
                opts,
                resume=resume,
                data=data,
                should_stop=cancelled,
                progress=lambda m, f: report(("progress", (m, f))),
                on_loss=lambda r: report(("loss", dict(r))),
            )

        if not resume:
            self.plot.clear()
        self.task = BackgroundTask(work, "lipsync-train", self)
        self.task.progress.connect(self._on_progress)
        self.task.done.connect(self._done)
        self.task.failed.connect(self._failed)
        self.task.ended.connect(self._ended)
        for b in (self.start_button, self.resume_button, self.use_button):
            b.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 0)
        self.status.setText("reading the clips…")
        self.task.start()

    def cancel(self) -> None:
        if self.running:
            self.task.cancel()
            self.cancel_button.setEnabled(False)

    def _on_progress(self, payload) -> None:
        kind, value = payload
        if kind == "status":
            self.status.setText(str(value))
        elif kind == "progress":
            msg, frac = value
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * frac))
            self.progress.setFormat(msg.split("[")[0] + " " + msg.rsplit("]", 1)[-1])
        elif kind == "loss":
            self.plot.add(value)

    def _done(self, result) -> None:
        self.result = result
        if result.get("cancelled"):
            self.status.setText("Cancelled; the last finished epoch's checkpoint stays — Resume continues it.")
        else:
            self.status.setText(
                f"Done: best validation loss {result['best_eval_loss']:.4f}; weights {result['weights']}"
            )
            self.use_button.setEnabled(True)
        self.finished.emit(result)

    def _failed(self, message: str, tb: str) -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status.setText(message)
        if tb:
            log.error("lip-sync training failed: %s\n%s", message, tb)

    def _ended(self) -> None:
        self.start_button.setEnabled(True)
        self.resume_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def _use(self) -> None:
        if self.result:
            self.use_result.emit({"face.backend": "personal", "face.personal.checkpoint": self.result["weights"]})

    def shutdown(self) -> None:
        if self.running:
            self.task.cancel()
