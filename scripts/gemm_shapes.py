"""Compare the compute model with published shape-resolved GEMM throughput:
python scripts/gemm_shapes.py"""

from podwright.estimate.kernel_checks import gemm_shape_errors

rows = gemm_shape_errors()
for r in rows:
    shape = f"{r['group']}x" if r["group"] > 1 else ""
    shape += f"{r['m']}x{r['n']}x{r['k']}"
    print(f"{r['chip']:15s} {r['precision']:5s} {shape:22s} measured {r['tflops']:7.1f} "
          f"predicted {r['predicted']:7.1f}  {100 * r['error']:+5.0f}%")  # fmt: skip
errs = sorted(abs(r["error"]) for r in rows)
print(
    f"{len(rows)} shapes: median |error| {100 * errs[len(errs) // 2]:.0f}%, max {100 * errs[-1]:.0f}%"
)
