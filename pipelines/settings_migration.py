"""Settings names of earlier versions, and how they map onto today's per-backend sections.

Until this version every backend's knobs sat flat in their stage's section
(``dialogue.model_dir``, ``voice.sovits_dir``, ``face.checkpoint``).  Each backend now has
its own typed section (``dialogue.chatglm.model_dir``, ``voice.sovits.model_dir``,
``face.wav2lip.checkpoint``).  A ``settings.json`` written by an earlier version still
loads: ``migrate`` moves every old key to its new place (a knob shared by several
backends, such as ``dialogue.temperature``, goes to each of them), and the old
``--dialogue.model_dir`` style options keep working on the command line.  The file itself
is rewritten only when the user saves settings again.
"""

from __future__ import annotations

import copy
from typing import Any

_GEN = ("max_new_tokens", "temperature", "top_p", "history_tokens")

#: old dotted name -> the new dotted names it sets
LEGACY_NAMES: dict[str, tuple[str, ...]] = {
    **{f"dialogue.{k}": (f"dialogue.chatglm.{k}", f"dialogue.openai.{k}") for k in _GEN},
    "dialogue.stream_delay_ms": ("dialogue.retrieval.stream_delay_ms",),
    **{
        f"dialogue.{k}": (f"dialogue.chatglm.{k}",)
        for k in ("model_dir", "ptuning_dir", "trust_remote_code", "dtype", "quantize_int8", "pre_seq_len")
    },
    **{
        f"dialogue.{k}": (f"dialogue.openai.{k}",)
        for k in ("endpoint", "model", "api_key_env", "connect_timeout_s", "read_timeout_s")
    },
    **{f"voice.tts_{k}": (f"voice.espeak.{k}", f"voice.pyttsx3.{k}") for k in ("voice", "rate", "pitch")},
    "voice.sovits_dir": ("voice.sovits.model_dir",),
    "voice.sovits_checkpoint": ("voice.sovits.checkpoint",),
    **{
        f"voice.{k}": (f"voice.sovits.{k}",)
        for k in (
            "contentvec_dir",
            "cluster_model",
            "speaker",
            "noise_scale",
            "cluster_ratio",
            "auto_predict_f0",
            "loudness_match",
        )
    },
    **{f"voice.{k}": (f"voice.sovits.{k}", f"voice.world.{k}") for k in ("transpose", "f0_method")},
    **{
        f"face.{k}": (f"face.wav2lip.{k}",)
        for k in ("checkpoint", "runtime", "batch_size", "first_batch", "silence_db", "colour_match", "blend_frames")
    },
}


def new_names(dotted: str) -> tuple[str, ...]:
    """Where an old dotted name went (empty: it is not an old name)."""
    return LEGACY_NAMES.get(dotted, ())


def migrate(data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A copy of settings data with old keys moved to their new sections, and the old names seen.

    A value already given under its new name wins over the old one.
    """
    out = copy.deepcopy(data)
    moved: list[str] = []
    for old, targets in LEGACY_NAMES.items():
        section, key = old.split(".")
        node = out.get(section)
        if not isinstance(node, dict) or key not in node or isinstance(node[key], dict):
            continue
        value = node.pop(key)
        moved.append(old)
        for target in targets:
            *parents, last = target.split(".")
            dest = out
            for p in parents:
                dest = dest.setdefault(p, {})
                if not isinstance(dest, dict):
                    break
            else:
                dest.setdefault(last, value)
    return out, moved
