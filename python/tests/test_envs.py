"""Every registered environment passes Gymnasium's and PettingZoo's own API checkers."""

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from pettingzoo.test import parallel_api_test

import archsim
from archsim.envs import GYMNASIUM_IDS, PARALLEL_ENVS

CUSTOM = {
    "workload": {"gemm": {"m": 64, "n": 256, "k": 128}},
    "accelerator": {"kind": "systolic", "rows": 16, "cols": 16, "dataflow": "os"},
    "gym": {
        "episode_len": 8,
        "space": {"accelerator.rows": {"pow2": [4, 64]}, "accelerator.dataflow": {"choice": ["os", "ws", "is"]}},
        "objectives": [{"metric": "latency_s"}, {"metric": "area_mm2"}],
        "reward": {"kind": "hypervolume", "reference": [1.0e-3, 100.0]},
        "agents": {"array": ["accelerator.rows"], "flow": ["accelerator.dataflow"]},
    },
}


def make(env_id):
    kwargs = {"config": CUSTOM} if env_id == "archsim/Dse-v0" else {}
    return gymnasium.make(env_id, **kwargs)


@pytest.mark.parametrize("env_id", sorted(GYMNASIUM_IDS))
def test_check_env(env_id):
    env = make(env_id)
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


@pytest.mark.parametrize("name", sorted(PARALLEL_ENVS))
def test_parallel_api(name):
    kwargs = {"config": CUSTOM} if name == "dse" else {}
    parallel_api_test(archsim.parallel_env(name, **kwargs), num_cycles=40)


def test_list_envs_names_everything_by_kind():
    envs = archsim.list_envs()
    assert set(envs) == {"gymnasium", "pettingzoo"}
    assert envs["gymnasium"] == archsim.list_envs("gymnasium") == list(GYMNASIUM_IDS)
    assert envs["pettingzoo"] == archsim.list_envs("pettingzoo") == list(PARALLEL_ENVS)
    with pytest.raises(ValueError, match="unknown env kind"):
        archsim.list_envs("ray")


def rollout(env_id, seed, steps=20):
    env = make(env_id)
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    out = [obs]
    for _ in range(steps):
        obs, r, term, trunc, info = env.step(env.action_space.sample())
        out.append((obs.tobytes(), r, term, trunc, info["point"]))
        if term or trunc:
            obs, _ = env.reset()
    return out


@pytest.mark.parametrize("env_id", ["archsim/SystolicGemm-v0", "archsim/SystolicResNet18-v0"])
def test_same_seed_same_trajectory(env_id):
    a, b = rollout(env_id, 3), rollout(env_id, 3)
    assert str(a) == str(b)
    assert str(rollout(env_id, 4)) != str(a)


def test_steps_report_metrics_and_points():
    env = gymnasium.make("archsim/SystolicResNet18-v0")
    env.reset(seed=0)
    obs, reward, term, trunc, info = env.step(np.array([3, 3, 0, 2, 2, 2]))
    assert obs.dtype == np.float32 and obs.shape == (len(info["metrics"]),) == (11,)
    assert info["point"]["accelerator.rows"] == 64 and info["point"]["accelerator.dataflow"] == "os"
    assert info["metrics"]["latency_s"] == pytest.approx(float(obs[0]), rel=1e-6)
    assert info["feasible"] and reward < 0


def test_action_masks_mark_designs_over_the_area_budget():
    env = gymnasium.make("archsim/Dse-v0", config={**CUSTOM, "gym": {**CUSTOM["gym"], "constraints": [{"metric": "area_mm2", "max": 7.5}], "reward": {"kind": "weighted"}}})
    mask = env.unwrapped.action_masks()
    assert mask.dtype == bool and mask.shape == (5 + 3,)
    assert mask[0] and not mask[4], "4x16 PEs + 1.25 MiB of SRAM fit 7.5 mm2, 64x16 do not"


@pytest.mark.parametrize(
    "action, exc",
    [
        (np.array([0, 0]), archsim.ActionError),
        (np.array([0, 0, 0, 99]), archsim.ActionError),
        (np.array([0, -1, 0, 0]), archsim.ActionError),
        (np.array([0.5, 0, 0, 0]), TypeError),
        ("garbage", TypeError),
        (None, TypeError),
        ([[0, 0, 0, 0]], archsim.ActionError),
        (object(), TypeError),
    ],
)
def test_garbage_actions_raise(action, exc):
    env = gymnasium.make("archsim/SystolicGemm-v0").unwrapped
    env.reset(seed=0)
    with pytest.raises(exc):
        env.step(action)
    assert issubclass(archsim.ActionError, ValueError)
    env.step(env.action_space.sample())  # still usable


