"""Golden counts derived from topology alone, property tests, graphs."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from podwright.specs import load_system
from podwright.topology import build
from podwright.topology.fat_tree import shape


def counts(fabric, tier=None):
    out = {}
    for i in fabric.items:
        if tier is None or i.tier == tier:
            out[i.part] = out.get(i.part, 0) + i.count
    return out


def test_cloudmatrix384_counts():
    f = build("cloudmatrix384")
    up = counts(f, "scale_up")
    assert up["ub-switch-l1"] == 336
    assert up["ub-switch-l2"] == 112
    t = f.bom()
    assert t["by_tier"]["scale_up"]["optical_modules"] == 5376  # 14 per NPU
    assert t["by_tier"]["scale_out"]["optical_modules"] == 1536  # 4 per NPU
    assert t["totals"]["optical_modules"] == 6912
    assert t["totals"]["optical_modules_per_chip"] == 18


def test_gb200_nvl72_counts():
    f = build("gb200-nvl72")
    up = f.bom()["by_tier"]["scale_up"]
    assert counts(f, "scale_up")["nvswitch-gen4"] == 18
    assert up["optical_modules"] == 0
    assert up["copper_cables"] == 5184  # 1,296 links x 2 lanes x 2 directions (pairs)
    assert f.scale_up.bw == 900 and f.scale_up.group == 72


def test_tpu_v4_pod_counts():
    f = build("tpu-v4-pod")
    c = counts(f)
    assert c["palomar-ocs"] == 48
    assert f.bom()["totals"]["optical_modules_per_chip"] == 1.5


@pytest.mark.parametrize(
    "chips, tiers, switches, optics_per_gpu",
    [(1024, 2, 32 + 16, 2.5), (16384, 3, 512 + 512 + 256, 3.5)],
)
def test_hgx_h100_fat_tree(chips, tiers, switches, optics_per_gpu):
    f = build("hgx-h100-ib", chips)
    out = [lv for lv in f.levels if lv.fabric == "scale_out"]
    assert len(out) == tiers
    assert counts(f, "scale_out")["quantum-2"] == switches
    assert counts(f, "scale_up")["nvswitch-gen3"] == 4 * chips // 8
    assert f.bom()["by_tier"]["scale_out"]["optical_modules_per_chip"] == optics_per_gpu


def test_full_mesh_mi300x():
    f = build("mi300x-8-roce")
    assert f.scale_up.kind == "full_mesh"
    g = f.graph()
    chip_edges = [(s, d) for s, d in zip(g.src, g.dst, strict=True) if s < 8 and d < 8]
    assert len(chip_edges) == 8 * 7  # every pair, both directions


def test_graph_nvl72_shape():
    g = build("gb200-nvl72").graph()
    assert g.chips == 72
    su = [t for t in g.tier if t == "scale_up"]
    assert len(su) == 2 * 72 * 18
    assert sum(1 for k in g.kinds if k == "switch") >= 18


@settings(max_examples=60, deadline=None)
@given(
    radix=st.sampled_from([32, 40, 64, 128, 144]),
    endpoints=st.integers(min_value=1, max_value=200_000),
)
def test_non_blocking_fat_tree_stays_non_blocking(radix, endpoints):
    max_tiers = next(t for t in range(1, 6) if radix * (radix // 2) ** (t - 1) >= endpoints)
    tree = shape(radix, 1.0, 1, endpoints, max(max_tiers, 1) + 1)
    # every tier carries as many links as there are endpoints
    assert all(n == endpoints for n in tree.links)
    # and has the ports for them
    for t, (n_sw, links) in enumerate(zip(tree.switches, tree.links, strict=True)):
        if t == tree.tiers - 1:
            down = radix  # the top tier (a single tier included) points every port down
        else:
            down = tree.down if t == 0 else radix // 2
        assert n_sw * down >= links


@settings(max_examples=30, deadline=None)
@given(nodes=st.integers(min_value=1, max_value=2000))
def test_counts_grow_with_chips(nodes):
    a = build("hgx-h100-ib", 8 * nodes).bom()["totals"]
    b = build("hgx-h100-ib", 8 * (nodes + 1)).bom()["totals"]
    for key in ("optical_modules", "switch_chips", "power_kw", "capex_usd"):
        assert b[key] >= a[key]
    # optics per GPU stay between 1.5 (one tier) and 4.5 (four tiers)
    assert 1.5 <= a["optical_modules_per_chip"] <= 4.5


@pytest.mark.parametrize("name", ["cloudmatrix384", "gb200-nvl72", "tpu-v4-pod"])
def test_whole_domains_scale_linearly(name):
    sys_ = load_system(name)
    one = build(sys_).bom()["by_tier"]["scale_up"]
    two = build(sys_, 2 * sys_.scale_up.domain).bom()["by_tier"]["scale_up"]
    for key in ("optical_modules", "copper_cables"):
        assert math.isclose(two[key], 2 * one[key])


def test_two_dimensional_full_mesh(tmp_path):
    """UB-Mesh-style 2-D full mesh of 8 x 8 chips: the board dimension on PCB, the rack one
    optical. 14 links per chip = one per peer; optics = 64 x 7 / 2 links x 2 ends."""
    chip = tmp_path / "npu.yaml"
    chip.write_text(
        "name: npu14\nvendor: x\npeak_tflops: {bf16: 500}\nhbm_gb: 64\nhbm_tbps: 2\n"
        "scale_up: {protocol: ub, bw: 700, links: 14, lanes_per_link: 4}\ntdp_w: 500\n"
    )
    system = tmp_path / "ubmesh.yaml"
    system.write_text(
        f"name: ubmesh-64\nchip: {chip}\nnode: {{chips: 8}}\nnodes_per_rack: 8\n"
        "scale_up: {kind: full_mesh, domain: 64, dims: [8, 8], media: [pcb, optical], "
        "optic: osfp-400g-lpo}\n"
    )
    f = build(str(system))
    assert f.bom()["by_tier"]["scale_up"]["optical_modules"] == 64 * 7 // 2 * 2
    assert f.scale_up.bw == 700


def test_unpublished_planes_take_the_fewest_switch_chips():
    """Helios: 72 GPUs x 18 links of 800G, Tomahawk 6 = 128 x 800G ports: ceil(1296/128) = 11
    switch chips still reach every GPU in one hop."""
    f = build("helios-mi455x")
    assert counts(f, "scale_up")["tomahawk-6"] == math.ceil(72 * 18 / 128)


def test_torus_without_ocs_and_nvswitch_planes():
    # Trn2 UltraServer 4x4x4: only the third dimension (across the 4 instances) is cabled:
    # 16 rings of 4 links
    assert counts(build("trn2-ultraserver"), "scale_up")["dac-800g"] == 64
    # DGX A100: 12 NVLink3 links over 6 NVSwitch planes
    assert counts(build("dgx-a100-ib"), "scale_up")["nvswitch-gen2"] == 6
