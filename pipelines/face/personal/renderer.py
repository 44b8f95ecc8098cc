"""``face`` backend ``personal``: the persona's own lip-sync model, rendered like Wav2Lip.

It is the Wav2Lip renderer with another generator: the same audio clock (``N = round(d *
fps)`` frames per sentence, avatar frames taken by time), the same mel windows, silent
stretches keeping the recorded face with cross-fades, the same batching (a small first
batch, then doubling) and the same ``Compositor`` pasting the lower face back.  Only
``load``, ``warm_up`` and ``generate`` differ: crops of the model's size cut from the
avatar's boxes (cached per avatar frame), the frame itself as the reference, and the
``PersonalInference`` model (PyTorch weights, or the int8 ONNX export on a CPU).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipelines.face.personal.data import face_crops, to_input, to_rgb
from pipelines.face.personal.inference import PersonalInference
from pipelines.face.wav2lip.renderer import Wav2LipRenderer
from pipelines.settings import PersonalFaceSettings
from pipelines.stage_env import StageEnv


def default_weights(persona) -> Path:
    from pipelines.face.personal.train import default_out

    name = getattr(persona, "name", None) or Path(str(getattr(persona, "folder", "default"))).name
    return default_out(name) / "personal.safetensors"


class PersonalRenderer(Wav2LipRenderer):
    settings_section = "face.personal"

    def __init__(
        self,
        cfg: PersonalFaceSettings,
        persona,
        env: StageEnv | None = None,
        avatar=None,
        inference: PersonalInference | None = None,
        contentvec: str = "",
    ) -> None:
        super().__init__(cfg, persona, env, avatar=avatar, inference=None)  # type: ignore[arg-type]
        self.cfg: PersonalFaceSettings = cfg
        self.model = inference
        self._crops: dict[int, np.ndarray] = {}
        self.contentvec = cfg.contentvec_dir or contentvec  # for a model trained on ContentVec windows
        self.features = None

    @classmethod
    def from_settings(cls, settings, persona=None, **kwargs):
        """As every backend, plus the so-vits ContentVec folder (``voice.sovits.contentvec_dir``) as the
        encoder a ContentVec-trained model falls back on when ``face.personal.contentvec_dir`` is empty."""
        kwargs.setdefault("contentvec", settings.voice.sovits.contentvec_dir)
        return super().from_settings(settings, persona, **kwargs)

    def resolve_model(self) -> PersonalInference:
        cfg = self.cfg
        path = self.env.resolve(cfg.checkpoint) if cfg.checkpoint else default_weights(self.persona)
        if not path.is_file():
            raise ValueError(
                f"face.backend is 'personal' but there is no trained lip-sync model at {path}: train one with "
                f"'python -m pipelines lipsync-train --persona NAME clip.mp4' (or the app's Fine-tuning > "
                f"Train lip-sync), or set face.personal.checkpoint"
            )
        runtime = cfg.runtime
        device = self.env.device
        if runtime == "auto" and device == "cpu" and path.suffix == ".safetensors":
            int8 = path.with_name(path.name.replace(".safetensors", ".int8.onnx"))
            if int8.is_file() and int8.stat().st_mtime >= path.stat().st_mtime:
                path, runtime = int8, "onnx"
        return PersonalInference(path, runtime=runtime, device=device, threads=int(self.env.threads))

    def load(self) -> None:
        if self.model is None:
            self.model = self.resolve_model()
        self.model.load()
        self.features = None
        if self.model.audio_features == "contentvec":
            from pipelines.face.personal.features import ContentVecFeatures

            feats = ContentVecFeatures(self.contentvec, device="cpu", threads=int(self.env.threads))
            if feats.dim != self.model.feature_dim:
                raise ValueError(
                    f"the lip-sync model was trained on {self.model.feature_dim}-dim ContentVec features but "
                    f"{feats.path} gives {feats.dim}: set face.personal.contentvec_dir to the encoder it was "
                    f"trained with"
                )
            self.features = feats
        if self.avatar is None:
            from pipelines.face.avatar.loading import load_avatar

            self.avatar = load_avatar(self.persona, self.env)
        self._crops.clear()
        self.backend = f"personal/{self.model.describe()}"
        self.warm_up()

    def warm_up(self) -> None:
        k = max(1, min(self.first_batch, self.batch_size))
        windows = self.audio_windows(np.zeros(int(16000 * k / self.fps), np.float32), k)  # the encoder's first call too
        self.generate(np.zeros(k, np.int64), windows)

    def audio_windows(self, wav16: np.ndarray, n: int) -> np.ndarray:
        """Mel windows, or ContentVec ones (``features.py``) for a model trained on those."""
        if self.features is None:
            return super().audio_windows(wav16, n)
        if n == 0:
            return np.zeros((0, self.model.feature_dim, 16), np.float32)
        return self.features.windows(wav16, n, self.fps)

    def crop_of(self, i: int) -> np.ndarray:
        hit = self._crops.get(i)
        if hit is None:
            av = self.avatar
            hit = self._crops[i] = face_crops(av.frames[i : i + 1], av.boxes[i : i + 1], self.model.crop)[0]
        return hit

    def generate(self, ids: np.ndarray, windows: np.ndarray) -> np.ndarray:
        crops = np.stack([self.crop_of(int(i)) for i in ids])
        return to_rgb(self.model(windows[:, None], to_input(crops, crops)))

    def close(self) -> None:
        super().close()
        self._crops.clear()
