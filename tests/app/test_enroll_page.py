"""The enrollment page enrolls a synthetic clip with the CLI's code: report, crops, saved face."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtCore import Qt

from pipelines.settings import Settings


@pytest.fixture(scope="module")
def face_clip(tmp_path_factory):
    from pipelines.testing.portrait_clip import make_head_motion_clip

    path, _ = make_head_motion_clip(
        tmp_path_factory.mktemp("clips") / "face.mp4", seconds=2.0, fps=25.0, size=(480, 360), amount=0.6
    )
    return path


def test_enroll_page_enrolls_a_synthetic_clip(styled_app, qtbot, tmp_path, face_clip):
    from app.enroll_page import EnrollPage
    from pipelines.face.avatar.storage import read_avatar, read_report

    persona = tmp_path / "anna"
    page = EnrollPage(Settings())
    qtbot.addWidget(page)
    page.resize(900, 700)
    page.show()
    page.persona_edit.setText(str(persona))
    page.add_clips([face_clip])
    progress = []
    qtbot.mouseClick(page.check_button, Qt.MouseButton.LeftButton)
    page.task.progress.connect(progress.append)
    qtbot.waitUntil(lambda: not page._busy(), timeout=300_000)
    assert page.avatar is not None, page.message.text()
    assert not persona.exists(), "checking clips must not write anything"
    fractions = [f for _, f in progress]
    assert len(progress) >= 3 and fractions == sorted(fractions) and fractions[-1] >= 0.9
    # the quality report (the CLI's formatting) and crops of the detected face
    report = page.report
    assert report["frames"] == 50 and report["face_share"] >= 0.9
    text = page.report_view.toPlainText()
    assert "face on" in text and "sharpness" in text and "face.mp4" in text
    assert len(page.crops.labels) == 8
    pm = page.crops.labels[0].pixmap()
    assert pm.width() == 88
    crop = page.avatar.crops[0]
    assert crop.shape == (96, 96, 3) and crop.std() > 10
    # save as the persona's face
    enrolled = []
    page.enrolled.connect(enrolled.append)
    assert page.save_button.isEnabled()
    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(enrolled) or not page._busy(), timeout=120_000)
    assert enrolled[0] == str(persona / "avatar")
    av = read_avatar(persona / "avatar")
    assert len(av) == 50 and np.array_equal(np.asarray(av.crops), page.avatar.crops)
    assert read_report(persona / "avatar")["frames"] == 50
    assert json.loads((persona / "persona.json").read_text())["name"] == "anna"
    assert "Saved into" in page.message.text()


def test_refused_clip_leaves_the_old_face(styled_app, qtbot, tmp_path, face_clip):
    from app.enroll_page import EnrollPage
    from pipelines.face.avatar.video_io import write_clip

    blank = write_clip(tmp_path / "blank.mp4", [np.full((120, 160, 3), 90, np.uint8)] * 10, fps=25.0)
    page = EnrollPage(Settings())
    qtbot.addWidget(page)
    page.persona_edit.setText(str(tmp_path / "bob"))
    page.add_clips([blank])
    page.check()
    qtbot.waitUntil(lambda: not page._busy(), timeout=120_000)
    assert page.avatar is None and not page.save_button.isEnabled()
    assert "no face" in page.message.text() and "blank.mp4" in page.message.text()
    assert not (tmp_path / "bob").exists()


def test_webcam_controls_follow_the_hardware(styled_app, qtbot):
    from app.enroll_page import EnrollPage
    from app.webcam import find_webcams

    page = EnrollPage(Settings())
    qtbot.addWidget(page)
    page.show()
    qtbot.waitUntil(
        lambda: "webcam" in page.webcam_label.text().lower() and "looking" not in page.webcam_label.text(),
        timeout=30_000,
    )
    cams = find_webcams()
    assert page.record_button.isEnabled() == bool(cams)
    if not cams:
        assert "No webcam found" in page.webcam_label.text()


def _snapshot(root):
    import hashlib

    return {
        str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_enrollment_never_touches_the_shipped_default_and_keeps_faces_restorable(
    styled_app, qtbot, tmp_path, face_clip
):
    from app.enroll_page import EnrollPage
    from pipelines.face.avatar.storage import FRAMES_FILE, read_avatar
    from pipelines.persona import Persona
    from pipelines.settings import DEFAULT_PERSONA

    before = _snapshot(DEFAULT_PERSONA)
    page = EnrollPage(Settings())
    qtbot.addWidget(page)
    page.show()
    assert page.settings.persona_dir.resolve() == DEFAULT_PERSONA.resolve()
    page.persona_edit.setText(str(DEFAULT_PERSONA))
    page.add_clips([face_clip])
    page.check()
    qtbot.waitUntil(lambda: not page._busy(), timeout=300_000)
    saved = []
    page.enrolled.connect(saved.append)
    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    # asked, with no way to replace the shipped persona's face
    assert page.choice.isVisible() and not page.choice_replace.isVisible() and not page._busy()
    assert "never changed" in page.choice_label.text()
    mine = tmp_path / "mine"
    page.choice_name.setText(str(mine))
    qtbot.mouseClick(page.choice_new, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(saved) and not page._busy(), timeout=120_000)
    assert _snapshot(DEFAULT_PERSONA) == before, "enrollment changed source/default"
    assert saved == [str(mine / "avatar")]
    # the new persona works at once: its name, the default's words and voice, this face
    p = Persona.load(mine)
    assert (
        p.name == "mine"
        and p.chat_log is not None
        and p.chat_log.read_bytes() == (DEFAULT_PERSONA / "chat.jsonl").read_bytes()
    )
    assert p.voice == Persona.load(DEFAULT_PERSONA).voice
    # frames stored compressed (lossless), not as a raw frames.npy
    av = read_avatar(mine / "avatar")
    assert not (mine / "avatar" / "frames.npy").exists()
    assert np.array_equal(av.frames, page.avatar.frames)
    assert (mine / "avatar" / FRAMES_FILE).stat().st_size < av.frames.nbytes / 3
    first_meta = (mine / "avatar" / "meta.json").read_bytes()
    # a second face for the same persona: asked; Replace keeps the old one, Restore brings it back
    page.persona_edit.setText(str(mine))
    page.clips.clear()
    page.add_clips([DEFAULT_PERSONA / "portrait.png"])
    page.check()
    qtbot.waitUntil(lambda: not page._busy(), timeout=300_000)
    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    assert page.choice.isVisible() and page.choice_replace.isVisible() and not page._busy()
    qtbot.mouseClick(page.choice_replace, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(saved) == 2 and not page._busy(), timeout=120_000)
    assert len(read_avatar(mine / "avatar")) == 1
    prev = sorted((mine / "avatar-previous").iterdir())
    assert len(prev) == 1 and (prev[0] / "meta.json").read_bytes() == first_meta
    qtbot.mouseClick(page.restore_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(saved) == 3 and not page._busy(), timeout=120_000)
    assert len(read_avatar(mine / "avatar")) == 50
    assert [len(read_avatar(d)) for d in sorted((mine / "avatar-previous").iterdir())] == [1]
    assert _snapshot(DEFAULT_PERSONA) == before


def test_box_options_on_the_page_reach_the_enrolled_face(styled_app, qtbot, tmp_path):
    """Padding, a fixed box and the frame size set on the page are what build_avatar uses."""
    from app.enroll_page import EnrollPage
    from pipelines.face.avatar.storage import read_avatar, read_report
    from pipelines.settings import DEFAULT_PERSONA

    portrait = DEFAULT_PERSONA / "portrait.png"
    settings = Settings().replace("face.pads", "0 10 0 0")
    page = EnrollPage(settings)
    qtbot.addWidget(page)
    page.show()
    assert [s.value() for s in page.pad_spins] == [0, 10, 0, 0]  # the page starts from the settings
    page.add_clips([portrait])

    def check():
        qtbot.mouseClick(page.check_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not page._busy(), timeout=120_000)
        assert page.avatar is not None, page.message.text()
        return page.avatar.boxes[0].copy(), page.report

    base, _ = check()
    page.pad_spins[1].setValue(60)  # more bottom padding (a cut-off chin)
    assert page.avatar is None and not page.save_button.isEnabled()  # a changed option needs a new check
    padded, report = check()
    assert padded[3] > base[3] and (padded[3] - base[3] == 50 or padded[3] == page.avatar.frames.shape[1])
    assert padded[1] == base[1] and padded[0] == base[0] and padded[2] == base[2]
    assert report["options"]["pads"] == [0, 60, 0, 0]
    # saved: the enrolled avatar on disk has the padded box
    persona = tmp_path / "padded"
    page.persona_edit.setText(str(persona))
    enrolled = []
    page.enrolled.connect(enrolled.append)
    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(enrolled) or not page._busy(), timeout=60_000)
    np.testing.assert_array_equal(read_avatar(persona / "avatar").boxes[0], padded)
    assert read_report(persona / "avatar")["options"]["pads"] == [0, 60, 0, 0]

    # a fixed box replaces detection; a bad one is one clear line and nothing runs
    page.box_edit.setText("300 100 0 50")
    qtbot.mouseClick(page.check_button, Qt.MouseButton.LeftButton)
    assert page.task is None or not page._busy()
    assert "fixed box" in page.message.text() and "top < bottom" in page.message.text()
    page.box_edit.setText("100 300 120 320")
    fixed, report = check()
    assert list(fixed) == [120, 100, 320, 300] and report["options"]["box"] == [100, 300, 120, 320]
    page.nosmooth_check.setChecked(True)
    _, report = check()
    assert report["options"]["nosmooth"] is True
