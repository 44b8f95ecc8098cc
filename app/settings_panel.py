"""The settings panel, built from the field descriptions in ``pipelines.settings``.

Every leaf of ``Settings`` gets a widget chosen from its type and metadata
(choices: a list; bool: a tick box; numbers: a spin box with the field's range;
paths: a line edit with Browse and a live check of what the folder or file
holds).  The panel opens on the Basic view (fields marked ``level="basic"``: persona, models, voice,
microphone); Advanced shows every field.  A backend's own sub-section (``dialogue.chatglm.*``)
shows only while that backend is the one selected.
Save validates the whole object, writes the same settings file the
command line reads (atomically, through ``save_settings``) and emits ``applied``
so the window reloads the models in the background.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from pipelines.settings import Settings, SettingsError, iter_fields, load_settings, save_settings

from .folder_checks import Check, check_field

TITLES = {"dialogue": "Dialogue", "voice": "Voice", "face": "Face", "asr": "Speech input", "output": "Output"}


def sections(settings: Settings) -> list[tuple[str, str]]:
    """("", "General") and one group per settings section, in the settings' own order."""
    import dataclasses

    return [("", "General")] + [
        (f.name, TITLES.get(f.name, f.name.replace("_", " ").title()))
        for f in dataclasses.fields(settings)
        if dataclasses.is_dataclass(getattr(settings, f.name))
    ]


def backend_selector(settings: Settings, name: str) -> tuple[str, str] | None:
    """For a field of a backend's own sub-section (``voice.sovits.model_dir``): the field that
    selects that backend and the value that selects it (``("voice.vc_backend", "sovits")``)."""
    import dataclasses

    parts = name.split(".")
    if len(parts) < 3:
        return None
    section = getattr(settings, parts[0])
    for f in dataclasses.fields(section):
        if f.metadata.get("choices") and parts[1] in f.metadata["choices"]:
            return f"{parts[0]}.{f.name}", parts[1]
    return None


def _set_check_style(label: QLabel, check: Check) -> None:
    state = "info" if check.ok is None else ("ok" if check.ok else "bad")
    mark = {"ok": "✓ ", "bad": "✗ ", "info": ""}[state]
    label.setText(mark + check.message)
    label.setProperty("check", state)
    label.style().unpolish(label)
    label.style().polish(label)


class PathField(QWidget):
    """Line edit + Browse, with the check result underneath."""

    changed = Signal()

    def __init__(self, name: str, kind: str, settings_getter, parent=None) -> None:
        super().__init__(parent)
        self.name, self.kind = name, kind
        self._settings = settings_getter
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        row = QHBoxLayout()
        row.setSpacing(6)
        self.edit = QLineEdit()
        self.edit.setObjectName(f"edit_{name}")
        self.edit.editingFinished.connect(self.validate)
        self.edit.textChanged.connect(lambda _: self.changed.emit())
        self.browse = QToolButton()
        self.browse.setText("Browse…")
        self.browse.setObjectName(f"browse_{name}")
        if kind == "any":
            menu = QMenu(self.browse)
            menu.addAction("Folder…", lambda: self._browse("dir"))
            menu.addAction("File…", lambda: self._browse("file"))
            self.browse.setMenu(menu)
            self.browse.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        else:
            self.browse.clicked.connect(lambda: self._browse(kind))
        row.addWidget(self.edit, 1)
        row.addWidget(self.browse)
        lay.addLayout(row)
        self.check_label = QLabel("")
        self.check_label.setObjectName(f"check_{name}")
        self.check_label.setWordWrap(True)
        self.check_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.check_label)
        self.last_check: Check | None = None

    def value(self) -> str:
        return self.edit.text().strip()

    def set_value(self, value: str) -> None:
        self.edit.setText(str(value))
        self.validate()

    def _start_dir(self) -> str:
        v = self.value()
        if v:
            p = self._settings().resolve(v)
            return str(p if p.is_dir() else p.parent)
        from pipelines.settings import REPO_ROOT

        return str(REPO_ROOT)

    def _browse(self, kind: str) -> None:
        if kind == "dir":
            chosen = QFileDialog.getExistingDirectory(self, f"Choose {self.name}", self._start_dir())
        else:
            chosen, _ = QFileDialog.getOpenFileName(self, f"Choose {self.name}", self._start_dir())
        if chosen:
            self.choose(chosen)

    def choose(self, path: str) -> Check:
        """A path was picked: show it (repo-relative when inside the repo) and check it."""
        from pipelines.settings import REPO_ROOT

        p = Path(path)
        try:
            shown = str(p.resolve().relative_to(REPO_ROOT))
        except ValueError:
            shown = str(p)
        self.edit.setText(shown)
        return self.validate()

    def validate(self) -> Check:
        check = check_field(self.name, self.value(), self._settings())
        self.last_check = check
        _set_check_style(self.check_label, check)
        return check


