"""Reference optima of the DSE suite (configs/search/suite/): the best design found by a budget
100 times the benchmark's (1,000 evaluations), across agents and seeds. The suite's spaces
(1e8 to 2.6e9 designs and more) cannot be enumerated; this is the yardstick regret is measured
against.

    python python/bench/suite_reference.py --out results/dse_bench [--problems nb201_codesign]

Writes suite_reference.csv (one row per problem, agent and seed) and suite_reference.md.
With ``--problems`` only those problems' searches run; the other problems' rows are kept from
the existing CSV. Single-objective problems only (the Pareto problem's reference front is the
union of every run's front, built by the benchmark, python/bench/dse_suite.py). A problem's
objective and goal are read from its config (``search.objectives``): latency minimized, or the
co-design problem's accuracy maximized.
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
FIELDS = ["problem", "agent", "seed", "evaluations", "metric", "goal", "best_value", "best_evaluation", "wall_s"]


def objective(cfg: Path):
    """(metric, goal) of a single-objective suite problem, or None (several objectives)."""
    # The objectives are written on one line in the suite's configs.
    text = cfg.read_text()
    line = next(l for l in text.splitlines() if l.strip().startswith("objectives:"))
    if line.count("metric:") != 1:
        return None
    metric = line.split("metric:")[1].split(",")[0].split("}")[0].strip()
    goal = "max" if "goal: max" in line else "min"
    return metric, goal


def better(goal: str, a: float, b: float) -> bool:
    return a > b if goal == "max" else a < b


def within(goal: str, v: np.ndarray, ref: float, frac: float) -> np.ndarray:
    return v >= ref * (1 - frac) if goal == "max" else v <= ref * (1 + frac)


def fmt(metric: str, v: float) -> str:
    return f"{v * 1e6:.2f} us" if metric == "latency_s" else f"{v:.3f}%" if metric == "accuracy" else f"{v:.6g}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="results/dse_bench")
    ap.add_argument("--budget", type=int, default=100_000)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--problems", nargs="*", help="run only these problems (keep the others' rows)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    problems = {}
    for cfg in sorted(SUITE.glob("*.yaml")):
        o = objective(cfg)
        if o is not None:
            problems[cfg.stem] = (cfg, *o)
    rows = []
    old = out / "suite_reference.csv"
    if args.problems and old.exists():
        with open(old) as f:
            for r in csv.DictReader(f):
                if r["problem"] in args.problems or r["problem"] not in problems:
                    continue
                if "best_latency_s" in r:  # the first format: latency only
                    r = {**r, "metric": "latency_s", "goal": "min", "best_value": r.pop("best_latency_s")}
                rows.append({k: r[k] for k in FIELDS})
    for name, (cfg, metric, goal) in problems.items():
        if args.problems and name not in args.problems:
            continue
        for agent, spec in AGENTS.items():
            for seed in range(args.seeds):
                t0 = time.perf_counter()
                r = archsim.search(cfg, overrides=[f"search.agent={spec}", f"search.budget={args.budget}", f"search.seed={seed}"])
                dt = time.perf_counter() - t0
                best = r["best"]
                rows.append({
                    "problem": name, "agent": agent, "seed": seed, "evaluations": len(r["history"]),
                    "metric": metric, "goal": goal,
                    "best_value": best["metrics"][metric] if best else "",
                    "best_evaluation": best["eval"] if best else "",
                    "wall_s": round(dt, 1),
                })
                print(rows[-1], flush=True)
    for r in rows:
        r["best_value"] = float(r["best_value"]) if r["best_value"] != "" else ""
    # How rare a good design is: a uniform sample of the space against the reference.
    rarity = {}
    rng = np.random.default_rng(0)
    for name, (cfg, metric, goal) in problems.items():
        pr = [r for r in rows if r["problem"] == name and r["best_value"] != ""]
        if not pr:
            continue
        vals = [r["best_value"] for r in pr]
        ref = max(vals) if goal == "max" else min(vals)
        n = 30_000
        sizes = archsim.evaluate_batch(cfg, [])["sizes"]
        pts = np.stack([rng.integers(0, k, n) for k in sizes], axis=1)
        cols = archsim.evaluate_batch(cfg, pts)
        v = np.where(cols["feasible"], cols[metric], -np.inf if goal == "max" else np.inf)
        rarity[name] = (within(goal, v, ref, 0.01).mean(), within(goal, v, ref, 0.05).mean(), cols["feasible"].mean())
    rows.sort(key=lambda r: (r["problem"], list(AGENTS).index(r["agent"]), int(r["seed"])))
    with open(out / "suite_reference.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)
    md = ["# DSE suite: reference optima", "",
          f"Best design found with {args.budget:,} evaluations (100x the benchmark's 1,000) per agent and seed "
          "(the seeds each problem was run with are in suite_reference.csv); "
          "the reference of each problem is the best over all of them (lowest latency, or highest accuracy for "
          "the co-design problem). Regenerate with `python python/bench/suite_reference.py --out results/dse_bench`.", "",
          "The last columns say how rare a good design is: the fraction of 30,000 uniformly drawn designs within 1% and",
          "5% of the reference, and the fraction feasible.", "",
          "| problem | objective | reference | found by | agent medians (ga / sa / random) | within 1% | within 5% | feasible |",
          "|---|---|---|---|---|---|---|---|"]
    for p in sorted({r["problem"] for r in rows}):
        _, metric, goal = problems[p]
        pr = [r for r in rows if r["problem"] == p and r["best_value"] != ""]
        ref = (max if goal == "max" else min)(pr, key=lambda r: r["best_value"])
        med = []
        for a in AGENTS:
            v = sorted(r["best_value"] for r in pr if r["agent"] == a)
            med.append(fmt(metric, float(np.median(v))) if v else "-")
        w1, w5, fe = rarity[p]
        md.append(
            f"| {p} | {goal} {metric} | {fmt(metric, ref['best_value'])} | {ref['agent']} seed {ref['seed']} "
            f"(evaluation {ref['best_evaluation']}) | {' / '.join(med)} | {w1:.1e} | {w5:.1e} | {fe:.3f} |"
        )
    (out / "suite_reference.md").write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
