"""Enrollment: clips with head motion give smooth, stable boxes; faceless clips are refused, nothing lost."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from pipelines.face.avatar import landmarks as L
from pipelines.face.avatar.enroll import EnrollmentError, build_avatar, enroll
from pipelines.face.avatar.loading import load_avatar
from pipelines.face.avatar.storage import Avatar, AvatarError, read_avatar, save_avatar
from pipelines.testing.portrait_clip import make_head_motion_clip


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha1(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _leftovers(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if p.name.startswith(".avatar.")]


def test_head_motion_clip_gives_smooth_stable_boxes_that_follow_the_head(head_motion_clip, make_persona, portrait_rgb):
    path, mats = head_motion_clip
    root = make_persona("moving", portrait=None)
    report = enroll(root, [path])
    av = read_avatar(root / "avatar")
    # 4 s at 30 fps -> 100 frames at 25 fps; everything per frame
    assert av.fps == 25 and len(av) == 100
    assert av.frames.shape == (100, 360, 640, 3)
    assert av.boxes.shape == (100, 4) and av.boxes.dtype == np.int32
    assert av.landmarks.shape == (100, 478, 2) and av.crops.shape == (100, 96, 96, 3)
    assert report["clips"][0]["face_share"] == 1.0 and report["frames"] == 100
    assert any("only 4.0 s" in a for a in report["advice"])  # shorter than the advised 5-10 s

    b = av.boxes.astype(np.float64)
    w = b[:, 2] - b[:, 0]
    centre = (b[:, :2] + b[:, 2:]) / 2
    # stable: the size varies only as the head zooms and tilts (+-4 %, +-6 degrees) ...
    assert w.std() / w.mean() < 0.07
    # ... and does not jitter from frame to frame
    assert np.percentile(np.abs(np.diff(w)), 95) / w.mean() < 0.025
    # smooth: frame-to-frame acceleration of the box is small against its size
    accel = np.linalg.norm(np.diff(centre, 2, axis=0), axis=1) / w.mean()
    assert np.percentile(accel, 95) < 0.02, np.percentile(accel, 95)
    # and it follows the head: the portrait's nose tip, moved by each frame's true pose
    nose = L.face_mesh(portrait_rgb)[L.NOSE_TIP]
    src_t = np.minimum(np.round(np.arange(100) / 25 * 30).astype(int), len(mats) - 1)
    true = np.einsum("nij,j->ni", mats[src_t], np.array([nose[0], nose[1], 1.0]))
    assert np.corrcoef(true[:, 0], centre[:, 0])[0, 1] > 0.95
    err = np.linalg.norm(av.landmarks[:, L.NOSE_TIP] - true, axis=1) / w.mean()
    assert np.median(err) < 0.05
    # Wav2Lip's bottom padding: the box reaches below the chin
    assert np.all(b[:, 3] >= av.landmarks[:, L.CHIN, 1] - 1)
    # crops are the boxed faces
    import cv2

    i = 50
    x1, y1, x2, y2 = av.boxes[i]
    ref = cv2.resize(np.ascontiguousarray(av.frames[i][y1:y2, x1:x2]), (96, 96), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(av.crops[i], ref)


def test_rotated_phone_clip_is_enrolled_upright(tmp_path, make_persona):
    path, _ = make_head_motion_clip(tmp_path / "phone.mp4", seconds=1.0, fps=30.0, size=(480, 270), rotation=90)
    root = make_persona("phone", portrait=None)
    report = enroll(root, [path])
    av = read_avatar(root / "avatar")
    assert report["clips"][0]["rotation"] == -90  # stored sideways, shown upright
    assert av.frames.shape[1:3] == (270, 480)
    eyes = av.landmarks[:, [L.RIGHT_EYE[0], L.LEFT_EYE[0]]].mean(1)[:, 1]
    assert np.all(eyes < av.landmarks[:, L.CHIN, 1])  # upright: eyes above the chin


def test_clip_without_a_face_is_refused_and_the_enrolled_avatar_is_untouched(faceless_clip, make_persona):
    root = make_persona("kept")
    enroll(root, [root / "portrait.png"])
    before = _digest(root / "avatar")
    with pytest.raises(EnrollmentError) as err:
        enroll(root, [faceless_clip])
    msg = str(err.value)
    assert "no_face.mp4" in msg and "no face" in msg and "75 frames" in msg
    assert _digest(root / "avatar") == before
    assert _leftovers(root) == []


def test_clip_with_too_many_faceless_frames_names_them(tmp_path, make_persona):
    from pipelines.face.avatar.video_io import write_clip
    from pipelines.testing.portrait_clip import head_motion_frames

    frames = [f for f, _ in head_motion_frames(2.0, 25.0, (480, 270), amount=0.3)]
    for i in range(30, 45):  # the face leaves the picture for 0.6 s
        frames[i] = np.full_like(frames[i], 90)
    path = write_clip(tmp_path / "gap.mp4", frames, fps=25.0)
    root = make_persona("gap", portrait=None)
    with pytest.raises(EnrollmentError) as err:
        enroll(root, [path])
    msg = str(err.value)
    assert "gap.mp4" in msg and "15 of 50" in msg and "30-44" in msg
    assert not (root / "avatar").exists()


def test_enroll_cli_reports_and_refuses(tmp_path, portrait_path, faceless_clip, capsys):
    from pipelines.face.avatar.enroll_cli import main

    assert main(["--name", "cli", "--persona-dir", str(tmp_path), "-q", str(portrait_path)]) == 0
    out = capsys.readouterr().out
    assert "enrolled 1 frames" in out and str(tmp_path / "cli" / "avatar") in out
    assert json.loads((tmp_path / "cli" / "persona.json").read_text())["name"] == "cli"
    before = _digest(tmp_path / "cli" / "avatar")
    assert main(["--name", "cli", "--persona-dir", str(tmp_path), "-q", str(faceless_clip)]) == 2
    err = capsys.readouterr().err
    assert "refused" in err and "no_face.mp4" in err and "Nothing was changed" in err
    assert _digest(tmp_path / "cli" / "avatar") == before
    assert main(["--name", "cli", "--persona-dir", str(tmp_path), "-q", str(tmp_path / "missing.mp4")]) == 2
    assert "not found" in capsys.readouterr().err


def test_failed_save_keeps_the_old_avatar(make_persona, portrait_avatar, monkeypatch):
    root = make_persona("atomic")
    folder = root / "avatar"
    save_avatar(portrait_avatar, folder, {"kind": "portrait"})
    before = _digest(folder)
    calls = {"n": 0}
    real_save = np.save

    def failing_save(fh, arr, **kw):  # the disk fills up on the third array
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        return real_save(fh, arr, **kw)

    monkeypatch.setattr(np, "save", failing_save)
    flipped = Avatar(
        frames=portrait_avatar.frames[:, ::-1].copy(),
        boxes=portrait_avatar.boxes,
        landmarks=portrait_avatar.landmarks,
        crops=portrait_avatar.crops,
        fps=25.0,
        source="x",
    )
    with pytest.raises(OSError):
        save_avatar(flipped, folder, {"kind": "clips"})
    assert _digest(folder) == before and _leftovers(root) == []
    monkeypatch.undo()
    save_avatar(flipped, folder, {"kind": "clips"})  # and a complete save replaces it
    assert read_avatar(folder).source == "x" and _leftovers(root) == []


def test_load_avatar_enrolls_the_portrait_once_and_follows_changes(make_persona):
    from pipelines.persona import Persona
    from pipelines.settings import Settings

    root = make_persona("auto")
    persona, settings = Persona.load(root), Settings()
    av = load_avatar(persona, settings)
    assert len(av) == 1 and (root / "avatar" / "meta.json").is_file()
    assert load_avatar(persona, settings) is av  # cached
    meta = json.loads((root / "avatar" / "meta.json").read_text())
    assert meta["kind"] == "portrait"
    # a new portrait (mirrored) is enrolled again on the next load
    import cv2

    img = cv2.imread(str(root / "portrait.png"))
    cv2.imwrite(str(root / "portrait.png"), np.ascontiguousarray(img[:, ::-1]))
    av2 = load_avatar(persona, settings)
    assert av2 is not av
    np.testing.assert_array_equal(av2.frames[0], np.ascontiguousarray(img[:, ::-1, ::-1]))
    # face.face pointing at something that is not an avatar: a message naming the setting
    with pytest.raises(AvatarError, match="face.face"):
        load_avatar(persona, settings.replace("face.face", str(root)))
    assert load_avatar(persona, settings.replace("face.face", str(root / "avatar"))).frames.shape == av2.frames.shape


def test_real_photo_enrolls_as_a_portrait(tmp_path):
    import cv2
    from skimage import data

    p = tmp_path / "astronaut.png"
    cv2.imwrite(str(p), data.astronaut()[..., ::-1])
    av, report = build_avatar([p])
    assert report["kind"] == "portrait" and len(av) == 1
    x1, y1, x2, y2 = av.boxes[0]
    mouth = av.landmarks[0][L.LIPS_OUTER]
    assert x1 <= mouth[:, 0].min() and mouth[:, 0].max() <= x2 and y1 <= mouth[:, 1].min() and mouth[:, 1].max() <= y2


def test_ping_pong_index(portrait_avatar):
    a = portrait_avatar
    four = Avatar(
        frames=np.repeat(a.frames, 4, 0),
        boxes=np.repeat(a.boxes, 4, 0),
        landmarks=np.repeat(a.landmarks, 4, 0),
        crops=np.repeat(a.crops, 4, 0),
        fps=25.0,
        source="t",
    )
    assert [four.index(i) for i in range(10)] == [0, 1, 2, 3, 2, 1, 0, 1, 2, 3]
    assert [a.index(i) for i in range(3)] == [0, 0, 0]