class SettingsPanel(QWidget):
    applied = Signal(object)  # the saved Settings
    voice_preview = Signal(object, int)  # a sample sentence in the form's voice: samples, sample rate

    def __init__(self, settings: Settings, path: str | Path, parent=None) -> None:
        super().__init__(parent)
        self._loading = True  # no "changed" while the form is being built
        self.setObjectName("pageRoot")
        self.path = Path(path)
        self.saved = settings
        self.widgets: dict[str, QWidget] = {}
        self.meta: dict[str, dict] = {}
        self.rows: dict[str, tuple[QLabel, QWidget]] = {}  # name -> (label, field with its hints)
        self.groups: dict[str, QGroupBox] = {}
        self._selectors: dict[str, tuple[str, str]] = {}
        self.preview_task = None
        outer = QVBoxLayout(self)
        outer.setContentsMargins(12, 12, 12, 8)
        head = QLabel(
            f"Settings are saved to <b>{self.path}</b> — the same file "
            f"<code>main_demo.py --settings</code> and the tools read."
        )
        head.setObjectName("settingsHead")
        head.setWordWrap(True)
        outer.addWidget(head)
        levels = QHBoxLayout()
        self.basic_button = QRadioButton("Basic")
        self.basic_button.setObjectName("basicView")
        self.basic_button.setToolTip("Persona, models, voice and microphone")
        self.advanced_button = QRadioButton("Advanced")
        self.advanced_button.setObjectName("advancedView")
        self.advanced_button.setToolTip("Every setting: threads, sampling, batch sizes, ...")
        self._level_group = QButtonGroup(self)
        for b in (self.basic_button, self.advanced_button):
            self._level_group.addButton(b)
            levels.addWidget(b)
        levels.addStretch(1)
        self.basic_button.setChecked(True)
        self.basic_button.toggled.connect(lambda _: self._update_visible())
        outer.addLayout(levels)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        body = QWidget()
        body.setObjectName("pageRoot")
        self.body_layout = QVBoxLayout(body)
        self.body_layout.setContentsMargins(0, 0, 8, 0)
        scroll.setWidget(body)
        outer.addWidget(scroll, 1)
        self._build_form(settings)
        self.message = QLabel("")
        self.message.setObjectName("settingsMessage")
        self.message.setWordWrap(True)
        self.save_button = QPushButton("Save and apply")
        self.save_button.setObjectName("primaryButton")
        self.save_button.clicked.connect(self.save)
        self.revert_button = QPushButton("Revert")
        self.revert_button.setToolTip("Reload the settings file, dropping unsaved changes")
        self.revert_button.clicked.connect(self.revert)
        row = QHBoxLayout()
        row.addWidget(self.message, 1)
        row.addWidget(self.revert_button)
        row.addWidget(self.save_button)
        outer.addLayout(row)
        self.load(settings)
        self._update_visible()
        from .wheel_guard import guard_wheel

        self._wheel_guard = guard_wheel(self)

    # -- form ------------------------------------------------------------------
    def _build_form(self, settings: Settings) -> None:
        groups: dict[str, QFormLayout] = {}
        for prefix, title in sections(settings):
            box = QGroupBox(title)
            form = QFormLayout(box)
            form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            groups[prefix] = form
            self.groups[prefix] = box
            self.body_layout.addWidget(box)
        self.body_layout.addStretch(1)
        for name, f, value in iter_fields(settings):
            meta = dict(f.metadata)
            self.meta[name] = meta
            prefix = name.split(".")[0] if "." in name else ""
            w = self._make_widget(name, meta, value)
            self.widgets[name] = w
            parts = name.split(".")
            # a backend's own section shows its name: "chatglm · model dir"
            text = parts[-1].replace("_", " ") if len(parts) < 3 else f"{parts[1]} · {parts[-1].replace('_', ' ')}"
            label = QLabel(text)
            label.setToolTip(f"{name}: {meta.get('help', '')}")
            w.setToolTip(f"{name}: {meta.get('help', '')}")
            holder = QWidget()
            hl = QVBoxLayout(holder)
            hl.setContentsMargins(0, 0, 0, 4)
            hl.setSpacing(1)
            hl.addWidget(w)
            if hasattr(w, "check_label") and not isinstance(w, PathField):
                hl.addWidget(w.check_label)  # e.g. the endpoint's answer from its server
            hint = QLabel(meta.get("help", ""))
            hint.setProperty("class", "hint")
            hint.setWordWrap(True)
            hint.setStyleSheet("color: #7a8294; font-size: 8pt; font-weight: normal;")
            hl.addWidget(hint)
            groups[prefix].addRow(label, holder)
            self.rows[name] = (label, holder)
            selector = backend_selector(settings, name)
            if selector is not None:
                self._selectors[name] = selector
        self._add_voice_preview(groups["voice"])
        for selector, _ in set(self._selectors.values()):
            w = self.widgets.get(selector)
            if isinstance(w, QComboBox):
                w.currentIndexChanged.connect(lambda *_: self._update_visible())

    def _add_voice_preview(self, form: QFormLayout) -> None:
        row = QWidget()
        lay = QHBoxLayout(row)
        lay.setContentsMargins(0, 4, 0, 4)
        self.preview_button = QPushButton("▶ Preview voice")
        self.preview_button.setObjectName("previewVoiceButton")
        self.preview_button.setToolTip("Speak a sample sentence with the voice settings as they are now (unsaved too)")
        self.preview_button.clicked.connect(self.preview_voice)
        self.preview_label = QLabel("")
        self.preview_label.setObjectName("previewVoiceLabel")
        self.preview_label.setWordWrap(True)
        lay.addWidget(self.preview_button)
        lay.addWidget(self.preview_label, 1)
        form.addRow("", row)

    def preview_voice(self):
        """Speak the sample through the real voice stages with the form's values, off the UI
        thread; ``voice_preview`` carries the audio to play.  Returns the task (None if refused)."""
        from pipelines.voice.preview import preview_voice

        from .tasks import BackgroundTask

        if self.preview_task is not None and self.preview_task.running:
            return None
        try:
            settings = Settings.from_dict(self.values())
        except SettingsError as exc:
            self._show_errors(exc.errors)
            return None
        self.preview_task = BackgroundTask(
            lambda report, cancelled: preview_voice(settings, cancelled=cancelled), "voice-preview", self
        )
        self.preview_task.done.connect(self._preview_done)
        self.preview_task.failed.connect(self._preview_failed)
        self.preview_button.setEnabled(False)
        self.preview_label.setStyleSheet("")
        self.preview_label.setText(f"Speaking the sample ({settings.voice.tts_backend} → {settings.voice.vc_backend})…")
        return self.preview_task.start()

    def _preview_done(self, result) -> None:
        samples, rate, text = result
        self.preview_button.setEnabled(True)
        self.preview_label.setText(f"“{text}” ({len(samples) / rate:.1f} s)")
        self.voice_preview.emit(samples, rate)

    def _preview_failed(self, message: str, tb: str) -> None:
        self.preview_button.setEnabled(True)
        self.preview_label.setStyleSheet("color: #c62828;")
        self.preview_label.setText("No preview: " + (message.splitlines()[0] if message else "the voice failed"))

    def shutdown(self) -> None:
        if self.preview_task is not None:
            self.preview_task.wait(60000)

    # -- what is shown -------------------------------------------------------------
    @property
    def advanced(self) -> bool:
        return self.advanced_button.isChecked()

    def set_advanced(self, on: bool) -> None:
        (self.advanced_button if on else self.basic_button).setChecked(True)

    def shown(self, name: str) -> bool:
        """Whether field ``name`` is shown now (its level, and its backend selected)."""
        if not self.advanced and self.meta[name].get("level", "advanced") != "basic":
            return False
        selector = self._selectors.get(name)
        if selector is not None:
            w = self.widgets[selector[0]]
            return isinstance(w, QComboBox) and w.currentData() == selector[1]
        return True

    def _update_visible(self) -> None:
        any_shown: dict[str, bool] = {}
        for name, (label, holder) in self.rows.items():
            on = self.shown(name)
            label.setVisible(on)
            holder.setVisible(on)
            prefix = name.split(".")[0] if "." in name else ""
            any_shown[prefix] = any_shown.get(prefix, False) or on
        for prefix, box in self.groups.items():
            box.setVisible(any_shown.get(prefix, False))

    def _make_widget(self, name: str, meta: dict, value) -> QWidget:
        if name == "asr.input_device":
            from .input_device_field import input_device_combo

            w = input_device_combo(value)
            w.currentIndexChanged.connect(self._changed)
        elif meta.get("choices"):
            w = QComboBox()
            for c in meta["choices"]:
                w.addItem(str(c), c)
            w.currentIndexChanged.connect(self._changed)
            if name in ("dialogue.backend", "voice.vc_backend", "face.backend", "voice.tts_backend"):
                w.currentIndexChanged.connect(self._revalidate_paths)
        elif isinstance(value, bool):
            w = QCheckBox()
            w.toggled.connect(self._changed)
        elif isinstance(value, int):
            w = QSpinBox()
            w.setRange(
                int(meta["lo"]) if meta.get("lo") is not None else -(2**31),
                int(meta["hi"]) if meta.get("hi") is not None else 2**31 - 1,
            )
            w.valueChanged.connect(self._changed)
        elif isinstance(value, float):
            w = QDoubleSpinBox()
            w.setDecimals(3)
            w.setSingleStep(0.05)
            w.setRange(
                meta["lo"] if meta.get("lo") is not None else -1e9, meta["hi"] if meta.get("hi") is not None else 1e9
            )
            w.valueChanged.connect(self._changed)
        elif meta.get("path"):
            w = PathField(name, meta["path"], self.current_or_saved)
            w.changed.connect(self._changed)
        elif name == "dialogue.openai.endpoint":
            from .endpoint_field import EndpointField, offer_models

            w = EndpointField(
                lambda: (
                    self.widgets["dialogue.openai.api_key_env"].text()
                    if "dialogue.openai.api_key_env" in self.widgets
                    else ""
                )
            )
            w.textChanged.connect(self._changed)
            w.models_found.connect(
                lambda models: (
                    offer_models(self.widgets["dialogue.openai.model"], models)
                    if "dialogue.openai.model" in self.widgets
                    else None
                )
            )
        else:
            w = QLineEdit()
            w.textChanged.connect(self._changed)
        w.setObjectName(f"field_{name}")
        return w

    # -- values ------------------------------------------------------------------
    def load(self, settings: Settings) -> None:
        self._loading = True
        for name, _, value in iter_fields(settings):
            self._set_widget(name, value, validate=False)
        self._loading = False
        for w in self.widgets.values():
            if isinstance(w, PathField):
                w.validate()
        self.saved = settings
        self._set_dirty(False)

    def _set_widget(self, name: str, value, validate: bool = True) -> None:
        w = self.widgets[name]
        if isinstance(w, QComboBox):
            w.setCurrentIndex(max(0, w.findData(value)))
        elif isinstance(w, QCheckBox):
            w.setChecked(bool(value))
        elif isinstance(w, (QSpinBox, QDoubleSpinBox)):
            w.setValue(value)
        elif isinstance(w, PathField):
            w.edit.setText(str(value))
            if validate:
                w.validate()
        else:
            w.setText(str(value))

    def set_value(self, name: str, value) -> None:
        """Set one field from elsewhere (fine-tuning or enrollment result); not saved until Save."""
        self._set_widget(name, value)
        self._changed()
        self.message.setText(f"{name} set to {value} — press “Save and apply” to use it.")

    def values(self) -> dict:
        data: dict = {}
        for name, w in self.widgets.items():
            if isinstance(w, QComboBox):
                v = w.currentData()
            elif isinstance(w, QCheckBox):
                v = w.isChecked()
            elif isinstance(w, QSpinBox):
                v = int(w.value())
            elif isinstance(w, QDoubleSpinBox):
                v = float(w.value())
            elif isinstance(w, PathField):
                v = w.value()
            else:
                v = w.text()
            node = data
            *parents, last = name.split(".")
            for p in parents:
                node = node.setdefault(p, {})
            node[last] = v
        return data

    def current_or_saved(self) -> Settings:
        try:
            return Settings.from_dict(self.values())
        except SettingsError:
            return self.saved

    # -- actions ----------------------------------------------------------------
    def _changed(self, *args) -> None:
        if not getattr(self, "_loading", False):
            self._set_dirty(True)

    def _revalidate_paths(self, *args) -> None:
        if not getattr(self, "_loading", False):
            for w in self.widgets.values():
                if isinstance(w, PathField):
                    w.validate()

    def _set_dirty(self, dirty: bool) -> None:
        self.dirty = dirty
        self.save_button.setEnabled(dirty)
        self.revert_button.setEnabled(dirty)
        if dirty and not self.message.text():
            self.message.setText("Unsaved changes.")

    def save(self) -> Settings | None:
        """Validate, write the settings file atomically, and emit ``applied``."""
        try:
            settings = Settings.from_dict(self.values())
        except SettingsError as exc:
            self._show_errors(exc.errors)
            return None
        problems = self.blocking_problems(settings)
        if problems:
            self._show_errors(problems)
            return None
        try:
            save_settings(settings, self.path)
        except (OSError, SettingsError) as exc:
            self._show_errors([f"could not save {self.path}: {exc}"])
            return None
        self.saved = settings
        self._set_dirty(False)
        self._show_message(f"Saved to {self.path}; reloading the models…", ok=True)
        self.applied.emit(settings)
        return settings

    def blocking_problems(self, settings: Settings) -> list[str]:
        """Paths that the chosen backends need and that failed their check."""
        needed = {"persona", "output_dir"}
        if settings.dialogue.backend == "chatglm":
            needed.add("dialogue.chatglm.model_dir")
        if settings.voice.vc_backend == "sovits":
            needed |= {"voice.sovits.model_dir", "voice.sovits.contentvec_dir"}
        if settings.face.backend == "wav2lip":
            needed.add("face.wav2lip.checkpoint")
        out = []
        for name, w in self.widgets.items():
            if isinstance(w, PathField):
                check = w.validate()
                if check.ok is False and (name in needed or w.value()):
                    out.append(f"{name}: {check.message}")
                elif check.ok is None and name in needed:
                    out.append(f"{name}: {check.message}")
        return out

    def revert(self) -> None:
        if not self.path.exists():
            self.load(Settings())
            self._show_message(
                f"There is no settings file yet ({self.path}): the fields show the defaults; "
                f"“Save and apply” writes it.",
                ok=False,
            )
            return
        try:
            settings = load_settings(self.path)
        except SettingsError as exc:
            self._show_errors(exc.errors)
            return
        self.load(settings)
        self._show_message(f"Reloaded {self.path}.", ok=True)

    def _show_errors(self, errors: list[str]) -> None:
        self.message.setStyleSheet("color: #c62828; font-weight: 600;")
        self.message.setText("Not saved:\n" + "\n".join(errors))
        for name in self.widgets:
            bad = any(e.startswith(name + ":") for e in errors)
            self.widgets[name].setStyleSheet("border: 1px solid #c62828; border-radius: 4px;" if bad else "")

    def _show_message(self, text: str, ok: bool = True) -> None:
        self.message.setStyleSheet("color: #2e7d32;" if ok else "")
        self.message.setText(text)
        for w in self.widgets.values():
            w.setStyleSheet("")
