"""Qt start-up that survives the rest of the stack: plugin paths, platform, fonts.

OpenCV wheels built with Qt (opencv-python, opencv-contrib-python, pulled in by
mediapipe) set ``QT_QPA_PLATFORM_PLUGIN_PATH`` / ``QT_QPA_FONTDIR`` to their own
bundled Qt when ``cv2`` is imported; PySide6 would then load the wrong platform
plugin and fail with "could not load the Qt platform plugin".  ``prepare_qt_env``
removes such paths (whatever was imported first) before the ``QApplication``
exists, so the import order of cv2 / mediapipe / PySide6 does not matter.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

#: the system package with the CJK font the app uses for Chinese text (project set-up step)
CJK_FONT_PACKAGE = "fonts-wqy-microhei"
CJK_APT_LINE = f"apt-get install -y {CJK_FONT_PACKAGE}"
#: families tried in order for Chinese text (the first one installed wins)
CJK_FAMILIES = (
    "WenQuanYi Micro Hei",
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "Droid Sans Fallback",
    "AR PL UMing CN",
    "Microsoft YaHei",
    "PingFang SC",
    "SimHei",
)
QT_PATH_VARS = ("QT_QPA_PLATFORM_PLUGIN_PATH", "QT_PLUGIN_PATH", "QT_QPA_FONTDIR")


#: Debian 12 package of each system library that PySide6's Qt libraries and platform plugins link
#: (found with ``ldd`` on ``PySide6/Qt*.abi3.so`` and ``Qt/plugins/platforms/*.so``; the
#: Makefile's SYSPKGS installs the same set)
QT_LIB_PACKAGES = {
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libGLX.so.0": "libglx0",
    "libGLdispatch.so.0": "libglvnd0",
    "libOpenGL.so.0": "libopengl0",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libXau.so.6": "libxau6",
    "libXdmcp.so.6": "libxdmcp6",
    "libbrotlicommon.so.1": "libbrotli1",
    "libbrotlidec.so.1": "libbrotli1",
    "libbsd.so.0": "libbsd0",
    "libdbus-1.so.3": "libdbus-1-3",
    "libexpat.so.1": "libexpat1",
    "libffi.so.8": "libffi8",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libgssapi_krb5.so.2": "libgssapi-krb5-2",
    "libkrb5.so.3": "libkrb5-3",
    "libmd.so.0": "libmd0",
    "libpcre2-8.so.0": "libpcre2-8-0",
    "libpng16.so.16": "libpng16-16",
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1",
    "libxcb.so.1": "libxcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libz.so.1": "zlib1g",
    "libzstd.so.1": "libzstd1",
    # in every Debian base system (minbase) already
    "libc.so.6": "libc6",
    "libm.so.6": "libc6",
    "libdl.so.2": "libc6",
    "libpthread.so.0": "libc6",
    "libstdc++.so.6": "libstdc++6",
    "libgcc_s.so.1": "libgcc-s1",
    "libcap.so.2": "libcap2",
    "libgcrypt.so.20": "libgcrypt20",
    "libgpg-error.so.0": "libgpg-error0",
    "liblz4.so.1": "liblz4-1",
    "liblzma.so.5": "liblzma5",
    "libsystemd.so.0": "libsystemd0",
}
#: the PySide6 modules the app and pytest-qt import
QT_MODULES = ("QtCore", "QtGui", "QtWidgets", "QtTest")
#: platform plugin file for each QT_QPA_PLATFORM value
PLATFORM_PLUGINS = {
    "xcb": "libqxcb.so",
    "offscreen": "libqoffscreen.so",
    "wayland": "libqwayland.so",
    "minimal": "libqminimal.so",
    "vnc": "libqvnc.so",
    "eglfs": "libqeglfs.so",
    "linuxfb": "libqlinuxfb.so",
}


def pyside_dir() -> Path | None:
    """PySide6's package folder, found without importing it (importing is what fails)."""
    try:
        spec = importlib.util.find_spec("PySide6")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def intended_platform(environ: dict | None = None) -> str:
    """The platform plugin Qt will load: QT_QPA_PLATFORM's first entry, else what the session offers."""
    env = os.environ if environ is None else environ
    first = (env.get("QT_QPA_PLATFORM") or "").split(";")[0].split(":")[0].strip()
    if first:
        return first
    if env.get("DISPLAY"):
        return "xcb"
    if env.get("WAYLAND_DISPLAY"):
        return "wayland"
    return "offscreen"


def _ldd_missing(path: Path) -> list[str]:
    """Sonames ``path`` needs that the dynamic loader cannot find (``ldd``; ctypes when there is none)."""
    ldd = shutil.which("ldd")
    if ldd:
        try:
            out = subprocess.run([ldd, str(path)], check=False, capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        return [ln.split("=>")[0].strip() for ln in out.splitlines() if "not found" in ln]
    import ctypes

    try:
        ctypes.CDLL(str(path))
    except OSError as exc:
        return [str(exc).split(":")[0].strip()]
    return []


@functools.lru_cache(maxsize=8)
def missing_qt_libraries(platform: str | None = None, root: Path | None = None) -> tuple[str, ...]:
    """System libraries that PySide6's Qt modules or the platform plugin need and cannot find.

    Empty when everything loads (or off Linux, or when PySide6 is not installed: its
    import then says so itself).
    """
    if not sys.platform.startswith("linux"):
        return ()
    root = root if root is not None else pyside_dir()
    if root is None:
        return ()
    platform = platform or intended_platform()
    files = [root / f"{m}.abi3.so" for m in QT_MODULES]
    plugin = PLATFORM_PLUGINS.get(platform)
    if plugin:
        files.append(root / "Qt" / "plugins" / "platforms" / plugin)
    missing: list[str] = []
    for f in files:
        for m in _ldd_missing(f) if f.exists() else ():
            if m not in missing:
                missing.append(m)
    return tuple(missing)


def missing_qt_message(missing, platform: str | None = None) -> str:
    """One line: which libraries are missing and the apt-get command that installs them."""
    pkgs = sorted({QT_LIB_PACKAGES[m] for m in missing if m in QT_LIB_PACKAGES})
    unknown = [m for m in missing if m not in QT_LIB_PACKAGES]
    how = (
        f"install them with: sudo apt-get install -y {' '.join(pkgs)} (or 'make sysdeps' as root)"
        if pkgs
        else "install the packages that provide them"
    )
    extra = f"; no Debian package known for {', '.join(unknown)}" if unknown and pkgs else ""
    where = f" for the '{platform}' platform" if platform else ""
    return f"Qt cannot start{where}: missing system libraries {', '.join(missing)}; {how}{extra}."


def check_qt_libraries(platform: str | None = None) -> str | None:
    """None when Qt can start, else the one-line message of ``missing_qt_message``."""
    platform = platform or intended_platform()
    missing = missing_qt_libraries(platform)
    return missing_qt_message(missing, platform) if missing else None


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
    if (
        env.get("QT_QPA_PLATFORM") is None
        and sys.platform.startswith("linux")
        and not env.get("DISPLAY")
        and not env.get("WAYLAND_DISPLAY")
    ):
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
    return (
        f"No Chinese font found: Chinese text shows as boxes. Install one with "
        f"'sudo {CJK_APT_LINE}' (or 'make sysdeps' as root) and restart the app."
    )


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
