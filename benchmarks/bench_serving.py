"""Serving-simulation speed (run by hand, not in CI): one simulated run (4,000 requests, more
where those reach no steady state) and the highest-rate search (12 runs) for Llama-3.1-70B on
8 H100 (TP8, FP8, 1,024 in / 256 out), DeepSeek-R1 on 8 B200 (attention DP 8, EP 8, FP4
experts, 1,024 in / 1,024 out) and DeepSeek-R1 disaggregated on CloudMatrix384.

Run: OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_serving.py
"""

from __future__ import annotations

import time

from podwright.sim.serving import max_rate, saturation_rate, serving_costs, simulate
from podwright.specs.scenario import parse_scenario

CASES = {
    "llama-3.1-70b, 8 H100": {
        "system": "hgx-h100-ib", "chips": 8, "model": "llama-3.1-70b", "precision": "fp8",
        "inference": {"phase": "serve", "input_len": 1024, "output_len": 256, "instance_chips": 8,
                      "parallel": {"tp": 8}, "slo": {"ttft_ms": 2000, "tpot_ms": 50}},
    },
    "deepseek-r1, 8 B200": {
        "system": "hgx-b200-ib", "chips": 8, "model": "deepseek-r1", "precision": "fp8",
        "precision_experts": "fp4",
        "inference": {"phase": "serve", "input_len": 1024, "output_len": 1024,
                      "instance_chips": 8, "parallel": {"tp": 1, "ep": 8, "attn_dp": 8},
                      "slo": {"ttft_ms": 2000, "tpot_ms": 50}},
    },
    "deepseek-r1 disaggregated, CloudMatrix384 (96 + 160 NPUs)": {
        "system": "cloudmatrix384", "chips": 256, "model": "deepseek-r1", "precision": "int8",
        "inference": {"phase": "serve", "input_len": 4096, "output_len": 1024,
                      "parallel": {"tp": "auto", "pp": 1, "ep": "auto", "attn_dp": "auto"},
                      "disaggregated": {"prefill_chips": 96, "decode_chips": 160},
                      "slo": {"ttft_ms": 2000, "tpot_ms": 50}},
    },
}  # fmt: skip


def main() -> None:
    for name, doc in CASES.items():
        s = parse_scenario(doc)
        t0 = time.perf_counter()
        costs = serving_costs(s)
        t_costs = time.perf_counter() - t0
        rate = 0.8 * saturation_rate(costs, s.inference)
        t0 = time.perf_counter()
        run = simulate(costs, s.inference, rate)
        t_run = time.perf_counter() - t0
        t0 = time.perf_counter()
        best = max_rate(costs, s.inference)
        t_search = time.perf_counter() - t0
        print(
            f"{name}: costs {t_costs:.2f} s; one run of {run['requests']:,} requests at "
            f"{rate:.3g}/s {t_run:.2f} s; highest-rate search {t_search:.1f} s "
            f"({best['rate_per_s']:.3g} requests/s, "
            f"{best['output_tokens_per_s_per_chip']:,.0f} tokens/s per chip)"
        )


if __name__ == "__main__":
    main()
