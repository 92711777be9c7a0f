"""Compute on one chip: roofline per operation with calibrated achieved fractions (vectorised)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from podwright.estimate.calibration import chip_factors, constants
from podwright.specs import Chip
from podwright.specs.catalog import element_bytes
from podwright.workload.operations import Gemm

LOW_PRECISION = ("fp8", "fp4", "int8")
BYTES = element_bytes()


def _sm_share(chip: Chip, key: str, side: int) -> float:
    """Share of the chip's SMs that overlapped communication kernels hold (constant `key`, more
    of them on the pessimistic side); 0 where the SM count is not catalogued."""
    if not chip.compute_units:
        return 0.0
    return min(constants()[key].at(-side) / chip.compute_units, 0.9)


@dataclass(frozen=True)
class ComputeModel:
    peak: float  # FLOP/s achieved on large GEMMs at the matmul precision
    attn: float  # FLOP/s achieved by the attention kernels (16-bit)
    hbm: float  # B/s achieved
    in_bytes: float  # bytes per GEMM input element
    units: int = 0  # SMs/CUs; 0 = no wave quantisation
    floor: float = 0.0  # seconds: the least time one kernel takes
    comm_share: float = 0.0  # share of the SMs that overlapped expert-parallel kernels hold
    tp_comm_share: float = 0.0  # share of the SMs that overlapped tensor-parallel kernels hold
    nccl_comm_share: float = 0.0  # share of the SMs that overlapped NCCL collectives hold
    norm: float = 2.0  # how math and input traffic overlap in a GEMM's main loop (see gemm_one)
    attn_at_seq: float = 0.0  # sequence length at which `attn` was measured (0: not stated)
    attn_seq_half: float = 0.0  # tokens of per-row overhead of a flash-attention kernel
    decode_hbm: float = 0.0  # B/s decode-attention kernels reach streaming the KV cache (0: hbm)
    grouped_hbm: float = 0.0  # B/s grouped (expert) GEMM kernels reach streaming weights (0: hbm)

    @classmethod
    def of(
        cls,
        chip: Chip,
        precision: str,
        side: int = 0,
        attention: str = "flash",
        attention_fp8: bool = False,
    ) -> ComputeModel:
        """`attention`: "flash2" prices the attention kernels at the chip's measured
        FlashAttention-2 rate (its best kernel's where none is published). `attention_fp8`:
        the attention math runs in FP8, at fp8_attention_speedup times the 16-bit rate."""
        f = chip_factors(chip.name)
        attn = f["attention_peak_fraction"]
        if attention == "flash2" and "attention_fa2_peak_fraction" in f:
            attn = f["attention_fa2_peak_fraction"]
        speedup = constants()["fp8_attention_speedup"].at(side) if attention_fp8 else 1.0
        gemm = f["gemm_fp8_peak_fraction" if precision in LOW_PRECISION else "gemm_peak_fraction"]
        if precision == "fp4" and "gemm_fp4_peak_fraction" in f:
            gemm = f["gemm_fp4_peak_fraction"]  # else FP4 runs at the 8-bit efficiency
        # side -1 = pessimistic (low efficiency), +1 = optimistic
        return cls(
            peak=chip.peak(precision) * 1e12 * gemm.at(side),
            # attention kernels run in 16-bit; a chip whose 16-bit rate is unpublished (MI450X,
            # MI455X) is taken at its matmul precision's rate
            attn=chip.peak("bf16" if chip.has("bf16") else precision)
            * 1e12
            * attn.at(side)
            * speedup,
            hbm=chip.hbm_tbps * 1e12 * f["hbm_bw_fraction"].at(side),
            in_bytes=BYTES[precision],
            units=chip.compute_units or 0,
            floor=constants()["kernel_floor_us"].at(-side) * 1e-6,
            comm_share=_sm_share(chip, "ep_overlap_sms", side),
            tp_comm_share=_sm_share(chip, "tp_overlap_sms", side),
            nccl_comm_share=_sm_share(chip, "nccl_overlap_sms", side),
            norm=f.get("gemm_overlap_norm", constants()["gemm_overlap_norm"]).at(side),
            attn_at_seq=attn.at_seq,
            attn_seq_half=constants()["attention_seq_half"].at(-side),
            decode_hbm=chip.hbm_tbps * 1e12 * f["decode_attention_bw_fraction"].at(side)
            if "decode_attention_bw_fraction" in f
            else 0.0,
            grouped_hbm=chip.hbm_tbps * 1e12 * f["grouped_gemm_bw_fraction"].at(side)
            if "grouped_gemm_bw_fraction" in f
            else 0.0,
        )

    # output tiles a GEMM kernel may use (cuBLAS / CUTLASS / DeepGEMM tile shapes); the
    # library picks the fastest
    TILES = ((128, 256), (256, 128), (128, 128), (64, 256))
    SPLIT_K_MIN = 512  # least K per split-K slice
    # split-K partial outputs are written once in fp32 (chosen on the shape table,
    # scripts/kernel_checks.py, not on validation cases)
    SPLIT_BYTES = 4.0

    def gemm_one(self, m, n, k, group=1.0, moe=0.0) -> np.ndarray:
        """Seconds for one GEMM (or one grouped kernel of `group` equal GEMMs; `moe` 1 where
        the kernel is an MoE layer's expert kernel).

        Shape model, checked against published shape-resolved measurements
        (catalog/measurements/gemm_shapes.yaml, tests/test_kernel_checks.py):
        - tile and wave quantisation (NVIDIA, "Matrix Multiplication Background User's
          Guide") over the tile shapes above, the fastest one chosen; a grouped kernel's GEMMs
          share the waves;
        - split-K when one GEMM has fewer tiles than SMs: K is cut into slices so that every
          SM has a tile, and the partial outputs (fp32) are written and reduced;
        - the main loop takes the p-norm of its math and input-traffic times (they overlap
          imperfectly near the ridge point; p = the chip's gemm_overlap_norm: 2 where no shape
          table was measured, larger where the kernels overlap better); the epilogue (output
          write) follows it, and the kernel floor is paid once per kernel;
        - an MoE expert kernel streams its weights and activations at the rate such kernels
          are measured to reach (grouped_gemm_bw_fraction), on some chips below a dense GEMM's.
        """
        shape = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (m, n, k, group, moe)))
        if shape[0].size > 64:
            # many candidates share few shapes: price each distinct shape once (rows keyed by
            # a 64-bit hash of their five values; a collision, checked for, falls back)
            cols = [np.ascontiguousarray(x.ravel()) for x in shape]
            key = np.zeros(cols[0].size, dtype=np.uint64)
            for c in cols:
                key = (key ^ c.view(np.uint64)) * np.uint64(0x9E3779B97F4A7C15)
            _, first, inv = np.unique(key, return_index=True, return_inverse=True)
            inv = inv.ravel()
            if all(np.array_equal(c[first][inv], c) for c in cols):
                t = self._gemm_shapes(*(c[first] for c in cols))
                return t[inv].reshape(shape[0].shape)
        return self._gemm_shapes(*shape)

    def _gemm_shapes(self, m, n, k, group, moe) -> np.ndarray:
        m = np.maximum(m, 1.0)
        n = np.maximum(n, 1.0)
        k = np.maximum(k, 1.0)
        group = np.maximum(group, 1.0)
        bw = np.where(moe > 0, self.grouped_hbm or self.hbm, self.hbm)
        inputs = (m * k + k * n) * self.in_bytes * group / bw
        best = None
        for tm, tn in self.TILES if self.units else ((1, 1),):
            tm_, tn_ = np.minimum(tm, m), np.minimum(tn, n)
            tiles = np.ceil(m / tm_) * np.ceil(n / tn_) * group
            if self.units:
                split = np.where(
                    group > 1,
                    1.0,
                    np.clip(
                        np.minimum(np.floor(self.units / tiles), np.floor(k / self.SPLIT_K_MIN)),
                        1.0,
                        None,
                    ),
                )
                waves = np.ceil(tiles * split / self.units)
                eff = (m * n * group * split) / (tm_ * tn_) / (waves * self.units)
            else:
                split, eff = np.ones_like(m), np.ones_like(m)
            math = 2.0 * m * n * k * group / (self.peak * np.clip(eff, 1e-3, 1.0))
            out = m * n * group * np.where(split > 1, self.SPLIT_BYTES * split, 2.0) / bw
            t = (math**self.norm + inputs**self.norm) ** (1.0 / self.norm) + out
            best = t if best is None else np.minimum(best, t)
        return best + self.floor

    def gemm(self, g: Gemm) -> np.ndarray:
        """Seconds for `g.count` GEMMs of one shape (launched `g.group` per kernel)."""
        group = np.maximum(g.group, 1.0)
        return self.gemm_one(g.m, g.n, g.k, group, float(g.cls == "expert")) * g.count / group

    def gemms(self, gs: list[Gemm]) -> list[np.ndarray]:
        """`gemm` of each of several GEMM kinds; for one or a few candidates (a `predict`) in
        one vectorised call, which saves numpy's per-call overhead."""
        if not gs:
            return []
        fields = [[np.asarray(x, dtype=float)
                   for x in (g.m, g.n, g.k, g.group, g.count, float(g.cls == "expert"))]
                  for g in gs]  # fmt: skip
        common = np.broadcast_shapes(*(x.shape for f in fields for x in f))
        if np.prod(common) > 64:  # many candidates: each kind deduplicates its own shapes
            return [self.gemm(g) for g in gs]
        m, n, k, group, count, moe = (
            np.stack([np.broadcast_to(f[i], common) for f in fields]) for i in range(6)
        )
        group = np.maximum(group, 1.0)
        return list(self.gemm_one(m, n, k, group, moe) * count / group)

    def exposed_under(self, compute, comm) -> np.ndarray:
        """Seconds that `comm` (expert-parallel all-to-all) adds to `compute` when the two
        overlap: the communication kernels hold a share s of the SMs, so compute runs at 1 - s
        while they run, and the pair takes max(comm, compute + s x comm)."""
        compute, comm = np.asarray(compute), np.asarray(comm)
        return np.maximum(comm - compute, self.comm_share * comm)

    def hidden_under(self, compute, comm) -> np.ndarray:
        """Seconds that an NCCL collective overlapped with `compute` adds to it: what outlasts the
        computation, and the SMs the collective holds while both run (the computation beneath
        runs at 1 - s)."""
        compute, comm = np.asarray(compute), np.asarray(comm)
        return np.maximum(comm - compute, 0.0) + self.nccl_comm_share * np.minimum(comm, compute)

    def tp_exposed_under(self, gemm, comm, chunks) -> np.ndarray:
        """Seconds that tensor-parallel collectives add to the GEMMs they overlap (Transformer
        Engine userbuffers, Megatron's --tp-comm-overlap): each collective runs beside its own
        GEMM split into `chunks` (the TP size) ring-exchange steps, so one chunk of the shorter
        of the two stays exposed, whatever the communication outlasts the GEMMs is exposed, and
        the GEMMs lose the SMs the communication kernels hold while both run."""
        gemm, comm = np.asarray(gemm), np.asarray(comm)
        both = np.minimum(gemm, comm)
        return (
            np.maximum(comm - gemm, 0.0) + both / np.maximum(chunks, 1) + self.tp_comm_share * both
        )

    def attention(self, flops, nbytes, kernels=0.0, seq=0.0) -> np.ndarray:
        """Seconds of flash-attention kernels: FLOPs at the calibrated rate, or the KV/Q/O
        traffic, whichever is longer. `seq` (query length of one sequence on this chip; 0 for
        decode) scales the rate by (1 + h / at_seq) / (1 + h / seq), h = attention_seq_half:
        a kernel's per-row work (Q load, O write, softmax rescale, the masked diagonal) is worth
        about h keys, so short sequences run below the rate measured at `at_seq` tokens."""
        rate = self.attn
        seq = np.asarray(seq, dtype=float)
        if self.attn_at_seq and self.attn_seq_half and np.any(seq > 0):
            h = self.attn_seq_half
            scale = (1.0 + h / self.attn_at_seq) / (1.0 + h / np.maximum(seq, 1.0))
            rate = np.where(seq > 0, self.attn * scale, self.attn)
        t = np.maximum(np.asarray(flops) / rate, np.asarray(nbytes) / self.hbm)
        return np.maximum(t, self.floor * np.asarray(kernels))

    def decode_attention(self, flops, nbytes, kernels=0.0) -> np.ndarray:
        """Seconds of decode-attention kernels (one new token per sequence against its KV
        cache): FLOPs at the attention rate or the KV traffic at the bandwidth these kernels
        reach on the chip where it is measured (else the chip's HBM fraction)."""
        bw = self.decode_hbm or self.hbm
        t = np.maximum(np.asarray(flops) / self.attn, np.asarray(nbytes) / bw)
        return np.maximum(t, self.floor * np.asarray(kernels))

    def memory(self, nbytes, kernels=0.0) -> np.ndarray:
        t = np.asarray(nbytes, dtype=float) / self.hbm
        return np.maximum(t, self.floor * np.asarray(kernels))
