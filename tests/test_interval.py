"""The prediction interval: the calibration band widened by the model's measured error."""

from pathlib import Path

import pytest

from podwright.estimate.interval import interval, model_error
from podwright.estimate.predict import predict
from podwright.specs.scenario import load_scenario


def test_interval_widens_the_band_by_the_recorded_error():
    e = model_error()["training"]
    got = interval({"training.mfu": [0.4, 0.5]}, "training")["training.mfu"]
    assert got == pytest.approx([0.4 / (1 + e), 0.5 / (1 - e)])
    # a measurement with |p / m - 1| = e at either end of the band sits on the interval's edge
    assert 0.4 / got[0] - 1 == pytest.approx(e) and 0.5 / got[1] - 1 == pytest.approx(-e)


def test_predict_reports_an_interval_around_every_banded_metric():
    example = Path(__file__).resolve().parents[1] / "examples" / "llama3-405b-h100x16384.yaml"
    out = predict(load_scenario(example))
    assert set(out["interval"]) == set(out["band"])
    for key, (lo, hi) in out["band"].items():
        ilo, ihi = out["interval"][key]
        assert ilo < lo <= hi < ihi


def test_disaggregated_serving_has_a_band_and_an_interval():
    from podwright.specs.scenario import parse_scenario

    s = parse_scenario(
        {
            "name": "pd", "system": "hgx-h100-ib", "chips": 32, "model": "llama-3.1-70b",
            "precision": "fp8",
            "inference": {"phase": "serve", "input_len": 2048, "output_len": 512, "batch": "auto",
                          "slo": {"tpot_ms": 50}, "parallel": {"tp": "auto", "pp": "auto"},
                          "disaggregated": {"prefill_chips": 8, "decode_chips": 24}},
        }
    )  # fmt: skip
    out = predict(s)
    body = out["inference"]
    for key in ("decode_tokens_per_s_per_chip", "tpot_ms", "ttft_ms"):
        lo, hi = out["band"][f"inference.{key}"]
        assert lo <= body[key] * (1 + 1e-9) and body[key] <= hi * (1 + 1e-9), key
        assert f"inference.{key}" in out["interval"]
