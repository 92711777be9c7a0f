"""Timing targets of the flow-level network simulator (run by hand: python benchmarks/bench_netsim.py).

1. CloudMatrix 384 all-to-all among all 384 NPUs (147,072 flows), graph build included: < 5 s.
2. Ring all-reduce on 16,384 GPUs of a 3-tier fat tree (hgx-h100-ib): < 10 s.
Peak memory: tracemalloc (Python heap, numpy included) and the process's max RSS.
"""

from __future__ import annotations

import resource
import time
import tracemalloc

from podwright.sim.network import simulate
from podwright.topology import build


def bench(label, fn):
    t = time.perf_counter()
    r = fn()
    dt = time.perf_counter() - t  # timed without tracing (tracemalloc slows numpy code)
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    ph = r["phases"][0]
    print(
        f"{label}: {dt:.2f} s, peak traced {peak / 2**20:.0f} MiB; {ph['flows']:,} flows/phase, "
        f"{ph['nnz']:,} matrix entries, busbw {r['busbw_gbs']:.1f} GB/s, time {r['time_us']:.1f} us"
    )
    return dt


def main() -> None:
    a = bench(
        "cloudmatrix384 all_to_all 64MiB x 384",
        lambda: simulate(build("cloudmatrix384"), "all_to_all", "64MiB", 384),
    )
    b = bench(
        "hgx-h100-ib ring all_reduce 1GiB x 16384",
        lambda: simulate(
            build("hgx-h100-ib", 16384), "all_reduce", "1GiB", 16384, algorithm="ring"
        ),
    )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    print(f"max RSS of the process: {rss:.0f} MiB")
    print(f"targets: all-to-all {a:.2f} s < 5 s: {a < 5}; ring {b:.2f} s < 10 s: {b < 10}; "
          f"memory < 2 GiB: {rss < 2048}")  # fmt: skip


if __name__ == "__main__":
    main()
