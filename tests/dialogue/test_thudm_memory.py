"""Loading fp16 THUDM shards as bf16 never materialises fp32 (peak RSS of a fresh process)."""

import json
import subprocess
import sys
from pathlib import Path

from tests.dialogue.thudm_layouts import build_chatglm2

LOG = Path(__file__).resolve().parents[2] / "source" / "default" / "chat.jsonl"
PROBE = r"""
import json, resource, sys
from pathlib import Path
import torch
from pipelines.dialogue.glm import folder as F
folder = Path(sys.argv[1])
cfg = json.loads((folder / "config.json").read_text())
F.load_tokenizer(folder, "chatglm2", cfg)
torch.zeros(1).bfloat16()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
model = F.load_chatglm2(folder, cfg, torch.bfloat16)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
dtypes = sorted({str(p.dtype) for p in model.parameters()})
print(json.dumps({"base": base, "peak": peak, "dtypes": dtypes,
                  "bytes": sum(p.numel() * p.element_size() for p in model.parameters())}))
"""


def test_bf16_load_peak_rss_stays_far_below_an_fp32_copy(tmp_path):
    folder = build_chatglm2(tmp_path / "glm-big", LOG, hidden=1024, layers=6, heads=16, groups=2)
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(folder)],
        capture_output=True,
        text=True,
        cwd=root,
        env={"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
        check=True,
    )
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["dtypes"] == ["torch.bfloat16"]
    bf16 = r["bytes"]
    assert bf16 > 90e6
    grown = r["peak"] - r["base"]
    # bf16 tensors + the memory-mapped fp16 pages read once (~2x bf16); an fp32 copy would add 2x more
    assert grown < 2.5 * bf16, (grown / 1e6, bf16 / 1e6)
