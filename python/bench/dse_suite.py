"""The DSE suite benchmark: archsim's agents against Optuna TPE, Optuna CMA-ES, pymoo NSGA-II and
Stable-Baselines3 PPO on the four suite problems (configs/search/suite/, 1e8 designs and more),
at equal budgets of evaluations. Needs the ``bench`` extra (``pip install "./python[bench]"``:
Optuna, pymoo, cmaes, matplotlib); ``sb3-ppo`` also needs Stable-Baselines3 (and torch): the
``bench-rl`` extra (``pip install "./python[bench-rl]"``); without it the PPO runs are skipped
with a note. (``python/bench/dse_bench.py`` is the older benchmark on three small spaces whose
optimum is known by enumeration.)

    python python/bench/dse_suite.py --out results/dse_bench --seeds 10 --budget 1000 10000 --jobs 2
    python python/bench/dse_suite.py --out results/dse_bench --only optuna-tpe --seeds 10   # a subset
    python python/bench/dse_suite.py --out results/dse_bench --report-only                  # tables, plots

* **Runs are cached and resumable.** Each finished run (problem, optimizer, seed, budget) is
  one file, ``<cache>/<problem>/<optimizer>/b<budget>_s<seed>.npz`` (``--cache``, default
  ``<out>/runs``): ``F``, the objective values of every evaluation in order (minimized: a
  maximized metric is negated; NaN where the design is infeasible), and ``wall_s``, that run's
  own wall time. A rerun skips cached runs, so a killed benchmark resumes where it stopped;
  ``--jobs N`` runs independent runs in N processes (spawned); ``--only NAME...`` /
  ``--skip NAME...`` pick optimizers (``optuna-tpe`` or just ``tpe``); ``--threads T`` caps
  each run's threads (archsim's rayon pool and torch). The report (suite[_<budget>].md/.csv/
  _<problem>.png) is built from every cached run of the budget, whoever ran it, so separate
  invocations (another machine's cache copied in) merge.
* archsim's agents (ga, sa, aco, bo, rl, random; nsga2 and random on the multi-objective
  problem) run through :func:`archsim.search` (``search.agent``, ``search.budget`` and
  ``search.seed`` overridden); Optuna and pymoo through :mod:`archsim.adapters` (one
  :func:`archsim.evaluate_batch` call per trial or per population).
* ``sb3-ppo``: ``stable_baselines3.PPO`` trained on
  ``gymnasium.make_vec("archsim/Dse-v0", num_envs=8, vectorization_mode="vector_entry_point",
  config=...)`` (the suite config with its ``search:`` space, objectives and constraints as the
  ``gym:`` section), handed to SB3 by :func:`archsim.adapters.sb3_vec_env`. Every env step
  evaluates ``num_envs`` designs; each counts toward the budget, and training stops when the
  budget is spent. The objective of each evaluated design is read from the step's
  ``info["metrics"]`` and ``info["feasible"]``. Settings (``PPO_SETTINGS``): 8 envs x
  ``n_steps`` 16 = 128 evaluations per update (7 updates in 1,000 evaluations, 78 in 10,000),
  batch 32, 10 epochs, learning rate 1e-3, ``gamma`` 0 (a design's reward does not depend on
  the steps before it: a bandit), entropy coefficient 0.01, an MLP of 64x64; observations are
  ``log1p`` of the metric vector; the reward is ``-log`` of the objective (``+log`` of a
  maximized one) for a feasible design and 1 below the worst feasible reward seen so far for an
  infeasible one; ``seed`` = the run's seed (PPO, torch, env reset), torch on one CPU thread.
  ``archsim/Dse-v0`` refuses co-design (``cell:``) configs, so on nb201_codesign PPO steps
  ``EvaluateBatchVecEnv``, a gymnasium vector env over :func:`archsim.evaluate_batch` with the
  same actions, infos and bookkeeping. PPO is single-objective and is not run on
  hetero3_pareto.
* Single-objective problems: regret of a run = |best feasible - reference| / |reference|, the
  reference from results/dse_bench/suite_reference.csv (python/bench/suite_reference.py: the
  best of 100x the budget across agents and seeds). Evaluations to within 1%: the first
  evaluation whose best-so-far has regret <= 1% (median over seeds; a seed that never gets
  there counts as infinite).
* The multi-objective problem (hetero3_pareto: latency, energy, area): hypervolume of each
  run's feasible Pareto set, relative to the hypervolume of the union of every cached run's
  front (objectives normalized by that union's ideal and nadir, reference point 1.1 x nadir);
  regret = 1 - that ratio. CMA-ES and PPO are single-objective and are not run on it.

Writes suite[_<budget>].csv (one row per problem, optimizer and seed), suite[_<budget>].md
(medians and the summary) and suite[_<budget>]_<problem>.png (median and inter-quartile range
over seeds of best-so-far regret vs evaluations, log x); no suffix for the 1,000 budget.
"""

