"""The request-level serving simulation (sim/serving.py, `podwright serve-sim`)."""

import json

import numpy as np
import pytest

from podwright.errors import InputError
from podwright.estimate.inference import InferenceModel
from podwright.estimate.predict import fabric_for
from podwright.sim.serving import max_rate, saturation_rate, serving_costs, simulate
from podwright.specs.scenario import parse_scenario
from podwright.workload.model import load_model


def scenario(**inference):
    return parse_scenario({
        "name": "sim", "system": "hgx-h100-ib", "chips": 1, "model": "llama-3.1-8b",
        "precision": "fp8",
        "inference": {"phase": "serve", "input_len": 1024, "output_len": 128, "instance_chips": 1,
                      "parallel": {"tp": 1}, "slo": {"ttft_ms": 1000, "tpot_ms": 30}} | inference,
    })  # fmt: skip


@pytest.fixture(scope="module")
def base():
    s = scenario()
    return s, serving_costs(s)


def test_decode_step_costs_are_the_oracles(base):
    """The simulator's decode step at b sequences and context c is the costing oracle's."""
    from podwright.sim.serving import _instance

    s, costs = base
    m = InferenceModel(s, load_model(s.model), fabric_for(s))
    for b, ctx in ((1, 1024.0), (37, 1100.0), (costs.max_seqs, 1152.0)):
        lay = _instance(costs.layout, np.array([b]))
        want = float(m.decode(lay, ctx=ctx)["tpot_s"][0])
        assert costs.step(b, ctx) == pytest.approx(want, rel=1e-9)


def test_an_idle_instance_serves_each_request_alone(base):
    """At a trickle of requests TTFT is one prompt's prefill and TPOT a one-sequence step."""
    s, costs = base
    r = simulate(costs, s.inference, rate=0.01, requests=60, seed=1)
    prompt_ms = 1e3 * s.inference.input_len * costs.prefill_per_token
    assert r["ttft_ms"]["p50"] == pytest.approx(prompt_ms, rel=1e-6)
    mid_ctx = s.inference.input_len + s.inference.output_len / 2
    assert r["tpot_ms"]["p50"] == pytest.approx(1e3 * costs.step(1, mid_ctx), rel=0.02)
    assert r["within_slo"] == 1.0 and r["meets_slo_p99"]


def test_attention_ranks_each_prefill_their_own_prompts():
    """With attention data parallelism each rank computes its own prompts: a lone prompt on a
    2-rank dense instance takes the per-token cost of one rank (twice the instance's); the
    requests are dealt to the ranks in turn, so a steady load keeps the instance's rate."""
    s = scenario(instance_chips=2, parallel={"tp": 1, "attn_dp": 2})
    s = s.model_copy(update={"chips": 2})
    costs = serving_costs(s)
    assert costs.layout["parallel"]["attn_dp"] == 2 and costs.prefill_local == pytest.approx(1.0)
    alone = simulate(costs, s.inference, rate=0.01, requests=40, seed=1)
    assert alone["ttft_ms"]["p50"] == pytest.approx(
        1e3 * s.inference.input_len * costs.prefill_per_token * 2, rel=1e-6
    )
    busy = simulate(costs, s.inference, rate=0.5 * saturation_rate(costs, s.inference),
                    requests=1500, seed=2)  # fmt: skip
    assert busy["output_tokens_per_s_per_chip"] == pytest.approx(
        busy["offered_tokens_per_s_per_chip"], rel=0.05
    )


def test_load_raises_latency_and_output_follows_the_offered_rate(base):
    s, costs = base
    sat = saturation_rate(costs, s.inference)
    runs = [simulate(costs, s.inference, f * sat, requests=1500, seed=2) for f in (0.2, 0.5, 0.8)]
    for lo, hi in zip(runs, runs[1:], strict=False):
        assert hi["tpot_ms"]["p50"] > lo["tpot_ms"]["p50"]
        assert hi["e2e_s"]["mean"] > lo["e2e_s"]["mean"]
    for r in runs:  # below saturation every token offered is served (steady state)
        assert r["output_tokens_per_s_per_chip"] == pytest.approx(
            r["offered_tokens_per_s_per_chip"], rel=0.05
        )
    over = simulate(costs, s.inference, 2.0 * sat, requests=1500, seed=2)
    assert over["ttft_ms"]["p99"] > 10 * runs[-1]["ttft_ms"]["p99"]  # the queue grows


def test_load_curve(base, cli, tmp_path):
    """--curve: throughput and tail latency both rise with the load up to saturation."""
    from podwright.sim.serving import load_curve

    s, costs = base
    pts = load_curve(costs, s.inference, 4, requests=800, seed=7)
    assert [p["load"] for p in pts] == pytest.approx([0.1, 0.4, 0.7, 1.0])
    for lo, hi in zip(pts, pts[1:], strict=False):
        assert hi["output_tokens_per_s_per_chip"] > lo["output_tokens_per_s_per_chip"]
        assert hi["tpot_ms"]["p99"] > lo["tpot_ms"]["p99"]
    with pytest.raises(InputError):
        load_curve(costs, s.inference, 1)


