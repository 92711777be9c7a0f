"""Calibration factors derived from a device measurement file (benchmarks/gpu_calibration.py).

The derivations behind the factors that cite catalog/measurements/device/ — written as code so
that anyone who runs the script on their own GPU gets the same numbers the same way:
- gemm_peak_fraction / gemm_fp8_peak_fraction: the sustained 16384^3 GEMM (median TFLOP/s
  over its run, board at its power limit) / dense peak; the large-shape grid's median beside it;
- hbm_bw_fraction: weight-streaming GEMMs (m <= 16, n x k >= 8192^2; weights cycled past L2),
  median bytes moved / time / HBM peak;
- attention_peak_fraction: cuDNN fused attention, causal, forward + backward, fitted to
  eff(s) = A s / (s + h) over the sequence lengths measured (1/eff linear in 1/s), reported at
  the longest measured length as `at_seq`;
- attention_fa2_peak_fraction: FlashAttention-2 (SDPA flash backend) at the Azure harness shape;
- decode_attention_bw_fraction: the fastest backend's KV-cache bandwidth in the GQA decode rows
  (one query token per sequence), median over the rows with at least 1 GiB of KV / HBM peak;
- grouped_gemm_bw_fraction: grouped (MoE expert) GEMMs of at most GROUPED_STREAMING_M rows per
  expert, the decode regime, where the kernel streams the experts' weights: median bytes moved
  (inputs and output) / time / HBM peak (the torch._grouped_mm kernel; the catalog's H100 and
  H200 values are the serving engines' fused-MoE kernels, which stream faster);
- the GEMM shape model's error on every GEMM row of the file, with the catalog's factors.
"""

from __future__ import annotations

import numpy as np

from podwright.estimate.calibration import chip_factors
from podwright.estimate.compute import ComputeModel
from podwright.specs import Chip


def gemm_rows(run: dict) -> list[dict]:
    """Dense (BF16/FP8) and grouped (BF16) GEMM rows of a device file, in one format."""
    dense = [r | {"precision": r["dtype"], "group": 1} for r in run.get("gemm", [])]
    grouped = [r | {"precision": "bf16"} for r in run.get("grouped_gemm", [])]
    return [r for r in dense + grouped if "tflops" in r]


def model_tflops(chip: Chip, row: dict) -> float:
    """TFLOP/s the GEMM shape model gives one measured row (precision, m, n, k, group); a
    grouped row is an MoE expert kernel (torch._grouped_mm, DeepGEMM's grouped GEMMs)."""
    comp = ComputeModel.of(chip, row["precision"])
    m, n, k, g = (float(row.get(x, 1)) for x in ("m", "n", "k", "group"))
    t = float(comp.gemm_one(np.array([m]), np.array([n]), np.array([k]), g, float(g > 1))[0])
    return 2.0 * m * n * k * g / t / 1e12


def shape_model_errors(run: dict, chip: Chip) -> list[float]:
    """predicted / measured - 1 of the GEMM shape model on every GEMM row of the file."""
    return [model_tflops(chip, r) / r["tflops"] - 1.0 for r in gemm_rows(run)]


def _gemm(run: dict, chip: Chip, dtype: str, key: str) -> dict | None:
    peak = chip.peak(dtype)
    sustained = [r["tflops"] for r in run.get("sustained", []) if r.get("dtype", "bf16") == dtype]
    grid = [r["tflops"] for r in run.get("gemm", []) if r["dtype"] == dtype and "tflops" in r
            and min(r["m"], r["n"], r["k"]) >= 4096]  # fmt: skip
    if not sustained and not grid:
        return None
    value = np.median(sustained if sustained else grid) / peak
    how = (f"sustained 16384^3 GEMM, median of {len(sustained)} samples" if sustained
           else f"median of {len(grid)} large-grid GEMMs")  # fmt: skip
    extra = (f"; large-grid median {np.median(grid) / peak:.3f} ({len(grid)} shapes)"
             if grid and sustained else "")  # fmt: skip
    return {"factor": key, "value": float(value), "how": f"{how} / {peak:g} TF{extra}"}


def _hbm(run: dict, chip: Chip) -> dict | None:
    bws = [(r["m"] * r["k"] + r["k"] * r["n"] + r["m"] * r["n"]) * 2 / (r["us"] * 1e-6) / 1e12
           for r in run.get("gemm", []) if r["dtype"] == "bf16" and "us" in r and r["m"] <= 16
           and r["n"] * r["k"] >= 8192 * 8192]  # fmt: skip
    if not bws:
        return None
    value = float(np.median(bws) / chip.hbm_tbps)
    return {"factor": "hbm_bw_fraction", "value": value,
            "how": f"median of {len(bws)} weight-streaming BF16 GEMMs (m <= 16) / "
                   f"{chip.hbm_tbps:g} TB/s"}  # fmt: skip


