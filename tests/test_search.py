"""Layout search: auto keys enumerated, rejected counts, Pareto front, and on the public
training cases a layout at least as fast as the published one."""

import copy
import json
from pathlib import Path

import pytest
import yaml

from podwright.estimate.predict import predict
from podwright.search.layouts import pareto, search
from podwright.specs.scenario import parse_scenario

CASES = Path(__file__).resolve().parents[1].parent / "shared" / "validation" / "published.yaml"


def test_pareto_front():
    import numpy as np

    x = np.array([1.0, 2.0, 3.0, 2.5, 0.5])
    y = np.array([1.0, 2.0, 5.0, 6.0, 0.2])
    assert sorted(pareto(x, y).tolist()) == [0, 1, 2, 4]


def test_training_search_counts_rejections():
    s = parse_scenario(
        {"system": "hgx-h100-ib", "chips": 64, "model": "llama-3.1-8b",
         "training": {"seq_len": 4096, "global_batch": 256, "micro_batch": "auto",
                      "parallel": {"tp": "auto", "pp": "auto", "cp": 1, "vpp": "auto"},
                      "zero": "auto", "recompute": "auto"}}
    )  # fmt: skip
    r = search(s, top=3)
    assert len(r["results"]) == 3
    tps = [x["training"]["tokens_per_s_per_chip"] for x in r["results"]]
    assert tps == sorted(tps, reverse=True)
    assert r["rejected"] and all(v > 0 for v in r["rejected"].values())


def auto_inference(chips: int, phase: str, input_len: int):
    """Llama-3.1-70B FP8 on H100 with instance size, TP and attention DP left to the search."""
    return parse_scenario(
        {"system": "hgx-h100-ib", "chips": chips, "model": "llama-3.1-70b", "precision": "fp8",
         "inference": {"phase": phase, "input_len": input_len, "output_len": 512,
                       "parallel": {"tp": "auto", "pp": 1, "attn_dp": "auto"},
                       "instance_chips": "auto", "slo": {"tpot_ms": 50}}}
    )  # fmt: skip


def test_inference_search_pareto():
    s = auto_inference(8, "decode", 2048)
    r = search(s, top=2)
    assert r["results"] and r["pareto"]
    assert all(p["latency_ms"] <= 50 for p in r["pareto"])


AUTO_KEYS = ("tp", "pp", "cp", "vpp")


def _auto(case):
    s = copy.deepcopy(case["scenario"])
    par = s["training"].setdefault("parallel", {})
    for k in AUTO_KEYS:
        par[k] = "auto"
    par.pop("dp", None)
    return s


@pytest.mark.skipif(not CASES.is_file(), reason="no shared validation cases")
@pytest.mark.parametrize(
    "case_id",
    ["train-mcore-h100-weak-70b-x768", "train-llama3-405b-h100x8192-seq8192",
     "train-mbridge-h100-qwen3-235b-x256", "train-korthikanti-530b-a100x280"],
)  # fmt: skip
def test_search_beats_or_matches_published_layout(case_id):
    case = next(c for c in yaml.safe_load(CASES.read_text())["cases"] if c["id"] == case_id)
    published = predict(parse_scenario(case["scenario"]))
    found = search(parse_scenario(_auto(case)), top=1)["results"][0]
    assert (
        found["training"]["tokens_per_s_per_chip"]
        >= published["training"]["tokens_per_s_per_chip"] * (1 - 1e-9)
        or not published["fits"]
    )


def decode_search_file(tmp_path):
    """A decode scenario of Llama-3.1-8B on 8 H100 with its layout left to the search."""
    s = tmp_path / "s.yaml"
    s.write_text(
        yaml.safe_dump(
            {"system": "hgx-h100-ib", "chips": 8, "model": "llama-3.1-8b", "precision": "fp8",
             "inference": {"phase": "decode", "parallel": {"tp": "auto", "attn_dp": "auto"},
                           "instance_chips": "auto"}}
        )
    )  # fmt: skip
    return s


