"""The ``face`` stage ``wav2lip``: audio as the clock, streaming, silence, continuity, paste-back."""

import numpy as np
import pytest

from pipelines.face.wav2lip.checkpoint import CheckpointError
from pipelines.face.wav2lip.renderer import Wav2LipRenderer
from pipelines.messages import AudioChunk, TextChunk, VideoChunk
from pipelines.persona import Persona
from pipelines.settings import Settings
from pipelines.stage import TurnContext
from pipelines.testing.harness import run_stage

from .pth_renderer import face_mask


def _settings(checkpoint, batch=8, runtime="torch"):
    s = Settings()
    s = s.replace("face.backend", "wav2lip").replace("face.wav2lip.checkpoint", str(checkpoint))
    return s.replace("face.wav2lip.batch_size", batch).replace("face.wav2lip.runtime", runtime).replace("device", "cpu")


def _persona(tmp_path):
    return Persona(root=tmp_path, name="t", display_name="t", system_prompt="")


@pytest.fixture(scope="module")
def renderer(w2l_checkpoint, face_avatar, tmp_path_factory):
    r = Wav2LipRenderer.from_settings(
        _settings(w2l_checkpoint), _persona(tmp_path_factory.mktemp("p")), avatar=face_avatar
    )
    r.load()
    return r


def _render(r, samples, sr, turn=1):
    return run_stage(r, [AudioChunk(turn, samples=samples, sample_rate=sr, text="hi")], end_turns=False)


def test_audio_is_the_clock_and_output_streams_in_batches(renderer, speech):
    samples, sr = speech
    renderer.reset()
    chunks = _render(renderer, samples, sr)
    n = round(len(samples) / sr * 25)
    assert all(isinstance(c, VideoChunk) for c in chunks)
    assert [c.seq for c in chunks] == list(range(len(chunks)))
    assert all(c.turn_id == 1 and c.fps == 25.0 and c.sample_rate == sr for c in chunks)
    # a small first batch (the first frame shows sooner), then doubling up to face.wav2lip.batch_size
    assert [len(c.frames) for c in chunks[:-1]] == [4] + [8] * (len(chunks) - 2)
    assert sum(len(c.frames) for c in chunks) == n
    for c in chunks:  # every chunk's audio lasts exactly its frames (22050 / 25 = 882 samples a frame)
        assert len(c.audio) == len(c.frames) * sr // 25
        assert c.frames.dtype == np.uint8 and c.frames.shape[1:] == (512, 512, 3)
    audio = np.concatenate([c.audio for c in chunks])
    m = min(len(audio), len(samples))
    np.testing.assert_array_equal(audio[:m], samples[:m])


@pytest.mark.parametrize("sr,seconds", [(16000, 0.83), (44100, 0.5), (24000, 1.01)])
def test_any_sample_rate(renderer, sr, seconds):
    t = np.arange(int(sr * seconds)) / sr
    tone = (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 4 * t))).astype(np.float32)
    chunks = _render(renderer, tone, sr)
    n = round(seconds * 25)
    assert sum(len(c.frames) for c in chunks) == n
    assert sum(len(c.audio) for c in chunks) == round(n * sr / 25)


def test_silence_keeps_the_original_frames_and_skips_inference(renderer, face_avatar):
    renderer.reset()
    renderer.reset_stats()
    chunks = _render(renderer, np.zeros(22050, np.float32), 22050)
    frames = np.concatenate([c.frames for c in chunks])
    assert len(frames) == 25
    for i, f in enumerate(frames):
        assert np.array_equal(f, face_avatar.frames[face_avatar.index(i)])
    assert renderer.stats.batches == 0 and renderer.stats.infer_s == 0.0
    assert renderer.stats.silent_frames == 25


def test_speech_changes_only_the_lower_face_and_pauses_keep_the_face(renderer, face_avatar, speech):
    samples, sr = speech  # 0.4 s of silence, the sentence, 0.4 s of silence
    renderer.reset()
    frames = np.concatenate([c.frames for c in _render(renderer, samples, sr, turn=7)])
    # leading silence minus the one-frame margin and the fade into speech (face.wav2lip.blend_frames)
    lead = int(0.4 * 25) - 2 - renderer.blend_frames
    for i in range(lead):
        assert np.array_equal(frames[i], face_avatar.frames[face_avatar.index(i)])
    mid = len(frames) // 2
    talking = 0
    for i in range(lead + 2, len(frames) - lead - 2):
        orig, mask = face_avatar.frames[face_avatar.index(i)], face_mask(face_avatar, i)
        assert np.array_equal(frames[i][mask == 0], orig[mask == 0])
        talking += int(np.any(frames[i] != orig))
    assert talking > 0.8 * (len(frames) - 2 * lead - 4)
    assert np.any(frames[mid] != face_avatar.frames[face_avatar.index(mid)])


