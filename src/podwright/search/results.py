"""Sweep results on disk: one Parquet file per finished chunk plus a manifest, and DuckDB over
them (table `results`).

The Parquet files are the record of what is done; the manifest is a summary rewritten now and
then. A chunk is written to a temporary name, flushed to disk and renamed, so a sweep killed at
any moment leaves only whole chunk files (and perhaps a stray temporary file, removed on the next
run). A rerun reads the ids of the chunk files and evaluates only the points not among them.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from podwright.errors import InputError

MANIFEST = "manifest.json"
CHUNK_RE = re.compile(r"^chunk-(\d+)\.parquet$")


class ResultStore:
    """The results folder of one sweep."""

    def __init__(self, root: str | Path, sweep_id: str, name: str, points: int, spec: dict):
        self.root = Path(root)
        self.sweep_id = sweep_id
        self.name = name
        self.points = points
        self.spec = spec
        self.chunks: dict[str, int] = {}  # file name -> rows
        self.done = 0
        self._next = 0
        self._manifest_at = 0.0

    def open(self) -> set[int]:
        """Create or check the folder; return the ids already finished."""
        if self.root.exists() and not self.root.is_dir():
            raise InputError("out", f"'{self.root}' is a file, not a results folder")
        self.root.mkdir(parents=True, exist_ok=True)
        old = self._read_manifest()
        if old is not None and old.get("sweep_id") != self.sweep_id:
            raise InputError(
                "out",
                f"'{self.root}' holds results of another sweep ({old.get('name')!r}, "
                f"id {old.get('sweep_id')}); give a new --out or remove it",
            )
        for tmp in self.root.glob("*.tmp"):
            tmp.unlink(missing_ok=True)
        done: set[int] = set()
        for path in sorted(self.root.glob("chunk-*.parquet")):
            m = CHUNK_RE.match(path.name)
            if not m:
                continue
            try:
                t = pq.read_table(path, columns=["id", "sweep_id"])
            except Exception:  # a file cut short by a crash before its rename was durable
                path.unlink(missing_ok=True)
                continue
            ids = t.column("id").to_pylist()
            other = set(t.column("sweep_id").to_pylist()) - {self.sweep_id}
            if other:
                raise InputError(
                    "out", f"'{path}' holds rows of another sweep ({sorted(other)[0]})"
                )
            done.update(ids)
            self.chunks[path.name] = len(ids)
            self._next = max(self._next, int(m.group(1)) + 1)
        self.done = len(done)
        self.write_manifest(force=True)
        return done

    def _read_manifest(self) -> dict | None:
        path = self.root / MANIFEST
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None

    def write_chunk(self, table: pa.Table) -> Path:
        name = f"chunk-{self._next:06d}.parquet"
        self._next += 1
        path = self.root / name
        tmp = self.root / f"{name}.tmp"
        with open(tmp, "wb") as f:
            pq.write_table(table, f, compression="zstd")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        self.chunks[name] = table.num_rows
        self.done += table.num_rows
        self.write_manifest()
        return path

    def write_manifest(self, force: bool = False, every_s: float = 2.0) -> None:
        now = time.monotonic()
        if not force and now - self._manifest_at < every_s:
            return
        self._manifest_at = now
        data = {
            "sweep_id": self.sweep_id,
            "name": self.name,
            "points": self.points,
            "done": self.done,
            "complete": self.done >= self.points,
            "chunks": [{"file": k, "rows": v} for k, v in sorted(self.chunks.items())],
            "spec": self.spec,
        }
        path = self.root / MANIFEST
        tmp = self.root / f"{MANIFEST}.tmp"
        tmp.write_text(json.dumps(data, indent=1, default=str) + "\n")
        os.replace(tmp, path)


def parquet_glob(results: str | Path) -> str:
    """The Parquet files of a results folder (or one Parquet file) as a DuckDB pattern."""
    path = Path(results)
    if path.is_file() and path.suffix == ".parquet":
        return str(path)
    if not path.is_dir():
        raise InputError("results", f"no such results folder '{results}'")
    if not any(path.glob("chunk-*.parquet")):
        raise InputError("results", f"'{results}' holds no chunk-*.parquet files yet")
    return str(path / "chunk-*.parquet")


def connect(results: str | Path):
    """A DuckDB connection with the view `results` over the sweep's Parquet files."""
    try:
        import duckdb
    except ImportError:
        raise InputError("query", "needs duckdb: pip install 'podwright[results]'") from None
    pattern = parquet_glob(results).replace("'", "''")
    con = duckdb.connect()
    con.execute(
        f"CREATE VIEW results AS SELECT * FROM read_parquet('{pattern}', union_by_name = true)"
    )
    return con


def query(results: str | Path, sql: str) -> tuple[list[str], list[tuple]]:
    """Run SQL over `results`; (column names, rows). A bad query is an InputError."""
    import duckdb

    con = connect(results)
    try:
        cur = con.execute(sql)
        rows = cur.fetchall()
    except duckdb.Error as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError("sql", first) from None
    cols = [d[0] for d in cur.description] if cur.description else []
    return cols, rows


def read_results(results: str | Path) -> pa.Table:
    """Every row of a sweep as one Arrow table, ordered by point id."""
    cur = connect(results).sql("SELECT * FROM results ORDER BY id")
    for name in ("to_arrow_table", "fetch_arrow_table", "arrow"):  # DuckDB 2.x, 1.x
        if hasattr(cur, name):
            return getattr(cur, name)()
    raise RuntimeError("this DuckDB gives no Arrow tables")  # pragma: no cover