def test_pareto_figure(cli, tmp_path):
    pytest.importorskip("matplotlib")
    s = decode_search_file(tmp_path)
    fig = tmp_path / "front.png"
    r = cli("search", str(s), "-o", str(fig))
    assert r.returncode == 0, r.stderr
    assert fig.stat().st_size > 1000


def test_serve_search_reports_the_prefill_decode_split():
    s = auto_inference(16, "serve", 4096)
    split = search(s, top=1)["disaggregated"]
    assert split["prefill_to_decode_chips"] > 0
    P, D = split["prefill_tokens_per_s_per_chip"], split["decode_tokens_per_s_per_chip"]
    assert split["output_tokens_per_s_per_chip"] == pytest.approx(512 / (4096 / P + 512 / D))


def test_search_takes_what_if_overrides(cli, tmp_path):
    """`search --set` applies what-if fields before the layouts are enumerated."""
    s = decode_search_file(tmp_path)
    base = json.loads(cli("search", str(s), "--json", "--top", "1").stdout)
    r = cli("search", str(s), "--json", "--top", "1", "--set", "inference.input_len=512")
    assert r.returncode == 0, r.stderr
    short = json.loads(r.stdout)
    rate = "decode_tokens_per_s_per_chip"
    assert short["results"][0]["inference"][rate] > base["results"][0]["inference"][rate]
    bad = cli("search", str(s), "--set", "inference.input_len=-1")
    assert bad.returncode == 2 and "input_len" in bad.stderr


def test_serving_comparison_flags_unpriced_capex_and_skips_what_cannot_serve(cli):
    """`compare --model`: each system's balanced prefill/decode deployment; a system whose chip
    has no rate at the precision is reported as not compared (the others still are); $/Mtoken
    of a system with unpriced parts is a lower bound, so no $/Mtoken ratio is formed with it;
    every system skipped exits 2 with one line."""
    from podwright.economics.cost import CostInputs, hourly
    from podwright.search.compare import compare_serving
    from podwright.topology import build

    res = compare_serving(["gb200-nvl72", "hgx-h100-ib", "mi450x-if128"], "llama-3.1-70b",
                          2048, 256, 50.0)  # fmt: skip
    assert list(res["systems"]) == ["gb200-nvl72", "hgx-h100-ib"]
    assert "fp8" in res["skipped"]["mi450x-if128"]
    gb, h100 = res["systems"]["gb200-nvl72"], res["systems"]["hgx-h100-ib"]
    unpriced = build("hgx-h100-ib", 32).unpriced_parts()
    assert h100["unpriced_parts"] == unpriced and "rack-42u-air" in unpriced
    assert not h100["capex_complete"] and res["ratio"]["hgx-h100-ib"]["usd_per_mtoken"] is None
    assert res["ratio"]["hgx-h100-ib"]["output_tokens_per_s_per_chip"] == pytest.approx(
        h100["output_tokens_per_s_per_chip"] / gb["output_tokens_per_s_per_chip"]
    )
    assert gb["tpot_ms"] <= 50.0 and h100["tpot_ms"] <= 50.0
    for row in (gb, h100):  # the calibration band of the balanced deployment holds its value
        lo, hi = row["band"]["output_tokens_per_s_per_chip"]
        assert lo < row["output_tokens_per_s_per_chip"] < hi
    # a node price covers the parts inside the node; an unpriced part adds nothing to capex
    # an NVL72 rack price pays for the NVLink switch trays, the copper spine and the rack
    nvl = build("gb200-nvl72")
    assert nvl.unpriced_parts() == [] and gb["capex_complete"]
    assert {i.part for i in nvl.items if i.note == "in the node price"} >= {"nvswitch-gen4"}
    # ... and its liquid cooling (not counted twice); an air-cooled server's fans are in its price
    for system, cooling in (("gb200-nvl72", "liquid-dlc"), ("hgx-h100-ib", "air")):
        row = next(i for i in build(system, 72).items if i.category == "cooling")
        assert row.part == cooling and row.priced and row.note == "in the node price"
    assert "air" in build("hgx-b200-ib", 8).unpriced_parts()  # no node price: nothing covers it
    fab = build("dgx-a100-ib", 8)
    assert "a100-sxm-80gb" not in fab.unpriced_parts() and fab.totals()["capex_usd"] == 199000
    cost = hourly(fab, CostInputs.of())
    assert cost["capex_complete"] is False and cost["unpriced_parts"] == fab.unpriced_parts()

    r = cli("compare", "hgx-h100-ib", "mi450x-if128", "--model", "llama-3.1-70b",
            "--input-len", "2048", "--output-len", "256")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "mi450x-if128: not compared" in r.stdout and "≥" in r.stdout
    r = cli("compare", "mi450x-if128", "mi450x-if128", "--model", "llama-3.1-70b")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "fp8" in r.stderr