def test_bad_env_configs_raise_config_error(tmp_path):
    with pytest.raises(archsim.ConfigError, match="gym.episode_len: must be at least 1"):
        gymnasium.make("archsim/Dse-v0", config={**CUSTOM, "gym": {**CUSTOM["gym"], "episode_len": 0}})
    with pytest.raises(archsim.ConfigError, match="missing"):
        gymnasium.make("archsim/Dse-v0", config={"workload": {"model": "resnet18"}})
    with pytest.raises(archsim.ConfigError, match="unknown preset"):
        gymnasium.make("archsim/Dse-v0", preset="Nope")
    with pytest.raises(ValueError, match="exactly one"):
        gymnasium.make("archsim/Dse-v0", preset="SystolicGemm", config=CUSTOM)
    with pytest.raises(TypeError):
        gymnasium.make("archsim/Dse-v0", config=12)
    with pytest.raises(archsim.ConfigError, match="cannot read"):
        gymnasium.make("archsim/Dse-v0", config=tmp_path / "none.yaml")


def test_parallel_env_garbage():
    env = archsim.parallel_env("systolic_marl")
    env.reset(seed=1)
    with pytest.raises(ValueError, match="missing"):
        env.step({"compute": np.array([0, 0, 0])})
    with pytest.raises(TypeError):
        env.step([1, 2])
    with pytest.raises(ValueError, match="unknown parallel env"):
        archsim.parallel_env("nope")


@pytest.mark.parametrize("env_id", sorted(GYMNASIUM_IDS))
def test_every_registered_id_constructs_with_its_defaults(env_id):
    env = gymnasium.make(env_id)
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    env.step(env.action_space.sample())


def test_make_vec_steps_every_copy_in_one_rust_call():
    n = 4
    venv = gymnasium.make_vec("archsim/SystolicGemm-v0", num_envs=n, vectorization_mode="vector_entry_point")
    single = gymnasium.make("archsim/SystolicGemm-v0")
    assert venv.num_envs == n
    assert venv.single_action_space == single.action_space
    obs, info = venv.reset(seed=3)
    assert obs.shape == (n, len(archsim.envs.dse.METRICS)) and obs.dtype == np.float32
    actions = np.stack([single.action_space.sample() for _ in range(n)])
    obs, rew, term, trunc, infos = venv.step(actions)
    assert obs.shape[0] == rew.shape[0] == term.shape[0] == trunc.shape[0] == n
    assert infos["feasible"].shape == (n,) and infos["metrics"].shape == (n, obs.shape[1])
    # Each copy gives what the single environment gives for the same action.
    for i in range(n):
        single.reset(seed=3 + i)
        o, r, _, _, inf = single.step(actions[i])
        np.testing.assert_array_equal(obs[i], o)
        assert rew[i] == r and infos["feasible"][i] == inf["feasible"]
    # Episodes end and reset on the next step (gymnasium's next-step autoreset).
    ended = np.zeros(n, dtype=bool)
    for _ in range(200):
        obs, rew, term, trunc, infos = venv.step(np.stack([venv.single_action_space.sample() for _ in range(n)]))
        if ended.any():
            assert (rew[ended] == 0).all() and not infos["_feasible"][ended].any()
        ended = term | trunc
    with pytest.raises(archsim.ActionError):
        venv.step(np.zeros((n + 1, len(single.action_space.nvec)), dtype=np.int64))
    with pytest.raises(TypeError):
        venv.step(np.zeros((n, len(single.action_space.nvec))))
    assert venv.time_steps(actions[0], n=10) > 0
    for bad in (0, -1):
        with pytest.raises((archsim.ConfigError, OverflowError)):
            gymnasium.make_vec("archsim/SystolicGemm-v0", num_envs=bad, vectorization_mode="vector_entry_point")


