"""Qt start-up next to OpenCV / mediapipe, and Chinese text with a CJK font."""

from __future__ import annotations

import json
import os
import shutil
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
    env = {
        "QT_QPA_PLATFORM_PLUGIN_PATH": _cv2_qt_dir(),  # what cv2's config-3.py sets
        "QT_QPA_FONTDIR": os.path.join(os.path.dirname(_cv2_qt_dir()), "fonts"),
        "QT_PLUGIN_PATH": str(REPO),
        "QT_QPA_PLATFORM": "offscreen",
    }
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
    r = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
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


# -- system libraries (a fresh Debian has none of them) ---------------------------------------
BASE_PACKAGES = {
    "libc6",
    "libstdc++6",
    "libgcc-s1",
    "libcap2",
    "libgcrypt20",
    "libgpg-error0",
    "liblz4-1",
    "liblzma5",
    "libsystemd0",
}  # in every Debian base system


def _checked_files():
    from app.qt_env import PLATFORM_PLUGINS, QT_MODULES, pyside_dir

    root = pyside_dir()
    files = [root / f"{m}.abi3.so" for m in QT_MODULES]
    files += [root / "Qt" / "plugins" / "platforms" / PLATFORM_PLUGINS[p] for p in ("xcb", "offscreen", "wayland")]
    return root, files


def _ldd(path):
    out = subprocess.run(["ldd", str(path)], check=False, capture_output=True, text=True).stdout
    for ln in out.splitlines():
        parts = ln.split()
        if len(parts) >= 3 and parts[1] == "=>":
            yield parts[0], (None if parts[2] == "not" else parts[2])


def _makefile_var(name):
    text = (REPO / "Makefile").read_text().replace("\\\n", " ")
    for ln in text.splitlines():
        if ln.startswith(f"{name} :="):
            return ln.split(":=", 1)[1].split()
    raise AssertionError(f"no {name} in the Makefile")


@pytest.mark.skipif(shutil.which("ldd") is None, reason="no ldd")
def test_every_library_qt_links_has_a_package_and_the_makefile_installs_it():
    from app.qt_env import QT_LIB_PACKAGES

    root, files = _checked_files()
    qtpkgs, syspkgs = set(_makefile_var("QTPKGS")), _makefile_var("SYSPKGS")
    assert "$(QTPKGS)" in syspkgs
    seen = {}
    for f in files:
        assert f.exists(), f
        for soname, where in _ldd(f):
            if where is None or str(root) not in where:
                seen[soname] = where
    assert {
        "libglib-2.0.so.0",
        "libEGL.so.1",
        "libfontconfig.so.1",
        "libxkbcommon.so.0",
        "libdbus-1.so.3",
        "libxcb-icccm.so.4",
        "libxcb-cursor.so.0",
    } <= set(seen)
    unmapped = sorted(set(seen) - set(QT_LIB_PACKAGES))
    assert not unmapped, f"Qt links libraries with no Debian package in app/qt_env.py: {unmapped}"
    not_installed = sorted({QT_LIB_PACKAGES[s] for s in seen} - qtpkgs - BASE_PACKAGES)
    assert not not_installed, f"the Makefile's QTPKGS lacks {not_installed}"
    if shutil.which("dpkg"):  # the map says what dpkg says, for every library found here
        for soname, where in seen.items():
            if where:
                r = subprocess.run(["dpkg", "-S", os.path.realpath(where)], check=False, capture_output=True, text=True)
                if r.returncode == 0:
                    owner = r.stdout.split(":")[0]
                    assert owner == QT_LIB_PACKAGES[soname], (soname, owner)


def test_a_missing_library_is_named_with_its_apt_line(tmp_path):
    """A copy of the offscreen plugin that links a library which does not exist: ldd finds it missing."""
    from app.qt_env import missing_qt_libraries, missing_qt_message

    root, _ = _checked_files()
    plugin = root / "Qt" / "plugins" / "platforms" / "libqoffscreen.so"
    data = plugin.read_bytes()
    victim, fake = b"libxkbcommon.so.0\0", b"libxkbcommoX.so.0\0"  # a DT_NEEDED name, same length
    assert victim in data
    fake_root = tmp_path / "PySide6"
    (fake_root / "Qt" / "plugins" / "platforms").mkdir(parents=True)
    (fake_root / "Qt" / "lib").symlink_to(root / "Qt" / "lib")
    (fake_root / "Qt" / "plugins" / "platforms" / "libqoffscreen.so").write_bytes(data.replace(victim, fake, 1))
    assert missing_qt_libraries("offscreen", root=fake_root) == ("libxkbcommoX.so.0",)
    assert missing_qt_libraries("offscreen", root=root) == ()
    msg = missing_qt_message(["libglib-2.0.so.0", "libEGL.so.1", "libxcb-icccm.so.4"], "xcb")
    assert "\n" not in msg and "libglib-2.0.so.0" in msg and "'xcb'" in msg
    assert "sudo apt-get install -y libegl1 libglib2.0-0 libxcb-icccm4" in msg
