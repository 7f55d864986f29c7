"""Train Stable-Baselines3 PPO on archsim/SystolicGemm-v0.

Needs torch and stable-baselines3 (`pip install stable-baselines3`); not run in CI because torch
is heavy. Run: `python python/examples/ppo_sb3.py --timesteps 4096`.
"""

from __future__ import annotations

import argparse

import gymnasium
import numpy as np

import archsim  # noqa: F401  (registers the environments)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--timesteps", type=int, default=4096)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    from stable_baselines3 import PPO

    env = gymnasium.make("archsim/SystolicGemm-v0")
    model = PPO("MlpPolicy", env, n_steps=256, batch_size=64, seed=args.seed, verbose=0)
    model.learn(total_timesteps=args.timesteps)
    obs, _ = env.reset(seed=args.seed)
    total, steps = 0.0, 0
    while True:
        action, _ = model.predict(obs, deterministic=True)
        obs, r, term, trunc, info = env.step(action)
        total += r
        steps += 1
        if term or trunc:
            break
    print(f"PPO after {args.timesteps} steps: episode reward {total:.4f} over {steps} steps; last design {info['point']}")
    print(f"target met: {term}; metrics: {dict((k, float(np.round(v, 9))) for k, v in info['metrics'].items())}")


if __name__ == "__main__":
    main()
