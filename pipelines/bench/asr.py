"""``python -m pipelines bench asr``: speech recognition speed and the spoken turn's latency.

For each backend (pocketsphinx always; whisper / sherpa-onnx when their model
folder is given): espeak-ng English questions are streamed in 32 ms blocks
through Silero VAD as a microphone would deliver them, followed by silence.
Reported per backend (medians over the questions):

* RTF: recognition time / utterance duration;
* end of speech -> text: the VAD's end pause (audio time that must pass)
  plus the compute time from the block that closed the utterance to the text;
* end of speech -> first audio: that, plus the engine's time from submitting
  the text to the avatar's first audio (configured dialogue/voice backends);
* WER against the spoken text.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

import numpy as np

from ..asr.audio_input import to_mono_16k
from ..asr.recognizer import build_recognizer
from ..asr.stage import AsrStage
from ..asr.vad import FRAME, UtteranceCutter
from ..asr.wer import wer
from ..cli_settings import add_settings_arguments, settings_from_args

QUESTIONS = ["Where do you live?", "How are you today?", "What can you do?"]


def speech(text: str) -> np.ndarray:
    from ..voice.espeak_tts import EspeakLibrary

    lib = EspeakLibrary.get()
    pcm = lib.synthesize(text, "en-us", 140, 50).astype(np.float32) / 32768.0
    return to_mono_16k(pcm, lib.sample_rate)[0]


def bench_backend(settings, engine=None) -> dict:
    stage = AsrStage(settings, recognizer=build_recognizer(settings.asr, settings))
    t = time.perf_counter()
    stage.load()
    load_s = time.perf_counter() - t
    from ..asr.stage import SpokenInput
    from ..stage import TurnContext

    rows = []
    for i, q in enumerate(QUESTIONS):
        audio = np.concatenate(
            [np.zeros(8000, np.float32), speech(q), np.zeros(int((settings.asr.end_pause_s + 0.5) * 16000), np.float32)]
        )
        cutter = UtteranceCutter(end_pause_s=settings.asr.end_pause_s)
        utt, closed_at = None, None
        for k in range(0, len(audio), FRAME):
            got = list(cutter.feed(audio[k : k + FRAME]))
            if got:
                utt, closed_at = got[0], time.perf_counter()
                break
        if utt is None:
            rows.append({"question": q, "text": "", "wer": 1.0})
            continue
        t = time.perf_counter()
        outs = list(stage.process(SpokenInput(i + 1, utt.samples, 16000), TurnContext(i + 1)))
        text = " ".join(getattr(m, "text", "") for m in outs).strip()
        done = time.perf_counter()
        row = {
            "question": q,
            "text": text,
            "wer": wer(q, text),
            "audio_s": utt.duration,
            "rtf": (done - t) / utt.duration,
            "eos_to_text_s": (utt.cut_s - utt.end_s) + (done - closed_at),
        }
        if engine is not None and text:
            rec = engine.wait(engine.submit(text), timeout=600)
            if rec.first_audio_s is not None:
                row["eos_to_first_audio_s"] = row["eos_to_text_s"] + rec.first_audio_s
        rows.append(row)
    stage.close()

    def med(key):
        vals = [r[key] for r in rows if r.get(key) is not None]
        return statistics.median(vals) if vals else None

    return {
        "backend": stage.backend,
        "load_s": load_s,
        "rtf": med("rtf"),
        "eos_to_text_s": med("eos_to_text_s"),
        "eos_to_first_audio_s": med("eos_to_first_audio_s"),
        "wer": med("wer"),
        "per_question": rows,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m pipelines bench asr", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--whisper-dir", help="also bench a transformers Whisper folder")
    p.add_argument("--sherpa-dir", help="also bench a sherpa-onnx SenseVoice / Paraformer folder")
    p.add_argument("--no-engine", action="store_true", help="skip end of speech -> first audio (no engine)")
    p.add_argument("--json", action="store_true")
    add_settings_arguments(p)
    args = p.parse_args(argv)
    import copy

    from ..engine import Engine

    settings = settings_from_args(args)
    settings.output_dir = tempfile.mkdtemp(prefix="bench-asr-")
    runs = [("pocketsphinx", "")]
    if args.whisper_dir:
        runs.append(("whisper", args.whisper_dir))
    if args.sherpa_dir:
        runs.append(("sherpa-onnx", args.sherpa_dir))
    engine = None if args.no_engine else Engine(settings).start()
    results = []
    try:
        for backend, folder in runs:
            s = copy.deepcopy(settings)
            s.asr.backend, s.asr.model_dir = backend, folder
            try:
                results.append(bench_backend(s, engine))
            except (FileNotFoundError, ValueError, ImportError) as exc:
                results.append({"backend": backend, "error": str(exc)})
    finally:
        if engine is not None:
            engine.close()
    if args.json:
        print(json.dumps(results, ensure_ascii=False))
        return 0
    f = lambda v, u="s": "-" if v is None else (f"{v:.3f}{u}" if u else f"{v:.2f}")
    print(f"end pause {settings.asr.end_pause_s:.2f}s; medians over {len(QUESTIONS)} espeak-ng questions")
    print(f"{'backend':<26}{'load':>8}{'RTF':>8}{'EoS->text':>11}{'EoS->audio':>12}{'WER':>6}")
    for r in results:
        if "error" in r:
            print(f"{r['backend']:<26}error: {r['error']}")
            continue
        print(
            f"{r['backend']:<26}{f(r['load_s']):>8}{f(r['rtf'], ''):>8}{f(r['eos_to_text_s']):>11}"
            f"{f(r['eos_to_first_audio_s']):>12}{f(r['wer'], ''):>6}"
        )
    return 0
