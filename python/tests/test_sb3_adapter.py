"""archsim.adapters.sb3_vec_env: a gymnasium vector env as a Stable-Baselines3 VecEnv (skipped
without stable-baselines3, which brings torch: the ``bench-rl`` extra)."""

import gymnasium
import numpy as np
import pytest

import archsim  # noqa: F401  (registers the environments)
from archsim import adapters

sb3 = pytest.importorskip("stable_baselines3")

CONFIG = {
    "workload": {"gemm": {"m": 64, "n": 256, "k": 128}},
    "accelerator": {"kind": "systolic", "rows": 16, "cols": 16, "dataflow": "os"},
    "gym": {
        "episode_len": 2,
        "space": {"accelerator.rows": {"pow2": [4, 64]}, "accelerator.dataflow": {"choice": ["os", "ws", "is"]}},
        "objectives": [{"metric": "latency_s"}],
    },
}


def make(n=3):
    return gymnasium.make_vec("archsim/Dse-v0", num_envs=n, vectorization_mode="vector_entry_point", config=CONFIG)


def test_steps_split_infos_and_reset_when_every_episode_ends():
    venv = adapters.sb3_vec_env(make(3))
    assert isinstance(venv, sb3.common.vec_env.VecEnv)
    venv.seed(0)
    obs = venv.reset()
    assert obs.shape == (3, len(venv.observation_space.low))
    actions = np.array([[0, 0], [1, 1], [4, 2]])
    obs, rew, dones, infos = venv.step(actions)
    assert not dones.any() and len(infos) == 3
    assert all(i["feasible"] for i in infos) and rew.shape == (3,)
    assert obs[0, 0] > obs[2, 0] > 0  # latency: 4 rows slower than 64
    # The second step ends every episode (episode_len 2): SB3 gets the reset observation, the
    # last one in terminal_observation, truncation flagged.
    obs2, _, dones, infos = venv.step(actions)
    assert dones.all()
    assert all(i["TimeLimit.truncated"] for i in infos)
    np.testing.assert_array_equal(infos[1]["terminal_observation"], obs[1])
    np.testing.assert_array_equal(obs2, np.zeros_like(obs2))
    # The step after a reset evaluates designs again (no autoreset step is spent).
    _, _, dones, infos = venv.step(actions)
    assert not dones.any() and all("metrics" in i for i in infos)
    venv.close()


def test_ppo_learns_through_it():
    from stable_baselines3 import PPO

    venv = adapters.sb3_vec_env(make(4))
    model = PPO("MlpPolicy", venv, n_steps=8, batch_size=16, n_epochs=2, seed=0, device="cpu")
    model.learn(total_timesteps=64)
    assert model.num_timesteps == 64
