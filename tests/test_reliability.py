"""Failure rates from the BoM, Young's checkpoint interval, goodput."""

import math

import pytest

from podwright.reliability.goodput import counts, failure_rates, goodput
from podwright.topology import build


def test_counts_follow_the_bom():
    f = build("cloudmatrix384")
    c = counts(f)
    assert c["accelerator"] == 384 and c["node"] == 48
    assert c["optical_module"] == 6912


def test_llama3_scale_interruptions():
    """16,384 H100: Meta reports 419 unexpected interruptions in 54 days (7.8 a day); the
    catalog's rates come from that table plus optics/switch rates of other fleets."""
    per_day = failure_rates(build("hgx-h100-ib", 16384))["per_hour"] * 24
    assert per_day == pytest.approx(419 / 54, rel=0.15)


def test_young_interval_and_goodput():
    f = build("hgx-h100-ib", 4096)
    g = goodput(f, checkpoint_bytes=2e12, write_gbps_per_node=100, recovery_s=300)
    m = g["mtbf_hours"] * 3600
    c = 2e12 / (100e9 / 8 * f.nodes)
    assert g["checkpoint_s"] == pytest.approx(c)
    assert g["checkpoint_interval_s"] == pytest.approx(math.sqrt(2 * c * m))
    tau = g["checkpoint_interval_s"]
    assert g["goodput"] == pytest.approx(1 - c / tau - (tau / 2 + 300) / m)


def test_goodput_falls_with_scale():
    small = goodput(build("hgx-h100-ib", 1024), 1e12)["goodput"]
    big = goodput(build("hgx-h100-ib", 32768), 1e12)["goodput"]
    assert big < small < 1


def test_prediction_carries_reliability(cli):
    r = cli("predict", "examples/llama3-405b-h100x16384.yaml", "--json")
    import json

    p = json.loads(r.stdout)
    rel = p["reliability"]
    assert 0 < rel["goodput"] < 1
    assert rel["effective_tokens_per_s_per_chip"] < p["training"]["tokens_per_s_per_chip"]
    lo, hi = p["band"]["reliability.goodput"]
    assert lo <= rel["goodput"] <= hi
