"""Screenshot of the real window in the middle of a reply (used by the Xvfb test and for docs).

``python -m app --say TEXT --screenshot out.png`` sends TEXT once the models are
loaded, grabs the window from the screen (the X server's pixels, not a widget
rendering) as soon as the reply is streaming and the avatar is speaking, prints
one JSON line with what was on screen, and quits when the turn has ended.
"""

from __future__ import annotations

import json
import sys
import time

from PySide6.QtCore import QTimer
from PySide6.QtGui import QGuiApplication


def screenshot_mid_reply(
    window, text: str, path: str, min_frames: int = 12, timeout_s: float = 240.0, tabs_dir: str | None = None
) -> None:
    """... and with ``tabs_dir``, after the turn, one screenshot of each tab (``tab-<n>-<name>.png``)."""
    state = {"sent": None, "shot": False, "t0": time.perf_counter()}
    app = QGuiApplication.instance()

    def finish(code: int, info: dict) -> None:
        print(json.dumps(info, ensure_ascii=False), flush=True)
        window.close()
        app.exit(code)

    def grab(to: str = path) -> dict:
        app.processEvents()
        screen = window.screen() or QGuiApplication.primaryScreen()
        g = window.frameGeometry()
        pm = screen.grabWindow(0, g.x(), g.y(), g.width(), g.height())
        if pm.isNull() or pm.width() == 0:
            pm = window.grab()
        ok = pm.save(to)
        return {
            "saved": ok,
            "path": path,
            "width": pm.width(),
            "height": pm.height(),
            "platform": QGuiApplication.platformName(),
            "reply_so_far": window.chat.reply_text(state["sent"]),
            "frames_shown": window.player.frames_shown,
            "playing": window.player.playing,
            "audio": window.audio.kind,
            "after_s": round(time.perf_counter() - state["t0"], 2),
        }

    def tick() -> None:
        if time.perf_counter() - state["t0"] > timeout_s:
            finish(3, {"error": f"no reply on screen within {timeout_s:.0f} s", "status": window.status.error.text()})
            return
        if state["sent"] is None:
            if window.controller.engine is not None and window.chat.send_button.isEnabled():
                window.chat.input.setPlainText(text)
                state["sent"] = window.send(text)
            elif window.status.error.isVisible() and window.controller.engine is None and not window.controller.busy:
                finish(2, {"error": window.status.error.text()})
            return
        if not state["shot"]:
            if (
                window.player.playing
                and window.player.frames_shown >= min_frames
                and window.chat.reply_text(state["sent"])
            ):
                state["shot"] = True
                state["info"] = grab()
            return
        rec = window._records.get(state["sent"])
        if rec is not None and not window.player.playing and not state.get("tabs_started"):
            if not tabs_dir:
                finish(0, dict(state["info"], status=rec.status, reply=rec.reply))
                return
            state["tabs_started"] = True
            timer.stop()
            shoot_tab(0, dict(state["info"], status=rec.status, reply=rec.reply, tabs=[]))

    def shoot_tab(i: int, info: dict) -> None:
        from pathlib import Path

        if i >= window.tabs.count():
            finish(0, info)
            return
        window.tabs.setCurrentIndex(i)

        def shot() -> None:
            name = window.tabs.tabText(i).lower().replace(" ", "-")
            out = Path(tabs_dir) / f"tab-{i}-{name}.png"
            g = grab(str(out))
            info["tabs"].append(
                {
                    "tab": window.tabs.tabText(i),
                    "path": str(out),
                    "saved": g["saved"],
                    "width": g["width"],
                    "height": g["height"],
                }
            )
            shoot_tab(i + 1, info)

        QTimer.singleShot(400, shot)  # let the page lay out and paint

    timer = QTimer(window)
    timer.timeout.connect(tick)
    timer.start(20)
    window._screenshot_timer = timer  # keep it alive


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: python -m app --say TEXT --screenshot out.png")
