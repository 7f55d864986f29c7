"""Independent learners on the multi-agent co-design env (archsim.parallel_env("codesign")).

A `network` agent picks the two tasks' NAS-Bench-201 networks and agents `hw0`, `hw1` each size
one sub-accelerator; all share one team reward (weighted accuracy if every spec is met, minus
the spec excess otherwise). Each agent runs a per-entry epsilon-greedy bandit on the team
reward. Compared with uniform random joint actions at the same budget. Pure numpy, seeded.

Measured here (seed 0): at 400 and 3,000 steps both find feasible designs of about 80-81 %
weighted accuracy, the learners no better than random: with one shared reward, each agent's
per-value averages mix the other agents' choices (the credit-assignment problem of cooperative
MARL), so this is a baseline and an API example, not a strong agent.

Runs in CI: `python python/examples/codesign_marl.py --steps 400`.
"""

from __future__ import annotations

import argparse

import numpy as np

import archsim


def best_feasible(best, reward, info):
    if info["feasible"] and reward > best[0]:
        return (reward, info["point"], info["metrics"])
    return best


def run_random(env, steps, seed):
    for i, a in enumerate(env.possible_agents):
        env.action_space(a).seed(seed + i)
    env.reset(seed=seed)
    best = (-np.inf, None, None)
    for _ in range(steps):
        acts = {a: env.action_space(a).sample() for a in env.agents}
        _, rew, _, _, infos = env.step(acts)
        best = best_feasible(best, rew["network"], infos["network"])
        if not env.agents:
            env.reset()
    return best


def run_learners(env, steps, seed, eps=0.25):
    rng = np.random.default_rng(seed)
    nvec = {a: env.action_space(a).nvec for a in env.possible_agents}
    # Per agent, per action entry, per value: (sum of team rewards, count).
    stats = {a: [(np.zeros(n), np.zeros(n)) for n in nvec[a]] for a in env.possible_agents}
    env.reset(seed=seed)
    best = (-np.inf, None, None)
    for _ in range(steps):
        acts = {}
        for a in env.agents:
            choice = []
            for (s, c), n in zip(stats[a], nvec[a]):
                if rng.random() < eps or c.sum() == 0:
                    choice.append(int(rng.integers(n)))
                else:
                    mean = np.where(c > 0, s / np.maximum(c, 1), -np.inf)
                    choice.append(int(np.argmax(mean)))
            acts[a] = np.asarray(choice, dtype=np.int64)
        _, rew, _, _, infos = env.step(acts)
        for a, act in acts.items():
            for (s, c), v in zip(stats[a], act):
                s[v] += rew[a]
                c[v] += 1
        best = best_feasible(best, rew["network"], infos["network"])
        if not env.agents:
            env.reset()
    return best


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    results = {
        "random": run_random(archsim.parallel_env("codesign"), args.steps, args.seed),
        "learners": run_learners(archsim.parallel_env("codesign"), args.steps, args.seed),
    }
    for name, (r, point, metrics) in results.items():
        if point is None:
            print(f"{name:<9} no design met the specs in {args.steps} steps")
            continue
        lat = [round(metrics[k], 3) for k in metrics if k.startswith("latency_ms")]
        print(f"{name:<9} weighted acc {metrics['weighted_accuracy']:.2f} %  latency {lat} ms  "
              f"energy {metrics['energy_mj']:.3f} mJ  area {metrics['area_mm2']:.3f} mm2  "
              f"subs {[(s['dataflow'], s['rows'], s['cols'], s['sram_kib']) for s in point['subs']]}")
    assert results["learners"][1] is not None, "the learners found no feasible design"


if __name__ == "__main__":
    main()
