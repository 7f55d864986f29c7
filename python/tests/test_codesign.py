"""The co-design environments: API checkers, determinism, infeasible steps, Python oracles."""

from pathlib import Path

import gymnasium
import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

import archsim

ROOT = Path(__file__).resolve().parents[2]
NB201_SAMPLE = ROOT / "tests" / "data" / "nas" / "nb201_sample.csv"
ACCELNB = ROOT / "tests" / "data" / "nas" / "accelnb_mnasnet.csv"


def mnasnet_config(oracle=ACCELNB):
    return {
        "codesign": {
            "oracle": str(oracle),
            "network": "mnasnet",
            "tasks": [{"dataset": "imagenet", "max_latency_ms": 20.0}],
            "specs": {"max_area_mm2": 6.0},
            "hardware": {"rows": [16, 32, 64], "cols": [16, 32, 64], "sram_kib": [128, 512]},
        },
        "gym": {"episode_len": 6},
    }


def rollout(env, seed, steps=12):
    env.action_space.seed(seed)
    env.reset(seed=seed)
    out = []
    for _ in range(steps):
        obs, reward, term, trunc, info = env.step(env.action_space.sample())
        out.append((obs.tolist(), reward, info["feasible"], info["reason"]))
        if term or trunc:
            env.reset()
    return out


def test_parallel_api_and_mnasnet_space():
    parallel_api_test(archsim.parallel_env("codesign"), num_cycles=40)
    env = archsim.parallel_env("codesign", config=mnasnet_config())
    assert env.possible_agents == ["network", "hw0"]
    assert env.action_space("network").nvec.tolist() == [5138]
    parallel_api_test(env, num_cycles=10)


def test_same_seed_same_trajectory_and_infeasible_steps_say_why():
    a = rollout(gymnasium.make("archsim/CoDesign-v0"), 3, 40)
    assert a == rollout(gymnasium.make("archsim/CoDesign-v0"), 3, 40)
    assert a != rollout(gymnasium.make("archsim/CoDesign-v0"), 4, 40)
    infeasible = [s for s in a if not s[2]]
    feasible = [s for s in a if s[2]]
    assert infeasible and feasible
    for obs, reward, _, reason in infeasible:
        assert any(w in reason for w in ("latency", "energy", "area"))
        assert reward == pytest.approx(-obs[-1], rel=1e-6)
    for obs, reward, _, reason in feasible:
        assert reason is None and reward == pytest.approx(obs[0] / 100, rel=1e-6)


def test_multi_agent_step_is_the_joint_design():
    single = gymnasium.make("archsim/CoDesign-v0").unwrapped
    single.reset(seed=0)
    _, r1, _, _, i1 = single.step(np.array([5, 9, 1, 2, 3, 1, 0, 1, 2, 3]))
    multi = archsim.parallel_env("codesign")
    multi.reset(seed=0)
    _, rewards, _, _, infos = multi.step({"network": [5, 9], "hw0": [1, 2, 3, 1], "hw1": [0, 1, 2, 3]})
    assert set(rewards.values()) == {r1}
    assert infos["hw1"]["point"] == i1["point"]
    assert i1["point"]["networks"][0] == single.arch(5)
    assert i1["point"]["subs"][0] == {"dataflow": "ws", "rows": 32, "cols": 64, "sram_kib": 64}


def test_python_accuracy_function_is_the_oracle():
    seen = []

    def acc(arch, dataset):
        seen.append((arch, dataset))
        return 50.0 + (len(arch) % 7) + (1.0 if dataset == "cifar100" else 0.0)

    env = gymnasium.make("archsim/CoDesign-v0", accuracy_fn=acc).unwrapped
    env.reset(seed=0)
    obs, _, _, _, info = env.step(np.array([3, 4, 0, 0, 0, 0, 0, 0, 0, 0]))
    a0, a1 = (acc(env.arch(3), "cifar10"), acc(env.arch(4), "cifar100"))
    assert info["metrics"]["accuracy.cifar10"] == a0 and info["metrics"]["accuracy.cifar100"] == a1
    assert obs[0] == pytest.approx((a0 + a1) / 2)
    n = len(seen)
    env.step(np.array([3, 4, 1, 1, 1, 1, 1, 1, 1, 1]))
    assert len(seen) == n, "each (network, dataset) is asked once"

    # An explicit architecture list (MnasNet strings) with the MnasNet space.
    archs = ["e1k3l1se1-e6k3l2se1-e6k5l2se1-e6k3l3se1-e6k5l3se1-e6k5l4se1-e6k3l1se1",
             "e1k3l1se0-e1k3l1se0-e1k3l1se0-e1k3l1se0-e1k3l1se0-e1k3l1se0-e1k3l1se0"]
    m = archsim.parallel_env("codesign", config=mnasnet_config(), accuracy_fn=lambda a, d: 70.0 if "se1" in a else 60.0, archs=archs)
    m.reset(seed=0)
    _, rewards, _, _, infos = m.step({"network": [1], "hw0": [0, 2, 2, 1]})
    assert infos["network"]["metrics"]["accuracy.imagenet"] == 60.0
    assert infos["network"]["point"]["networks"] == [archs[1]]


