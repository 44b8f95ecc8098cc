"""Idle frames are part of the face stage's contract, rendered on the face worker's own thread."""

import threading

import numpy as np

from pipelines.engine import Engine
from pipelines.settings import Settings
from pipelines.testing.toy_stages import CollectSink, FlatFace, PassAudio, ScriptedDialogue, ToneTTS


class RecordingFace(FlatFace):
    def idle_frames(self, n=75):
        self.idle_thread = threading.current_thread().name
        return np.full((n, 8, 8, 3), 7, np.uint8), 25.0


def test_idle_frames_are_rendered_by_the_face_worker(tmp_path):
    face = RecordingFace()
    stages = {"dialogue": ScriptedDialogue("好。", 0.0), "tts": ToneTTS(None), "vc": PassAudio(), "face": face}
    with Engine(
        Settings(output_dir=str(tmp_path)), stages=stages, sink=CollectSink(), log_path=tmp_path / "log.jsonl"
    ).start() as eng:
        frames, fps = eng.idle_frames(5)
        assert frames.shape == (5, 8, 8, 3) and fps == 25.0
        assert face.idle_thread == "stage-face"
        rec = eng.wait(eng.submit("hi"), timeout=30)  # the request does not disturb the turns
        assert rec.status == "ok"


def test_warp_idle_loop_is_the_renderers_own_closed_mouth_motion(tmp_path):
    with Engine(Settings(output_dir=str(tmp_path)), log_path=tmp_path / "log.jsonl").start() as eng:
        frames, fps = eng.idle_frames(10)
        face = eng.stages["face"]
        assert fps == 25.0 and frames.dtype == np.uint8 and len(frames) == 2 * 10 - 2  # ping-pong
        np.testing.assert_array_equal(frames[3], face.render_frame(3, 0.0))
        assert not np.array_equal(frames[0], frames[9]), "the idle loop moves (sway, blinks)"
