"""What the engine records about one turn: text, outcome, timings, outputs."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class StageFigures:
    first_output_s: float | None = None  # from submit to the stage's first output
    busy_s: float = 0.0  # time spent inside the stage
    rtf: float | None = None  # busy_s / seconds of reply audio
    outputs: int = 0


@dataclass
class TurnRecord:
    turn_id: int
    user_text: str
    started_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S"))
    reply: str = ""
    mode: str = ""
    model: str | None = None  # the model that wrote the reply, where the dialogue stage names it
    status: str = "running"  # running | ok | interrupted | error
    error: str | None = None
    wall_s: float | None = None
    first_text_s: float | None = None
    first_audio_s: float | None = None
    first_frame_s: float | None = None
    audio_s: float = 0.0
    rtf: float | None = None  # wall_s / audio_s: the whole turn against real time
    render_rtf: float | None = None  # busy time of voice + face per second of audio
    peak_rss_mb: float | None = None
    video_path: str | None = None
    stages: dict[str, StageFigures] = field(default_factory=dict)
    #: "reply" (the dialogue wrote it) or "say" (given text spoken as is: the greeting, ``Engine.say``)
    kind: str = "reply"
    speech: dict[str, Any] | None = None  # spoken turn: audio_s, text, backend, recognize_s (pipelines/asr)
    t0: float = field(default=0.0, repr=False)  # perf_counter at submit

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("t0", None)
        return d
