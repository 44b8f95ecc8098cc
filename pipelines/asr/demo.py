"""``main_demo.py --audio FILE`` (one turn per file) and ``--mic`` (a turn per utterance until Ctrl+C)."""

from __future__ import annotations

import sys

from ..messages import TurnFinished
from .audio_input import AudioInputError
from .mic import MicUnavailable, pick_device
from .voice_input import VoiceInput


def _say(text: str, as_json: bool) -> None:
    print(text, file=sys.stderr if as_json else sys.stdout, flush=True)


def mic_notice(device: str = "") -> str | None:
    """Why the microphone cannot be used (None: it can), checked before any model loads."""
    try:
        pick_device(device)
    except MicUnavailable as exc:
        return str(exc)
    return None


def load_voice(settings, args, **kw) -> VoiceInput | None:
    """The VAD and the configured recogniser, or None after one line saying why not."""
    try:
        return VoiceInput(settings, **kw).load()
    except (FileNotFoundError, ValueError, ImportError, OSError, RuntimeError) as exc:
        _say(f"error: speech recognition ({settings.asr.backend}) could not load: {exc}", args.json)
        return None


def audio_turns(engine, paths: list[str], args, report) -> bool:
    """One turn per file; returns True if any failed.  A bad file is one line, and the next file runs."""
    voice = load_voice(engine.settings, args)
    if voice is None:
        return True
    failed = False
    try:
        for path in paths:
            try:
                rec = voice.recognize_file(path)
            except AudioInputError as exc:
                _say(f"error: {exc}", args.json)
                failed = True
                continue
            notes = f" ({'; '.join(rec.speech['notes'])})" if rec.speech.get("notes") else ""
            if not args.json:
                print(f"you (from {path}, {rec.speech['audio_s']:.1f}s){notes}> {rec.text}", flush=True)
            turn = engine.wait(engine.submit(rec.text, speech=rec.speech), timeout=args.timeout)
            report(turn, args.json)
            failed |= turn.status != "ok"
    finally:
        voice.close()
    return failed


def mic_turns(engine, args, report, device: str = "", source_factory=None, max_turns: int | None = None) -> bool:
    """A turn per utterance until Ctrl+C (or ``max_turns``); returns True if the microphone could not be used.

    Capture, VAD and recognition run on their own threads (``LiveVoice``), hands-free: speaking
    over the reply (what the face stage renders, as the speaker would play it) interrupts it.
    ``source_factory``: where blocks come from instead of the device (a recording, for tests)."""
    import queue

    from .barge_in import PlayedAudio
    from .live_voice import LiveVoice
    from .sources import DeviceSource

    if source_factory is None:
        try:
            src = DeviceSource(device)
        except MicUnavailable as exc:
            _say(f"error: {exc}", args.json)
            return True
        source_factory = lambda: src  # noqa: E731
    events: queue.Queue = queue.Queue()

    def barged_in(turn: int) -> None:  # capture thread: stop the reply at once
        engine.interrupt(turn)
        events.put(("barge", turn))

    played = PlayedAudio().attach(engine, stage="face")
    voice = LiveVoice(
        engine.settings,
        source_factory,
        played=played,
        active_turn=lambda: engine.active_turn,
        on_partial=lambda t: None if args.json else print(f"\r… {t}", end="", flush=True),
        on_final=lambda text, speech: events.put(("final", text, speech)),
        on_barge_in=barged_in,
        on_notice=lambda text: events.put(("notice", text, None)),
        on_error=lambda err: events.put(("notice", str(err), None)),
    )
    ours: set[int] = set()

    def finished(stage, msg) -> None:
        if stage == "engine" and isinstance(msg, TurnFinished) and msg.record.turn_id in ours:
            events.put(("done", msg.record, None))

    unsubscribe = engine.subscribe(finished)
    voice.set_hands_free(True)
    voice.start()
    failed, turns = False, 0
    try:
        while True:
            try:
                kind, *rest = events.get(timeout=0.2)
            except queue.Empty:
                if (
                    not (voice.running or voice.recognising) or (max_turns is not None and turns >= max_turns)
                ) and not ours:
                    break  # the recording ended (a device never does), every turn reported
                continue
            if kind == "notice":
                _say(f"error: {rest[0]}", args.json)
                failed = True
                break
            if kind == "barge":
                _say(f"(you spoke over turn {rest[0]}: interrupted)", args.json)
            elif kind == "done":
                ours.discard(rest[0].turn_id)
                report(rest[0], args.json)
            elif rest[0] and (max_turns is None or turns < max_turns):
                text, speech = rest
                speech = {k: v for k, v in speech.items() if k != "end_of_speech"}
                if not args.json:
                    print(f"\ryou ({speech['audio_s']:.1f}s)> {text}", flush=True)
                ours.add(engine.submit(text, speech=speech))  # interrupts a reply still running
                turns += 1
    except KeyboardInterrupt:
        print()
    finally:
        unsubscribe()
        voice.close()
    return failed
