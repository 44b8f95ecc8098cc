"""What every face backend adds to the stage contract: its idle loop."""

from __future__ import annotations

import numpy as np

from pipelines.stage import Stage


class FaceStage(Stage):
    """Base of the face renderers (``warp``, ``wav2lip``): expects ``persona`` and ``env`` (a ``StageEnv``)."""

    name = "face"

    def idle_frames(self, n: int = 75) -> tuple[np.ndarray | None, float]:
        from pipelines.face.idle import idle_frames

        return idle_frames(self.persona, self.env, n, face=self)
