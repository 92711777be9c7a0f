"""The compute model against kernel measurements (catalog/measurements/): GEMMs of many shapes,
unfused ("standard") attention, serving engines' fused-MoE kernels, and whole transformer layers
timed on lent GPUs."""

from __future__ import annotations

import json

import numpy as np

from podwright.estimate.compute import ComputeModel
from podwright.estimate.device_factors import gemm_rows, model_tflops
from podwright.estimate.training import attention_times
from podwright.specs.catalog import CATALOG, load_chip, read_yaml
from podwright.workload.operations import ELEMENTWISE_KERNELS_PER_MOE_LAYER, Gemm, Work
from podwright.workload.training import unfused_core


def _rows(name: str) -> list[dict]:
    return read_yaml(CATALOG / "measurements" / f"{name}.yaml", "measurements")["measurements"]


def device_gemm_rows() -> list[dict]:
    """GEMM rows measured by benchmarks/gpu_calibration.py on lent GPUs (measurements/device/):
    dense BF16/FP8 and grouped BF16, in the published rows' format."""
    rows = []
    for path in sorted((CATALOG / "measurements" / "device").glob("*.json")):
        run = json.loads(path.read_text())
        source = f"measurements/device/{path.name} ({run['device']}, torch {run['torch']})"
        rows += [
            {"chip": run["chip"], "source": source}
            | {x: r[x] for x in ("precision", "m", "n", "k", "group", "tflops")}
            for r in gemm_rows(run)
        ]
    return rows


def gemm_shape_errors(device: bool = True) -> list[dict]:
    """Model vs measured TFLOP/s for every published GEMM row (and the device rows)."""
    out = []
    for row in _rows("gemm_shapes") + (device_gemm_rows() if device else []):
        predicted = model_tflops(load_chip(row["chip"]), row)
        out.append(row | {"group": float(row.get("group", 1)), "predicted": predicted,
                          "error": predicted / row["tflops"] - 1.0})  # fmt: skip
    return out


def unfused_attention_errors() -> list[dict]:
    """One forward + backward of the unfused core at each published configuration, in the
    benchmark's FLOP convention (3.5 x 4 x b x s^2 x d x heads, non-causal)."""
    out = []
    for row in _rows("attention_unfused"):
        comp = ComputeModel.of(load_chip(row["chip"]), "bf16")
        b, s, d = row["batch"], row["seq"], row["head_dim"]
        heads = row["width"] // d
        work = unfused_core(Work(), b * heads, np.array([float(s)]), s, d, d, 1.0)
        fwd, bwd = attention_times(comp, work)
        flops = 3.5 * 4.0 * b * s * s * d * heads
        predicted = flops / float(fwd[0] + bwd[0]) / 1e12
        out.append(row | {"predicted": predicted, "error": predicted / row["tflops"] - 1.0})
    return out


def moe_kernel_errors() -> list[dict]:
    """One MoE layer's fused kernels (measurements/moe_kernels.yaml) against the model's pricing
    of the same work in decode/prefill (workload/inference.py): the up (gate + up) and down
    expert GEMMs over the experts the batch reaches, as MoE expert kernels, plus the MoE layer's
    routing/permutation kernels and the activation at the kernel floor each."""
    data = read_yaml(CATALOG / "measurements" / "moe_kernels.yaml", "measurements")
    out = []
    for row in data["rows"]:
        comp = ComputeModel.of(load_chip(row["chip"]), row["precision"])
        e, top, n, k = (float(row[x]) for x in ("experts", "top_k", "n", "k"))
        for tokens, us in row["us"].items():
            hit = e * (1.0 - (1.0 - top / e) ** tokens)
            m = np.array([tokens * top / hit])
            one = np.array([hit])
            gemms = [Gemm("up", m, np.array([2.0 * n]), np.array([k]), one, "expert", group=one),
                     Gemm("down", m, np.array([k]), np.array([n]), one, "expert", group=one)]  # fmt: skip
            t = sum(float(g[0]) for g in comp.gemms(gemms))
            t += (ELEMENTWISE_KERNELS_PER_MOE_LAYER + 1) * comp.floor
            out.append({"chip": row["chip"], "precision": row["precision"], "source": row["source"],
                        "tokens": int(tokens), "measured_us": us, "predicted_us": t * 1e6,
                        "error": t * 1e6 / us - 1.0})  # fmt: skip
    return out


def layer_errors() -> list[dict]:
    """Per-layer forward + backward measured on a GPU (measurements/layers/, written by
    benchmarks/gpu_layer_check.py) against podwright's one-chip training prediction of the same
    layers (tp = pp = dp = ep = 1, no recompute): whole layer, its dense GEMMs, its expert GEMMs
    (MoE layers), its attention (ms)."""
    from podwright.estimate.predict import predict
    from podwright.specs.scenario import parse_scenario

    out = []
    for path in sorted((CATALOG / "measurements" / "layers").glob("*.json")):
        run = json.loads(path.read_text())
        for model, rows in run["models"].items():
            cfg = json.loads((CATALOG / "models" / f"{model}.json").read_text())
            for r in rows:
                scenario = {
                    "name": "layer-check", "system": run["system"], "chips": 1,
                    "model": cfg | {"num_hidden_layers": r["layers"]}, "precision": "bf16",
                    "training": {"seq_len": r["seq"], "global_batch": r["micro_batch"],
                                 "micro_batch": r["micro_batch"], "zero": 0, "recompute": "none",
                                 "parallel": {"tp": 1, "pp": 1, "dp": 1, "cp": 1}},
                }  # fmt: skip
                ex = predict(parse_scenario(scenario), explain=True)["explain"]["time_by_class_s"]
                p = {k: v / r["layers"] * 1e3 for k, v in ex.items()}
                experts = p.get("gemm_expert", 0.0)
                pred = {"layer": p["gemm_dense"] + experts + p["attention"] + p["elementwise"],
                        "gemms": p["gemm_dense"], "experts": experts,
                        "attention": p["attention"]}  # fmt: skip
                meas = {"layer": r.get("layer_fwd_bwd_ms_per_layer"),
                        "gemms": r.get("gemms_fwd_bwd_ms_per_layer"),
                        "experts": r.get("experts_fwd_bwd_ms_per_layer"),
                        "attention": r.get("attention_fwd_bwd_ms_per_layer")}  # fmt: skip
                out.append({"file": path.name, "device": run["device"], "model": model,
                            "micro_batch": r["micro_batch"], "seq": r["seq"], "measured": meas,
                            "predicted": pred,
                            "error": {k: pred[k] / v - 1.0 for k, v in meas.items() if v}})  # fmt: skip
    return out