def test_frames_continue_across_sentences_and_restart_per_turn(renderer, face_avatar):
    renderer.reset()
    quiet = np.zeros(int(22050 * 0.28), np.float32)  # 7 frames each
    first = np.concatenate([c.frames for c in _render(renderer, quiet, 22050, turn=3)])
    second = np.concatenate([c.frames for c in _render(renderer, quiet, 22050, turn=3)])
    assert len(first) == len(second) == 7
    for i, f in enumerate(np.concatenate([first, second])):  # 6 avatar frames: 0..5, 4..0, 1, ...
        assert np.array_equal(f, face_avatar.frames[face_avatar.index(i)])
    assert face_avatar.index(7) == 3 and face_avatar.index(10) == 0
    ctx = TurnContext(3)
    assert list(renderer.end_turn(ctx)) == []
    assert ctx.info["face_frames"] == 14 and ctx.info["face_silent_frames"] == 14
    again = _render(renderer, quiet, 22050, turn=4)
    assert np.array_equal(again[0].frames[0], face_avatar.frames[0])
    assert again[0].seq == 0


def test_cancelled_turn_stops_between_batches(renderer, speech):
    samples, sr = speech
    calls = {"n": 0}

    def cancelled():
        calls["n"] += 1
        return calls["n"] > 1

    gen = renderer.process(AudioChunk(9, samples=samples, sample_rate=sr), TurnContext(9, is_cancelled=cancelled))
    assert len(list(gen)) == 1


def test_onnx_runtime_renders_the_same_frames(w2l_onnx, w2l_checkpoint, face_avatar, speech, tmp_path):
    samples, sr = speech
    part = samples[int(0.4 * sr) : int(1.0 * sr)]  # speech only: every frame is rendered
    out = {}
    for name, ck in (("torch", w2l_checkpoint), ("onnx", w2l_onnx)):
        r = Wav2LipRenderer.from_settings(_settings(ck, batch=16, runtime=name), _persona(tmp_path), avatar=face_avatar)
        r.load()
        assert r.backend.startswith(f"wav2lip/{name}-fp32")
        out[name] = np.concatenate([c.frames for c in _render(r, part, sr)]).astype(np.int16)
    assert out["torch"].shape == out["onnx"].shape
    assert np.abs(out["torch"] - out["onnx"]).max() <= 2


def test_load_errors_are_clear(w2l_checkpoint, face_avatar, tmp_path):
    r = Wav2LipRenderer.from_settings(_settings(""), _persona(tmp_path), avatar=face_avatar)
    with pytest.raises(ValueError, match="face.wav2lip.checkpoint is empty"):
        r.load()
    r = Wav2LipRenderer.from_settings(_settings(w2l_checkpoint, runtime="onnx"), _persona(tmp_path), avatar=face_avatar)
    with pytest.raises(ValueError, match="export-onnx"):
        r.load()
    import torch

    wrong = tmp_path / "lipsync_expert.pth"
    torch.save(
        {
            "state_dict": {
                "module.face_encoder.0.conv_block.0.weight": torch.zeros(1),
                "module.audio_encoder.0.conv_block.0.weight": torch.zeros(1),
            }
        },
        wrong,
    )
    r = Wav2LipRenderer.from_settings(_settings(wrong), _persona(tmp_path), avatar=face_avatar)
    with pytest.raises(CheckpointError, match="SyncNet"):
        r.load()


def test_only_audio_is_accepted(renderer):
    with pytest.raises(TypeError, match="AudioChunk"):
        list(renderer.process(TextChunk(1, text="x"), TurnContext(1)))


def test_registry_builds_the_wav2lip_backend(w2l_checkpoint, tmp_path):
    from pipelines.registry import build_stage

    stage = build_stage("face", _settings(w2l_checkpoint), _persona(tmp_path))
    assert isinstance(stage, Wav2LipRenderer) and stage.name == "face"


def test_batch_schedule_ramps_up_only_at_the_start_of_a_turn(renderer):
    bs, first = renderer.batch_size, renderer.first_batch
    try:
        renderer.batch_size, renderer.first_batch = 32, 2
        sizes = [b - a for a, b in renderer.batches(100)]
        assert sizes == [2, 4, 8, 16, 32, 32, 6]
        assert [b - a for a, b in renderer.batches(40, first_of_turn=False)] == [32, 8]
    finally:
        renderer.batch_size, renderer.first_batch = bs, first


def test_pauses_cross_fade_instead_of_popping(renderer, face_avatar, speech):
    from pipelines.face.wav2lip.renderer import blend_weights

    w = blend_weights(np.array([1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1], bool), 3)
    np.testing.assert_allclose(w, [0, 0, 0.25, 0.5, 0.75, 1, 1, 0.75, 0.5, 0.25, 0, 0])
    samples, sr = speech
    jumps = {}
    for frames_n in (0, 3):
        renderer.reset()
        renderer.blend_frames = frames_n
        try:
            frames = np.concatenate([c.frames for c in _render(renderer, samples, sr, turn=30 + frames_n)])
        finally:
            renderer.blend_frames = 3
        ids = [face_avatar.index_at(i / 25) for i in range(len(frames))]
        change = np.array([np.abs(f.astype(np.int16) - face_avatar.frames[j]).mean() for f, j in zip(frames, ids)])
        assert change[0] == 0 and change[-1] == 0  # deep in the pauses: the original face
        jumps[frames_n] = np.abs(np.diff(change)).max()
    assert jumps[3] < 0.6 * jumps[0], jumps  # the onset and the end fade, no pop
