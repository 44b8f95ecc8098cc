"""Qt start-up that survives the rest of the stack: plugin paths, platform, fonts.

OpenCV wheels built with Qt (opencv-python, opencv-contrib-python, pulled in by
mediapipe) set ``QT_QPA_PLATFORM_PLUGIN_PATH`` / ``QT_QPA_FONTDIR`` to their own
bundled Qt when ``cv2`` is imported; PySide6 would then load the wrong platform
plugin and fail with "could not load the Qt platform plugin".  ``prepare_qt_env``
removes such paths (whatever was imported first) before the ``QApplication``
exists, so the import order of cv2 / mediapipe / PySide6 does not matter.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

#: the system package with the CJK font the app uses for Chinese text (project set-up step)
CJK_FONT_PACKAGE = "fonts-wqy-microhei"
CJK_APT_LINE = f"apt-get install -y {CJK_FONT_PACKAGE}"
#: families tried in order for Chinese text (the first one installed wins)
CJK_FAMILIES = ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC",
                "WenQuanYi Zen Hei", "Droid Sans Fallback", "AR PL UMing CN", "Microsoft YaHei",
                "PingFang SC", "SimHei")
QT_PATH_VARS = ("QT_QPA_PLATFORM_PLUGIN_PATH", "QT_PLUGIN_PATH", "QT_QPA_FONTDIR")


def _foreign_qt_path(value: str) -> bool:
    """True when a Qt path variable points into another package's bundled Qt (cv2, PyQt5 …)."""
    if not value:
        return False
    for part in value.split(os.pathsep):
        p = Path(part)
        names = {x.lower() for x in p.parts}
        if "cv2" in names or "pyqt5" in names or "pyqt6" in names:
            return True
        if part and not p.exists():
            return True
    return False


def prepare_qt_env(environ: dict | None = None) -> list[str]:
    """Remove Qt path variables that would make PySide6 load another Qt; returns what was removed."""
    env = os.environ if environ is None else environ
    removed = []
    for var in QT_PATH_VARS:
        if _foreign_qt_path(env.get(var, "")):
            removed.append(f"{var}={env.pop(var)}")
    if env.get("QT_QPA_PLATFORM") is None and sys.platform.startswith("linux") \
            and not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"  # no display: still run (headless tests, benches)
    env.setdefault("HF_HUB_OFFLINE", "1")
    return removed


#: GIL switch interval for the app process: the stage threads run Python too, and the
#: UI thread must get the GIL back quickly after each frame (CPython's default is 5 ms)
UI_SWITCH_INTERVAL_S = 0.001


def make_application(argv: list[str] | None = None):
    """The process's QApplication (created once, after ``prepare_qt_env``)."""
    prepare_qt_env()
    sys.setswitchinterval(UI_SWITCH_INTERVAL_S)
    from PySide6.QtWidgets import QApplication
    app = QApplication.instance()
    if app is None:
        app = QApplication(list(argv) if argv is not None else sys.argv[:1])
        app.setApplicationName("Persona")
        app.setOrganizationName("persona-desktop")
    return app


def cjk_font_family() -> str | None:
    """An installed font family that has Chinese glyphs, or None (needs a QGuiApplication)."""
    from PySide6.QtGui import QFont, QFontDatabase, QFontMetrics
    families = set(QFontDatabase.families())
    for fam in CJK_FAMILIES:
        if fam in families and QFontMetrics(QFont(fam)).inFontUcs4(ord("你")):
            return fam
    for fam in sorted(QFontDatabase.families(QFontDatabase.WritingSystem.SimplifiedChinese)):
        if QFontMetrics(QFont(fam)).inFontUcs4(ord("你")):
            return fam
    return None


def cjk_font_warning() -> str | None:
    """A message saying what to install when no CJK font exists, else None."""
    if cjk_font_family() is not None:
        return None
    return (f"No Chinese font found: Chinese text shows as boxes. Install one with "
            f"'sudo {CJK_APT_LINE}' (or 'make setup' as root) and restart the app.")


def install_fonts(app) -> str | None:
    """Make the UI font fall back to the CJK family for Chinese; returns the family used."""
    from PySide6.QtGui import QFont
    fam = cjk_font_family()
    font = QFont(app.font())
    base = font.family()
    if fam:
        font.setFamilies([base, fam] if base and base != fam else [fam])
    font.setPointSizeF(max(font.pointSizeF(), 10.0))
    app.setFont(font)
    return fam
