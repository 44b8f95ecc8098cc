"""The conversational persona engine: dialogue -> voice -> face, no Qt.

Importing this package forbids every hub download: model weights come from
local folders only.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

__version__ = "0.1.0"
