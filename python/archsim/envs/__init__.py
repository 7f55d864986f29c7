"""Gymnasium and PettingZoo environments of archsim, registered on import.

Gymnasium ids (``gymnasium.make(id, **kwargs)``):

* ``archsim/SystolicResNet18-v0`` — size a systolic array for ResNet-18 under an area budget
  (weighted latency/energy reward).
* ``archsim/SystolicGemm-v0`` — one GEMM layer with a target-spec reward (fast).
* ``archsim/Dse-v0`` — any config: ``gymnasium.make("archsim/Dse-v0", config=dict_or_path)``.

PettingZoo parallel environments (``archsim.parallel_env(name, **kwargs)``):

* ``systolic_marl`` — the ResNet-18 problem split between a ``compute`` and a ``memory`` agent.
* ``dse`` — any config with a ``gym.agents`` section: ``archsim.parallel_env("dse", config=...)``.
"""

from __future__ import annotations

from typing import Any

import gymnasium

from .dse import DseEnv
from .marl import DseParallelEnv

GYMNASIUM_IDS = {
    "archsim/SystolicResNet18-v0": {"preset": "SystolicResNet18"},
    "archsim/SystolicGemm-v0": {"preset": "SystolicGemm"},
    "archsim/Dse-v0": {},
}

PARALLEL_ENVS = {
    "systolic_marl": {"preset": "SystolicMarl"},
    "dse": {},
}

for _id, _kwargs in GYMNASIUM_IDS.items():
    if _id not in gymnasium.registry:
        gymnasium.register(id=_id, entry_point="archsim.envs.dse:DseEnv", kwargs=_kwargs)


def parallel_env(name: str, **kwargs: Any) -> DseParallelEnv:
    """A PettingZoo ``ParallelEnv`` by name (see ``list_envs()``)."""
    if name not in PARALLEL_ENVS:
        raise ValueError(f"unknown parallel env {name!r}; known: {', '.join(PARALLEL_ENVS)}")
    return DseParallelEnv(**{**PARALLEL_ENVS[name], **kwargs})


def list_envs() -> list[str]:
    """Every registered Gymnasium id and every name ``parallel_env`` accepts."""
    return [*GYMNASIUM_IDS, *PARALLEL_ENVS]


__all__ = ["DseEnv", "DseParallelEnv", "parallel_env", "list_envs", "GYMNASIUM_IDS", "PARALLEL_ENVS"]
