"""Measure calibration data on a GPU (run by hand on a device machine; not part of the tests).

Writes $OUT/calibration-<device>.json (or ./calibration-<device>.json), rewritten after every
section so that a run stopped at its time limit keeps what it finished:
- gemm: BF16 (torch.matmul -> cuBLAS default heuristic) and FP8 (torch._scaled_mm, per-tensor
  scales) over LLM projection shapes (n, k) from Llama 3 and DeepSeek-V3 for m from 1 to 16384,
  and square shapes (the Azure / stas00 convention);
- grouped_gemm: BF16 MoE expert GEMMs through torch._grouped_mm (one kernel for all experts);
- attention: torch SDPA per backend (flash = FlashAttention-2, cudnn, efficient, math = unfused),
  forward and forward+backward, at the Azure AI-benchmarking-guide harness shape (batch 2,
  seq 8192, width 2048, non-causal) and causal training shapes;
- decode_attention: one query token against a KV cache (GQA), as achieved HBM bandwidth;
- memory: copy / triad / RMSNorm / FP8 cast-with-transpose bandwidth over sizes; kernel floor (back-to-back tiny kernels
  in a CUDA graph) and host dispatch time per eager PyTorch op;
- sustained: a large BF16 (and FP8) GEMM run for several seconds with power and SM clock samples;
- duty_cycle: the same GEMM's rate when it alternates with memory-bound work (25-100% of the time
  in GEMMs), which says whether a training step's GEMMs run at the power-capped sustained rate.

Timing: every GPU figure is a CUDA graph of `reps` back-to-back calls replayed five times
(median replay / reps), so launch overhead does not count; weights are cycled through enough
copies (>= 256 MB in all) that they come from HBM, not L2, as in a model's forward pass.
TFLOP/s = 2*m*n*k / time. Usage: python benchmarks/gpu_calibration.py [--quick] [--cpu] [--only=SECTION,...]
(--cpu: tiny shapes on the CPU, to check the script itself without a GPU).
"""
# ruff: noqa: B023 - each closure is timed within the loop iteration that made it

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

GEMM_NK = [  # (n, k): projections of Llama 3 8B/70B/405B and DeepSeek-V3 (DeepGEMM's shapes)
    (4096, 4096), (14336, 4096), (4096, 14336), (8192, 8192), (10240, 8192), (28672, 8192),
    (8192, 28672), (16384, 16384), (2112, 7168), (24576, 1536), (7168, 16384), (4096, 7168),
    (7168, 2048), (32768, 512),
]  # fmt: skip
GEMM_M = [1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384]
SQUARES = [256, 512, 1024, 2048, 4096, 8192, 16384]
GROUPED = [  # (experts, tokens per expert, n, k)
    (4, 8192, 4096, 7168), (4, 8192, 7168, 2048), (8, 4096, 4096, 7168), (8, 4096, 7168, 2048),
    (2, 512, 4096, 7168), (4, 256, 4096, 7168), (4, 256, 7168, 2048), (8, 128, 4096, 7168),
    (32, 128, 4096, 7168), (32, 128, 7168, 2048), (32, 32, 4096, 7168), (256, 64, 4096, 7168),
    (8, 1024, 4096, 7168), (16, 2048, 4096, 7168),
]  # fmt: skip
L2_FLUSH_BYTES = 256 * 2**20
TARGET_S = 0.02  # one graph replay lasts about this long


class Timer:
    """Seconds per call of fn(i) (i cycles over buffer copies): CUDA graph replay, or wall clock."""

    def __init__(self, torch, cuda: bool):
        self.torch, self.cuda = torch, cuda

    def per_call(self, fn, est_s: float | None = None, max_reps: int = 200) -> float:
        torch = self.torch
        if not self.cuda:
            fn(0)
            t0 = time.perf_counter()
            for i in range(3):
                fn(i)
            return (time.perf_counter() - t0) / 3
        if est_s is None:
            est_s = self.eager(fn, 3)
        reps = int(min(max_reps, max(1, TARGET_S / max(est_s, 1e-7))))
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for i in range(3):
                fn(i)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            for i in range(reps):
                fn(i)
        graph.replay()
        torch.cuda.synchronize()
        times = []
        for _ in range(5):
            start, end = (torch.cuda.Event(enable_timing=True) for _ in range(2))
            start.record()
            graph.replay()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end) / 1e3 / reps)
        del graph
        return sorted(times)[2]

    def eager(self, fn, reps: int) -> float:
        """Seconds per call, eager, events around `reps` calls (for estimates and backward)."""
        torch = self.torch
        fn(0)
        if not self.cuda:
            t0 = time.perf_counter()
            for i in range(reps):
                fn(i)
            return (time.perf_counter() - t0) / reps
        torch.cuda.synchronize()
        start, end = (torch.cuda.Event(enable_timing=True) for _ in range(2))
        start.record()
        for i in range(reps):
            fn(i)
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end) / 1e3 / reps


