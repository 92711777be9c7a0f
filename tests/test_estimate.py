"""The costing oracle: memory against Megatron's formulas, fits, fabric levels, monotonicity,
the prediction contract, and vectorised results equal to single predictions."""

import json
import math

import numpy as np
import pytest

from podwright.estimate.memory import activation_parts, state_memory, training_memory
from podwright.estimate.predict import predict
from podwright.estimate.training import evaluate_training
from podwright.specs.scenario import Overlap, parse_scenario
from podwright.topology import build
from podwright.workload.layout import TrainLayouts, enumerate_layouts
from podwright.workload.model import load_model


def one_layout(tp=4, pp=4, dp=8, cp=1, recompute=1, zero=1, gbs=512) -> TrainLayouts:
    """A single training layout (ep = etp = vpp = micro-batch = 1, 1F1B, SP when tp > 1)."""
    return TrainLayouts(
        tp=np.array([tp]), pp=np.array([pp]), dp=np.array([dp]), cp=np.array([cp]),
        ep=np.array([1]), etp=np.array([1]), vpp=np.array([1]), mb=np.array([1]),
        zero=np.array([zero]), recompute=np.array([recompute]), schedule=np.array([0]),
        sp=np.array([tp > 1]), gbs=np.array([gbs]),
    )  # fmt: skip


def scenario(**kw):
    base = {
        "name": "t",
        "system": "hgx-h100-ib",
        "chips": 1024,
        "model": "llama-3.1-70b",
        "precision": "bf16",
        "training": {
            "seq_len": 4096,
            "global_batch": 512,
            "parallel": {"tp": 8, "pp": 4, "cp": 1, "ep": 1, "etp": 1, "vpp": 1},
            "zero": 1,
            "recompute": "selective",
        },
    }
    base.update(kw)
    return parse_scenario(base)


def megatron_memory(model, seq, mb, tp, pp, dp, m, distributed_optimizer=True):
    """Megatron-LM megatron/training/theoretical_memory_usage.py (weights+optimizer and
    activations, non-interleaved schedule), transcribed for the check."""
    h, L, V, ffn = model.hidden, model.layers, model.vocab, model.ffn
    transformer = L * (model.attn_params + model.norm_params + model.dense_mlp_params)
    embedding = V * h
    most_loaded = (transformer / pp + embedding) / tp
    per_param = 6 + 12 / dp if distributed_optimizer else 18
    weights_optimizer = most_loaded * per_param
    act = seq * mb * h * (18 + 4 * ffn / h) * L
    act += 8 * seq * mb * pp + seq * mb * h * pp
    act *= min(1, m / pp) if pp > 1 else 1
    if pp == 1:
        act += seq * mb * h * 4 * (1 + V / h)
    return weights_optimizer, act / tp


@pytest.mark.parametrize(
    "name, tp, pp, dp",
    [("gpt3-175b", 8, 8, 16), ("llama-2-70b", 4, 4, 8), ("llama-3.1-8b", 2, 1, 32)],
)
def test_memory_matches_megatron_formula(name, tp, pp, dp):
    model = load_model(name)
    seq, mb, m = 4096, 1, 64
    lay = TrainLayouts(
        tp=np.array([tp]), pp=np.array([pp]), dp=np.array([dp]), cp=np.array([1]),
        ep=np.array([1]), etp=np.array([1]), vpp=np.array([1]), mb=np.array([mb]),
        zero=np.array([1]), recompute=np.array([1]), schedule=np.array([0]),
        sp=np.array([tp > 1]), gbs=np.array([dp * mb * m]),
    )  # fmt: skip
    mem = training_memory(model, lay, seq)
    ref_wo, ref_act = megatron_memory(model, seq, mb, tp, pp, dp, m)
    ours_wo = mem["weights"][0] + mem["gradients"][0] + mem["optimizer"][0]
    assert ours_wo == pytest.approx(ref_wo, rel=0.02)
    assert mem["activations"][0] == pytest.approx(ref_act, rel=0.03)


def test_optimizer_shards_over_data_and_context_parallel_ranks():
    """Megatron-Core's distributed optimizer shards dense states over its dp x cp group (the
    ranks holding the same weights; megatron/core/optimizer/__init__.py dp_cp_group), and the
    dense gradients are reduced over the same group."""
    from podwright.workload.training import dp_comms

    model = load_model("llama-3.1-70b")

    def lay(cp):
        return one_layout(cp=cp)

    one, two = training_memory(model, lay(1), 8192), training_memory(model, lay(2), 8192)
    assert two["optimizer"][0] == pytest.approx(one["optimizer"][0] / 2)
    assert two["weights"][0] == pytest.approx(one["weights"][0])
    grads = [c for c in dp_comms(model, lay(2)) if c.name == "dp_grads" and c.count[0]]
    assert grads and float(grads[0].group[0]) == 16


def test_gradient_and_weight_precision_options():
    """training.grad_reduce: bf16 halves the gradient buffer and its reduce-scatter;
    training.fp8_params halves the weights and their all-gather (FP8 primary weights)."""
    from podwright.estimate.memory import StateBytes
    from podwright.workload.training import dp_comms

    model = load_model("llama-3.1-70b")
    lay = one_layout()
    base = state_memory(model, lay)
    lean = state_memory(model, lay, StateBytes(grad=2.0, param=1.0))
    assert lean["gradients"][0] == pytest.approx(base["gradients"][0] / 2)
    assert lean["weights"][0] == pytest.approx(base["weights"][0] / 2)
    assert lean["optimizer"][0] == pytest.approx(base["optimizer"][0])

    def nbytes(comms, name, kind):
        return sum(float(c.nbytes[0]) for c in comms if c.name == name and c.kind == kind)

    full, half = dp_comms(model, lay), dp_comms(model, lay, 2.0, param_bytes=1.0)
    assert nbytes(half, "dp_grads", "reduce_scatter") == pytest.approx(
        nbytes(full, "dp_grads", "reduce_scatter") / 2
    )
    assert nbytes(half, "dp_params", "all_gather") == pytest.approx(
        nbytes(full, "dp_params", "all_gather") / 2
    )