from __future__ import annotations

import argparse
import csv
import math
import multiprocessing
import os
import time
import traceback
from pathlib import Path

import numpy as np

import archsim
from archsim import adapters

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "configs" / "search" / "suite"
PROBLEMS = ["hetero3_two_nets", "resnet50_systolic", "nb201_codesign", "hetero3_pareto"]
ARCHSIM_SINGLE = {"ga": "{kind: ga, population: 32}", "sa": "{kind: sa}", "aco": "{kind: aco}", "bo": "{kind: bo}",
                  "rl": "{kind: rl}", "random": "{kind: random}"}
ARCHSIM_MULTI = {"nsga2": "{kind: nsga2, population: 40}", "random": "{kind: random}"}
#: Stable-Baselines3 PPO for a 1,000-evaluation budget: several updates (num_envs x n_steps
#: evaluations each) within the budget. See the module docstring.
PPO_SETTINGS = {"num_envs": 8, "n_steps": 16, "batch_size": 32, "n_epochs": 10, "learning_rate": 1e-3,
                "gamma": 0.0, "gae_lambda": 1.0, "ent_coef": 0.01, "clip_range": 0.2, "net_arch": [64, 64]}


def objectives(cfg: Path) -> list:
    """[(metric, goal)] of a suite config (written on one line there)."""
    line = next(l for l in cfg.read_text().splitlines() if l.strip().startswith("objectives:"))
    out = []
    for part in line.split("metric:")[1:]:
        metric = part.split(",")[0].split("}")[0].strip()
        goal = "max" if part.split("}")[0].find("goal: max") >= 0 else "min"
        out.append((metric, goal))
    return out


def suite_optimizers(prob: str) -> dict:
    """The optimizers of the suite on one problem: name -> (kind, agent spec or None)."""
    multi = len(objectives(SUITE / f"{prob}.yaml")) > 1
    opts = {f"archsim-{k}": ("archsim", v) for k, v in (ARCHSIM_MULTI if multi else ARCHSIM_SINGLE).items()}
    opts["optuna-tpe"] = ("tpe", None)
    if not multi:
        opts["optuna-cmaes"] = ("cmaes", None)
    opts["pymoo-nsga2"] = ("pymoo", None)
    if not multi:
        opts["sb3-ppo"] = ("ppo", None)
    return opts


def _named(name: str, pats) -> bool:
    return any(name == p or name.split("-", 1)[-1] == p for p in pats)


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


# ---------------------------------------------------------------- SB3 PPO through the vector env

def gym_config(cfg: Path) -> dict:
    """The suite config as an ``archsim/Dse-v0`` config: its ``search:`` space, objectives and
    constraints become the ``gym:`` section."""
    import yaml

    c = yaml.safe_load(cfg.read_text())
    s = c.pop("search")
    c["gym"] = {"space": s["space"], "objectives": s["objectives"], "constraints": s.get("constraints", [])}
    return c


def _evaluate_batch_vec_env_class():
    import gymnasium
    from gymnasium import spaces
    from gymnasium.vector.utils import batch_space

    class EvaluateBatchVecEnv(gymnasium.vector.VectorEnv):
        """A gymnasium vector env over :func:`archsim.evaluate_batch` for configs
        ``archsim/Dse-v0`` does not take (co-design ``cell:`` configs): a step evaluates one
        design per environment in one call; observations are the metric vector (0 where not
        evaluated); ``infos`` as ``DseVectorEnv``'s (``feasible``, ``reason``, ``metrics``);
        the reward is 0 (the bench computes its own) and episodes never end."""

        metadata = {"render_modes": [], "autoreset_mode": gymnasium.vector.AutoresetMode.NEXT_STEP}

        def __init__(self, num_envs: int, config):
            self.config, self.num_envs = config, int(num_envs)
            empty = archsim.evaluate_batch(config, [])
            skip = {"feasible", "reason", "paths", "sizes"}
            self.metric_names = tuple(k for k in empty if k not in skip)
            self.single_action_space = spaces.MultiDiscrete(np.asarray(empty["sizes"], dtype=np.int64))
            self.single_observation_space = spaces.Box(0.0, np.finfo(np.float32).max, (len(self.metric_names),), np.float32)
            self.action_space = batch_space(self.single_action_space, self.num_envs)
            self.observation_space = batch_space(self.single_observation_space, self.num_envs)

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            return np.zeros((self.num_envs, len(self.metric_names)), np.float32), {}

        def step(self, actions):
            cols = archsim.evaluate_batch(self.config, np.asarray(actions, dtype=np.int64))
            M = np.column_stack([cols[m] for m in self.metric_names])
            M = np.where(np.isfinite(M), M, 0.0)
            live = np.ones(self.num_envs, bool)
            infos = {"feasible": cols["feasible"], "_feasible": live, "reason": cols["reason"], "_reason": live,
                     "metrics": M, "_metrics": live}
            no = np.zeros(self.num_envs, bool)
            return np.clip(M, 0, np.finfo(np.float32).max).astype(np.float32), np.zeros(self.num_envs), no, no.copy(), infos

    return EvaluateBatchVecEnv


