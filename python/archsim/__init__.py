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

from ._archsim import ActionError, ConfigError, SimulationError, __version__, models, simulate_text
from .envs import list_envs, parallel_env

__all__ = [
    "simulate",
    "models",
    "parallel_env",
    "list_envs",
    "ConfigError",
    "ActionError",
    "SimulationError",
    "__version__",
]

ConfigLike = Union[Mapping[str, Any], str, "os.PathLike[str]"]


def simulate(config: ConfigLike, overrides: Sequence[str] = ()) -> dict:
    """Simulate a config and return the report (the content of ``report.json``) as a dict.

    ``config`` is a dict with ``workload`` and ``accelerator`` sections, or the path of a YAML
    config file. ``overrides`` are ``"path=value"`` strings, as ``archsim run --set``.

    Raises ``ConfigError`` (a ``ValueError``) for bad input and ``SimulationError`` (a
    ``RuntimeError``) when the simulation itself fails.
    """
    if isinstance(config, Mapping):
        try:
            text = json.dumps(dict(config))
        except (TypeError, ValueError) as e:
            raise ConfigError(f"config is not JSON-serializable: {e}") from None
        source, base = "<dict>", "."
    elif isinstance(config, (str, os.PathLike)):
        path = Path(config)
        try:
            text = path.read_text()
        except OSError as e:
            raise ConfigError(f"{path}: cannot read config: {e.strerror or e}") from None
        source, base = str(path), str(path.parent)
    else:
        raise TypeError(f"config must be a dict or a path, not {type(config).__name__}")
    if isinstance(overrides, (str, bytes)) or not all(isinstance(o, str) for o in overrides):
        raise TypeError("overrides must be a sequence of 'path=value' strings")
    return json.loads(simulate_text(text, source, base, list(overrides)))
