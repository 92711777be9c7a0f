"""Request-level serving simulation of one model instance or a disaggregated deployment.

Requests arrive as a Poisson stream (or from a closed loop of clients); the engine schedules them iteration by iteration, as vLLM,
SGLang and TensorRT-LLM do with continuous batching and chunked prefill: every running sequence
decodes one step per iteration, and what is left of the iteration's token budget goes to the
prompts of waiting requests, oldest first, as long as the KV cache has room for another
sequence. Each iteration takes what the costing oracle (estimate/inference.py) gives its decode
batch at the batch's current context, plus the prompt tokens it prefills at the layout's
per-token prefill cost. The result is the distribution of TTFT, TPOT and end-to-end latency
that the analytical `predict` (an average step at an average batch) cannot give, the share of
requests within the SLO, and (`max_rate`) the highest arrival rate whose 99th percentiles meet
the SLO, as MLPerf Inference's server scenario asks.

A disaggregated deployment (`inference.disaggregated`) is simulated as its two pools, each of
instances as `predict` lays them out: a prompt waits for the first free prefill instance, which
computes it at the per-token cost and emits the first token; its KV cache then crosses the
fabric to a decode instance (requests dealt round-robin), which decodes it in continuous
batches as above.

With attention data parallelism the requests are dealt to the ranks in turn; each rank
schedules its own prompts within its own token budget and KV cache, and an iteration lasts as
long as its busiest rank (the rank-local part of a prompt at one rank's rate, the expert GEMMs
over the whole group; the decode step at the busiest rank's batch).

Simplifications, stated: admission is capped by the sequence count the KV cache holds under the
engine's reservation policy, not by blocks; MTP advances every sequence by the expected
tokens per step; a prefill instance serves one prompt at a time, at the per-token cost of its
most efficient batch.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from podwright.errors import InputError
from podwright.estimate.inference import BATCH_GRID, predict_inference, price_candidates
from podwright.workload.inference import InferLayouts

# tokens one iteration schedules: vLLM's max_num_batched_tokens default for its API server on
# GPUs of 70 GiB or more (vllm/engine/arg_utils.py, get_batch_defaults; 2,048 below that and on A100)
DEFAULT_TOKEN_BUDGET = 8192
PERCENTILES = (50, 90, 99)
DEFAULT_REQUESTS = 4000  # the first try when the count is left to the simulator
MAX_REQUESTS = 100_000


@dataclass
class ServingCosts:
    """What one iteration of one instance costs at its layout."""

    base: np.ndarray  # s: decode step of b sequences (index b) at zero context
    per_ctx: np.ndarray  # s per token of context per sequence, at b sequences
    prefill_per_token: float  # s per prompt token prefilled (the instance's ranks all busy)
    prefill_local: float  # share of that time on the prompt's own attention rank
    tokens_per_step: float  # tokens a sequence gains per decode step (1, more with MTP)
    budget_per_seq: float  # tokens a decoding sequence takes of the iteration's budget
    max_seqs: int  # sequences the KV cache holds at once
    chips: int
    layout: dict

    def step(self, b: int, ctx_per_seq: float) -> float:
        return float(self.base[b] + self.per_ctx[b] * ctx_per_seq)


def _instance(lay_row: dict, batches: np.ndarray) -> InferLayouts:
    p = lay_row["parallel"]
    ones = np.ones_like(batches)
    return InferLayouts(
        n=ones * lay_row["instance_chips"], tp=ones * p["tp"], pp=ones * p["pp"],
        dp=ones * p["attn_dp"], ep=ones * p["ep"], batch=batches,
    )  # fmt: skip


@dataclass
class DisaggregatedCosts:
    """A prefill pool and a decode pool of instances, and the KV cache's trip between them."""

    prefill: ServingCosts
    decode: ServingCosts
    prefill_instances: int
    decode_instances: int
    kv_transfer_s: float

    @property
    def chips(self) -> int:
        return (self.prefill_instances * self.prefill.chips
                + self.decode_instances * self.decode.chips)  # fmt: skip


