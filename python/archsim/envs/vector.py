"""``gymnasium.vector.VectorEnv`` over archsim's design-space exploration environment.

``gymnasium.make_vec("archsim/SystolicGemm-v0", num_envs=N, vectorization_mode="vector_entry_point")``
builds N copies of the environment in Rust; each ``step`` evaluates the N designs in one call,
in parallel, with the GIL released (no Python loop over sub-environments, no subprocesses).
Episodes reset automatically on the step after they end (gymnasium's next-step autoreset).

Evaluating a design is a pure function of its indices: each ``step`` evaluates every distinct
design of the batch once and remembers up to ``cache_size`` designs (default: the core's, 65,536) for later
steps, which is where an RL agent's steps go once its policy concentrates. Results are the
same with and without the cache; ``cache_size=0`` evaluates every environment's design afresh.
"""

from __future__ import annotations

from typing import Any, Optional

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from .._archsim import ActionError, DseVecCore
from ._core import METRICS, ConfigLike, int_array, make_core


class DseVectorEnv(gymnasium.vector.VectorEnv):
    """N copies of :class:`archsim.envs.DseEnv` stepped together in Rust.

    ``step(actions)`` takes an integer array of shape ``(num_envs, dims)`` and returns batched
    observations ``(num_envs, len(METRICS))``, rewards, terminations, truncations and ``infos``
    with ``feasible`` (bool), ``reason`` (str, "" when feasible) and ``metrics`` (float, one row
    per environment), each with its ``_``-prefixed mask as gymnasium's vector infos have.
    """

    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        num_envs: int = 1,
        preset: Optional[str] = None,
        config: Optional[ConfigLike] = None,
        render_mode: Optional[str] = None,
        cache_size: Optional[int] = None,
    ):
        if render_mode is not None:
            raise ValueError("archsim environments do not render; leave render_mode unset")
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)):
            raise TypeError(f"num_envs must be an int, not {type(num_envs).__name__}")
        core = make_core(preset, config)
        if cache_size is None:  # the core's default
            self._vec = DseVecCore(core, int(num_envs))
        elif isinstance(cache_size, bool) or not isinstance(cache_size, (int, np.integer)) or cache_size < 0:
            raise ValueError(f"cache_size must be a non-negative int, not {cache_size!r}")
        else:
            self._vec = DseVecCore(core, int(num_envs), int(cache_size))
        self.num_envs = int(num_envs)
        self._nvec = np.asarray(core.nvec(), dtype=np.int64)
        self.param_paths = tuple(core.param_paths())
        self.metric_names = METRICS
        self.single_action_space = spaces.MultiDiscrete(self._nvec)
        self.single_observation_space = spaces.Box(
            low=0.0, high=np.finfo(np.float32).max, shape=(len(METRICS),), dtype=np.float32
        )
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.render_mode = None
        self._autoreset = np.zeros(self.num_envs, dtype=bool)

    def reset(self, *, seed: Optional[int | list] = None, options: Optional[dict] = None) -> tuple[np.ndarray, dict]:
        if seed is None:
            seeds = [None] * self.num_envs
        elif isinstance(seed, (int, np.integer)):
            seeds = [int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"give one seed per environment ({self.num_envs}), got {len(seeds)}")
        # gymnasium's VectorEnv.reset seeds its generator from one integer: the first env's.
        super().reset(seed=None if seeds[0] is None else int(seeds[0]))
        obs = self._vec.reset(seeds)
        self._autoreset[:] = False
        return np.asarray(obs, dtype=np.float32), {}

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        a = int_array(actions, "actions")
        shape = (self.num_envs, len(self._nvec))
        if a.shape != shape:
            raise ActionError(f"actions must have shape {shape}, got {a.shape}")
        live = ~self._autoreset
        if ((a < 0) | (a >= self._nvec))[live].any():
            raise ActionError(f"actions outside 0..{self._nvec.tolist()}")
        obs, rew, term, trunc, feasible, reason, reasons, metrics = self._vec.step(
            np.ascontiguousarray(a, dtype=np.int64), self._autoreset
        )
        mask = live.copy()
        infos = {
            "feasible": feasible,
            "_feasible": mask,
            "reason": np.asarray(reasons, dtype=object)[reason],
            "_reason": mask,
            "metrics": metrics,
            "_metrics": mask,
        }
        self._autoreset = term | trunc
        return obs, rew, term, trunc, infos

    def time_steps(self, actions: Any, n: int = 1000) -> float:
        """Mean seconds of one vectorized Rust step, environment ``i`` stepping
        ``actions[i % len(actions)]`` (one action, or an array of them)."""
        a = np.asarray(actions, dtype=np.int64)
        rows = a.reshape(1, -1) if a.ndim == 1 else a
        return self._vec.time_steps(rows.tolist(), int(n))
