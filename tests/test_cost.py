"""The cost arithmetic of `benchmarks.cost` on fixed inputs (no measuring): hours, dollars,
which bound the extrapolated GPU time, and the phase defaults' training pages."""
from __future__ import annotations

import pytest

from benchmarks import cost, cost_model
from benchmarks.cost_model import Machine, Rates, phase_cost

CPU, GPU = Machine("cpu box", 0.2, "test"), Machine("gpu box", 2.0, "test")
RATES = Rates(augment_per_s=20, write_mb_per_s=100, bytes_per_sample=500_000, loader_per_s_per_worker=10,
              step_per_s=5, flops_per_sample=1e12)


def _cost(rates: Rates = RATES, amp: bool = False) -> dict:
    return phase_cost(1, rates, 16_000, amp, CPU, GPU, utilization=0.5, loader_workers=8, runs_per_month=4)


def test_a_cpu_measured_phase_costs_what_the_rates_say():
    c = _cost()
    assert (c["samples"], c["shard_gb"], c["epochs"]) == (100_000, 50.0, 0.16)  # 2,000 sources x 50
    assert c["augment_h"] == 1.39  # 100,000 variants at 20/s
    assert c["write_h"] == 0.139  # 50 GB at 100 MB/s
    assert c["train_cpu_h"] == 0.9  # 16,000 pages at 5/s
    # 16,000 x 1 TFLOP at 0.5 x 19.5 TFLOP/s (fp32 peak) = 1,641 s; the loader (8 x 10 pages/s) needs 200 s
    assert c["train_gpu_h"] == 0.456 and c["gpu_figures"] == "extrapolated, compute-bound"
    assert c["run_usd_cpu"] == 0.46  # (1.389 + 0.889) h x $0.2
    assert c["run_usd_gpu"] == 1.19  # 1.389 h x $0.2 + 0.456 h x $2
    assert (c["month_usd_cpu"], c["month_usd_gpu"]) == (1.82, 4.76)  # 4 runs
    assert c["seed_claim_usd_month"] == [20, 50] and c["inputs"]["gpu_peak_tflops"] == 19.5


def test_mixed_precision_uses_the_tensor_core_peak_and_a_slow_loader_bounds_the_gpu():
    c = _cost(Rates(**{**RATES.__dict__, "flops_per_sample": 1e10}), amp=True)
    assert c["inputs"]["gpu_peak_tflops"] == 312.0
    assert c["train_gpu_h"] == 0.056 and c["gpu_figures"] == "extrapolated, loader-bound"  # 16,000 / 80 pages/s


def test_on_a_gpu_the_step_rate_is_the_gpu_figure():
    c = _cost(Rates(**{**RATES.__dict__, "step_per_s": 100, "device": "cuda"}))
    assert c["gpu_figures"] == "measured" and c["train_gpu_h"] == 0.044
    assert c["train_cpu_h"] is None and c["run_usd_cpu"] is None and c["month_usd_cpu"] is None


def test_each_phase_trains_its_defaults_pages_on_its_data():
    data = {"augment_per_s": 20, "write_mb_per_s": 100, "bytes_per_sample": 500_000}
    rows = [{"phase": p, "loader_per_s_per_worker": 10, "step_per_s": 5, "flops_per_sample": 1e12, "device": "cpu"}
            for p in (1, 2, 3, 4)]
    out = cost.costs(data, rows, cpu=CPU, gpu=GPU)
    # max_steps 1000 x batch x grad_accum of each phase's defaults
    assert [c["train_pages"] for c in out] == [16_000, 32_000, 64_000, 128_000]
    assert [c["samples"] for c in out] == [100_000, 100_000, 100_000, 1_000_000]
    assert [c["inputs"]["amp"] for c in out] == [False, False, True, True]


def test_every_default_price_says_where_it_comes_from():
    for m in (cost_model.CPU_MACHINE, cost_model.GPU_MACHINE):
        assert m.price_per_hour > 0 and "pricing" in m.source and "20" in m.source
    with pytest.raises(SystemExit) as e:
        cost.main(["--help"])
    assert e.value.code == 0


def test_the_recorded_rates_price_the_cpu_and_give_no_gpu_figures():
    data, rows = cost.from_record()  # benchmarks/results/*.json, tracked: fixed inputs
    assert data["augment_per_s"] == pytest.approx(2 * 13.175) and data["bytes_per_sample"] == 764_800
    assert [r["phase"] for r in rows] == [1, 2, 3, 4] and rows[3]["step_per_s"] == 0.04
    out = cost.costs(data, rows, cpu=CPU, gpu=GPU)
    assert out[3]["train_cpu_h"] == 888.9  # 128,000 pages at 0.04/s
    assert out[3]["augment_h"] == 10.54  # 1,000,000 variants at 26.35/s
    assert out[3]["run_usd_cpu"] == 179.89  # (10.54 + 888.9) h x $0.2
    assert out[3]["train_gpu_h"] is None and out[3]["run_usd_gpu"] is None and "not measured" in out[3]["gpu_figures"]