def _record_wrapper_class():
    import gymnasium

    class RecordObjective(gymnasium.vector.VectorWrapper):
        """Logs the objective of every design the wrapped vector env evaluates (NaN when
        infeasible; autoreset rows are not evaluations), replaces the reward by the bench's
        (see the module docstring) and the observation by its ``log1p``."""

        def __init__(self, env, metric: str, goal: str):
            super().__init__(env)
            self.k = list(env.unwrapped.metric_names).index(metric)
            self.sign = -1.0 if goal == "max" else 1.0
            self.log: list = []
            self.worst = None

        def reset(self, *, seed=None, options=None):
            obs, info = self.env.reset(seed=seed, options=options)
            return np.log1p(obs), info

        def step(self, actions):
            obs, _, term, trunc, infos = self.env.step(actions)
            live = np.asarray(infos["_feasible"], bool)
            ok = live & np.asarray(infos["feasible"], bool)
            m = np.asarray(infos["metrics"], float)[:, self.k]
            self.log.extend(np.where(ok, self.sign * m, np.nan)[live].tolist())
            r = np.where(ok, -self.sign * np.log(np.maximum(m, 1e-300)), 0.0)
            if ok.any():
                w = float(r[ok].min())
                self.worst = w if self.worst is None else min(self.worst, w)
            r = np.where(ok, r, (self.worst - 1.0) if self.worst is not None else 0.0)
            r = np.where(live, r, 0.0)
            return np.log1p(obs), r, term, trunc, infos

    return RecordObjective


def run_ppo(cfg, objs, budget, seed, settings=None):
    import gymnasium
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback

    st = {**PPO_SETTINGS, **(settings or {})}
    torch.set_num_threads(1)
    n = st["num_envs"]
    conf = gym_config(cfg)
    if "cell" in conf:  # archsim/Dse-v0 refuses co-design configs
        venv = _evaluate_batch_vec_env_class()(n, cfg)
    else:
        venv = gymnasium.make_vec("archsim/Dse-v0", num_envs=n, vectorization_mode="vector_entry_point", config=conf)
    (metric, goal), = objs
    rec = _record_wrapper_class()(venv, metric, goal)
    env = adapters.sb3_vec_env(rec)

    class Budget(BaseCallback):
        def _on_step(self) -> bool:
            return len(rec.log) < budget

    model = PPO("MlpPolicy", env, n_steps=st["n_steps"], batch_size=st["batch_size"], n_epochs=st["n_epochs"],
                learning_rate=st["learning_rate"], gamma=st["gamma"], gae_lambda=st["gae_lambda"], ent_coef=st["ent_coef"],
                clip_range=st["clip_range"], policy_kwargs={"net_arch": list(st["net_arch"])}, seed=seed, device="cpu", verbose=0)
    model.learn(total_timesteps=budget + n * st["n_steps"], callback=Budget())
    env.close()
    F = np.asarray(rec.log[:budget], dtype=float).reshape(-1, 1)
    if len(F) < budget:
        F = np.vstack([F, np.full((budget - len(F), 1), np.nan)])
    return F


# ---------------------------------------------------------------- the cache

def run_file(cache: Path, prob: str, name: str, budget: int, seed: int) -> Path:
    return Path(cache) / prob / name / f"b{budget}_s{seed}.npz"


def save_run(path: Path, F: np.ndarray, wall: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, F=np.asarray(F, dtype=float), wall_s=float(wall))
    os.replace(tmp, path)  # atomic: a killed run leaves no half-written file