def copies_for(nbytes: int) -> int:
    return max(1, min(64, math.ceil(L2_FLUSH_BYTES / max(nbytes, 1))))


def gemm_rows(torch, timer, dev, shapes, fp8: bool) -> list[dict]:
    rows = []
    one = torch.ones((), device=dev)
    for m, n, k in shapes:
        copies = copies_for(2 * (m * k + k * n))
        a = [torch.randn(m, k, device=dev, dtype=torch.bfloat16) for _ in range(copies)]
        b = [torch.randn(k, n, device=dev, dtype=torch.bfloat16) for _ in range(copies)]
        out = torch.empty(m, n, device=dev, dtype=torch.bfloat16)
        t = timer.per_call(lambda i: torch.matmul(a[i % copies], b[i % copies], out=out))
        rows.append({"dtype": "bf16", "m": m, "n": n, "k": k, "us": t * 1e6,
                     "tflops": 2 * m * n * k / t / 1e12})  # fmt: skip
        if fp8 and m % 16 == 0:
            a8 = [x.to(torch.float8_e4m3fn) for x in a]
            b8 = [x.t().contiguous().to(torch.float8_e4m3fn).t() for x in b]  # column-major

            def mm8(i, a8=a8, b8=b8, c=copies):
                return torch._scaled_mm(
                    a8[i % c], b8[i % c], scale_a=one, scale_b=one, out_dtype=torch.bfloat16
                )

            try:
                t = timer.per_call(mm8)
                rows.append({"dtype": "fp8", "m": m, "n": n, "k": k, "us": t * 1e6,
                             "tflops": 2 * m * n * k / t / 1e12})  # fmt: skip
            except Exception as err:  # noqa: BLE001 - record and go on
                rows.append({"dtype": "fp8", "m": m, "n": n, "k": k, "error": str(err)[:200]})
    return rows


def grouped_rows(torch, timer, dev, shapes) -> list[dict]:
    rows = []
    for g, m, n, k in shapes:
        try:
            copies = copies_for(2 * g * (m * k + k * n))
            a = [torch.randn(g * m, k, device=dev, dtype=torch.bfloat16) for _ in range(copies)]
            # torch._grouped_mm wants the expert weights as (g, k, n) with n-major strides
            b = [torch.randn(g, n, k, device=dev, dtype=torch.bfloat16).transpose(-2, -1)
                 for _ in range(copies)]  # fmt: skip
            offs = torch.arange(m, g * m + 1, m, device=dev, dtype=torch.int32)
            t = timer.per_call(lambda i: torch._grouped_mm(a[i % copies], b[i % copies], offs=offs))
            rows.append({"group": g, "m": m, "n": n, "k": k, "us": t * 1e6,
                         "tflops": 2 * g * m * n * k / t / 1e12})  # fmt: skip
        except Exception as err:  # noqa: BLE001
            rows.append({"group": g, "m": m, "n": n, "k": k, "error": str(err)[:200]})
    return rows


def attention_rows(torch, timer, dev, configs, backends) -> list[dict]:
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    rows = []
    for batch, seq, heads, hd, causal in configs:
        flops = 4 * batch * heads * seq * seq * hd * (0.5 if causal else 1.0)
        for name in backends:
            row = {"backend": name, "batch": batch, "seq": seq, "heads": heads,
                   "head_dim": hd, "causal": causal}  # fmt: skip
            try:
                q, k, v = (torch.randn(batch, heads, seq, hd, device=dev, dtype=torch.bfloat16,
                                       requires_grad=True) for _ in range(3))  # fmt: skip
                with sdpa_kernel(getattr(SDPBackend, name)):

                    def fwd(i):
                        with torch.no_grad():
                            return F.scaled_dot_product_attention(q, k, v, is_causal=causal)

                    t_f = timer.per_call(fwd)
                    # random, not constant: a constant gradient toggles few bits and lets
                    # the clock rise (it made GEMMs 13% faster in benchmarks/gpu_layer_check.py)
                    grad = torch.randn(batch, heads, seq, hd, device=dev, dtype=torch.bfloat16)

                    def fwd_bwd(i):
                        out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                        q.grad = k.grad = v.grad = None
                        out.backward(grad)

                    t_fb = timer.eager(fwd_bwd, 5)
                row.update(fwd_tflops=flops / t_f / 1e12, fwd_bwd_tflops=3.5 * flops / t_fb / 1e12,
                           fwd_us=t_f * 1e6, fwd_bwd_us=t_fb * 1e6)  # fmt: skip
            except Exception as err:  # noqa: BLE001
                row["error"] = str(err)[:200]
            rows.append(row)
            torch.cuda.empty_cache() if timer.cuda else None
    return rows


