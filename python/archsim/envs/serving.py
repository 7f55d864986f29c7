"""``archsim/Serving-v0``: size an LLM serving fleet.

Each step picks a fleet — replicas per pool, ``scheduler.max_batch`` and the router — and
simulates the config's traffic on it through the serving evaluator of a fleet search (the one
behind ``search:`` on a serving config and ``archsim.evaluate_batch``: one code path; a pool
with count 0 is left out; ``serving.capacity`` is not searched). The reward is the negative fleet
cost ($/h, over the most expensive fleet) when the fleet meets the SLO, and ``-1 - (1 - SLO
attainment)`` when it does not, so the best policy finds the cheapest fleet within the SLO.

``gymnasium.make("archsim/Serving-v0", config=dict_or_path, max_count=8, episode_len=16)``;
without ``config`` it is LLaMA-2-7B on two pools of roofline chips (an H100-like and a cheaper,
slower one) under 300 Poisson requests (fast).
"""

from __future__ import annotations

import copy
import json
from typing import Any, Optional

import gymnasium
import numpy as np
from gymnasium import spaces

from .._archsim import ConfigError, ServingEvaluatorCore

MAX_BATCH = [16, 32, 64, 128, 256]
ROUTERS = ["round_robin", "least_loaded", "power_of_two"]
METRICS = ["ttft_p90_s", "tpot_p99_s", "slo_attainment", "cost_per_hour", "throughput_rps"]

DEFAULT = {
    "workload": {"llm": {"model": "llama2_7b"}},
    "serving": {
        "traffic": {"rate": 6.0, "requests": 300, "seed": 0,
                    "prompt_tokens": {"uniform": [100, 800]}, "output_tokens": {"uniform": [16, 128]}},
        "pools": [
            {"name": "big", "count": 1, "cost_per_hour": 4.0,
             "accelerator": {"kind": "roofline", "peak_tflops": {"bf16": 989.0}, "mem_bw_gb_s": 3350.0, "mem_gb": 80.0}},
            {"name": "small", "count": 1, "cost_per_hour": 0.8,
             "accelerator": {"kind": "roofline", "peak_tflops": {"bf16": 121.0}, "mem_bw_gb_s": 300.0, "mem_gb": 24.0}},
        ],
        "scheduler": {"max_batch": 64, "max_batch_tokens": 2048},
        "slo": {"ttft_p90_s": 1.0, "tpot_p99_s": 0.1},
    },
}


class ServingEnv(gymnasium.Env):
    """Fleet sizing for LLM serving (see the module docs)."""

    metadata = {"render_modes": []}

    def __init__(self, config: Optional[Any] = None, max_count: int = 8, episode_len: int = 16):
        if max_count < 1 or episode_len < 1:
            raise ValueError("max_count and episode_len must be at least 1")
        if config is None:
            self._base = copy.deepcopy(DEFAULT)
            self._dir = "."
        else:
            from .. import _config_text

            text, _, self._dir = _config_text(config)
            self._base = json.loads(json.dumps(_yaml_or_json(text)))
        pools = self._base.get("serving", {}).get("pools")
        if not pools:
            raise ConfigError("serving.pools: give at least one pool")
        self._pools = len(pools)
        self.max_count = max_count
        self.episode_len = episode_len
        self.action_space = spaces.MultiDiscrete([max_count + 1] * self._pools + [len(MAX_BATCH), len(ROUTERS)])
        self.observation_space = spaces.Box(0.0, 1e9, shape=(len(METRICS),), dtype=np.float32)
        # Built once: it checks the config (a bad key is a ConfigError naming it) and prices
        # each pool once for the whole episode.
        self._eval = ServingEvaluatorCore(json.dumps(self._base), self._dir)
        self._names = list(self._eval.metrics)
        self._max_cost = sum(max_count * p.get("cost_per_hour", 0.0) * p.get("tp", 1) for p in pools) or 1.0
        self._t = 0

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        super().reset(seed=seed)
        self._t = 0
        return np.zeros(len(METRICS), dtype=np.float32), {}

    def step(self, action):
        a = np.asarray(action)
        if a.shape != self.action_space.shape or not self.action_space.contains(a.astype(np.int64)):
            raise ValueError(f"action {action!r} is not in {self.action_space}")
        counts = [int(x) for x in a[: self._pools]]
        cfg = copy.deepcopy(self._base)
        s = cfg["serving"]
        point = {"counts": counts, "max_batch": MAX_BATCH[int(a[-2])], "router": ROUTERS[int(a[-1])]}
        s["pools"] = [dict(p, count=n) for p, n in zip(s["pools"], counts)]
        s.setdefault("scheduler", {})["max_batch"] = point["max_batch"]
        s["scheduler"]["max_batch_tokens"] = max(s["scheduler"].get("max_batch_tokens", 8192), point["max_batch"])
        s["router"] = {"kind": point["router"]}
        self._t += 1
        truncated = self._t >= self.episode_len
        values, reason = self._eval.evaluate(json.dumps(cfg))
        if values is None:
            # Not evaluated: no replica, or a fleet that cannot serve the model.
            obs = np.zeros(len(METRICS), dtype=np.float32)
            return obs, -2.0, False, truncated, {"point": point, "feasible": False, "reason": reason}
        m = dict(zip(self._names, values))
        metrics = {k: m[k] for k in METRICS}
        obs = np.array([metrics[k] for k in METRICS], dtype=np.float32)
        slo_met = m["slo_met"] >= 0.5
        if slo_met:
            reward = -m["cost_per_hour"] / self._max_cost
        else:
            reward = -1.0 - (1.0 - m["slo_attainment"])
        info = {"point": point, "feasible": True, "slo_met": slo_met, "metrics": metrics}
        if reason is not None:
            info["reason"] = reason  # the SLO bound the fleet misses
        return obs, float(reward), False, truncated, info


def _yaml_or_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError as e:  # pragma: no cover
        raise ConfigError("a YAML config for Serving-v0 needs PyYAML; pass a dict") from e
    return yaml.safe_load(text)
