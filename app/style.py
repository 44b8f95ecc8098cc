"""The app's look: one stylesheet per theme (light or dark chat; the avatar stage is dark in both).

``stylesheet(dark)`` fills the same rules with the theme's colours; ``STYLESHEET`` is the light
one.  ``app/theme.py`` picks the theme (following the desktop's colour scheme, or the user's
choice) and sets the matching palette.
"""

ACCENT = "#3d7bfd"

LIGHT = {
    "bg": "#f4f6fa",
    "tab": "#5b6475",
    "text": "#1b2333",
    "border2": "#e1e5ee",
    "base": "#ffffff",
    "bubble": "#eef1f6",
    "muted": "#7a8294",
    "usermeta": "#dce6ff",
    "border": "#d5dae4",
    "hover": "#f0f3f9",
    "disabled": "#a8afbd",
    "accentoff": "#a9c1f5",
    "stopborder": "#e8b4b4",
    "status": "#e9edf4",
    "statustext": "#3c4455",
    "groupborder": "#dfe3eb",
    "error": "#c62828",
    "ok": "#2e7d32",
    "warn": "#b26a00",
    "audiotext": "#8a5a00",
    "audiobg": "#fff1cc",
}

DARK = {
    "bg": "#1b1f27",
    "tab": "#9aa4b5",
    "text": "#e6e9ef",
    "border2": "#323846",
    "base": "#232833",
    "bubble": "#2c3240",
    "muted": "#8d97a8",
    "usermeta": "#dce6ff",
    "border": "#3a4150",
    "hover": "#2c3240",
    "disabled": "#5d6574",
    "accentoff": "#2d4373",
    "stopborder": "#7a3a3a",
    "status": "#161a21",
    "statustext": "#c3c9d4",
    "groupborder": "#323846",
    "error": "#ef5350",
    "ok": "#66bb6a",
    "warn": "#ffb74d",
    "audiotext": "#ffd180",
    "audiobg": "#3d3220",
}


def stylesheet(dark: bool = False) -> str:
    c = DARK if dark else LIGHT
    return f"""
QMainWindow, QWidget#chatPage, QWidget#pageRoot {{ background: {c["bg"]}; }}
QTabWidget::pane {{ border: none; background: {c["bg"]}; }}
QTabBar::tab {{ background: transparent; color: {c["tab"]}; padding: 8px 18px; margin: 2px 2px 0 2px;
               border: none; border-bottom: 2px solid transparent; font-weight: 600; }}
QTabBar::tab:selected {{ color: {c["text"]}; border-bottom: 2px solid {ACCENT}; }}
QTabBar::tab:hover {{ color: {c["text"]}; }}
QScrollArea#chatScroll {{ border: 1px solid {c["border2"]}; border-radius: 12px; background: {c["base"]}; }}
QWidget#chatHistory {{ background: {c["base"]}; }}
QFrame#bubble_user {{ background: {ACCENT}; border-radius: 14px; }}
QFrame#bubble_user QLabel#bubbleText {{ color: #ffffff; }}
QFrame#bubble_persona {{ background: {c["bubble"]}; border-radius: 14px; }}
QFrame#bubble_persona QLabel#bubbleText {{ color: {c["text"]}; }}
QFrame#bubble_notice {{ background: transparent; }}
QFrame#bubble_notice QLabel#bubbleText {{ color: {c["muted"]}; font-style: italic; }}
QLabel#bubbleText {{ font-size: 11pt; }}
QLabel#bubbleMeta {{ color: {c["muted"]}; font-size: 8pt; }}
QFrame#bubble_user QLabel#bubbleMeta {{ color: {c["usermeta"]}; }}
QLabel#bubbleMeta[kind="error"] {{ color: {c["error"]}; font-weight: 600; }}
QLabel#bubbleMeta[kind="stopped"] {{ color: {c["warn"]}; }}
QPlainTextEdit#messageInput {{ border: 1px solid {c["border"]}; border-radius: 10px; padding: 6px 8px;
                               background: {c["base"]}; font-size: 11pt; }}
QPlainTextEdit#messageInput:focus {{ border: 1px solid {ACCENT}; }}
QPushButton {{ border: 1px solid {c["border"]}; border-radius: 8px; padding: 5px 14px; background: {c["base"]};
              color: {c["text"]}; min-width: 64px; }}
QPushButton:hover {{ background: {c["hover"]}; }}
QPushButton:disabled {{ color: {c["disabled"]}; background: {c["bg"]}; }}
QPushButton#sendButton, QPushButton#primaryButton {{ background: {ACCENT}; color: white; border: none; font-weight: 600; }}
QPushButton#sendButton:disabled, QPushButton#primaryButton:disabled {{ background: {c["accentoff"]}; }}
QPushButton#stopButton:enabled {{ color: {c["error"]}; border-color: {c["stopborder"]}; }}
QWidget#avatarPane {{ background: #1d2430; border-radius: 14px; }}
QWidget#avatarPane QLabel#pickerLabel {{ color: #c3c9d4; }}
QLabel#personaName {{ color: #f0f3f8; font-size: 14pt; font-weight: 600; }}
QLabel#personaState {{ color: #9aa6ba; }}
QStatusBar#statusPanel {{ background: {c["status"]}; color: {c["statustext"]}; }}
QStatusBar#statusPanel QLabel {{ padding: 0 6px; }}
QLabel#errorLabel {{ color: {c["error"]}; font-weight: 600; }}
QLabel#audioLabel {{ color: {c["audiotext"]}; background: {c["audiobg"]}; border-radius: 6px; }}
QGroupBox {{ border: 1px solid {c["groupborder"]}; border-radius: 10px; margin-top: 14px; padding: 10px 8px 8px 8px;
            background: {c["base"]}; font-weight: 600; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 12px; padding: 0 4px; color: {c["statustext"]}; }}
QLabel[check="ok"] {{ color: {c["ok"]}; }}
QLabel[check="bad"] {{ color: {c["error"]}; }}
QLabel[check="info"] {{ color: {c["muted"]}; }}
QLabel.hint {{ color: {c["muted"]}; }}
QProgressBar {{ border: 1px solid {c["border"]}; border-radius: 6px; background: {c["base"]}; text-align: center; height: 14px; }}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 5px; }}
"""


STYLESHEET = stylesheet(False)