def serving_costs(scenario, side: int = 0) -> ServingCosts | DisaggregatedCosts:
    """The scenario's instance (its layout as `predict` chooses it) priced for the simulator:
    decode steps of 1 to max_seqs sequences, affine in their context, and the prompt cost; for
    a disaggregated deployment, both pools' instances and the KV transfer. `side` prices them
    with the calibration factors at their low (-1) or high (+1) end, for the band."""
    from podwright.estimate.predict import fabric_for
    from podwright.workload.model import load_model

    inf = scenario.inference
    if inf is None:
        raise InputError("inference", "the serving simulation needs an inference section")
    if inf.phase != "serve":
        raise InputError("inference.phase", f"the serving simulation needs serve (got {inf.phase})")
    model = load_model(scenario.model)
    if not inf.disaggregated:
        return _instance_costs(scenario, model, side)
    from podwright.estimate.inference import disaggregated_pools, kv_transfer_s

    pools = disaggregated_pools(scenario)
    costs = {phase: _instance_costs(s, model, side) for phase, s in pools.items()}
    d = inf.disaggregated
    return DisaggregatedCosts(
        prefill=costs["prefill"], decode=costs["decode"],
        prefill_instances=d.prefill_chips // costs["prefill"].chips,
        decode_instances=d.decode_chips // costs["decode"].chips,
        kv_transfer_s=kv_transfer_s(scenario, model, fabric_for(scenario)),
    )  # fmt: skip


def _instance_costs(scenario, model, side: int = 0) -> ServingCosts:
    """One instance of the scenario (a serve, prefill or decode pool) at `predict`'s layout."""
    from podwright.estimate.predict import fabric_for

    inf, fabric = scenario.inference, fabric_for(scenario)
    pred = predict_inference(scenario)  # the layout: the best within the SLO, else the nearest
    if not pred["fits"] and "SLO" not in pred["reason"]:
        raise InputError("inference", pred["reason"])
    row = pred["layout"]
    dp = row["parallel"]["attn_dp"]
    # the KV cache's capacity in sequences: the largest batch that fits (or the stated batch),
    # with weights in host memory where `predict` needs that too
    grid = _instance(row, BATCH_GRID[BATCH_GRID >= dp])
    m, _ = price_candidates(scenario, model, fabric, grid, side)
    fit = m.fits(m.decode(grid)["memory"])
    cap = int(grid.batch[fit].max()) if fit.any() else dp
    if inf.batch != "auto":
        cap = int(inf.batch)
    # a step of b sequences runs ceil(b / dp) on every attention rank
    b = np.arange(1, cap + 1)
    lay = _instance(row, np.ceil(b / dp).astype(np.int64) * dp)
    c0, c1 = float(inf.input_len), float(inf.input_len + inf.output_len)
    t0 = m.decode(lay, ctx=c0)["tpot_s"]
    t1 = m.decode(lay, ctx=c1)["tpot_s"]
    drafts, per_step = m.mtp_tokens()
    step0, step1 = t0 * per_step, t1 * per_step  # seconds per step (tpot_s is per token)
    per_ctx = (step1 - step0) / (c1 - c0)
    base = step0 - per_ctx * c0
    # prompts: the per-token cost at the layout's most efficient prefill batch, as `predict`
    pre_lay = _instance(row, BATCH_GRID[BATCH_GRID >= dp])
    pre = m.prefill(pre_lay)
    per_req = pre["ttft_s"] / pre_lay.batch
    ok = m.fits(pre["memory"])
    new_tokens = inf.input_len * (1.0 - inf.cache_hit)
    i = int(np.argmin(np.where(ok, per_req, np.inf))) if ok.any() else int(np.argmin(per_req))
    t_req = float(per_req[i])
    # the share of a prompt's time spent on the attention rank that holds it: all but the
    # expert GEMMs, which run over the whole expert-parallel group (as `predict`'s DP wait)
    parts = pre["parts"]
    local = 1.0 - float(parts["expert_gemm"][i]) / max(float(parts["stage"][i]), 1e-30)
    return ServingCosts(
        base=np.concatenate([[0.0], base]), per_ctx=np.concatenate([[0.0], per_ctx]),
        prefill_per_token=t_req / new_tokens, prefill_local=local, tokens_per_step=per_step,
        budget_per_seq=1.0 + drafts, max_seqs=cap,
        chips=int(row["instance_chips"]), layout=row | {"batch": cap},
    )  # fmt: skip