def test_accuracy_function_exceptions_propagate():
    class TrainingFailed(Exception):
        pass

    def acc(arch, dataset):
        raise TrainingFailed(f"diverged on {dataset}")

    env = gymnasium.make("archsim/CoDesign-v0", accuracy_fn=acc).unwrapped
    env.reset(seed=0)
    with pytest.raises(TrainingFailed, match="diverged on cifar10"):
        env.step(env.action_space.sample())
    env2 = gymnasium.make("archsim/CoDesign-v0", accuracy_fn=lambda a, d: "high").unwrapped
    env2.reset(seed=0)
    with pytest.raises(TypeError):
        env2.step(env2.action_space.sample())
    env3 = gymnasium.make("archsim/CoDesign-v0", accuracy_fn=lambda a, d: float("nan")).unwrapped
    env3.reset(seed=0)
    with pytest.raises(archsim.SimulationError, match="NaN"):
        env3.step(env3.action_space.sample())


def test_bad_input_raises():
    with pytest.raises(TypeError, match="callable"):
        archsim.parallel_env("codesign", accuracy_fn=3)
    with pytest.raises(ValueError, match="archs= needs accuracy_fn"):
        archsim.parallel_env("codesign", archs=["x"])
    with pytest.raises(archsim.ConfigError, match="codesign.oracle"):
        archsim.parallel_env("codesign", config=mnasnet_config(oracle="/nonexistent.csv"))
    bad = mnasnet_config()
    bad["codesign"]["tasks"][0]["dataset"] = "cifar10"
    with pytest.raises(archsim.ConfigError, match="imagenet"):
        gymnasium.make("archsim/CoDesign-v0", config=bad)
    # A network string outside the space is refused when its network is built.
    env = archsim.parallel_env("codesign", config=mnasnet_config(), accuracy_fn=lambda a, d: 1.0, archs=["nonsense"])
    env.reset(seed=0)
    with pytest.raises(archsim.SimulationError, match="nonsense"):
        env.step({"network": [0], "hw0": [0, 0, 0, 0]})
    env = gymnasium.make("archsim/CoDesign-v0").unwrapped
    env.reset(seed=0)
    with pytest.raises(archsim.ActionError):
        env.step(np.array([101, 0, 0, 0, 0, 0, 0, 0, 0, 0]))


def test_codesign_suite_problem_through_evaluate_batch_and_adapters():
    """The NB201 x systolic suite problem (a `cell:` config): evaluate_batch returns the
    simulation metrics plus the table's accuracy, equal to a plain run of the cell's network."""
    import csv

    cfg = ROOT / "configs" / "search" / "suite" / "nb201_codesign.yaml"
    empty = archsim.evaluate_batch(cfg, [])
    assert empty["paths"][:6] == [f"cell.ops[{i}]" for i in range(6)]
    assert int(np.prod(empty["sizes"].astype(float))) >= 100_000_000
    ops = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
    # NB201 index 1.
    cell = ["nor_conv_3x3", "nor_conv_3x3", "avg_pool_3x3", "skip_connect", "nor_conv_3x3", "skip_connect"]
    row = [ops.index(o) for o in cell] + [1, 1, 1, 0, 0, 0]
    cols = archsim.evaluate_batch(cfg, np.array([row, row], dtype=np.int64))
    with open(ROOT / "tests" / "data" / "nas" / "nb201.csv") as f:
        acc = {r["arch"]: float(r["cifar10_test_acc"]) for r in csv.DictReader(f)}
    arch = "|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|".format(*cell)
    assert cols["accuracy"][0] == acc[arch] == cols["accuracy"][1]
    plain = archsim.simulate(
        {
            "workload": {"model": f"nb201:cifar10:{arch}", "batch": 1, "dtype": "int8"},
            "accelerator": {"kind": "systolic", "rows": 16, "cols": 16, "dataflow": "ws", "word_bytes": 1,
                            "dram_bw_bytes_per_cycle": 16, "sram_kib": {"ifmap": 16, "filter": 16, "ofmap": 16}},
        }
    )
    assert cols["latency_s"][0] == plain["latency_s"]
    by_dict = archsim.evaluate_batch(cfg, [dict(zip(empty["paths"], cell + [16, 16, "ws", 16, 16, 16]))])
    assert by_dict["latency_s"][0] == plain["latency_s"] and by_dict["accuracy"][0] == acc[arch]
    with pytest.raises(archsim.ConfigError, match=r"cell.ops\[2\]"):
        archsim.evaluate_batch(cfg, [dict(zip(empty["paths"], cell[:2] + ["conv_9x9"] + cell[3:] + [16, 16, "ws", 16, 16, 16]))])
    # The pymoo adapter maximizes accuracy by minimizing its negation.
    pytest.importorskip("pymoo")
    from archsim.adapters import PymooProblem

    prob = PymooProblem(cfg, ["accuracy"], overrides=["search.constraints=[]"], maximize=["accuracy"])
    out = {}
    prob._evaluate(np.array([row]), out)
    assert out["F"][0, 0] == -acc[arch]