def decode_attention_rows(torch, timer, dev, configs) -> list[dict]:
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    rows = []
    for batch, kv_len, q_heads, kv_heads, hd in configs:
        kv_bytes = 2 * batch * kv_heads * kv_len * hd * 2
        copies = copies_for(kv_bytes)
        q = torch.randn(batch, q_heads, 1, hd, device=dev, dtype=torch.bfloat16)
        kv = [(torch.randn(batch, kv_heads, kv_len, hd, device=dev, dtype=torch.bfloat16),
               torch.randn(batch, kv_heads, kv_len, hd, device=dev, dtype=torch.bfloat16))
              for _ in range(copies)]  # fmt: skip
        for name in ("FLASH_ATTENTION", "EFFICIENT_ATTENTION", "CUDNN_ATTENTION", "MATH"):
            row = {"backend": name, "batch": batch, "kv_len": kv_len, "q_heads": q_heads,
                   "kv_heads": kv_heads, "head_dim": hd, "kv_bytes": kv_bytes}  # fmt: skip
            try:
                with sdpa_kernel(getattr(SDPBackend, name)):

                    def step(i):
                        k, v = kv[i % copies]
                        return F.scaled_dot_product_attention(q, k, v, enable_gqa=True)

                    t = timer.per_call(step)
                row.update(us=t * 1e6, tbps=kv_bytes / t / 1e12)
            except Exception as err:  # noqa: BLE001
                row["error"] = str(err)[:200]
            rows.append(row)
    return rows


def memory_rows(torch, timer, dev, sizes_mb) -> list[dict]:
    import torch.nn.functional as F

    rows = []
    for mb in sizes_mb:
        n = mb * 2**20 // 2  # bf16 elements
        copies = copies_for(3 * 2 * n) if mb < 256 else 1
        x = [torch.randn(n, device=dev, dtype=torch.bfloat16) for _ in range(copies)]
        y = [torch.empty_like(x[0]) for _ in range(copies)]
        z = [torch.randn(n, device=dev, dtype=torch.bfloat16) for _ in range(copies)]
        t = timer.per_call(lambda i: y[i % copies].copy_(x[i % copies]))
        rows.append({"op": "copy", "mb": mb, "us": t * 1e6, "tbps": 4 * n / t / 1e12})
        t = timer.per_call(lambda i: torch.add(x[i % copies], z[i % copies], alpha=2,
                                               out=y[i % copies]))  # fmt: skip
        rows.append({"op": "triad", "mb": mb, "us": t * 1e6, "tbps": 6 * n / t / 1e12})
        hidden = 8192 if n % 8192 == 0 else 1024
        w = torch.ones(hidden, device=dev, dtype=torch.bfloat16)
        t = timer.per_call(lambda i: F.rms_norm(x[i % copies].view(-1, hidden), (hidden,), w))
        rows.append({"op": "rms_norm", "mb": mb, "us": t * 1e6, "tbps": 4 * n / t / 1e12})
        # an FP8 GEMM operand: 16-bit in, row-wise and column-wise (transposed) FP8 copies out,
        # 4 bytes per element (podwright's CAST_BYTES), as Transformer Engine's cast_transpose
        # does in one kernel; here through torch.compile (eager on the CPU)
        f8 = getattr(torch, "float8_e4m3fn", None)
        if f8 is not None:
            try:

                def cast_t(a):
                    return a.to(f8), a.t().contiguous().to(f8)

                fn = torch.compile(cast_t) if dev == "cuda" else cast_t
                t = timer.per_call(lambda i: fn(x[i % copies].view(-1, hidden)))
                rows.append({"op": "fp8_cast_transpose", "mb": mb, "us": t * 1e6,
                             "tbps": 4 * n / t / 1e12})  # fmt: skip
            except Exception as err:  # noqa: BLE001 - the other rows stand
                rows.append({"op": "fp8_cast_transpose", "mb": mb, "error": str(err)[:200]})
    return rows