def test_make_vec_cache_changes_nothing_but_the_work():
    """Each distinct design of a batch is evaluated once and remembered: every output equals
    the uncached environment's, step for step, repeats and autoresets included."""
    n = 64
    kw = dict(num_envs=n, vectorization_mode="vector_entry_point")
    cached = gymnasium.make_vec("archsim/SystolicGemm-v0", **kw)
    fresh = gymnasium.make_vec("archsim/SystolicGemm-v0", cache_size=0, **kw)
    tiny = gymnasium.make_vec("archsim/SystolicGemm-v0", cache_size=5, **kw)
    rng = np.random.default_rng(7)
    nvec = cached.single_action_space.nvec
    pool = np.stack([rng.integers(0, nvec) for _ in range(20)])  # few designs: many repeats
    outs = [e.reset(seed=1)[0] for e in (cached, fresh, tiny)]
    for t in range(150):
        a = pool[rng.integers(0, len(pool), size=n)]
        outs = [e.step(a) for e in (cached, fresh, tiny)]
        for o in outs[1:]:
            for x, y in zip(outs[0][:4], o[:4]):
                np.testing.assert_array_equal(x, y)
            np.testing.assert_array_equal(outs[0][4]["metrics"], o[4]["metrics"])
            np.testing.assert_array_equal(outs[0][4]["reason"], o[4]["reason"])
    assert 0 < cached.unwrapped._vec.cache_len() <= len(pool)
    assert fresh.unwrapped._vec.cache_len() == 0
    assert tiny.unwrapped._vec.cache_len() <= 5
    with pytest.raises(ValueError, match="cache_size"):
        gymnasium.make_vec("archsim/SystolicGemm-v0", cache_size=-1, **kw)


def test_make_vec_same_seed_same_results():
    def rollout():
        venv = gymnasium.make_vec("archsim/SystolicResNet18-v0", num_envs=3, vectorization_mode="vector_entry_point")
        obs, _ = venv.reset(seed=11)
        venv.single_action_space.seed(5)
        trace = [obs]
        for _ in range(40):
            acts = np.stack([venv.single_action_space.sample() for _ in range(3)])
            obs, rew, term, trunc, infos = venv.step(acts)
            trace += [obs, rew, term, trunc, infos["feasible"]]
        return trace

    a, b = rollout(), rollout()
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_make_vec_reset_takes_one_seed_per_env():
    venv = gymnasium.make_vec("archsim/SystolicGemm-v0", num_envs=3, vectorization_mode="vector_entry_point")
    obs, _ = venv.reset(seed=[4, 5, 6])
    assert obs.shape == (3, len(venv.single_observation_space.low))
    with pytest.raises(ValueError, match="one seed per environment"):
        venv.reset(seed=[1, 2])


def test_make_vec_matches_gymnasiums_sync_vector_env():
    # Gymnasium's own vectorization of the single env is the reference: the same seeds and
    # actions give the same observations, rewards, ends, autoresets and infos; the batched
    # spaces hold what the vector env returns.
    from gymnasium.utils.env_checker import data_equivalence
    from gymnasium.vector import AutoresetMode, SyncVectorEnv

    n, env_id = 5, "archsim/SystolicGemm-v0"
    ours = gymnasium.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point")
    ref = SyncVectorEnv([lambda: gymnasium.make(env_id) for _ in range(n)],
                        autoreset_mode=AutoresetMode.NEXT_STEP)
    assert ours.metadata.get("autoreset_mode") == AutoresetMode.NEXT_STEP
    assert ours.single_action_space == ref.single_action_space
    assert ours.action_space.shape == ref.action_space.shape
    o1, _ = ours.reset(seed=7)
    o2, _ = ref.reset(seed=7)
    assert data_equivalence(o1, o2) and ours.observation_space.contains(o1)
    ref.single_action_space.seed(1)
    ended = 0
    for _ in range(120):
        a = np.stack([ref.single_action_space.sample() for _ in range(n)])
        s1, s2 = ours.step(a), ref.step(a)
        for x, y in zip(s1[:4], s2[:4]):
            np.testing.assert_array_equal(x, y)
        assert ours.observation_space.contains(s1[0])
        live = s2[4]["_feasible"] if "_feasible" in s2[4] else ~np.zeros(n, bool)
        np.testing.assert_array_equal(s1[4]["feasible"][live], s2[4]["feasible"][live])
        for k, name in enumerate(archsim.envs.dse.METRICS):
            np.testing.assert_array_equal(s1[4]["metrics"][live, k], s2[4]["metrics"][name][live])
        ended += int((s1[2] | s1[3]).sum())
    assert ended > 0, "episodes ended and autoreset within the rollout"
