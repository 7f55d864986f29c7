"""Network/hardware co-design (NASAIC-style) as a Gymnasium env and a PettingZoo ParallelEnv.

One step evaluates one joint design: a network per task (an index into the accuracy oracle)
and the dataflow, rows, columns and SRAM of each task's sub-accelerator, all tasks running at
once on one heterogeneous chip (Rust: ``archsim_gym::codesign_env``). Specs on per-task latency,
energy and area are constraints; the objective is the task-weighted accuracy.

* Reward (shared by every agent): the weighted accuracy as a fraction (0-1) when every spec is
  met, otherwise minus the sum of relative spec excesses, so any feasible design outranks any
  infeasible one. ``info["feasible"]`` and ``info["reason"]`` say which specs were missed.
* Observation: ``obs_names`` -- weighted accuracy, accuracy per task, latency per task (ms),
  energy (mJ), area (mm2), spec excess.
* ``accuracy_fn(arch, dataset) -> float`` replaces the CSV oracle's accuracies (for instance a
  function that trains the network); each (network, dataset) is asked once, and an exception it
  raises propagates out of ``step``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence, Union

import gymnasium
import numpy as np
from gymnasium import spaces

from .._archsim import CoDesignEnvCore, ConfigError, codesign_presets, read_config
from ._core import as_indices
from .marl import DseParallelEnv

ConfigLike = Union[Mapping[str, Any], str, "os.PathLike[str]"]
AccuracyFn = Callable[[str, str], float]


def make_codesign_core(
    preset: Optional[str],
    config: Optional[ConfigLike],
    accuracy_fn: Optional[AccuracyFn],
    archs: Optional[Sequence[str]],
) -> CoDesignEnvCore:
    if (preset is None) == (config is None):
        raise ValueError("give exactly one of preset= or config=")
    if archs is not None:
        if isinstance(archs, (str, bytes)) or not all(isinstance(a, str) for a in archs):
            raise TypeError("archs must be a sequence of architecture strings")
        archs = list(archs)
    if preset is not None:
        known = dict(codesign_presets())
        if preset not in known:
            raise ConfigError(f"unknown preset {preset!r}; presets: {', '.join(known)}")
        text, base = known[preset], "."
    elif isinstance(config, Mapping):
        try:
            text, base = json.dumps(dict(config)), "."
        except (TypeError, ValueError) as e:
            raise ConfigError(f"config is not JSON-serializable: {e}") from None
    elif isinstance(config, (str, os.PathLike)):
        path = Path(config)
        text, base = read_config(str(path)), str(path.parent)
    else:
        raise TypeError(f"config must be a dict or a path, not {type(config).__name__}")
    return CoDesignEnvCore(text, base, accuracy_fn, archs)


class CoDesignEnv(gymnasium.Env):
    """Single-agent co-design: the action is ``[net_0..net_{n-1}, df_0, rows_0, cols_0, sram_0,
    df_1, ...]`` (``MultiDiscrete``), indices into the oracle and the hardware lists."""

    metadata = {"render_modes": []}

    def __init__(
        self,
        preset: Optional[str] = None,
        config: Optional[ConfigLike] = None,
        accuracy_fn: Optional[AccuracyFn] = None,
        archs: Optional[Sequence[str]] = None,
        render_mode: Optional[str] = None,
    ):
        if render_mode is not None:
            raise ValueError("archsim environments do not render; leave render_mode unset")
        self._core = make_codesign_core(preset, config, accuracy_fn, archs)
        self._nvec = np.asarray(self._core.nvec(), dtype=np.int64)
        self.obs_names = tuple(self._core.obs_names())
        self.action_space = spaces.MultiDiscrete(self._nvec)
        self.observation_space = spaces.Box(low=0.0, high=np.finfo(np.float32).max, shape=(len(self.obs_names),), dtype=np.float32)
        self.render_mode = None

    def arch(self, index: int) -> str:
        """Architecture string of network ``index``."""
        return self._core.arch(int(index))

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        return np.asarray(self._core.reset(seed), dtype=np.float32), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self._core.step(as_indices(action, self._nvec))
        return np.asarray(obs, dtype=np.float32), float(reward), terminated, truncated, info


class CoDesignParallelEnv(DseParallelEnv):
    """Multi-agent co-design: a ``network`` agent (one network index per task) and one hardware
    agent per sub-accelerator, ``hw0``, ``hw1``, ... (dataflow, rows, cols, SRAM indices). Every
    agent observes the same metric vector and receives the same team reward."""

    metadata = {"render_modes": [], "name": "archsim_codesign_v0"}

    def __init__(
        self,
        preset: Optional[str] = None,
        config: Optional[ConfigLike] = None,
        accuracy_fn: Optional[AccuracyFn] = None,
        archs: Optional[Sequence[str]] = None,
        render_mode: Optional[str] = None,
    ):
        if render_mode is not None:
            raise ValueError("archsim environments do not render; leave render_mode unset")
        core = make_codesign_core(preset, config, accuracy_fn, archs)
        self.obs_names = tuple(core.obs_names())
        self._setup(core, len(self.obs_names))

    def arch(self, index: int) -> str:
        """Architecture string of network ``index``."""
        return self._core.arch(int(index))


def _make_codesign(preset: Optional[str] = None, config: Optional[ConfigLike] = None, **kwargs: Any) -> CoDesignEnv:
    """Gymnasium entry point: ``config=`` overrides the registered preset."""
    if config is not None:
        preset = None
    return CoDesignEnv(preset=preset, config=config, **kwargs)
