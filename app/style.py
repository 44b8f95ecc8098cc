"""The app's look: one stylesheet (light chat, dark avatar stage)."""

ACCENT = "#3d7bfd"

STYLESHEET = f"""
QMainWindow, QWidget#chatPage, QWidget#pageRoot {{ background: #f4f6fa; }}
QTabWidget::pane {{ border: none; background: #f4f6fa; }}
QTabBar::tab {{ background: transparent; color: #5b6475; padding: 8px 18px; margin: 2px 2px 0 2px;
               border: none; border-bottom: 2px solid transparent; font-weight: 600; }}
QTabBar::tab:selected {{ color: #1b2333; border-bottom: 2px solid {ACCENT}; }}
QTabBar::tab:hover {{ color: #1b2333; }}
QScrollArea#chatScroll {{ border: 1px solid #e1e5ee; border-radius: 12px; background: #ffffff; }}
QWidget#chatHistory {{ background: #ffffff; }}
QFrame#bubble_user {{ background: {ACCENT}; border-radius: 14px; }}
QFrame#bubble_user QLabel#bubbleText {{ color: #ffffff; }}
QFrame#bubble_persona {{ background: #eef1f6; border-radius: 14px; }}
QFrame#bubble_persona QLabel#bubbleText {{ color: #1b2333; }}
QFrame#bubble_notice {{ background: transparent; }}
QFrame#bubble_notice QLabel#bubbleText {{ color: #7a8294; font-style: italic; }}
QLabel#bubbleText {{ font-size: 11pt; }}
QLabel#bubbleMeta {{ color: #7a8294; font-size: 8pt; }}
QFrame#bubble_user QLabel#bubbleMeta {{ color: #dce6ff; }}
QLabel#bubbleMeta[kind="error"] {{ color: #c62828; font-weight: 600; }}
QLabel#bubbleMeta[kind="stopped"] {{ color: #b26a00; }}
QPlainTextEdit#messageInput {{ border: 1px solid #d5dae4; border-radius: 10px; padding: 6px 8px;
                               background: #ffffff; font-size: 11pt; }}
QPlainTextEdit#messageInput:focus {{ border: 1px solid {ACCENT}; }}
QPushButton {{ border: 1px solid #d5dae4; border-radius: 8px; padding: 5px 14px; background: #ffffff;
              color: #1b2333; min-width: 64px; }}
QPushButton:hover {{ background: #f0f3f9; }}
QPushButton:disabled {{ color: #a8afbd; background: #f4f6fa; }}
QPushButton#sendButton, QPushButton#primaryButton {{ background: {ACCENT}; color: white; border: none; font-weight: 600; }}
QPushButton#sendButton:disabled, QPushButton#primaryButton:disabled {{ background: #a9c1f5; }}
QPushButton#stopButton:enabled {{ color: #c62828; border-color: #e8b4b4; }}
QWidget#avatarPane {{ background: #1d2430; border-radius: 14px; }}
QLabel#personaName {{ color: #f0f3f8; font-size: 14pt; font-weight: 600; }}
QLabel#personaState {{ color: #9aa6ba; }}
QStatusBar#statusPanel {{ background: #e9edf4; color: #3c4455; }}
QStatusBar#statusPanel QLabel {{ padding: 0 6px; }}
QLabel#errorLabel {{ color: #c62828; font-weight: 600; }}
QLabel#audioLabel {{ color: #8a5a00; background: #fff1cc; border-radius: 6px; }}
QGroupBox {{ border: 1px solid #dfe3eb; border-radius: 10px; margin-top: 14px; padding: 10px 8px 8px 8px;
            background: #ffffff; font-weight: 600; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 12px; padding: 0 4px; color: #3c4455; }}
QLabel[check="ok"] {{ color: #2e7d32; }}
QLabel[check="bad"] {{ color: #c62828; }}
QLabel[check="info"] {{ color: #7a8294; }}
QLabel.hint {{ color: #7a8294; }}
QProgressBar {{ border: 1px solid #d5dae4; border-radius: 6px; background: #ffffff; text-align: center; height: 14px; }}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 5px; }}
"""