def request_lengths(inf, n: int, rng, lengths: str) -> tuple[np.ndarray, np.ndarray]:
    """Prompt and output tokens per request: the scenario's lengths ("fixed"); "varied":
    prompts uniform over 0.5-1.5 x input_len and outputs geometric with mean output_len;
    "range:R": both uniform over the integers from R x length to the length (benchmark_serving's
    --random-range-ratio R as InferenceMAX runs it)."""
    mean_in, mean_out = float(inf.input_len), float(inf.output_len)
    if lengths == "fixed":
        return np.full(n, mean_in), np.full(n, mean_out)
    if lengths == "varied":
        inp = np.maximum(1.0, np.round(rng.uniform(0.5, 1.5, n) * mean_in))
        return inp, rng.geometric(1.0 / mean_out, n).astype(float)
    ratio = None
    if lengths.startswith("range:"):
        try:
            ratio = float(lengths.removeprefix("range:"))
        except ValueError:
            ratio = None
    if ratio is None or not 0.0 <= ratio <= 1.0:
        raise InputError(
            "lengths", f"must be fixed, varied or range:R, 0 <= R <= 1 (got {lengths!r})"
        )
    draw = [
        rng.integers(max(1, int(ratio * x)), int(x) + 1, n).astype(float)
        for x in (mean_in, mean_out)
    ]
    return draw[0], draw[1]


def simulate(
    costs: ServingCosts | DisaggregatedCosts,
    inf,
    rate: float,
    requests: int | None = None,
    seed: int = 0,
    lengths: str = "fixed",
    token_budget: int = DEFAULT_TOKEN_BUDGET,
    concurrency: int | None = None,
) -> dict:
    """Serves `requests` Poisson arrivals at `rate` requests/s, or with `concurrency` given a
    closed loop of that many clients, each sending its next request when the last one ends
    (benchmark_serving's --max-concurrency, InferenceMAX's conc), and returns latency
    percentiles, throughput and the SLO share (see module docstring). `rate` inf: an offline
    run with every request there at the start, as vLLM's benchmark_throughput and trtllm-bench
    throughput submit them (its throughput is then the run's output tokens over its length).
    `requests` left out: 4,000, or where those never reach a steady state (a deployment that
    holds thousands of requests at once), enough for about four end-to-end times of arrivals
    (at most 100,000)."""
    if requests is not None:
        return _simulate(costs, inf, rate, requests, seed, lengths, token_budget, concurrency)
    r = _simulate(costs, inf, rate, DEFAULT_REQUESTS, seed, lengths, token_budget, concurrency)
    if r["steady_state"]:
        return r
    need = 4.0 * r["rate_per_s"] * r["e2e_s"]["p50"]
    n = int(min(MAX_REQUESTS, max(need, 2 * DEFAULT_REQUESTS)))
    return _simulate(costs, inf, rate, n, seed, lengths, token_budget, concurrency)


