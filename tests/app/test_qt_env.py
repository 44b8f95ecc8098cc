"""Qt start-up next to OpenCV / mediapipe, and Chinese text with a CJK font."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.qt_env import CJK_APT_LINE, cjk_font_family, prepare_qt_env

REPO = Path(__file__).resolve().parents[2]


def _cv2_qt_dir() -> str:
    import cv2
    return os.path.join(os.path.dirname(os.path.abspath(cv2.__file__)), "qt", "plugins")


def test_prepare_removes_opencv_qt_paths_and_keeps_others():
    env = {"QT_QPA_PLATFORM_PLUGIN_PATH": _cv2_qt_dir(),              # what cv2's config-3.py sets
           "QT_QPA_FONTDIR": os.path.join(os.path.dirname(_cv2_qt_dir()), "fonts"),
           "QT_PLUGIN_PATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"}
    removed = prepare_qt_env(env)
    assert "QT_QPA_PLATFORM_PLUGIN_PATH" not in env and "QT_QPA_FONTDIR" not in env
    assert env["QT_PLUGIN_PATH"] == str(REPO), "a valid unrelated plugin path was removed"
    assert len(removed) == 2 and all("cv2" in r for r in removed)
    env = {}
    prepare_qt_env(env)
    assert env["HF_HUB_OFFLINE"] == "1"


SCRIPT_CV2_FIRST = r"""
import json, os, sys
import cv2, mediapipe                       # OpenCV / mediapipe first, as the face stage does
qt = os.path.join(os.path.dirname(cv2.__file__), "qt")
os.environ["QT_QPA_PLATFORM_PLUGIN_PATH"] = os.path.join(qt, "plugins")   # as opencv-contrib sets it
os.environ["QT_QPA_FONTDIR"] = os.path.join(qt, "fonts")
from app.qt_env import make_application, install_fonts
app = make_application()
install_fonts(app)
from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QLabel
label = QLabel("你好 hello")
label.resize(200, 40)
img = label.grab().toImage()
print(json.dumps({"platform": app.platformName(),
                  "env": [k for k in ("QT_QPA_PLATFORM_PLUGIN_PATH", "QT_QPA_FONTDIR") if k in os.environ],
                  "libs": QCoreApplication.libraryPaths(), "w": img.width()}))
"""

SCRIPT_QT_FIRST = r"""
import json, threading
from app.qt_env import make_application
app = make_application()
from PySide6.QtWidgets import QLabel
label = QLabel("x")
out = {}
def detect():                                 # mediapipe after Qt, on a worker thread (as in the app)
    from pipelines.face.avatar.landmarks import face_mesh
    from pipelines.testing.portrait_clip import load_portrait
    pts = face_mesh(load_portrait())
    out["points"] = None if pts is None else int(len(pts))
t = threading.Thread(target=detect); t.start(); t.join()
print(json.dumps({"platform": app.platformName(), **out}))
"""


def _run(script: str) -> dict:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(REPO))
    r = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_pyside_starts_after_cv2_and_mediapipe_with_their_qt_paths():
    out = _run(SCRIPT_CV2_FIRST)
    assert out["platform"] == "offscreen" and out["env"] == []
    assert not any("cv2" in p for p in out["libs"]), out["libs"]
    assert any("PySide6" in p for p in out["libs"]), out["libs"]
    assert out["w"] == 200


def test_mediapipe_runs_after_pyside_started():
    out = _run(SCRIPT_QT_FIRST)
    assert out["platform"] == "offscreen" and out["points"] == 478


def _glyph(qapp, text: str, family: str | None):
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QColor, QFont, QImage, QPainter
    img = QImage(64, 64, QImage.Format.Format_Grayscale8)
    img.fill(QColor("white"))
    p = QPainter(img)
    f = QFont(family) if family else QFont()
    f.setPixelSize(48)
    p.setFont(f)
    p.setPen(QColor("black"))
    p.drawText(img.rect(), Qt.AlignmentFlag.AlignCenter, text)
    p.end()
    return np.frombuffer(img.constBits(), np.uint8).reshape(64, img.bytesPerLine())[:, :64].copy()


def test_chinese_text_renders_with_a_cjk_font(qapp):
    family = cjk_font_family()
    if family is None:
        pytest.skip(f"no CJK font installed: the project's set-up step installs it ({CJK_APT_LINE})")
    from PySide6.QtGui import QFont, QFontMetrics
    fm = QFontMetrics(QFont(family))
    assert all(fm.inFontUcs4(ord(c)) for c in "你好世界小林")
    a, b, tofu = _glyph(qapp, "你", family), _glyph(qapp, "好", family), _glyph(qapp, "\ue000", family)
    ink = lambda g: int((g < 128).sum())  # noqa: E731
    assert ink(a) > 150 and ink(b) > 150, "Chinese glyphs drew (almost) nothing"
    assert np.abs(a.astype(int) - b.astype(int)).sum() > 20000, "two characters drew the same box"
    assert np.abs(a.astype(int) - tofu.astype(int)).sum() > 20000, "a Chinese glyph looks like a missing-glyph box"
    # and the app font falls back to it: a chat bubble draws the same glyph shapes
    from app.qt_env import install_fonts
    assert install_fonts(qapp) == family
    assert QFontMetrics(qapp.font()).inFontUcs4(ord("你"))
