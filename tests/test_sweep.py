"""Design-space sweeps: point generation, Parquet rows, kill-and-resume, DuckDB, CLI errors,
and Ray parity (where Ray is installed)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

import podwright

pa = pytest.importorskip("pyarrow")
pytest.importorskip("duckdb")

from podwright.economics.cost import HOURS_PER_YEAR, CostInputs  # noqa: E402
from podwright.errors import InputError  # noqa: E402
from podwright.search.results import query, read_results  # noqa: E402
from podwright.search.sweep import parse_sweep, run_sweep  # noqa: E402
from podwright.specs.scenario import parse_scenario  # noqa: E402
from podwright.topology import build  # noqa: E402

BOM_BASE = {"system": "hgx-h100-ib", "chips": 1024}
TRAIN_BASE = {
    "system": "hgx-h100-ib",
    "chips": 64,
    "model": "llama-3.1-8b",
    "training": {"seq_len": 4096, "global_batch": 64, "parallel": {"tp": "auto", "pp": "auto"}},
}


def sweep_of(axes, base=BOM_BASE, **kw):
    return parse_sweep({"name": "t", "base": base, "axes": axes, **kw})


def write_yaml(path: Path, data) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# --- point generation ---------------------------------------------------------------------


def test_grid_is_the_cartesian_product_last_axis_fastest():
    s = sweep_of(
        {
            "chips": [512, 1024],
            "system.scale_out.oversubscription": {"low": 1, "high": 3, "num": 3},
            "system.scale_out.switch_optic,part.osfp-800g-lpo.price_usd": [
                ["osfp-800g-2xdr4", 700],
                ["osfp-800g-lpo", 500],
            ],
        }
    )
    assert s.n == 2 * 3 * 2
    pts = [s.point(i) for i in range(s.n)]
    assert pts[0] == {
        "chips": 512,
        "system.scale_out.oversubscription": 1.0,
        "system.scale_out.switch_optic": "osfp-800g-2xdr4",
        "part.osfp-800g-lpo.price_usd": 700,
    }
    assert pts[1]["system.scale_out.switch_optic"] == "osfp-800g-lpo"  # last axis fastest
    assert pts[1]["part.osfp-800g-lpo.price_usd"] == 500  # zipped with it
    assert [p["system.scale_out.oversubscription"] for p in pts[:6:2]] == [1.0, 2.0, 3.0]
    assert len({json.dumps(p, sort_keys=True) for p in pts}) == s.n


@pytest.mark.parametrize("mode", ["random", "lhs"])
def test_random_and_lhs_are_seeded_and_in_range(mode):
    axes = {
        "chip.hbm_gb": {"low": 80, "high": 192},
        "chip.scale_up.bw": {"low": 100, "high": 1800, "log": True},
        "chips": [512, 1024, 2048],
        "system.scale_up.domain": {"low": 8, "high": 16, "int": True},
    }
    s = sweep_of(axes, mode=mode, n=64, seed=7)
    pts = [s.point(i) for i in range(s.n)]
    again = sweep_of(axes, mode=mode, n=64, seed=7)
    assert pts == [again.point(i) for i in range(64)]
    assert s.sweep_id == again.sweep_id
    other = sweep_of(axes, mode=mode, n=64, seed=8)
    assert pts != [other.point(i) for i in range(64)] and other.sweep_id != s.sweep_id
    hbm = np.array([p["chip.hbm_gb"] for p in pts])
    assert ((80 <= hbm) & (hbm <= 192)).all()
    bw = np.array([p["chip.scale_up.bw"] for p in pts])
    assert ((100 <= bw) & (bw <= 1800)).all()
    assert {p["chips"] for p in pts} <= {512, 1024, 2048}
    dom = [p["system.scale_up.domain"] for p in pts]
    assert all(isinstance(d, int) and 8 <= d <= 16 for d in dom)
    if mode == "lhs":  # one sample in each of the n strata of every continuous axis
        strata = np.floor((hbm - 80) / (192 - 80) * 64).astype(int)
        assert sorted(strata) == list(range(64))


def test_sweep_id_ignores_chunking_but_not_the_design():
    a = sweep_of({"chips": [512, 1024]}, chunk_size=1)
    b = sweep_of({"chips": [512, 1024]}, chunk_size=50)
    c = sweep_of({"chips": [512, 2048]})
    assert a.sweep_id == b.sweep_id != c.sweep_id


@pytest.mark.parametrize(
    "data, field",
    [
        ({"base": BOM_BASE, "axes": {"chips": []}}, "axes.chips"),
        ({"base": BOM_BASE, "axes": {"chips": [8, 8]}}, "axes.chips"),
        ({"base": BOM_BASE, "axes": {"chips": {"low": 8, "high": 16}}}, "axes.chips"),
        ({"base": BOM_BASE, "mode": "lhs", "axes": {"chips": [8]}}, "n"),
        ({"base": BOM_BASE, "n": 3, "axes": {"chips": [8]}}, "n"),
        ({"base": BOM_BASE, "axes": {"a,b": [[1]]}}, "axes.a,b"),
        ({"base": {"chips": 8}, "axes": {"chips": [8]}}, "base.system"),
        ({"base": BOM_BASE, "axes": {"system": [1]}, "extra": 1}, "extra"),
    ],
)
def test_bad_sweep_files_name_the_field(data, field):
    with pytest.raises(InputError) as e:
        parse_sweep(data)
    assert e.value.field == field


# --- evaluation and Parquet ----------------------------------------------------------------


def test_bom_sweep_rows_match_the_builder(tmp_path):
    s = sweep_of(
        {
            "chips": [512, 1024, 1020],  # 1020 is not a whole number of 8-GPU nodes
            "system.scale_out.oversubscription": [1.0, 3.0],
            "part.osfp-800g-2xdr4.price_usd": [600, 900],
        }
    )
    summary = run_sweep(s, tmp_path / "r", workers=2, progress=False)
    assert summary["evaluated"] == s.n == 12 and summary["errors"] == 4
    t = read_results(tmp_path / "r").to_pylist()
    assert [r["id"] for r in t] == list(range(12))
    bad = [r for r in t if r["chips"] == 1020]
    assert all(r["error"].startswith("chips:") and r["optical_modules"] is None for r in bad)
    ok = {
        (r["chips"], r["system_scale_out_oversubscription"], r["part_osfp_800g_2xdr4_price_usd"]): r
        for r in t
        if not r["error"]
    }
    base = build("hgx-h100-ib", 1024).bom()["totals"]
    r = ok[(1024, 1.0, 600)]
    assert r["optical_modules"] == base["optical_modules"]
    assert r["switch_chips"] == base["switch_chips"]
    assert r["power_kw"] == pytest.approx(base["power_kw"])
    # oversubscription 3:1 needs fewer optics; dearer modules cost more, in capex only
    assert ok[(1024, 3.0, 600)]["scale_out_optical_modules"] < r["scale_out_optical_modules"]
    dearer = ok[(1024, 1.0, 900)]
    assert dearer["capex_usd"] > r["capex_usd"]
    assert dearer["optical_modules"] == r["optical_modules"]
    d = CostInputs.of()  # the one cost model, at the catalog's defaults
    assert r["usd_per_hour_capex"] == pytest.approx(
        r["capex_usd"] / (d.life_years * HOURS_PER_YEAR)
    )
    assert r["usd_per_hour_energy"] == pytest.approx(r["power_kw"] * d.usd_per_kwh)
    assert r["usd_per_hour"] == pytest.approx(r["usd_per_hour_capex"] + r["usd_per_hour_energy"])
    assert r["capex_usd_per_chip"] == pytest.approx(r["capex_usd"] / 1024)
    assert r["capex_unpriced_parts"] == len(build("hgx-h100-ib", 1024).unpriced_parts()) > 0
    assert r["usd_per_mtoken"] is None  # a BoM sweep makes no tokens


def test_training_sweep_rows_match_predict(tmp_path):
    s = sweep_of(
        {
            "training.seq_len": [2048, 4096],
            "chip.scale_up.bw": [450, 900],
            "chip.hbm_gb": [24, 80],
        },
        base=TRAIN_BASE,
    )
    run_sweep(s, tmp_path / "r", workers=1, progress=False)
    rows = read_results(tmp_path / "r").to_pylist()
    assert len(rows) == 8 and not any(r["error"] for r in rows)
    by = {(r["training_seq_len"], r["chip_scale_up_bw"], r["chip_hbm_gb"]): r for r in rows}
    # a point with the catalog chip's own figures gives exactly what predict gives
    sc = dict(TRAIN_BASE, training=dict(TRAIN_BASE["training"], seq_len=2048))
    ref = podwright.predict(parse_scenario(sc))
    r = by[(2048, 450, 80)]
    assert r["step_time_s"] == ref["training"]["step_time_s"]
    assert r["mfu"] == ref["training"]["mfu"]
    assert json.loads(r["layout"]) == ref["layout"]
    assert r["mfu_low"] <= r["mfu"] <= r["mfu_high"]
    assert r["usd_per_mtoken"] == pytest.approx(ref["economics"]["usd_per_mtoken"])
    # the overrides reach the estimate: more NVLink bandwidth is never slower; 24 GB is tight
    assert by[(2048, 900, 80)]["step_time_s"] <= r["step_time_s"]
    assert by[(4096, 450, 24)]["memory_gb_per_chip"] <= 24 or not by[(4096, 450, 24)]["fits"]


def test_duckdb_query(tmp_path):
    s = sweep_of({"chips": [512, 1024, 2048], "system.scale_out.oversubscription": [1.0, 2.0]})
    run_sweep(s, tmp_path / "r", workers=1, progress=False)
    cols, rows = query(
        tmp_path / "r",
        "SELECT chips, min(optical_modules_per_chip) AS m FROM results GROUP BY chips ORDER BY 1",
    )
    assert cols == ["chips", "m"] and [r[0] for r in rows] == [512, 1024, 2048]
    with pytest.raises(InputError) as e:
        query(tmp_path / "r", "SELECT nope FROM results")
    assert e.value.field == "sql"


# --- the CLI --------------------------------------------------------------------------------

BIG_TRAIN = {
    "name": "kill-me",
    "base": TRAIN_BASE,
    "chunk_size": 8,
    "axes": {
        "chip.hbm_gb": [40, 60, 80, 100, 120, 140, 160, 180],
        "chip.hbm_tbps": [2.0, 3.35, 4.8, 6.0, 8.0],
        "training.seq_len": [2048, 4096],
        "chip.scale_up.bw": [450, 900],
    },
}  # 160 points, 20 chunks


@pytest.fixture
def main_(monkeypatch, capsys):
    """The real entry point, in this process (faster than a subprocess): (rc, stdout, stderr)."""
    from podwright.cli import main

    def run(*args):
        monkeypatch.setattr(sys, "argv", ["podwright", *args])
        with pytest.raises(SystemExit) as e:
            main()
        out = capsys.readouterr()
        return e.value.code, out.out, out.err

    return run


def _cli(*args):
    return [sys.executable, "-c", "from podwright.cli import main; main()", *args]


def _chunks(folder: Path) -> dict:
    return {
        p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.glob("chunk-*.parquet")
    }


def test_kill_and_resume_recomputes_nothing_and_loses_nothing(tmp_path):
    f = write_yaml(tmp_path / "s.yaml", BIG_TRAIN)
    out = tmp_path / "r"
    proc = subprocess.Popen(
        _cli("sweep", str(f), "--out", str(out), "--workers", "2", "-q"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while len(_chunks(out)) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its workers, mid-sweep
    proc.wait()
    before = _chunks(out)
    assert 3 <= len(before) < 20, "the sweep should have been killed part way"
    done_before = {
        i for name in before for i in read_ids(out / name)
    }  # what the killed run finished
    r = subprocess.run(
        _cli("sweep", str(f), "--out", str(out), "--workers", "2", "--json"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["already_done"] == len(done_before)
    assert s["evaluated"] == 160 - len(done_before)
    after = _chunks(out)
    assert {k: after[k] for k in before} == before  # finished chunks untouched
    for name in set(after) - set(before):
        assert not set(read_ids(out / name)) & done_before  # nothing recomputed
    ids = read_results(out).column("id").to_pylist()
    assert sorted(ids) == list(range(160))  # nothing lost, no duplicates
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] and manifest["done"] == 160
    assert not list(out.glob("*.tmp"))


def read_ids(path):
    import pyarrow.parquet as pq

    return pq.read_table(path, columns=["id"]).column("id").to_pylist()


def test_cli_query_json_and_rerun_is_a_no_op(tmp_path, main_):
    f = write_yaml(
        tmp_path / "s.yaml",
        {"base": BOM_BASE, "axes": {"chips": [512, 1024], "chip.hbm_gb": [80, 141]}},
    )
    rc, out, err = main_("sweep", str(f), "--workers", "1", "-q")
    assert rc == 0, err
    assert "4 points; 4 evaluated" in out
    res = tmp_path / "s-results"
    assert (res / "manifest.json").is_file()
    rc, out, _ = main_("sweep", "run", str(f), "--workers", "1", "-q")
    assert "nothing left to evaluate; 4 done before" in out
    sql = "SELECT chips, count(*) AS n FROM results GROUP BY 1 ORDER BY 1"
    rc, out, err = main_("sweep", "query", str(res), sql, "--json")
    assert rc == 0, err
    assert json.loads(out) == [{"chips": 512, "n": 2}, {"chips": 1024, "n": 2}]
    rc, out, _ = main_("sweep", "query", str(res), "SELECT chips, optical_modules FROM results")
    assert rc == 0 and "optical_modules" in out


def test_bad_input_from_the_real_entry_point_is_one_line_exit_2(tmp_path, cli):
    f = write_yaml(tmp_path / "s.yaml", {"base": BOM_BASE, "axes": {"system.scale_out.x": [1]}})
    r = cli("sweep", str(f), "-q")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert (
        r.stderr
        == "podwright: error: axes.system.scale_out.x: unknown field 'x' (known: "
        + (r.stderr.split("(known: ")[1])
    )
    assert r.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "sweep, args",
    [
        ({"base": BOM_BASE, "axes": {"system.scale_out.oversub": [1]}}, []),
        ({"base": TRAIN_BASE, "axes": {"training.seqlen": [1]}}, []),
        ({"base": TRAIN_BASE, "axes": {"inference.input_len": [1]}}, []),
        ({"base": BOM_BASE, "axes": {"training.seq_len": [1]}}, []),
        ({"base": BOM_BASE, "axes": {"part.nope.price_usd": [1]}}, []),
        ({"base": BOM_BASE, "mode": "random", "axes": {"chips": [8]}}, []),
        ({"base": "missing.yaml", "axes": {"chips": [8]}}, []),
        ({"base": BOM_BASE, "axes": {"chips": [8]}}, ["--executor", "dask"]),
        ({"base": BOM_BASE, "axes": {"chips": [8]}}, ["--workers", "0"]),
        ({"base": BOM_BASE, "axes": {"chips": [8]}}, ["--address", "ray://x:1"]),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, main_, sweep, args):
    f = write_yaml(tmp_path / "s.yaml", sweep)
    rc, out, err = main_("sweep", str(f), "-q", *args)
    assert rc == 2, out + err
    assert err.count("\n") == 1 and err.startswith("podwright: error: ")
    assert not (tmp_path / "s-results").exists() or not list((tmp_path / "s-results").iterdir())


def test_cli_errors_on_results(tmp_path, main_):
    f = write_yaml(tmp_path / "a.yaml", {"base": BOM_BASE, "axes": {"chips": [512]}})
    g = write_yaml(tmp_path / "b.yaml", {"base": BOM_BASE, "axes": {"chips": [1024]}})
    out = tmp_path / "r"
    assert main_("sweep", str(f), "--out", str(out), "-q", "-j", "1")[0] == 0
    for args in (
        ("sweep", str(g), "--out", str(out), "-q"),  # another sweep's folder
        ("sweep", "query", str(out), "SELECT nope FROM results"),
        ("sweep", "query", str(tmp_path / "none"), "SELECT 1"),
        ("sweep", "plot", str(out), "--x", "chips", "--y", "nope", "-o", str(tmp_path / "f.png")),
        ("sweep", "plot", str(out), "--x", "chips", "--y", "capex_usd", "-o", "f.gif"),
    ):
        rc, _, err = main_(*args)
        assert rc == 2 and err.count("\n") == 1, (args, err)


def test_plot_png_and_html(tmp_path):
    pytest.importorskip("matplotlib")
    pytest.importorskip("plotly")
    from podwright.search.plot import plot_results

    s = sweep_of({"chips": [512, 1024, 2048], "system.scale_out.oversubscription": [1.0, 2.0]})
    run_sweep(s, tmp_path / "r", workers=1, progress=False)
    png = plot_results(
        tmp_path / "r", "chips", "capex_usd_per_chip", tmp_path / "f.png", color="power_kw"
    )
    assert png["points"] == 6 and (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
    html = plot_results(
        tmp_path / "r",
        "chips",
        "optical_modules",
        tmp_path / "f.html",
        color="system_scale_out_oversubscription",
        where="chips > 512",
    )
    assert html["points"] == 4 and "plotly" in (tmp_path / "f.html").read_text()[:100_000]


# --- Ray ----------------------------------------------------------------------------------


def test_ray_local_gives_the_same_parquet_content(tmp_path):
    pytest.importorskip("ray")
    s = sweep_of(
        {"training.seq_len": [2048, 4096], "chip.hbm_gb": [40, 80], "chips": [64, 60]},
        base=TRAIN_BASE,
        chunk_size=3,
    )
    local = run_sweep(s, tmp_path / "local", executor="local", workers=2, progress=False)
    ray = run_sweep(s, tmp_path / "ray", executor="ray", workers=2, progress=False)
    assert local["evaluated"] == ray["evaluated"] == 8 and "Ray" in ray["executor"]
    a, b = read_results(tmp_path / "local"), read_results(tmp_path / "ray")
    assert a.schema == b.schema and a.equals(b)
    assert a.column("error").null_count == 4  # 60 chips: not whole 8-GPU nodes


def test_economics_and_inline_model_keys_are_axes(tmp_path):
    s = sweep_of({"economics.usd_per_kwh": [0.05, 0.1]})
    run_sweep(s, tmp_path / "bom", workers=1, progress=False)
    a, b = read_results(tmp_path / "bom").to_pylist()
    assert b["usd_per_hour_energy"] == pytest.approx(2 * a["usd_per_hour_energy"])
    s = sweep_of({"model.num_hidden_layers": [16, 32]}, base=TRAIN_BASE)
    run_sweep(s, tmp_path / "train", workers=1, progress=False)
    short, full = read_results(tmp_path / "train").to_pylist()
    assert not short["error"] and not full["error"]
    assert short["step_time_s"] < full["step_time_s"]
    assert full["model"] == "llama-3.1-8b" and full["model_num_hidden_layers"] == 32
