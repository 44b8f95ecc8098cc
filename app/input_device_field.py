"""The settings panel's choice of microphone: the input devices sounddevice lists, plus the default."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox

DEFAULT_LABEL = "default input device"


def list_input_names() -> tuple[list[str], str]:
    """Names of the input devices, and why there are none ("" when listing worked)."""
    from pipelines.asr.mic import MicUnavailable, input_devices

    try:
        names = [str(d["name"]) for d in input_devices()]
    except MicUnavailable as exc:
        return [], str(exc)
    return names, "" if names else "the sound system lists no input device: plug in a microphone"


def input_device_combo(value: str) -> QComboBox:
    """A combo whose data is the ``asr.input_device`` value ("" = the default device).

    A saved device that is not plugged in now stays selectable, marked as such,
    so opening the settings never changes the choice behind the user's back."""
    w = QComboBox()
    w.addItem(DEFAULT_LABEL, "")
    names, why = list_input_names()
    for name in names:
        w.addItem(name, name)
    if value and w.findData(value) < 0:
        w.addItem(f"{value} (not connected)", value)
    w.setCurrentIndex(max(0, w.findData(value)))
    w.no_devices_reason = why
    if why:
        w.setItemData(0, why, 3)  # Qt.ToolTipRole: why the list is empty
    return w
