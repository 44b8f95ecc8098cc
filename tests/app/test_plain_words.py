"""The status bar and the bubbles in plain words, derived from the running backends; timings behind Details."""

from __future__ import annotations

from app.plain_words import plain_backends
from pipelines.settings import Settings


def test_plain_words_follow_the_backends():
    s = Settings()
    default = plain_backends({"dialogue": "retrieval", "tts": "espeak", "vc": "world", "face": "warp"}, s)
    assert default == (
        "Replying from the chat log  ·  Voice: espeak → persona pitch  ·  Face: mouth animation of the portrait"
    )
    s = s.replace("dialogue.chatglm.model_dir", "module/chatglm-6b").replace("face.face", "source/x/avatar")
    other = plain_backends({"dialogue": "chatglm", "tts": "pyttsx3", "vc": "sovits", "face": "wav2lip"}, s)
    assert other == (
        "Replying with the local model chatglm-6b  ·  Voice: the system voice → the persona's trained voice"
        "  ·  Face: lip-sync model"
    )
    assert plain_backends({"face": "warp"}, s) == "Face: mouth animation of the enrolled face"
    # what the stages call themselves once loaded
    assert plain_backends({"face": "warp (250-frame video)"}) == "Face: mouth animation of the enrolled face"
    assert plain_backends({"face": "warp (portrait)"}) == "Face: mouth animation of the portrait"
    assert plain_backends({"face": "wav2lip/onnx cpu"}) == "Face: lip-sync model"
    assert plain_backends({"dialogue": "chatglm (glm 6 layers)"}, s) == "Replying with the local model glm 6 layers"


def test_status_bar_speaks_plainly_and_details_show_timings(make_window, tmp_path, qtbot):
    from app.engine_bridge import default_engine_factory

    w = make_window(default_engine_factory, settings=Settings(output_dir=str(tmp_path / "out"), threads=1))
    text = w.status.backends.text()
    assert text.startswith("Replying from the chat log") and "Voice: espeak → persona pitch" in text
    assert "Face: mouth animation of the " in text
    assert "dialogue retrieval" not in text and not w.status.timings.isVisibleTo(w)
    turn = w.send("晚安")
    qtbot.waitUntil(lambda: turn in w._records, timeout=180_000)
    meta = w.chat.replies[turn].meta.text()
    assert meta.startswith("from the chat log") and "first audio" not in meta
    w.status.details_button.click()
    assert w.status.details_shown and w.status.timings.isVisibleTo(w)
    assert w.status.timings.text().startswith(f"turn {turn}") and "first audio" in w.status.timings.text()
    assert "dialogue retrieval" in w.status.backends.text() and "face warp" in w.status.backends.text()
    t2 = w.send("你好")
    qtbot.waitUntil(lambda: t2 in w._records, timeout=180_000)
    assert "first audio" in w.chat.replies[t2].meta.text()
    w.status.details_button.click()
    assert not w.status.timings.isVisibleTo(w) and "dialogue retrieval" not in w.status.backends.text()
