"""Training loss log (JSON lines, one record per line, flushed as written) and its plot (PNG)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..atomic_files import atomic_path, atomic_write_text


class LossLog:
    """``loss.jsonl`` in the output folder: ``{"step", "epoch", "loss", "lr", ...}`` and eval records."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.records: list[dict[str, Any]] = []

    def load(self, up_to_step: int | None = None) -> None:
        """Read an existing log; with ``up_to_step`` keep only records up to it (and rewrite the file)."""
        self.records = []
        if self.path.is_file():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by a kill
                if up_to_step is None or rec.get("step", 0) <= up_to_step:
                    self.records.append(rec)
        if up_to_step is not None:
            atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in self.records))

    def append(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
            fh.flush()

    def series(self, key: str) -> tuple[list[int], list[float]]:
        pts = [(r["step"], r[key]) for r in self.records if r.get(key) is not None]
        return [p[0] for p in pts], [p[1] for p in pts]

    def plot(self, png: Path, title: str = "P-tuning loss") -> Path:
        """Write the loss curve (train, eval) to ``png`` (atomically)."""
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6.4, 3.6), dpi=100)
        ax = fig.add_subplot(1, 1, 1)
        steps, loss = self.series("loss")
        if steps:
            ax.plot(steps, loss, label="train loss", color="#3a6ea5", linewidth=1.2)
        e_steps, e_loss = self.series("eval_loss")
        if e_steps:
            ax.plot(e_steps, e_loss, "o-", label="eval loss", color="#d9534f", linewidth=1.2, markersize=3)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if steps or e_steps:
            ax.legend()
        fig.tight_layout()
        png = Path(png)
        with atomic_path(png, suffix=".png") as tmp:
            fig.savefig(tmp, format="png")
        return png
