"""The kernel models against published measurements: GEMM shapes, unfused attention, fused MoE."""

import numpy as np
import pytest

from podwright.estimate.calibration import constants
from podwright.estimate.compute import ComputeModel
from podwright.estimate.kernel_checks import (
    gemm_shape_errors,
    layer_errors,
    moe_kernel_errors,
    unfused_attention_errors,
)
from podwright.specs.catalog import load_chip


def test_gemm_shape_model_tracks_published_tables():
    rows = gemm_shape_errors(device=False)
    assert len(rows) >= 70
    err = np.abs([r["error"] for r in rows])
    # recorded level (scripts/kernel_checks.py): median 6%, 90th percentile 33%; the worst rows
    # are FP4 GEMMs of 1-2 GFLOP, whose fixed cost is larger than the kernel floor
    assert np.median(err) <= 0.08
    assert np.percentile(err, 90) <= 0.40
    big = [abs(r["error"]) for r in rows if 2 * r["m"] * r["n"] * r["k"] * r["group"] > 1e11]
    assert max(big) <= 0.40


def test_gemm_shape_model_tracks_the_device_measurements():
    """Rows measured on lent H100/H200 (catalog/measurements/device/, benchmarks/gpu_calibration.py):
    BF16 and FP8, m from 1 to 16384 on LLM projection shapes, and grouped BF16 expert GEMMs."""
    rows = [r for r in gemm_shape_errors() if "device" in r["source"]]
    assert len(rows) >= 700
    err = np.array([r["error"] for r in rows])
    # recorded level: median 6.3%, p90 17%; the model is still slow on m = 128-2048 (-7..-9%)
    assert np.median(np.abs(err)) <= 0.08
    assert np.percentile(np.abs(err), 90) <= 0.22
    # the BF16 asymptote (calibration gemm_peak_fraction) is the measured large-GEMM rate
    large = [r["error"] for r in rows if r["m"] >= 4096 and r["precision"] == "bf16"]
    assert abs(np.median(large)) <= 0.05
    # decode-sized GEMMs are weight-streaming: within 10% at m <= 8
    skinny = [abs(r["error"]) for r in rows if r["m"] <= 8]
    assert np.median(skinny) <= 0.10


def test_overlap_norm_comes_from_the_chip_calibration():
    hopper = ComputeModel.of(load_chip("h100-sxm"), "bf16")
    other = ComputeModel.of(load_chip("b200"), "bf16")
    assert hopper.norm == 4.0 and other.norm == 2.0  # measured on Hopper; the prior elsewhere
    # at the ridge point a higher norm (better overlap) is faster, never faster than max()
    m, n, k = np.array([256.0]), np.array([8192.0]), np.array([8192.0])
    loose = ComputeModel.of(load_chip("h100-sxm"), "bf16", side=-1)  # band: norm 2
    assert loose.norm == 2.0
    assert hopper.gemm_one(m, n, k)[0] < loose.gemm_one(m, n, k)[0]


def test_small_and_skinny_gemms_run_below_the_large_gemm_rate():
    comp = ComputeModel.of(load_chip("h100-sxm"), "bf16")

    def rate(m, n, k, group=1.0):
        t = comp.gemm_one(np.array([m]), np.array([n]), np.array([k]), group)[0]
        return 2.0 * m * n * k * group / t

    big = rate(8192.0, 8192.0, 8192.0)
    assert big <= comp.peak * 1.001
    assert rate(64.0, 4096.0, 7168.0) < 0.5 * big  # decode-sized: weight traffic bound
    assert rate(4096.0, 32768.0, 512.0) < 0.8 * big  # short K: the epilogue shows
    # eight experts of 256 tokens in one grouped kernel beat eight separate launches
    assert rate(256.0, 4096.0, 7168.0, 8.0) > rate(256.0, 4096.0, 7168.0)


def test_moe_expert_kernels_stream_weights_at_their_measured_rate():
    """On the H200 the engines' fused-MoE kernels stream weights at 0.82 of peak against a
    dense GEMM's 0.85 (calibration/h200-sxm.yaml): decode-sized expert GEMMs take longer than
    the same bytes in a dense or batched (attention) kernel; large ones stay compute bound."""
    comp = ComputeModel.of(load_chip("h200-sxm"), "bf16")
    assert comp.grouped_hbm == pytest.approx(0.82 * comp.hbm / 0.85)

    def t(m, moe):
        return comp.gemm_one(np.array([m]), np.array([4096.0]), np.array([7168.0]), 32.0, moe)[0]

    assert t(32.0, 1.0) / t(32.0, 0.0) == pytest.approx(0.85 / 0.82, rel=0.02)
    assert t(8192.0, 1.0) / t(8192.0, 0.0) < 1.02
    # a chip without a grouped-kernel measurement prices expert kernels as dense ones
    b200 = ComputeModel.of(load_chip("b200"), "bf16")
    assert b200.grouped_hbm == 0.0