def test_low_precision_optimizer_state_shrinks_memory_and_the_step():
    """training.optimizer_states / master_params (Megatron-Core's precision-aware optimizer):
    16-bit Adam moments and gradients let Nemotron-4 340B on 128 H100 (TP8 PP8 VPP12, the
    DGX Cloud recipe's layout) fit without recompute, where the fp32 defaults need full
    recompute; the optimizer's memory and its step's traffic shrink with the bytes held."""
    from podwright.estimate.memory import StateBytes
    from podwright.estimate.training import state_bytes

    def run(**training):
        s = {
            "name": "t", "system": "hgx-h100-ib", "chips": 128, "model": "nemotron-4-340b",
            "precision": "bf16",
            "training": {"seq_len": 4096, "global_batch": 32, "schedule": "interleaved",
                         "parallel": {"tp": 8, "pp": 8, "dp": 2, "vpp": 12}} | training,
        }  # fmt: skip
        return predict(parse_scenario(s))

    base = run()
    lean = run(grad_reduce="bf16", optimizer_states="bf16")
    assert base["layout"]["recompute"] == "full"
    assert lean["layout"]["recompute"] == "none" and lean["fits"]
    assert lean["training"]["memory_gb"]["optimizer"] == pytest.approx(
        base["training"]["memory_gb"]["optimizer"] * 8 / 12
    )
    assert lean["training"]["step_time_s"] < 0.8 * base["training"]["step_time_s"]
    assert (lean["training"]["breakdown_s"]["optimizer"]
            < base["training"]["breakdown_s"]["optimizer"])  # fmt: skip

    scn = parse_scenario({
        "name": "t", "system": "hgx-h100-ib", "chips": 8, "model": "llama-3.1-8b",
        "training": {"seq_len": 4096, "master_params": "remainder", "optimizer_states": "fp8"},
    })  # fmt: skip
    sb = state_bytes(scn.training)
    assert sb.optimizer == 2.0 + 2 * 1.0
    assert StateBytes().optimizer_step == 30.0  # read master, m, v, grad; write them + weight


@pytest.mark.parametrize(
    "model,training,field",
    [  # FP8 primary weights need a low precision; op-level checkpointing needs a dense block
        ("llama-3.1-8b", "fp8_params: true", "training.fp8_params"),
        ("mixtral-8x7b", "recompute: selective, selective_policy: op", "training.selective_policy"),
        ("llama-3.1-8b", "expert_imbalance: 1.3", "training.expert_imbalance"),  # no experts
        ("mixtral-8x7b", "expert_imbalance: 0.8", "training.expert_imbalance"),  # below balance
    ],
)
def test_training_options_their_model_or_precision_cannot_take(
    cli, tmp_path, model, training, field
):
    bad = tmp_path / "s.yaml"
    bad.write_text(
        f"name: x\nsystem: hgx-h100-ib\nchips: 8\nmodel: {model}\nprecision: bf16\n"
        f"training: {{seq_len: 4096, {training}}}\n"
    )
    r = cli("predict", str(bad))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and field in r.stderr


def test_expert_imbalance_paces_training_by_the_busiest_expert_rank():
    """training.expert_imbalance: the busiest expert-parallel rank receives that many times the
    mean routed tokens, so its expert GEMMs and all-to-all (and its routed activations) grow by
    that factor while attention and the dense GEMMs do not; 1.0 is the default."""
    train = {"seq_len": 4096, "global_batch": 1024, "zero": 1, "recompute": "selective",
             "parallel": {"tp": 1, "pp": 8, "ep": 64, "cp": 1, "etp": 1, "vpp": 1}}  # fmt: skip

    def run(x):
        s = scenario(system="hgx-h800-roce", chips=2048, model="deepseek-v3", precision="fp8",
                     training=train | {"expert_imbalance": x})  # fmt: skip
        return predict(s, explain=True)

    base, skew = run(1.0), run(1.5)
    default = scenario(
        system="hgx-h800-roce", chips=2048, model="deepseek-v3", precision="fp8", training=train
    )
    assert predict(default)["training"] == base["training"]
    cls0, cls1 = base["explain"]["time_by_class_s"], skew["explain"]["time_by_class_s"]
    assert cls1["gemm_expert"] == pytest.approx(1.5 * cls0["gemm_expert"], rel=0.05)
    assert cls1["gemm_dense"] == pytest.approx(cls0["gemm_dense"])
    assert cls1["attention"] == pytest.approx(cls0["attention"])
    ep0, ep1 = base["explain"]["comm_total_s"]["ep"], skew["explain"]["comm_total_s"]["ep"]
    assert ep1 == pytest.approx(1.5 * ep0, rel=0.15)
    mem0, mem1 = base["training"]["memory_gb"], skew["training"]["memory_gb"]
    assert mem1["activations"] > mem0["activations"] and mem1["weights"] == mem0["weights"]
    assert skew["training"]["step_time_s"] > 1.1 * base["training"]["step_time_s"]


def test_unfused_attention_costs_time_and_s_squared_memory():
    """Megatron-LM's 2021-22 core attention: slower than FlashAttention, more so at longer
    sequences, and without recompute it keeps Korthikanti's 5*a*s^2*b bytes per layer."""

    def run(seq, attention, recompute="selective"):
        tr = {"seq_len": seq, "global_batch": 512, "attention": attention,
              "parallel": {"tp": 8, "pp": 4, "cp": 1, "ep": 1, "etp": 1, "vpp": 1},
              "zero": 1, "recompute": recompute}  # fmt: skip
        return predict(scenario(training=tr))["training"]

    slow = {
        s: run(s, "unfused")["step_time_s"] / run(s, "flash")["step_time_s"] for s in (2048, 8192)
    }
    assert 1.0 < slow[2048] < slow[8192]
    model = load_model("llama-3.1-70b")
    lay = one_layout(tp=8, pp=4, dp=32, recompute=0)
    seq = 2048
    flash = activation_parts(model, lay, seq, "bf16", "flash")[0][0]
    unfused = activation_parts(model, lay, seq, "bf16", "unfused")[0][0]
    per_layer = 5 * model.heads * seq**2 / 8  # a*s^2*b bytes x 5, heads split by TP
    assert unfused - flash == pytest.approx(per_layer * model.layers / 4)


