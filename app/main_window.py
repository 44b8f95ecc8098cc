"""The main window: avatar and chat side by side, settings, fine-tuning and enrollment pages.

``python -m app [--settings FILE]`` opens it.  The window is a view: text,
frames and audio come from the engine (``EngineController``) by queued signals,
the player keeps video in step with the audio clock, and loading or reloading
models happens on a background thread while the window stays live.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from pipelines.messages import StageError
from pipelines.paths import SOURCE_DIR
from pipelines.settings import (
    DEFAULT_SETTINGS_FILE,
    Settings,
    SettingsError,
    load_settings,
    save_settings,
)
from pipelines.turn_record import TurnRecord

from .audio_output import AudioOutput, open_audio_output
from .avatar_view import AvatarView
from .chat_panel import ChatPanel
from .engine_bridge import EngineController, EngineFactory, default_engine_factory
from .plain_words import plain_mode
from .player import AvatarPlayer
from .status_panel import StatusPanel, describe_timings, fmt_s

log = logging.getLogger(__name__)

#: rounds of the last conversation shown and given back to the dialogue on start
RESTORE_ROUNDS = 20


def last_conversation(records: list[dict], limit: int = RESTORE_ROUNDS) -> list[tuple[str, str]]:
    """(user text, reply) of the completed turns after the last Clear in a conversation log."""
    start = 0
    for i, r in enumerate(records):
        if r.get("event") == "cleared":
            start = i + 1
    rounds = [
        (r["user_text"], r["reply"])
        for r in records[start:]
        if r.get("status") == "ok" and r.get("user_text") and r.get("reply")
    ]
    return rounds[-limit:] if limit else []


def _scrolled(page: QWidget) -> QScrollArea:
    """A page in a scroll area: on a small screen it scrolls instead of widening the window."""
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    area.setWidget(page)
    return area


class MainWindow(QMainWindow):
    turn_done = Signal(object)  # TurnRecord, after the window has shown it (tests, bench)
    video_saved = Signal(int, str)  # turn id, MP4 path ("" when it could not be written)

    def __init__(
        self,
        settings: Settings | None = None,
        settings_path: str | Path | None = None,
        engine_factory: EngineFactory = default_engine_factory,
        audio: AudioOutput | None = None,
        autostart: bool = True,
        greet: bool = True,
        personas_dir: str | Path | None = None,
        theme=None,
        parent=None,
    ) -> None:
        """``greet``: the persona says its greeting (persona.json) when its models are ready;
        ``personas_dir``: where the persona picker looks (default source/); ``theme``: the app's
        ``ThemeManager`` (one following the desktop is made when not given)."""
        super().__init__(parent)
        self.settings_path = Path(settings_path) if settings_path else DEFAULT_SETTINGS_FILE
        settings_error = None
        if settings is None:
            try:
                settings = load_settings(self.settings_path if self.settings_path.exists() else None)
            except SettingsError as exc:
                settings_error = str(exc)
                settings = Settings()
        self.settings = settings
        self.audio = audio if audio is not None else open_audio_output()
        self.controller = EngineController(engine_factory, audio_rate=self.audio.preferred_rate, parent=self)
        self.player = AvatarPlayer(self.audio, parent=self)
        self.current_turn: int | None = None
        self._engine_busy = False
        self._t0: dict[int, float] = {}
        self._shown_s: dict[int, float] = {}
        self._records: dict[int, TurnRecord] = {}
        #: why a reply was cut short, for its bubble (what arrives is already filtered by the bridge)
        self._stopped: dict[int, str] = {}
        self._restored = False  # the last conversation is restored once, when the first engine is ready
        self.restored_rounds: list[tuple[str, str]] = []
        self.greet = greet
        self.personas_dir = Path(personas_dir) if personas_dir else SOURCE_DIR
        self._greeted_persona: str | None = None  # the persona folder that last said its greeting
        self.greeting_turn: int | None = None
        self.errors: list[StageError] = []
        self._idle_source = None  # (frames at full size, fps): rescaled to the view off the UI thread
        self._idle_task = None
        self._idle_timer = QTimer(self)
        self._idle_timer.setSingleShot(True)
        self._idle_timer.setInterval(250)  # debounce window resizes
        self._idle_timer.timeout.connect(self._rescale_idle)

        if theme is None:
            from PySide6.QtWidgets import QApplication

            from .theme import ThemeManager

            theme = ThemeManager(QApplication.instance(), parent=self)
        self.theme = theme
        self.setWindowTitle("Persona")
        self._fit_to_screen(1120, 700)
        self._build()
        self._connect()
        self._shortcuts()
        if settings_error:
            self.status.show_error(f"settings file {self.settings_path} not used: {settings_error}", settings_error)
        self._check_fonts()
        if self.audio.notice:
            self.avatar.set_notice(self.audio.notice)
            self.status.set_audio_notice(self.audio.notice)
        if autostart:
            self.start_engine(self.settings)

    # -- construction ------------------------------------------------------------
    def _build(self) -> None:
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.setCentralWidget(self.tabs)

        chat_page = QWidget()
        chat_page.setObjectName("chatPage")
        lay = QHBoxLayout(chat_page)
        lay.setContentsMargins(12, 12, 12, 8)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.setChildrenCollapsible(False)
        pane = QWidget()
        pane.setObjectName("avatarPane")
        pane.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        pl = QVBoxLayout(pane)
        pl.setContentsMargins(10, 10, 10, 12)
        from .persona_picker import PersonaPicker

        self.persona_picker = PersonaPicker(self.personas_dir)
        pl.addWidget(self.persona_picker)
        self.avatar = AvatarView()
        self.persona_label = QLabel("")
        self.persona_label.setObjectName("personaName")
        self.persona_label.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.state_label = QLabel("loading…")
        self.state_label.setObjectName("personaState")
        self.state_label.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        pl.addWidget(self.avatar, 1)
        pl.addWidget(self.persona_label)
        pl.addWidget(self.state_label)
        self._voice_layout = pl  # the voice row goes under the avatar (placed in _connect)
        self.chat = ChatPanel()
        self.chat.set_ready(False, "Loading the models…")
        split.addWidget(pane)
        split.addWidget(self.chat)
        split.setStretchFactor(0, 5)
        split.setStretchFactor(1, 6)
        split.setSizes([500, 600])
        lay.addWidget(split)
        self.tabs.addTab(chat_page, "Chat")

        from .settings_panel import SettingsPanel

        self.settings_panel = SettingsPanel(self.settings, self.settings_path)
        self.tabs.addTab(self.settings_panel, "Settings")
        from .finetune_page import FinetunePage

        self.finetune_page = FinetunePage(self.settings)
        self.tabs.addTab(_scrolled(self.finetune_page), "Fine-tuning")
        from .enroll_page import EnrollPage

        self.enroll_page = EnrollPage(self.settings)
        self.tabs.addTab(_scrolled(self.enroll_page), "Enrollment")

        self.status = StatusPanel()
        self.setStatusBar(self.status)
        from PySide6.QtWidgets import QToolButton

        self.theme_button = QToolButton()
        self.theme_button.setObjectName("themeButton")
        self.theme_button.setText("Theme")
        self.theme_button.setToolTip("Light, dark, or follow the desktop")
        self.theme_button.setMenu(self.theme.menu(self.theme_button))
        self.theme_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.status.addPermanentWidget(self.theme_button)

    def _connect(self) -> None:
        sig = self.controller.signals
        sig.text.connect(self._on_text)
        sig.video.connect(self.player.push)
        sig.turn_rendered.connect(self.player.turn_rendered)
        sig.finished.connect(self._on_finished)
        sig.error.connect(self._on_error)
        sig.cancelled.connect(self.player.drop_turn)
        self.controller.loading.connect(self._on_loading)
        self.controller.ready.connect(self._on_ready)
        self.controller.failed.connect(self._on_load_failed)
        self.controller.idle_ready.connect(self._on_idle_frames)
        self.player.frame_ready.connect(self.avatar.show_frame)
        self.avatar.box_changed.connect(self.controller.set_display_box)
        self.avatar.box_changed.connect(lambda w, h: self._idle_timer.start())
        self.avatar.painted.connect(self.player.painted)
        self.player.first_frame.connect(self._on_first_frame)
        self.player.playing_changed.connect(self._on_playing)
        self.chat.send_requested.connect(self.send)
        self.chat.stop_requested.connect(self.stop)
        self.chat.clear_requested.connect(self.clear)
        self.chat.volume.valueChanged.connect(lambda v: self.audio.set_volume(v / 100.0))
        self.settings_panel.applied.connect(self.apply_settings)
        self.settings_panel.voice_preview.connect(self.play_preview)
        self.finetune_page.use_result.connect(self._use_finetune_result)
        self.enroll_page.enrolled.connect(self._on_enrolled)
        self.persona_picker.chosen.connect(self.switch_persona)
        self.persona_picker.new_requested.connect(self.new_persona)
        from .voice_panel import install_voice_input

        self.voice = install_voice_input(self, self._voice_layout)  # mic button, level, barge-in

    def _fit_to_screen(self, width: int, height: int) -> None:
        """Open at ``width`` x ``height``, or smaller: never wider or taller than the screen's free area."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is not None:
            avail = screen.availableGeometry()
            width, height = min(width, avail.width()), min(height, avail.height())
        self.resize(width, height)

    def _shortcuts(self) -> None:
        """Esc stops the reply, Ctrl+Q quits, Ctrl+L clears (asks first), Ctrl+, opens Settings."""
        from PySide6.QtGui import QKeySequence, QShortcut

        self.shortcuts = {}
        for keys, slot in (
            ("Esc", self.stop),
            ("Ctrl+Q", self.close),
            ("Ctrl+L", self.chat.request_clear),
            ("Ctrl+,", lambda: self.tabs.setCurrentWidget(self.settings_panel)),
        ):
            sc = QShortcut(QKeySequence(keys), self)
            sc.setContext(Qt.ShortcutContext.WindowShortcut)
            sc.activated.connect(slot)
            self.shortcuts[keys] = sc

    def _check_fonts(self) -> None:
        from .qt_env import cjk_font_warning

        warning = cjk_font_warning()
        if warning:
            self.status.show_error(warning)
            self.chat.add_notice(warning)

    # -- engine life cycle -------------------------------------------------------
    def start_engine(self, settings: Settings) -> None:
        self.chat.set_ready(False, "Loading the models…")
        self.state_label.setText("loading models…")
        self.avatar.set_caption("Loading models…")
        self.controller.start(settings)

    def apply_settings(self, settings: Settings) -> None:
        """New settings were saved: reload the engine in the background."""
        self.settings = settings
        self.finetune_page.settings = settings
        self.enroll_page.set_settings(settings)
        self.stop()
        self.current_turn = None
        self.chat.clear()  # the new engine starts with no history: so does the window
        self.chat.add_notice("Settings saved — reloading the models (the conversation history starts afresh).")
        self.start_engine(settings)

    def new_persona(self):
        """The New persona dialog; the persona it creates is listed and switched to."""
        from .new_persona_dialog import NewPersonaDialog
        from .persona_picker import settings_value

        dialog = NewPersonaDialog(self.settings, self.personas_dir, self)
        dialog.created.connect(
            lambda folder: (self.persona_picker.refresh(), self.switch_persona(settings_value(Path(folder))))
        )
        dialog.open()
        self.new_persona_dialog = dialog
        return dialog

    def play_preview(self, samples, sample_rate: int) -> None:
        """Play a voice preview (Settings): the reply being played, if any, stops first."""
        self.stop()
        self.audio.clear()
        self.audio.write(samples, int(sample_rate))

    def switch_persona(self, folder: str) -> bool:
        """Talk to the persona in ``folder``: saved as ``settings.persona``, models reloaded with it."""
        try:
            new = self.settings.replace("persona", folder)
            save_settings(new, self.settings_path)
        except (SettingsError, OSError) as exc:
            self.status.show_error(f"could not switch to the persona {folder}: {exc}")
            return False
        if self.settings_panel.dirty:  # keep the unsaved edits: only the persona field changes
            self.settings_panel.set_value("persona", new.persona)
        else:
            self.settings_panel.load(new)
        self.apply_settings(new)
        return True

    def _on_loading(self, what: str, done: int, total: int) -> None:
        self.status.set_loading(what, done, total)
        self.avatar.set_caption(f"{what.capitalize()}… ({done}/{total})")

    def _on_ready(self, backends: dict, seconds: float) -> None:
        self.status.loading_done()
        ready = self.controller.engine
        self.status.set_backends(backends, ready.settings if ready is not None else self.settings)
        self.status.set_timings(f"models loaded in {seconds:.1f} s")
        self.avatar.set_caption("")
        eng = self.controller.engine
        name = eng.persona.display_name if eng is not None and eng.persona else "Persona"
        self.persona_label.setText(name)
        self.setWindowTitle(f"{name} — Persona")
        self.state_label.setText("listening")
        self.chat.persona_name = name
        self.chat.set_ready(True)
        self.chat.input.setFocus()
        if not self._restored and eng is not None:
            self._restored = True
            self._restore_conversation(eng)
        if eng is not None and eng.persona is not None:
            self.persona_picker.refresh(eng.persona.root)
            for note in eng.persona.notes:
                self.chat.add_notice(note)
            self._greet(eng.persona)

    def _greet(self, persona) -> None:
        """The persona's greeting, spoken and animated like a reply, once per persona loaded."""
        root = str(persona.root.resolve())
        if not self.greet or not persona.greeting or root == self._greeted_persona:
            return
        self._greeted_persona = root
        try:
            turn_id = self.controller.say(persona.greeting)
        except Exception as exc:
            log.warning("the greeting could not start: %s", exc)
            return
        self._t0[turn_id] = time.perf_counter()
        self.current_turn = self.greeting_turn = turn_id
        self._engine_busy = True
        self.chat.begin_reply(turn_id)
        self._update_busy()

    def _restore_conversation(self, eng) -> None:
        """Show the last conversation of the log and give it back to the dialogue as its history."""
        try:
            rounds = last_conversation(eng.log.read())
        except (OSError, ValueError) as exc:
            log.warning("could not read the conversation log: %s", exc)
            return
        if not rounds:
            return
        self.chat.clear()
        self.chat.add_notice(f"The last conversation ({len(rounds)} message(s)) — Clear starts a new one.")
        for user_text, reply in rounds:
            self.chat.add_earlier(user_text, reply)
        eng.restore_history(rounds)
        self.restored_rounds = rounds

    def _on_idle_frames(self, frames, fps: float) -> None:
        self._idle_source = (frames, fps) if frames is not None else None
        self.player.set_idle_frames(frames, fps)  # at once (scaled while painting) ...
        self._rescale_idle()  # ... then pre-scaled to the view in the background

    def _rescale_idle(self) -> None:
        if self._idle_source is None:
            return
        if self._idle_task is not None and self._idle_task.running:
            self._idle_timer.start()  # one at a time: try again shortly
            return
        frames, fps = self._idle_source
        box = self.avatar.frame_box()
        from .player_sink import fit_size, scale_frames
        from .tasks import BackgroundTask

        def work(report, cancelled):
            size = fit_size(frames.shape[2], frames.shape[1], *box)
            return scale_frames(frames, size) if box[0] > 16 and box[1] > 16 else frames

        self._idle_task = BackgroundTask(work, "idle-scale", self)
        self._idle_task.done.connect(lambda scaled: self.player.set_idle_frames(scaled, fps))
        self._idle_task.start()

    def _on_load_failed(self, message: str) -> None:
        self.status.loading_done()
        self.status.show_error(f"the models could not load: {message}", message)
        self.avatar.set_caption("Models not loaded — see the status bar and fix the settings.")
        self.state_label.setText("not ready")
        self.chat.set_ready(False, "The models could not load: fix the settings (Settings tab).")
        self.chat.add_notice(f"Could not load the models: {message}")

    # -- turns ---------------------------------------------------------------------
    def send(self, text: str, speech: dict | None = None) -> int | None:
        if self.controller.engine is None:
            return None
        self.player.stop()  # a new message cuts the previous reply short
        if self.current_turn is not None:
            if self._engine_busy:
                self._mark_stopped(self.current_turn, "interrupted by the next message")
            self.controller.interrupt(self.current_turn)  # nothing of it still on its way is shown
        self.status.clear_error()
        self.chat.add_user(text)
        try:
            turn_id = self.controller.submit(text, speech=speech)
        except Exception as exc:
            self.status.show_error(str(exc))
            return None
        self._t0[turn_id] = time.perf_counter()
        self.current_turn = turn_id
        self._engine_busy = True
        self.chat.begin_reply(turn_id)
        self.chat.set_busy(True)
        self.state_label.setText("thinking…")
        return turn_id

    def stop(self) -> None:
        """Stop the reply now: nothing more of it is shown or heard."""
        turn = self.current_turn
        self.controller.interrupt(turn)
        self.player.stop()
        if turn is not None and self._engine_busy:
            self._mark_stopped(turn, "stopped")
        self._engine_busy = False
        self._update_busy()

    def clear(self) -> None:
        self.stop()
        self.controller.clear()
        eng = self.controller.engine
        if eng is not None:  # the next start shows what follows this mark, not the cleared talk
            try:
                eng.log.append({"event": "cleared", "at": time.strftime("%Y-%m-%dT%H:%M:%S")})
            except OSError as exc:
                log.warning("could not mark the conversation log: %s", exc)
        self.chat.clear()
        self.status.set_timings("history cleared")
        self.current_turn = None

    def _mark_stopped(self, turn_id: int, why: str) -> None:
        self._stopped[turn_id] = why
        self.chat.finish_reply(turn_id, why, "stopped")

    def _on_text(self, turn_id: int, piece: str, mode: str) -> None:
        self.chat.append_reply(turn_id, piece)
        if turn_id == self.current_turn:
            self.state_label.setText("speaking…" if self.player.playing else "thinking…")

    def _on_first_frame(self, turn_id: int) -> None:
        t0 = self._t0.get(turn_id)
        if t0 is not None:
            self._shown_s[turn_id] = time.perf_counter() - t0
            rec = self._records.get(turn_id)
            if rec is not None:
                self.status.set_timings(describe_timings(rec, self._shown_s[turn_id]))

    def _on_playing(self, playing: bool) -> None:
        self._update_busy()

    def _update_busy(self) -> None:
        busy = self._engine_busy or self.player.playing
        self.chat.set_busy(busy)
        if self.controller.engine is not None:
            self.state_label.setText(
                "speaking…" if self.player.playing else "thinking…" if self._engine_busy else "listening"
            )

    def _on_finished(self, rec: TurnRecord) -> None:
        self._records[rec.turn_id] = rec
        if rec.turn_id == self.current_turn:
            self._engine_busy = False
        if rec.turn_id not in self._stopped:
            if rec.status == "ok":
                timing = f"first audio {fmt_s(rec.first_audio_s)}" if self.status.details_shown else ""
                meta = " · ".join(x for x in (plain_mode(rec.mode), f"{rec.audio_s:.1f} s of speech", timing) if x)
                self.chat.finish_reply(rec.turn_id, meta)
                self.chat.offer_video(rec.turn_id, lambda checked=False, t=rec.turn_id: self.save_video(t))
            elif rec.status == "error":
                self.chat.finish_reply(rec.turn_id, f"error: {rec.error}", "error")
            else:
                self.chat.finish_reply(rec.turn_id, rec.status, "stopped")
        self.status.set_timings(describe_timings(rec, self._shown_s.get(rec.turn_id)))
        self._update_busy()
        self.turn_done.emit(rec)

    def _on_error(self, err: StageError) -> None:
        self.errors.append(err)
        self.status.show_error(str(err), f"{err}\n\n{err.traceback}")
        if err.turn_id == self.current_turn:
            self.player.drop_turn(err.turn_id)

    def save_video(self, turn_id: int, path: str | Path | None = None) -> bool:
        """Write the reply of ``turn_id`` (as it was shown and heard) to an MP4, in the background."""
        sink = self.controller.sink
        turn = sink.kept_turn(turn_id) if sink is not None else None
        if not turn or not turn["complete"] or not turn["chunks"]:
            self.status.show_error(
                f"the video of reply {turn_id} is no longer kept (only the last few are); "
                f"main_demo.py writes every reply as an MP4"
            )
            return False
        if path is None:
            from PySide6.QtWidgets import QFileDialog

            default = self.settings.output_path / f"reply-{time.strftime('%Y%m%d-%H%M%S')}-{turn_id}.mp4"
            chosen, _ = QFileDialog.getSaveFileName(
                self, "Save the reply as a video", str(default), "MP4 video (*.mp4)"
            )
            if not chosen:
                return False
            path = chosen
        from .player_sink import write_kept_turn
        from .tasks import BackgroundTask

        task = BackgroundTask(lambda report, cancelled: str(write_kept_turn(turn, path)), "save-video", self)
        task.done.connect(lambda p: self._video_saved(turn_id, p))
        task.failed.connect(
            lambda m, tb: (
                self.status.show_error(f"could not save the video: {m}", tb),
                self.video_saved.emit(turn_id, ""),
            )
        )
        self._video_tasks = [t for t in getattr(self, "_video_tasks", []) if t.running] + [task]
        task.start()
        return True

    def _video_saved(self, turn_id: int, path: str) -> None:
        self.status.set_timings(f"video saved: {path}")
        self.video_saved.emit(turn_id, path)

    # -- pages -----------------------------------------------------------------------
    def _use_finetune_result(self, values: dict) -> None:
        for name, value in values.items():
            self.settings_panel.set_value(name, value)
        self.tabs.setCurrentWidget(self.settings_panel)

    def _on_enrolled(self, folder: str) -> None:
        persona = Path(folder).parent
        if (persona / "persona.json").is_file() and persona.resolve() != self.settings.persona_dir.resolve():
            self.settings_panel.set_value("persona", str(persona))  # a new persona: its own face
            self.settings_panel.set_value("face.face", "")
        else:
            self.settings_panel.set_value("face.face", folder)
        self.tabs.setCurrentWidget(self.settings_panel)

    def closeEvent(self, event) -> None:  # noqa: N802
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        self._idle_timer.stop()
        if self._idle_task is not None:
            self._idle_task.wait(10000)
        for t in getattr(self, "_video_tasks", []):
            t.wait(60000)
        self.finetune_page.shutdown()
        self.enroll_page.shutdown()
        self.settings_panel.shutdown()
        self.voice.close()
        self.player.close()
        self.controller.shutdown()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m app", description="Chat with the persona in a window.")
    p.add_argument(
        "--settings",
        metavar="FILE",
        help=f"settings JSON file, shared with the command line (default: {DEFAULT_SETTINGS_FILE.name})",
    )
    p.add_argument("--no-audio", action="store_true", help="do not open the sound card (silent, timed playback)")
    p.add_argument("--screenshot", metavar="PNG", help=argparse.SUPPRESS)  # used by the Xvfb test
    p.add_argument("--say", metavar="TEXT", help=argparse.SUPPRESS)
    p.add_argument("--screenshot-tabs", metavar="DIR", help=argparse.SUPPRESS)  # and one of each tab
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from .qt_env import install_fonts, make_application

    args = parse_args(argv)
    from pipelines.logs import configure_logging

    configure_logging(verbose=True)
    app = make_application(sys.argv[:1])
    if app.platformName() == "offscreen" and not args.screenshot:
        print(
            "warning: no display (DISPLAY is not set): the window is drawn offscreen and nobody sees it. "
            "Run on a desktop, or under 'xvfb-run python -m app'.",
            file=sys.stderr,
        )
    install_fonts(app)
    from .theme import ThemeManager

    theme = ThemeManager(app, persist=True)  # follows the desktop's light / dark, or the user's choice
    window = MainWindow(settings_path=args.settings, audio=open_audio_output(use_device=not args.no_audio), theme=theme)
    window.show()
    if args.screenshot:
        from .screenshot import screenshot_mid_reply

        screenshot_mid_reply(window, args.say or "你好，介绍一下你自己", args.screenshot, tabs_dir=args.screenshot_tabs)
    code = app.exec()
    return int(code)
