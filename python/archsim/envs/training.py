"""``archsim/Training-v0``: pick the parallel layout of a training job.

Each step picks ``parallel.tp``, ``parallel.pp`` (``parallel.dp`` is what is left of the
devices), ``workload.training.micro_batch``, ``workload.training.recompute`` and
``parallel.vpp`` (interleaved 1F1B when above 1), and simulates one iteration of the job under
that layout (the environment is the Rust ``TrainingEnv`` of the gym crate; this class only
converts). The reward is the layout's tokens/s over the config's own layout's (1.0 = as good as
the config); a layout that does not divide (``tp`` not dividing the heads, ``tp·pp`` not
dividing the devices, a micro-batch not dividing the per-replica batch) or does not fit in
memory takes ``gym.infeasible_reward`` (default -1) with ``info["feasible"] = False`` and the
reason in ``info["reason"]``.

``gymnasium.make("archsim/Training-v0", config=dict_or_path, episode_len=16)``; without
``config`` it is GPT-3 175B on 1,024 A100 (Megatron-LM's tp 8, pp 8, dp 16 as the reference).
"""

from __future__ import annotations

import json
from typing import Any, Optional

import gymnasium
import numpy as np
from gymnasium import spaces

from .._archsim import TrainingEnvCore


class TrainingEnv(gymnasium.Env):
    """Layout search for distributed training (see the module docs)."""

    metadata = {"render_modes": []}

    def __init__(self, config: Optional[Any] = None, episode_len: Optional[int] = None):
        text = None
        if config is not None:
            from .. import _config_text

            text = _config_text(config)[0]
        self._core = TrainingEnvCore(text, episode_len)
        self.dims = list(self._core.dims())
        self.choices = json.loads(self._core.choices())
        self.obs_names = list(self._core.obs_names())
        self.action_space = spaces.MultiDiscrete(np.asarray(self._core.nvec(), dtype=np.int64))
        self.observation_space = spaces.Box(
            low=0.0, high=np.finfo(np.float32).max, shape=(len(self.obs_names),), dtype=np.float32
        )
        self.render_mode = None

    def action_of(self, **values: Any) -> np.ndarray:
        """The action picking ``tp=..., pp=..., micro_batch=..., recompute=..., vpp=...``
        (each by its value; a dimension not named takes index 0)."""
        keys = [d.rsplit(".", 1)[1] for d in self.dims]
        unknown = set(values) - set(keys)
        if unknown:
            raise ValueError(f"unknown dimension(s) {sorted(unknown)}; dimensions: {keys}")
        return np.asarray(
            [self.choices[i].index(values[k]) if k in values else 0 for i, k in enumerate(keys)],
            dtype=np.int64,
        )

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        super().reset(seed=seed)
        obs = np.asarray(self._core.reset(seed), dtype=np.float32)
        return obs, {}

    def step(self, action):
        obs, reward, terminated, truncated, info = self._core.step([int(a) for a in action])
        return np.asarray(obs, dtype=np.float32), float(reward), terminated, truncated, info
