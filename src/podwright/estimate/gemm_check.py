"""The compute model against published shape-resolved GEMM measurements
(catalog/measurements/gemm_shapes.yaml)."""

from __future__ import annotations

import numpy as np

from podwright.estimate.compute import ComputeModel
from podwright.specs.catalog import CATALOG, load_chip, read_yaml


def gemm_shape_errors() -> list[dict]:
    data = read_yaml(CATALOG / "measurements" / "gemm_shapes.yaml", "measurements")
    out = []
    for row in data["measurements"]:
        comp = ComputeModel.of(load_chip(row["chip"]), row["precision"])
        group = float(row.get("group", 1))
        m, n, k = (float(row[x]) for x in "mnk")
        t = float(comp.gemm_one(np.array([m]), np.array([n]), np.array([k]), group)[0])
        predicted = 2.0 * m * n * k * group / t / 1e12
        out.append(row | {"group": group, "predicted": predicted,
                          "error": predicted / row["tflops"] - 1.0})  # fmt: skip
    return out
