"""archsim: a cycle-approximate simulator of AI hardware.

>>> import archsim
>>> report = archsim.simulate({"workload": {"model": "resnet18"},
...                            "accelerator": {"kind": "systolic", "rows": 128, "cols": 128, "dataflow": "os"}})
>>> report["total_cycles"] > 0
True
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence, Union

from ._archsim import (
    ActionError,
    ConfigError,
    SimulationError,
    __version__,
    evaluate_batch_text,
    models,
    read_config,
    run_text,
    search_text,
    serve_text,
    simulate_text,
)
from ._sweep import SweepResult, sweep
from .envs import list_envs, parallel_env

__all__ = [
    "run",
    "evaluate_batch",
    "simulate",
    "search",
    "serve",
    "sweep",
    "SweepResult",
    "models",
    "parallel_env",
    "list_envs",
    "ConfigError",
    "ActionError",
    "SimulationError",
    "__version__",
]

ConfigLike = Union[Mapping[str, Any], str, "os.PathLike[str]"]


def _config_text(config: ConfigLike) -> tuple[str, str, str]:
    if isinstance(config, Mapping):
        try:
            return json.dumps(dict(config)), "<dict>", "."
        except (TypeError, ValueError) as e:
            raise ConfigError(f"config is not JSON-serializable: {e}") from None
    if isinstance(config, (str, os.PathLike)):
        path = Path(config)
        # Checked first: a regular file within the config cap (never a FIFO or /dev/zero).
        return read_config(str(path)), str(path), str(path.parent)
    raise TypeError(f"config must be a dict or a path, not {type(config).__name__}")


def _check_overrides(overrides: Sequence[str]) -> list:
    if isinstance(overrides, (str, bytes)) or not all(isinstance(o, str) for o in overrides):
        raise TypeError("overrides must be a sequence of 'path=value' strings")
    return list(overrides)


def search(config: ConfigLike, overrides: Sequence[str] = ()) -> dict:
    """Run the optimizer of a config's ``search:`` section; return ``{agent, seed, best, history,
    pareto}`` (the content of ``report.json`` of ``archsim run`` on that config).

    Raises ``ConfigError`` (a ``ValueError``) for a bad config or search section.
    """
    text, source, base = _config_text(config)
    return json.loads(search_text(text, source, base, _check_overrides(overrides)))


def simulate(config: ConfigLike, overrides: Sequence[str] = ()) -> dict:
    """Simulate a config and return the report (the content of ``report.json``) as a dict.

    ``config`` is a dict with ``workload`` and ``accelerator`` sections, or the path of a YAML
    config file. ``overrides`` are ``"path=value"`` strings, as ``archsim run --set``. A training
    config (``workload: {training: ...}``, ``cluster:``, ``parallel:``) returns its
    ``report.json``: ``latency_s`` (the iteration) and the ``training`` section.

    Raises ``ConfigError`` (a ``ValueError``) for bad input and ``SimulationError`` (a
    ``RuntimeError``) when the simulation itself fails.
    """
    text, source, base = _config_text(config)
    return json.loads(simulate_text(text, source, base, _check_overrides(overrides)))


def serve(config: ConfigLike, overrides: Sequence[str] = ()) -> dict:
    """Run an LLM serving config (``workload: {llm: ...}`` and a ``serving:`` section) and return
    ``{"metrics": <report.json as a dict>, "requests": {column: numpy array}}``.

    ``config`` is a dict, the path of a YAML file, or YAML text (a string with a newline).
    The request columns are ``id, arrival_s, prompt_tokens, output_tokens, pool, replica,
    queue_s, ttft_s, tpot_s, e2e_s, preemptions, slo_met``, one row per request.

    Raises ``ConfigError`` (a ``ValueError``) for bad input, naming the key.
    """
    import numpy as np

    if isinstance(config, str) and "\n" in config:
        text, source, base = config, "<yaml>", "."
    else:
        text, source, base = _config_text(config)
    out = json.loads(serve_text(text, source, base, _check_overrides(overrides)))
    columns = {k: np.asarray(v) for k, v in out["requests"].items()}
    return {"metrics": out["report"], "requests": columns}


def run(config: ConfigLike, overrides: Sequence[str] = (), out: Union[str, "os.PathLike[str]", None] = None) -> dict:
    """Run any config as ``archsim run --json`` does and return what it prints, as a dict.

    The config's sections choose what runs, as on the command line: a plain config is simulated
    (the report), a ``search:`` section runs the optimizer (``{agent, seed, best, history,
    pareto}``), a ``codesign:`` section runs the co-design comparison (``{co_exploration,
    successive}``), a ``study:`` section runs that study (its tables). With ``out`` the run's
    files (report, CSVs, plots) are written into that folder. A ``sweep:`` file runs with
    :func:`archsim.sweep`.

    >>> import archsim
    >>> r = archsim.run({"workload": {"model": "resnet18"},
    ...                  "accelerator": {"kind": "systolic", "rows": 64, "cols": 64, "dataflow": "ws"}})
    >>> r["total_cycles"] > 0
    True

    Raises ``ConfigError`` (a ``ValueError``) for bad input and ``SimulationError`` (a
    ``RuntimeError``) when the run itself fails.
    """
    text, source, base = _config_text(config)
    if out is not None and not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"out must be a folder path, not {type(out).__name__}")
    return json.loads(run_text(text, source, base, _check_overrides(overrides), None if out is None else str(out)))


def evaluate_batch(config: ConfigLike, points: Any, overrides: Sequence[str] = ()) -> dict:
    """Evaluate many design points of a search config at once, in parallel in Rust (the GIL is
    released), and return a dict of numpy columns.

    ``config`` has a ``search:`` section: its ``space`` names the dimensions, its
    ``constraints`` decide feasibility (its agent and budget are not used). A serving config
    (``serving:``, e.g. ``configs/search/serving_fleet.yaml``) returns the serving metrics of the
    fleet search; a fleet that misses ``serving.slo`` is infeasible, the reason naming the bound.
    A training config (``configs/search/training_layout.yaml``) returns the training metrics
    (``iteration_s``, ``tokens_per_s``, ``mfu``, ``memory_gb``, ...) of each layout; one that
    does not divide the devices or does not fit is infeasible with its reason.
    ``points`` is either

    * a list of dicts, ``{"accelerator.rows": 64, "accelerator.dataflow": "ws"}``, one value per
      ``search.space`` path (list elements by index: ``accelerator.subs[0].rows``), or
    * an integer array of shape ``(n, dims)``: row ``i`` holds one index per dimension into its
      domain, in ``search.space`` order (as a gym action).

    Returns ``{metric: float64 array for every metric (NaN where a point was not evaluated),
    "feasible": bool array, "reason": object array of str ("" when feasible), "paths": the
    dimensions in order}``. A design that cannot be built or does not fit is an infeasible row
    with its reason; a malformed batch raises ``ConfigError``.

    >>> import archsim
    >>> cols = archsim.evaluate_batch("configs/search/resnet18_bo.yaml",
    ...                               [[0, 0, 0, 0], [1, 1, 1, 1]])          # doctest: +SKIP
    >>> cols["latency_s"], cols["feasible"]                                   # doctest: +SKIP
    """
    import numpy as np

    text, source, base = _config_text(config)
    over = _check_overrides(overrides)
    if isinstance(points, np.ndarray) or (
        isinstance(points, (list, tuple)) and points and not isinstance(points[0], Mapping)
    ):
        try:
            arr = np.asarray(points)
        except ValueError:
            # Rows of different lengths: each row checked on its own (the error names the row).
            arr = None
        if arr is None:
            rows = []
            for n, row in enumerate(points):
                r = np.asarray(row)
                if r.ndim != 1 or not np.issubdtype(r.dtype, np.integer):
                    raise ConfigError(f"point {n} must be a row of integer indices, not {row!r}")
                rows.append(r)
            paths = evaluate_batch_text(text, source, base, over, indices=np.zeros((0, 0), dtype=np.int64))[0]
            n, r = next((n, r) for n, r in enumerate(rows) if len(r) != len(paths))
            raise ConfigError(
                f"point {n} has {len(r)} indices; the space has {len(paths)} dimensions ({', '.join(paths)})"
            )
        elif arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer):
            raise ConfigError(
                f"points as an array must be integers of shape (n, dims), not {arr.dtype} of shape {arr.shape}"
            )
        rows = np.ascontiguousarray(arr, dtype=np.int64)
        paths, sizes, names, cols, feasible, reason, reasons = evaluate_batch_text(
            text, source, base, over, indices=rows
        )
    elif isinstance(points, (list, tuple)):
        for n, p in enumerate(points):
            if not isinstance(p, Mapping):
                raise TypeError(f"point {n} must be a dict (search.space path -> value), not {type(p).__name__}")
            for k, v in p.items():
                if isinstance(v, float) and not math.isfinite(v):
                    raise ConfigError(f"point {n}: `{k}` is {v!r}; give a finite number")
        try:
            payload = json.dumps([dict(p) for p in points], allow_nan=False)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"points are not JSON-serializable: {e}") from None
        paths, sizes, names, cols, feasible, reason, reasons = evaluate_batch_text(
            text, source, base, over, points_json=payload
        )
    else:
        raise TypeError(f"points must be a list of dicts or an integer array, not {type(points).__name__}")
    out = dict(zip(names, cols))
    out["feasible"] = feasible
    out["reason"] = np.asarray(reasons, dtype=object)[reason] if reasons else np.empty(0, dtype=object)
    out["paths"] = list(paths)
    out["sizes"] = np.asarray(sizes, dtype=np.int64)
    return out
