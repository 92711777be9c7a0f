"""Model comparison speed (run by hand, not in CI): `compare --model` for serving (each system's
best prefill and decode layouts within the SLO) and `compare --model --train` (each system's
fastest training layout from the full search) over four systems.

Run: OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_compare.py
"""

from __future__ import annotations

import time

from podwright.search.compare import compare_serving, compare_training

SYSTEMS = ["cloudmatrix384", "gb200-nvl72", "hgx-h800-roce", "hgx-h100-ib"]


def timed(label: str, fn, repeat: int = 3) -> None:
    best = min(_once(fn) for _ in range(repeat))
    print(f"{label}: {best:.2f} s (best of {repeat})")


def _once(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    timed("serving, DeepSeek-R1 4K/1K, TPOT 50 ms, 4 systems",
          lambda: compare_serving(SYSTEMS, "deepseek-r1", 4096, 1024, 50.0))  # fmt: skip
    timed("training, Llama-3.1-405B on 4,096 chips, 4 systems",
          lambda: compare_training(SYSTEMS, "llama-3.1-405b", 4096, 8192, None))  # fmt: skip
    timed("training, DeepSeek-V3 FP8 on 2,048 chips, 4 systems",
          lambda: compare_training(SYSTEMS, "deepseek-v3", 2048, 4096, None, "fp8"))  # fmt: skip


if __name__ == "__main__":
    main()
