"""Python env.step() throughput and the binding's overhead over the Rust step, in one run.

Run: `python python/bench/step_throughput.py [--steps N]`. For the one-layer GEMM env and the
ResNet-18 env it prints steps/s through `gymnasium.make` (with Gymnasium's wrappers), through the
unwrapped env, through the native core, and through the Rust step alone (timed inside Rust by
`DseEnvCore.time_steps` on the same actions); the overhead per step is native-from-Python minus
Rust-alone. Targets: >= 20,000 steps/s for the one-layer env, <= 10 us binding overhead.
"""

from __future__ import annotations

import time

import gymnasium
import numpy as np

import archsim  # noqa: F401
from archsim._archsim import DseEnvCore


def timeit(fn, n):
    fn()  # warm
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def bench(env_id, preset, n):
    env = gymnasium.make(env_id)
    env.reset(seed=0)
    raw = env.unwrapped
    core = DseEnvCore.preset(preset)
    core.reset(0)
    actions = [raw.action_space.sample() for _ in range(256)]
    lists = [a.astype(np.int64).tolist() for a in actions]
    i = iter(range(1 << 62))

    def wrapped():
        k = next(i) % 256
        _, _, term, trunc, _ = env.step(actions[k])
        if term or trunc:
            env.reset()

    def unwrapped():
        k = next(i) % 256
        _, _, term, trunc, _ = raw.step(actions[k])
        if term or trunc:
            raw.reset()

    def native():
        k = next(i) % 256
        _, _, term, trunc, _ = core.step(lists[k])
        if term or trunc:
            core.reset(None)

    t_wrapped = timeit(wrapped, n)
    t_raw = timeit(unwrapped, n)
    t_core = timeit(native, n)
    t_rust = core.time_steps(lists, n)
    print(f"{env_id}:")
    print(f"  gymnasium.make env.step : {1 / t_wrapped:10.0f} steps/s  ({t_wrapped * 1e6:7.2f} us)")
    print(f"  unwrapped env.step      : {1 / t_raw:10.0f} steps/s  ({t_raw * 1e6:7.2f} us)")
    print(f"  native core.step        : {1 / t_core:10.0f} steps/s  ({t_core * 1e6:7.2f} us)")
    print(f"  Rust step alone         : {1 / t_rust:10.0f} steps/s  ({t_rust * 1e6:7.2f} us)")
    print(f"  binding overhead        : {(t_core - t_rust) * 1e6:7.2f} us per step (native core from Python - Rust alone)")
    print(f"  Python wrapper overhead : {(t_raw - t_core) * 1e6:7.2f} us per step (unwrapped env - native core)")
    return t_wrapped, t_raw, t_core, t_rust


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=20000)
    args = p.parse_args()
    g = bench("archsim/SystolicGemm-v0", "SystolicGemm", args.steps)
    bench("archsim/SystolicResNet18-v0", "SystolicResNet18", max(args.steps // 20, 200))
    print(f"one-layer env through gymnasium.make: {1 / g[0]:.0f} steps/s (target >= 20000): {'met' if 1 / g[0] >= 20000 else 'MISSED'}")
    print(f"binding overhead: {(g[2] - g[3]) * 1e6:.2f} us (target <= 10 us): {'met' if g[2] - g[3] <= 10e-6 else 'MISSED'}")



