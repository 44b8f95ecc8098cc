"""The real app in a real X window (Xvfb): a screenshot mid-reply, grabbed from the X server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def _free_display() -> int:
    for n in range(90, 140):
        if not os.path.exists(f"/tmp/.X11-unix/X{n}") and not os.path.exists(f"/tmp/.X{n}-lock"):
            return n
    raise RuntimeError("no free X display number")


@pytest.fixture
def xvfb():
    exe = shutil.which("Xvfb")
    if exe is None:
        pytest.skip("Xvfb is not installed (the project's set-up step installs it: apt-get install -y xvfb)")
    from app.qt_env import check_qt_libraries

    missing = check_qt_libraries("xcb")
    if missing:
        pytest.skip(missing)
    n = _free_display()
    proc = subprocess.Popen(
        [exe, f":{n}", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 20
    while not os.path.exists(f"/tmp/.X11-unix/X{n}"):
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail(f"Xvfb did not start: {proc.stderr.read().decode(errors='replace')[-500:]}")
        time.sleep(0.05)
    yield f":{n}"
    proc.terminate()
    proc.wait(10)


def test_app_window_screenshot_mid_reply(xvfb, tmp_path):
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"output_dir": str(tmp_path / "out")}), encoding="utf-8")
    shot = tmp_path / "main_window.png"
    env = {k: v for k, v in os.environ.items() if not k.startswith("QT_")}
    env.update(DISPLAY=xvfb, QT_QPA_PLATFORM="xcb", PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "--no-audio",
            "--settings",
            str(settings),
            "--say",
            "你好，介绍一下你自己",
            "--screenshot",
            str(shot),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    assert r.returncode == 0 and lines, f"rc={r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    info = json.loads(lines[-1])
    assert info["platform"] == "xcb" and info["saved"] and info["status"] == "ok"
    assert info["playing"] and info["frames_shown"] >= 12 and info["reply_so_far"]
    assert info["reply"].startswith(info["reply_so_far"])
    from PySide6.QtGui import QImage

    img = QImage(str(shot))
    assert img.width() >= 900 and img.height() >= 600
    img = img.convertToFormat(QImage.Format.Format_RGB888)
    a = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())[:, : img.width() * 3]
    a = a.reshape(img.height(), img.width(), 3)
    h, w = a.shape[:2]
    avatar = a[h // 6 : h * 2 // 3, w // 20 : w * 4 // 10]
    chat = a[h // 10 : h // 2, w // 2 : w - 20]
    assert avatar.std() > 20, "the avatar area is flat: no face on screen"
    assert (chat.min(axis=2) < 90).sum() > 200, "no text drawn in the chat area"
    (tmp_path / "info.json").write_text(json.dumps(info, ensure_ascii=False, indent=1), encoding="utf-8")


def test_screenshot_of_each_tab(xvfb, tmp_path):
    """Every tab drawn by the X server: each page has content, the pages differ, none is wider than the screen."""
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"output_dir": str(tmp_path / "out")}), encoding="utf-8")
    shots = tmp_path / "tabs"
    shots.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QT_")}
    env.update(DISPLAY=xvfb, QT_QPA_PLATFORM="xcb", PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "--no-audio",
            "--settings",
            str(settings),
            "--say",
            "晚安",
            "--screenshot",
            str(tmp_path / "chat.png"),
            "--screenshot-tabs",
            str(shots),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    assert r.returncode == 0 and lines, f"rc={r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    info = json.loads(lines[-1])
    tabs = info["tabs"]
    assert [t["tab"] for t in tabs] == ["Chat", "Settings", "Fine-tuning", "Enrollment"]
    from PySide6.QtGui import QImage

    pages = []
    for t in tabs:
        assert t["saved"] and 0 < t["width"] <= 1280, t
        img = QImage(t["path"]).convertToFormat(QImage.Format.Format_RGB888)
        a = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())[:, : img.width() * 3]
        a = a.reshape(img.height(), img.width(), 3)
        body = a[a.shape[0] // 8 : a.shape[0] * 7 // 8]
        assert body.std() > 8, f"the {t['tab']} tab looks empty"
        assert (body.min(axis=2) < 110).sum() > 300, f"no text drawn on the {t['tab']} tab"
        pages.append(body.astype(np.int16))
    for i in range(len(pages)):
        for j in range(i + 1, len(pages)):
            if pages[i].shape == pages[j].shape:
                assert np.abs(pages[i] - pages[j]).mean() > 2, f"tabs {i} and {j} show the same picture"
