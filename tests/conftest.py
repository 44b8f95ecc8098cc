"""Suite-wide set-up: without Qt's system libraries the Qt tests skip; the rest of the suite runs.

pytest-qt is loaded at start-up and imports PySide6 in its ``pytest_configure``; when a
library PySide6 links is missing (``libglib-2.0.so.0`` on a bare Debian), that import
fails and pytest stops with an INTERNALERROR before collecting anything.  This (initial)
conftest checks the libraries with ``ldd`` first and unregisters pytest-qt when they are
missing; ``tests/app/conftest.py`` then turns each Qt test module into one skip that
names the libraries and the apt-get command.
"""

from app.qt_env import missing_qt_libraries


def pytest_addoption(parser, pluginmanager):
    if missing_qt_libraries("offscreen"):
        plugin = pluginmanager.get_plugin("pytest-qt")
        if plugin is not None:
            pluginmanager.unregister(plugin)
