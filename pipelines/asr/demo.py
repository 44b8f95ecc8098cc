"""``main_demo.py --audio FILE`` (one turn per file) and ``--mic`` (a turn per utterance until Ctrl+C)."""

from __future__ import annotations

import sys
import time

from .audio_input import AudioInputError
from .mic import Microphone, MicUnavailable, pick_device
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


def mic_turns(engine, args, report, device: str = "") -> bool:
    """A turn per utterance until Ctrl+C; returns True if the microphone could not be used."""
    try:
        mic = Microphone(device)
    except MicUnavailable as exc:
        _say(f"error: {exc}", args.json)
        return True
    voice = load_voice(engine.settings, args, on_partial=lambda t: print(f"\r… {t}", end="", flush=True))
    if voice is None:
        return True
    _say(
        f"listening on {mic.device['name']!r}; speak, pause {engine.settings.asr.end_pause_s:.1f}s to end "
        "a turn, Ctrl+C quits",
        args.json,
    )
    try:
        with mic:
            while True:
                block = mic.read()
                if block is None:
                    continue
                for rec in voice.feed(block, now=time.perf_counter()):
                    if not args.json:
                        print(f"\ryou ({rec.speech['audio_s']:.1f}s)> {rec.text}", flush=True)
                    report(engine.wait(engine.submit(rec.text, speech=rec.speech), timeout=args.timeout), args.json)
    except KeyboardInterrupt:
        print()
    except MicUnavailable as exc:
        _say(f"error: {exc}", args.json)
        return True
    finally:
        voice.close()
    return False