def launch_rows(torch, timer, dev) -> list[dict]:
    tiny = torch.zeros(1, device=dev)
    a = torch.randn(16, 4096, device=dev, dtype=torch.bfloat16)
    b = torch.randn(4096, 4096, device=dev, dtype=torch.bfloat16)
    rows = [{"what": "kernel_floor_graph_add", "us": timer.per_call(lambda i: tiny.add_(1),
                                                                     est_s=2e-6) * 1e6}]  # fmt: skip
    for what, fn in (
        ("host_eager_add", lambda: tiny.add_(1)),
        ("host_eager_matmul", lambda: a @ b),
    ):
        for _ in range(100 if timer.cuda else 1):
            fn()
        if timer.cuda:
            torch.cuda.synchronize()
        reps = 2000 if timer.cuda else 5
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        t_launch = (time.perf_counter() - t0) / reps
        if timer.cuda:
            torch.cuda.synchronize()
        t_all = (time.perf_counter() - t0) / reps
        rows.append({"what": what, "host_us_per_op": t_launch * 1e6, "wall_us_per_op": t_all * 1e6})
    return rows


def sustained_rows(torch, dev, seconds: float, fp8: bool) -> list[dict]:
    """A 16384^3 GEMM back to back for `seconds`, with power and SM clock samples (BF16, FP8)."""
    n = 16384
    a = torch.randn(n, n, device=dev, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=dev, dtype=torch.bfloat16)
    out = torch.empty(n, n, device=dev, dtype=torch.bfloat16)
    one = torch.ones((), device=dev)
    kernels = {"bf16": lambda: torch.matmul(a, b, out=out)}
    if fp8:
        a8, b8 = a.to(torch.float8_e4m3fn), b.t().contiguous().to(torch.float8_e4m3fn).t()
        kernels["fp8"] = lambda: torch._scaled_mm(
            a8, b8, scale_a=one, scale_b=one, out_dtype=torch.bfloat16
        )
    rows = []
    for dtype, fn in kernels.items():
        t_start = time.perf_counter()
        while time.perf_counter() - t_start < seconds:
            start, end = (torch.cuda.Event(enable_timing=True) for _ in range(2))
            start.record()
            for _ in range(20):
                fn()
            end.record()
            torch.cuda.synchronize()
            row = {"dtype": dtype, "t_s": time.perf_counter() - t_start,
                   "tflops": 20 * 2 * n**3 / (start.elapsed_time(end) / 1e3) / 1e12}  # fmt: skip
            try:
                q = subprocess.run(["nvidia-smi", "--query-gpu=power.draw,clocks.sm,temperature.gpu",
                                    "--format=csv,noheader,nounits"], capture_output=True,
                                   text=True, timeout=5).stdout.strip().split(", ")  # fmt: skip
                row.update(power_w=float(q[0]), sm_mhz=float(q[1]), temp_c=float(q[2]))
            except Exception:  # noqa: BLE001
                pass
            rows.append(row)
    return rows


