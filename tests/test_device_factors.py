"""Factors derived from GPU measurement files (podwright calibrate, estimate/device_factors)."""

import json

import pytest

from podwright.estimate.device_factors import attention_fit, derive
from podwright.specs.catalog import CATALOG, load_chip

H100 = CATALOG / "measurements" / "device" / "h100-sxm.json"


def test_derived_factors_are_the_ones_the_catalog_cites():
    run = json.loads(H100.read_text())
    got = {r["factor"]: r for r in derive(run, load_chip("h100-sxm"))}
    # the BF16 asymptote and HBM fraction in calibration/h100-sxm.yaml come from this file
    assert got["gemm_peak_fraction"]["value"] == pytest.approx(0.71, abs=0.01)
    assert got["hbm_bw_fraction"]["value"] == pytest.approx(0.88, abs=0.01)
    assert got["gemm_peak_fraction"]["catalog"] == pytest.approx(0.71)
    assert got["decode_attention_bw_fraction"]["value"] == pytest.approx(0.91, abs=0.01)
    assert got["decode_attention_bw_fraction"]["catalog"] == pytest.approx(0.91)
    assert got["(check) GEMM shape model |error|"]["value"] < 0.08


@pytest.mark.parametrize("chip,value,catalog", [("h100-sxm", 0.82, 0.87), ("h200-sxm", 0.67, 0.82)])
def test_grouped_gemm_bandwidth_is_derived_from_the_decode_sized_grouped_rows(chip, value, catalog):
    run = json.loads((CATALOG / "measurements" / "device" / f"{chip}.json").read_text())
    got = {r["factor"]: r for r in derive(run, load_chip(chip))}["grouped_gemm_bw_fraction"]
    assert got["value"] == pytest.approx(value, abs=0.01)
    # the catalog takes the serving engines' fused-MoE kernel, faster than torch._grouped_mm
    assert got["catalog"] == pytest.approx(catalog) and got["catalog"] > got["value"]
    # only the rows of at most 128 tokens per expert count: a run without them gives none
    big = [r for r in run["grouped_gemm"] if r["m"] > 128]
    assert "grouped_gemm_bw_fraction" not in {
        r["factor"] for r in derive({"grouped_gemm": big}, load_chip(chip))
    }


def test_attention_fit_recovers_a_known_law():
    a, h = 0.64, 900.0
    rows = [{"backend": "CUDNN_ATTENTION", "causal": True, "head_dim": 128, "seq": s,
             "fwd_bwd_tflops": a * s / (s + h) * 989.4} for s in (2048, 4096, 8192, 16384)]  # fmt: skip
    fit = attention_fit({"attention": rows}, load_chip("h100-sxm"))
    assert fit["asymptote"] == pytest.approx(a) and fit["seq_half"] == pytest.approx(h)
    assert fit["at_seq"] == 16384


def test_calibrate_cli(cli, tmp_path):
    r = cli("calibrate", str(H100), "--json")
    assert r.returncode == 0, r.stderr
    factors = {f["factor"] for f in json.loads(r.stdout)["factors"]}
    assert {"gemm_peak_fraction", "hbm_bw_fraction", "attention_peak_fraction"} <= factors
    bad = tmp_path / "x.json"
    bad.write_text("{}")
    r = cli("calibrate", str(bad))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "path" in r.stderr
