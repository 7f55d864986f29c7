"""Training configs from Python: archsim.simulate, archsim.evaluate_batch, archsim/Training-v0."""

import math
from pathlib import Path

import gymnasium
import numpy as np
import pytest

import archsim

ROOT = Path(__file__).resolve().parents[2]
SEARCH = ROOT / "configs" / "search" / "training_layout.yaml"

SMALL = {
    "workload": {"training": {
        "model": {"layers": 24, "hidden": 2048, "heads": 16, "vocab": 51200},
        "seq_len": 2048, "global_batch": 64, "micro_batch": 1, "recompute": "full"}},
    "accelerator": {"kind": "gpu", "preset": "a100_80gb"},
    "cluster": {"nodes": 2, "devices_per_node": 8,
                "scale_up": {"kind": "nvswitch", "gb_s": 300},
                "scale_out": {"kind": "rail", "nic_gb_s": 25, "nics_per_node": 8}},
    "parallel": {"tp": 2, "pp": 2, "dp": 4},
}


def test_simulate_a_training_config_returns_its_report():
    r = archsim.simulate(ROOT / "configs" / "training_gpt_a100.yaml")
    t = r["training"]
    assert r["latency_s"] == t["iteration_s"] > 0
    assert t["micro_batches"] == 96 and t["devices"] == 1024 and t["fits"]
    assert t["tokens_per_s"] == pytest.approx(1536 * 2048 / t["iteration_s"], rel=1e-12)
    # The same as the CLI's layout override.
    r2 = archsim.simulate(ROOT / "configs" / "training_gpt_a100.yaml",
                          ["parallel.pp=16", "parallel.dp=8"])
    assert r2["training"]["iteration_s"] != t["iteration_s"]
    with pytest.raises(archsim.ConfigError, match="parallel.tp"):
        archsim.simulate(ROOT / "configs" / "training_gpt_a100.yaml", ["parallel.tp=4"])


def test_evaluate_batch_scores_training_layouts():
    megatron = {"parallel.tp": 8, "parallel.pp": 8, "parallel.dp": 16,
                "workload.training.micro_batch": 1, "workload.training.recompute": "full"}
    short = dict(megatron, **{"parallel.tp": 4})          # 4·8·16 = 512 devices of 1,024
    cols = archsim.evaluate_batch(SEARCH, [megatron, short])
    assert list(cols["feasible"]) == [True, False]
    assert "parallel.tp, parallel.pp, parallel.dp" in cols["reason"][1]
    assert math.isnan(cols["tokens_per_s"][1])
    # The same number `archsim.simulate` gives for that layout.
    r = archsim.simulate(ROOT / "configs" / "training_gpt_a100.yaml")
    assert cols["tokens_per_s"][0] == pytest.approx(r["training"]["tokens_per_s"], rel=1e-12)
    assert cols["memory_gb"][0] == pytest.approx(r["training"]["memory_gb"]["total"], rel=1e-12)


def test_training_env_is_registered_and_steps():
    assert "archsim/Training-v0" in archsim.list_envs("gymnasium")
    env = gymnasium.make("archsim/Training-v0", config=SMALL, episode_len=2).unwrapped
    obs, _ = env.reset(seed=0)
    assert obs.shape == env.observation_space.shape
    a = env.action_of(tp=2, pp=2, micro_batch=1, recompute="full", vpp=1)
    assert env.action_space.contains(a)
    obs, reward, term, trunc, info = env.step(a)
    assert info["feasible"] and reward == pytest.approx(1.0, rel=1e-12)
    assert info["metrics"]["tokens_per_s"] > 0 and info["point"]["parallel.tp"] == 2
    obs, reward, term, trunc, info = env.step(env.action_of(tp=16, pp=2))
    assert not info["feasible"] and reward == -1.0 and "parallel.tp, parallel.pp" in info["reason"]
    assert trunc and not term
    assert np.all(obs == 0)
