"""Time transformer layers forward + backward on one GPU (run by hand on a device machine).

The end-to-end check of the training compute model without communication: Llama-style layers
built from a catalog config.json (RMSNorm, fused QKV projection with GQA, RoPE, cuDNN causal
attention, output projection, fused gate/up projection, SwiGLU, down projection; BF16; the
element-wise parts through torch.compile, as Megatron/Transformer Engine fuse them), timed
forward + backward per layer, and the same layer's GEMMs alone and attention alone. MoE layers
(Qwen3-MoE, Mixtral) route force-balanced tokens (as NVIDIA's MoE benchmarks do) through a
router, permutation, two grouped expert GEMMs (torch._grouped_mm) and a weighted
unpermutation; their grouped GEMMs are also timed alone. Every timing also records the host
time to issue the work (until the call returns, before the device is synchronised; no timed
function synchronises inside), and the whole layer's forward + backward is profiled once for
its device kernel count: host time per layer against device time per layer says whether an
eager PyTorch layer is launch-bound (small MoE experts), and their ratio gives host time per
kernel. Weights are
N(0, 0.02), activations and output gradients N(0, 1): the data set the GEMMs' power draw and so
the clock (constant operands run faster).
scripts/layer_check.py compares the file with podwright's prediction for the same shapes.

Writes $OUT/layers-<device>.json (or ./layers-<device>.json), rewritten after every row.
Usage: python benchmarks/gpu_layer_check.py [--cpu] [--models=NAME,...]
(--cpu: tiny shapes on the CPU, to check the script; there the kernel count is of operators.
The two dense models took about 100 s on an H100 and an H200; the MoE models and the host-time
and kernel-count fields were added afterwards and have not run on a GPU yet.)
"""
# ruff: noqa: B023 - each closure is timed within the loop iteration that made it

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

MODELS = ("llama-3.1-8b", "llama-3.1-70b", "qwen3-30b-a3b", "mixtral-8x7b")
SHAPES = ((1, 4096), (2, 4096), (1, 8192), (4, 2048))  # (micro-batch, sequence)
MOE_SHAPES = ((1, 4096), (2, 4096), (1, 8192))
LAYERS = 4  # distinct layers run in a row, so weights come from HBM


