"""Load imbalance of in-flight batching across attention data-parallel ranks.

With attention data parallelism (ADP) every rank runs its own sequences through attention, but
the MoE layers join all ranks every layer, so an iteration lasts as long as its busiest rank.
Under in-flight batching (prefill and decode sharing an instance) new requests reach the ranks
independently: in an iteration where some rank prefills a prompt, the others wait for it.
TensorRT-LLM tech blog 10 ("ADP Balance Strategy") measures this on 8 GB200 with DeepSeek-V3
(DP8/EP8): round-robin scheduling averages a 54% balance ratio (mean / max tokens per rank) and
25,664 TPS; synchronising prompts across ranks (attention_dp_config.enable_balance) reaches 88%
and 34,140 TPS.

Model: each of n ranks starts k ~ Poisson(lam) prompts per iteration, lam = (sequences per
rank) / output length, the steady-state rate at which its sequences finish. The rank-local part
of an iteration (attention, projections, dispatch) then costs E[max_m k_m] prompts' worth
instead of the mean lam; expert GEMMs see every rank's tokens together and stay balanced.
Prompts are taken whole (one chunk per iteration).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import poisson


def expected_max_poisson(lam, n) -> np.ndarray:
    """E[max of n independent Poisson(lam) counts] = sum over k >= 1 of 1 - F(k - 1)^n."""
    lam = np.asarray(lam, dtype=float)
    n = np.asarray(n, dtype=float)
    top = int(np.ceil(lam.max(initial=0.0) + 10.0 * np.sqrt(lam.max(initial=0.0)) + 10.0))
    k = np.arange(top).reshape((-1,) + (1,) * lam.ndim)
    return np.sum(1.0 - poisson.cdf(k, lam) ** n, axis=0)


def imbalance_prompts(lam, n) -> np.ndarray:
    """Prompts' worth of rank-local prefill time an iteration waits for beyond the mean
    (E[max] - lam; 0 for one rank)."""
    return np.where(np.asarray(n) > 1, expected_max_poisson(lam, n) - lam, 0.0)
