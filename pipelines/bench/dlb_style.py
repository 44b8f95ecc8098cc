"""The DL-B-style reply, for ``bench reply``: what DL-B's ``main_demo.py`` did after the dialogue.

DL-B (SkyFlap/Digital-Life-DL-B) wrote the whole reply to a file with the base TTS, then ran
``So-VITS_run.py`` and ``wav2lip_run.py`` as new processes (``os.system``): each imports torch,
loads its models, and the Wav2Lip one decodes the face video and detects the face on every frame
before it renders the whole video (batch 128), pastes it back and muxes the audio; the video
plays only when everything is done.  The two process steps are here, run as
``python -m pipelines.bench.dlb_style voice|face …``, on this project's own model code in PyTorch
fp32 (what DL-B ran): so-vits 4.0 with ``dio`` F0 (4.0's ``compute_f0_dio``), the official Wav2Lip
generator (ContentVec stops at layer 9 in both, as fairseq's ``extract_features(output_layer=9)``
did for DL-B).  One difference favours DL-B: faces are found with mediapipe (about a tenth of S3FD's
CPU time), as no S3FD weights are available here.
"""

from __future__ import annotations

import sys
import time

import numpy as np

W2L_BATCH = 128  # wav2lip_run.py --wav2lip_batch_size
PADS = (0, 10, 0, 0)  # wav2lip_run.py --pads
IMG_SIZE = 96


def voice_process(model: str, contentvec: str, wav_in: str, wav_out: str) -> None:
    """So-VITS_run.py: load the voice, convert the whole reply, write it."""
    import soundfile as sf
    import torch

    from pipelines.voice.sovits_vc import SovitsVoice

    torch.set_num_threads(2)
    voice = SovitsVoice(model, contentvec)
    samples, sr = sf.read(wav_in, dtype="float32")
    out = voice.convert(samples, sr, f0_method="dio")
    sf.write(wav_out, out, voice.sample_rate)


def face_boxes(frames: np.ndarray) -> np.ndarray:
    """wav2lip_run.py's ``face_detect``: a face on every frame, padded, smoothed over 5 frames."""
    from pipelines.face.avatar.landmarks import detect_face

    raw = []
    for f in frames:
        det = detect_face(f)
        if det is None:
            raise ValueError("Face not detected! Ensure the video contains a face in all the frames.")
        raw.append(det.box)
    b = np.asarray(raw, np.float32)
    h, w = frames.shape[1:3]
    top, bottom, left, right = PADS
    b[:, 0], b[:, 1] = np.maximum(0, b[:, 0] - left), np.maximum(0, b[:, 1] - top)
    b[:, 2], b[:, 3] = np.minimum(w, b[:, 2] + right), np.minimum(h, b[:, 3] + bottom)
    out = b.copy()
    for i in range(len(b)):  # get_smoothened_boxes(boxes, T=5)
        out[i] = b[len(b) - 5 :].mean(0) if i + 5 > len(b) else b[i : i + 5].mean(0)
    return out.astype(np.int32)


def face_process(clip: str, checkpoint: str, wav: str, video_out: str) -> None:
    """wav2lip_run.py: frames, faces detected, mel chunks, batched inference, paste-back, mux."""
    import cv2
    import soundfile as sf
    import torch

    from pipelines.face.avatar.video_io import read_clip, write_clip
    from pipelines.face.wav2lip.checkpoint import load_wav2lip
    from pipelines.face.wav2lip.mel import melspectrogram, resample

    torch.set_num_threads(2)
    frames = read_clip(clip).frames
    fps = 25.0
    samples, sr = sf.read(wav, dtype="float32")
    mel = melspectrogram(resample(samples, sr))
    chunks, i = [], 0
    while True:
        start = int(i * 80.0 / fps)
        if start + 16 > mel.shape[1]:
            chunks.append(mel[:, mel.shape[1] - 16 :])
            break
        chunks.append(mel[:, start : start + 16])
        i += 1
    frames = frames[: len(chunks)]
    boxes = face_boxes(frames)
    model = load_wav2lip(checkpoint)
    out_frames = []
    for a in range(0, len(chunks), W2L_BATCH):
        idx = [k % len(frames) for k in range(a, min(len(chunks), a + W2L_BATCH))]
        faces = np.stack(
            [
                cv2.resize(frames[k][boxes[k][1] : boxes[k][3], boxes[k][0] : boxes[k][2]], (IMG_SIZE, IMG_SIZE))
                for k in idx
            ]
        )
        masked = faces.copy()
        masked[:, IMG_SIZE // 2 :] = 0
        img = np.concatenate([masked, faces], axis=3) / 255.0
        mels = np.stack(chunks[a : a + len(idx)])[:, None]
        with torch.no_grad():
            pred = model(torch.FloatTensor(mels), torch.FloatTensor(img.transpose(0, 3, 1, 2)))
        pred = pred.numpy().transpose(0, 2, 3, 1) * 255.0
        for p, k in zip(pred, idx):
            x1, y1, x2, y2 = boxes[k]
            f = frames[k].copy()
            f[y1:y2, x1:x2] = cv2.resize(p.astype(np.uint8), (x2 - x1, y2 - y1))
            out_frames.append(f)
    write_clip(video_out, np.stack(out_frames), fps=fps, audio=samples, sample_rate=sr)


def run_process(args: list[str]) -> float:
    """Wall time of one DL-B step as a new Python process (imports and model loads included)."""
    import subprocess

    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pipelines.bench.dlb_style", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:]
        raise RuntimeError(f"DL-B-style {args[0]} step failed: {' '.join(tail)}")
    return time.perf_counter() - t


if __name__ == "__main__":
    step, *rest = sys.argv[1:]
    if step == "voice":
        voice_process(*rest)
    elif step == "face":
        face_process(*rest)
    else:
        sys.exit(f"unknown step {step!r} (voice, face)")