def test_op_level_selective_checkpointing_of_torchtitan():
    """selective_policy op: every second matmul of a block (wk, wo, w3 of a Llama block) and the
    element-wise ops are recomputed; the block keeps its input, wq, wv, w1, w2 and attention
    outputs. Hand count for Llama 3.1 8B (h 4096, 8 KV heads of 128, FFN 14336)."""
    from podwright.workload.training import model_flops_per_token, op_sac_blocks

    h, kv, f = 4096, 1024, 14336
    share, kept, params = op_sac_blocks(load_model("llama-3.1-8b"))
    assert share == pytest.approx((h * kv + h * h + h * f) / (2 * h * h + 2 * h * kv + 3 * h * f))
    assert kept == 4 * h + kv + f

    def run(policy):
        tr = {"seq_len": 8192, "global_batch": 64, "selective_policy": policy,
              "parallel": {"tp": 1, "pp": 1, "cp": 1, "ep": 1, "etp": 1, "vpp": 1},
              "zero": 3, "recompute": "selective"}  # fmt: skip
        s = scenario(chips=64, model="llama-3.1-8b", training=tr)
        return predict(s, explain=True)

    mega, op = run("megatron"), run("op")
    t = op["explain"]["time_by_class_s"]
    assert t["recompute"] == pytest.approx(share * t["gemm_dense"] / 3 + t["elementwise"] / 3)
    assert op["training"]["step_time_s"] > mega["training"]["step_time_s"]
    layers, seq = 32, 8192
    assert op["training"]["memory_gb"]["activations"] * 1e9 == pytest.approx(
        2 * seq * kept * layers + 4 * seq * 128256  # kept elements, bf16; fp32 logits
    )
    assert op["training"]["memory_gb"]["activations"] < mega["training"]["memory_gb"]["activations"]
    # HFU counts the recomputed matmuls: share x 2 x the blocks' matmul parameters per token
    assert params == 2 * h * h + 2 * h * kv + 3 * h * f
    tr = op["training"]
    flops_share = (
        share * 2 * params * layers / model_flops_per_token(load_model("llama-3.1-8b"), seq)
    )
    assert tr["hfu"] == pytest.approx(tr["mfu"] * (1 + flops_share))
    assert mega["training"]["hfu"] == pytest.approx(mega["training"]["mfu"])


def test_flash2_prices_attention_at_the_measured_fa2_rate():
    def step(system, attention):
        tr = {"seq_len": 32768, "global_batch": 64, "attention": attention,
              "parallel": {"tp": 8, "pp": 1, "cp": 4, "ep": 1, "etp": 1, "vpp": 1},
              "zero": 1, "recompute": "selective"}  # fmt: skip
        s = scenario(system=system, chips=32, training=tr)
        return predict(s, explain=True)["explain"]["time_by_class_s"]["attention"]

    # H100: FlashAttention-2 (0.33 of peak) is well below FlashAttention-3 (0.59)
    assert step("hgx-h100-ib", "flash2") > 1.5 * step("hgx-h100-ib", "flash")
    # B200 has no FlashAttention-2 measurement: its best kernel's rate applies
    assert step("hgx-b200-ib", "flash2") == pytest.approx(step("hgx-b200-ib", "flash"))


def test_does_not_fit_reports_reason():
    s = scenario(
        chips=8,
        model="llama-3.1-405b",
        training={
            "seq_len": 8192,
            "global_batch": 8,
            "parallel": {"tp": 1, "pp": 1, "cp": 1},
            "zero": 0,
            "recompute": "full",
        },
    )
    p = predict(s)
    assert p["fits"] is False
    assert "GB" in p["reason"] and p["training"]["memory_gb_per_chip"] > 80


def test_prediction_contract_and_band():
    p = predict(scenario())
    t = p["training"]
    assert set(t["breakdown_s"]) == {"compute", "exposed_comm", "pipeline_bubble", "optimizer"}
    assert math.isclose(sum(t["breakdown_s"].values()), t["step_time_s"], rel_tol=1e-9)
    assert 0 < t["mfu"] < 1
    lo, hi = p["band"]["training.mfu"]
    assert lo <= t["mfu"] <= hi
    json.dumps(p)  # serialisable


def test_ep_all_to_all_crosses_scale_out_on_h800_not_on_cloudmatrix():
    layout = {"tp": 1, "pp": 16, "ep": 64, "cp": 1, "etp": 1, "vpp": 1}
    train = {"seq_len": 4096, "global_batch": 15360, "parallel": layout, "zero": 1,
             "schedule": "dualpipe", "recompute": "none"}  # fmt: skip
    levels = {}
    for system, chips in (("hgx-h800-roce", 2048), ("cloudmatrix384", 3072)):
        s = scenario(
            system=system, chips=chips, model="deepseek-v3", precision="fp8", training=train
        )
        ex = predict(s, explain=True)["explain"]
        levels[system] = {c["fabric"] for c in ex["collectives"] if c["name"].startswith("ep_")}
    assert levels["hgx-h800-roce"] == {"scale-up + scale-out"}
    assert levels["cloudmatrix384"] == {"scale-up"}


def test_vectorised_equals_single_predictions():
    s = scenario(
        training={
            "seq_len": 4096,
            "global_batch": 512,
            "micro_batch": "auto",
            "parallel": {"tp": "auto", "pp": "auto", "cp": 1, "vpp": "auto"},
            "zero": "auto",
            "recompute": "auto",
        }
    )
    model = load_model(s.model)
    fabric = build(s.system, s.chips)
    lay, _ = enumerate_layouts(s.training, model, s.chips)
    batch = evaluate_training(model, fabric, lay, 4096, "bf16", Overlap())
    rng = np.random.default_rng(0)
    for i in rng.choice(len(lay), size=12, replace=False):
        one = evaluate_training(model, fabric, lay.take([i]), 4096, "bf16", Overlap())
        assert one.step_time_s[0] == pytest.approx(batch.step_time_s[i], rel=1e-12)
        assert one.memory_bytes[0] == pytest.approx(batch.memory_bytes[i], rel=1e-12)


def _decode_scenario(chip_file=None):
    sysname = "hgx-h100-ib"
    return parse_scenario(
        {
            "system": sysname,
            "chips": 8,
            "model": "llama-3.1-70b",
            "precision": "fp8",
            "inference": {
                "phase": "decode", "input_len": 2048, "output_len": 512, "batch": 64,
                "instance_chips": 8, "parallel": {"tp": 8, "pp": 1, "attn_dp": 1},
            },
        }
    )  # fmt: skip


