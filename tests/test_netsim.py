"""Flow-level network simulator: fairness, theory on small fabrics, what-ifs, CLI, validation."""

import numpy as np
import pytest

from podwright.errors import InputError
from podwright.sim.network import (
    Network,
    Phase,
    check_analytical,
    collective_time,
    simulate,
    validate_collectives,
)
from podwright.sim.network.solver import max_min, run
from podwright.specs import load_system
from podwright.topology import build

MiB = 2**20


@pytest.fixture(scope="module")
def cm384():
    return Network.of(build("cloudmatrix384"), calibrated=False)


def rates(net, src, dst):
    inc = net.incidence(Phase("t", np.array(src), np.array(dst), np.ones(len(src))))
    return max_min(inc, net.capacity(), np.ones(len(src), dtype=bool)) / 1e9


def test_non_blocking_clos_gives_exact_fair_share(cm384):
    # chip 0 (392 GB/s of UB) sends to 8 chips on other nodes, chip 1 to one chip,
    # chips 2..5 to each other across nodes: every flow gets exactly its source's fair share
    r = rates(cm384, [0] * 8 + [1, 2, 3], list(range(64, 72)) + [100, 200, 300])
    assert r[:8] == pytest.approx(np.full(8, 392 / 8), rel=1e-9)
    assert r[8:] == pytest.approx([392.0, 392.0, 392.0], rel=1e-9)
    # full all-to-all among 384 NPUs: 147,072 flows, each 392/383 GB/s
    res = simulate(cm384.fabric, "all_to_all", 64 * MiB, 384, network=cm384)
    assert res["phases"][0]["flows"] == 384 * 383
    ideal = 64 * MiB * 383 / 384 / 392e9 + 2e-6
    assert res["time_us"] * 1e-6 == pytest.approx(ideal, rel=1e-6)


def test_fluid_events_max_min_progression():
    net = Network.of(build("hgx-h100-ib", 16), calibrated=False)
    # two flows share chip 0's NIC? no: one inside the node, one across; lengths differ
    ph = Phase("t", np.array([0, 0]), np.array([8, 9]), np.array([1e9, 2e9]))
    r = run(net.incidence(ph), net.capacity(), ph.nbytes)
    # 0->8 same rail (50 GB/s NIC shared by both at first), 0->9 goes via PXN to chip 1's NIC
    assert r.events >= 1 and r.time_s > 0


def oversubscribed(factor):
    s = load_system("hgx-h100-ib")
    so = s.scale_out.model_copy(update={"oversubscription": factor})
    return build(s.model_copy(update={"scale_out": so}), 1344)  # 4 full leaves per rail


def test_oversubscription_and_halved_spines_follow_theory():
    f = oversubscribed(2.0)  # radix 64: 42 down, 21 up per leaf
    r = simulate(f, "all_to_all", 64 * MiB, 168, stride=8, calibrated=False)
    # rail 0, 4 leaves of 42: 3/4 of each chip's bytes leave its leaf over 21 x 50 GB/s
    theory = 21 * 50 / (42 * 0.75)
    assert r["algbw_gbs"] == pytest.approx(theory, rel=0.01)
    spines = [n for n in f.graph().names if ".t2." in n]
    half = simulate(f, "all_to_all", 64 * MiB, 168, stride=8, calibrated=False,
                    slow=[f"{s}:0.5" for s in spines])  # fmt: skip
    assert half["algbw_gbs"] == pytest.approx(r["algbw_gbs"] / 2, rel=0.01)


def test_ring_matches_theory_on_uncongested_fabric(cm384):
    n, S = 384, 256 * MiB
    r = simulate(cm384.fabric, "all_reduce", S, n, network=cm384, algorithm="ring")
    bw = 392e9
    theory = 2 * (n - 1) / n * S / bw
    latency = 2 * (n - 1) * 2e-6  # the per-step overhead the simulator adds
    assert r["time_us"] * 1e-6 - latency == pytest.approx(theory, rel=0.02)
    assert r["busbw_gbs"] == pytest.approx(392 * theory / (theory + latency), rel=0.02)


def test_failed_l2_switch_lowers_cm384_all_to_all_by_its_share(cm384):
    base = simulate(cm384.fabric, "all_to_all", 64 * MiB, 384, network=cm384)
    failed = simulate(cm384.fabric, "all_to_all", 64 * MiB, 384, calibrated=False,
                      fail=["switch:su0.p0.l2.3"])  # fmt: skip
    # traffic spreads evenly over the 7 planes; in plane 0 the 8 NPUs of a node now share
    # 15 of 16 uplinks (15 x 28 GB/s) for the 376/384 of their bytes that leave the node,
    # where before each NPU's 56 GB/s plane link (383/384 of its bytes) was the limit
    expected = (383 / 56) / (8 * 376 / (15 * 28))
    assert failed["algbw_gbs"] / base["algbw_gbs"] == pytest.approx(expected, rel=0.01)
    assert failed["notes"] and "48 physical" in failed["notes"][0]


