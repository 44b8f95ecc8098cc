"""Real inputs for Wav2Lip int8 calibration and accuracy checks.

Static int8 quantisation needs activation ranges measured on what the model
will see at chat time: the persona's own enrolled face crops paired with mel
windows of real speech.  The speech comes from the espeak-ng base voice
(``pipelines.voice.espeak_tts``), English and Mandarin sentences in the
persona's espeak voices; only frames with sound are used (silent frames are
never rendered).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from pipelines.face.wav2lip import mel as melmod
from pipelines.face.wav2lip.inference import faces_to_input
from pipelines.media.audio import fit_to_frames, frame_count

#: sentences for calibration (en / zh); the check set uses the other half
SENTENCES = [
    ("en", "Hello there, it is lovely to see you again today."),
    ("zh", "你好，今天天气很好，我们出去走走吧。"),
    ("en", "Would you like to hear a short story about the sea?"),
    ("zh", "我最喜欢的季节是秋天，因为空气很清新。"),
    ("en", "Thank you so much for asking, I feel wonderful."),
    ("zh", "请告诉我你最近在忙些什么事情。"),
]


def speech_samples(persona=None, sentences=SENTENCES) -> list[tuple[np.ndarray, int]]:
    """[(float32 mono samples, sample rate)] of each sentence spoken by espeak-ng."""
    from pipelines.voice.espeak_tts import EspeakLibrary

    lib = EspeakLibrary.get()
    voice = getattr(persona, "voice", None)
    voices = {"en": getattr(voice, "espeak_voice_en", "en-us"), "zh": getattr(voice, "espeak_voice_zh", "cmn")}
    rate = int(getattr(voice, "rate_wpm", 165))
    pitch = int(getattr(voice, "pitch", 50))
    out = []
    for lang, text in sentences:
        pcm = lib.synthesize(text, voices[lang], rate, pitch)
        out.append((pcm.astype(np.float32) / 32768.0, int(lib.sample_rate)))
    return out


def speech_windows(speech: list[tuple[np.ndarray, int]], fps: float = 25.0, silence_db: float = -45.0) -> np.ndarray:
    """``(M, 80, 16)`` mel windows of the non-silent frames of every utterance."""
    windows = []
    for samples, sr in speech:
        n = frame_count(len(samples) / sr, fps)
        if n == 0:
            continue
        audio = fit_to_frames(samples, sr, n, fps)
        mel = melmod.melspectrogram(melmod.resample(audio, sr))
        w = melmod.mel_windows(mel, n, fps)
        quiet = melmod.silent_frames(melmod.frame_rms_db(audio, sr, n, fps), silence_db)
        windows.append(w[~quiet])
    if not windows or sum(len(w) for w in windows) == 0:
        raise ValueError("no speech frames for calibration (the speech was silent)")
    return np.concatenate(windows).astype(np.float32)


def paired_inputs(crops: np.ndarray, windows: np.ndarray, count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``count`` (mel (count,1,80,16), faces (count,6,96,96)) pairs: crops in order, mels shuffled."""
    rng = np.random.default_rng(seed)
    crops = np.asarray(crops)
    ci = np.arange(count) % len(crops)
    wi = rng.permutation(np.resize(np.arange(len(windows)), max(count, len(windows))))[:count]
    return windows[wi][:, None].copy(), faces_to_input(crops[ci])


def batches(mels: np.ndarray, faces: np.ndarray, batch: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for i in range(0, len(mels), batch):
        yield mels[i : i + batch], faces[i : i + batch]


def make_reader(mels: np.ndarray, faces: np.ndarray, batch: int = 16, names=("mel_batch", "face_batch")):
    """An ``onnxruntime.quantization.CalibrationDataReader`` over the pairs."""
    from onnxruntime.quantization import CalibrationDataReader

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(list(batches(mels, faces, batch)))

        def get_next(self):
            nxt = next(self._it, None)
            return None if nxt is None else {names[0]: nxt[0], names[1]: nxt[1]}

    return _Reader()


def psnr(reference: np.ndarray, test: np.ndarray, peak: float = 1.0) -> float:
    """PSNR in dB of ``test`` against ``reference`` (inf when identical)."""
    mse = float(np.mean((np.asarray(reference, np.float64) - np.asarray(test, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(peak * peak / mse)
