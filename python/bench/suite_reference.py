"""Reference optima of the DSE suite (configs/search/suite/): the best design found by a budget
100 times the benchmark's (1,000 evaluations), across agents and seeds. The suite's spaces
(1e8 to 1.8e11 designs) cannot be enumerated; this is the yardstick regret is measured against.

    python python/bench/suite_reference.py --out results/dse_bench

Writes suite_reference.csv (one row per problem, agent and seed) and suite_reference.md.
Single-objective problems only (the Pareto problem's reference is the union of its fronts,
left for the benchmark run).
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

import archsim

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "configs" / "search" / "suite"
AGENTS = {
    "ga": "{kind: ga, population: 64}",
    "sa": "{kind: sa}",
    "random": "{kind: random}",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="results/dse_bench")
    ap.add_argument("--budget", type=int, default=100_000)
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for cfg in sorted(SUITE.glob("*.yaml")):
        text = cfg.read_text()
        if "objectives: [{metric: latency_s}]" not in text:
            continue
        for agent, spec in AGENTS.items():
            for seed in range(args.seeds):
                t0 = time.perf_counter()
                r = archsim.search(cfg, overrides=[f"search.agent={spec}", f"search.budget={args.budget}", f"search.seed={seed}"])
                dt = time.perf_counter() - t0
                best = r["best"]
                rows.append({
                    "problem": cfg.stem,
                    "agent": agent,
                    "seed": seed,
                    "evaluations": len(r["history"]),
                    "best_latency_s": best["metrics"]["latency_s"] if best else "",
                    "best_evaluation": best["eval"] if best else "",
                    "wall_s": round(dt, 1),
                })
                print(rows[-1], flush=True)
    # How rare a good design is: a uniform sample of the space against the reference.
    rarity = {}
    rng = np.random.default_rng(0)
    for cfg in sorted(SUITE.glob("*.yaml")):
        pr = [r for r in rows if r["problem"] == cfg.stem and r["best_latency_s"] != ""]
        if not pr:
            continue
        ref = min(r["best_latency_s"] for r in pr)
        n = 30_000
        sizes = archsim.evaluate_batch(cfg, [])["sizes"]
        pts = np.stack([rng.integers(0, k, n) for k in sizes], axis=1)
        cols = archsim.evaluate_batch(cfg, pts)
        lat = np.where(cols["feasible"], cols["latency_s"], np.inf)
        rarity[cfg.stem] = ((lat <= ref * 1.01).mean(), (lat <= ref * 1.05).mean(), cols["feasible"].mean())
    with open(out / "suite_reference.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    md = ["# DSE suite: reference optima", "",
          f"Best design found with {args.budget:,} evaluations (100x the benchmark's 1,000) per agent and seed; "
          "the reference of each problem is the best over all of them.", "",
          "The last columns say how rare a good design is: the fraction of 30,000 uniformly drawn designs within 1% and",
          "5% of the reference, and the fraction feasible.", "",
          "| problem | reference latency | found by | agent medians (ga / sa / random) | within 1% | within 5% | feasible |",
          "|---|---|---|---|---|---|---|"]
    for p in sorted({r["problem"] for r in rows}):
        pr = [r for r in rows if r["problem"] == p and r["best_latency_s"] != ""]
        ref = min(pr, key=lambda r: r["best_latency_s"])
        med = []
        for a in AGENTS:
            v = sorted(r["best_latency_s"] for r in pr if r["agent"] == a)
            med.append(f"{v[len(v) // 2] * 1e6:.2f} us" if v else "-")
        w1, w5, fe = rarity[p]
        md.append(
            f"| {p} | {ref['best_latency_s'] * 1e6:.2f} us | {ref['agent']} seed {ref['seed']} (evaluation {ref['best_evaluation']}) "
            f"| {' / '.join(med)} | {w1:.1e} | {w5:.1e} | {fe:.2f} |"
        )
    (out / "suite_reference.md").write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
