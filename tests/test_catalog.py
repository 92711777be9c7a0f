"""Every catalog file loads under the strict rules (every number sourced) and every system builds."""

import pytest

from podwright.specs import catalog_names, load_chip, load_part, load_system
from podwright.specs.catalog import load_model_config
from podwright.topology import build

SCENARIO_CHIPS = [
    "a100-sxm-80gb", "h100-sxm", "h800-sxm", "h200-sxm", "b200", "gb200", "gb300", "mi300x",
    "mi325x", "mi355x", "mi450x", "ascend-910b", "ascend-910c", "tpu-v4", "tpu-v5p", "tpu-v7",
    "trainium2",
]  # fmt: skip
SCENARIO_SYSTEMS = [
    "dgx-a100-ib", "hgx-h100-ib", "hgx-h800-roce", "hgx-h200-ib", "hgx-b200-ib", "gb200-nvl72",
    "gb300-nvl72", "cloudmatrix384", "mi300x-8-roce", "mi355x-8-roce", "helios-mi455x",
    "mi450x-if128", "tpu-v4-pod", "tpu-v5p-pod", "tpu-v7-pod", "trn2-ultraserver",
]  # fmt: skip
SCENARIO_MODELS = [
    "gpt3-175b", "llama-2-70b", "llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b", "mixtral-8x7b",
    "mixtral-8x22b", "deepseek-v3", "deepseek-r1", "qwen3-235b-a22b", "qwen3-30b-a3b",
    "gpt-oss-120b", "nemotron-4-340b",
]  # fmt: skip


def test_contract_names_are_shipped():
    assert set(SCENARIO_CHIPS) <= set(catalog_names("chips"))
    assert set(SCENARIO_SYSTEMS) <= set(catalog_names("systems"))
    assert set(SCENARIO_MODELS) <= set(catalog_names("models"))


@pytest.mark.parametrize("name", catalog_names("chips"))
def test_chip_loads_with_sources(name):
    chip = load_chip(name)
    assert chip.name == name
    assert chip.peak_tflops and all(v > 0 for v in chip.peak_tflops.values())
    for key in ("peak_tflops", "hbm_gb", "hbm_tbps", "scale_up"):
        assert chip.sources.get(key), f"{name}: {key} has no source"


@pytest.mark.parametrize("name", catalog_names("parts"))
def test_part_loads(name):
    assert load_part(name).name == name


@pytest.mark.parametrize("name", catalog_names("systems"))
def test_system_builds_one_domain(name):
    fabric = build(load_system(name))
    assert fabric.chips == load_system(name).scale_up.domain
    bom = fabric.bom()
    assert bom["totals"]["chips"] == fabric.chips
    assert bom["totals"]["power_kw"] > 0
    assert fabric.levels, "a system needs at least one fabric level"


@pytest.mark.parametrize("name", catalog_names("models"))
def test_model_config_has_source(name):
    cfg = load_model_config(name)
    assert cfg["hidden_size"] > 0 and cfg["num_hidden_layers"] > 0
    assert cfg.get("_source")


def test_every_calibration_factor_has_a_value_band_and_source():
    """Every factor and constant under catalog/calibration/ states its value, its uncertainty
    and its source (and an attention factor's `at_seq`, where given, is a length)."""
    from podwright.specs.catalog import CATALOG, catalog_names, load_calibration, read_yaml

    entries = []
    for chip in catalog_names("calibration"):
        if chip == "defaults":
            consts = read_yaml(CATALOG / "calibration" / "defaults.yaml", "calibration")
            entries += [(chip, k, v) for k, v in consts["constants"].items()]
        else:
            entries += [(chip, k, v) for k, v in load_calibration(chip).items()]
    assert len(entries) > 40
    for chip, name, f in entries:
        where = f"{chip}: {name}"
        assert float(f["value"]) > 0, where
        assert float(f["uncertainty"]) >= 0, where
        assert len(str(f.get("source", ""))) > 20, where
        if "at_seq" in f:
            assert name.startswith("attention") and float(f["at_seq"]) > 0, where
        if "borrowed_from" in f:  # a sibling's measurement, repeated with its source
            lender = load_calibration(f["borrowed_from"])[name]
            assert "borrowed_from" not in lender and f["value"] == lender["value"], where


def test_fallback_median_counts_measurements_only():
    """A chip without a factor takes the median of the chips that measured it; a borrowed
    factor (TPU v4/v5p repeat TPU v7's GEMM sweep) is not a measurement and stays out."""
    import statistics

    from podwright.estimate.calibration import _measured, chip_factors
    from podwright.specs.catalog import catalog_names, load_calibration

    measured = []
    for chip in catalog_names("calibration"):
        f = {} if chip == "defaults" else load_calibration(chip).get("gemm_peak_fraction")
        if f and "borrowed_from" not in f:
            measured.append(float(f["value"]))
    assert chip_factors("gb300")["gemm_peak_fraction"].value == statistics.median(measured)
    pool = _measured()["gemm_peak_fraction"]
    assert "tpu-v7" in pool and "tpu-v5p" not in pool and "tpu-v4" not in pool
    assert chip_factors("tpu-v5p")["gemm_peak_fraction"].value == 0.83


def test_allreduce_ramps_are_sourced_and_name_catalog_chips():
    import yaml

    from podwright.specs.catalog import CATALOG, catalog_names

    data = yaml.safe_load((CATALOG / "measurements" / "allreduce_ramp.yaml").read_text())
    chips = set(catalog_names("chips"))
    claimed: list[str] = []
    for name, curve in data["curves"].items():
        assert curve["source"].strip(), name
        assert set(curve["chips"]) <= chips, name
        assert all(b > 0 for b in curve["busbw_gbs"].values()), name
        claimed += curve["chips"]
    assert len(claimed) == len(set(claimed)), "a chip has two ramps"
