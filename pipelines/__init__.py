"""The conversational persona engine: dialogue -> voice -> face, no Qt.

Importing this package forbids every hub download: model weights come from
local folders only.  It also makes torch's OpenMP threads sleep, not spin, when a
parallel region ends (``OMP_WAIT_POLICY=PASSIVE``, read when torch is first imported):
the stages run side by side on few cores, and between torch calls the ONNX Runtime
kernels (the int4 dialogue weights, so-vits, Wav2Lip) need the cores torch's idle
threads would spin on — measured on the 6B shapes, 2 cores: int4 decoding 1.33 ->
2.45 tokens/s, int8 (all torch) 2.10 -> 2.26.  A value the user set is kept.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
