"""Estimator speed (run by hand, not in CI):
- training layouts evaluated per second, dense and MoE, on one core (numpy arrays of layouts);
- the full training-layout search for DeepSeek-V3 on 2,048 chips of hgx-h800-roce;
- one `predict` (training and inference);
- per-configuration time against genz-llm (GenZ) in the same run, if it is installed
  (`pip install 'podwright[bench]'`).

Run: OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_estimator.py
"""

from __future__ import annotations

import platform
import time

import numpy as np

from podwright.estimate.inference import InferenceModel, enumerate_inference
from podwright.estimate.predict import predict
from podwright.estimate.training import evaluate_training
from podwright.search.layouts import search
from podwright.specs.scenario import Overlap, parse_scenario
from podwright.topology import build
from podwright.workload.layout import enumerate_layouts
from podwright.workload.model import load_model


def train_scenario(system, chips, model, precision="bf16", **par):
    return parse_scenario(
        {
            "system": system, "chips": chips, "model": model, "precision": precision,
            "training": {
                "seq_len": 4096, "global_batch": 4096 if chips >= 1024 else 512,
                "micro_batch": "auto", "zero": "auto", "recompute": "auto",
                "parallel": {"tp": "auto", "pp": "auto", "cp": "auto", "vpp": "auto", **par},
            },
        }
    )  # fmt: skip


def layouts_per_second(s, repeat_to=1_000_000):
    """Distinct layouts: the scenario's enumerated space repeated over global batch sizes."""
    model = load_model(s.model)
    fabric = build(s.system, s.chips)
    lay, _ = enumerate_layouts(s.training, model, s.chips)
    reps = max(1, repeat_to // len(lay))
    big = lay.take(np.tile(np.arange(len(lay)), reps))
    big.gbs = big.gbs * np.repeat(np.arange(1, reps + 1), len(lay))
    evaluate_training(
        model, fabric, lay.take(np.arange(min(len(lay), 100))), 4096, s.precision, Overlap()
    )
    t0 = time.perf_counter()
    evaluate_training(model, fabric, big, 4096, s.precision, Overlap())
    dt = time.perf_counter() - t0
    return len(big) / dt, len(big)


def best_of(fn, n=5):
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    print(
        f"machine: {platform.machine()} {platform.processor()}, Python {platform.python_version()}"
    )
    dense = train_scenario("hgx-h100-ib", 1024, "llama-3.1-70b")
    rate, n = layouts_per_second(dense)
    print(f"dense (llama-3.1-70b, 1,024 H100): {rate:,.0f} layouts/s over {n:,} layouts")
    moe = train_scenario("hgx-h800-roce", 2048, "deepseek-v3", "fp8", ep="auto")
    rate, n = layouts_per_second(moe, 400_000)
    print(f"MoE (deepseek-v3, 2,048 H800): {rate:,.0f} layouts/s over {n:,} layouts")

    ds = parse_scenario(
        {
            "system": "hgx-h800-roce", "chips": 2048, "model": "deepseek-v3", "precision": "fp8",
            "training": {
                "seq_len": 4096, "global_batch": 15360, "micro_batch": "auto",
                "parallel": {"tp": "auto", "pp": "auto", "ep": "auto", "cp": 1, "etp": 1, "vpp": "auto"},
                "zero": "auto", "recompute": "auto", "schedule": "auto",
            },
        }
    )  # fmt: skip
    r = search(ds, top=1)
    t = best_of(lambda: search(ds, top=1), 3)
    print(f"DeepSeek-V3 full layout search, 2,048 H800: {t:.2f} s for {r['evaluated']:,} layouts")

    one = parse_scenario(
        {"system": "hgx-h100-ib", "chips": 16384, "model": "llama-3.1-405b",
         "training": {"seq_len": 8192, "global_batch": 2048,
                      "parallel": {"tp": 8, "pp": 16, "cp": 1, "vpp": 4}, "zero": 1,
                      "recompute": "none", "schedule": "interleaved"}}
    )  # fmt: skip
    predict(one)
    print(
        f"one training predict (Llama-3.1-405B, 16,384 H100): {best_of(lambda: predict(one)) * 1e3:.1f} ms"
    )

    dec = parse_scenario(
        {"system": "hgx-h100-ib", "chips": 8, "model": "llama-3.1-70b", "precision": "bf16",
         "inference": {"phase": "decode", "input_len": 2048, "output_len": 512, "batch": 64,
                       "instance_chips": 8, "parallel": {"tp": 8, "pp": 1, "attn_dp": 1}}}
    )  # fmt: skip
    predict(dec)
    t_pred = best_of(lambda: predict(dec))
    print(f"one inference predict (Llama-3.1-70B decode, TP8 H100): {t_pred * 1e3:.1f} ms")
    model = load_model(dec.model)
    fab = build(dec.system, 8)
    m = InferenceModel(dec, model, fab)
    grid = dec.model_copy(
        update={"inference": dec.inference.model_copy(update={"batch": "auto", "parallel": dec.inference.parallel.model_copy(update={"tp": "auto", "attn_dp": "auto"})})}
    )  # fmt: skip
    lay, _ = enumerate_inference(grid.inference, model, 8)
    big = lay.take(np.tile(np.arange(len(lay)), max(1, 200_000 // len(lay))))
    t_vec = best_of(lambda: m.decode(big), 3) / len(big)
    print(
        f"decode configurations, vectorised: {1 / t_vec:,.0f} per second ({t_vec * 1e6:.2f} us each)"
    )
    try:
        from GenZ import decode_moddeling
    except ImportError:
        print("genz-llm not installed: pip install 'podwright[bench]' to compare")
        return
    kw = dict(model="meta-llama/Llama-3.1-70B", batch_size=64, input_tokens=2048,
              output_tokens=512, system_name="H100_GPU", bits="bf16", tensor_parallel=8)  # fmt: skip
    decode_moddeling(**kw)
    t_genz = best_of(lambda: decode_moddeling(**kw), 5)
    print(
        f"genz-llm decode_moddeling, same model/chip/layout: {t_genz * 1e3:.1f} ms per configuration"
    )
    print(
        f"ratio (GenZ / podwright): single predict {t_genz / t_pred:,.0f}x, vectorised {t_genz / t_vec:,.0f}x"
    )


if __name__ == "__main__":
    main()
