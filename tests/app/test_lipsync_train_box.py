"""The Fine-tuning page's "Train lip-sync" box runs the CLI's training code: refusal, a tiny run, Use in settings."""

from __future__ import annotations

import pytest

from pipelines.settings import Settings


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory):
    from pipelines.testing.talking_clip import make_talking_clip

    return make_talking_clip(tmp_path_factory.mktemp("lip") / "talk.mp4", seconds=2.5, side=160)


def _box(qtbot, settings, clip, out):
    from app.finetune_page import FinetunePage

    page = FinetunePage(settings)
    qtbot.addWidget(page)
    box = page.lipsync
    box.clips.addItem(str(clip))
    box.out_edit.setText(str(out))
    return box


def test_a_too_short_clip_is_refused_in_the_box(styled_app, qtbot, tmp_path, short_clip):
    box = _box(qtbot, Settings(), short_clip, tmp_path / "out")
    box.start_button.click()
    qtbot.waitUntil(lambda: not box.running and box.start_button.isEnabled(), timeout=60_000)
    assert "at least 60 s" in box.status.text()
    assert box.result is None and not (tmp_path / "out").exists()


def test_a_tiny_run_trains_and_offers_the_weights(styled_app, qtbot, tmp_path, short_clip):
    s = Settings()
    s.face.personal.min_seconds = 1.0
    box = _box(qtbot, s, short_clip, tmp_path / "out")
    box.width_spin.setValue(4)
    box.crop_spin.setValue(64)
    box.epochs_spin.setValue(1)
    with qtbot.waitSignal(box.finished, timeout=240_000) as done:
        box.start_button.click()
    result = done.args[0]
    assert result["epochs"] == 1 and not result["cancelled"]
    assert (tmp_path / "out" / "personal.safetensors").is_file()
    assert box.plot.train and box.plot.eval  # the live loss reached the plot
    with qtbot.waitSignal(box.use_result) as used:
        box.use_button.click()
    assert used.args[0] == {"face.backend": "personal", "face.personal.checkpoint": result["weights"]}