def attention_fit(run: dict, chip: Chip, backend: str = "CUDNN_ATTENTION") -> dict | None:
    """A and h of eff(s) = A s / (s + h) over the causal forward + backward rows of a backend
    (head dim 128): 1/eff = 1/A + (h/A)(1/s), least squares."""
    rows = [r for r in run.get("attention", []) if r.get("backend") == backend and r["causal"]
            and r["head_dim"] == 128 and "fwd_bwd_tflops" in r]  # fmt: skip
    if len(rows) < 2:
        return None
    seq = np.array([r["seq"] for r in rows], dtype=float)
    eff = np.array([r["fwd_bwd_tflops"] for r in rows]) / chip.peak("bf16")
    slope, intercept = np.polyfit(1.0 / seq, 1.0 / eff, 1)
    a, h = 1.0 / intercept, slope / intercept
    at = float(seq.max())
    return {"factor": "attention_peak_fraction", "value": float(a * at / (at + h)),
            "at_seq": at, "asymptote": float(a), "seq_half": float(h),
            "how": f"{backend} causal fwd+bwd over s = {sorted(int(s) for s in seq)}: "
                   f"A = {a:.3f}, h = {h:.0f} tokens; value at s = {at:g}"}  # fmt: skip


def _fa2(run: dict, chip: Chip) -> dict | None:
    rows = [r for r in run.get("attention", []) if r.get("backend") == "FLASH_ATTENTION"
            and not r["causal"] and r["seq"] == 8192 and "fwd_bwd_tflops" in r]  # fmt: skip
    if not rows:
        return None
    return {"factor": "attention_fa2_peak_fraction", "at_seq": 8192.0,
            "value": float(rows[0]["fwd_bwd_tflops"] / chip.peak("bf16")),
            "how": "SDPA flash backend (FlashAttention-2), batch 2, seq 8192, non-causal"}  # fmt: skip


def _decode(run: dict, chip: Chip) -> dict | None:
    best: dict[tuple, float] = {}
    for r in run.get("decode_attention", []):
        if "tbps" in r and r.get("kv_bytes", 0) >= 2**30:
            key = (r["batch"], r["kv_len"])
            best[key] = max(best.get(key, 0.0), r["tbps"])
    if not best:
        return None
    return {"factor": "decode_attention_bw_fraction",
            "value": float(np.median(list(best.values())) / chip.hbm_tbps),
            "how": f"fastest backend per shape, median over {len(best)} GQA decode shapes with "
                   f">= 1 GiB of KV cache / {chip.hbm_tbps:g} TB/s"}  # fmt: skip


# rows per expert up to which a grouped GEMM streams its weights (below the ridge point of the
# Hopper parts measured: 122 FLOP per byte at m = 128 against ridges of 170-240)
GROUPED_STREAMING_M = 128


def _grouped(run: dict, chip: Chip) -> dict | None:
    bws = [r["group"] * (r["m"] * r["k"] + r["k"] * r["n"] + r["m"] * r["n"]) * 2
           / (r["us"] * 1e-6) / 1e12
           for r in run.get("grouped_gemm", []) if "us" in r and r["m"] <= GROUPED_STREAMING_M]  # fmt: skip
    if not bws:
        return None
    return {"factor": "grouped_gemm_bw_fraction", "value": float(np.median(bws) / chip.hbm_tbps),
            "how": f"median of {len(bws)} grouped BF16 GEMMs of <= {GROUPED_STREAMING_M} rows per "
                   f"expert / {chip.hbm_tbps:g} TB/s"}  # fmt: skip


def derive(run: dict, chip: Chip) -> list[dict]:
    """Each factor the file supports: derived value, how, and the catalog's current value."""
    found = [
        _gemm(run, chip, "bf16", "gemm_peak_fraction"),
        _gemm(run, chip, "fp8", "gemm_fp8_peak_fraction") if chip.has("fp8") else None,
        _hbm(run, chip),
        attention_fit(run, chip),
        _fa2(run, chip),
        _decode(run, chip),
        _grouped(run, chip),
    ]
    current = chip_factors(chip.name)
    out = []
    for f in filter(None, found):
        now = current.get(f["factor"])
        out.append(f | {"catalog": now.value if now else None,
                        "catalog_at_seq": now.at_seq if now else 0.0})  # fmt: skip
    errs = np.abs(shape_model_errors(run, chip))
    if len(errs):
        out.append({"factor": "(check) GEMM shape model |error|", "value": float(np.median(errs)),
                    "how": f"median over {len(errs)} GEMM rows with the catalog's factors; p90 "
                           f"{np.percentile(errs, 90):.3f}", "catalog": None})  # fmt: skip
    return out