def duty_cycle_rows(torch, dev, seconds: float) -> list[dict]:
    """GEMM rate when GEMMs alternate with memory-bound work, as in a training step: per duty
    cycle (share of the time in GEMMs), the 8192 x 8192 x 28672 BF16 GEMMs' own time (events
    around each), with power and SM clock; run for `seconds` per duty cycle."""
    a = torch.randn(8192, 28672, device=dev, dtype=torch.bfloat16)
    b = torch.randn(28672, 8192, device=dev, dtype=torch.bfloat16)
    out = torch.empty(8192, 8192, device=dev, dtype=torch.bfloat16)
    x = torch.randn(2**29, device=dev, dtype=torch.bfloat16)  # 1 GiB
    y = torch.empty_like(x)
    flops = 2 * 8192 * 8192 * 28672
    t_gemm = Timer(torch, True).eager(lambda i: torch.matmul(a, b, out=out), 5)
    t_fill = Timer(torch, True).eager(lambda i: torch.add(x, x, alpha=2, out=y), 5)
    rows = []
    for duty in (1.0, 0.75, 0.5, 0.25):
        fills = round(t_gemm * (1 - duty) / duty / t_fill)
        times, t_start, samples = [], time.perf_counter(), []
        while time.perf_counter() - t_start < seconds:
            events = []
            for _ in range(10):
                start, end = (torch.cuda.Event(enable_timing=True) for _ in range(2))
                start.record()
                torch.matmul(a, b, out=out)
                end.record()
                events.append((start, end))
                for _ in range(fills):
                    torch.add(x, x, alpha=2, out=y)
            torch.cuda.synchronize()
            if time.perf_counter() - t_start > seconds / 3:  # after the clock has settled
                times += [s.elapsed_time(e) / 1e3 for s, e in events]
                try:
                    q = subprocess.run(["nvidia-smi", "--query-gpu=power.draw,clocks.sm",
                                        "--format=csv,noheader,nounits"], capture_output=True,
                                       text=True, timeout=5).stdout.strip().split(", ")  # fmt: skip
                    samples.append((float(q[0]), float(q[1])))
                except Exception:  # noqa: BLE001
                    pass
        med = sorted(times)[len(times) // 2]
        rows.append({"duty": duty, "fills_per_gemm": fills, "gemm_tflops": flops / med / 1e12,
                     "power_w": sorted(p for p, _ in samples)[len(samples) // 2] if samples else None,
                     "sm_mhz": sorted(c for _, c in samples)[len(samples) // 2] if samples else None})  # fmt: skip
    return rows


def main() -> None:
    import torch

    cpu = "--cpu" in sys.argv
    quick = "--quick" in sys.argv or cpu
    if not cpu and not torch.cuda.is_available():
        sys.exit("gpu_calibration: no CUDA device")
    dev = "cpu" if cpu else "cuda"
    timer = Timer(torch, cuda=not cpu)
    name = "cpu" if cpu else torch.cuda.get_device_name(0)
    cpu_model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                      .splitlines() if line.startswith("model name")), platform.processor())  # fmt: skip
    fp8 = not cpu and torch.cuda.get_device_capability(0)[0] >= 9
    ms = [1, 16, 128] if quick else GEMM_M
    nks = [(256, 512), (512, 256)] if quick else GEMM_NK
    squares = [128, 256] if quick else SQUARES
    out = {"device": name, "host_cpu": cpu_model, "torch": torch.__version__,
           "cuda": torch.version.cuda, "date": time.strftime("%Y-%m-%d"),
           "script": "benchmarks/gpu_calibration.py"}  # fmt: skip
    if not cpu:
        out["sm_count"] = torch.cuda.get_device_properties(0).multi_processor_count
    path = Path(os.environ.get("OUT", ".")) / f"calibration-{name.replace(' ', '_')}.json"
    backends = ("FLASH_ATTENTION", "CUDNN_ATTENTION", "EFFICIENT_ATTENTION", "MATH")
    azure = [(2, 8192, 16, 128, False)] if not quick else [(1, 256, 2, 64, False)]
    train = [(8, 2048, 32, 128, True), (4, 4096, 32, 128, True), (2, 8192, 32, 128, True),
             (1, 16384, 32, 128, True), (4, 4096, 64, 64, True)]  # fmt: skip
    decode = [(64, 1024, 64, 8, 128), (64, 4096, 64, 8, 128), (16, 16384, 64, 8, 128),
              (128, 2048, 32, 8, 128), (8, 32768, 128, 8, 128)]  # fmt: skip
    sections = [
        (
            "gemm",
            lambda: gemm_rows(
                torch,
                timer,
                dev,
                [(m, n, k) for n, k in nks for m in ms] + [(s, s, s) for s in squares],
                fp8,
            ),
        ),  # fmt: skip
        (
            "grouped_gemm",
            lambda: grouped_rows(torch, timer, dev, GROUPED if not quick else [(2, 64, 128, 256)]),
        ),  # fmt: skip
        # the unfused (MATH) backend only at the Azure harness shape: it is slow and memory-hungry
        (
            "attention",
            lambda: (
                attention_rows(torch, timer, dev, azure, backends if not cpu else ("MATH",))
                + attention_rows(torch, timer, dev, [] if quick else train, backends[:-1])
            ),
        ),
        (
            "decode_attention",
            lambda: decode_attention_rows(
                torch, timer, dev, decode if not quick else [(2, 256, 8, 2, 64)]
            ),
        ),
        (
            "memory",
            lambda: memory_rows(torch, timer, dev, [1, 8, 64, 512, 2048] if not quick else [1]),
        ),  # fmt: skip
        ("launch", lambda: launch_rows(torch, timer, dev)),
        ("sustained", lambda: sustained_rows(torch, dev, 8.0, fp8) if not cpu else []),
        ("duty_cycle", lambda: duty_cycle_rows(torch, dev, 6.0) if not cpu else []),
    ]
    only = [a.split("=", 1)[1] for a in sys.argv if a.startswith("--only=")]
    if only:
        sections = [s for s in sections if s[0] in only[0].split(",")]
    for section, run in sections:
        t0 = time.perf_counter()
        try:
            out[section] = run()
        except Exception as err:  # noqa: BLE001 - keep the other sections
            out[section] = {"error": f"{type(err).__name__}: {str(err)[:300]}"}
        print(f"{section}: {time.perf_counter() - t0:.1f} s", flush=True)
        path.write_text(json.dumps(out, indent=1))
        if not cpu:
            torch.cuda.empty_cache()
    print(path)


if __name__ == "__main__":
    main()
