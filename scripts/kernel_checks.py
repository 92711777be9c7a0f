"""Compare the kernel models with published measurements (catalog/measurements/): GEMMs of
many shapes, unfused attention and serving engines' fused-MoE kernels.
Run: python scripts/kernel_checks.py [--summary]"""

import sys

from podwright.estimate.kernel_checks import (
    gemm_shape_errors,
    moe_kernel_errors,
    unfused_attention_errors,
)


def summary(name: str, rows: list[dict]) -> str:
    errs = sorted(abs(r["error"]) for r in rows)
    p90 = errs[min(len(errs) - 1, round(0.9 * (len(errs) - 1)))]
    return (f"{name}: {len(rows)} measurements, median |error| {100 * errs[len(errs) // 2]:.0f}%, "
            f"p90 {100 * p90:.0f}%, max {100 * errs[-1]:.0f}%")  # fmt: skip


gemm, attn, moe = gemm_shape_errors(), unfused_attention_errors(), moe_kernel_errors()
if "--summary" not in sys.argv:
    for r in gemm:
        shape = (f"{r['group']:g}x" if r["group"] > 1 else "") + f"{r['m']}x{r['n']}x{r['k']}"
        print(f"{r['chip']:15s} {r['precision']:5s} {shape:22s} measured {r['tflops']:7.1f} "
              f"predicted {r['predicted']:7.1f}  {100 * r['error']:+5.0f}%")  # fmt: skip
    for r in attn:
        print(f"{r['chip']:15s} unfused attention, head dim {r['head_dim']:3d}: measured "
              f"{r['tflops']:6.1f} predicted {r['predicted']:6.1f}  {100 * r['error']:+5.0f}%")  # fmt: skip
    for r in moe:
        print(f"{r['chip']:15s} {r['precision']:5s} fused MoE ({r['source']}), {r['tokens']:5d} tokens: "
              f"measured {r['measured_us']:7.1f} us predicted {r['predicted_us']:7.1f}  "
              f"{100 * r['error']:+5.0f}%")  # fmt: skip
print(summary("GEMM shapes, published (TFLOP/s)", [r for r in gemm if "device" not in r["source"]]))
print(summary("GEMM shapes, measured on lent GPUs", [r for r in gemm if "device" in r["source"]]))
print(summary("unfused attention (TFLOP/s)", attn))
print(
    summary("fused MoE kernels, 16-128 tokens (us)", [r for r in moe if 16 <= r["tokens"] <= 128])
)
print(summary("fused MoE kernels, all batch sizes (us)", moe))
