"""The DSE suite benchmark: archsim's agents against Optuna TPE, Optuna CMA-ES and pymoo
NSGA-II on the four suite problems (configs/search/suite/, 1e8 designs and more), at an equal
budget of evaluations. Needs the ``bench`` extra (``pip install "./python[bench]"``; CMA-ES
needs ``cmaes``, the plots ``matplotlib``).

    python python/bench/dse_suite.py --out results/dse_bench --seeds 10 [--budget 10000]

* archsim's agents run through :func:`archsim.search` (``search.agent``, ``search.budget`` and
  ``search.seed`` overridden); Optuna and pymoo through :mod:`archsim.adapters` (one
  :func:`archsim.evaluate_batch` call per trial or per population).
* Single-objective problems: regret of a run = |best feasible - reference| / |reference|, the
  reference from results/dse_bench/suite_reference.csv (python/bench/suite_reference.py: the
  best of 100x the budget across agents and seeds). Evaluations to within 1%: the first
  evaluation whose best-so-far has regret <= 1% (median over seeds; a seed that never gets
  there counts as infinite).
* The multi-objective problem (hetero3_pareto: latency, energy, area): hypervolume of each
  run's feasible Pareto set, relative to the hypervolume of the union of every run's front
  (objectives normalized by that union's ideal and nadir, reference point 1.1 x nadir);
  regret = 1 - that ratio. CMA-ES is single-objective and is not run on it.

Writes suite.csv (one row per problem, optimizer and seed), suite.md (medians and the summary)
and suite_<problem>.png (median and inter-quartile range over seeds of best-so-far regret vs
evaluations, log x).
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from pathlib import Path

import numpy as np

import archsim
from archsim import adapters

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "configs" / "search" / "suite"
PROBLEMS = ["hetero3_two_nets", "resnet50_systolic", "nb201_codesign", "hetero3_pareto"]
ARCHSIM_SINGLE = {"ga": "{kind: ga, population: 32}", "sa": "{kind: sa}", "aco": "{kind: aco}", "bo": "{kind: bo}", "random": "{kind: random}"}
ARCHSIM_MULTI = {"nsga2": "{kind: nsga2, population: 40}", "random": "{kind: random}"}


def objectives(cfg: Path) -> list:
    """[(metric, goal)] of a suite config (written on one line there)."""
    line = next(l for l in cfg.read_text().splitlines() if l.strip().startswith("objectives:"))
    out = []
    for part in line.split("metric:")[1:]:
        metric = part.split(",")[0].split("}")[0].strip()
        goal = "max" if part.split("}")[0].find("goal: max") >= 0 else "min"
        out.append((metric, goal))
    return out


# ---------------------------------------------------------------- runs: a (budget, k) array of
# minimized objective values per evaluation (NaN where infeasible), in evaluation order.

def run_archsim(cfg, objs, spec, budget, seed):
    r = archsim.search(cfg, overrides=[f"search.agent={spec}", f"search.budget={budget}", f"search.seed={seed}", "search.batch=16"])
    F = np.full((budget, len(objs)), np.nan)
    for i, h in enumerate(r["history"][:budget]):
        if h.get("feasible") and h.get("metrics"):
            F[i] = [(-1 if g == "max" else 1) * h["metrics"][m] for m, g in objs]
    return F


def run_optuna(cfg, objs, sampler, budget, seed):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    names = [m for m, _ in objs]
    f = adapters.optuna_objective(cfg, names, maximize=[m for m, g in objs if g == "max"])
    log = []

    def obj(trial):
        v = f(trial)
        vals = [v] if len(objs) == 1 else list(v)
        log.append([np.nan if x >= adapters.INFEASIBLE else x for x in vals])
        return v

    if sampler == "tpe":
        s = optuna.samplers.TPESampler(seed=seed)
    else:
        s = optuna.samplers.CmaEsSampler(seed=seed)
    study = optuna.create_study(sampler=s, directions=["minimize"] * len(objs))
    study.optimize(obj, n_trials=budget)
    return np.asarray(log, dtype=float)


def run_pymoo(cfg, objs, budget, seed, pop=40):
    from pymoo.optimize import minimize

    from archsim.adapters import pymoo_nsga2

    Base = adapters.PymooProblem
    log = []

    class Logged(Base):
        def _evaluate(self, x, out, *a, **k):
            super()._evaluate(x, out, *a, **k)
            for f, g in zip(out["F"], out["G"][:, 0]):
                log.append([np.nan] * len(f) if g > 0 else list(f))

    p = Logged(cfg, [m for m, _ in objs], maximize=[m for m, g in objs if g == "max"])
    algo = pymoo_nsga2(pop)
    minimize(p, algo, ("n_evals", budget), seed=seed, verbose=False)
    F = np.asarray(log[:budget], dtype=float)
    if len(F) < budget:  # pad (a run that stopped early keeps its best)
        F = np.vstack([F, np.full((budget - len(F), len(objs)), np.nan)])
    return F


# ---------------------------------------------------------------- scores

def best_so_far(F):
    v = F[:, 0]
    return np.fmin.accumulate(np.where(np.isnan(v), np.inf, v))


def nondominated(P):
    P = P[~np.isnan(P).any(axis=1)]
    if len(P) == 0:
        return P
    P = np.unique(P, axis=0)
    keep = np.ones(len(P), bool)
    for i in range(len(P)):
        if keep[i]:
            dom = np.all(P[i] <= P, axis=1) & np.any(P[i] < P, axis=1)
            keep &= ~dom
    return P[keep]


def hv_curve(F, lo, hi, checkpoints):
    from pymoo.indicators.hv import HV

    ind = HV(ref_point=np.full(F.shape[1], 1.1))
    out = []
    for c in checkpoints:
        front = nondominated(F[:c])
        out.append(0.0 if len(front) == 0 else float(ind((front - lo) / (hi - lo))))
    return np.asarray(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="results/dse_bench")
    ap.add_argument("--budget", type=int, default=1000, help="evaluations per run (1000; 10000 optional)")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--problems", nargs="*", default=PROBLEMS)
    ap.add_argument("--reference", default=str(ROOT / "results" / "dse_bench" / "suite_reference.csv"))
    ap.add_argument("--skip", nargs="*", default=[], help="optimizers to leave out (e.g. bo)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ref = {}
    with open(args.reference) as f:
        for r in csv.DictReader(f):
            if r.get("best_value"):
                v = float(r["best_value"])
                g = r["goal"]
                cur = ref.get(r["problem"])
                if cur is None or (v > cur if g == "max" else v < cur):
                    ref[r["problem"]] = v
    B = args.budget
    checkpoints = np.unique(np.round(np.logspace(0, math.log10(B), 40)).astype(int))
    rows, curves = [], {}
    for prob in args.problems:
        cfg = SUITE / f"{prob}.yaml"
        objs = objectives(cfg)
        multi = len(objs) > 1
        opts = {f"archsim-{k}": ("archsim", v) for k, v in (ARCHSIM_MULTI if multi else ARCHSIM_SINGLE).items()}
        opts["optuna-tpe"] = ("tpe", None)
        if not multi:
            opts["optuna-cmaes"] = ("cmaes", None)
        opts["pymoo-nsga2"] = ("pymoo", None)
        opts = {k: v for k, v in opts.items() if k not in args.skip and k.split("-", 1)[-1] not in args.skip}
        runs = {}
        for name, (kind, spec) in opts.items():
            for seed in range(args.seeds):
                t0 = time.perf_counter()
                if kind == "archsim":
                    F = run_archsim(cfg, objs, spec, B, seed)
                elif kind in ("tpe", "cmaes"):
                    F = run_optuna(cfg, objs, kind, B, seed)
                else:
                    F = run_pymoo(cfg, objs, B, seed)
                runs[(name, seed)] = (F, time.perf_counter() - t0)
                print(prob, name, seed, f"{runs[(name, seed)][1]:.1f}s", flush=True)
        if multi:
            union = nondominated(np.vstack([F for F, _ in runs.values()]))
            lo, hi = union.min(axis=0), union.max(axis=0)
            hi = np.where(hi > lo, hi, lo + 1)
            full = hv_curve(union, lo, hi, [len(union)])[0]
        for (name, seed), (F, wall) in runs.items():
            if multi:
                hv = hv_curve(F, lo, hi, checkpoints) / full
                curve = 1 - hv
                final = curve[-1]
                hit = next((c for c, h in zip(checkpoints, hv) if h >= 0.99), math.inf)
                row = {"best": "", "hv_ratio": hv[-1]}
            else:
                r0 = ref[prob]
                b = best_so_far(F)
                sign = -1 if objs[0][1] == "max" else 1
                reg = np.where(np.isinf(b), np.inf, np.abs(sign * b - r0) / abs(r0))
                curve = reg[checkpoints - 1]
                final = reg[-1]
                idx = np.nonzero(reg <= 0.01)[0]
                hit = int(idx[0]) + 1 if len(idx) else math.inf
                row = {"best": sign * b[-1] if np.isfinite(b[-1]) else "", "hv_ratio": ""}
            curves[(prob, name, seed)] = curve
            rows.append({"problem": prob, "optimizer": name, "seed": seed, "budget": B,
                         "regret": final, "evals_to_1pct": hit, **row,
                         "feasible_evals": int((~np.isnan(F[:, 0])).sum()), "wall_s": round(wall, 2)})
    suffix = "" if B == 1000 else f"_{B}"
    fields = ["problem", "optimizer", "seed", "budget", "regret", "evals_to_1pct", "best", "hv_ratio", "feasible_evals", "wall_s"]
    with open(out / f"suite{suffix}.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    write_md(out, suffix, rows, args, ref)
    plot(out, suffix, rows, curves, checkpoints, args)


def med(xs):
    """Median; a run that found no feasible design (inf, or nan for a best value) ranks last."""
    a = np.asarray(xs, dtype=float)
    return float(np.median(np.where(np.isnan(a), np.inf, a)))


def quartiles(a, axis=None):
    """The 25th and 75th percentiles by the nearest rank (no interpolation, so a quartile that
    falls on a run without a feasible design is inf, not nan)."""
    a = np.where(np.isnan(np.asarray(a, dtype=float)), np.inf, a)
    return np.percentile(a, 25, axis=axis, method="nearest"), np.percentile(a, 75, axis=axis, method="nearest")


def pct(x):
    return "inf" if math.isinf(x) else f"{x:.4%}"


def write_md(out, suffix, rows, args, ref):
    md = ["# DSE suite benchmark", "",
          f"Budget {args.budget:,} evaluations per run; {args.seeds} seeds (0-{args.seeds - 1}) per optimizer. "
          "Regenerate with `python python/bench/dse_suite.py --out results/dse_bench "
          f"--seeds {args.seeds}{'' if args.budget == 1000 else f' --budget {args.budget}'}` "
          "(references: suite_reference.md). Regret is relative to the reference (median over seeds); for "
          "hetero3_pareto it is 1 - hypervolume / hypervolume of the union of every run's front. "
          "Evaluations to within 1%: median over seeds (inf: most seeds never got there).", ""]
    summary = ["## Summary", ""]
    for prob in args.problems:
        pr = [r for r in rows if r["problem"] == prob]
        names = list(dict.fromkeys(r["optimizer"] for r in pr))
        multi = pr[0]["hv_ratio"] != ""
        md += [f"## {prob}", "",
               ("reference: union front of all runs" if multi else f"reference: {ref[prob]:.6g}"), "",
               "| optimizer | median regret | IQR | median evals to within 1% | " + ("median HV ratio" if multi else "median best") + " | median wall s |",
               "|---|---|---|---|---|---|"]
        stats = {}
        for n in names:
            rs = [r for r in pr if r["optimizer"] == n]
            reg = np.asarray([r["regret"] for r in rs], dtype=float)
            stats[n] = med(reg)
            q1, q3 = quartiles(reg)
            hits = sorted(float(r["evals_to_1pct"]) for r in rs)
            hit = med(hits)
            # The median run by regret (nearest rank) and its own figure, so the column agrees
            # with the median regret whatever the goal's direction.
            mid = sorted(rs, key=lambda r: float(r["regret"]))[(len(rs) - 1) // 2]
            key = "hv_ratio" if multi else "best"
            col = float(mid[key]) if mid[key] not in ("", None) and not math.isinf(float(mid["regret"])) else math.inf
            col_text = "none feasible" if math.isinf(col) else f"{col:.6g}"
            md.append(f"| {n} | {pct(stats[n])} | {pct(q1)} - {pct(q3)} | {'inf' if math.isinf(hit) else f'{hit:.0f}'} | {col_text} | {med([r['wall_s'] for r in rs]):.2f} |")
        md.append("")
        ours = {n: v for n, v in stats.items() if n.startswith("archsim-")}
        best = min(ours, key=ours.get)
        parts = []
        for other in ("optuna-tpe", "pymoo-nsga2"):
            if other not in stats:
                continue
            a, b = ours[best], stats[other]
            if a < b:
                parts.append(f"beats {other} ({b:.4%})")
            elif a == b:
                parts.append(f"ties {other} ({b:.4%})")
            elif math.isinf(a):
                parts.append(f"loses to {other} ({b:.4%}; most archsim seeds found no feasible design)")
            else:
                parts.append(f"loses to {other} ({b:.4%}): worse by {a - b:.4%} regret")
        summary.append(f"* **{prob}**: best archsim agent {best} (median regret {ours[best]:.4%}) " + "; ".join(parts) + ".")
    (out / f"suite{suffix}.md").write_text("\n".join(md[:4] + summary + [""] + md[4:]) + "\n")


def plot(out, suffix, rows, curves, checkpoints, args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for prob in args.problems:
        names = list(dict.fromkeys(r["optimizer"] for r in rows if r["problem"] == prob))
        multi = any(r["hv_ratio"] != "" for r in rows if r["problem"] == prob)
        fig, ax = plt.subplots(figsize=(9, 5))
        for n in names:
            C = np.asarray([curves[(prob, n, s)] for s in range(args.seeds)], dtype=float)
            # A seed without a feasible design yet is inf (ranks last); what is inf is not drawn.
            C = np.where(np.isnan(C), np.inf, C)
            m = np.median(C, axis=0)
            q1, q3 = quartiles(C, axis=0)
            m, q1, q3 = (np.where(np.isinf(x), np.nan, x) for x in (m, q1, q3))
            ls = "-" if n.startswith("archsim") else "--"
            (line,) = ax.plot(checkpoints, m, ls, label=n)
            ax.fill_between(checkpoints, q1, q3, color=line.get_color(), alpha=0.15)
        ax.set_xscale("log")
        ax.set_yscale("symlog", linthresh=1e-3)
        ax.set_ylim(bottom=0)  # regret is never negative
        ax.set_xlabel("evaluations")
        ax.set_ylabel("1 - hypervolume ratio" if multi else "regret (relative to reference)")
        ax.set_title(f"{prob}: best so far, median and IQR over {args.seeds} seeds")
        ax.axhline(0.01, color="grey", lw=0.8, ls=":")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        fig.savefig(out / f"suite{suffix}_{prob}.png", dpi=110, bbox_inches="tight")
        plt.close(fig)


if __name__ == "__main__":
    main()