def test_decode_step_falls_as_hbm_bandwidth_rises(tmp_path):
    from podwright.estimate.inference import InferenceModel, enumerate_inference
    from podwright.specs import load_chip

    s = _decode_scenario()
    model = load_model(s.model)
    base = build(s.system, 8)
    tpots = []
    for tbps in (2.0, 3.35, 5.0, 8.0):
        chip = load_chip("h100-sxm").model_copy(update={"hbm_tbps": tbps})
        fabric = type(base)(base.system, chip, base.chips, base.levels, base.items)
        m = InferenceModel(s, model, fabric)
        lay, _ = enumerate_inference(s.inference, model, 8)
        tpots.append(float(m.decode(lay)["tpot_s"][0]))
    assert all(a > b for a, b in zip(tpots, tpots[1:], strict=False))


def test_inference_prediction_contract():
    import podwright

    p = podwright.predict(_decode_scenario(), explain=True)
    inf = p["inference"]
    assert inf["tpot_ms"] > 0 and inf["decode_tokens_per_s_per_chip"] > 0
    assert p["economics"]["usd_per_mtoken"] > 0
    ex = p["explain"]
    assert {"weights_gemm", "attention_kv", "expert_gemm", "dispatch_combine", "other_comm"} <= set(
        ex["step_s_per_stage"]
    )
    assert "batch_bound" in ex


def test_an_slo_no_layout_meets_reports_the_nearest_candidate():
    """With an SLO below any reachable TPOT the prediction says so (fits false, a reason with
    the TPOT reached) and reports the fitting candidate nearest the SLO, the smallest batch,
    not the largest one; a disaggregated deployment names the pool that misses it."""
    import podwright

    def run(tpot_ms, **inference):
        return podwright.predict({
            "name": "t", "system": "hgx-h100-ib", "chips": 8, "model": "llama-3.1-70b",
            "precision": "fp8",
            "inference": {"phase": "decode", "input_len": 2048, "output_len": 512, "batch": "auto",
                          "instance_chips": 8, "parallel": {"tp": 8}, "slo": {"tpot_ms": tpot_ms}}
            | inference,
        })  # fmt: skip

    met, missed = run(50.0), run(1.0)
    assert met["fits"] and "reason" not in met
    assert missed["fits"] is False and "TPOT" in missed["reason"] and "SLO 1 ms" in missed["reason"]
    assert missed["inference"]["tpot_ms"] > 1.0
    assert missed["inference"]["tpot_ms"] < met["inference"]["tpot_ms"]
    assert missed["inference"]["batch"] < met["inference"]["batch"]

    disagg = run(1.0, phase="serve", disaggregated={"prefill_chips": 8, "decode_chips": 8})
    assert disagg["fits"] is False and disagg["reason"].startswith("decode pool:")


def test_expert_parallel_group_of_a_tp_instance_stays_in_the_node():
    """TP8 attention with MoE as ETP2 x EP4 on one 8-GPU node: dispatch and combine span the
    node's 8 GPUs (each token to both shards of its experts) over NVLink, not the scale-out."""
    s = parse_scenario(
        {
            "system": "hgx-b200-ib", "chips": 8, "model": "deepseek-r1", "precision": "fp8",
            "inference": {"phase": "decode", "input_len": 1024, "output_len": 1024, "batch": 8,
                          "instance_chips": 8, "parallel": {"tp": 8, "pp": 1, "ep": 4}},
        }
    )  # fmt: skip
    rows = predict(s, explain=True)["explain"]["collectives"]
    ep = [r for r in rows if r["name"].startswith("ep_")]
    assert ep and all(r["fabric"] == "scale-up" and r["group"] == 8 for r in ep)


def test_engine_memory_policy_bounds_the_batch():
    """A memory-bound decode batch shrinks when the engine keeps a memory margin
    (memory_fraction) or reserves whole sequences' KV (kv_reservation: full)."""

    def batch(**policy):
        s = parse_scenario(
            {
                "system": "hgx-h200-ib", "chips": 1, "model": "llama-3.1-8b", "precision": "fp8",
                "inference": {"phase": "decode", "input_len": 4096, "output_len": 4096,
                              "instance_chips": 1, "parallel": {"tp": 1}, **policy},
            }
        )  # fmt: skip
        p = predict(s, explain=True)
        assert p["explain"]["batch_bound"] == "memory (KV cache capacity)"
        return p["inference"]["batch"]

    base = batch()
    assert batch(memory_fraction=0.8) < base
    assert batch(kv_reservation="full") < base
    # TensorRT-LLM's preset: whole sequences reserved, 90% of free memory, and (FP8 checkpoint)
    # an FP8 KV cache, which holds more sequences than the reservation costs
    assert batch(engine="trtllm") > base
    assert batch(engine="trtllm", kv_cache_dtype="bf16") < base


def test_unknown_engine_exits_2(cli, tmp_path):
    import yaml

    body = {"system": "hgx-h200-ib", "chips": 1, "model": "llama-3.1-8b",
            "inference": {"phase": "decode", "engine": "no-such-engine"}}  # fmt: skip
    path = tmp_path / "e.yaml"
    path.write_text(yaml.safe_dump(body))
    r = cli("predict", str(path))
    assert r.returncode == 2 and "inference.engine" in r.stderr


@pytest.mark.parametrize(
    "patch, field",
    [
        ({"training": {"seq_len": 4096, "parallel": {"tp": 3}}}, "training.parallel"),
        (
            {"training": {"seq_len": 4096, "parallel": {"tp": 8, "pp": 4, "dp": 7}}},
            "training.parallel.dp",
        ),
        ({"model": "no-such-model"}, "model"),
        ({"training": {"seq_len": -1}}, "training.seq_len"),
        # an "int or auto" field is named as the field, not as pydantic's union member
        ({"training": {"seq_len": 4096, "global_batch": -4}}, "training.global_batch: "),
        ({"training": {"seq_len": 4096, "parallel": {"tp": -2}}}, "training.parallel.tp: "),
        (
            {"training": {"seq_len": 4096, "recompute": "selective", "recompute_layers": 2}},
            "training",
        ),
    ],
)
def test_bad_scenarios_exit_2(cli, tmp_path, patch, field):
    import yaml

    body = {"name": "bad", "system": "hgx-h100-ib", "chips": 1024, "model": "llama-3.1-70b",
            "training": {"seq_len": 4096, "global_batch": 512}}  # fmt: skip
    body.update(patch)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(body))
    r = cli("predict", str(path))
    assert r.returncode == 2, r.stdout
    line = r.stderr.strip()
    assert "\n" not in line and field in line, line