def _simulate(costs, inf, rate, requests, seed, lengths, token_budget, concurrency) -> dict:
    disagg = isinstance(costs, DisaggregatedCosts)
    if concurrency is None and not rate > 0:
        raise InputError("rate", f"must be positive (got {rate})")
    if concurrency is not None and (concurrency < 1 or disagg):
        why = "a closed loop runs on one aggregated instance" if disagg else "must be at least 1"
        raise InputError("concurrency", f"{why} (got {concurrency})")
    if requests < 1:
        raise InputError("requests", f"must be at least 1 (got {requests})")
    if token_budget < 1:
        raise InputError("token_budget", f"must be at least 1 (got {token_budget})")
    rng = np.random.default_rng(seed)
    if concurrency is None:  # rate inf: an offline run, every request there at the start
        gaps = rng.exponential(1.0 / rate, requests) if np.isfinite(rate) else np.zeros(requests)
        arrival = np.cumsum(gaps)
        spawn = requests
    else:  # the first `concurrency` requests at once, each later one when another ends
        arrival = np.where(np.arange(requests) < concurrency, 0.0, np.inf)
        spawn = min(concurrency, requests)
    inp, out = request_lengths(inf, requests, rng, lengths)
    todo = np.maximum(1.0, np.round(inp * (1.0 - inf.cache_hit)))  # prompt tokens to compute
    if disagg:
        first, done, times, produced = _disaggregated(costs, arrival, inp, todo, out, token_budget)
        meta = {"layout": {"prefill": costs.prefill.layout, "decode": costs.decode.layout},
                "instances": {"prefill": costs.prefill_instances,
                              "decode": costs.decode_instances},
                "max_seqs": costs.decode.max_seqs,
                "kv_transfer_ms": 1e3 * costs.kv_transfer_s}  # fmt: skip
    else:
        st, times, produced = _serve(costs, arrival, inp, todo, out, token_budget, spawn)
        first, done = st.first, st.done
        meta = {"layout": costs.layout, "max_seqs": costs.max_seqs}
    if concurrency is not None:  # the request rate the closed loop reached
        rate = (len(arrival) - 1) / max(arrival[-1] - arrival[0], 1e-12)
    elif not np.isfinite(rate):  # offline: requests over the whole run
        rate = len(arrival) / float(np.max(done))
    result = _summary(meta, costs.chips, inf, rate, arrival, out, first, done, times, produced)
    return result | ({"concurrency": concurrency} if concurrency is not None else {})


