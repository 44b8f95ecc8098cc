"""Fine-tuning page: chat log → parse report → knobs → start / cancel / resume → live loss.

Runs ``pipelines.dialogue.finetune.finetune`` — the code behind ``python -m
pipelines finetune`` — on a background thread; its progress, log and loss
callbacks arrive here as signals.  Cancel asks it to stop (it saves a
checkpoint); Resume continues from the newest checkpoint in the output folder.
When it completes, "Use in settings" fills the dialogue settings with the base
model and the new P-tuning folder.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from pipelines.settings import REPO_ROOT, Settings

from .folder_checks import check_field
from .loss_plot import LossPlot
from .tasks import BackgroundTask

log = logging.getLogger(__name__)


def fmt_eta(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):
        return "–"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _spin(lo, hi, value, step=None, decimals=None):
    if isinstance(value, float) or decimals is not None:
        w = QDoubleSpinBox()
        w.setDecimals(decimals or 3)
    else:
        w = QSpinBox()
    w.setRange(lo, hi)
    w.setValue(value)
    if step:
        w.setSingleStep(step)
    return w


class FinetunePage(QWidget):
    use_result = Signal(
        object
    )  # {"dialogue.backend": ..., "dialogue.chatglm.model_dir": ..., "dialogue.chatglm.ptuning_dir": ...}
    finished = Signal(object)  # FinetuneResult (tests)

    def __init__(self, settings: Settings, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("pageRoot")
        self.settings = settings
        self.task: BackgroundTask | None = None
        self.parse_task: BackgroundTask | None = None
        self.report = None
        self.result = None
        outer = QVBoxLayout(self)
        outer.setContentsMargins(12, 12, 12, 8)
        top = QHBoxLayout()
        outer.addLayout(top, 0)

        # -- data ---------------------------------------------------------------
        data = QGroupBox("Chat log")
        dl = QVBoxLayout(data)
        row = QHBoxLayout()
        self.data_edit = QLineEdit(str(settings.persona_dir / "chat.jsonl"))
        self.data_edit.editingFinished.connect(self.parse)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_data)
        row.addWidget(self.data_edit, 1)
        row.addWidget(browse)
        dl.addLayout(row)
        cols = QHBoxLayout()
        self.prompt_col = QLineEdit("prompt")
        self.response_col = QLineEdit("response")
        self.history_col = QLineEdit("history")
        for lab, w in (("prompt", self.prompt_col), ("response", self.response_col), ("history", self.history_col)):
            cols.addWidget(QLabel(lab))
            w.setMaximumWidth(110)
            w.editingFinished.connect(self.parse)
            cols.addWidget(w)
        cols.addStretch(1)
        dl.addLayout(cols)
        self.data_summary = QLabel("Choose a JSON chat log (JSON lines or a JSON array).")
        self.data_summary.setWordWrap(True)
        self.rejected = QListWidget()
        self.rejected.setMaximumHeight(110)
        self.rejected.setToolTip("records that were skipped, with the reason")
        dl.addWidget(self.data_summary)
        dl.addWidget(self.rejected)
        top.addWidget(data, 1)

        # -- model and knobs --------------------------------------------------------
        knobs = QGroupBox("Model and training")
        grid = QGridLayout(knobs)
        self.base_edit = QLineEdit(settings.dialogue.chatglm.model_dir)
        self.base_edit.setPlaceholderText("base model folder (e.g. module/chatglm-6b)")
        self.base_edit.editingFinished.connect(self._check_base)
        base_browse = QPushButton("Browse…")
        base_browse.clicked.connect(lambda: self._browse_dir(self.base_edit, self._check_base))
        self.base_check = QLabel("")
        self.base_check.setWordWrap(True)
        persona = settings.persona_dir.name
        self.out_edit = QLineEdit(str(Path("module") / "ptuning" / persona))
        self.out_edit.editingFinished.connect(self._update_resume)
        out_browse = QPushButton("Browse…")
        out_browse.clicked.connect(lambda: self._browse_dir(self.out_edit, self._update_resume))
        self.remote = QCheckBox("trust the model folder's own code (THUDM ChatGLM)")
        self.remote.setChecked(settings.dialogue.chatglm.trust_remote_code)
        self.pre_seq_len = _spin(1, 4096, 128)
        self.steps = _spin(0, 10**7, 0)
        self.steps.setToolTip("optimizer steps (0: from epochs)")
        self.epochs = _spin(0.0, 1000.0, 3.0, 0.5, 2)
        self.lr = _spin(1e-6, 1.0, 2e-2, 0.005, 5)
        self.batch = _spin(1, 512, 4)
        self.max_src = _spin(8, 8192, 256)
        self.max_tgt = _spin(8, 8192, 128)
        self.save_steps = _spin(1, 10**6, 100)
        self.eval_split = _spin(0.0, 0.9, 0.0, 0.05, 2)
        r = 0
        grid.addWidget(QLabel("base model"), r, 0)
        grid.addWidget(self.base_edit, r, 1, 1, 4)
        grid.addWidget(base_browse, r, 5)
        r += 1
        grid.addWidget(self.base_check, r, 1, 1, 5)
        r += 1
        grid.addWidget(QLabel("output"), r, 0)
        grid.addWidget(self.out_edit, r, 1, 1, 4)
        grid.addWidget(out_browse, r, 5)
        r += 1
        grid.addWidget(self.remote, r, 1, 1, 5)
        r += 1
        pairs = [
            ("prefix tokens", self.pre_seq_len),
            ("steps", self.steps),
            ("epochs", self.epochs),
            ("learning rate", self.lr),
            ("batch size", self.batch),
            ("save every", self.save_steps),
            ("prompt tokens", self.max_src),
            ("reply tokens", self.max_tgt),
            ("eval split", self.eval_split),
        ]
        for i, (lab, w) in enumerate(pairs):
            grid.addWidget(QLabel(lab), r + i // 3, (i % 3) * 2)
            grid.addWidget(w, r + i // 3, (i % 3) * 2 + 1)
        top.addWidget(knobs, 1)

        # -- run ---------------------------------------------------------------------
        run = QHBoxLayout()
        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("primaryButton")
        self.start_button.clicked.connect(lambda: self.start(resume=False))
        self.resume_button = QPushButton("Resume")
        self.resume_button.clicked.connect(lambda: self.start(resume=True))
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.eta = QLabel("")
        self.eta.setMinimumWidth(220)
        for w in (self.start_button, self.resume_button, self.cancel_button):
            run.addWidget(w)
        run.addWidget(self.progress, 1)
        run.addWidget(self.eta)
        outer.addLayout(run)

        # shown when Start would write into a folder that already holds a run
        self.choice = QWidget()
        self.choice.setObjectName("finetuneChoice")
        cl = QHBoxLayout(self.choice)
        cl.setContentsMargins(0, 0, 0, 0)
        self.choice_label = QLabel("")
        self.choice_label.setWordWrap(True)
        self.choice_resume = QPushButton("Resume that run")
        self.choice_resume.clicked.connect(self._choose_resume)
        self.choice_new = QPushButton("Start in a new folder")
        self.choice_new.clicked.connect(self._choose_new_folder)
        self.choice_cancel = QPushButton("Keep it")
        self.choice_cancel.clicked.connect(lambda: self.choice.setVisible(False))
        cl.addWidget(self.choice_label, 1)
        for b in (self.choice_resume, self.choice_new, self.choice_cancel):
            cl.addWidget(b)
        self.choice.setVisible(False)
        outer.addWidget(self.choice)

        split = QSplitter(Qt.Orientation.Horizontal)
        self.plot = LossPlot()
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(2000)
        split.addWidget(self.plot)
        split.addWidget(self.log_view)
        split.setSizes([600, 400])
        outer.addWidget(split, 1)

        done = QHBoxLayout()
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.use_button = QPushButton("Use in settings")
        self.use_button.setEnabled(False)
        self.use_button.clicked.connect(self._use)
        done.addWidget(self.message, 1)
        done.addWidget(self.use_button)
        outer.addLayout(done)
        from .lipsync_train_page import LipsyncTrainBox

        self.lipsync = LipsyncTrainBox(settings)  # "Train lip-sync": the personal face model
        outer.addWidget(self.lipsync)
        self._check_base()
        self._update_resume()
        from .wheel_guard import guard_wheel

        self._wheel_guard = guard_wheel(self)

    # -- data --------------------------------------------------------------------------
    def _browse_data(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Choose a chat log",
            str(Path(self.data_edit.text()).parent),
            "Chat logs (*.jsonl *.json);;All files (*)",
        )
        if path:
            self.data_edit.setText(path)
            self.parse()

    def _browse_dir(self, edit: QLineEdit, then) -> None:
        start = str(self.settings.resolve(edit.text())) if edit.text().strip() else str(REPO_ROOT)
        path = QFileDialog.getExistingDirectory(self, "Choose a folder", start)
        if path:
            edit.setText(path)
            then()

    def data_path(self) -> Path:
        return self.settings.resolve(self.data_edit.text().strip())

    def parse(self) -> None:
        """Parse the chat log in the background; shows counts and every rejected line."""
        path = self.data_path()
        cols = (
            self.prompt_col.text().strip() or "prompt",
            self.response_col.text().strip() or "response",
            self.history_col.text().strip(),
        )

        def work(report, cancelled):
            from pipelines.dialogue.chat_data import load_chat_log

            return load_chat_log(path, *cols, require_examples=False)

        self.data_summary.setText(f"reading {path.name}…")
        self.parse_task = BackgroundTask(work, "chat-parse", self)
        self.parse_task.done.connect(self._parsed)
        self.parse_task.failed.connect(lambda m, tb: self._parse_failed(m))
        self.parse_task.start()

    def _parsed(self, result) -> None:
        examples, report = result
        self.report = report
        self.rejected.clear()
        for p in report.problems:
            self.rejected.addItem(str(p))
        ok = report.kept > 0
        self.data_summary.setText(
            f"<b>{report.kept}</b> example(s) parsed ({report.with_history} with history), "
            f"<b>{report.skipped}</b> rejected" + ("" if ok else " — nothing to train on")
        )
        self.data_summary.setStyleSheet("" if ok else "color: #c62828;")
        self.rejected.setVisible(bool(report.problems))

    def _parse_failed(self, message: str) -> None:
        self.report = None
        self.rejected.clear()
        self.data_summary.setText(message)
        self.data_summary.setStyleSheet("color: #c62828;")

    def _check_base(self) -> None:
        check = check_field("dialogue.chatglm.model_dir", self.base_edit.text(), self.settings)
        mark = "" if check.ok is None else ("✓ " if check.ok else "✗ ")
        self.base_check.setText(mark + check.message)
        self.base_check.setStyleSheet(
            {True: "color: #2e7d32;", False: "color: #c62828;", None: "color: #7a8294;"}[check.ok]
        )

    def _update_resume(self) -> None:
        from pipelines.dialogue.finetune_checkpoints import list_checkpoints

        out = self.settings.resolve(self.out_edit.text().strip()) if self.out_edit.text().strip() else None
        has = bool(out and out.is_dir() and list_checkpoints(out))
        self.resume_button.setEnabled(has and not self.running)
        self.resume_button.setToolTip(
            "continue from the newest checkpoint in the output folder"
            if has
            else "no checkpoint in the output folder yet"
        )

    # -- run -----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.task is not None and self.task.running

    def config(self, resume: bool):
        from pipelines.dialogue.finetune import FinetuneConfig

        return FinetuneConfig(
            data=str(self.data_path()),
            base=str(self.settings.resolve(self.base_edit.text().strip())),
            out=str(self.settings.resolve(self.out_edit.text().strip())),
            pre_seq_len=self.pre_seq_len.value(),
            steps=self.steps.value(),
            epochs=self.epochs.value(),
            lr=self.lr.value(),
            batch_size=self.batch.value(),
            max_source_length=self.max_src.value(),
            max_target_length=self.max_tgt.value(),
            save_steps=self.save_steps.value(),
            eval_split=self.eval_split.value(),
            resume=resume,
            prompt_column=self.prompt_col.text().strip() or "prompt",
            response_column=self.response_col.text().strip() or "response",
            history_column=self.history_col.text().strip(),
            device=self.settings.device,
            trust_remote_code=self.remote.isChecked(),
            threads=self.settings.threads,
        )

    def start(self, resume: bool = False) -> None:
        if self.running:
            return
        if not self.base_edit.text().strip() or not self.out_edit.text().strip():
            self._show("Choose a base model folder and an output folder first.", ok=False)
            return
        try:
            cfg = self.config(resume)
            cfg.validate()
        except Exception as exc:
            self._show(str(exc), ok=False)
            return
        existing = self._existing_checkpoints(Path(cfg.out))
        if existing and not resume:
            from pipelines.dialogue.finetune_checkpoints import checkpoint_step

            self.choice_label.setText(
                f"{cfg.out} already holds a training run (last checkpoint at step "
                f"{checkpoint_step(existing[-1])}). Resume it, or start over in a new folder?"
            )
            self.choice.setVisible(True)
            return
        self.choice.setVisible(False)

        def work(report, cancelled):
            from pipelines.dialogue.finetune import finetune

            return finetune(
                cfg,
                on_progress=lambda p: report(("progress", p)),
                on_log=lambda text: report(("log", text)),
                on_loss=lambda rec: report(("loss", dict(rec))),
                should_stop=cancelled,
            )

        self.result = None
        self._fresh_plot = not resume  # the previous curve stays until the new run's first loss
        self.plot.total_steps = cfg.steps
        self.log_view.clear()
        self.task = BackgroundTask(work, "finetune", self)
        self.task.progress.connect(self._on_progress)
        self.task.done.connect(self._done)
        self.task.failed.connect(self._failed)
        self.task.ended.connect(self._ended)
        self.start_button.setEnabled(False)
        self.resume_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.use_button.setEnabled(False)
        self.progress.setRange(0, 0)  # busy until the first step
        self.eta.setText("loading the model…")
        self._show("", ok=True)
        self.task.start()

    def cancel(self) -> None:
        if self.task is not None and self.task.running:
            self.task.cancel()
            self.eta.setText("cancelling: saving a checkpoint…")
            self.cancel_button.setEnabled(False)

    def _on_progress(self, payload) -> None:
        kind, value = payload
        if kind == "progress":
            self.progress.setRange(0, value.total_steps)
            self.progress.setValue(value.step)
            self.plot.total_steps = value.total_steps
            self.eta.setText(
                f"step {value.step}/{value.total_steps} · loss {value.loss:.3f} · ETA {fmt_eta(value.eta_s)}"
            )
        elif kind == "loss":
            if getattr(self, "_fresh_plot", False):
                self._fresh_plot = False
                self.plot.clear()
            self.plot.add(value)
        elif kind == "log":
            self.log_view.appendPlainText(str(value))

    def _done(self, result) -> None:
        self.result = result
        if result.cancelled:
            self._show(
                f"Cancelled at step {result.steps_done}/{result.total_steps}; a checkpoint was saved — "
                f"Resume continues from it.",
                ok=True,
            )
        else:
            best = f", best step {result.best_step}" if result.best_step else ""
            self._show(
                f"Done: {result.steps_done} step(s), last loss {result.last_loss:.3f}{best}. "
                f"The P-tuning folder is {result.out_dir}.",
                ok=True,
            )
            self.use_button.setEnabled(True)
        self.progress.setRange(0, max(1, result.total_steps))
        self.progress.setValue(result.steps_done)
        self.eta.setText(f"{result.steps_per_s:.2f} steps/s")
        self.finished.emit(result)

    def _failed(self, message: str, tb: str) -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.eta.setText("")
        self._show(message, ok=False)
        self.log_view.appendPlainText(f"stopped: {message}")
        if tb:
            log.error("fine-tuning failed: %s\n%s", message, tb)  # the traceback goes to the log file, not here

    def _existing_checkpoints(self, out: Path) -> list:
        from pipelines.dialogue.finetune_checkpoints import list_checkpoints

        return list_checkpoints(out) if out.is_dir() else []

    def _choose_resume(self) -> None:
        self.choice.setVisible(False)
        self.start(resume=True)

    def _choose_new_folder(self) -> None:
        """Start over in ``<out>-2`` (or the next free number) next to the existing run."""
        self.choice.setVisible(False)
        text = self.out_edit.text().strip().rstrip("/\\")
        base, n = text, 2
        stem, _, num = text.rpartition("-")
        if stem and num.isdigit():
            base, n = stem, int(num) + 1
        while self.settings.resolve(f"{base}-{n}").exists():
            n += 1
        self.out_edit.setText(f"{base}-{n}")
        self._update_resume()
        self.start(resume=False)

    def _ended(self) -> None:
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self._update_resume()

    def _use(self) -> None:
        if self.result is None:
            return
        from pipelines.settings import REPO_ROOT as root

        def shown(p) -> str:
            p = Path(p).resolve()
            try:
                return str(p.relative_to(root))
            except ValueError:
                return str(p)

        self.use_result.emit(
            {
                "dialogue.backend": "chatglm",
                "dialogue.chatglm.model_dir": shown(self.settings.resolve(self.base_edit.text().strip())),
                "dialogue.chatglm.ptuning_dir": shown(self.result.out_dir),
                "dialogue.chatglm.trust_remote_code": self.remote.isChecked(),
            }
        )

    def _show(self, text: str, ok: bool) -> None:
        self.message.setStyleSheet("color: #2e7d32;" if ok else "color: #c62828; font-weight: 600;")
        self.message.setText(text)

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if self.report is None and self.parse_task is None and self.data_edit.text().strip():
            self.parse()

    def shutdown(self) -> None:
        self.lipsync.shutdown()
        for t in (self.task, self.parse_task):
            if t is not None and t.running:
                t.cancel()
                t.wait(60000)
