"""``gymnasium.Env`` over archsim's design-space exploration environment."""

from __future__ import annotations

from typing import Any, Optional

import gymnasium
import numpy as np
from gymnasium import spaces

from ._core import METRICS, ConfigLike, as_indices, make_core


class DseEnv(gymnasium.Env):
    """One step evaluates one accelerator design on the workload.

    Action: ``MultiDiscrete`` — one index per design-space parameter (``param_paths``).
    Observation: ``Box`` of the design's metrics (``METRICS`` order: latency_s, energy_j,
    area_mm2, power_w, utilization, total_cycles, edp_js, dram_bytes, ttft_s, tpot_s,
    decode_tokens_per_s — the last three 0 without an ``llm:`` step), zeros before the first
    step or when the design could not be evaluated. ``info`` holds ``feasible``, ``reason``,
    ``metrics`` (by name), ``point`` (the design) and ``step``.

    ``terminated`` is true when every target of a ``target`` reward is met; ``truncated`` when
    the episode's ``episode_len`` steps are used up.
    """

    metadata = {"render_modes": []}

    def __init__(self, preset: Optional[str] = None, config: Optional[ConfigLike] = None, render_mode: Optional[str] = None):
        if render_mode is not None:
            raise ValueError("archsim environments do not render; leave render_mode unset")
        self._core = make_core(preset, config)
        self._nvec = np.asarray(self._core.nvec(), dtype=np.int64)
        self.param_paths = tuple(self._core.param_paths())
        self.metric_names = METRICS
        self.action_space = spaces.MultiDiscrete(self._nvec)
        self.observation_space = spaces.Box(low=0.0, high=np.finfo(np.float32).max, shape=(len(METRICS),), dtype=np.float32)
        self.render_mode = None

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        obs = self._core.reset(seed)
        return np.asarray(obs, dtype=np.float32), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self._core.step(as_indices(action, self._nvec))
        return np.asarray(obs, dtype=np.float32), float(reward), terminated, truncated, info

    def action_masks(self) -> np.ndarray:
        """Flat boolean mask over every parameter's values (sb3-contrib MaskablePPO layout)."""
        return np.concatenate([np.asarray(m, dtype=bool) for m in self._core.action_mask()])
