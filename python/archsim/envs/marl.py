"""PettingZoo ``ParallelEnv``: the design space split among named agents, one team reward."""

from __future__ import annotations

import functools
from typing import Any, Optional

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from ._core import METRICS, ConfigLike, as_indices, make_core


class DseParallelEnv(ParallelEnv):
    """Each agent owns some design parameters (``gym.agents`` in the config); every step all
    agents choose their values, the joint design is evaluated, and every agent receives the
    same (team) reward and observes the same metric vector."""

    metadata = {"render_modes": [], "name": "archsim_dse_v0"}

    def __init__(self, preset: Optional[str] = None, config: Optional[ConfigLike] = None, render_mode: Optional[str] = None):
        if render_mode is not None:
            raise ValueError("archsim environments do not render; leave render_mode unset")
        self._setup(make_core(preset, config), len(METRICS))

    def _setup(self, core: Any, obs_len: int) -> None:
        self._core = core
        owned = self._core.agents()
        if not owned:
            raise ValueError("this environment's config has no gym.agents section")
        nvec = self._core.nvec()
        self._nvec = {name: np.asarray([nvec[i] for i in idx], dtype=np.int64) for name, idx in owned}
        self.possible_agents = [name for name, _ in owned]
        self.agents: list[str] = []
        self.render_mode = None
        self._action_spaces = {a: spaces.MultiDiscrete(self._nvec[a]) for a in self.possible_agents}
        self._observation_spaces = {
            a: spaces.Box(low=0.0, high=np.finfo(np.float32).max, shape=(obs_len,), dtype=np.float32) for a in self.possible_agents
        }

    @functools.lru_cache(maxsize=None)
    def observation_space(self, agent: str) -> spaces.Space:
        return self._observation_spaces[agent]

    @functools.lru_cache(maxsize=None)
    def action_space(self, agent: str) -> spaces.Space:
        return self._action_spaces[agent]

    def reset(self, seed: Optional[int] = None, options: Optional[dict] = None) -> tuple[dict, dict]:
        if seed is not None:
            for i, a in enumerate(self.possible_agents):
                self._action_spaces[a].seed(seed + i)
        self.agents = list(self.possible_agents)
        obs = np.asarray(self._core.reset(seed), dtype=np.float32)
        return {a: obs.copy() for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        if not self.agents:
            raise RuntimeError("step() called on a finished episode; call reset() first")
        if not isinstance(actions, dict):
            raise TypeError(f"actions must be a dict keyed by agent, not {type(actions).__name__}")
        missing = [a for a in self.agents if a not in actions]
        extra = [a for a in actions if a not in self.agents]
        if missing or extra:
            raise ValueError(f"actions must cover exactly the agents {self.agents}; missing {missing}, unknown {extra}")
        pairs = [(a, as_indices(actions[a], self._nvec[a], f"action of {a}")) for a in self.agents]
        obs, reward, terminated, truncated, info = self._core.step_agents(pairs)
        o = np.asarray(obs, dtype=np.float32)
        agents = self.agents
        result = (
            {a: o.copy() for a in agents},
            {a: float(reward) for a in agents},
            {a: terminated for a in agents},
            {a: truncated for a in agents},
            {a: dict(info) for a in agents},
        )
        if terminated or truncated:
            self.agents = []
        return result
