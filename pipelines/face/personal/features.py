"""Audio features of the personal lip-sync model, one window per video frame (``face.personal.audio_features``).

* ``mel``: the Wav2Lip mel window, ``(80, 16)`` (``wav2lip/mel.py``; nothing to download).
* ``contentvec``: the ContentVec / HuBERT encoder the user already has for so-vits-svc
  (``voice.sovits.contentvec_dir``, or ``face.personal.contentvec_dir``; loaded by
  ``voice/contentvec.py``, both its layouts), as Ultralight Digital Human feeds HuBERT:
  50 Hz frames, two per video frame at 25 fps, and a window of 16 of them (±4 video
  frames, 0.32 s) centred on the frame: ``(D, 16)``.

  The features are the hidden states of transformer layer 9 (``CONTENT_LAYER``; the
  last one when the encoder has fewer), without ``final_proj``: the layer so-vits 4.0
  takes its units from, where HuBERT-base/ContentVec carry the most phonetic
  information (what the mouth shows) and the least speaker identity; ``final_proj``
  is left out so that any ContentVec or HuBERT checkpoint works, with or without that
  extra layer.  ``D`` is the encoder's width (768 for ContentVec-base) and is recorded
  in the lip-sync checkpoint with the feature kind, so a model is always fed what it
  was trained on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipelines.face.wav2lip import mel as melmod

KINDS = ("mel", "contentvec")
SAMPLE_RATE = 16000
UNIT_HOP = 320  # ContentVec / HuBERT: one frame every 20 ms at 16 kHz (50 Hz)
UNIT_STEPS = 16  # frames a window holds (8 before the video frame's time, 8 from it)
CONTENT_LAYER = 9
CHUNK_S, CONTEXT_S = 20.0, 1.0  # long audio is encoded in 20 s pieces with 1 s of context each side


class FeatureError(ValueError):
    """The configured audio features cannot be made (the message says which setting to fill)."""


class MelFeatures:
    kind = "mel"
    dim = melmod.N_MELS

    def windows(self, wav16k: np.ndarray, n: int, fps: float) -> np.ndarray:
        """``(n, 80, 16)`` Wav2Lip mel windows of 16 kHz audio under ``n`` frames."""
        return melmod.mel_windows(melmod.melspectrogram(np.asarray(wav16k, np.float32)), n, fps)


class ContentVecFeatures:
    """Windows of ContentVec hidden states; the encoder is loaded once, on first use."""

    kind = "contentvec"

    def __init__(self, encoder_path: str | Path, device: str = "cpu", threads: int = 0) -> None:
        if not str(encoder_path or "").strip():
            raise FeatureError(
                "face.personal.audio_features is 'contentvec' but no ContentVec encoder is set: fill "
                "voice.sovits.contentvec_dir (or face.personal.contentvec_dir) with the so-vits 'content-vec-best' "
                "folder or hubert/checkpoint_best_legacy_500.pt, or use audio_features 'mel'"
            )
        self.path = Path(encoder_path).expanduser()
        self.device = device
        self.threads = int(threads)
        self._model = None

    def check(self) -> None:
        """A clear ``FeatureError`` now if the encoder is missing or unreadable (before a long preparation)."""
        from pipelines.voice.contentvec import ContentVecError, resolve_contentvec

        try:
            resolve_contentvec(self.path)
        except ContentVecError as exc:
            raise FeatureError(f"face.personal.audio_features 'contentvec': {exc}") from None

    def load(self):
        if self._model is None:
            from pipelines.voice.contentvec import ContentVecError, load_contentvec, trim_to_layer

            self.check()
            if self.threads > 0:
                import torch

                torch.set_num_threads(self.threads)
            try:
                self._model = trim_to_layer(
                    load_contentvec(self.path, device=self.device, final_proj=False), CONTENT_LAYER
                )
            except ContentVecError as exc:
                raise FeatureError(f"face.personal.audio_features 'contentvec': {exc}") from None
        return self._model

    @property
    def dim(self) -> int:
        from pipelines.voice.contentvec import content_dim

        return content_dim(self.load(), final_proj=False)

    def units(self, wav16k: np.ndarray) -> np.ndarray:
        """``(D, frames)`` hidden states of layer ``CONTENT_LAYER`` at 50 Hz, ``len / 320`` frames.

        Long audio (a training clip) goes in pieces of ``CHUNK_S`` with ``CONTEXT_S`` of context on
        each side, so attention stays small (a 3-minute clip in one piece would need gigabytes)."""
        import torch

        from pipelines.voice.contentvec import content_units

        model = self.load()
        wav = np.ascontiguousarray(wav16k, np.float32)
        frames = len(wav) // UNIT_HOP
        step, ctx = int(CHUNK_S * SAMPLE_RATE), int(CONTEXT_S * SAMPLE_RATE)
        pieces = []
        for start in range(0, max(1, len(wav)), step):
            lo, hi = max(0, start - ctx), min(len(wav), start + step + ctx)
            x = torch.from_numpy(wav[lo:hi])[None].to(self.device)
            u = content_units(model, x, CONTENT_LAYER, final_proj=False)[0].float().cpu().numpy()
            skip = (start - lo) // UNIT_HOP
            pieces.append(u[:, skip : skip + step // UNIT_HOP])
        u = np.concatenate(pieces, 1)
        if u.shape[1] < frames:  # the encoder's convolutions drop a frame at the very end
            u = np.concatenate([u, np.repeat(u[:, -1:], frames - u.shape[1], 1)], 1)
        return u[:, : max(frames, 1)]

    def windows(self, wav16k: np.ndarray, n: int, fps: float) -> np.ndarray:
        """``(n, D, 16)``: for frame ``i`` the 16 unit frames around ``i / fps`` s (edges repeated)."""
        need = int(round(n * SAMPLE_RATE / fps))
        audio = np.zeros(max(need, UNIT_HOP * 2), np.float32)
        m = min(len(audio), len(wav16k))
        audio[:m] = np.asarray(wav16k, np.float32)[:m]
        u = self.units(audio)
        return unit_windows(u, n, fps)


def unit_windows(units: np.ndarray, n: int, fps: float) -> np.ndarray:
    """``(n, D, UNIT_STEPS)`` windows of ``(D, T)`` 50 Hz units centred on each video frame's time."""
    d, t = units.shape
    if n == 0:
        return np.zeros((0, d, UNIT_STEPS), np.float32)
    centre = np.round(np.arange(n) * (SAMPLE_RATE / UNIT_HOP) / fps).astype(np.int64)
    idx = centre[:, None] + np.arange(-UNIT_STEPS // 2, UNIT_STEPS // 2)[None]
    idx = np.clip(idx, 0, max(0, t - 1))
    return np.ascontiguousarray(units[:, idx].transpose(1, 0, 2), np.float32)


def make_features(kind: str, encoder_path: str | Path = "", device: str = "cpu", threads: int = 0):
    """The feature maker of ``kind`` (``mel`` or ``contentvec``)."""
    if kind == "mel":
        return MelFeatures()
    if kind == "contentvec":
        return ContentVecFeatures(encoder_path, device=device, threads=threads)
    raise FeatureError(f"face.personal.audio_features must be one of {', '.join(KINDS)}, got {kind!r}")
