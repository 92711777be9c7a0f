"""Collectives as phases of concurrent flows (what each chip sends to whom, and how often).

Size conventions follow nccl-tests: all_reduce S = the buffer; all_gather S = the gathered
output; reduce_scatter S = the input; all_to_all S = what one chip sends in total (S/n to each
peer); ep_dispatch / ep_combine S = one rank's token payload before the top-k fan-out.
"""

from __future__ import annotations

import math

import numpy as np

from podwright.errors import InputError
from podwright.sim.network.network import Network, Phase

OPS = (
    "all_reduce",
    "reduce_scatter",
    "all_gather",
    "all_to_all",
    "p2p",
    "ep_dispatch",
    "ep_combine",
)
ALGORITHMS = ("auto", "ring", "tree", "halving_doubling", "hierarchical", "inr", "direct")

BUS_FACTOR = {
    "all_reduce": lambda n: 2 * (n - 1) / n,
    "reduce_scatter": lambda n: (n - 1) / n,
    "all_gather": lambda n: (n - 1) / n,
    "all_to_all": lambda n: (n - 1) / n,
    "p2p": lambda n: 1.0,
    "ep_dispatch": lambda n: 1.0,
    "ep_combine": lambda n: 1.0,
}


def ring_orders(net: Network, members: np.ndarray) -> list[np.ndarray]:
    """One ring per channel. A group spanning several nodes of a rail-optimised fabric gets one
    channel per rail: channel c visits each node's members starting from local rank c, so that
    its node-to-node hops leave on rail c (NCCL's rings, one per NIC)."""
    ng = net.ng
    node = members // ng.node_chips
    nodes, starts = np.unique(node, return_index=True)
    if len(nodes) == 1 or ng.rails <= 1:
        return [members]
    per = np.diff(np.append(starts, len(members)))
    if len(set(per.tolist())) != 1:
        return [members]
    k = int(per[0])
    chans = min(ng.rails, k)
    blocks = members.reshape(len(nodes), k)
    return [np.roll(blocks, -c, axis=1).ravel() for c in range(chans)]


def ring(net, members, kind, S) -> list[Phase]:
    n = len(members)
    orders = ring_orders(net, members)
    src = np.concatenate(orders)
    dst = np.concatenate([np.roll(o, -1) for o in orders])
    salt = np.repeat(np.arange(len(orders)), n)
    steps = {"all_reduce": 2 * (n - 1), "reduce_scatter": n - 1, "all_gather": n - 1}[kind]
    per = S / n / len(orders)
    return [Phase(f"ring step x{steps}", src, dst, np.full(len(src), per), steps, salt=salt)]


