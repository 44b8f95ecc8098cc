"""Only a focused combo box or spin box takes the mouse wheel.

On a scrolling page (Settings, Fine-tuning) the wheel is for the page: without this,
a combo box that passes under the pointer while the user scrolls changes its value
unnoticed (``dialogue.chatglm.dtype`` switched to fp16).  An unfocused field hands the wheel
to the scroll area around it; a click (or Tab) focuses the field, and then the wheel
changes it as usual.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractScrollArea, QAbstractSpinBox, QComboBox, QWidget


def _scroll_area_of(widget: QWidget) -> QAbstractScrollArea | None:
    p = widget.parentWidget()
    while p is not None:
        if isinstance(p, QAbstractScrollArea) and not isinstance(p, QComboBox):
            return p
        p = p.parentWidget()
    return None


class WheelGuard(QObject):
    def eventFilter(self, obj, event) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.Wheel and isinstance(obj, QWidget) and not obj.hasFocus():
            area = _scroll_area_of(obj)
            if area is not None:
                QCoreApplication.sendEvent(area.verticalScrollBar(), event)
            return True  # the field itself never sees it
        return False


def guard_wheel(root: QWidget) -> WheelGuard:
    """Guard every combo box and spin box under ``root`` (call after building it)."""
    guard = WheelGuard(root)
    for kind in (QComboBox, QAbstractSpinBox):
        for w in root.findChildren(kind):
            w.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # the wheel does not focus it either
            w.installEventFilter(guard)
    return guard
