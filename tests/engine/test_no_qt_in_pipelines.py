"""pipelines/ and main_demo.py must never import Qt: the engine runs headless."""

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
QT = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "qtpy")


def test_no_qt_import_statements():
    offenders = []
    for path in [*ROOT.joinpath("pipelines").rglob("*.py"), ROOT / "main_demo.py"]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in QT]
    assert offenders == []


def test_importing_every_pipelines_module_loads_no_qt():
    import pipelines

    mods = [m.name for m in pkgutil.walk_packages(pipelines.__path__, "pipelines.")]
    code = (
        "import importlib, sys\n"
        f"for m in {mods!r}:\n"
        "    try: importlib.import_module(m)\n"
        "    except ImportError: pass\n"
        "import main_demo\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {QT!r}]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