def test_unfused_attention_model_tracks_published_standard_attention():
    rows = unfused_attention_errors()
    assert len(rows) >= 4
    # recorded level: -17% (A100, head dim 64) .. +23% (GB300)
    assert all(abs(r["error"]) <= 0.30 for r in rows), rows
    # and slower than the FlashAttention figure of the same page
    assert all(r["predicted"] < r["flash_tflops"] for r in rows)


def test_overlapped_all_to_all_slows_the_compute_under_it():
    comp = ComputeModel.of(load_chip("h800-sxm"), "fp8")
    s = comp.comm_share
    assert 20 / 132 == pytest.approx(s)
    # short all-to-all under long compute: not free, the compute loses s of its SMs meanwhile
    assert comp.exposed_under(1.0, 0.2) == pytest.approx(0.2 * s)
    # long all-to-all: only what compute cannot cover shows
    assert comp.exposed_under(1.0, 3.0) == pytest.approx(2.0)


def test_attention_rate_rises_with_sequence_length():
    comp = ComputeModel.of(load_chip("h100-sxm"), "bf16")
    at = comp.attn_at_seq
    h = constants()["attention_seq_half"].value
    assert at == 16384 and comp.attn_seq_half == h
    flops = np.array([1e12])
    # at the measurement's own length the factor applies as measured
    assert comp.attention(flops, 0.0, 0.0, at)[0] == pytest.approx(1e12 / comp.attn)
    t2k, t8k = (
        comp.attention(flops, 0.0, 0.0, 2048.0)[0],
        comp.attention(flops, 0.0, 0.0, 8192.0)[0],
    )
    assert t2k / t8k == pytest.approx((1 + h / 2048) / (1 + h / 8192))
    # decode (no query length) and factors without a stated length are not scaled
    assert comp.attention(flops, 0.0, 0.0, 0.0)[0] == pytest.approx(1e12 / comp.attn)
    b200 = ComputeModel.of(load_chip("b200"), "bf16")
    assert b200.attention(flops, 0.0, 0.0, 2048.0)[0] == pytest.approx(1e12 / b200.attn)


def test_layer_model_tracks_layers_timed_on_a_gpu():
    """Llama-3.1-8B/70B layers timed forward + backward on a lent H100 and H200
    (catalog/measurements/layers/, benchmarks/gpu_layer_check.py)."""
    rows = layer_errors()
    assert len(rows) >= 16
    layer = np.abs([r["error"]["layer"] for r in rows])
    gemms = np.abs([r["error"]["gemms"] for r in rows])
    attn = np.array([r["error"]["attention"] for r in rows])
    # recorded level: whole layer -8..+4% (median 3%), GEMMs median 5% (H200's run 5-8% slower
    # than the model), attention -6..-19% (the H100 factor is FlashAttention-3's; the layers
    # ran cuDNN's GQA kernel)
    assert layer.max() <= 0.10
    assert np.median(gemms) <= 0.07
    assert np.median(np.abs(attn)) <= 0.20


def test_gb200_fp4_asymptote_is_the_sustained_rate():
    """GB200's 4-bit GEMM factor is the sustained rate of the published cuBLASLt sweep (the
    16384^3 row of the run whose long kernels slow down), not the 8192^3 burst: NVFP4 GEMMs
    reach at most ~2x the chip's FP8 rate (LMSYS measures up to 1.9x inside SGLang on GB200)."""

    def rate(precision):
        comp = ComputeModel.of(load_chip("gb200"), precision)
        t = comp.gemm_one(np.array([16384.0]), np.array([16384.0]), np.array([16384.0]))[0]
        return 2.0 * 16384.0**3 / t

    assert rate("fp4") <= 2.05 * rate("fp8")
    sustained = [
        r
        for r in gemm_shape_errors(device=False)
        if r["chip"] == "gb200"
        and r["precision"] == "fp4"
        and r["source"] == "azure-gb200-egmsft"
        and r["m"] >= 16384
    ]
    assert len(sustained) == 2 and all(abs(r["error"]) <= 0.10 for r in sustained)


def test_moe_layer_model_tracks_engine_fused_moe_kernels_at_decode_sizes():
    """vLLM's fused-MoE kernel timed by its authors on H100 and H200 (measurements/
    moe_kernels.yaml): at 16-128 tokens, the decode regime the grouped bandwidth factor prices,
    the model stays within 12% (median under 8%). Outside it the kernels differ from the model
    and the check says so: at 1-4 tokens the H200 kernel keeps a ~185 us floor, and from 512
    tokens up the Triton kernel runs below the cuBLAS GEMM rate the model takes."""
    rows = moe_kernel_errors()
    decode = [abs(r["error"]) for r in rows if 16 <= r["tokens"] <= 128]
    assert len(decode) == 21 and max(decode) < 0.12 and float(np.median(decode)) < 0.08
    big = [r["error"] for r in rows if r["tokens"] >= 1024]
    assert all(e < -0.1 for e in big)  # the model is the faster kernel there
