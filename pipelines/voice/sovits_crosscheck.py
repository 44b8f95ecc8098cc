"""Cross-check of the so-vits generator port against the original code (a developer tool).

``python -m pipelines.voice.sovits_crosscheck --repo PATH`` imports ``models.py`` from a local
checkout of svc-develop-team/so-vits-svc (4.1-Stable), builds a small random model per layout
(4.1 nsf-hifigan, ``vol_embedding``, ``nsf-snake-hifigan``, ResBlock 2), loads its state dict
into ``sovits_models.SynthesizerTrn`` through the strict loader, and prints the largest
difference of ``infer`` (same seed, with and without ``predict_f0``).  Nothing is downloaded;
``faiss`` (imported by the original ``utils.py``, unused here) is stubbed when missing.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import types
from pathlib import Path

VARIANTS = {
    "nsf-hifigan": {},
    "vol_embedding": {"vol_embedding": True},
    "nsf-snake-hifigan": {"vocoder_name": "nsf-snake-hifigan"},
    "resblock-2": {"resblock": "2", "resblock_dilation_sizes": [[1, 3], [1, 3]]},
}


def crosscheck(repo: Path) -> dict[str, float]:
    import torch

    from . import sovits_compat
    from .sovits_loader import SovitsFiles, build_generator

    sovits_compat.import_fork()
    if importlib.util.find_spec("faiss") is None:
        sys.modules["faiss"] = types.ModuleType("faiss")
    sys.path.insert(0, str(repo))  # the original imports its vocoders lazily: keep it on the path
    orig = importlib.import_module("models")
    base = {
        "inter_channels": 16,
        "hidden_channels": 16,
        "filter_channels": 32,
        "n_heads": 2,
        "n_layers": 2,
        "kernel_size": 3,
        "p_dropout": 0.1,
        "resblock": "1",
        "resblock_kernel_sizes": [3, 7],
        "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5]],
        "upsample_rates": [8, 5, 4],
        "upsample_initial_channel": 32,
        "upsample_kernel_sizes": [16, 15, 8],
        "gin_channels": 16,
        "ssl_dim": 24,
        "n_speakers": 3,
        "vocoder_name": "nsf-hifigan",
        "speech_encoder": "vec768l12",
        "vol_embedding": False,
        "use_automatic_f0_prediction": True,
        "n_flow_layer": 4,
    }
    out = {}
    for name, change in VARIANTS.items():
        m = {**base, **change}
        cfg = {
            "train": {"segment_size": 2560},
            "data": {"sampling_rate": 16000, "hop_length": 160, "filter_length": 512},
            "model": m,
            "spk": {"a": 0},
        }
        torch.manual_seed(1)
        net = orig.SynthesizerTrn(257, 16, **{**m, "sampling_rate": 16000})
        with torch.no_grad():
            for p in net.parameters():
                p.add_(0.05 * torch.randn_like(p))
        net.eval()
        mine = build_generator(cfg, dict(net.state_dict()), SovitsFiles(repo, repo / "config.json", repo / "G.pth"))
        t = 50
        c = torch.randn(1, 24, t)
        f0 = 180.0 * (1 + 0.1 * torch.sin(torch.arange(t) / 5.0))[None]
        uv = torch.ones(1, t)
        f0[:, :5], uv[:, :5] = 0, 0
        vol = torch.rand(1, t) * 0.3 if m["vol_embedding"] else None
        g = torch.LongTensor([[1]])
        for predict in (False, True):
            a, fa = net.infer(c, f0, uv, g=g, noice_scale=0.4, predict_f0=predict, vol=vol)
            b, fb = mine.infer(c, f0, uv, g=g, noice_scale=0.4, predict_f0=predict, vol=vol)
            out[f"{name} predict_f0={predict}"] = max(float((a - b).abs().max()), float((fa - fb).abs().max()))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m pipelines.voice.sovits_crosscheck",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--repo", required=True, help="local checkout of svc-develop-team/so-vits-svc (4.1-Stable)")
    args = ap.parse_args(argv)
    repo = Path(args.repo).expanduser()
    if not (repo / "models.py").is_file() or not (repo / "vdecoder").is_dir():
        print(
            f"sovits_crosscheck: {repo} is not a so-vits-svc checkout (models.py + vdecoder/ expected)", file=sys.stderr
        )
        return 2
    for name, diff in crosscheck(repo).items():
        print(f"{name:40s} max |difference| {diff:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