def test_band_from_the_calibration_ends(base):
    """--band: the same run with the calibration factors at either end brackets the result."""
    from podwright.sim.serving import band

    s, costs = base
    central = simulate(costs, s.inference, 10.0, requests=500, seed=8)
    b = band(s, lambda c: simulate(c, s.inference, 10.0, requests=500, seed=8))
    lo, hi = b["tpot_ms.p99"]
    assert lo < central["tpot_ms"]["p99"] < hi
    assert b["rate_per_s"] == [10.0, 10.0]


def test_seeded_and_varied_lengths(base):
    s, costs = base
    a = simulate(costs, s.inference, 5.0, requests=300, seed=3, lengths="varied")
    b = simulate(costs, s.inference, 5.0, requests=300, seed=3, lengths="varied")
    c = simulate(costs, s.inference, 5.0, requests=300, seed=4, lengths="varied")
    assert a == b and a["ttft_ms"] != c["ttft_ms"]
    from podwright.sim.serving import request_lengths

    inp, out = request_lengths(s.inference, 2000, np.random.default_rng(0), "range:0.8")
    assert (
        inp.min() >= int(0.8 * 1024)
        and inp.max() <= 1024
        and inp.mean() == pytest.approx(922, rel=0.01)
    )
    assert out.min() >= int(0.8 * 128) and out.max() <= 128
    for bad in ("range:1.5", "range:x", "poisson"):
        with pytest.raises(InputError):
            request_lengths(s.inference, 10, np.random.default_rng(0), bad)


def test_offline_run_as_benchmark_throughput_counts_it(base):
    """rate inf: every request there at the start; throughput = output tokens over the run,
    which a cap on the sequences in flight (the engine's max_num_seqs) lowers."""
    s, costs = base
    r = simulate(costs, s.inference, float("inf"), requests=600, seed=9)
    tokens = 600 * s.inference.output_len
    assert r["output_tokens_per_s_per_chip"] == pytest.approx(r["rate_per_s"] * tokens / 600)
    capped = serving_costs(scenario(batch=32))
    slow = simulate(capped, capped_inf := scenario(batch=32).inference, float("inf"), requests=600)
    assert capped_inf.batch == 32 and capped.max_seqs == 32
    assert slow["output_tokens_per_s_per_chip"] < 0.8 * r["output_tokens_per_s_per_chip"]


def test_closed_loop_keeps_its_clients_busy(base):
    """A closed loop of C clients holds C requests in the system: Little's law, C = rate x mean
    end-to-end time; more clients raise the rate and the latency."""
    s, costs = base
    runs = [simulate(costs, s.inference, 0.0, requests=800, seed=6, lengths="varied",
                     concurrency=c) for c in (4, 32)]  # fmt: skip
    for c, r in zip((4, 32), runs, strict=True):
        assert r["concurrency"] == c
        assert r["rate_per_s"] * r["e2e_s"]["mean"] == pytest.approx(c, rel=0.05)
    assert runs[1]["rate_per_s"] > 2 * runs[0]["rate_per_s"]
    assert runs[1]["tpot_ms"]["p50"] > runs[0]["tpot_ms"]["p50"]


def test_highest_rate_within_the_slo(base):
    """max_rate returns a rate whose p99 TTFT and TPOT meet the SLO; 10% more does not."""
    s, costs = base
    best = max_rate(costs, s.inference, requests=1500, seed=5)
    assert best["meets_slo_p99"]
    assert best["tpot_ms"]["p99"] <= 30 and best["ttft_ms"]["p99"] <= 1000
    more = simulate(costs, s.inference, 1.1 * best["rate_per_s"], requests=1500, seed=5)
    assert not more["meets_slo_p99"]


def test_multi_token_prediction_shortens_tpot():
    s = scenario(mtp={"tokens": 1, "accept_rate": 0.8})
    costs = serving_costs(s)
    plain = serving_costs(scenario())
    assert costs.tokens_per_step == pytest.approx(1.8)
    fast = simulate(costs, s.inference, 0.01, requests=30, seed=1)
    slow = simulate(plain, scenario().inference, 0.01, requests=30, seed=1)
    assert fast["tpot_ms"]["p50"] < 0.8 * slow["tpot_ms"]["p50"]


