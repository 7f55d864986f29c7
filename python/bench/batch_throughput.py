"""Throughput of the two ways Python drives archsim at scale, measured in one run.

Run (a release build: `maturin develop --release -m python/Cargo.toml`):

    python python/bench/batch_throughput.py [--points N] [--envs N] [--steps N]

* `archsim.evaluate_batch` on the one-GEMM search config (`configs/search/gemm_nsga2.yaml`):
  evaluations per second for a numpy array of random index rows (one call, numpy columns back).
  Target: >= 200,000 evaluations/s.
* `gymnasium.make_vec("archsim/SystolicGemm-v0", num_envs=N, vectorization_mode="vector_entry_point")`:
  environment steps per second (N environments per `step` call, a fresh random action for every
  environment at every step). Target: >= 500,000 steps/s at 1,024 environments. Printed twice:
  as users get it (the vector env evaluates each distinct design of a batch once and remembers
  up to `cache_size` designs; this env's space has 735 designs, so after the first steps the
  steps are scored from remembered evaluations) and with `cache_size=0`, where every step of
  every environment simulates its design: the simulator's own rate.

Rates are medians of several repeats. The machine is shared; read the ratios, not the digits.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import gymnasium
import numpy as np

import archsim

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GEMM = os.path.join(ROOT, "configs", "search", "gemm_nsga2.yaml")


def median_rate(fn, work: int, repeats: int) -> float:
    fn()  # warm (first call builds the problem)
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        rates.append(work / (time.perf_counter() - t0))
    return statistics.median(rates)


def bench_batch(points: int, repeats: int) -> float:
    sizes = archsim.evaluate_batch(GEMM, [])["sizes"]
    rng = np.random.default_rng(0)
    idx = np.stack([rng.integers(0, s, size=points) for s in sizes], axis=1).astype(np.int64)
    cols = archsim.evaluate_batch(GEMM, idx[:1000])
    print(f"evaluate_batch, one-GEMM config ({GEMM}), {points} random points per call:")
    print(f"  feasible share of the sample : {np.mean(cols['feasible']):.2f}")
    r_idx = median_rate(lambda: archsim.evaluate_batch(GEMM, idx), points, repeats)
    print(f"  index arrays                 : {r_idx:12,.0f} evaluations/s")
    return r_idx


def bench_vec(num_envs: int, steps: int, repeats: int, cache_size: int | None) -> float:
    kw = {} if cache_size is None else {"cache_size": cache_size}
    envs = gymnasium.make_vec(
        "archsim/SystolicGemm-v0", num_envs=num_envs, vectorization_mode="vector_entry_point", **kw
    )
    envs.reset(seed=0)
    rng = np.random.default_rng(0)
    nvec = envs.single_action_space.nvec
    actions = rng.integers(0, nvec, size=(steps, num_envs, len(nvec)), dtype=np.int64)

    def run():
        for t in range(steps):
            envs.step(actions[t])

    rate = median_rate(run, steps * num_envs, repeats)
    how = "evaluations remembered (default)" if cache_size is None else f"cache_size={cache_size}"
    print(f"make_vec(SystolicGemm-v0, num_envs={num_envs}), vector_entry_point, {how}:")
    print(f"  {steps} steps of {num_envs} envs      : {rate:12,.0f} env steps/s")
    envs.close()
    return rate


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--points", type=int, default=200_000)
    p.add_argument("--envs", type=int, default=1024)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()
    r_batch = bench_batch(a.points, a.repeats)
    r_vec = bench_vec(a.envs, a.steps, a.repeats, None)
    r_raw = bench_vec(a.envs, a.steps, a.repeats, 0)
    print()
    print(f"evaluate_batch: {r_batch:,.0f} evaluations/s (target >= 200,000): {'met' if r_batch >= 200_000 else 'MISSED'}")
    print(f"make_vec x{a.envs}: {r_vec:,.0f} steps/s (target >= 500,000): {'met' if r_vec >= 500_000 else 'MISSED'}")
    print(f"make_vec x{a.envs}, every design simulated (cache_size=0): {r_raw:,.0f} steps/s ({r_vec / r_raw:.1f}x less than remembered)")


if __name__ == "__main__":
    main()
