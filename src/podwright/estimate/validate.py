"""Validation: predict each published case and report the error per case and overall."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from podwright.errors import InputError
from podwright.estimate.predict import predict
from podwright.specs.catalog import read_yaml
from podwright.specs.scenario import parse_scenario


def lookup(obj: dict, dotted: str):
    cur = obj
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def validation_files(path: str | Path) -> tuple[list[Path], list[Path], list[Path]]:
    """(files of scenario cases, files of collective measurement records, files of serving
    load points) at `path`."""
    path = Path(path)
    files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise InputError("path", f"no validation cases at '{path}'")
    cases, records, curves = [], [], []
    for f in files:
        data = read_yaml(f, "path") or {}
        if data.get("cases"):
            cases.append(f)
        elif data.get("records"):
            records.append(f)
        elif data.get("points"):
            curves.append(f)
    if not cases and not records and not curves:
        raise InputError("path", f"'{path}' holds no cases (a list under 'cases:' with scenarios)")
    return cases, records, curves


def load_cases(path: str | Path) -> list[dict]:
    files, _, _ = validation_files(path)
    cases = []
    for f in files:
        for c in (read_yaml(f, "path") or {}).get("cases") or []:
            if isinstance(c, dict) and "scenario" in c:
                cases.append(c)
    return cases


def validate_cases(cases: list[dict], progress=None) -> dict:
    rows = []
    for c in cases:
        cid = str(c.get("id", "?"))
        measured = c.get("measured") or {}
        try:
            pred = predict(parse_scenario(c["scenario"], cid))
            error_msg = None
        except InputError as e:
            pred, error_msg = None, str(e)
        for metric, value in measured.items():
            row = {
                "id": cid,
                "metric": metric,
                "measured": float(value),
                "predicted": None,
                "error": None,
            }
            if pred is None:
                row["failed"] = error_msg
            else:
                p = lookup(pred, metric)
                if p is None:
                    row["failed"] = f"prediction has no {metric}"
                else:
                    row["predicted"] = float(p)
                    row["error"] = float(p) / float(value) - 1.0
                    row["fits"] = pred.get("fits", True)
                    band = (pred.get("band") or {}).get(metric)
                    if band:  # the prediction's low/high from the factors' uncertainty
                        row["band"] = [float(band[0]), float(band[1])]
                        row["in_band"] = bool(band[0] <= float(value) <= band[1])
                    span = (pred.get("interval") or {}).get(metric)
                    if span:
                        row["in_interval"] = bool(span[0] <= float(value) <= span[1])
            rows.append(row)
        if progress:
            progress(cid)
    return summarise(rows)


def summarise(rows: list[dict]) -> dict:
    errs = np.array([abs(r["error"]) if r["error"] is not None else np.inf for r in rows])
    finite = errs[np.isfinite(errs)]
    out = {
        "cases": rows,
        "median_abs_error": float(np.median(errs)) if len(errs) else None,
        "p90_abs_error": float(np.percentile(errs, 90, method="higher")) if len(errs) else None,
        "failed": int(np.sum(~np.isfinite(errs))),
        "median_abs_error_predicted": float(np.median(finite)) if len(finite) else None,
    }
    banded = [r["in_band"] for r in rows if "in_band" in r]
    if banded:  # how often the measurement falls inside the predicted band
        out["band_coverage"] = float(np.mean(banded))
    spans = [r["in_interval"] for r in rows if "in_interval" in r]
    if spans:
        out["interval_coverage"] = float(np.mean(spans))
    for prefix in ("train-", "inf-"):
        sel = np.array([r["id"].startswith(prefix) for r in rows])
        if sel.any():
            e = errs[sel]
            out[f"{prefix.rstrip('-')}_median_abs_error"] = float(np.median(e))
            out[f"{prefix.rstrip('-')}_p90_abs_error"] = float(
                np.percentile(e, 90, method="higher")
            )
    return out
