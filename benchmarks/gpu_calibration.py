"""Measure calibration data on a GPU (run by hand on a device machine; not part of the tests).

Writes $OUT/calibration-<device>.json (or ./calibration-<device>.json) with:
- GEMM achieved TFLOP/s for BF16 (and FP8 through torch._scaled_mm where the GPU has it) over a
  grid of m, n, k — the shape-resolved table the estimator's GEMM efficiency needs;
- HBM bandwidth of a device-to-device copy;
- FlashAttention-class attention (torch SDPA, causal) forward and forward+backward TFLOP/s.
Each row keeps its shape and the device name, so the catalog can cite the file as the source.

Usage: python benchmarks/gpu_calibration.py [--quick]   (needs torch with CUDA)
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def timed(torch, fn, reps: int = 20) -> float:
    """Median seconds of fn() over reps, after warm-up, with CUDA events."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return sorted(times)[len(times) // 2]


def gemms(torch, sizes, fp8: bool) -> list[dict]:
    rows = []
    for m in sizes:
        for n in sizes:
            for k in sizes:
                a = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
                b = torch.randn(k, n, device="cuda", dtype=torch.bfloat16)
                t = timed(torch, lambda a=a, b=b: a @ b)
                rows.append(
                    {"dtype": "bf16", "m": m, "n": n, "k": k, "tflops": 2 * m * n * k / t / 1e12}
                )
                if fp8:
                    a8 = a.to(torch.float8_e4m3fn)
                    b8 = b.t().contiguous().to(torch.float8_e4m3fn).t()
                    one = torch.ones((), device="cuda")
                    t = timed(torch, lambda a8=a8, b8=b8, one=one: torch._scaled_mm(
                        a8, b8, scale_a=one, scale_b=one, out_dtype=torch.bfloat16))  # fmt: skip
                    rows.append(
                        {"dtype": "fp8", "m": m, "n": n, "k": k, "tflops": 2 * m * n * k / t / 1e12}
                    )
    return rows


def hbm(torch) -> dict:
    x = torch.empty(2**30, dtype=torch.uint8, device="cuda")  # 1 GiB
    y = torch.empty_like(x)
    t = timed(torch, lambda: y.copy_(x))
    return {"op": "copy", "bytes": 2 * x.numel(), "tbps": 2 * x.numel() / t / 1e12}


def attention(torch, seqs) -> list[dict]:
    import torch.nn.functional as F

    rows = []
    for s in seqs:
        b, h, d = max(1, 16384 // s), 32, 128
        q, k, v = (torch.randn(b, h, s, d, device="cuda", dtype=torch.bfloat16, requires_grad=True)
                   for _ in range(3))  # fmt: skip
        flops_fwd = 4 * b * h * s * s * d / 2  # causal: half the score matrix
        t_f = timed(
            torch, lambda q=q, k=k, v=v: F.scaled_dot_product_attention(q, k, v, is_causal=True)
        )

        def fwd_bwd(q=q, k=k, v=v):
            F.scaled_dot_product_attention(q, k, v, is_causal=True).sum().backward()

        t_fb = timed(torch, fwd_bwd, reps=10)
        rows.append({"seq": s, "batch": b, "heads": h, "head_dim": d,
                     "fwd_tflops": flops_fwd / t_f / 1e12,
                     "fwd_bwd_tflops": 3.5 * flops_fwd / t_fb / 1e12})  # fmt: skip
    return rows


def main() -> None:
    import torch

    if not torch.cuda.is_available():
        sys.exit("gpu_calibration: no CUDA device")
    quick = "--quick" in sys.argv
    name = torch.cuda.get_device_name(0)
    major, _ = torch.cuda.get_device_capability(0)
    sizes = [1024, 4096, 8192] if quick else [256, 1024, 2048, 4096, 8192, 16384]
    out = {
        "device": name,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "gemm": gemms(torch, sizes, fp8=major >= 9 and hasattr(torch, "_scaled_mm")),
        "hbm": hbm(torch),
        "attention": attention(torch, [1024, 4096] if quick else [1024, 2048, 4096, 8192, 16384]),
    }
    folder = Path(os.environ.get("OUT", "."))
    path = folder / f"calibration-{name.replace(' ', '_')}.json"
    path.write_text(json.dumps(out, indent=1))
    print(path)


if __name__ == "__main__":
    main()
