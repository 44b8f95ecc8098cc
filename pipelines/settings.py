"""One typed settings object for the CLI, the settings file and the settings panel.

``Settings`` is a tree of dataclasses.  Each field carries ``metadata`` (help
text, allowed choices, whether it is a folder/file path) which the CLI and the
settings panel read, so there is one description of every knob.

``load_settings`` validates and reports every wrong field by its dotted name
("face.fps: must be a number between 1 and 60, got 'fast'"); ``save_settings``
writes atomically (temp file + rename), so a crash never leaves half a file.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

from .atomic_files import atomic_write_text
from .paths import DEFAULT_PERSONA, REPO_ROOT
from .registry import backend_choices
from .settings_migration import migrate, new_names

log = logging.getLogger(__name__)

DEFAULT_SETTINGS_FILE = REPO_ROOT / "settings.json"


#: how far in a setting is: the settings panel shows the basic ones first
LEVELS = ("basic", "advanced")


def opt(
    default: Any,
    help: str,
    choices: tuple | None = None,
    path: str | None = None,
    lo: float | None = None,
    hi: float | None = None,
    level: str = "advanced",
):
    """A settings field with its description.  ``path`` is "dir" or "file" for paths.

    ``level``: "basic" for what most people set (persona, models, voice, microphone; the settings
    panel's Basic view), "advanced" for the rest (threads, batch sizes, sampling, ...)."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    meta = {"help": help, "choices": choices, "path": path, "lo": lo, "hi": hi, "level": level}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


# -- dialogue ------------------------------------------------------------------------------
@dataclass
class GenerationSettings:
    """What every model-backed dialogue backend samples with (each keeps its own values)."""

    max_new_tokens: int = opt(256, "longest reply in tokens", lo=1, hi=8192)
    temperature: float = opt(0.8, "sampling temperature (0: greedy)", lo=0.0, hi=5.0)
    top_p: float = opt(0.8, "nucleus sampling", lo=0.0, hi=1.0)
    history_tokens: int = opt(1024, "token budget of the kept history (oldest rounds dropped first)", lo=0, hi=131072)


@dataclass
class RetrievalSettings:
    """``dialogue.backend = retrieval``: replies looked up in the persona's chat log."""

    stream_delay_ms: int = opt(15, "pause between streamed pieces", lo=0, hi=1000)


@dataclass
class ChatGLMSettings(GenerationSettings):
    """``dialogue.backend = chatglm``: a local ChatGLM / GLM / causal-LM folder."""

    model_dir: str = opt(
        "", "ChatGLM / GLM / causal-LM model folder (e.g. module/chatglm-6b)", path="dir", level="basic"
    )
    ptuning_dir: str = opt("", "P-tuning v2 checkpoint or peft adapter folder (empty: none)", path="dir")
    trust_remote_code: bool = opt(
        False, "run the model folder's own Python code (only for unknown folders; THUDM ChatGLM folders load natively)"
    )
    dtype: str = opt("auto", "weights dtype", choices=("auto", "fp32", "bf16", "fp16"))
    quantize_int8: bool = opt(False, "int8 weight-only quantisation of the Linear layers (CPU); same as quantize=int8")
    quantize: str = opt(
        "none",
        "CPU weight-only quantisation of the Linear layers: int8 (dynamic int8; fast prompts), int4 (4-bit "
        "groups of 128 on ONNX Runtime's MatMulNBits, int8 activations; fastest decoding, slower prompts), "
        "int4+int8 (both: int4 decoding, int8 prompts; the memory of both)",
        choices=("none", "int8", "int4", "int4+int8"),
    )
    kv_cache: bool = opt(True, "keep the conversation's keys/values between turns (first token does not slow down)")
    pre_seq_len: int = opt(
        0, "P-tuning prefix length the checkpoint must have (0: take it from the checkpoint)", lo=0, hi=4096
    )


@dataclass
class OpenAISettings(GenerationSettings):
    """``dialogue.backend = openai``: an OpenAI-compatible server the user runs."""

    endpoint: str = opt(
        "http://127.0.0.1:8000/v1",
        "base URL of an OpenAI-compatible server (vLLM, llama-server, Ollama, ...)",
        level="basic",
    )
    model: str = opt("", "model or adapter name the server knows (empty: the first it lists)", level="basic")
    api_key_env: str = opt(
        "OPENAI_API_KEY", "name of the environment variable holding the API key (the key is never stored here)"
    )
    connect_timeout_s: float = opt(5.0, "seconds to wait for the connection", lo=0.1, hi=600.0)
    read_timeout_s: float = opt(60.0, "seconds to wait for the next piece of the reply", lo=0.1, hi=3600.0)


@dataclass
class DialogueSettings:
    backend: str = opt("retrieval", "reply generator", choices=backend_choices("dialogue"), level="basic")
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    chatglm: ChatGLMSettings = field(default_factory=ChatGLMSettings)
    openai: OpenAISettings = field(default_factory=OpenAISettings)


# -- voice ---------------------------------------------------------------------------------
@dataclass
class BaseVoiceSettings:
    """A text-to-speech engine's voice (names differ between engines, so each keeps its own)."""

    voice: str = opt("", "base voice name (empty: the persona's, by language)", level="basic")
    rate: int = opt(0, "speaking rate in words per minute (0: the persona's)", lo=0, hi=600)
    pitch: int = opt(-1, "base pitch 0-99 (-1: the persona's)", lo=-1, hi=99)


@dataclass
class EspeakSettings(BaseVoiceSettings):
    """``voice.tts_backend = espeak``: espeak-ng in-process (the embedded default)."""


@dataclass
class Pyttsx3Settings(BaseVoiceSettings):
    """``voice.tts_backend = pyttsx3``: the system's speech engine through pyttsx3."""


F0_METHODS = ("dio", "harvest", "crepe-tiny", "crepe", "parselmouth", "fcpe")
#: ``voice.sovits.f0_method``'s default, by ``bench f0`` (issue #18: the most accurate method within the F0's
#: share of the real-time budget, RTF 0.02, as the networks alone nearly fill it).  On espeak speech
#: re-synthesised on a known contour, quiet machine, 44.1 kHz: parselmouth RTF 0.008, no gross errors,
#: 3 cents median, voicing error 12.8 % (dio, the old default: RTF 0.039, 8 cents, 11.9 %).  fcpe has the
#: best voicing (6.5 %, 5 cents) at RTF 0.049 and puts the first audio 0.2 s later: the choice when the
#: CPU has room (a trained model sounds breathier where voiced frames are missed).
SOVITS_F0_DEFAULT = "parselmouth"


@dataclass
class WorldSettings:
    """``voice.vc_backend = world``: WORLD vocoder pitch and formant shift to the persona's voice."""

    transpose: int = opt(0, "pitch shift in semitones on top of the persona's pitch", lo=-24, hi=24)
    f0_method: str = opt("dio", "F0 estimator", choices=F0_METHODS)


@dataclass
class SovitsSettings:
    """``voice.vc_backend = sovits``: a so-vits-svc 4.0 / 4.1 model of the persona's voice."""

    model_dir: str = opt("", "model folder: G_*.pth + config.json (e.g. module/So-VITS/44k)", path="dir", level="basic")
    checkpoint: str = opt("", "G_*.pth inside model_dir (empty: newest)")
    contentvec_dir: str = opt(
        "", "ContentVec encoder: HF content-vec-best folder or checkpoint_best_legacy_500.pt", path="any", level="basic"
    )
    cluster_model: str = opt("", "optional kmeans cluster model (.pt)", path="file")
    speaker: str = opt("", "speaker name from the so-vits config (empty: the first)")
    transpose: int = opt(0, "pitch shift in semitones", lo=-24, hi=24)
    f0_method: str = opt(
        SOVITS_F0_DEFAULT,
        "F0 estimator (parselmouth: accurate and fast, see bench f0; fcpe: best voicing, 6x slower)",
        choices=F0_METHODS,
    )
    noise_scale: float = opt(0.4, "noise scale", lo=0.0, hi=2.0)
    cluster_ratio: float = opt(0.0, "share of the cluster model in the content features", lo=0.0, hi=1.0)
    auto_predict_f0: bool = opt(
        True,
        "predict the F0 from the content (right for speech, as DL-B ran it; off for singing: then transpose applies)",
    )
    loudness_match: float = opt(
        0.0,
        "how far the converted loudness envelope follows the base voice's (so-vits change_rms; 0 off, 1 fully)",
        lo=0.0,
        hi=1.0,
    )
    # -- so-vits runtime (issue #18; kept together so they can move into a voice.sovits sub-section) --
    runtime: str = opt(
        "auto",
        "so-vits networks run in: onnx (ONNX Runtime, exported on first use and cached beside the model), "
        "torch, or auto (onnx on the CPU when onnxruntime is installed, else torch)",
        choices=("auto", "torch", "onnx"),
    )
    int8: bool = opt(True, "with the onnx runtime: int8 models (calibrated on the persona's speech) for speed")
    first_window_s: float = opt(
        0.6,
        "the first sentence of a turn is converted in windows of this many seconds, each sent on at once "
        "(0: whole sentences; bench reply, DL-B-size voice + Wav2Lip: 0.6 s gives first audio 0.48 s and "
        "first frame 0.83 s, 1.0 s 0.67 s and 1.10 s)",
        lo=0.0,
        hi=10.0,
    )
    window_overlap_s: float = opt(
        0.2, "overlap (crossfade, and context on each side) between those windows, seconds", lo=0.02, hi=1.0
    )
    threads: int = opt(0, "ONNX Runtime threads (0: up to 4, the CPU count)", lo=0, hi=64)


@dataclass
class VoiceSettings:
    tts_backend: str = opt("espeak", "base text-to-speech voice", choices=backend_choices("tts"), level="basic")
    vc_backend: str = opt(
        "world", "voice conversion into the persona's voice", choices=backend_choices("vc"), level="basic"
    )
    espeak: EspeakSettings = field(default_factory=EspeakSettings)
    pyttsx3: Pyttsx3Settings = field(default_factory=Pyttsx3Settings)
    world: WorldSettings = field(default_factory=WorldSettings)
    sovits: SovitsSettings = field(default_factory=SovitsSettings)


# -- face ----------------------------------------------------------------------------------
@dataclass
class LipSyncRenderSettings:
    """How a generated-mouth renderer (``wav2lip``, ``personal``) batches and blends its frames."""

    batch_size: int = opt(32, "frames per inference batch", lo=1, hi=512)
    first_batch: int = opt(4, "frames in a turn's first batch (then doubling up to batch_size)", lo=1, hi=512)
    silence_db: float = opt(-45.0, "frames quieter than this (dBFS RMS) keep the original face", lo=-120.0, hi=0.0)
    colour_match: bool = opt(True, "match the rendered mouth's colour to the frame (L*a*b* mean/std)")
    blend_frames: int = opt(3, "frames over which pauses cross-fade between generated and original", lo=0, hi=25)


@dataclass
class Wav2LipSettings(LipSyncRenderSettings):
    """``face.backend = wav2lip``: the Wav2Lip generator (the user's .pth, or an .onnx export)."""

    checkpoint: str = opt(
        "",
        "checkpoint (.pth) or exported model (.onnx) (e.g. module/wav2lip/wav2lip_gan.pth)",
        path="file",
        level="basic",
    )
    runtime: str = opt(
        "auto",
        "runtime: auto (on the CPU a .pth runs as its cached int8 ONNX export, made on first use: the fastest), "
        "torch, onnx, or openvino (a .pth as its fp32 ONNX export in OpenVINO, bf16 where the CPU has it: "
        "closer to the checkpoint than int8, about 3/4 of its speed)",
        choices=("auto", "torch", "onnx", "openvino"),
    )


@dataclass
class PersonalFaceSettings(LipSyncRenderSettings):
    """``face.backend`` ``personal``: the lip-sync model trained on the persona's own video."""

    checkpoint: str = opt(
        "",
        "personal lip-sync model (.safetensors from lipsync-train, or its .onnx export); "
        "empty: module/lipsync/<persona>/personal.safetensors",
        path="file",
    )
    runtime: str = opt(
        "auto",
        "personal: runtime (auto: the int8 ONNX export beside the weights on a CPU)",
        choices=("auto", "torch", "onnx"),
    )
    width: int = opt(
        8, "lipsync-train: channels of the first UNet stage (Ultralight: 32; 8 fits 2 CPU cores)", lo=2, hi=64
    )
    crop: int = opt(128, "lipsync-train: face crop size in pixels", choices=(64, 96, 128, 160))
    epochs: int = opt(30, "lipsync-train: epochs", lo=1, hi=10000)
    batch: int = opt(8, "lipsync-train: frame pairs per step", lo=1, hi=256)
    lr: float = opt(1e-3, "lipsync-train: Adam learning rate", lo=1e-6, hi=1.0)
    min_seconds: float = opt(60.0, "lipsync-train: least seconds of video accepted", lo=1.0, hi=3600.0)
    val_share: float = opt(0.1, "lipsync-train: share of the video (its tail) held out for validation", lo=0.02, hi=0.5)
    audio_features: str = opt(
        "mel",
        "lipsync-train: audio features: mel (Wav2Lip mel windows, nothing to download) or contentvec (the so-vits "
        "ContentVec encoder you have, layer 9, as Ultralight feeds HuBERT); a trained model keeps its own",
        choices=("mel", "contentvec"),
    )
    contentvec_dir: str = opt(
        "",
        "ContentVec / HuBERT for audio_features contentvec (empty: voice.sovits.contentvec_dir)",
        path="dir",
    )


@dataclass
class FaceSettings:
    """What every face backend shares: the output frame rate and which face, enrolled how."""

    backend: str = opt("warp", "lip-sync renderer", choices=backend_choices("face"), level="basic")
    fps: int = opt(25, "video frames per second", lo=1, hi=60)
    face: str = opt("", "enrolled face (avatar folder); empty: the persona's", path="dir", level="basic")
    pads: str = opt(
        "0 10 0 0",
        "enrollment: pixels added to the Wav2Lip face box: top bottom left right (more bottom for a cut-off chin)",
    )
    box: str = opt(
        "",
        "enrollment: fixed face box 'top bottom left right' in the clip's pixels instead of detection; empty: detect",
    )
    nosmooth: bool = opt(False, "enrollment: do not smooth the face box over time (Wav2Lip's --nosmooth)")
    enroll_max_side: int = opt(
        720, "enrollment: keep frames with the longer side at most this many pixels", lo=96, hi=4096
    )
    wav2lip: Wav2LipSettings = field(default_factory=Wav2LipSettings)
    personal: PersonalFaceSettings = field(default_factory=PersonalFaceSettings)


@dataclass
class AsrSettings:
    backend: str = opt(
        "pocketsphinx",
        "speech recogniser for voice input",
        choices=("pocketsphinx", "whisper", "sherpa-onnx"),
        level="basic",
    )
    model_dir: str = opt(
        "",
        "recogniser model folder (whisper: e.g. module/whisper-small; sherpa-onnx: a SenseVoice or Paraformer folder; pocketsphinx: empty = the model in its wheel)",
        path="dir",
        level="basic",
    )
    language: str = opt(
        "auto", "language spoken to the persona (whisper, sherpa-onnx SenseVoice)", choices=("auto", "en", "zh")
    )
    end_pause_s: float = opt(0.6, "silence that ends an utterance (seconds)", lo=0.1, hi=5.0)
    headphones: bool = opt(
        False, "the avatar's voice cannot reach the microphone: any speech barges in, no echo check", level="basic"
    )
    input_device: str = opt(
        "", "microphone (name or index as the sound system lists it; empty: the default input)", level="basic"
    )


@dataclass
class OutputSettings:
    keep_turns: int = opt(
        0,
        "turn videos kept in output_dir, oldest removed first (0: keep all); only the "
        "engine's own turn-*.mp4 there, never --out files or copies",
        lo=0,
        hi=1_000_000,
    )
    keep_mb: float = opt(
        0.0,
        "megabytes of turn videos kept in output_dir, oldest removed first (0: no limit); only the "
        "engine's own turn-*.mp4 there, never --out files or copies; the newest turn always stays",
        lo=0.0,
        hi=10_000_000.0,
    )


@dataclass
class Settings:
    persona: str = opt(
        str(DEFAULT_PERSONA.relative_to(REPO_ROOT)),
        "persona folder (persona.json, chat log, portrait)",
        path="dir",
        level="basic",
    )
    device: str = opt("auto", "compute device", choices=("auto", "cpu", "cuda"))
    threads: int = opt(0, "CPU threads for models (0: all cores)", lo=0, hi=256)
    language: str = opt("auto", "reply language for the voice", choices=("auto", "zh", "en"), level="basic")
    output_dir: str = opt("output", "where turn videos and the conversation log go", path="dir")
    min_sentence_chars: int = opt(6, "shortest first sentence sent to the voice", lo=1, hi=200)
    dialogue: DialogueSettings = field(default_factory=DialogueSettings)
    voice: VoiceSettings = field(default_factory=VoiceSettings)
    face: FaceSettings = field(default_factory=FaceSettings)
    asr: AsrSettings = field(default_factory=AsrSettings)
    output: OutputSettings = field(default_factory=OutputSettings)

    # -- paths ---------------------------------------------------------------
    def resolve(self, value: str) -> Path:
        """A path from the settings, relative paths taken from the repository root."""
        p = Path(os.path.expanduser(value))
        return p if p.is_absolute() else REPO_ROOT / p

    @property
    def persona_dir(self) -> Path:
        return self.resolve(self.persona)

    @property
    def output_path(self) -> Path:
        return self.resolve(self.output_dir)

    def resolved_device(self) -> str:
        if self.device != "auto":
            return self.device
        try:
            import torch

            return "cuda" if torch.cuda.is_available() else "cpu"
        except ImportError:
            return "cpu"

    # -- (de)serialisation ----------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Settings":
        errors: list[str] = []
        data, moved = migrate(data) if isinstance(data, dict) else (data, [])
        if moved:
            log.info("settings of an earlier version: %s moved to their backends' sections", ", ".join(moved))
        obj = _build(cls, data, "", errors)
        errors += obj.validate() if not errors else []
        if errors:
            raise SettingsError(errors)
        return obj

    def validate(self) -> list[str]:
        """Every problem as 'dotted.field: what is wrong'."""
        errors: list[str] = []
        _check(self, "", errors)
        env = self.dialogue.openai.api_key_env
        if env and not (env.replace("_", "a").isascii() and env.replace("_", "a").isalnum() and not env[0].isdigit()):
            errors.append(
                "dialogue.openai.api_key_env: must be the name of an environment variable holding the key "
                "(e.g. OPENAI_API_KEY), never the key itself"
            )
        return errors

    def replace(self, dotted: str, value: Any) -> "Settings":
        """A copy with one dotted field set from a string or value (CLI ``--set a.b=v``).

        An earlier version's name (``dialogue.chatglm.model_dir``) sets its new place(s)."""
        targets = new_names(dotted)
        if targets:
            out = self
            for target in targets:
                out = out.replace(target, value)
            return out
        data = self.to_dict()
        node = data
        *parents, last = dotted.split(".")
        for p in parents:
            if not isinstance(node.get(p), dict):
                raise SettingsError([f"{dotted}: no such setting"])
            node = node[p]
        if last not in node or isinstance(node[last], dict):
            raise SettingsError(
                [
                    f"{dotted}: no such setting (known: {', '.join(sorted(k for k in node if not isinstance(node[k], dict)))})"
                ]
            )
        node[last] = _coerce_text(value, node[last]) if isinstance(value, str) else value
        return Settings.from_dict(data)


class SettingsError(ValueError):
    def __init__(self, errors: list[str]):
        self.errors = errors
        text = f"invalid settings: {errors[0]}" if len(errors) == 1 else "invalid settings:\n  " + "\n  ".join(errors)
        super().__init__(text)


def iter_fields(obj: Any, prefix: str = ""):
    """(dotted name, dataclass field, value) for every leaf setting."""
    for f in fields(obj):
        value = getattr(obj, f.name)
        name = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            yield from iter_fields(value, name + ".")
        else:
            yield name, f, value


def _coerce_text(text: str, current: Any) -> Any:
    if isinstance(current, bool):
        low = text.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        return text
    if isinstance(current, int):
        try:
            return int(text)
        except ValueError:
            return text
    if isinstance(current, float):
        try:
            return float(text)
        except ValueError:
            return text
    return text


def _build(cls, data: Any, prefix: str, errors: list[str]):
    if not isinstance(data, dict):
        errors.append(f"{prefix.rstrip('.') or 'settings'}: must be a JSON object, got {type(data).__name__}")
        return cls()
    hints = get_type_hints(cls)
    names = {f.name for f in fields(cls)}
    for key in data:
        if key not in names:
            errors.append(f"{prefix}{key}: unknown setting (known: {', '.join(sorted(names))})")
    kwargs = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            kwargs[f.name] = _build(hint, value, f"{prefix}{f.name}.", errors)
            continue
        ok = {
            bool: lambda v: isinstance(v, bool),
            int: lambda v: isinstance(v, int) and not isinstance(v, bool),
            float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
            str: lambda v: isinstance(v, str),
        }[hint](value)
        if not ok:
            errors.append(f"{prefix}{f.name}: must be {hint.__name__}, got {value!r}")
            continue
        kwargs[f.name] = float(value) if hint is float else value
    return cls(**kwargs)


def _check(obj: Any, prefix: str, errors: list[str]) -> None:
    for name, f, value in iter_fields(obj, prefix):
        m = f.metadata
        if m.get("choices") and value not in m["choices"]:
            errors.append(f"{name}: must be one of {', '.join(map(str, m['choices']))}, got {value!r}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            lo, hi = m.get("lo"), m.get("hi")
            if (lo is not None and value < lo) or (hi is not None and value > hi):
                errors.append(f"{name}: must be between {lo} and {hi}, got {value!r}")


def load_settings(path: str | os.PathLike | None = None) -> Settings:
    """Settings from a JSON file (defaults where the file is missing)."""
    p = Path(path) if path else DEFAULT_SETTINGS_FILE
    if not p.exists():
        if path:
            raise SettingsError([f"{p}: settings file not found (omit --settings to use the defaults)"])
        return Settings()
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SettingsError(
            [
                f"{p}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
                "fix or delete the file to go back to the defaults"
            ]
        ) from None
    except UnicodeDecodeError as exc:
        raise SettingsError(
            [f"{p}: not a text file (byte {exc.start} is not UTF-8); fix or delete the file to go back to the defaults"]
        ) from None
    except OSError as exc:
        raise SettingsError([f"{p}: cannot be read ({exc.strerror or exc})"]) from None
    if not isinstance(data, dict):
        raise SettingsError(
            [
                f"{p}: must be a JSON object {{...}}, got {type(data).__name__}; "
                "fix or delete the file to go back to the defaults"
            ]
        )
    return Settings.from_dict(data)


def save_settings(settings: Settings, path: str | os.PathLike | None = None) -> Path:
    errors = settings.validate()
    if errors:
        raise SettingsError(errors)
    p = Path(path) if path else DEFAULT_SETTINGS_FILE
    atomic_write_text(p, json.dumps(settings.to_dict(), ensure_ascii=False, indent=2) + "\n")
    return p
