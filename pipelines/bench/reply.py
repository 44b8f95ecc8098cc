"""``python -m pipelines bench reply``: one whole reply with so-vits + Wav2Lip, against a DL-B-style run.

The same reply text (``REPLY``, about 9 s of speech), the same voice and face models (random
weights at full size, which cost the same time as trained ones: a so-vits 4.0 voice at DL-B's
``config.json`` sizes with a HuBERT-base ContentVec, and the official Wav2Lip generator), the
same face (a 720 px talking clip of the default persona, 8 s at 25 fps), both from the reply
text to the finished video; the dialogue itself is left out of both:

* **DL-B-style** (``dlb_style.py``): the base TTS writes the whole reply, then a new process
  loads so-vits and converts it, then a new process decodes the clip, finds the face on every
  frame, loads Wav2Lip, renders every frame and muxes the MP4 — the first frame can be shown
  only when all of it is done (PyTorch fp32, as DL-B ran);
* **this project**: the engine with every model loaded once (load time reported, not counted:
  the app loads at start), the face enrolled once (not counted), ``voice.sovits`` in ONNX
  Runtime int8 with the first sentence in windows, ``face.wav2lip`` from the official ``.pth`` as
  the app runs it (``--face auto``: on the CPU its cached int8 ONNX export; ``--face openvino``:
  its fp32 export in OpenVINO bf16), sentence by sentence, streamed.  Medians over ``--turns``.

Reported: the DL-B-style steps and total, this project's first audio, first frame and whole
reply, and the ratios (the goal of issue #18: whole reply >= 10x faster, first frame <= 1 s).
``--keep DIR`` keeps the models, exports and clip for the next run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..cli_settings import add_settings_arguments, settings_from_args

REPLY = (
    "你好，我是小林，很高兴认识你。今天我们聊一聊这个项目的进展。"
    "声音和脸都在同一个流水线里，第一句话还在说的时候，后面的句子已经在准备了。"
)
CLIP_SECONDS, CLIP_SIDE = 8.0, 720


def prepare(folder: Path, log=print) -> dict:
    """The models, the face clip and an enrolled persona in ``folder`` (reused when present)."""
    from ..settings import DEFAULT_PERSONA, Settings
    from ..testing.sovits_random import write_dlb_voice
    from .latency import random_wav2lip_int8

    folder.mkdir(parents=True, exist_ok=True)
    model, cv = folder / "sovits-dlb", folder / "contentvec"
    if not (model / "G_0.pth").is_file():
        log("building a random so-vits 4.0 voice at DL-B's sizes …")
        model, cv = write_dlb_voice(folder)
    clip = folder / "face.mp4"
    if not clip.is_file():
        from ..testing.talking_clip import make_talking_clip

        log(f"rendering a {CLIP_SECONDS:.0f} s {CLIP_SIDE} px talking clip of the default persona …")
        make_talking_clip(clip, seconds=CLIP_SECONDS, side=CLIP_SIDE)
    persona = folder / "persona"
    if not (persona / "avatar").is_dir():
        from ..face.avatar.enroll import enroll

        log("enrolling the clip as the persona's face (once, as a user does) …")
        persona.mkdir(exist_ok=True)
        for name in ("persona.json", "chat.jsonl"):
            shutil.copy(DEFAULT_PERSONA / name, persona / name)
        enroll(persona, [clip])
    w2l_pth, w2l_onnx = folder / "wav2lip.pth", folder / "w2l.int8.onnx"
    if not (w2l_pth.is_file() and w2l_onnx.is_file()):
        log("random-weight Wav2Lip: official checkpoint and int8 ONNX export …")
        s = Settings().replace("persona", str(persona))
        random_wav2lip_int8(s, str(folder), log=log, checkpoint=str(w2l_pth))  # writes folder/w2l.int8.onnx
    return {"model": model, "contentvec": cv, "clip": clip, "persona": persona, "w2l_pth": w2l_pth, "w2l": w2l_onnx}


def reply_audio() -> tuple[np.ndarray, int]:
    """The whole reply through the base TTS (what DL-B's pyttsx3 step wrote to a file)."""
    from ..messages import Sentence
    from ..persona import Persona
    from ..settings import Settings
    from ..stage import TurnContext
    from ..voice.espeak_tts import EspeakTTS

    s = Settings()
    tts = EspeakTTS.from_settings(s, Persona.load(s.persona_dir))
    tts.load()
    chunks = list(tts.process(Sentence(1, REPLY), TurnContext(1)))
    return np.concatenate([np.asarray(c.samples, np.float32) for c in chunks]), int(chunks[0].sample_rate)


def dlb_style(files: dict, work: Path) -> dict:
    import soundfile as sf

    from .dlb_style import run_process

    t = time.perf_counter()
    samples, sr = reply_audio()
    sf.write(work / "res.wav", samples, sr)
    tts_s = time.perf_counter() - t
    voice_s = run_process(
        ["voice", str(files["model"]), str(files["contentvec"]), str(work / "res.wav"), str(work / "vc.wav")]
    )
    face_s = run_process(
        ["face", str(files["clip"]), str(files["w2l_pth"]), str(work / "vc.wav"), str(work / "reply.mp4")]
    )
    total = tts_s + voice_s + face_s
    return {
        "tts_s": tts_s,
        "voice_process_s": voice_s,
        "face_process_s": face_s,
        "total_s": total,
        "first_frame_s": total,
        "audio_s": len(samples) / sr,
    }


#: ``--face``: the Wav2Lip model the engine runs (auto: the official .pth as the app takes it, which on
#: the CPU becomes its cached int8 ONNX export; onnx-int8: the bench's own int8 export; openvino: bf16)
FACE_RUNTIMES = {
    "auto": lambda f: {"face.wav2lip.checkpoint": str(f["w2l_pth"]), "face.wav2lip.runtime": "auto"},
    "onnx-int8": lambda f: {"face.wav2lip.checkpoint": str(f["w2l"]), "face.wav2lip.runtime": "onnx"},
    "openvino": lambda f: {"face.wav2lip.checkpoint": str(f["w2l_pth"]), "face.wav2lip.runtime": "openvino"},
}


def ours(files: dict, turns: int, out_dir: Path, settings=None, face: str = "auto") -> dict:
    from ..engine import Engine
    from ..settings import Settings
    from ..testing.toy_stages import ScriptedDialogue
    from .latency import run_turns

    s = settings or Settings()
    for key, value in {
        "persona": str(files["persona"]),
        "output_dir": str(out_dir),
        "voice.vc_backend": "sovits",
        "voice.sovits.model_dir": str(files["model"]),
        "voice.sovits.contentvec_dir": str(files["contentvec"]),
        "voice.sovits.runtime": "onnx",
        "voice.sovits.int8": True,
        "face.backend": "wav2lip",
        **FACE_RUNTIMES[face](files),
    }.items():
        s = s.replace(key, value)
    t = time.perf_counter()
    engine = Engine(s, stages={"dialogue": ScriptedDialogue(REPLY, delay=0.0, piece=len(REPLY))}).start()
    load_s = time.perf_counter() - t
    recs = run_turns(engine, [f"第{i + 1}次：介绍一下项目" for i in range(turns)])

    def med(name):
        return statistics.median(getattr(r, name) for r in recs)

    return {
        "load_s": load_s,
        "turns": turns,
        "first_audio_s": med("first_audio_s"),
        "first_frame_s": med("first_frame_s"),
        "total_s": med("wall_s"),
        "audio_s": med("audio_s"),
        "vc_rtf": statistics.median(r.stages["vc"].rtf for r in recs),
        "face_rtf": statistics.median(r.stages["face"].rtf for r in recs),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m pipelines bench reply",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--turns", type=int, default=2, help="this project's turns (median)")
    ap.add_argument("--keep", default="", help="build / reuse the models, exports and clip in this folder")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--skip-dlb", action="store_true", help="time this project only (e.g. to compare settings)")
    ap.add_argument("--face", choices=sorted(FACE_RUNTIMES), default="auto", help="this project's Wav2Lip runtime")
    add_settings_arguments(ap)
    args = ap.parse_args(argv)
    settings = settings_from_args(args)
    log = (lambda line: print(line, file=sys.stderr)) if args.json else print
    with tempfile.TemporaryDirectory(prefix="bench-reply-") as tmp:
        folder = Path(args.keep) if args.keep else Path(tmp) / "models"
        files = prepare(folder, log)
        work = Path(tmp) / "dlb"
        work.mkdir()
        log("the project's engine …")
        mine = ours(files, max(1, args.turns), Path(tmp) / "out", settings, args.face)
        if args.skip_dlb:
            print(json.dumps({"ours": mine}, indent=2))
            return 0
        log("the DL-B-style run …")
        dlb = dlb_style(files, work)
    report = {
        "reply_chars": len(REPLY),
        "dlb_style": dlb,
        "ours": mine,
        "speedup_whole_reply": dlb["total_s"] / mine["total_s"],
        "speedup_first_frame": dlb["first_frame_s"] / mine["first_frame_s"],
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"one reply of {dlb['audio_s']:.1f} s of speech, so-vits (DL-B sizes) + Wav2Lip, random weights")
    print(
        f"DL-B-style: tts {dlb['tts_s']:.2f} s + so-vits process {dlb['voice_process_s']:.2f} s + "
        f"Wav2Lip process {dlb['face_process_s']:.2f} s = {dlb['total_s']:.2f} s (first frame then)"
    )
    print(
        f"this project (models loaded in {mine['load_s']:.1f} s, median of {mine['turns']}): first audio "
        f"{mine['first_audio_s']:.2f} s, first frame {mine['first_frame_s']:.2f} s, whole reply {mine['total_s']:.2f} s "
        f"(vc RTF {mine['vc_rtf']:.2f}, face RTF {mine['face_rtf']:.2f})"
    )
    print(
        f"speed-up: whole reply {report['speedup_whole_reply']:.1f}x (goal >= 10x), "
        f"first frame {report['speedup_first_frame']:.1f}x; first frame goal <= 1 s: "
        f"{'met' if mine['first_frame_s'] <= 1.0 else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
