"""RUNDIR/metrics.jsonl (and TensorBoard when it is installed): one JSON line per log.

Lines carry the step and kind ("train" or "val") and values only, no wall-clock, so a
resumed run's log equals an uninterrupted one's; on resume, lines past the checkpoint's
step are cut so a curve never has two histories.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shards.storage import atomic

METRICS_NAME = "metrics.jsonl"


class RunLog:
    def __init__(self, run_dir: Path, enabled: bool = True, resume_step: int | None = None):
        self.path, self.enabled = run_dir / METRICS_NAME, enabled
        self.tb = None
        if not enabled:
            return
        if resume_step is not None and self.path.exists():
            kept = [ln for ln in self.path.read_text().splitlines() if ln and json.loads(ln)["step"] <= resume_step]
            atomic.write_bytes(self.path, "".join(ln + "\n" for ln in kept).encode())
        elif resume_step is None:
            self.path.unlink(missing_ok=True)
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(run_dir / "tb"))
        except Exception:  # noqa: BLE001 - TensorBoard is optional
            self.tb = None

    def write(self, kind: str, step: int, values: dict[str, Any]) -> None:
        if not self.enabled:
            return
        row = {"kind": kind, "step": step, **values}
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row, sort_keys=True) + "\n")
        if self.tb is not None:
            for k, v in values.items():
                if isinstance(v, (int, float)) and v is not None:
                    self.tb.add_scalar(f"{kind}/{k}", v, step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def read_log(run_dir: str | Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / METRICS_NAME
    if not path.exists():
        raise FileNotFoundError(f"{path}: no metrics log (has `train fit` run in this directory?)")
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln]
