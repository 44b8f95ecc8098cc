"""The fine-tuning page runs the CLI's fine-tuning code on a tiny model, with a live loss plot."""

from __future__ import annotations

import json

import numpy as np
from PySide6.QtCore import Qt

from pipelines.settings import Settings


def _write_log(path, good: int, bad_lines: list[str]):
    lines = [
        json.dumps({"prompt": f"问题{i}", "response": f"回答{i}，好的。", "history": []}, ensure_ascii=False)
        for i in range(good)
    ]
    lines[1:1] = bad_lines
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_chat_log_report_lists_rejected_lines(styled_app, qtbot, tmp_path):
    from app.finetune_page import FinetunePage

    log = tmp_path / "chat.jsonl"
    _write_log(log, 5, ['{"prompt": "no reply here"}', "not json at all"])
    page = FinetunePage(Settings())
    qtbot.addWidget(page)
    page.data_edit.setText(str(log))
    page.parse()
    qtbot.waitUntil(lambda: page.report is not None, timeout=20_000)
    assert page.report.kept == 5 and page.report.skipped == 2
    assert "<b>5</b> example(s) parsed" in page.data_summary.text()
    items = [page.rejected.item(i).text() for i in range(page.rejected.count())]
    assert len(items) == 2 and items[0].startswith("line 2:") and items[1].startswith("line 3:")
    assert "response" in items[0]


def test_tiny_finetune_runs_to_completion_with_loss_plot(styled_app, qtbot, tmp_path, tiny_glm):
    from app.finetune_page import FinetunePage

    log = tmp_path / "chat.jsonl"
    _write_log(log, 8, [])
    page = FinetunePage(Settings())
    qtbot.addWidget(page)
    page.resize(1000, 700)
    page.show()
    page.data_edit.setText(str(log))
    page.base_edit.setText(str(tiny_glm))
    page._check_base()
    assert page.base_check.text().startswith("✓"), page.base_check.text()
    page.out_edit.setText(str(tmp_path / "ptuning"))
    page.pre_seq_len.setValue(4)
    page.steps.setValue(6)
    page.batch.setValue(2)
    page.save_steps.setValue(3)
    page.max_src.setValue(64)
    page.max_tgt.setValue(32)
    results = []
    page.finished.connect(results.append)
    used = []
    page.use_result.connect(used.append)
    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    assert page.running and page.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: bool(results) or not page.running, timeout=300_000)
    assert results, page.message.text()
    res = results[0]
    assert not res.cancelled and res.steps_done == 6
    # live plot: one train point per step, eval-free run; drawn on the widget
    assert [s for s, _ in page.plot.train] == list(range(1, 7))
    assert all(np.isfinite(v) for _, v in page.plot.train)
    img = page.plot.grab().toImage()
    blue = sum(
        1
        for x in range(0, img.width(), 2)
        for y in range(0, img.height(), 2)
        if img.pixelColor(x, y).blue() > 200 and img.pixelColor(x, y).red() < 120
    )
    assert blue > 20, "the loss curve was not drawn"
    assert page.progress.value() == 6 and page.progress.maximum() == 6
    assert "step 6/6" in page.eta.text() or "steps/s" in page.eta.text()
    assert (tmp_path / "ptuning" / "best").is_dir()
    # completion offers the result to the settings; Resume is now possible
    assert page.use_button.isEnabled()
    qtbot.mouseClick(page.use_button, Qt.MouseButton.LeftButton)
    assert (
        used
        and used[0]["dialogue.chatglm.ptuning_dir"].endswith("ptuning")
        and used[0]["dialogue.backend"] == "chatglm"
    )
    assert page.resume_button.isEnabled()


def test_cancel_then_resume(styled_app, qtbot, tmp_path, tiny_glm):
    from app.finetune_page import FinetunePage

    log = tmp_path / "chat.jsonl"
    _write_log(log, 8, [])
    page = FinetunePage(Settings())
    qtbot.addWidget(page)
    page.data_edit.setText(str(log))
    page.base_edit.setText(str(tiny_glm))
    page.out_edit.setText(str(tmp_path / "pt"))
    page.pre_seq_len.setValue(4)
    page.steps.setValue(400)
    page.batch.setValue(2)
    page.save_steps.setValue(1000)
    page.max_src.setValue(64)
    page.max_tgt.setValue(32)
    results = []
    page.finished.connect(results.append)
    page.start(resume=False)
    qtbot.waitUntil(lambda: len(page.plot.train) >= 2, timeout=300_000)
    page.cancel()
    qtbot.waitUntil(lambda: bool(results), timeout=120_000)
    first = results[0]
    assert first.cancelled and 2 <= first.steps_done < 400
    assert "Resume continues" in page.message.text() and page.resume_button.isEnabled()
    assert not page.use_button.isEnabled()
    page.steps.setValue(first.steps_done + 2)
    page.start(resume=True)
    qtbot.waitUntil(lambda: len(results) == 2, timeout=300_000)
    second = results[1]
    assert not second.cancelled and second.start_step == first.steps_done
    assert second.steps_done == first.steps_done + 2


def test_start_again_into_the_same_folder_offers_resume_or_a_new_folder(styled_app, qtbot, tmp_path, tiny_glm):
    from app.finetune_page import FinetunePage

    log = tmp_path / "chat.jsonl"
    _write_log(log, 8, [])
    page = FinetunePage(Settings())
    qtbot.addWidget(page)
    page.show()
    page.data_edit.setText(str(log))
    page.base_edit.setText(str(tiny_glm))
    page.out_edit.setText(str(tmp_path / "pt"))
    for spin, v in (
        (page.pre_seq_len, 4),
        (page.steps, 3),
        (page.batch, 2),
        (page.save_steps, 3),
        (page.max_src, 64),
        (page.max_tgt, 32),
    ):
        spin.setValue(v)
    results = []
    page.finished.connect(results.append)
    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(results) == 1, timeout=300_000)
    curve = list(page.plot.train)
    assert len(curve) == 3
    # Start again, same folder: nothing starts, no traceback, no CLI wording, the curve stays
    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    assert not page.running and page.choice.isVisible()
    assert "already holds a training run" in page.choice_label.text()
    shown = page.log_view.toPlainText() + page.message.text() + page.choice_label.text()
    assert "Traceback" not in shown and "--resume" not in page.choice_label.text() + page.message.text()
    assert page.plot.train == curve
    # New folder: a fresh run next to the old one, which is untouched
    old_files = sorted(p.name for p in (tmp_path / "pt").iterdir())
    qtbot.mouseClick(page.choice_new, Qt.MouseButton.LeftButton)
    assert page.out_edit.text() == str(tmp_path / "pt-2") and page.running
    qtbot.waitUntil(lambda: len(results) == 2, timeout=300_000)
    assert results[1].out_dir.resolve() == (tmp_path / "pt-2").resolve() and results[1].start_step == 0
    assert sorted(p.name for p in (tmp_path / "pt").iterdir()) == old_files
    assert [s for s, _ in page.plot.train] == [1, 2, 3]
    # Start again into pt-2, choose Resume: continues from its checkpoint
    page.steps.setValue(5)
    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    assert page.choice.isVisible() and not page.running
    qtbot.mouseClick(page.choice_resume, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(results) == 3, timeout=300_000)
    assert results[2].start_step == 3 and results[2].steps_done == 5
    assert "Traceback" not in page.log_view.toPlainText()