def _serve(costs: ServingCosts, arrival, inp, todo, out, token_budget, spawn):
    """One instance's iterations (module docstring) over requests arriving at `arrival` with
    `todo` prompt tokens each to compute (0: the prompt was computed elsewhere). With attention
    data parallelism the requests are dealt to the ranks in turn; each rank schedules its own
    prompts within its own token budget and KV cache, and an iteration lasts as long as its
    busiest rank: the decode step at that rank's batch, and that rank's prompt tokens."""
    requests = len(arrival)
    k = costs.tokens_per_step
    dp = int(costs.layout["parallel"]["attn_dp"])
    rank = np.arange(requests) % dp
    per_rank = max(costs.max_seqs // dp, 1)  # sequences one rank's KV cache holds
    st = _State(arrival, inp, out, spawn)
    queues: list[deque[int]] = [deque() for _ in range(dp)]  # prompt not finished, oldest first
    active: set[int] = set()  # ranks with a prompt waiting
    waiting = 0
    t, nxt = 0.0, 0
    times, produced = [], []
    while nxt < requests or waiting or st.running.size:
        while nxt < requests and arrival[nxt] <= t:
            queues[rank[nxt]].append(nxt)
            active.add(int(rank[nxt]))
            waiting += 1
            nxt += 1
        b = st.running.size
        if not waiting and not b:
            t = arrival[nxt]
            continue
        b_rank = np.bincount(rank[st.running], minlength=dp)
        b_eff = min(int(b_rank.max()) * dp, costs.max_seqs)  # the busiest rank sets the step
        if not waiting:
            # nothing to prefill: run the decode steps up to the next finish or arrival at once
            until = arrival[nxt] - t if nxt < requests else np.inf
            dts = _decode_run(costs, st, b_eff, until)
            times.extend(t + np.cumsum(dts))
            produced.extend([b * k] * len(dts))
            t = times[-1]
            st.decode(len(dts), k, t)
            continue
        busiest, total, started = 0.0, 0.0, []
        for rk in active:
            q, b_r = queues[rk], b_rank[rk]
            room = token_budget - b_r * costs.budget_per_seq
            slots = per_rank - b_r
            chunk = 0.0
            for r in q:  # prompts in flight first, then new ones while the KV cache has room
                if room - chunk < 0 or slots <= 0 or (room - chunk == 0 and todo[r] > 0):
                    break
                take = min(todo[r], room - chunk)
                todo[r] -= take
                chunk += take
                slots -= 1
                if todo[r] <= 0:
                    started.append(r)
            busiest = max(busiest, chunk)
            total += chunk
        step = costs.step(b_eff, st.ctx / b) if b else 0.0
        # prompts: the rank-local part lasts as long as the busiest rank's share (each rank at
        # 1/dp of the instance's rate); the expert part runs over all of them together
        local = costs.prefill_local
        t += step + (busiest * dp * local + total * (1.0 - local)) * costs.prefill_per_token
        if b:
            st.decode(1, k, t)
        for r in started:
            q = queues[rank[r]]
            q.popleft()  # the started prompts are the oldest in their queue
            if not q:
                active.discard(int(rank[r]))
            waiting -= 1
            st.start(r, t)
        times.append(t)
        produced.append(b * k + len(started))
    return st, times, produced


def _disaggregated(costs: DisaggregatedCosts, arrival, inp, todo, out, token_budget):
    """Prompts on the first free prefill instance, the KV cache across the fabric (the first
    token counts as out once it has arrived, as `predict` counts TTFT), then continuous-batch
    decode on the decode instances, dealt in turn."""
    free = np.zeros(costs.prefill_instances)  # when each prefill instance is next idle
    first = np.empty(len(arrival))
    for r in np.argsort(arrival, kind="stable"):
        i = int(np.argmin(free))
        free[i] = max(free[i], arrival[r]) + todo[r] * costs.prefill.prefill_per_token
        first[r] = free[i] + costs.kv_transfer_s  # as `predict`, TTFT counts the transfer
    enter = first
    order = np.argsort(enter, kind="stable")
    done = np.empty(len(arrival))
    times, produced = [], []
    zero = np.zeros(len(arrival))
    for j in range(costs.decode_instances):
        idx = order[j :: costs.decode_instances]
        if not idx.size:
            continue
        st, t, p = _serve(costs.decode, enter[idx].copy(), inp[idx], zero[idx], out[idx],
                          token_budget, len(idx))  # fmt: skip
        done[idx] = st.done
        times += t
        produced += p
    produced = np.concatenate([np.asarray(produced), np.ones(len(arrival))])  # first tokens
    times = np.concatenate([np.asarray(times), first])
    order = np.argsort(times, kind="stable")
    return first, done, times[order], produced[order]


class _State:
    """The requests' progress: tokens generated, first-token and finish times, the decoding
    sequences and their context; in a closed loop each finish sends the next request."""

    def __init__(self, arrival, inp, out, spawn):
        self.arrival, self.inp, self.out, self.spawn = arrival, inp, out, spawn
        self.gen = np.zeros(len(arrival))
        self.first = np.full(len(arrival), np.nan)
        self.done = np.full(len(arrival), np.nan)
        self.running = np.empty(0, dtype=np.int64)
        self.ctx = 0.0  # context tokens of the running sequences

    def decode(self, steps: int, k: float, t: float) -> None:
        """`steps` decode steps of every running sequence, ending at `t`."""
        run = self.running
        self.gen[run] += steps * k
        self.ctx += steps * run.size * k
        fin = self.gen[run] >= self.out[run]
        if fin.any():
            self.finish(run[fin], t)
            self.running = run[~fin]

    def start(self, r: int, t: float) -> None:
        """Request `r`'s prompt is in: its first token comes out at `t`."""
        self.first[r] = t
        self.gen[r] = 1.0
        if self.out[r] <= 1:
            self.finish(np.array([r]), t)
        else:
            self.running = np.append(self.running, r)
            self.ctx += self.inp[r] + 1.0

    def finish(self, ended: np.ndarray, t: float) -> None:
        self.done[ended] = t
        if np.isin(ended, self.running).any():
            self.ctx -= float((self.inp[ended] + self.gen[ended]).sum())
        nxt = min(self.spawn + len(ended), len(self.arrival))
        self.arrival[self.spawn : nxt] = t  # no-op for Poisson arrivals (all spawned at start)
        self.spawn = nxt


def _decode_run(costs, st: _State, b_eff: int, until: float) -> np.ndarray:
    """Durations of consecutive decode-only steps, each priced at the batch `b_eff`: up to the
    first sequence to finish, or to the step during which `until` seconds have passed (the next
    arrival). Each step takes longer than the last by the context it added."""
    k, b = costs.tokens_per_step, st.running.size
    run = st.running
    n_fin = int(np.ceil(np.min((st.out[run] - st.gen[run]) / k)))
    j = np.arange(max(n_fin, 1))
    dts = costs.base[b_eff] + costs.per_ctx[b_eff] * (st.ctx / b + j * k)
    n = min(int(np.searchsorted(np.cumsum(dts), until)) + 1, len(dts))
    return dts[:n]


def _pcts(x: np.ndarray, scale: float) -> dict:
    out = {f"p{p}": float(np.percentile(x, p)) * scale for p in PERCENTILES}
    return out | {"mean": float(np.mean(x)) * scale}


def _summary(meta, chips, inf, rate, arrival, out, first, done, times, produced) -> dict:
    times, produced = np.asarray(times), np.asarray(produced)
    # steady state: once the first tenth of the requests have had the median end-to-end time
    # to fill the batch, until the last tenth arrive; throughput and latencies are taken there
    # (over the whole run when that window holds under a fifth of the requests)
    e2e = done - arrival
    start = np.percentile(arrival, 10) + np.median(e2e)
    end = np.percentile(arrival, 90)
    win = (times > start) & (times <= end)
    steady = (arrival >= start) & (arrival <= end)
    reached = bool(end > start and win.any() and steady.sum() >= 0.2 * len(arrival))
    if reached:
        rate_tokens = produced[win].sum() / (end - start)
    else:
        rate_tokens = produced.sum() / (times[-1] - arrival[0])
        steady = np.ones_like(steady)
    ttft = (first - arrival)[steady]
    multi = steady & (out > 1)
    tpot = (done[multi] - first[multi]) / (out[multi] - 1.0)
    e2e = e2e[steady]
    slo = inf.slo
    ok = np.ones_like(ttft, dtype=bool)
    if slo.ttft_ms:
        ok &= ttft * 1e3 <= slo.ttft_ms
    if slo.tpot_ms:
        ok[out[steady] > 1] &= tpot * 1e3 <= slo.tpot_ms
    result = {
        "rate_per_s": rate,
        "requests": int(len(arrival)),
        "requests_measured": int(steady.sum()),
        "steady_state": reached,
        "instance_chips": chips,
        **meta,
        "ttft_ms": _pcts(ttft, 1e3),
        "tpot_ms": _pcts(tpot, 1e3) if tpot.size else {},
        "e2e_s": _pcts(e2e, 1.0),
        "output_tokens_per_s_per_chip": float(rate_tokens / chips),
        "offered_tokens_per_s_per_chip": float(rate * np.mean(out) / chips),
        "within_slo": float(ok.mean()),
    }
    result["meets_slo_p99"] = meets_p99(result, slo)
    return result


def meets_p99(result: dict, slo) -> bool:
    """Whether the 99th-percentile TTFT and TPOT are within the SLO (MLPerf's server rule)."""
    good = True
    if slo.ttft_ms:
        good &= result["ttft_ms"]["p99"] <= slo.ttft_ms
    if slo.tpot_ms and result["tpot_ms"]:
        good &= result["tpot_ms"]["p99"] <= slo.tpot_ms
    return bool(good)


def saturation_rate(costs: ServingCosts | DisaggregatedCosts, inf) -> float:
    """Requests/s an instance completes with the KV cache full: decode at max_seqs at the
    average context, plus every request's prompt; for a disaggregated deployment, the lesser
    of its two pools'."""
    prompt = inf.input_len * (1 - inf.cache_hit)
    if isinstance(costs, DisaggregatedCosts):
        pre = costs.prefill_instances / (prompt * costs.prefill.prefill_per_token)
        return min(pre, costs.decode_instances * _decode_rate(costs.decode, inf))
    return 1.0 / (1.0 / _decode_rate(costs, inf) + prompt * costs.prefill_per_token)


def _decode_rate(costs: ServingCosts, inf) -> float:
    """Requests/s one instance decodes with max_seqs sequences at the average context."""
    b = costs.max_seqs
    step = costs.step(b, inf.input_len + inf.output_len / 2.0)
    return b * costs.tokens_per_step / (inf.output_len * step)


def with_economics(scenario, result: dict) -> dict:
    """The result with its `economics`: $/hour of the scenario's chips and, at the simulated
    output rate, $/million output tokens and tokens per joule (economics/cost.py)."""
    from podwright.economics.cost import scenario_cost
    from podwright.estimate.predict import fabric_for

    cost = scenario_cost(scenario, fabric_for(scenario), result["output_tokens_per_s_per_chip"])
    return result | {"economics": cost}


BAND_KEYS = ("rate_per_s", "output_tokens_per_s_per_chip", "ttft_ms.p99", "tpot_ms.p99")


def band(scenario, run) -> dict[str, list[float]]:
    """[low, high] of the headline figures over `run(costs)` with the calibration factors at
    either end of their stated uncertainty, as `predict`'s band."""
    ends = [run(serving_costs(scenario, side)) for side in (-1, +1)]
    out = {}
    for key in BAND_KEYS:
        vals = []
        for r in ends:
            v = r
            for part in key.split("."):
                v = v.get(part) if isinstance(v, dict) else None
            if v is not None:
                vals.append(float(v))
        if len(vals) == 2:
            out[key] = [min(vals), max(vals)]
    return out


def load_curve(costs, inf, points: int = 8, progress=None, **kw) -> list[dict]:
    """The throughput-latency curve: simulations at `points` arrival rates spread evenly from a
    tenth of the saturation rate to the saturation rate."""
    if points < 2:
        raise InputError("curve", f"needs at least 2 points (got {points})")
    sat = saturation_rate(costs, inf)
    out = []
    for f in np.linspace(0.1, 1.0, points):
        out.append(simulate(costs, inf, float(f * sat), **kw) | {"load": float(f)})
        if progress:
            progress()
    return out


def max_rate(costs, inf, requests=None, seed=0, lengths="fixed", token_budget=None,
             steps: int = 12, progress=None) -> dict:  # fmt: skip
    """The highest arrival rate whose p99 TTFT and TPOT meet the SLO, by bisection between
    zero and 1.5x the saturation rate; the result is the simulation at that rate, with the
    bracket searched."""
    slo = inf.slo
    if not (slo.ttft_ms or slo.tpot_ms):
        raise InputError("inference.slo", "finding the highest rate needs tpot_ms or ttft_ms")
    budget = token_budget or DEFAULT_TOKEN_BUDGET
    lo, hi = 0.0, 1.5 * saturation_rate(costs, inf)
    best = None
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        r = simulate(costs, inf, mid, requests, seed, lengths, budget)
        if r["meets_slo_p99"]:
            lo, best = mid, r
        else:
            hi = mid
        if progress:
            progress()
    if best is None:
        best = simulate(costs, inf, hi / 2**steps, requests, seed, lengths, budget)
        best["meets_slo_p99"] = meets_p99(best, slo)
    return best | {"search": {"highest_rate_met": lo, "lowest_rate_missed": hi}}