def test_failed_link_is_routed_around(cm384):
    ok = simulate(cm384.fabric, "all_to_all", 64 * MiB, 16, calibrated=False,
                  fail=["link:su0.p0.l1.n0-su0.p0.l2.0"])  # fmt: skip
    assert ok["algbw_gbs"] > 0
    with pytest.raises(InputError, match="fail"):
        simulate(cm384.fabric, "all_to_all", 1e6, 16, fail=["switch:nope"])


def test_ecmp_hashing_is_not_better_than_spraying():
    f = build("hgx-h100-ib", 256)
    spray = simulate(f, "all_to_all", 16 * MiB, 32, stride=8, calibrated=False)
    ecmp = simulate(f, "all_to_all", 16 * MiB, 32, stride=8, calibrated=False, routing="ecmp")
    assert ecmp["algbw_gbs"] <= spray["algbw_gbs"] * (1 + 1e-9)


def test_algorithms_and_inr():
    f = build("hgx-h100-ib", 64)
    net = Network.of(f, calibrated=False)
    out = {}
    for algo in ("ring", "tree", "halving_doubling", "hierarchical"):
        out[algo] = simulate(f, "all_reduce", 256 * MiB, 64, network=net, algorithm=algo)
        assert out[algo]["busbw_gbs"] > 0
    # NVLS in one node: S up and S down per GPU -> algbw = link rate, busbw = 2(n-1)/n of it
    inr = simulate(f, "all_reduce", 1 << 30, 8, network=net, algorithm="inr")
    assert inr["algbw_gbs"] == pytest.approx(450, rel=0.01)
    with pytest.raises(InputError):
        simulate(build("cloudmatrix384"), "all_reduce", 1e6, 8, algorithm="inr")
    with pytest.raises(InputError):
        simulate(f, "all_reduce", 1e6, 6, network=net, algorithm="halving_doubling")


def test_straggler_and_background_slow_the_job():
    f = build("hgx-h100-ib", 64)
    base = simulate(f, "all_reduce", 256 * MiB, 64, algorithm="ring", calibrated=False)
    slow = simulate(f, "all_reduce", 256 * MiB, 64, algorithm="ring", calibrated=False,
                    slow=["chip9:0.25"])  # fmt: skip
    assert slow["time_us"] > base["time_us"] * 1.5
    bg = simulate(f, "all_to_all", 64 * MiB, 32, calibrated=False, stride=2,
                  background="all_to_all:1:32")  # fmt: skip
    alone = simulate(f, "all_to_all", 64 * MiB, 32, calibrated=False, stride=2)
    assert bg["time_us"] > alone["time_us"]


def test_ep_dispatch_skew_and_torus():
    f = build("hgx-h800-roce", 16)
    uni = simulate(f, "ep_dispatch", 30277632, 16, tokens=4096)
    skew = simulate(f, "ep_dispatch", 30277632, 16, tokens=4096, skew=1.2)
    assert skew["time_us"] > uni["time_us"]
    t = simulate("tpu-v4-pod", "all_to_all", 8 * MiB, 64, calibrated=False)
    assert t["algbw_gbs"] > 0


def test_collective_time_and_analytical_check():
    f = build("hgx-h100-ib", 1024)
    t1 = collective_time(f, "all_reduce", 1 << 28, 8, 1)
    assert t1 > 0 and collective_time(f, "all_reduce", 1 << 28, 8, 1) == t1
    assert collective_time(f, "all_to_all", 1 << 26, 16, 8) > 0
    rows = check_analytical("hgx-h100-ib", 64) + check_analytical("cloudmatrix384")
    assert rows and all(r["agrees"] for r in rows), rows


def test_validate_collectives_subset(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(
        "records:\n"
        "- id: nccl-h800\n  kind: collective\n  system: hgx-h800-roce\n  measurements:\n"
        "  - {op: all_reduce, group_size: 8, bus_bandwidth_gbs: 215}\n"
        "- id: deepep-ep8\n  kind: collective\n  system: hgx-h800-roce\n  measurements:\n"
        "  - {op: ep_dispatch, group_size: 8, message_bytes: 30277632, tokens_per_rank: 4096,"
        " topk: 8, bottleneck_link: nvlink, bottleneck_bandwidth_gbs: 153}\n"
        "- id: no-system\n  kind: collective\n  measurements: []\n"
    )
    out = validate_collectives(p)
    assert {c["metric"] for c in out["cases"]} == {"bus_bandwidth_gbs", "bottleneck_bandwidth_gbs"}
    assert out["median_abs_error"] <= 0.15
    assert out["skipped"][0]["id"] == "no-system"


@pytest.mark.parametrize(
    "args",
    [
        ["netsim", "cloudmatrix384", "--op", "bogus"],
        ["netsim", "cloudmatrix384", "--size", "lots"],
        ["netsim", "cloudmatrix384", "--fail", "switch:nope"],
        ["netsim", "cloudmatrix384", "--group", "1000", "--chips", "384"],
        ["netsim", "no-such-system"],
    ],
)
def test_cli_bad_input_exits_2_with_one_line(cli, args):
    r = cli(*args)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("podwright: error:")


def test_cli_json(cli):
    import json

    r = cli("netsim", "hgx-h100-ib", "--op", "all_reduce", "--group", "16", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["algorithm"] == "hierarchical" and d["busbw_gbs"] > 0 and d["links"]["tiers"]
