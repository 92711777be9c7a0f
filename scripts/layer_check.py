"""Compare layer timings measured on a GPU (benchmarks/gpu_layer_check.py, files in
catalog/measurements/layers/) with podwright's prediction of the same layers: whole layer
forward + backward, its GEMMs alone, its attention alone (ms per layer).

Run: python scripts/layer_check.py"""

from podwright.estimate.kernel_checks import layer_errors

rows = layer_errors()
print("ms per layer, forward + backward, measured vs predicted: whole layer | dense GEMMs | "
      "attention (| expert GEMMs, MoE layers)")  # fmt: skip
for r in rows:
    cells = [
        f"{r['measured'][k]:7.2f} vs {r['predicted'][k]:7.2f} {100 * r['error'][k]:+4.0f}%"
        for k in ("layer", "gemms", "attention", "experts")
        if k in r["error"]
    ]
    print(f"{r['device'][:12]:12s} {r['model']:14s} {r['micro_batch']} x {r['seq']:<5d} | "
          + " | ".join(cells))  # fmt: skip
for k in ("layer", "gemms", "attention", "experts"):
    errs = sorted(abs(r["error"][k]) for r in rows if k in r["error"])
    if not errs:
        continue
    print(f"{k}: {len(errs)} rows, median |error| {100 * errs[len(errs) // 2]:.0f}%, "
          f"max {100 * errs[-1]:.0f}%")  # fmt: skip
