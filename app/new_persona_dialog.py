"""The "New persona" dialog: a name, a chat log (optional), a voice pitch and a face.

The face is a portrait image or 5-10 s clips, enrolled by the same code as ``python -m
pipelines enroll`` (``build_avatar``); ``pipelines.persona_create.create_persona`` checks
everything first and writes ``source/<name>/`` atomically, on a background thread.  A name that
is taken (``default`` above all) is refused: no persona is ever overwritten.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from pipelines.paths import SOURCE_DIR
from pipelines.persona_create import PITCH_RANGE_HZ, create_persona
from pipelines.settings import Settings

from .tasks import BackgroundTask


class NewPersonaDialog(QDialog):
    created = Signal(str)  # the new persona's folder

    def __init__(self, settings: Settings | None = None, personas_dir: str | Path = SOURCE_DIR, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New persona")
        self.settings = settings or Settings()
        self.personas_dir = Path(personas_dir)
        self.task: BackgroundTask | None = None
        self.folder: Path | None = None
        form = QFormLayout()
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("a folder name: letters, digits, - or _")
        self.display_edit = QLineEdit()
        self.display_edit.setPlaceholderText("shown in the window (empty: the name)")
        self.language = QComboBox()
        self.language.addItem("Chinese", "zh")
        self.language.addItem("English", "en")
        chat_row = QWidget()
        cl = QHBoxLayout(chat_row)
        cl.setContentsMargins(0, 0, 0, 0)
        self.chat_edit = QLineEdit()
        self.chat_edit.setPlaceholderText("optional: JSON lines with prompt / response (empty: the default's)")
        chat_browse = QPushButton("Browse…")
        chat_browse.clicked.connect(self._browse_chat)
        cl.addWidget(self.chat_edit, 1)
        cl.addWidget(chat_browse)
        self.pitch = QDoubleSpinBox()
        self.pitch.setRange(*PITCH_RANGE_HZ)
        self.pitch.setDecimals(0)
        self.pitch.setSingleStep(10)
        self.pitch.setSuffix(" Hz")
        self.pitch.setValue(210)
        self.pitch.setToolTip("the voice's median pitch: about 120 Hz low, 210 Hz high")
        face_box = QWidget()
        fl = QVBoxLayout(face_box)
        fl.setContentsMargins(0, 0, 0, 0)
        self.face_list = QListWidget()
        self.face_list.setMaximumHeight(90)
        add = QPushButton("Add portrait or clips…")
        add.clicked.connect(self._browse_face)
        clear = QPushButton("Remove all")
        clear.clicked.connect(self.face_list.clear)
        row = QHBoxLayout()
        row.addWidget(add)
        row.addWidget(clear)
        fl.addWidget(self.face_list)
        fl.addLayout(row)
        form.addRow("Name", self.name_edit)
        form.addRow("Shown as", self.display_edit)
        form.addRow("Language", self.language)
        form.addRow("Chat log", chat_row)
        form.addRow("Voice pitch", self.pitch)
        form.addRow("Face", face_box)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setVisible(False)
        self.message = QLabel("")
        self.message.setObjectName("newPersonaMessage")
        self.message.setWordWrap(True)
        self.create_button = QPushButton("Create")
        self.create_button.setObjectName("primaryButton")
        self.create_button.clicked.connect(self.create)
        cancel = QPushButton("Cancel")
        cancel.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(cancel)
        buttons.addWidget(self.create_button)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.progress)
        lay.addWidget(self.message)
        lay.addLayout(buttons)

    def _browse_chat(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Chat log", "", "Chat log (*.jsonl *.json);;All files (*)")
        if path:
            self.chat_edit.setText(path)

    def _browse_face(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Portrait image or video clips", "", "Images and clips (*.png *.jpg *.jpeg *.mp4 *.mov *.webm *.mkv)"
        )
        self.add_faces(paths)

    def add_faces(self, paths) -> None:
        for p in paths:
            self.face_list.addItem(str(p))

    def faces(self) -> list[str]:
        return [self.face_list.item(i).text() for i in range(self.face_list.count())]

    @property
    def busy(self) -> bool:
        return self.task is not None and self.task.running

    def create(self) -> None:
        """Check and write the persona on a background thread; ``created`` when it is on disk."""
        if self.busy:
            return
        face = self.settings.face
        args = dict(
            name=self.name_edit.text(),
            display_name=self.display_edit.text(),
            language=self.language.currentData(),
            chat_log=self.chat_edit.text().strip() or None,
            f0_median_hz=float(self.pitch.value()),
            face=self.faces(),
            personas_dir=self.personas_dir,
            enroll_options=dict(
                pads=face.pads, box=face.box or None, nosmooth=face.nosmooth, max_side=face.enroll_max_side
            ),
        )

        def work(report, cancelled):
            return str(create_persona(**args, progress=lambda m, f: report((m, f))))

        self.task = BackgroundTask(work, "new-persona", self)
        self.task.progress.connect(self._on_progress)
        self.task.done.connect(self._on_done)
        self.task.failed.connect(self._on_failed)
        self.create_button.setEnabled(False)
        self.progress.setVisible(True)
        self.progress.setValue(0)
        self.message.setStyleSheet("")
        self.message.setText("Checking and enrolling the face…")
        self.task.start()

    def _on_progress(self, item) -> None:
        message, fraction = item
        self.progress.setValue(int(100 * fraction))
        self.message.setText(message)

    def _on_done(self, folder: str) -> None:
        self.folder = Path(folder)
        self.create_button.setEnabled(True)
        self.progress.setVisible(False)
        self.message.setText(f"Created {folder}.")
        self.created.emit(folder)
        self.accept()

    def _on_failed(self, message: str, tb: str) -> None:
        self.create_button.setEnabled(True)
        self.progress.setVisible(False)
        self.message.setStyleSheet("color: #c62828; font-weight: 600;")
        self.message.setText(message.splitlines()[0] if message else "could not create the persona")

    def done(self, result: int) -> None:  # noqa: D401 - closing waits for a running write
        if self.task is not None and self.task.running:
            self.task.wait(120_000)
        super().done(result)