def build(torch, cfg: dict, dev: str, compiled: bool):
    h, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    kv, hd = cfg["num_key_value_heads"], cfg.get("head_dim") or h // heads
    ffn, eps = cfg["intermediate_size"], cfg.get("rms_norm_eps", 1e-5)
    # MoE (Qwen3-MoE / Mixtral keys): routed experts, top-k, each expert's FFN width
    experts = cfg.get("num_experts") or cfg.get("num_local_experts") or 0
    top_k = cfg.get("num_experts_per_tok", 1)
    ffn_e = cfg.get("moe_intermediate_size") or ffn
    bf16 = torch.bfloat16

    def norm(x, w):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)).to(bf16) * w

    def rope(x, cos, sin):
        x1, x2 = x[..., : hd // 2], x[..., hd // 2 :]
        return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)

    def swiglu(gu):
        g, u = gu.chunk(2, dim=-1)
        return torch.nn.functional.silu(g) * u

    def add(a, b):
        return a + b

    if compiled:
        torch._dynamo.config.recompile_limit = 64  # one graph per shape and grad mode
        norm, rope, swiglu, add = (torch.compile(f) for f in (norm, rope, swiglu, add))

    def weights():
        def w(*shape):
            return (torch.randn(*shape, device=dev, dtype=bf16) * 0.02).requires_grad_()

        p = {"n1": torch.ones(h, device=dev, dtype=bf16, requires_grad=True),
             "qkv": w((heads + 2 * kv) * hd, h), "o": w(h, heads * hd),
             "n2": torch.ones(h, device=dev, dtype=bf16, requires_grad=True)}  # fmt: skip
        if experts:  # expert weights as (experts, out, in): grouped GEMMs take them transposed
            return p | {"router": w(experts, h), "egu": w(experts, 2 * ffn_e, h),
                        "ed": w(experts, h, ffn_e)}  # fmt: skip
        return p | {"gu": w(2 * ffn, h), "d": w(h, ffn)}

    def grouped(x, w, offs, counts):
        """One grouped GEMM over the experts' contiguous token blocks (torch._grouped_mm on the
        GPU; a loop on the CPU, only to check the script)."""
        if dev == "cuda":
            return torch._grouped_mm(x, w.transpose(-2, -1), offs=offs)
        return torch.cat([xe @ we.t() for xe, we in zip(x.split(counts), w, strict=True)])

    def moe(x2d, p):
        """Router, top-k (force-balanced, as NVIDIA's MoE benchmarks: every expert gets the same
        tokens), permutation, grouped SwiGLU experts, weighted unpermutation."""
        t = x2d.shape[0]
        probs = torch.softmax((x2d @ p["router"].t()).float(), dim=-1)
        idx = (torch.arange(t * top_k, device=dev) % experts).view(t, top_k)
        wts = probs.gather(1, idx)
        wts = (wts / wts.sum(-1, keepdim=True)).to(bf16)
        order = idx.flatten().argsort(stable=True)
        tok = order // top_k
        per = t * top_k // experts
        offs = torch.arange(per, t * top_k + 1, per, device=dev, dtype=torch.int32)
        a = swiglu(grouped(x2d[tok], p["egu"], offs, [per] * experts))
        y = grouped(a, p["ed"], offs, [per] * experts) * wts.flatten()[order].unsqueeze(-1)
        return torch.zeros_like(x2d).index_add(0, tok, y)

    def attention(q, k, v):
        from torch.nn.attention import SDPBackend, sdpa_kernel

        backends = [SDPBackend.CUDNN_ATTENTION, SDPBackend.FLASH_ATTENTION] if dev == "cuda" else [
            SDPBackend.MATH]  # fmt: skip
        with sdpa_kernel(backends):
            return torch.nn.functional.scaled_dot_product_attention(
                q, k, v, is_causal=True, enable_gqa=True
            )

    def layer(x, p, cos, sin):
        b, s, _ = x.shape
        qkv = norm(x, p["n1"]) @ p["qkv"].t()
        q, k, v = qkv.split([heads * hd, kv * hd, kv * hd], dim=-1)
        q = rope(q.view(b, s, heads, hd).transpose(1, 2), cos, sin)
        k = rope(k.view(b, s, kv, hd).transpose(1, 2), cos, sin)
        v = v.view(b, s, kv, hd).transpose(1, 2)
        a = attention(q, k, v).transpose(1, 2).reshape(b, s, heads * hd)
        x = add(x, a @ p["o"].t())
        if experts:
            return add(x, moe(norm(x, p["n2"]).view(b * s, h), p).view(b, s, h))
        return add(x, swiglu(norm(x, p["n2"]) @ p["gu"].t()) @ p["d"].t())

    def rotary(s):
        inv = 1.0 / (cfg.get("rope_theta", 10000.0) ** (torch.arange(0, hd, 2, device=dev) / hd))
        f = torch.outer(torch.arange(s, device=dev).float(), inv)
        return f.cos().to(bf16), f.sin().to(bf16)

    dims = {"h": h, "heads": heads, "kv": kv, "hd": hd, "ffn": ffn, "experts": experts,
            "top_k": top_k, "ffn_e": ffn_e, "grouped": grouped}  # fmt: skip
    return weights, layer, attention, rotary, dims


