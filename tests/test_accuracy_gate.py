"""Accuracy regression gate (as AIConfigurator's): validate the public cases and fail when the
median or 90th-percentile absolute error rises above the recorded level."""

import json
from pathlib import Path

import pytest

from podwright.estimate.validate import load_cases, validate_cases

CASES = Path(__file__).resolve().parents[1].parent / "shared" / "validation" / "published.yaml"
GATE = json.loads((Path(__file__).with_name("accuracy_gate.json")).read_text())


@pytest.fixture(scope="module")
def result():
    if not CASES.is_file():
        pytest.skip(f"no validation cases at {CASES}")
    return validate_cases(load_cases(CASES))


def test_every_case_is_predicted(result):
    assert result["failed"] == GATE["failed"], [c for c in result["cases"] if c.get("failed")]


@pytest.mark.parametrize(
    "key",
    ["train_median_abs_error", "train_p90_abs_error", "inf_median_abs_error", "inf_p90_abs_error"],
)
def test_error_not_above_recorded_level(result, key):
    assert result[key] <= GATE[key] + 1e-9, f"{key} = {result[key]:.3f} > {GATE[key]}"


@pytest.mark.skipif(not CASES.is_file(), reason="no shared validation cases")
def test_validate_json_contract(cli):
    r = cli("validate", str(CASES), "--json", "--only", "train-palm")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert set(data["cases"][0]) >= {"id", "metric", "predicted", "measured", "error"}
    assert "median_abs_error" in data and "p90_abs_error" in data


COLLECTIVES = CASES.with_name("collectives.yaml")


@pytest.mark.skipif(not COLLECTIVES.is_file(), reason="no shared collective measurements")
def test_validate_routes_collectives_to_the_simulator(cli):
    r = cli("validate", str(COLLECTIVES), "--json", "--only", "coll-nccl")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["cases"]
    assert rows and all(row["metric"] == "bus_bandwidth_gbs" for row in rows)
    assert all(abs(row["error"]) < 0.15 for row in rows)


HELDOUT = Path(__file__).resolve().parents[1] / "examples" / "heldout"


@pytest.mark.parametrize("name", sorted(p.name for p in HELDOUT.glob("*.yaml")))
def test_heldout_cases_are_all_predicted(name):
    """Held-out measurements (not a gate on their errors: they are reported in README)."""
    res = validate_cases(load_cases(HELDOUT / name))
    assert res["failed"] == 0 and len(res["cases"]) >= 2


@pytest.mark.skipif(not CASES.is_file(), reason="no shared validation cases")
def test_validate_what_if_overrides(cli):
    """--set applies to the selected cases that have the section it names; --only takes
    several prefixes."""
    args = ("validate", str(CASES), "--json", "--only", "train-korthikanti-22b,inf-cloudmatrix")
    base = json.loads(cli(*args).stdout)["cases"]
    what_if = cli(*args, "--set", "training.attention=unfused")
    assert what_if.returncode == 0, what_if.stderr
    rows = {r["id"]: r for r in json.loads(what_if.stdout)["cases"]}
    before = {r["id"]: r for r in base}
    assert set(rows) == set(before) and len(rows) >= 4
    train = "train-korthikanti-22b-a100x8"
    assert rows[train]["predicted"] < before[train]["predicted"]  # unfused attention is slower
    assert all(rows[i]["predicted"] == before[i]["predicted"] for i in rows if i != train)


@pytest.mark.parametrize("kind,prefix", [("training", "train-"), ("inference", "inf-")])
def test_recorded_model_error_is_current(result, kind, prefix):
    """catalog/model_error.yaml (the prediction interval's width) is the 80th percentile of
    the current model's |error|: not below it (the interval would claim too much) and not far
    above it."""
    import numpy as np

    from podwright.estimate.interval import model_error

    errs = [abs(c["error"]) for c in result["cases"] if c["id"].startswith(prefix)]
    p80 = float(np.percentile(errs, 80, method="higher"))
    assert p80 - 0.005 <= model_error()[kind] <= p80 + 0.03, (kind, p80)


def test_interval_holds_most_published_measurements(result):
    assert result["interval_coverage"] >= 0.8
    assert result["band_coverage"] <= result["interval_coverage"]
