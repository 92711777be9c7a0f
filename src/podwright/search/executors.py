"""Where sweep chunks run: in this process, in a local process pool, or on Ray.

Each executor takes chunks of points [(id, params)...] and gives back one Arrow table per chunk;
the driver writes the tables. All executors evaluate a point with the same code
(point.PointEvaluator), so they give the same rows.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
import sys

import pyarrow as pa

from podwright.errors import InputError
from podwright.search.point import PointContext, PointEvaluator

EXECUTORS = ("local", "ray")

_EVALUATOR: PointEvaluator | None = None


def _die_with_parent() -> None:
    """Linux: a worker gets SIGKILL when the driver dies (e.g. the sweep is killed -9)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except Exception:  # pragma: no cover - best effort
        pass


def _init_worker(ctx: PointContext) -> None:
    global _EVALUATOR
    _die_with_parent()
    _EVALUATOR = PointEvaluator(ctx)


def _run_chunk(points: list[tuple[int, dict]]) -> pa.Table:
    return _EVALUATOR.table(points)


class SerialExecutor:
    """In this process (one worker): no pool to start; handy for debugging."""

    workers = 1
    label = "1 in-process worker"

    def __init__(self, ctx: PointContext):
        self.evaluator = PointEvaluator(ctx)
        self._queue: dict[int, list] = {}
        self._n = 0

    def submit(self, points):
        self._n += 1
        self._queue[self._n] = points
        return self._n

    def wait(self, handles):
        h = handles[0]
        return [(h, self.evaluator.table(self._queue.pop(h)))]

    def shutdown(self):
        pass


class LocalExecutor:
    """A pool of `workers` processes on this machine."""

    def __init__(self, ctx: PointContext, workers: int):
        self.workers = workers
        self.label = f"{workers} local worker processes"
        method = "fork" if "fork" in mp.get_all_start_methods() else None
        self.pool = cf.ProcessPoolExecutor(
            max_workers=workers,
            mp_context=mp.get_context(method),
            initializer=_init_worker,
            initargs=(ctx,),
        )
        # Start the processes now, before the progress bar starts its thread (fork + threads).
        self.pool.submit(os.getpid).result()

    def submit(self, points):
        return self.pool.submit(_run_chunk, points)

    def wait(self, handles):
        done, _ = cf.wait(handles, return_when=cf.FIRST_COMPLETED)
        return [(h, h.result()) for h in done]

    def shutdown(self):
        self.pool.shutdown(wait=True, cancel_futures=True)


def _ray_chunk(ctx: PointContext, points: list[tuple[int, dict]]) -> pa.Table:
    global _EVALUATOR
    if _EVALUATOR is None or _EVALUATOR.ctx != ctx:
        _EVALUATOR = PointEvaluator(ctx)
    return _EVALUATOR.table(points)


class RayExecutor:
    """Ray tasks, one per chunk: a local Ray instance, or a cluster by address.

    Cluster nodes need podwright (and its `results` extra) installed in the same version.
    """

    def __init__(self, ctx: PointContext, workers: int | None, address: str | None):
        try:
            import ray
        except ImportError:
            raise InputError(
                "executor", "ray is not installed: pip install 'podwright[ray]'"
            ) from None
        self.ray = ray
        self._owns = not ray.is_initialized()
        if self._owns:
            kw: dict = {"include_dashboard": False, "logging_level": "ERROR"}
            if address:
                kw["address"] = address
            elif workers:
                kw["num_cpus"] = workers
            try:
                ray.init(**kw)
            except (ConnectionError, ValueError, RuntimeError) as e:
                raise InputError("address", f"cannot start or reach Ray: {e}") from None
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = workers or max(1, cpus)
        where = f"Ray cluster {address}" if address else "local Ray"
        self.label = f"{self.workers} tasks at a time on {where} ({cpus} CPUs)"
        self.ctx_ref = ray.put(ctx)
        self.task = ray.remote(num_cpus=1)(_ray_chunk)

    def submit(self, points):
        return self.task.remote(self.ctx_ref, points)

    def wait(self, handles):
        ray = self.ray
        ready, rest = ray.wait(handles, num_returns=1)
        if rest:  # whatever else has finished meanwhile
            more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
            ready = ready + more
        return list(zip(ready, ray.get(ready), strict=True))

    def shutdown(self):
        if self._owns:
            self.ray.shutdown()


def warm(ctx: PointContext) -> None:
    """Import the evaluation code once here, so forked workers start with it loaded."""
    import podwright.topology  # noqa: F401

    if ctx.workload != "bom":
        import podwright.estimate.predict  # noqa: F401
        import podwright.specs.scenario  # noqa: F401


def check_executor(kind: str, workers: int | None, address: str | None) -> None:
    if kind not in EXECUTORS:
        raise InputError("executor", f"must be local or ray (got {kind!r})")
    if workers is not None and workers < 1:
        raise InputError("workers", f"must be at least 1 (got {workers})")
    if address and kind != "ray":
        raise InputError("address", "is for --executor ray")


def make_executor(kind: str, ctx: PointContext, workers: int | None, address: str | None):
    check_executor(kind, workers, address)
    if kind == "ray":
        return RayExecutor(ctx, workers, address)
    workers = workers or os.cpu_count() or 1
    warm(ctx)
    if workers == 1:
        return SerialExecutor(ctx)
    return LocalExecutor(ctx, workers)
