"""Shared plumbing: building the native env from a preset, a dict or a path, and actions."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import numpy as np

from .._archsim import ActionError, ConfigError, DseEnvCore, metric_names, read_config

ConfigLike = Union[Mapping[str, Any], str, "os.PathLike[str]"]

METRICS = tuple(metric_names())


#: The problem ``archsim/Dse-v0`` poses when it is made without ``config=`` or ``preset=``.
DEFAULT_PRESET = "SystolicGemm"


def make_core(preset: Optional[str], config: Optional[ConfigLike]) -> DseEnvCore:
    if preset is not None and config is not None:
        raise ValueError("give exactly one of preset= or config=")
    if preset is None and config is None:
        preset = DEFAULT_PRESET
    if preset is not None:
        if not isinstance(preset, str):
            raise TypeError(f"preset must be a string, not {type(preset).__name__}")
        return DseEnvCore.preset(preset)
    if isinstance(config, Mapping):
        try:
            text = json.dumps(dict(config))
        except (TypeError, ValueError) as e:
            raise ConfigError(f"config is not JSON-serializable: {e}") from None
        return DseEnvCore(text, ".")
    if isinstance(config, (str, os.PathLike)):
        path = Path(config)
        return DseEnvCore(read_config(str(path)), str(path.parent))
    raise TypeError(f"config must be a dict or a path, not {type(config).__name__}")


def int_array(action: Any, what: str = "action") -> np.ndarray:
    """``action`` as a numpy integer array, or a ``TypeError`` naming ``what``."""
    try:
        a = np.asarray(action)
    except Exception as e:  # noqa: BLE001 - anything numpy cannot read is a bad action
        raise TypeError(f"{what} must be an integer array, got {type(action).__name__}: {e}") from None
    if a.dtype == object or a.dtype.kind not in "iub":
        raise TypeError(f"{what} must hold integers, got dtype {a.dtype}")
    return a


def as_indices(action: Any, nvec: np.ndarray, what: str = "action") -> list:
    """Validates an action against a MultiDiscrete nvec; returns a list of Python ints."""
    a = int_array(action, what)
    if a.shape != nvec.shape:
        raise ActionError(f"{what} must have shape {nvec.shape}, got {a.shape}")
    if (a < 0).any() or (a >= nvec).any():
        raise ActionError(f"{what} {a.tolist()} is outside 0..{nvec.tolist()}")
    return a.astype(np.int64).tolist()
