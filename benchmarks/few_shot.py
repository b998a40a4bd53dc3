"""Few-shot on held-out groups: does a page's group, shown as k labelled pages, help the model?

Only where the group says something the page does not. With the synthetic generator's
default (`augment synth --shared-looks 0`) every section type is painted alike in every
group, so a group's other pages add nothing; at the benchmark's setting
(`common.FEW_SHOT_LOOKS`) each group paints its middle section types in a cycle of each
other's looks, so that which look is `pricing` is told only by the group's pages
(`benchmarks.label_ceiling --few-shot` measures what a perfect reader gains from k pages).

Per setting: synthetic sources grouped by look family, whole groups held out (``split_by =
"group"``), one few-shot model (phase-1 defaults, up to 4 context pages per sample), scored by
`train evaluate`'s code on the held-out groups' untouched pages with k = 0, 1 and 4 context
pages of the same group (95% bootstrap intervals over sources), the layout prior beside.
Reported too: the gains of k = 4 over k = 0 and whether their intervals are apart, the
few-shot gates at the end of training, and the seconds per training step.
Targets (issue: few-shot that helps): at the benchmark's setting, k = 4 beats k = 0 by >= 10
points of type and of canonical token, intervals apart; at setting 0, k = 4 no worse than k = 0.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from . import common

KS = (0, 1, 4)
SETTINGS = (common.FEW_SHOT_LOOKS, 0.0)  # the benchmark's generator setting, then today's generator
SHOWN = ("type", "token", "miou", "count")
GAIN_TARGET = 0.10


def gate_values(checkpoint: Path) -> dict[str, float]:
    """The few-shot gates of a trained model: tanh of each gated cross-attention's gate, the
    label copy's weight and temperature."""
    import math

    from train.inference import load_model

    out = {}
    for name, p in load_model(checkpoint).model.named_parameters():
        if name.endswith(".gate"):
            out[name] = round(math.tanh(float(p.detach())), 4)
        elif name.endswith(("copy.weight", "copy.scale")):
            out[name] = round(float(p.detach().exp()) if name.endswith("scale") else float(p.detach()), 4)
    return out


def _score(evaluation: dict[str, Any], who: str = "model") -> dict[str, Any]:
    e = evaluation["pages"][who]
    return {k: {"value": e["value"][k], "ci": e["ci"][k]} for k in SHOWN}


def few_shot_table(work: Path, sources: int, factor: int, steps: int, seed: int, build: Callable[..., Path],
                   train_arm: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """Per generator setting: one few-shot model, scored with k = 0, 1, 4 on held-out groups.
    `build` and `train_arm` are model_quality's (its shards and its phase-1 run)."""
    from train.evaluation.evaluate import evaluate_checkpoint

    out: dict[str, Any] = {}
    for shared in SETTINGS:
        shards = build(work, sources, min(10, factor), seed, "web", split_by="group", shared_looks=shared)
        run = work / "quality-runs" / f"few-shot-looks{shared:g}"
        arm = train_arm(shards, run, steps, seed, few_shot_max=max(KS), few_shot_k=max(KS))
        rows = {}
        for k in KS:
            ev = evaluate_checkpoint(run / "last.pt", shards, "val", variants=0, context_k=k)
            rows[f"k={k}"] = {"model": _score(ev), "prior": _score(ev, "prior"), "pages": ev["samples"]}
        gains = {}
        for m in SHOWN:
            a, b = rows[f"k={max(KS)}"]["model"][m], rows["k=0"]["model"][m]
            if a["value"] is None or b["value"] is None:
                continue
            apart = bool(a["ci"] and b["ci"] and (a["ci"][0] > b["ci"][1] or a["ci"][1] < b["ci"][0]))
            gains[m] = {"gain": round(a["value"] - b["value"], 4), "intervals_apart": apart}
        out[f"{shared:g}"] = {"shared_looks": shared, "rows": rows, "gain_k4_over_k0": gains,
                              "gates": gate_values(run / "last.pt"), "seconds": arm["seconds"],
                              "seconds_per_step": round(arm["seconds"] / steps, 3)}
    out["targets"] = targets(out)
    return out


def targets(table: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets, met or not, from the two settings' gains."""
    few, plain = table[f"{SETTINGS[0]:g}"]["gain_k4_over_k0"], table[f"{SETTINGS[1]:g}"]["gain_k4_over_k0"]
    out = {f"{m}_gain_at_{SETTINGS[0]:g}": {"target": f">= {GAIN_TARGET}, intervals apart",
                                             "value": few.get(m, {}).get("gain"),
                                             "met": bool(few.get(m) and few[m]["gain"] >= GAIN_TARGET
                                                         and few[m]["intervals_apart"])}
           for m in ("type", "token")}
    for m in ("type", "token"):
        g = plain.get(m)
        out[f"{m}_no_worse_at_0"] = {"target": "k=4 not below k=0 beyond the intervals",
                                     "value": None if g is None else g["gain"],
                                     "met": bool(g and (g["gain"] >= 0 or not g["intervals_apart"]))}
    return out


def _cell(s: dict[str, Any]) -> str:
    v, ci = s["value"], s["ci"]
    return "-" if v is None else f"{v:.3f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")


def report_few_shot(table: dict[str, Any]) -> str:
    text = ""
    for key, t in table.items():
        if key == "targets":
            continue
        pages = next(iter(t["rows"].values()))["pages"]
        text += f"shared looks {key} ({pages} held-out pages; {t['seconds_per_step']} s/step):\n\n"
        text += common.table(["context pages", *SHOWN],
                             [[k, *(_cell(v["model"][m]) for m in SHOWN)] for k, v in t["rows"].items()]
                             + [["layout prior", *(_cell(t["rows"]["k=0"]["prior"][m]) for m in SHOWN)]])
        text += "\n\ngain of k=4 over k=0: " + ", ".join(
            f"{m} {g['gain']:+.3f}{' (intervals apart)' if g['intervals_apart'] else ''}"
            for m, g in t["gain_k4_over_k0"].items())
        text += "; gates: " + ", ".join(f"{n} {v}" for n, v in t["gates"].items()) + "\n\n"
    for name, tg in table["targets"].items():
        text += f"target {name}: {tg['value']} ({tg['target']}): {'met' if tg['met'] else 'NOT met'}\n\n"
    return text.rstrip()
