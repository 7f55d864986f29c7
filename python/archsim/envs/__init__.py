"""Gymnasium and PettingZoo environments of archsim, registered on import.

Gymnasium ids (``gymnasium.make(id, **kwargs)``):

* ``archsim/SystolicResNet18-v0`` — size a systolic array for ResNet-18 under an area budget
  (weighted latency/energy reward).
* ``archsim/SystolicGemm-v0`` — one GEMM layer with a target-spec reward (fast).
* ``archsim/Dse-v0`` — any config: ``gymnasium.make("archsim/Dse-v0", config=dict_or_path)``;
  without arguments it is the ``SystolicGemm`` problem (every registered id constructs with
  its defaults).
* ``archsim/SystolicResNet18-v0``, ``SystolicGemm-v0`` and ``Dse-v0`` also build N copies
  stepped together in Rust (one call, in parallel, without the GIL):
  ``gymnasium.make_vec(id, num_envs=N, vectorization_mode="vector_entry_point")``.
* ``archsim/Serving-v0`` — size an LLM serving fleet (replicas per pool, max batch, router):
  the cheapest fleet that meets the SLO (``config=`` a serving config, ``max_count=``).
* ``archsim/CoDesign-v0`` — network/hardware co-design (NASAIC's two tasks on the built-in
  NAS-Bench-201 sample; ``config=`` a ``codesign:`` config, ``accuracy_fn=`` a Python oracle).
* ``archsim/Training-v0`` — pick the parallel layout (tp, pp, micro-batch, recompute, vpp) of a
  training job; reward tokens/s over the config's own layout (``config=`` a training config;
  default GPT-3 175B on 1,024 A100).

PettingZoo parallel environments (``archsim.parallel_env(name, **kwargs)``):

* ``systolic_marl`` — the ResNet-18 problem split between a ``compute`` and a ``memory`` agent.
* ``dse`` — any config with a ``gym.agents`` section: ``archsim.parallel_env("dse", config=...)``.
* ``codesign`` — co-design split among a ``network`` agent and one hardware agent per
  sub-accelerator (``hw0``, ``hw1``, ...), with the same keyword arguments as ``CoDesign-v0``.
"""

from __future__ import annotations

from typing import Any

import gymnasium

from .codesign import CoDesignEnv, CoDesignParallelEnv
from .dse import DseEnv
from .marl import DseParallelEnv
from .serving import ServingEnv
from .training import TrainingEnv
from .vector import DseVectorEnv

GYMNASIUM_IDS = {
    "archsim/SystolicResNet18-v0": {"preset": "SystolicResNet18"},
    "archsim/SystolicGemm-v0": {"preset": "SystolicGemm"},
    "archsim/Dse-v0": {},
}

PARALLEL_ENVS = {
    "systolic_marl": {"preset": "SystolicMarl"},
    "dse": {},
    "codesign": {"preset": "CoDesign"},
}

_CODESIGN_IDS = {"archsim/CoDesign-v0": {"preset": "CoDesign"}}

for _id, _kwargs in GYMNASIUM_IDS.items():
    if _id not in gymnasium.registry:
        gymnasium.register(
            id=_id,
            entry_point="archsim.envs.dse:DseEnv",
            vector_entry_point="archsim.envs.vector:DseVectorEnv",
            kwargs=_kwargs,
        )
for _id, _kwargs in _CODESIGN_IDS.items():
    if _id not in gymnasium.registry:
        gymnasium.register(id=_id, entry_point="archsim.envs.codesign:_make_codesign", kwargs=_kwargs)
GYMNASIUM_IDS.update(_CODESIGN_IDS)
if "archsim/Serving-v0" not in gymnasium.registry:
    gymnasium.register(id="archsim/Serving-v0", entry_point="archsim.envs.serving:ServingEnv")
GYMNASIUM_IDS["archsim/Serving-v0"] = {}
if "archsim/Training-v0" not in gymnasium.registry:
    gymnasium.register(id="archsim/Training-v0", entry_point="archsim.envs.training:TrainingEnv")
GYMNASIUM_IDS["archsim/Training-v0"] = {}


def parallel_env(name: str, **kwargs: Any) -> DseParallelEnv:
    """A PettingZoo ``ParallelEnv`` by name (see ``list_envs()``)."""
    if name not in PARALLEL_ENVS:
        raise ValueError(f"unknown parallel env {name!r}; known: {', '.join(PARALLEL_ENVS)}")
    if name == "codesign":
        if "config" in kwargs:
            kwargs = {"preset": None, **kwargs}
        return CoDesignParallelEnv(**{**PARALLEL_ENVS[name], **kwargs})
    return DseParallelEnv(**{**PARALLEL_ENVS[name], **kwargs})


def list_envs(kind: str | None = None) -> Any:
    """The environments, by kind: ``{"gymnasium": [ids for gymnasium.make], "pettingzoo":
    [names for archsim.parallel_env]}``; with ``kind="gymnasium"`` or ``kind="pettingzoo"``,
    that list alone."""
    kinds = {"gymnasium": list(GYMNASIUM_IDS), "pettingzoo": list(PARALLEL_ENVS)}
    if kind is None:
        return kinds
    if kind not in kinds:
        raise ValueError(f"unknown env kind {kind!r}; known: gymnasium, pettingzoo")
    return kinds[kind]


__all__ = ["DseEnv", "DseVectorEnv", "DseParallelEnv", "ServingEnv", "TrainingEnv", "CoDesignEnv", "CoDesignParallelEnv", "parallel_env", "list_envs", "GYMNASIUM_IDS", "PARALLEL_ENVS"]