@pytest.mark.parametrize("tpot", [0, -5])
def test_bad_slo_exits_2(cli, tmp_path, tpot):
    import yaml

    body = {"system": "hgx-h100-ib", "chips": 8, "model": "llama-3.1-8b",
            "inference": {"phase": "decode", "slo": {"tpot_ms": tpot}}}  # fmt: skip
    path = tmp_path / "slo.yaml"
    path.write_text(yaml.safe_dump(body))
    r = cli("predict", str(path))
    assert r.returncode == 2
    assert "inference.slo.tpot_ms" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_predict_with_simulated_network(cli, tmp_path):
    import yaml

    body = {"system": "hgx-h100-ib", "chips": 64, "model": "llama-3.1-8b",
            "training": {"seq_len": 4096, "global_batch": 128,
                         "parallel": {"tp": 8, "pp": 1, "cp": 1}, "zero": 1, "recompute": "none",
                         "overlap": {"dp": False}}}  # fmt: skip
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(body))
    r = cli("predict", str(path), "--network", "sim", "--explain", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["network"] == "sim"
    sims = [c["seconds_each_sim"] for c in data["explain"]["collectives"]]
    assert sims and all(t > 0 for t in sims)
    ana = json.loads(cli("predict", str(path), "--json").stdout)
    # same layout; the simulated network may only move the step time, not the compute
    assert data["layout"] == ana["layout"]
    assert data["training"]["breakdown_s"]["compute"] == pytest.approx(
        ana["training"]["breakdown_s"]["compute"]
    )
    # the exposed communication is priced by the simulator
    assert data["training"]["breakdown_s"]["exposed_comm"] != pytest.approx(
        ana["training"]["breakdown_s"]["exposed_comm"], rel=1e-6
    )


def test_examples_predict(cli):
    from pathlib import Path

    for path in sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.yaml")):
        r = cli("predict", str(path), "--json")
        assert r.returncode == 0, (path, r.stderr)


def test_inference_with_simulated_network():
    from podwright.sim.network.estimator import sim_network

    s = parse_scenario(
        {"system": "hgx-h100-ib", "chips": 16, "model": "deepseek-v3", "precision": "fp8",
         "inference": {"phase": "decode", "input_len": 1024, "output_len": 256, "batch": 512,
                       "instance_chips": 16, "parallel": {"tp": 1, "pp": 1, "ep": 16, "attn_dp": 16}}}
    )  # fmt: skip
    p = predict(s, explain=True, network=sim_network)
    assert p["network"] == "sim"
    coll = {c["name"]: c for c in p["explain"]["collectives"]}
    assert coll["ep_dispatch"]["fabric"] == "scale-up + scale-out"
    assert coll["ep_dispatch"]["seconds_each_sim"] > 0


def test_inference_vectorised_equals_single():
    from podwright.estimate.inference import InferenceModel, enumerate_inference

    s = parse_scenario(
        {"system": "hgx-h100-ib", "chips": 64, "model": "deepseek-v3", "precision": "fp8",
         "inference": {"phase": "decode", "input_len": 2048, "output_len": 512,
                       "instance_chips": "auto", "parallel": {"tp": "auto", "pp": 1,
                                                              "ep": "auto", "attn_dp": "auto"}}}
    )  # fmt: skip
    model = load_model(s.model)
    m = InferenceModel(s, model, build(s.system, 64))
    lay, _ = enumerate_inference(s.inference, model, 64)
    batch = m.decode(lay)
    rng = np.random.default_rng(1)
    for i in rng.choice(len(lay), size=15, replace=False):
        one = m.decode(lay.take([i]))
        assert one["tpot_s"][0] == pytest.approx(batch["tpot_s"][i], rel=1e-12)
        assert one["tokens_per_s_per_chip"][0] == pytest.approx(
            batch["tokens_per_s_per_chip"][i], rel=1e-12
        )


def test_placement_moves_tp_off_the_scale_up_domain():
    base = {"system": "hgx-h100-ib", "chips": 1024, "model": "llama-3.1-70b",
            "training": {"seq_len": 4096, "global_batch": 512, "parallel": {"tp": 8, "pp": 4, "cp": 1},
                         "recompute": "selective"}}  # fmt: skip
    megatron = predict(parse_scenario(base), explain=True)
    base["training"]["placement"] = ["dp", "tp", "cp", "pp"]
    spread = predict(parse_scenario(base), explain=True)
    fabric = {c["name"]: c["fabric"] for c in spread["explain"]["collectives"]}
    assert fabric["tp"] == "scale-out"
    assert spread["training"]["step_time_s"] > megatron["training"]["step_time_s"]


def test_nccl_ramp_slows_mid_size_in_domain_collectives():
    """Training's in-domain all-reduce of S bytes follows the measured NCCL sweep's
    busbw(S) / busbw(largest); large messages, chips without a sweep and serving (engine
    all-reduce kernels) keep the latency + bandwidth model."""
    import yaml

    from podwright.estimate.network import NetworkModel
    from podwright.specs.catalog import CATALOG

    sweep = yaml.safe_load((CATALOG / "measurements" / "allreduce_ramp.yaml").read_text())
    curve = sweep["curves"]["a100-nvlink3"]["busbw_gbs"]
    plain = NetworkModel.of(build("dgx-a100-ib", chips=8))
    ramped = plain.with_nccl_ramp()
    size = 2**24  # 16 MiB: a tensor-parallel all-reduce of a 2k x 4k bf16 activation
    t_plain = plain.time("all_reduce", size, 8, 1)[0]
    t_ramped = ramped.time("all_reduce", size, 8, 1)[0]
    # the bandwidth term runs at the measured share of the asymptote at this size
    bw_term = 2 * 7 / 8 * size / (plain.up_bandwidth(np.array([8.0]), True)[0] * 1e9)
    share = curve[size] / max(curve.values())
    assert t_ramped == pytest.approx(bw_term / share + plain.base, rel=1e-6)
    assert t_ramped > 1.5 * t_plain
    # at the sweep's largest sizes the two agree
    big = 2**33
    assert ramped.time("all_reduce", big, 8, 1)[0] == pytest.approx(
        plain.time("all_reduce", big, 8, 1)[0], rel=0.01
    )
    # scale-out parts and chips without a sweep are untouched
    tpu = NetworkModel.of(build("tpu-v4-pod", chips=64))
    assert (
        tpu.with_nccl_ramp().time("all_reduce", size, 8, 1)[0]
        == tpu.time("all_reduce", size, 8, 1)[0]
    )


def test_partial_full_recompute_is_linear_in_layers_and_the_fewest_that_fit():
    """Full recompute of N layers per pipeline chunk (Megatron's block method) costs the
    share N / chunk of full recompute's time and memory saving; left to podwright, a
    full-recompute layout recomputes the fewest whole layers that fit."""

    def run(recompute=None, layers=None):
        tr = {"seq_len": 8192, "global_batch": 64, "micro_batch": 2, "zero": 3,
              "parallel": {"tp": 1, "pp": 1, "cp": 1, "ep": 1, "etp": 1, "vpp": 1}}  # fmt: skip
        if recompute:
            tr["recompute"] = recompute
        if layers:
            tr["recompute_layers"] = layers
        s = scenario(system="gb200-nvl72", chips=32, precision="bf16", training=tr)
        return predict(s)

    none, full = run("none"), run("full")
    assert not none["fits"] and full["fits"]
    assert "recompute_layers" not in full["layout"]  # stated full: every layer
    t0, t1 = none["training"]["step_time_s"], full["training"]["step_time_s"]
    a0, a1 = (
        none["training"]["memory_gb"]["activations"],
        full["training"]["memory_gb"]["activations"],
    )
    part = run("full", layers=20)  # 20 of llama-3.1-70b's 80 layers
    assert part["layout"]["recompute_layers"] == 20
    assert part["training"]["step_time_s"] == pytest.approx(t0 + 0.25 * (t1 - t0), rel=1e-6)
    assert part["training"]["memory_gb"]["activations"] == pytest.approx(a0 + 0.25 * (a1 - a0))
    auto = run()
    k = auto["layout"]["recompute_layers"]
    assert auto["layout"]["recompute"] == "full" and 0 < k < 80 and auto["fits"]
    assert t1 > auto["training"]["step_time_s"] > t0
    # one layer fewer would not fit
    fewer = run("full", layers=k - 1) if k > 1 else none
    assert not fewer["fits"]


def test_fp8_training_pays_the_casts_no_kernel_fuses():
    """FP8 training: the attention output (forward) and the gradients reaching the output
    projection, FC2 and QKV (backward) are cast with their transposes, 4 bytes per element;
    BF16 training has no casts."""
    from podwright.workload.training import CAST_BYTES, training_work

    model = load_model("llama-3.1-8b")
    lay = one_layout(tp=2, pp=1, dp=4, recompute=0)
    seq = 4096
    fp8, bf16 = (training_work(model, lay, seq, p) for p in ("fp8", "bf16"))
    t_rank = seq / 2  # tokens per rank, sequence parallel over TP 2
    width = model.heads * model.head_dim
    qkv = (model.heads + 2 * model.kv_heads) * model.head_dim
    assert fp8.cast_bytes_fwd == pytest.approx(CAST_BYTES * t_rank * width * model.layers)
    assert fp8.cast_bytes_bwd == pytest.approx(
        CAST_BYTES * t_rank * (2 * model.hidden + qkv) * model.layers
    )
    assert bf16.cast_bytes_fwd == 0 and bf16.cast_bytes_bwd == 0


def test_a_chip_of_two_dies_holds_and_reads_the_dense_weights_per_die():
    """Ascend 910C presents its two dies as devices: serving runs attention data-parallel per
    die, so the package holds and streams the non-expert weights twice (experts once)."""
    from podwright.specs import load_chip
    from podwright.workload.inference import InferLayouts, step_work, weights_per_chip

    assert load_chip("ascend-910c").dies == 2 and load_chip("h100-sxm").dies == 1
    model = load_model("deepseek-r1")
    one = np.array([1])
    lay = InferLayouts(n=one * 160, tp=one, pp=one, dp=one * 160, ep=one * 160, batch=one * 9600)
    d1, e1 = weights_per_chip(model, lay, 1.0, 1.0, dies=1)
    d2, e2 = weights_per_chip(model, lay, 1.0, 1.0, dies=2)
    assert d2 == pytest.approx(2 * d1) and e2 == pytest.approx(e1)

    def dense_weight_elements(dies):
        w = step_work(model, lay, "decode", 1.0, 4096.0, "int8", 1.0, "int8", dies)
        return sum(float(np.sum(g.n * g.k * g.count)) for g in w.gemms if g.cls != "expert")

    def dense_tokens(dies):
        w = step_work(model, lay, "decode", 1.0, 4096.0, "int8", 1.0, "int8", dies)
        return sum(float(np.sum(g.m * g.count)) for g in w.gemms if g.cls != "expert")

    assert dense_weight_elements(2) == pytest.approx(2 * dense_weight_elements(1))
    assert dense_tokens(2) == pytest.approx(dense_tokens(1))  # same tokens, split over dies


def test_decode_attention_streams_the_kv_cache_at_its_measured_bandwidth():
    """Decode kernels stream the KV cache at the chip's measured decode-attention bandwidth
    (B200 0.76 of 7.7 TB/s, H100 0.91); a chip without one at its HBM fraction."""
    from podwright.estimate.compute import ComputeModel
    from podwright.specs import load_chip

    kv = 1e9
    b200 = ComputeModel.of(load_chip("b200"), "fp8")
    assert b200.decode_attention(0.0, kv) == pytest.approx(kv / (7.7e12 * 0.76))
    assert b200.decode_attention(0.0, kv) > b200.memory(kv)
    h100 = ComputeModel.of(load_chip("h100-sxm"), "fp8")  # measured on a lent H100: 0.91
    assert h100.decode_attention(0.0, kv) == pytest.approx(kv / (3.35e12 * 0.91))
    mi300x = ComputeModel.of(load_chip("mi300x"), "fp8")
    assert mi300x.decode_attention(0.0, kv) == pytest.approx(mi300x.memory(kv))


def _fp4_prefill(system: str) -> dict:
    return {
        "system": system, "chips": 4, "model": "deepseek-r1", "precision": "fp8",
        "precision_experts": "fp4",
        "inference": {"phase": "prefill", "input_len": 2048, "batch": "auto", "instance_chips": 2,
                      "parallel": {"tp": 1, "pp": 1, "ep": 2, "attn_dp": 2}},
    }  # fmt: skip


def test_fp4_weights_carry_their_block_scales():
    """NVFP4 stores one FP8 scale per 16 values: 4.5 bits per weight, not 4."""
    from podwright.estimate.inference import enumerate_inference
    from podwright.specs.catalog import element_bytes
    from podwright.workload.inference import weights_per_chip
    from podwright.workload.model import load_model

    assert element_bytes()["fp4"] == pytest.approx(0.5 + 1 / 16)
    model = load_model("deepseek-r1")
    lay = enumerate_inference(parse_scenario(_fp4_prefill("gb200-nvl72")).inference, model, 4)[0]
    _, expert = weights_per_chip(model, lay.take([0]), 1.0, element_bytes()["fp4"], 1)
    _, plain = weights_per_chip(model, lay.take([0]), 1.0, 0.5, 1)
    assert expert[0] == pytest.approx(plain[0] * 1.125)


def test_weights_that_do_not_fit_stream_from_host_memory():
    """DeepSeek-R1 with NVFP4 experts on two GPUs needs ~200 GB per GPU: GB200 (186 GB, with
    NVLink-C2C to the Grace memory) keeps the excess in host memory and streams it back each
    forward pass; a layout that fits in HBM never offloads."""
    p = predict(parse_scenario(_fp4_prefill("gb200-nvl72")))
    assert p["fits"] and p["inference"]["offloaded_gb_per_chip"] > 5
    assert p["inference"]["memory_gb_per_chip"] <= 186 + 1e-6
    four = _fp4_prefill("gb200-nvl72")
    four["inference"] = four["inference"] | {"instance_chips": 4,
                                             "parallel": {"tp": 1, "pp": 1, "ep": 4, "attn_dp": 4}}  # fmt: skip
    assert "offloaded_gb_per_chip" not in predict(parse_scenario(four))["inference"]
    # streaming is charged: a slower host link can only lengthen the pass
    from podwright.estimate.inference import InferenceModel, enumerate_inference
    from podwright.workload.model import load_model

    s = parse_scenario(_fp4_prefill("gb200-nvl72"))
    model, fabric = load_model("deepseek-r1"), build("gb200-nvl72", 4)
    lay = enumerate_inference(s.inference, model, 4)[0]
    fast = InferenceModel(s, model, fabric, offload=True).prefill(lay)["ttft_s"]
    fabric.chip = fabric.chip.model_copy(update={"host_bw": 1.0})
    slow = InferenceModel(s, model, fabric, offload=True).prefill(lay)["ttft_s"]
    assert (slow >= fast).all() and (slow > fast).any()


def test_interleaving_needs_no_divisor_of_the_stage():
    """92 layers on PP4 leaves 23 (prime) per stage. Megatron-Core's custom pipeline layouts
    still interleave it; the bubble is the largest virtual chunk's share, ceil(23/vpp)/23."""
    base = {
        "system": "hgx-h100-ib", "chips": 1536,
        "model": {"hidden_size": 10240, "num_hidden_layers": 92, "num_attention_heads": 80,
                  "num_key_value_heads": 80, "intermediate_size": 40960, "vocab_size": 131072,
                  "hidden_act": "gelu"},
        "training": {"seq_len": 4096, "global_batch": 768, "zero": 1,
                     "parallel": {"tp": 8, "pp": 4, "dp": 48, "cp": 1, "vpp": 1}},
    }  # fmt: skip

    def bubble(vpp):
        s = json.loads(json.dumps(base))
        s["training"]["parallel"]["vpp"] = vpp
        p = predict(parse_scenario(s))
        return p["training"]["breakdown_s"]["pipeline_bubble"], p["layout"]["parallel"]["vpp"]

    one, _ = bubble(1)
    for vpp in (5, 6, 23):
        # (per micro-batch time grows a little with vpp: one more pipeline send per chunk)
        assert bubble(vpp)[0] / one == pytest.approx(math.ceil(23 / vpp) / 23, rel=0.08)
    assert bubble("auto")[1] > 1


def test_expected_max_of_poisson_counts():
    from podwright.estimate.batching import expected_max_poisson, imbalance_prompts

    rng = np.random.default_rng(7)
    for lam, n in ((0.19, 8), (0.6, 4), (2.0, 16)):
        draws = rng.poisson(lam, size=(200_000, n)).max(axis=1).mean()
        assert expected_max_poisson(np.array([lam]), np.array([n]))[0] == pytest.approx(
            draws, rel=0.01
        )
    assert expected_max_poisson(np.array([0.7]), np.array([1]))[0] == pytest.approx(0.7)
    assert imbalance_prompts(np.array([0.7]), np.array([1]))[0] == 0.0


def test_attention_dp_ranks_wait_for_each_others_prompts():
    """In-flight batching with attention DP: an iteration lasts as long as the rank prefilling;
    synchronising prompts across ranks (adp_balance) removes the wait; TP attention is one rank."""

    def rate(parallel, balance):
        s = {"system": "hgx-b200-ib", "chips": 8, "model": "deepseek-r1", "precision": "fp8",
             "precision_experts": "fp4",
             "inference": {"phase": "serve", "input_len": 1024, "output_len": 2048, "batch": 3072,
                           "instance_chips": 8, "parallel": parallel, "adp_balance": balance}}  # fmt: skip
        return predict(parse_scenario(s))["inference"]["decode_tokens_per_s_per_chip"]

    adp = {"tp": 1, "pp": 1, "ep": 8, "attn_dp": 8}
    assert rate(adp, False) < 0.85 * rate(adp, True)
    tp = {"tp": 8, "pp": 1, "ep": 8, "attn_dp": 1}
    assert rate(tp, False) == pytest.approx(rate(tp, True))


def test_serve_explain_splits_the_effective_tpot():
    """phase serve: --explain splits the effective TPOT into the decode step, the prompts
    interleaved with it and the attention-DP wait; the parts add up to the reported TPOT."""
    s = {"system": "hgx-b200-ib", "chips": 8, "model": "deepseek-r1", "precision": "fp8",
         "precision_experts": "fp4",
         "inference": {"phase": "serve", "input_len": 1024, "output_len": 2048, "batch": 3072,
                       "instance_chips": 8, "parallel": {"tp": 1, "pp": 1, "ep": 8, "attn_dp": 8}}}  # fmt: skip
    p = predict(parse_scenario(s), explain=True)
    split = p["explain"]["tpot_split_s"]
    assert set(split) == {"decode", "prefill", "attention_dp_wait"}
    assert split["attention_dp_wait"] > 0
    assert sum(split.values()) * 1e3 == pytest.approx(p["inference"]["tpot_ms"])


def test_tp_comm_overlap_leaves_a_chunk_and_the_sms_it_holds():
    """--tp-comm-overlap: a collective beside its GEMM in TP ring-exchange chunks leaves one
    chunk exposed plus the SM share its kernels hold; what outlasts the GEMM is exposed whole."""
    from podwright.estimate.compute import ComputeModel
    from podwright.specs import load_chip

    comp = ComputeModel.of(load_chip("h100-sxm"), "bf16")
    s = 8 / 132  # catalog/calibration/defaults.yaml tp_overlap_sms over H100's SMs
    assert comp.tp_comm_share == pytest.approx(s)
    assert comp.tp_exposed_under(1.0, 0.4, 8) == pytest.approx(0.4 / 8 + s * 0.4)
    assert comp.tp_exposed_under(0.4, 1.0, 4) == pytest.approx(0.6 + 0.4 / 4 + s * 0.4)
    assert comp.tp_exposed_under(1.0, 0.0, 8) == 0.0

    def step(overlap):
        sc = {"system": "hgx-h100-ib", "chips": 64, "model": "llama-3.1-70b",
              "training": {"seq_len": 4096, "global_batch": 64, "zero": 1, "recompute": "none",
                           "parallel": {"tp": 8, "pp": 1, "cp": 1}, "overlap": {"tp": overlap}}}  # fmt: skip
        return predict(parse_scenario(sc))["training"]["breakdown_s"]["exposed_comm"]

    assert 0 < step(True) < step(False)


def test_overlapped_nccl_collectives_hold_sms():
    """A collective hidden under computation still costs the SM share its CTAs hold
    (nccl_overlap_sms): data-parallel reduction under the backward is not free."""
    from podwright.estimate.compute import ComputeModel
    from podwright.specs import load_chip

    comp = ComputeModel.of(load_chip("h100-sxm"), "bf16")
    s = 24 / 132
    assert comp.nccl_comm_share == pytest.approx(s)
    assert comp.hidden_under(2.0, 0.5) == pytest.approx(s * 0.5)
    assert comp.hidden_under(0.5, 2.0) == pytest.approx(1.5 + s * 0.5)

    def dp_exposed(overlap):
        sc = {"system": "hgx-h100-ib", "chips": 64, "model": "llama-3.1-8b",
              "training": {"seq_len": 4096, "global_batch": 64, "zero": 1, "recompute": "none",
                           "parallel": {"tp": 1, "pp": 1, "cp": 1}, "overlap": {"dp": overlap}}}  # fmt: skip
        return predict(parse_scenario(sc), explain=True)["explain"]["comm_exposed_s"]["dp"]

    assert 0 < dp_exposed(True) < dp_exposed(False)


def _mla_decode(attention: str | None, kv: str = "fp8") -> dict:
    inf = {"phase": "decode", "input_len": 2048, "output_len": 1024, "batch": 2048,
           "instance_chips": 8, "kv_cache_dtype": kv,
           "parallel": {"tp": 1, "pp": 1, "ep": 8, "attn_dp": 8}}  # fmt: skip
    if attention:
        inf["attention_precision"] = attention
    return {"system": "hgx-b200-ib", "chips": 8, "model": "deepseek-r1", "precision": "fp8",
            "inference": inf}  # fmt: skip


def test_fp8_attention_speeds_up_compute_bound_mla_decode():
    """DeepSeek's absorbed MLA decode (128 heads on one latent KV head) is compute bound at a
    large batch: FP8 attention math (TensorRT-LLM's FP8 MQA) divides its time by the catalog's
    FP8/16-bit attention ratio (FlashAttention-3: 1,200 / 740 TFLOP/s on H100)."""
    from podwright.estimate.calibration import constants

    parts = {
        a: predict(parse_scenario(_mla_decode(a)), explain=True)["explain"]["step_s_per_stage"]
        for a in (None, "fp8")
    }
    ratio = parts[None]["attention_kv"] / parts["fp8"]["attention_kv"]
    assert ratio == pytest.approx(constants()["fp8_attention_speedup"].value, rel=0.01)
    assert parts["fp8"]["expert_gemm"] == pytest.approx(parts[None]["expert_gemm"])


def test_fp8_attention_without_an_fp8_kv_cache_exits_2(cli, tmp_path):
    import yaml

    body = _mla_decode("fp8", kv="bf16")
    path = tmp_path / "fp8attn.yaml"
    path.write_text(yaml.safe_dump(body))
    r = cli("predict", str(path))
    assert r.returncode == 2
    line = r.stderr.strip()
    assert "\n" not in line and "inference.attention_precision" in line and "FP8 KV" in line


def test_utilization_prices_the_idle_hours(cli, tmp_path):
    """economics.utilization: capex and energy are paid every hour, tokens come in the busy
    share of them, so $/Mtoken divides by it and tokens per joule multiply by it; out of
    (0, 1] it is bad input, in a scenario and in `compare`."""
    import yaml

    import podwright
    from podwright.economics.cost import usd_per_mtoken

    body = _decode_scenario().model_dump(exclude_none=True)
    full = podwright.predict(parse_scenario(body))
    part = podwright.predict(parse_scenario(body | {"economics": {"utilization": 0.6}}))
    e1, e6 = full["economics"], part["economics"]
    assert e6["utilization"] == 0.6 and e6["usd_per_hour"] == pytest.approx(e1["usd_per_hour"])
    assert e6["usd_per_mtoken"] == pytest.approx(e1["usd_per_mtoken"] / 0.6)
    assert e6["tokens_per_joule"] == pytest.approx(e1["tokens_per_joule"] * 0.6)
    assert usd_per_mtoken(36.0, 10.0, 0.5) == pytest.approx(36.0 / (10.0 * 0.5 * 3600) * 1e6)
    bad = tmp_path / "u.yaml"
    bad.write_text(yaml.safe_dump(body | {"economics": {"utilization": 0}}))
    r = cli("predict", str(bad))
    assert r.returncode == 2 and "economics.utilization" in r.stderr
    for args in (["--model", "llama-3.1-8b", "--utilization", "1.5"], ["--utilization", "0.5"]):
        r = cli("compare", "gb200-nvl72", "hgx-h100-ib", *args)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "utilization" in r.stderr