def load_runs(cache: Path, prob: str, budget: int) -> dict:
    """{(optimizer, seed): (F, wall_s)} of every cached run of a problem at a budget."""
    runs = {}
    d = Path(cache) / prob
    if not d.is_dir():
        return runs
    for f in sorted(d.glob(f"*/b{budget}_s*.npz")):
        seed = int(f.stem.split("_s", 1)[1])
        with np.load(f) as z:
            F, wall = z["F"], float(z["wall_s"])
        if F.shape[0] != budget:
            print(f"warning: {f} has {F.shape[0]} evaluations, not {budget}; left out")
            continue
        runs[(f.parent.name, seed)] = (F, wall)
    return runs


def execute(task: tuple) -> tuple:
    """Runs one (problem, optimizer, kind, spec, budget, seed) and caches it; module-level so
    spawned worker processes can run it. Returns (task, wall seconds or None, error text)."""
    prob, name, kind, spec, budget, seed, cache, threads = task
    if threads:
        os.environ["RAYON_NUM_THREADS"] = str(threads)
    cfg = SUITE / f"{prob}.yaml"
    objs = objectives(cfg)
    try:
        t0 = time.perf_counter()
        if kind == "archsim":
            F = run_archsim(cfg, objs, spec, budget, seed)
        elif kind in ("tpe", "cmaes"):
            F = run_optuna(cfg, objs, kind, budget, seed)
        elif kind == "ppo":
            F = run_ppo(cfg, objs, budget, seed)
        else:
            F = run_pymoo(cfg, objs, budget, seed)
        wall = time.perf_counter() - t0
    except Exception:  # noqa: BLE001 - one failed run must not stop the others
        return task, None, traceback.format_exc()
    save_run(run_file(cache, prob, name, budget, seed), F, wall)
    return task, wall, ""


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


def read_reference(path) -> dict:
    ref = {}
    with open(path) as f:
        for r in csv.DictReader(f):
            if r.get("best_value"):
                v = float(r["best_value"])
                g = r["goal"]
                cur = ref.get(r["problem"])
                if cur is None or (v > cur if g == "max" else v < cur):
                    ref[r["problem"]] = v
    return ref


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="results/dse_bench", help="where the report goes")
    ap.add_argument("--cache", default=None, help="folder of cached runs (default <out>/runs)")
    ap.add_argument("--budget", type=int, nargs="+", default=[1000], help="evaluations per run (1000; 10000 too)")
    ap.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 are run")
    ap.add_argument("--problems", nargs="*", default=PROBLEMS)
    ap.add_argument("--reference", default=str(ROOT / "results" / "dse_bench" / "suite_reference.csv"))
    ap.add_argument("--only", nargs="*", default=[], help="run only these optimizers: full names (optuna-tpe) or the part after the dash (tpe; nsga2 names both archsim-nsga2 and pymoo-nsga2)")
    ap.add_argument("--skip", nargs="*", default=[], help="optimizers to leave out (e.g. bo)")
    ap.add_argument("--jobs", type=int, default=1, help="runs in parallel processes")
    ap.add_argument("--threads", type=int, default=0, help="threads per run (archsim's rayon pool); 0: all cores")
    ap.add_argument("--report-only", action="store_true", help="run nothing; report the cached runs")
    ap.add_argument("--no-report", action="store_true", help="run, write no report")
    args = ap.parse_args()
    out = Path(args.out)
    cache = Path(args.cache) if args.cache else out / "runs"
    if args.threads:
        os.environ["RAYON_NUM_THREADS"] = str(args.threads)
    if not args.report_only:
        tasks = []
        for B in args.budget:
            for prob in args.problems:
                for name, (kind, spec) in suite_optimizers(prob).items():
                    if (args.only and not _named(name, args.only)) or _named(name, args.skip):
                        continue
                    if kind == "ppo":
                        try:
                            import stable_baselines3  # noqa: F401
                        except ImportError:
                            print(f"{prob} {name}: stable-baselines3 is not installed; skipped")
                            continue
                    for seed in range(args.seeds):
                        if not run_file(cache, prob, name, B, seed).exists():
                            tasks.append((prob, name, kind, spec, B, seed, str(cache), args.threads))
        print(f"{len(tasks)} runs to do (cached runs skipped), {args.jobs} at a time; cache {cache}", flush=True)
        failed = 0

        def done(res):
            nonlocal failed
            (prob, name, _, _, B, seed, *_), wall, err = res
            if err:
                failed += 1
                print(f"FAILED {prob} {name} budget {B} seed {seed}:\n{err}", flush=True)
            else:
                print(f"{prob} {name} budget {B} seed {seed}: {wall:.1f}s", flush=True)

        if args.jobs <= 1:
            for t in tasks:
                done(execute(t))
        else:
            with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
                for res in pool.imap_unordered(execute, tasks):
                    done(res)
        if failed:
            print(f"{failed} runs failed (not cached)")
    if not args.no_report:
        out.mkdir(parents=True, exist_ok=True)
        ref = read_reference(args.reference)
        for B in args.budget:
            report(out, cache, B, args.problems, ref)


