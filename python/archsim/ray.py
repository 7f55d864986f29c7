"""Sweeps spread over a Ray cluster: ``archsim.ray.sweep(config, out)``.

The sweep is the one ``archsim sweep`` runs — the same config file, the same points in the same
order (grid, random draws with their seed, generators) — but its points are evaluated by Ray
tasks, on every core of every node of the cluster. Each task calls the Rust engine through the
native module for a chunk of points; the driver journals each entry as it comes back, so an
interrupted Ray sweep resumes where it stopped (from its own journal or from one that
``archsim sweep`` left), and writes the same ``results.csv`` and ``results.parquet`` as the local
sweep — byte-identical CSV rows for the same config.

Ray is imported only when a sweep runs: ``pip install ray``. On a cluster, every node needs the
``archsim`` package, and relative paths in the config (ONNX files, topologies) must resolve on
every node, e.g. on a shared file system.

>>> import archsim.ray                                          # doctest: +SKIP
>>> r = archsim.ray.sweep("configs/sweep/systolic_grid.yaml", "out/grid")  # doctest: +SKIP
>>> len(r.entries), r.files[1]                                  # doctest: +SKIP
(96, 'out/grid/results.csv')
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any, Optional

from ._archsim import SweepSession, sweep_point, sweep_points
from ._sweep import PathLike, SweepResult, default_out, sweep_source

__all__ = ["sweep", "SweepResult"]


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as e:
        raise ImportError(
            "archsim.ray.sweep needs Ray, which is not installed here "
            f"(Python {sys.version_info.major}.{sys.version_info.minor}): `pip install ray` "
            "(Ray publishes wheels for CPython 3.9-3.13 on Linux, macOS and Windows); "
            f"or run the same sweep locally with archsim.sweep / `archsim sweep`. ({e})"
        ) from None
    return ray


def _run_chunk(text: str, source: str, base_dir: str, chunk: list) -> list:
    """A Ray task: evaluate ``[(index, point), ...]``; return ``[(journal line, worker), ...]``."""
    import ray

    ctx = ray.get_runtime_context()
    worker = {"pid": os.getpid(), "node_id": ctx.get_node_id(), "worker_id": ctx.get_worker_id()}
    return [(sweep_point(text, source, base_dir, i, json.dumps(p)), worker) for i, p in chunk]


def sweep(
    config: PathLike,
    out: Optional[PathLike] = None,
    *,
    address: Optional[str] = None,
    chunk_size: Optional[int] = None,
    fresh: bool = False,
) -> SweepResult:
    """Run (or resume) the sweep of a config file on a Ray cluster.

    ``out`` defaults to ``out/<config stem>``, as ``archsim sweep``. When Ray is not initialized
    yet, ``ray.init(address=address)`` is called (``address=None`` starts a local cluster on this
    machine, ``"auto"`` joins a running one) and shut down again at the end; when it is, the
    current cluster is used as it is. Points go to tasks of ``chunk_size`` points each (default:
    about four tasks per CPU of the cluster); each task takes one CPU.

    The folder is locked while the sweep runs and its journal is the one ``archsim sweep``
    keeps: its header records the config, a journal of another config is refused (``fresh=True``
    keeps it aside as ``journal.jsonl.N`` and starts over, as ``--fresh``), and a file that is not
    an archsim journal is never modified.

    Returns a :class:`SweepResult` whose ``workers`` name the Ray worker of every entry.
    Raises ``ConfigError`` (a ``ValueError``) for a bad config before any task starts, and
    ``ImportError`` when Ray is not installed.
    """
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive integer, not {chunk_size!r}")
    text, source, base = sweep_source(config)
    points = json.loads(sweep_points(text, source))
    ray = _import_ray()

    out = Path(out) if out is not None else default_out(config)
    # Locks the folder and opens the journal as `archsim sweep` does (header, config check).
    session = SweepSession(text, source, str(out), fresh)
    try:
        lines: dict[int, str] = {}
        for line in session.entries():
            lines[json.loads(line)["index"]] = line
        workers: dict[int, Any] = {}
        todo = [(i, p) for i, p in enumerate(points) if i not in lines]
        print(
            f"sweep: {len(points)} points, {len(lines)} already in the journal, {len(todo)} to run on Ray",
            file=sys.stderr,
        )

        started = False
        if todo and not ray.is_initialized():
            ray.init(address=address, log_to_driver=False)
            started = True
        try:
            if todo:
                cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
                size = chunk_size or max(1, math.ceil(len(todo) / (4 * cpus)))
                task = ray.remote(num_cpus=1)(_run_chunk)
                pending = [task.remote(text, source, base, todo[k : k + size]) for k in range(0, len(todo), size)]
                while pending:
                    ready, pending = ray.wait(pending, num_returns=1)
                    for line, worker in ray.get(ready[0]):
                        session.append(line)
                        i = json.loads(line)["index"]
                        lines[i] = line
                        workers[i] = worker
        finally:
            if started:
                ray.shutdown()

        order = sorted(lines)
        files = [session.journal_path()] + session.finish([lines[i] for i in order])
    finally:
        session.close()
    return SweepResult(
        entries=[json.loads(lines[i]) for i in order],
        files=files,
        workers=[workers.get(i) for i in order],
    )