def tree(net, members, kind, S) -> list[Phase]:
    """NCCL's double binary tree, pipelined: both trees carry S/2; every tree edge carries
    S/2 up (reduce) and S/2 down (broadcast) at the same time."""
    if kind != "all_reduce":
        raise InputError("algorithm", "tree is an all_reduce algorithm")
    n = len(members)
    src, dst = [], []
    for order in (members, members[::-1]):
        i = np.arange(1, n)
        child, parent = order[i], order[(i - 1) // 2]
        src += [child, parent]
        dst += [parent, child]
    src, dst = np.concatenate(src), np.concatenate(dst)
    salt = np.repeat([0, 0, 1, 1], n - 1)
    return [Phase("double binary tree", src, dst, np.full(len(src), S / 2), salt=salt)]


def halving_doubling(net, members, kind, S) -> list[Phase]:
    n = len(members)
    if n & (n - 1):
        raise InputError("group", f"halving_doubling needs a power-of-two group (got {n})")
    rs = []
    for k in range(int(math.log2(n))):
        dist = n >> (k + 1)
        i = np.arange(n)
        rs.append(
            Phase(f"halving {k}", members[i], members[i ^ dist], np.full(n, S / 2 ** (k + 1)))
        )
    ag = [Phase(p.name.replace("halving", "doubling"), p.src, p.dst, p.nbytes) for p in rs[::-1]]
    return {"all_reduce": rs + ag, "reduce_scatter": rs, "all_gather": ag}[kind]


def inr(net, members, kind, S) -> list[Phase]:
    """In-network reduction in the scale-up switches (NVLS): each chip pushes its data to the
    switches, which reduce and multicast the result back."""
    lv = net.fabric.scale_up
    if not (lv and lv.in_network_reduction):
        raise InputError("algorithm", f"{net.fabric.system.name}'s scale-up switches do not reduce")
    if len(np.unique(net.ng.domain[members])) != 1:
        raise InputError("algorithm", "inr runs within one scale-up domain; use hierarchical")
    n = len(members)
    up, down = {"all_reduce": (S, S), "reduce_scatter": (S, S / n), "all_gather": (S / n, S)}[kind]
    src = np.concatenate([members, members])
    nb = np.concatenate([np.full(n, up), np.full(n, down)])
    sign = np.repeat([1, -1], n).astype(np.int8)
    return [Phase("in-switch reduction", src, src, nb, inr=sign, inr_phase=True)]


def hierarchical(net, members, kind, S, intra="auto") -> list[Phase]:
    """Intra-domain reduce-scatter, inter-domain all-reduce among counterparts (m0 of them in
    parallel, S/m0 each), intra-domain all-gather."""
    dom = net.ng.domain[members]
    _, counts = np.unique(dom, return_counts=True)
    if len(set(counts.tolist())) != 1:
        raise InputError("group", "hierarchical needs the same number of members in every domain")
    m0, outer = int(counts[0]), len(counts)
    order = np.argsort(dom, kind="stable")
    grid = members[order].reshape(outer, m0)
    lv = net.fabric.scale_up
    use_inr = intra == "inr" or (intra == "auto" and lv is not None and lv.in_network_reduction)
    phases: list[Phase] = []
    first, last = {"all_reduce": ("reduce_scatter", "all_gather"),
                   "reduce_scatter": ("reduce_scatter", None),
                   "all_gather": (None, "all_gather")}[kind]  # fmt: skip
    if m0 > 1 and first:
        phases += _stack([(inr if use_inr else ring)(net, row, first, S) for row in grid])
    if outer > 1:
        inner_kind = kind
        phases += _stack([ring(net, col, inner_kind, S / m0) for col in grid.T])
    if m0 > 1 and last:
        phases += _stack([(inr if use_inr else ring)(net, row, last, S) for row in grid])
    return phases


def _cat(ps, attr):
    if getattr(ps[0], attr) is None:
        return None
    return np.concatenate([getattr(p, attr) for p in ps])


def _stack(groups: list[list[Phase]]) -> list[Phase]:
    """Run the same phase of several groups together."""
    out = []
    for ps in zip(*groups, strict=True):
        p0 = ps[0]
        out.append(
            Phase(
                p0.name,
                _cat(ps, "src"),
                _cat(ps, "dst"),
                _cat(ps, "nbytes"),
                p0.repeat,
                _cat(ps, "inr"),
                _cat(ps, "salt"),
                p0.inr_phase,
            )
        )
    return out


def direct(net, members, kind, S) -> list[Phase]:
    """Every chip sends its 1/n share to every other chip at once (full mesh): a direct
    reduce-scatter and/or all-gather."""
    (a2a,) = all_to_all(net, members, S)
    rs = Phase("direct reduce-scatter", a2a.src, a2a.dst, a2a.nbytes)
    ag = Phase("direct all-gather", a2a.src, a2a.dst, a2a.nbytes)
    return {"all_reduce": [rs, ag], "reduce_scatter": [rs], "all_gather": [ag]}[kind]


def all_to_all(net, members, S) -> list[Phase]:
    n = len(members)
    i, j = np.divmod(np.arange(n * n), n)
    keep = i != j
    return [
        Phase("direct all-to-all", members[i[keep]], members[j[keep]], np.full(keep.sum(), S / n))
    ]


def p2p(net, members, S) -> list[Phase]:
    n = len(members)
    half = n // 2
    if half < 1:
        raise InputError("group", "p2p needs at least 2 chips")
    src, dst = members[:half], members[half : 2 * half]
    return [Phase("send/recv pairs", src, dst, np.full(half, S))]


def expert_probabilities(ranks: int, experts=256, topk=8, groups=8, topk_groups=4, skew=0.0,
                         samples=20000, seed=0) -> np.ndarray:  # fmt: skip
    """P(a token is sent to rank r) for each rank, by sampling DeepSeek-V3-style routing: the
    top `topk_groups` expert groups (a group's score = its best two experts), then the top
    `topk` experts within them. Expert popularity is Zipf(skew) (0: uniform), experts are
    placed on ranks in order, `experts / ranks` per rank. Returned as (p_rank, E[copies per
    rank]) where copies counts experts (not ranks) a token selects on the rank."""
    if experts % ranks:
        raise InputError("group", f"{experts} experts do not split over {ranks} ranks")
    rng = np.random.default_rng(seed)
    logw = -skew * np.log(np.arange(1, experts + 1))
    score = logw[None, :] + rng.gumbel(size=(samples, experts)).astype(np.float32)
    g = score.reshape(samples, groups, experts // groups)
    top2 = np.sort(g, axis=2)[:, :, -2:].sum(axis=2)
    keep_g = np.argsort(-top2, axis=1)[:, :topk_groups]
    mask = np.full((samples, groups), -np.inf, dtype=np.float32)
    np.put_along_axis(mask, keep_g, 0.0, axis=1)
    masked = score + np.repeat(mask, experts // groups, axis=1)
    chosen = np.argpartition(-masked, topk - 1, axis=1)[:, :topk]
    rank = chosen // (experts // ranks)
    hits = np.zeros((samples, ranks))
    np.add.at(hits, (np.repeat(np.arange(samples), topk), rank.ravel()), 1.0)
    return (hits > 0).mean(axis=0), hits.mean(axis=0)


def expert_parallel(net, members, kind, S, algorithm, tokens=4096, skew=0.0, **moe) -> list[Phase]:
    """DeepEP-style dispatch (tokens to the ranks of their experts) and combine (back).

    normal (algorithm auto/hierarchical): a token goes over RDMA once per destination node, to
    the rank with the sender's local index there, which forwards it over the scale-up to the
    ranks holding its experts (pipelined, so the two stages share one phase).
    low-latency (algorithm direct): one copy per selected expert, straight to its rank.
    """
    n = len(members)
    per_token = S / tokens
    p_rank, copies = expert_probabilities(n, skew=skew, **moe)
    ng = net.ng
    dom = ng.domain[members]
    src, dst, nb = [], [], []
    if algorithm == "direct":
        i, j = np.divmod(np.arange(n * n), n)
        keep = i != j
        src, dst = members[i[keep]], members[j[keep]]
        nb = tokens * per_token * copies[j[keep]]
    else:
        _, inv = np.unique(dom, return_inverse=True)
        nodes = inv.max() + 1
        p_node = np.array([1 - np.prod(1 - p_rank[inv == d]) for d in range(nodes)])
        # a better estimate of P(node) from the same samples would need them; use the union
        # bound corrected for independence (exact for one rank per node)
        local = np.zeros(n, dtype=np.int64)
        for d in range(nodes):
            local[inv == d] = np.arange((inv == d).sum())
        i, j = np.divmod(np.arange(n * n), n)
        # RDMA: i -> rank of node(j) with local index of i (one per node, pick j with same local)
        size = np.bincount(inv)
        rd = (inv[i] != inv[j]) & (local[j] == local[i] % size[inv[j]])
        src.append(members[i[rd]])
        dst.append(members[j[rd]])
        nb.append(tokens * per_token * p_node[inv[j[rd]]])
        # scale-up forwarding at every node: the rank that received (or holds) tokens sends
        # each to the ranks of its experts: from every node's tokens (nodes x tokens)
        fw = (inv[i] == inv[j]) & (i != j)
        src.append(members[i[fw]])
        dst.append(members[j[fw]])
        nb.append(tokens * per_token * nodes * p_rank[j[fw]])
        src, dst, nb = np.concatenate(src), np.concatenate(dst), np.concatenate(nb)
    if kind == "ep_combine":
        src, dst = dst, src
    return [Phase(kind.replace("ep_", "EP "), src, dst, nb)]


def phases(net: Network, op: str, members: np.ndarray, S: float, algorithm: str = "auto",
           **kw) -> tuple[list[Phase], str]:  # fmt: skip
    if op not in OPS:
        raise InputError("op", f"must be one of {', '.join(OPS)} (got {op!r})")
    if algorithm not in ALGORITHMS:
        raise InputError("algorithm", f"must be one of {', '.join(ALGORITHMS)} (got {algorithm!r})")
    if len(members) < 2:
        raise InputError("group", "a collective needs at least 2 chips")
    if op in ("ep_dispatch", "ep_combine"):
        algo = "direct" if algorithm == "direct" else "hierarchical"
        return expert_parallel(net, members, op, S, algo, **kw), algo
    if op == "all_to_all":
        if algorithm not in ("auto", "direct"):
            raise InputError("algorithm", "all_to_all runs as direct")
        return all_to_all(net, members, S), "direct"
    if op == "p2p":
        return p2p(net, members, S), "direct"
    algo = algorithm
    if algo == "auto":
        lv = net.fabric.scale_up
        one_domain = len(np.unique(net.ng.domain[members])) == 1
        if one_domain and lv is not None and lv.kind == "full_mesh":
            algo = "direct"
        elif lv is not None and lv.in_network_reduction and lv.kind == "switched":
            algo = "inr" if one_domain else "hierarchical"
        else:
            algo = "ring"
    fn = {"direct": direct, "ring": ring, "tree": tree, "halving_doubling": halving_doubling, "inr": inr,
          "hierarchical": hierarchical}[algo]  # fmt: skip
    return fn(net, members, op, S), algo
