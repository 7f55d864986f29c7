"""The DSE benchmark: archsim's optimizers against known optima, with Optuna TPE and pymoo
NSGA-II run on the same problems through the Python package.

Regenerate with one command (needs the `bench` extra: `pip install "./python[bench]"`):

    python python/bench/dse_bench.py --out results/dse_bench

Three problems whose optimum is known by exhaustive enumeration (every design evaluated with
archsim's grid agent):

* ``resnet18``: ResNet-18 on a systolic array — rows, columns, dataflow, ifmap and filter SRAM —
  minimizing latency under an area limit (2,700 designs);
* ``bert_layer``: one BERT-base encoder layer over 128 tokens, same space and goal;
* ``gemm_pareto``: a BERT FFN GEMM, latency and area both minimized, under an area limit
  (735 designs); the score is the hypervolume of each run's Pareto set relative to the true
  front's.

For the single-objective problems, each optimizer's figure is the number of evaluations until its
best design is within 1 % of the optimum, median over the seeds (runs that never get there count
as infinite, so a median of ``inf`` means most seeds missed within the budget).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
from pathlib import Path

import archsim
from archsim._archsim import DseEnvCore

SPACE_ARRAY = {
    "accelerator.rows": {"pow2": [8, 256]},
    "accelerator.cols": {"pow2": [8, 256]},
    "accelerator.dataflow": {"choice": ["os", "ws", "is"]},
    "accelerator.sram_kib.ifmap": {"pow2": [64, 1024]},
    "accelerator.sram_kib.filter": {"pow2": [64, 1024]},
}
ACC = {"kind": "systolic", "rows": 32, "cols": 32, "dataflow": "os", "dram_bw_bytes_per_cycle": 16}

PROBLEMS = {
    "resnet18": {
        "workload": {"model": "resnet18"},
        "accelerator": ACC,
        "space": SPACE_ARRAY,
        "objectives": [{"metric": "latency_s"}],
        "constraints": [{"metric": "area_mm2", "max": 30}],
    },
    "bert_layer": {
        "workload": {"llm": {"model": "bert_base", "layers": 1, "prompt_len": 128}},
        "accelerator": ACC,
        "space": SPACE_ARRAY,
        "objectives": [{"metric": "latency_s"}],
        "constraints": [{"metric": "area_mm2", "max": 30}],
    },
    "gemm_pareto": {
        "workload": {"gemm": {"m": 128, "n": 3072, "k": 768}},
        "accelerator": ACC,
        "space": {
            "accelerator.rows": {"pow2": [4, 256]},
            "accelerator.cols": {"pow2": [4, 256]},
            "accelerator.dataflow": {"choice": ["os", "ws", "is"]},
            "accelerator.dram_bw_bytes_per_cycle": {"pow2": [4, 64]},
        },
        "objectives": [{"metric": "latency_s"}, {"metric": "area_mm2"}],
        "constraints": [{"metric": "area_mm2", "max": 40}],
    },
}

SINGLE_AGENTS = ["random", "grid", "sa", "ga", "aco", "bo", "rl"]
MULTI_AGENTS = ["nsga2", "random", "grid"]


def search_config(p: dict, agent: dict, budget: int, seed: int, batch: int = 8) -> dict:
    return {
        "workload": p["workload"],
        "accelerator": p["accelerator"],
        "search": {
            "agent": agent,
            "budget": budget,
            "seed": seed,
            "batch": batch,
            "space": p["space"],
            "objectives": p["objectives"],
            "constraints": p["constraints"],
        },
    }


def space_size(p: dict) -> int:
    core = env_core(p)
    return math.prod(core.nvec())


def env_core(p: dict) -> DseEnvCore:
    """A native env whose step evaluates one design: reward = −latency (weighted, scale 1)."""
    cfg = {
        "workload": p["workload"],
        "accelerator": p["accelerator"],
        "gym": {
            "episode_len": 1 << 40,
            "space": p["space"],
            "objectives": p["objectives"],
            "constraints": p["constraints"],
            "reward": {"kind": "weighted"},
        },
    }
    return DseEnvCore(json.dumps(cfg), ".")


def exhaustive(p: dict) -> list[dict]:
    n = space_size(p)
    return archsim.search(search_config(p, {"kind": "grid"}, n, 0, batch=64))["history"]


def hypervolume(points, ref):
    """Exact 2-D hypervolume of the region dominated by `points` and bounded by `ref`."""
    pts = sorted({q for q in points if q[0] < ref[0] and q[1] < ref[1]})
    front, best = [], math.inf
    for x, y in pts:
        if y < best:
            front.append((x, y))
            best = y
    total = 0.0
    for i, (x, y) in enumerate(front):
        nx = front[i + 1][0] if i + 1 < len(front) else ref[0]
        total += (nx - x) * (ref[1] - y)
    return total


def evals_to(trace: list[float], target: float) -> float:
    for i, c in enumerate(trace):
        if c <= target:
            return i + 1
    return math.inf


def best_trace(history: list[dict]) -> list[float]:
    best, out = math.inf, []
    for h in history:
        if h["feasible"] and h["cost"] is not None:
            best = min(best, h["cost"])
        out.append(best)
    return out


def optuna_run(p: dict, budget: int, seed: int) -> list[float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    core = env_core(p)
    core.reset(0)
    nvec = core.nvec()
    trace, best = [], math.inf

    def objective(trial):
        nonlocal best
        a = [trial.suggest_int(f"x{i}", 0, n - 1) for i, n in enumerate(nvec)]
        _, reward, _, _, info = core.step(a)
        cost = -reward if info["feasible"] else math.inf
        best = min(best, cost)
        trace.append(best)
        return cost if math.isfinite(cost) else 1e9

    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed), direction="minimize")
    study.optimize(objective, n_trials=budget)
    return trace


def pymoo_run(p: dict, budget: int, seed: int, pop: int = 24) -> list[tuple[float, float]]:
    import numpy as np
    from pymoo.core.problem import ElementwiseProblem
    from pymoo.optimize import minimize

    from archsim.adapters import pymoo_nsga2

    core = env_core(p)
    core.reset(0)
    nvec = core.nvec()
    limit = p["constraints"][0]["max"]
    seen = []

    class Prob(ElementwiseProblem):
        def __init__(self):
            super().__init__(n_var=len(nvec), n_obj=2, n_ieq_constr=1, xl=0, xu=np.array(nvec) - 1, vtype=int)

        def _evaluate(self, x, out, *args, **kwargs):
            _, _, _, _, info = core.step([int(v) for v in x])
            m = info["metrics"]
            lat, area = m["latency_s"], m["area_mm2"]
            if info["metrics"]["total_cycles"] == 0:
                lat, area = 1.0, 1e6
            out["F"] = [lat, area]
            out["G"] = [area - limit]
            if area <= limit:
                seen.append((lat, area))

    algo = pymoo_nsga2(pop)
    minimize(Prob(), algo, ("n_eval", budget), seed=seed, verbose=False)
    return seen


def fmt(v: float) -> str:
    return "inf" if math.isinf(v) else (f"{v:.0f}" if float(v).is_integer() else f"{v:.1f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="results/dse_bench")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--budget", type=int, default=200)
    ap.add_argument("--no-python-baselines", action="store_true", help="skip Optuna and pymoo")
    args = ap.parse_args()
    if not args.no_python_baselines:
        import importlib.util

        missing = [m for m in ("optuna", "pymoo") if importlib.util.find_spec(m) is None]
        if missing:
            raise SystemExit(
                f"the Python baselines need {', '.join(missing)}: install the bench extra "
                '(pip install "./python[bench]"), or run with --no-python-baselines'
            )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    md = ["# DSE benchmark", "", f"Seeds: {args.seeds}; budget {args.budget} evaluations per run (batches of 8).", ""]

    for name in ["resnet18", "bert_layer"]:
        p = PROBLEMS[name]
        hist = exhaustive(p)
        feasible = [h for h in hist if h["feasible"]]
        opt = min(h["cost"] for h in feasible)
        arg = min(feasible, key=lambda h: h["cost"])
        target = opt * 1.01
        within = sum(1 for h in feasible if h["cost"] <= target)
        md += [f"## {name}", "", f"{len(hist)} designs, {len(feasible)} feasible; optimum latency {opt:.6e} s at {arg['point']}; "
               f"{within} designs within 1 %.", "", "| optimizer | median evals to within 1 % | runs that got there | median best / optimum |", "|---|---|---|---|"]
        agents = [(a, lambda s, a=a: best_trace(archsim.search(search_config(p, {"kind": a}, args.budget, s))["history"])) for a in SINGLE_AGENTS]
        if not args.no_python_baselines:
            agents.append(("optuna-tpe", lambda s: optuna_run(p, args.budget, s)))
        for label, run in agents:
            evals, ratios = [], []
            for s in range(args.seeds):
                tr = run(s)
                e = evals_to(tr, target)
                evals.append(e)
                ratios.append(tr[-1] / opt)
                rows.append({"problem": name, "optimizer": label, "seed": s, "evals_to_1pct": e, "best_cost": tr[-1], "optimum": opt})
            med = statistics.median(evals)
            md.append(f"| {label} | {fmt(med)} | {sum(1 for e in evals if math.isfinite(e))}/{len(evals)} | {statistics.median(ratios):.4f} |")
        md.append("")

    p = PROBLEMS["gemm_pareto"]
    hist = exhaustive(p)
    # Latency spans three decades: hypervolumes are taken over (log10 latency, area), with the
    # reference point just beyond the true front's worst corner.
    pts = [(math.log10(h["objectives"][0]), h["objectives"][1]) for h in hist if h["feasible"]]
    front = [q for q in pts if not any(o[0] <= q[0] and o[1] <= q[1] and o != q for o in pts)]
    ref = (max(q[0] for q in front) + 0.1, max(q[1] for q in front) * 1.05)
    true_hv = hypervolume(pts, ref)
    md += ["## gemm_pareto (latency and area)", "", f"{len(hist)} designs, {len(pts)} feasible, {len(front)} on the true Pareto front; "
           f"hypervolume over (log10 latency, area) with reference point ({ref[0]:.3f}, {ref[1]:.3f} mm²): {true_hv:.6f}.", "",
           "| optimizer | median hypervolume / true | worst | best |", "|---|---|---|---|"]
    budget = min(args.budget, 144)
    runs = [(a, lambda s, a=a: [(h["objectives"][0], h["objectives"][1]) for h in archsim.search(search_config(p, {"kind": a}, budget, s, batch=24))["history"] if h["feasible"]]) for a in MULTI_AGENTS]
    logged = lambda run: (lambda s: [(math.log10(x), y) for x, y in run(s)])  # noqa: E731
    if not args.no_python_baselines:
        runs.append(("pymoo-nsga2", lambda s: pymoo_run(p, budget, s)))
    for label, run in runs:
        ratios = []
        for s in range(args.seeds):
            r = hypervolume(logged(run)(s), ref) / true_hv
            ratios.append(r)
            rows.append({"problem": "gemm_pareto", "optimizer": label, "seed": s, "hv_ratio": r})
        md.append(f"| {label} | {statistics.median(ratios):.4f} | {min(ratios):.4f} | {max(ratios):.4f} |")
    md += ["", f"Budget for the two-objective problem: {budget} evaluations (6 generations of 24).", ""]

    keys = ["problem", "optimizer", "seed", "evals_to_1pct", "best_cost", "optimum", "hv_ratio"]
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in keys})
    (out / "summary.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
