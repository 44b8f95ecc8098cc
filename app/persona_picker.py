"""The persona picker: every persona in ``source/`` (a folder with persona.json), by name and face.

Choosing one emits ``chosen`` with its folder; the window sets ``settings.persona`` to it, saves
the settings and reloads the engine with that persona (its voice, chat log and face).
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QSize, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QToolButton, QWidget

from pipelines.paths import REPO_ROOT, SOURCE_DIR
from pipelines.persona import Persona, list_personas

log = logging.getLogger(__name__)

ICON = 40


def persona_face(persona: Persona) -> QPixmap:
    """The persona's portrait, else the first frame of its enrolled face, else an empty pixmap."""
    pix = QPixmap()
    if persona.portrait is not None and pix.load(str(persona.portrait)):
        return pix
    frames = persona.avatar_dir / "frames-png.npz"
    if frames.is_file():
        try:
            import numpy as np

            with np.load(frames, allow_pickle=False) as z:
                data, offsets = z["png"], z["offsets"]
            pix.loadFromData(data[offsets[0] : offsets[1]].tobytes(), "PNG")
        except Exception as exc:  # a broken cache: no picture, the name still shows
            log.warning("no face picture for %s: %s", persona.name, exc)
    return pix


def settings_value(folder: Path) -> str:
    """How the folder goes into ``settings.persona``: repo-relative when inside the repository."""
    try:
        return str(folder.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(folder)


class PersonaPicker(QWidget):
    chosen = Signal(str)  # the persona folder, as ``settings.persona`` takes it
    new_requested = Signal()

    def __init__(self, folder: str | Path = SOURCE_DIR, parent=None) -> None:
        super().__init__(parent)
        self.folder = Path(folder)
        self.personas: list[Persona] = []
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        label = QLabel("Persona")
        label.setObjectName("pickerLabel")
        self.combo = QComboBox()
        self.combo.setObjectName("personaPicker")
        self.combo.setIconSize(QSize(ICON, ICON))
        self.combo.setToolTip(f"The personas in {self.folder}: choosing one reloads the models with it")
        self.new_button = QToolButton()
        self.new_button.setText("New…")
        self.new_button.setObjectName("newPersonaButton")
        self.new_button.setToolTip("Make a new persona: name, chat log, voice and face")
        self.new_button.clicked.connect(self.new_requested.emit)
        lay.addWidget(label)
        lay.addWidget(self.combo, 1)
        lay.addWidget(self.new_button)
        self._current = ""
        self.combo.activated.connect(self._activated)

    def refresh(self, current: str | Path | None = None) -> None:
        """Read the personas again; ``current``: the folder now in use (selected, not emitted)."""
        if current is not None:
            self._current = str(Path(current).resolve())
        self.personas = list_personas(self.folder)
        known = {str(p.root.resolve()) for p in self.personas}
        if self._current and self._current not in known and (Path(self._current) / "persona.json").is_file():
            try:  # a persona outside source/ chosen in the settings: listed too
                self.personas.append(Persona.load(self._current))
            except ValueError as exc:
                log.warning("%s", exc)
        self.combo.blockSignals(True)
        self.combo.clear()
        for p in self.personas:
            self.combo.addItem(QIcon(persona_face(p)), p.display_name, str(p.root.resolve()))
            tip = str(p.root) + ("\n" + "\n".join(p.notes) if p.notes else "")
            self.combo.setItemData(self.combo.count() - 1, tip, 3)  # Qt.ToolTipRole
        i = self.combo.findData(self._current)
        if i >= 0:
            self.combo.setCurrentIndex(i)
        self.combo.blockSignals(False)

    def names(self) -> list[str]:
        return [self.combo.itemText(i) for i in range(self.combo.count())]

    def choose(self, folder: str | Path) -> bool:
        """Select the persona in ``folder`` as if the user had picked it."""
        i = self.combo.findData(str(Path(folder).resolve()))
        if i < 0:
            return False
        self.combo.setCurrentIndex(i)
        self._activated(i)
        return True

    def _activated(self, index: int) -> None:
        folder = self.combo.itemData(index)
        if folder and folder != self._current:
            self._current = folder
            self.chosen.emit(settings_value(Path(folder)))