def test_training_comparison_is_each_systems_searched_best(cli):
    """`compare --model M --train`: on the same chips and global batch, each system's row is the
    fastest layout `search` finds for that scenario; ratios are to the first system; a chip
    with no rate at the precision is listed as not compared; --train needs --model."""
    from podwright.search.compare import compare_training

    res = compare_training(["gb200-nvl72", "hgx-h100-ib", "mi450x-if128"], "llama-3.1-8b", 64,
                           4096, 256)  # fmt: skip
    assert list(res["systems"]) == ["gb200-nvl72", "hgx-h100-ib"] and res["global_batch"] == 256
    assert "bf16" in res["skipped"]["mi450x-if128"]
    for name, row in res["systems"].items():
        body = {"name": "x", "system": name, "chips": 64, "model": "llama-3.1-8b",
                "training": {"seq_len": 4096, "global_batch": 256, "micro_batch": "auto",
                             "parallel": {"tp": "auto", "pp": "auto", "cp": "auto", "ep": "auto",
                                          "etp": 1, "vpp": "auto"},
                             "zero": "auto", "recompute": "auto", "schedule": "auto"}}  # fmt: skip
        best = search(parse_scenario(body), top=1)["results"][0]
        assert row["tokens_per_s_per_chip"] == pytest.approx(
            best["training"]["tokens_per_s_per_chip"]
        )
        assert row["layout"] == best["layout"]
    gb, h100 = res["systems"]["gb200-nvl72"], res["systems"]["hgx-h100-ib"]
    assert gb["tokens_per_s_per_chip"] > h100["tokens_per_s_per_chip"]
    assert res["ratio"]["hgx-h100-ib"]["tokens_per_s_per_chip"] == pytest.approx(
        h100["tokens_per_s_per_chip"] / gb["tokens_per_s_per_chip"]
    )
    # what survives failures and checkpoint/restart, as `predict`'s reliability object has it;
    # the calibration band of the chosen layout, as `predict` gives it
    for row in (gb, h100):
        lo, hi = row["band"]["tokens_per_s_per_chip"]
        assert lo < row["tokens_per_s_per_chip"] < hi
        assert 0.5 < row["goodput"] < 1.0
        assert row["effective_tokens_per_s_per_chip"] == pytest.approx(
            row["tokens_per_s_per_chip"] * row["goodput"]
        )
    r = cli("compare", "gb200-nvl72", "hgx-h100-ib", "--train")
    assert r.returncode == 2 and "train" in r.stderr and r.stderr.count("\n") == 1


def test_dualpipe_needs_twice_pp_micro_batches():
    """DualPipe feeds half the micro-batches from each end: an even count of at least 2 x PP
    (deepseek-ai/DualPipe's own assertion); fewer is rejected, not priced bubble-free."""
    from podwright.workload.layout import enumerate_layouts
    from podwright.workload.model import load_model

    def count(gbs):
        body = {"name": "x", "system": "hgx-h100-ib", "chips": 64, "model": "llama-3.1-8b",
                "training": {"seq_len": 4096, "global_batch": gbs, "schedule": "dualpipe",
                             "parallel": {"tp": 1, "pp": 4, "dp": 16}}}  # fmt: skip
        s = parse_scenario(body)
        lay, rejected = enumerate_layouts(s.training, load_model(s.model), 64)
        return len(lay), rejected

    assert count(128)[0] > 0  # 8 micro-batches per pipeline = 2 x PP
    n, rejected = count(64)  # 4 micro-batches < 2 x PP
    assert n == 0 and any("dualpipe" in r for r in rejected)