def timed(torch, fn, reps: int, cuda: bool) -> tuple[float, float]:
    """(median seconds of fn() over reps after two warm-ups, median seconds the host took to
    issue it: until fn returns, before synchronising)."""
    for _ in range(2):
        fn()
    times, issue = [], []
    for _ in range(reps):
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        issue.append(time.perf_counter() - t0)
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2], sorted(issue)[len(issue) // 2]


def kernels(torch, fn, cuda: bool) -> int:
    """Device kernels (CPU: operators) that one call of fn launches."""
    from torch.profiler import ProfilerActivity, profile

    act = ProfilerActivity.CUDA if cuda else ProfilerActivity.CPU
    with profile(activities=[act]) as prof:
        fn()
        if cuda:
            torch.cuda.synchronize()
    want = "CUDA" if cuda else "CPU"
    return sum(1 for e in prof.events() if e.device_type.name == want)


def measure(torch, cfg, dev, cuda, shapes, layers) -> list[dict]:
    rows = []
    weights, layer, attention, rotary, d = build(torch, cfg, dev, compiled=cuda)
    params = [weights() for _ in range(layers)]
    for b, s in shapes:
        cos, sin = rotary(s)
        x0 = torch.randn(b, s, d["h"], device=dev, dtype=torch.bfloat16, requires_grad=True)
        # random output gradients: constant ones would toggle few bits and let the clock rise
        grad_out = torch.randn_like(x0)

        def fwd_bwd():
            x = x0
            for p in params:
                x = layer(x, p, cos, sin)
            x.backward(grad_out)

        def fwd():
            with torch.no_grad():
                x = x0
                for p in params:
                    x = layer(x, p, cos, sin)

        # the layer's dense GEMMs alone (forward + both backward GEMMs each), on every layer:
        # QKV, output projection, and the MLP (dense) or the router (MoE)
        t = b * s
        mlp = [("router", d["h"])] if d["experts"] else [("gu", d["h"]), ("d", d["ffn"])]
        names = [("qkv", d["h"]), ("o", d["heads"] * d["hd"])] + mlp
        ins = {k: torch.randn(t, n, device=dev, dtype=torch.bfloat16, requires_grad=True)
               for k, n in names}  # fmt: skip

        def gemms():
            outs = [ins[k] @ p[k].t() for p in params for k, _ in names]
            torch.autograd.backward(outs, [torch.randn_like(o) for o in outs])

        timings = [("layer_fwd_bwd", fwd_bwd), ("layer_fwd", fwd), ("gemms_fwd_bwd", gemms)]
        if d["experts"]:  # the experts' two grouped GEMMs alone, force-balanced tokens
            per = t * d["top_k"] // d["experts"]
            offs = torch.arange(per, t * d["top_k"] + 1, per, device=dev, dtype=torch.int32)
            xe = torch.randn(t * d["top_k"], d["h"], device=dev, dtype=torch.bfloat16,
                             requires_grad=True)  # fmt: skip
            ae = torch.randn(t * d["top_k"], d["ffn_e"], device=dev, dtype=torch.bfloat16,
                             requires_grad=True)  # fmt: skip

            def expert_gemms():
                outs = []
                for p in params:
                    outs += [d["grouped"](xe, p["egu"], offs, [per] * d["experts"]),
                             d["grouped"](ae, p["ed"], offs, [per] * d["experts"])]  # fmt: skip
                torch.autograd.backward(outs, [torch.randn_like(o) for o in outs])

            timings.append(("experts_fwd_bwd", expert_gemms))

        q = torch.randn(b, d["heads"], s, d["hd"], device=dev, dtype=torch.bfloat16,
                        requires_grad=True)  # fmt: skip
        k, v = (torch.randn(b, d["kv"], s, d["hd"], device=dev, dtype=torch.bfloat16,
                            requires_grad=True) for _ in range(2))  # fmt: skip

        grad_q = torch.randn_like(q)

        def attn():
            for _ in range(layers):
                attention(q, k, v).backward(grad_q)

        row = {"micro_batch": b, "seq": s, "layers": layers}
        for name, fn in timings + [("attention_fwd_bwd", attn)]:
            try:
                wall, host = timed(torch, fn, 5 if cuda else 1, cuda)
                row[f"{name}_ms_per_layer"] = wall / layers * 1e3
                row[f"{name}_host_ms_per_layer"] = host / layers * 1e3
            except Exception as err:  # noqa: BLE001 - record and go on
                row[f"{name}_error"] = f"{type(err).__name__}: {str(err)[:200]}"
        try:
            row["layer_fwd_bwd_kernels_per_layer"] = kernels(torch, fwd_bwd, cuda) / layers
        except Exception as err:  # noqa: BLE001 - the timings stand without it
            row["kernels_error"] = f"{type(err).__name__}: {str(err)[:200]}"
        rows.append(row)
        x0.grad = None
    return rows


def main() -> None:
    import torch

    cuda = "--cpu" not in sys.argv
    if cuda and not torch.cuda.is_available():
        sys.exit("gpu_layer_check: no CUDA device")
    dev = "cuda" if cuda else "cpu"
    name = torch.cuda.get_device_name(0) if cuda else "cpu"
    root = Path(__file__).resolve().parents[1] / "src" / "podwright" / "catalog" / "models"
    out = {"device": name, "torch": torch.__version__, "cuda": torch.version.cuda,
           "date": time.strftime("%Y-%m-%d"), "script": "benchmarks/gpu_layer_check.py",
           "models": {}}  # fmt: skip
    path = Path(os.environ.get("OUT", ".")) / f"layers-{name.replace(' ', '_')}.json"
    chosen = [a.split("=", 1)[1].split(",") for a in sys.argv if a.startswith("--models=")]
    for model in chosen[0] if chosen else MODELS:
        cfg = json.loads((root / f"{model}.json").read_text())
        if not cuda:  # tiny stand-in with the same structure
            cfg = cfg | {"hidden_size": 256, "num_attention_heads": 4, "num_key_value_heads": 2,
                         "intermediate_size": 512, "head_dim": 64}  # fmt: skip
            if cfg.get("moe_intermediate_size"):
                cfg["moe_intermediate_size"] = 64
        t0 = time.perf_counter()
        try:
            out["models"][model] = measure(
                torch,
                cfg,
                dev,
                cuda,
                (MOE_SHAPES if "num_experts_per_tok" in cfg else SHAPES) if cuda else ((1, 64),),
                LAYERS if cuda else 2,
            )
        except Exception as err:  # noqa: BLE001 - keep the other model
            out["models"][model] = {"error": f"{type(err).__name__}: {str(err)[:300]}"}
        print(f"{model}: {time.perf_counter() - t0:.1f} s", flush=True)
        path.write_text(json.dumps(out, indent=1))
        if cuda:
            torch.cuda.empty_cache()
    print(path)


if __name__ == "__main__":
    main()
