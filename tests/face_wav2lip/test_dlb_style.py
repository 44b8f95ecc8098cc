"""bench reply's DL-B-style face step: a new process that detects, renders and muxes the whole reply."""

from __future__ import annotations

import numpy as np
import soundfile as sf

from pipelines.bench.dlb_style import face_boxes, run_process
from pipelines.media.mp4_writer import probe_durations


def test_face_step_renders_every_frame_of_the_reply_with_its_audio(tmp_path):
    from pipelines.face.avatar.video_io import read_clip
    from pipelines.face.wav2lip.checkpoint import save_checkpoint
    from pipelines.testing.talking_clip import espeak_speech, make_talking_clip
    from pipelines.testing.wav2lip_random import random_wav2lip

    clip = make_talking_clip(tmp_path / "face.mp4", seconds=1.2, side=192, silent=True)
    frames = read_clip(clip).frames
    boxes = face_boxes(frames)
    assert boxes.shape == (len(frames), 4)
    # Wav2Lip's [0, 10, 0, 0] pads inside the frame, a box of sensible size around the face
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
    assert boxes[:, 3].max() <= frames.shape[1] and 0.1 * 192 < np.median(boxes[:, 2] - boxes[:, 0]) < 192
    speech, sr = espeak_speech(2.0)
    sf.write(tmp_path / "vc.wav", speech, sr)
    save_checkpoint(random_wav2lip(0), tmp_path / "w2l.pth")
    seconds = run_process(
        ["face", str(clip), str(tmp_path / "w2l.pth"), str(tmp_path / "vc.wav"), str(tmp_path / "out.mp4")]
    )
    assert seconds > 0
    d = probe_durations(tmp_path / "out.mp4")
    # as wav2lip_run.py: one frame per 16-column mel chunk, the clip looped (30 frames for 2 s of speech)
    from pipelines.face.wav2lip.mel import melspectrogram, resample

    columns = melspectrogram(resample(speech, sr)).shape[1]
    chunks = sum(1 for i in range(10_000) if int(i * 80 / 25) + 16 <= columns) + 1
    assert d["video_frames"] == chunks > len(frames)
    assert abs(d["audio"] - 2.0) < 0.1
