"""archsim: a cycle-approximate simulator of AI hardware.

>>> import archsim
>>> report = archsim.simulate({"workload": {"model": "resnet18"},
...                            "accelerator": {"kind": "systolic", "rows": 128, "cols": 128, "dataflow": "os"}})
>>> report["total_cycles"] > 0
True
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence, Union

from ._archsim import (
    ActionError,
    ConfigError,
    SimulationError,
    __version__,
    models,
    search_text,
    serve_text,
    simulate_text,
)
from ._sweep import SweepResult, sweep
from .envs import list_envs, parallel_env

__all__ = [
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
        try:
            return path.read_text(), str(path), str(path.parent)
        except OSError as e:
            raise ConfigError(f"{path}: cannot read config: {e.strerror or e}") from None
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
    config file. ``overrides`` are ``"path=value"`` strings, as ``archsim run --set``.

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
