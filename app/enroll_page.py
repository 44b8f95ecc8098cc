"""Enrollment page: clips (or a webcam recording) → quality report and crops → the persona's face.

Runs the same code as ``python -m pipelines enroll``: ``build_avatar`` reads,
detects, smooths and crops (in a background thread, with progress), the page
shows the quality report and a strip of the detected 96×96 crops, and "Save as
the persona's face" writes the avatar folder the way ``enroll`` does (a complete
new folder swapped in by rename, so the old face stays until the new one is
whole).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from pipelines.face.avatar.enroll import save_enrollment
from pipelines.settings import Settings

from .crops_view import CropStrip, to_pixmap
from .tasks import BackgroundTask

VIDEO_FILTER = "Clips and images (*.mp4 *.mov *.mkv *.webm *.avi *.m4v *.png *.jpg *.jpeg *.webp);;All files (*)"


class Cancelled(Exception):
    pass


def persona_target(text: str, settings: Settings) -> Path:
    """The persona folder a name or path in the page means (same rule as the CLI's --name)."""
    from pipelines.face.avatar.enroll import persona_folder

    text = text.strip()
    if not text:
        return settings.persona_dir
    p = settings.resolve(text)
    if p.is_dir() or "/" in text or "\\" in text:
        return p
    return persona_folder(text)


def is_shipped_persona(folder: Path) -> bool:
    """The persona that comes with the app (``source/default``): enrollment never writes into it."""
    from pipelines.settings import DEFAULT_PERSONA

    try:
        return Path(folder).resolve() == DEFAULT_PERSONA.resolve()
    except OSError:
        return False


def free_persona_folder(folder: Path) -> Path:
    """A persona folder next to ``folder`` that does not exist yet: ``<name>-face``, ``<name>-face-2`` …"""
    folder = Path(folder)
    base = folder.parent / (folder.name if folder.name.endswith("-face") else f"{folder.name}-face")
    cand, n = base, 2
    while cand.exists():
        cand, n = base.parent / f"{base.name}-{n}", n + 1
    return cand


def start_persona_from(folder: Path, base: Path) -> None:
    """Make ``folder`` a persona that works at once: the words and voice of ``base`` (its chat log
    copied), its own name; the face comes from the enrollment."""
    import json
    import shutil

    from pipelines.atomic_files import atomic_write_text

    folder.mkdir(parents=True, exist_ok=True)
    meta = {}
    if (base / "persona.json").is_file():
        meta = json.loads((base / "persona.json").read_text(encoding="utf-8"))
    chat = base / meta.get("chat_log", "chat.jsonl")
    if chat.is_file() and not (folder / "chat.jsonl").exists():
        shutil.copy2(chat, folder / "chat.jsonl")
    meta.update(name=folder.name, display_name=folder.name, chat_log="chat.jsonl")
    meta.pop("portrait", None)
    if not (folder / "persona.json").exists():
        atomic_write_text(folder / "persona.json", json.dumps(meta, ensure_ascii=False, indent=2) + "\n")


def previous_faces(folder: Path) -> list[Path]:
    d = Path(folder) / "avatar-previous"
    return sorted(p for p in d.iterdir() if (p / "meta.json").is_file()) if d.is_dir() else []


def backup_face(folder: Path) -> Path | None:
    """Copy the persona's current face into ``avatar-previous/<time>`` (before it is replaced)."""
    import shutil

    cur = Path(folder) / "avatar"
    if not (cur / "meta.json").is_file():
        return None
    dest = Path(folder) / "avatar-previous" / time.strftime("%Y%m%d-%H%M%S")
    n = 1
    while dest.exists():
        dest, n = dest.with_name(f"{dest.name.split('.')[0]}.{n}"), n + 1
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(cur, dest.with_name(dest.name + ".partial"))
    dest.with_name(dest.name + ".partial").rename(dest)
    return dest


def restore_face(folder: Path) -> dict:
    """The newest previous face becomes the face again (written atomically); the replaced one is kept."""
    import shutil

    from pipelines.face.avatar.storage import read_avatar, read_report, save_avatar

    prev = previous_faces(folder)[-1]
    av, report = read_avatar(prev), read_report(prev)
    backup_face(folder)
    report = dict(report, avatar_dir=str(Path(folder) / "avatar"))
    save_avatar(av, Path(folder) / "avatar", report)
    shutil.rmtree(prev)
    return report


class EnrollPage(QWidget):
    enrolled = Signal(str)  # avatar folder just saved

    def __init__(self, settings: Settings, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("pageRoot")
        self.settings = settings
        self.task: BackgroundTask | None = None
        self.avatar = None
        self.report: dict | None = None
        self.webcams: list[int] | None = None
        outer = QVBoxLayout(self)
        outer.setContentsMargins(12, 12, 12, 8)

        box = QGroupBox("Face clips")
        form = QFormLayout(box)
        self.persona_edit = QLineEdit(settings.persona)
        self.persona_edit.setToolTip("persona folder (or a new persona name under source/) that gets this face")
        form.addRow("persona", self.persona_edit)
        self.clips = QListWidget()
        self.clips.setMinimumHeight(70)
        self.clips.setMaximumHeight(120)
        self.add_button = QPushButton("Add clips…")
        self.add_button.clicked.connect(self._browse)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self._remove)
        self.record_button = QPushButton("Record from webcam")
        self.record_button.clicked.connect(self.record)
        self.record_seconds = QDoubleSpinBox()
        self.record_seconds.setRange(3, 20)
        self.record_seconds.setValue(8)
        self.record_seconds.setSuffix(" s")
        self.webcam_label = QLabel("")
        self.webcam_label.setStyleSheet("color: #7a8294;")
        col = QVBoxLayout()
        for b in (self.add_button, self.remove_button, self.record_button, self.record_seconds):
            col.addWidget(b)
        col.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.clips, 1)
        row.addLayout(col)
        holder = QWidget()
        holder.setLayout(row)
        form.addRow("clips", holder)
        form.addRow("", self.webcam_label)
        hint = QLabel("5–10 s of the face from the front, well lit, little head motion; or one portrait image.")
        hint.setStyleSheet("color: #7a8294;")
        form.addRow("", hint)
        outer.addWidget(box)
        outer.addWidget(self._options_box(settings))

        run = QHBoxLayout()
        self.check_button = QPushButton("Check clips")
        self.check_button.setObjectName("primaryButton")
        self.check_button.clicked.connect(self.check)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress_label = QLabel("")
        run.addWidget(self.check_button)
        run.addWidget(self.cancel_button)
        run.addWidget(self.progress, 1)
        outer.addLayout(run)
        outer.addWidget(self.progress_label)

        rep = QGroupBox("Quality report and detected crops")
        rl = QVBoxLayout(rep)
        self.preview = QLabel()
        self.preview.setFixedHeight(0)
        self.crops = CropStrip(count=8, size=88)
        self.report_view = QPlainTextEdit()
        self.report_view.setReadOnly(True)
        self.report_view.setPlaceholderText("The quality report appears here after “Check clips”.")
        rl.addWidget(self.preview)
        rl.addWidget(self.crops)
        rl.addWidget(self.report_view, 1)
        outer.addWidget(rep, 1)

        done = QHBoxLayout()
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.save_button = QPushButton("Save as the persona's face")
        self.save_button.setObjectName("primaryButton")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self.save)
        self.restore_button = QPushButton("Restore previous face")
        self.restore_button.setToolTip("put back the face this persona had before the last enrollment")
        self.restore_button.clicked.connect(self.restore_previous)
        done.addWidget(self.message, 1)
        done.addWidget(self.restore_button)
        done.addWidget(self.save_button)
        outer.addLayout(done)
        # asked before a face would be replaced (never for the shipped default: that one gets a new persona)
        self.choice = QWidget()
        cl = QHBoxLayout(self.choice)
        cl.setContentsMargins(0, 0, 0, 0)
        self.choice_label = QLabel("")
        self.choice_label.setWordWrap(True)
        self.choice_name = QLineEdit("")
        self.choice_name.setToolTip("name (or folder) of the new persona")
        self.choice_name.setMaximumWidth(200)
        self.choice_new = QPushButton("Save as a new persona")
        self.choice_new.clicked.connect(self._save_new_persona)
        self.choice_replace = QPushButton("Replace (keep the old one)")
        self.choice_replace.clicked.connect(lambda: self._save_to(self._replace_target, new_persona=False))
        self.choice_cancel = QPushButton("Cancel")
        self.choice_cancel.clicked.connect(lambda: self.choice.setVisible(False))
        cl.addWidget(self.choice_label, 1)
        cl.addWidget(self.choice_name)
        for b in (self.choice_new, self.choice_replace, self.choice_cancel):
            cl.addWidget(b)
        self.choice.setVisible(False)
        outer.addWidget(self.choice)
        self._new_target: Path | None = None
        self._replace_target: Path | None = None
        self._update_webcam(None)
        from .wheel_guard import guard_wheel

        self._wheel_guard = guard_wheel(self)

    def _options_box(self, settings: Settings) -> QGroupBox:
        """Wav2Lip's enrollment options (settings face.pads, face.box, face.nosmooth, face.enroll_max_side)."""
        box = QGroupBox("Face box options")
        form = QFormLayout(box)
        self.pad_spins: list[QSpinBox] = []
        pads_row = QHBoxLayout()
        for side in ("top", "bottom", "left", "right"):
            spin = QSpinBox()
            spin.setRange(0, 400)
            spin.setSuffix(" px")
            spin.setToolTip(f"pixels added at the {side} of the detected face box")
            spin.valueChanged.connect(self._invalidate)
            pads_row.addWidget(QLabel(side))
            pads_row.addWidget(spin)
            self.pad_spins.append(spin)
        pads_row.addStretch(1)
        form.addRow("padding", self._row(pads_row))
        form.addRow("", self._hint("More bottom padding if the chin is cut off; more top if the forehead is."))
        self.box_edit = QLineEdit()
        self.box_edit.setPlaceholderText("empty: find the face; or top bottom left right, e.g. 80 400 120 440")
        self.box_edit.textChanged.connect(self._invalidate)
        form.addRow("fixed box", self.box_edit)
        form.addRow(
            "",
            self._hint("Only if detection picks the wrong area: the face's box in the clip's own pixels (no padding)."),
        )
        self.nosmooth_check = QCheckBox("do not smooth the box over time")
        self.nosmooth_check.setToolTip("Wav2Lip's --nosmooth")
        self.nosmooth_check.toggled.connect(self._invalidate)
        form.addRow("", self.nosmooth_check)
        form.addRow(
            "", self._hint("Turn on if the mouth lags behind fast head movements; leave off for a steadier face.")
        )
        self.max_side_spin = QSpinBox()
        self.max_side_spin.setRange(96, 4096)
        self.max_side_spin.setSuffix(" px")
        self.max_side_spin.valueChanged.connect(self._invalidate)
        form.addRow("frame size", self.max_side_spin)
        form.addRow("", self._hint("Clips are kept at most this large (longer side); larger is sharper but slower."))
        self._load_options(settings)
        return box

    @staticmethod
    def _row(layout) -> QWidget:
        w = QWidget()
        layout.setContentsMargins(0, 0, 0, 0)
        w.setLayout(layout)
        return w

    @staticmethod
    def _hint(text: str) -> QLabel:
        label = QLabel(text)
        label.setWordWrap(True)
        label.setStyleSheet("color: #7a8294;")
        return label

    def _load_options(self, settings: Settings) -> None:
        from pipelines.face.avatar.enroll import EnrollmentError, parse_pads

        f = settings.face
        try:
            pads = parse_pads(f.pads)
        except EnrollmentError:
            pads = parse_pads(None)
        for spin, v in zip(self.pad_spins, pads):
            spin.setValue(max(0, int(v)))
        self.box_edit.setText(f.box or "")
        self.nosmooth_check.setChecked(bool(f.nosmooth))
        self.max_side_spin.setValue(int(f.enroll_max_side))
        self._loaded_options = self._settings_options(settings)

    @staticmethod
    def _settings_options(settings: Settings) -> tuple:
        f = settings.face
        return (f.pads, f.box, f.nosmooth, f.enroll_max_side)

    def enroll_options(self) -> dict:
        """The page's options as ``build_avatar`` takes them (a bad fixed box: ``EnrollmentError``)."""
        from pipelines.face.avatar.enroll import parse_box

        box = self.box_edit.text().strip()
        parse_box(box)  # one clear line before any clip is read
        return {
            "pads": tuple(s.value() for s in self.pad_spins),
            "box": box or None,
            "nosmooth": self.nosmooth_check.isChecked(),
            "max_side": self.max_side_spin.value(),
        }

    def set_settings(self, settings: Settings) -> None:
        self.settings = settings
        if self._settings_options(settings) != self._loaded_options:  # the settings changed them: follow
            self._load_options(settings)

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if self.webcams is None:
            self.detect_webcams()

    # -- clips ---------------------------------------------------------------------
    def add_clips(self, paths) -> None:
        for p in paths:
            self.clips.addItem(str(p))
        self._invalidate()

    def clip_paths(self) -> list[str]:
        return [self.clips.item(i).text() for i in range(self.clips.count())]

    def _browse(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Choose face clips", str(self.settings.persona_dir), VIDEO_FILTER)
        if files:
            self.add_clips(files)

    def _remove(self) -> None:
        for item in self.clips.selectedItems():
            self.clips.takeItem(self.clips.row(item))
        self._invalidate()

    def _invalidate(self, *_changed) -> None:
        self.avatar, self.report = None, None
        if hasattr(self, "save_button"):
            self.save_button.setEnabled(False)

    # -- webcam ----------------------------------------------------------------------
    def detect_webcams(self) -> None:
        from .webcam import find_webcams

        self.webcams = []
        self._update_webcam(None)
        self.webcam_label.setText("looking for a webcam…")
        self._cam_task = BackgroundTask(lambda report, cancelled: find_webcams(), "webcam-probe", self)
        self._cam_task.done.connect(self._update_webcam)
        self._cam_task.failed.connect(lambda m, tb: self._update_webcam([]))
        self._cam_task.start()

    def _update_webcam(self, found) -> None:
        if found is not None:
            self.webcams = list(found)
        ok = bool(self.webcams)
        self.record_button.setEnabled(ok)
        self.record_seconds.setEnabled(ok)
        if found is not None:
            self.webcam_label.setText(
                f"webcam {self.webcams[0]} ready" if ok else "No webcam found: add recorded clips instead."
            )

    def record(self) -> None:
        if not self.webcams or self._busy():
            return
        from .webcam import record_clip

        out = Path(tempfile.gettempdir()) / f"persona-webcam-{time.strftime('%Y%m%d-%H%M%S')}.mp4"
        seconds = self.record_seconds.value()
        index = self.webcams[0]
        self.preview.setFixedHeight(200)
        self._run(
            lambda report, cancelled: record_clip(index, seconds, out, progress=report, cancelled=cancelled),
            self._recorded,
            "recording…",
        )

    def _recorded(self, path) -> None:
        self.preview.setFixedHeight(0)
        self.add_clips([str(path)])
        self._show(f"recorded {path}", ok=True)

    # -- enrollment --------------------------------------------------------------------
    def _busy(self) -> bool:
        return self.task is not None and self.task.running

    def _run(self, fn, on_done, what: str) -> None:
        self.task = BackgroundTask(fn, "enroll", self)
        self.task.progress.connect(self._on_progress)
        self.task.done.connect(on_done)
        self.task.failed.connect(self._on_failed)
        self.task.ended.connect(self._on_ended)
        for b in (self.check_button, self.save_button, self.add_button, self.remove_button, self.record_button):
            b.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setValue(0)
        self.progress_label.setText(what)
        self.task.start()

    def check(self) -> None:
        """Read, detect and crop the clips (writes nothing); shows the report and crops."""
        clips = self.clip_paths()
        if not clips:
            self._show("Add at least one clip (or a portrait image) first.", ok=False)
            return
        if self._busy():
            return
        from pipelines.face.avatar.enroll import EnrollmentError

        try:
            options = self.enroll_options()
        except EnrollmentError as exc:
            self._show(f"fixed box: {exc}", ok=False)
            return

        def work(report, cancelled):
            from pipelines.face.avatar.enroll import build_avatar

            def progress(message, fraction):
                if cancelled():
                    raise Cancelled("enrollment cancelled")
                report((message, fraction))

            return build_avatar(clips, progress, **options)

        self._invalidate()
        self.crops.set_crops(None)
        self.report_view.clear()
        self._run(work, self._checked, "reading clips…")

    def _checked(self, result) -> None:
        from pipelines.face.avatar.enroll_cli import format_report

        self.avatar, self.report = result
        shown = self.crops.set_crops(self.avatar.crops)
        text = format_report(dict(self.report, avatar_dir="(not saved yet)"))
        self.report_view.setPlainText(text)
        self.progress.setValue(1000)
        advice = len(self.report.get("advice", []))
        self._show(
            f"Face found on {self.report['face_share']:.0%} of {self.report['frames']} frames"
            + (f"; {advice} piece(s) of advice below" if advice else "; quality good")
            + f" ({shown} crops shown). Save it as the persona's face?",
            ok=True,
        )
        self.save_button.setEnabled(True)

    def save(self) -> None:
        """Save the checked face: into a new persona folder at once; over an existing face only after
        asking (the old face is kept in ``avatar-previous/``); never into the shipped default persona."""
        if self.avatar is None or self._busy():
            return
        try:
            folder = persona_target(self.persona_edit.text(), self.settings)
        except Exception as exc:
            self._show(str(exc), ok=False)
            return
        self._new_target = free_persona_folder(folder)
        self.choice_name.setText(self._new_target.name)
        if is_shipped_persona(folder):
            self._replace_target = None
            self.choice_label.setText(
                f"{folder} is the persona that ships with the app and is never changed. "
                f"Save this face as a new persona “{self._new_target.name}”?"
            )
            self.choice_replace.setVisible(False)
            self.choice.setVisible(True)
            return
        if (folder / "avatar" / "meta.json").is_file():
            self._replace_target = folder
            self.choice_label.setText(
                f"{folder.name} already has a face. Replace it (the current one is kept and "
                f"“Restore previous face” brings it back), or save as a new persona "
                f"“{self._new_target.name}”?"
            )
            self.choice_replace.setVisible(True)
            self.choice.setVisible(True)
            return
        self._save_to(folder, new_persona=not (folder / "persona.json").is_file())

    def _save_new_persona(self) -> None:
        try:
            target = (
                persona_target(self.choice_name.text(), self.settings)
                if self.choice_name.text().strip()
                else self._new_target
            )
        except Exception as exc:
            self._show(str(exc), ok=False)
            return
        if target is None or is_shipped_persona(target) or (target / "avatar" / "meta.json").exists():
            self._show(f"{target} already has a face: choose another name for the new persona.", ok=False)
            return
        self._save_to(target, new_persona=not (target / "persona.json").is_file())

    def _save_to(self, folder: Path | None, new_persona: bool) -> None:
        self.choice.setVisible(False)
        if folder is None or self.avatar is None or self._busy():
            return
        avatar, report, base = self.avatar, self.report, self.settings.persona_dir

        def work(r, c):
            if new_persona:
                start_persona_from(folder, base)
            backup_face(folder)
            return save_enrollment(folder, avatar, report)

        self._run(work, self._saved, f"saving into {folder}…")

    def restore_previous(self) -> None:
        """Put back the newest face in ``avatar-previous/`` (the current one is kept there in turn)."""
        if self._busy():
            return
        try:
            folder = persona_target(self.persona_edit.text(), self.settings)
        except Exception as exc:
            self._show(str(exc), ok=False)
            return
        if not previous_faces(folder):
            self._show(f"{folder.name} has no previous face to restore.", ok=False)
            return
        self._run(lambda r, c: restore_face(folder), self._saved, f"restoring the previous face of {folder}…")

    def _saved(self, report: dict) -> None:
        self.persona_edit.setText(str(Path(report["avatar_dir"]).parent))
        self.report = report
        from pipelines.face.avatar.enroll_cli import format_report

        self.report_view.setPlainText(format_report(report))
        self._show(f"Saved into {report['avatar_dir']}. Press “Save and apply” in Settings to use it now.", ok=True)
        self.enrolled.emit(report["avatar_dir"])

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.progress_label.setText("cancelling…")

    def _on_progress(self, payload) -> None:
        if isinstance(payload, tuple) and len(payload) == 2 and isinstance(payload[0], str):
            message, fraction = payload
            self.progress.setValue(int(1000 * max(0.0, min(1.0, fraction))))
            self.progress_label.setText(message)
        elif isinstance(payload, tuple) and len(payload) == 2:  # webcam: (fraction, frame)
            fraction, frame = payload
            self.progress.setValue(int(1000 * fraction))
            self.preview.setPixmap(to_pixmap(frame, 200))

    def _on_failed(self, message: str, tb: str) -> None:
        self._show(message, ok=False)
        self.progress_label.setText("")
        self.preview.setFixedHeight(0)

    def _on_ended(self) -> None:
        self.cancel_button.setEnabled(False)
        for b in (self.check_button, self.add_button, self.remove_button):
            b.setEnabled(True)
        self._update_webcam(None)
        self.save_button.setEnabled(self.avatar is not None)

    def _show(self, text: str, ok: bool) -> None:
        self.message.setStyleSheet("color: #2e7d32;" if ok else "color: #c62828; font-weight: 600;")
        self.message.setText(text)

    def shutdown(self) -> None:
        for t in (self.task, getattr(self, "_cam_task", None)):
            if t is not None and t.running:
                t.cancel()
                t.wait(10000)