def test_cli_json_and_bad_input(cli, tmp_path):
    path = tmp_path / "s.yaml"
    doc = {"name": "sim", "system": "hgx-h100-ib", "chips": 1, "model": "llama-3.1-8b",
           "inference": {"phase": "serve", "input_len": 512, "output_len": 64,
                         "slo": {"tpot_ms": 40}}}  # fmt: skip
    path.write_text(json.dumps(doc))
    r = cli("serve-sim", str(path), "--rate", "2", "--requests", "200", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert {"ttft_ms", "tpot_ms", "e2e_s", "output_tokens_per_s_per_chip", "within_slo"} <= set(out)
    for args, field in (
        (["--rate", "-3"], "rate"),
        (["--offline", "0"], "offline"),
        (["--offline", "10", "--rate", "2"], "offline"),
        (["--curve", "3", "--rate", "2"], "curve"),
        (["--rate", "2", "--concurrency", "4"], "rate"),
        (["--concurrency", "0"], "concurrency"),
        (["--rate", "2", "--lengths", "lognormal"], "lengths"),
        (["--set", "inference.phase=decode"], "inference.phase"),
        (
            [
                "--set",
                "inference.disaggregated={prefill_chips: 1, decode_chips: 1}",
                "--concurrency",
                "4",
            ],
            "concurrency",
        ),
        (["--set", "inference.slo={}"], "inference.slo"),
    ):
        r = cli("serve-sim", str(path), *args)
        assert r.returncode == 2, (args, r.stdout)
        assert field in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_disaggregated_pools():
    """Prompts on the prefill pool, KV across the fabric, decode on the decode pool: at a
    trickle TTFT is one prompt plus the transfer and TPOT a one-sequence decode step; the
    deployment saturates at its weaker pool; the highest rate meets the SLO at p99."""
    s = parse_scenario({
        "name": "disagg", "system": "hgx-h100-ib", "chips": 3, "model": "llama-3.1-8b",
        "precision": "fp8",
        "inference": {"phase": "serve", "input_len": 2048, "output_len": 128,
                      "instance_chips": 1, "disaggregated": {"prefill_chips": 1, "decode_chips": 2},
                      "slo": {"ttft_ms": 500, "tpot_ms": 25}},
    })  # fmt: skip
    costs = serving_costs(s)
    assert costs.chips == 3 and (costs.prefill_instances, costs.decode_instances) == (1, 2)
    assert costs.kv_transfer_s > 0
    r = simulate(costs, s.inference, rate=0.01, requests=40, seed=1)
    one = s.inference.input_len * costs.prefill.prefill_per_token + costs.kv_transfer_s
    assert r["ttft_ms"]["p50"] == pytest.approx(1e3 * one, rel=1e-6)
    ctx = s.inference.input_len + s.inference.output_len / 2
    assert r["tpot_ms"]["p50"] == pytest.approx(1e3 * costs.decode.step(1, ctx), rel=0.03)
    assert set(r["layout"]) == {"prefill", "decode"} and r["kv_transfer_ms"] > 0
    pre = 1.0 / (s.inference.input_len * costs.prefill.prefill_per_token)
    assert saturation_rate(costs, s.inference) <= pre
    best = max_rate(costs, s.inference, requests=1000, seed=2)
    assert best["meets_slo_p99"] and best["rate_per_s"] < saturation_rate(costs, s.inference)
    busy = simulate(costs, s.inference, 0.9 * pre, requests=1000, seed=2)
    assert busy["ttft_ms"]["p99"] > 2 * r["ttft_ms"]["p99"]  # prompts queue for the one instance


def test_python_api_runs_the_simulation():
    import podwright

    doc = {"name": "api", "system": "hgx-h100-ib", "chips": 1, "model": "llama-3.1-8b",
           "inference": {"phase": "serve", "input_len": 512, "output_len": 64,
                         "slo": {"tpot_ms": 40}}}  # fmt: skip
    at_rate = podwright.serve_sim(doc, rate=2.0, requests=200)
    closed = podwright.serve_sim(doc, concurrency=4, requests=200, lengths="varied")
    assert at_rate["rate_per_s"] == 2.0 and closed["concurrency"] == 4
    econ = at_rate["economics"]  # $/Mtoken at the simulated output rate, as predict quotes it
    assert econ["usd_per_mtoken"] == pytest.approx(
        econ["usd_per_hour"] / (at_rate["output_tokens_per_s_per_chip"] * 3600) * 1e6
    )
    assert podwright.serve_sim(doc, requests=300)["meets_slo_p99"]


def test_published_throughput_latency_curves_gate():
    """The simulation against the held-out published curves (examples/heldout/serving/):
    median |error| per metric not above the recorded level (tests/accuracy_gate.json)."""
    from pathlib import Path

    from podwright.sim.serving_checks import serving_errors, summary

    root = Path(__file__).resolve().parents[1]
    gate = json.loads((root / "tests" / "accuracy_gate.json").read_text())
    gate = gate["serving_median_abs_error"]
    rows = serving_errors(sorted((root / "examples" / "heldout" / "serving").glob("*.yaml")))
    assert len(rows) >= 8
    for key, value in summary(rows).items():
        assert value <= gate[key] + 1e-9, f"{key}: {value:.3f} > {gate[key]}"


def test_validate_routes_serving_points_to_the_simulation(cli):
    """`podwright validate` on a file of serving load points (`points:`) runs serve-sim."""
    from pathlib import Path

    path = (
        Path(__file__).resolve().parents[1] / "examples/heldout/serving/nim-llama33-70b-h100x2.yaml"
    )
    r = cli("validate", str(path), "--json", "--only", "nim-llama33-70b-h100x2-5000-500/c1/")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["cases"]
    assert {row["metric"] for row in rows} == {
        "serve_sim.ttft_ms",
        "serve_sim.tpot_ms",
        "serve_sim.throughput",
    }