def report(out: Path, cache: Path, B: int, problems: list, ref: dict) -> None:
    """suite[_B].csv/.md/_<problem>.png from every cached run at budget B."""
    checkpoints = np.unique(np.round(np.logspace(0, math.log10(B), 40)).astype(int))
    rows, curves, probs = [], {}, []
    ref = dict(ref)
    improved = set()
    for prob in problems:
        objs = objectives(SUITE / f"{prob}.yaml")
        multi = len(objs) > 1
        runs = load_runs(cache, prob, B)
        if not runs:
            continue
        probs.append(prob)
        order = list(suite_optimizers(prob))
        keys = sorted(runs, key=lambda k: (order.index(k[0]) if k[0] in order else len(order), k[0], k[1]))
        if multi:
            union = nondominated(np.vstack([F for F, _ in runs.values()]))
            lo, hi = union.min(axis=0), union.max(axis=0)
            hi = np.where(hi > lo, hi, lo + 1)
            full = hv_curve(union, lo, hi, [len(union)])[0]
        else:
            # The reference is the best design known: suite_reference.csv's, or a better one
            # some run of this report found (then every regret is measured against that run).
            sign = -1 if objs[0][1] == "max" else 1
            found = [np.nanmin(F[:, 0]) for F, _ in runs.values() if np.isfinite(F[:, 0]).any()]
            if found and min(found) < sign * ref[prob]:
                ref[prob] = sign * min(found)
                improved.add(prob)
        for name, seed in keys:
            F, wall = runs[(name, seed)]
            if multi:
                hv = hv_curve(F, lo, hi, checkpoints) / full
                curve = 1 - hv
                final = curve[-1]
                hit = next((c for c, h in zip(checkpoints, hv) if h >= 0.99), math.inf)
                row = {"best": "", "hv_ratio": hv[-1]}
            else:
                r0 = sign * ref[prob]
                b = best_so_far(F)
                reg = np.where(np.isinf(b), np.inf, (b - r0) / abs(r0))
                curve = reg[checkpoints - 1]
                final = reg[-1]
                idx = np.nonzero(reg <= 0.01)[0]
                hit = int(idx[0]) + 1 if len(idx) else math.inf
                row = {"best": sign * b[-1] if np.isfinite(b[-1]) else "", "hv_ratio": ""}
            curves[(prob, name, seed)] = curve
            rows.append({"problem": prob, "optimizer": name, "seed": seed, "budget": B,
                         "regret": final, "evals_to_1pct": hit, **row,
                         "feasible_evals": int((~np.isnan(F[:, 0])).sum()), "wall_s": round(wall, 2)})
    if not rows:
        print(f"no cached runs at budget {B} in {cache}")
        return
    suffix = "" if B == 1000 else f"_{B}"
    fields = ["problem", "optimizer", "seed", "budget", "regret", "evals_to_1pct", "best", "hv_ratio", "feasible_evals", "wall_s"]
    with open(out / f"suite{suffix}.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    write_md(out, suffix, rows, B, probs, ref, improved)
    plot(out, suffix, rows, curves, checkpoints, probs)
    print(f"wrote {out / f'suite{suffix}.md'}, .csv and {len(probs)} plots")


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


def write_md(out, suffix, rows, B, probs, ref, improved=()):
    seeds = sorted({r["seed"] for r in rows})
    md = ["# DSE suite benchmark", "",
          f"Budget {B:,} evaluations per run; seeds {seeds[0]}-{seeds[-1]} (the `seeds` column: runs per optimizer). "
          "Regenerate with `python python/bench/dse_suite.py --out results/dse_bench "
          f"--seeds {len(seeds)}{'' if B == 1000 else f' --budget {B}'}` (runs cached under results/dse_bench/runs/ "
          "are reused; `--report-only` rebuilds this report from them; references: suite_reference.md). "
          "Regret is relative to the reference (median over seeds); for "
          "hetero3_pareto it is 1 - hypervolume / hypervolume of the union of every run's front. "
          "Evaluations to within 1%: median over seeds (inf: most seeds never got there). "
          "sb3-ppo: Stable-Baselines3 PPO through `gymnasium.make_vec(\"archsim/Dse-v0\", vectorization_mode=\"vector_entry_point\")` "
          "(settings in python/bench/dse_suite.py); PPO and CMA-ES are single-objective and not run on hetero3_pareto.", ""]
    summary = ["## Summary", ""]
    for prob in probs:
        pr = [r for r in rows if r["problem"] == prob]
        names = list(dict.fromkeys(r["optimizer"] for r in pr))
        multi = pr[0]["hv_ratio"] != ""
        md += [f"## {prob}", "",
               ("reference: union front of all runs" if multi else
                f"reference: {ref[prob]:.6g}" + (" (found by a run of this report: better than suite_reference.csv's)"
                                                 if prob in improved else "")), "",
               "| optimizer | seeds | median regret | IQR | median evals to within 1% | " + ("median HV ratio" if multi else "median best") + " | median wall s |",
               "|---|---|---|---|---|---|---|"]
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
            md.append(f"| {n} | {len(rs)} | {pct(stats[n])} | {pct(q1)} - {pct(q3)} | {'inf' if math.isinf(hit) else f'{hit:.0f}'} | {col_text} | {med([r['wall_s'] for r in rs]):.2f} |")
        md.append("")
        ours = {n: v for n, v in stats.items() if n.startswith("archsim-")}
        if not ours:
            summary.append(f"* **{prob}**: no archsim agent's runs are cached yet.")
            continue
        best = min(ours, key=ours.get)
        parts = []
        for other in ("optuna-tpe", "optuna-cmaes", "pymoo-nsga2", "sb3-ppo"):
            if other not in stats:
                continue
            a, b = ours[best], stats[other]
            if a < b:
                parts.append(f"beats {other} ({pct(b)})")
            elif a == b:
                parts.append(f"ties {other} ({pct(b)})")
            elif math.isinf(a):
                parts.append(f"loses to {other} ({pct(b)}; most archsim seeds found no feasible design)")
            else:
                parts.append(f"loses to {other} ({pct(b)}): worse by {a - b:.4%} regret")
        summary.append(f"* **{prob}**: best archsim agent {best} (median regret {pct(ours[best])}) " + "; ".join(parts) + ".")
    (out / f"suite{suffix}.md").write_text("\n".join(md[:4] + summary + [""] + md[4:]) + "\n")


def plot(out, suffix, rows, curves, checkpoints, probs):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for prob in probs:
        names = list(dict.fromkeys(r["optimizer"] for r in rows if r["problem"] == prob))
        multi = any(r["hv_ratio"] != "" for r in rows if r["problem"] == prob)
        fig, ax = plt.subplots(figsize=(9, 5))
        counts = set()
        for n in names:
            C = np.asarray([c for (p, m, _), c in curves.items() if p == prob and m == n], dtype=float)
            counts.add(len(C))
            # A seed without a feasible design yet is inf (ranks last); what is inf is not drawn.
            C = np.where(np.isnan(C), np.inf, C)
            m = np.median(C, axis=0)
            q1, q3 = quartiles(C, axis=0)
            m, q1, q3 = (np.where(np.isinf(x), np.nan, x) for x in (m, q1, q3))
            ls = "-" if n.startswith("archsim") else "--"
            (line,) = ax.plot(checkpoints, m, ls, label=n)
            ax.fill_between(checkpoints, q1, q3, color=line.get_color(), alpha=0.15)
        ax.set_xscale("log")
        ax.set_xlim(1, checkpoints[-1])  # set even when nothing is drawn (no feasible design yet)
        ax.set_yscale("symlog", linthresh=1e-3)
        ax.set_ylim(bottom=0)  # regret is never negative
        ax.set_xlabel("evaluations")
        ax.set_ylabel("1 - hypervolume ratio" if multi else "regret (relative to reference)")
        seeds = f"{min(counts)}" if len(counts) == 1 else f"{min(counts)}-{max(counts)}"
        ax.set_title(f"{prob}: best so far, median and IQR over {seeds} seeds")
        ax.axhline(0.01, color="grey", lw=0.8, ls=":")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        fig.savefig(out / f"suite{suffix}_{prob}.png", dpi=110, bbox_inches="tight")
        plt.close(fig)


if __name__ == "__main__":
    main()
