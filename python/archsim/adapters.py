"""Thin adapters for outside optimizers over a search config's problem (the ``bench`` extra:
``pip install "./python[bench]"`` brings Optuna and pymoo).

Both evaluate through :func:`archsim.evaluate_batch`: designs are index rows into the
``search.space`` dimensions, the objectives are metrics by name (minimized; a metric named in
``maximize``, such as a co-design problem's ``accuracy``, is negated so that smaller is still
better), and the config's ``search.constraints`` decide feasibility.

>>> import optuna, archsim.adapters as ad                                      # doctest: +SKIP
>>> study = optuna.create_study()                                              # doctest: +SKIP
>>> study.optimize(ad.optuna_objective("configs/search/resnet18_bo.yaml"), n_trials=50)  # doctest: +SKIP

>>> from pymoo.optimize import minimize                                        # doctest: +SKIP
>>> from pymoo.algorithms.moo.nsga2 import NSGA2                               # doctest: +SKIP
>>> p = ad.PymooProblem("configs/search/gemm_nsga2.yaml", ["latency_s", "area_mm2"])  # doctest: +SKIP
>>> res = minimize(p, NSGA2(pop_size=24), ("n_gen", 10), seed=0)               # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from . import ConfigLike, evaluate_batch

#: What an infeasible design scores for a minimizer that needs a finite number.
INFEASIBLE = 1e30


def _space(config: ConfigLike, overrides: Sequence[str]) -> tuple[list, np.ndarray]:
    empty = evaluate_batch(config, [], overrides=overrides)
    return empty["paths"], empty["sizes"]


def _signs(objectives: Sequence[str], maximize: Sequence[str]) -> list:
    unknown = [m for m in maximize if m not in objectives]
    if unknown:
        raise ValueError(f"maximize names {unknown}, which are not among the objectives {list(objectives)}")
    return [-1.0 if m in maximize else 1.0 for m in objectives]


def optuna_objective(
    config: ConfigLike,
    objectives: Sequence[str] = ("latency_s",),
    overrides: Sequence[str] = (),
    maximize: Sequence[str] = (),
) -> Callable[[Any], Any]:
    """An Optuna objective: each ``search.space`` dimension is an integer parameter (its index
    into the domain, named by its config path); the trial's value is each named metric (one
    value for one objective, a tuple for several: create the study with as many
    ``directions``, all ``minimize``: a metric in ``maximize`` comes negated). An infeasible
    design scores ``INFEASIBLE`` and keeps its reason in the trial's user attribute
    ``reason``."""
    paths, sizes = _space(config, overrides)
    names = list(objectives)
    signs = _signs(names, maximize)

    def objective(trial: Any) -> Any:
        row = [trial.suggest_int(p, 0, int(n) - 1) for p, n in zip(paths, sizes)]
        cols = evaluate_batch(config, np.asarray([row], dtype=np.int64), overrides=overrides)
        ok = bool(cols["feasible"][0])
        if not ok:
            trial.set_user_attr("reason", str(cols["reason"][0]))
        vals = [s * float(cols[m][0]) if ok else INFEASIBLE for m, s in zip(names, signs)]
        return vals[0] if len(vals) == 1 else tuple(vals)

    return objective


def _pymoo_problem_class():
    from pymoo.core.problem import Problem

    class PymooProblem(Problem):
        """A pymoo ``Problem`` over a search config: integer variables (one index per
        ``search.space`` dimension), the named metrics as objectives, and one inequality
        constraint that is satisfied (≤ 0) exactly when the design is feasible. A population is
        evaluated in one :func:`archsim.evaluate_batch` call (parallel, without the GIL).
        Metrics named in ``maximize`` are negated."""

        def __init__(
            self,
            config: ConfigLike,
            objectives: Sequence[str] = ("latency_s",),
            overrides: Sequence[str] = (),
            maximize: Sequence[str] = (),
        ):
            self.config, self.names, self.overrides = config, list(objectives), list(overrides)
            self.signs = _signs(self.names, maximize)
            self.paths, sizes = _space(config, overrides)
            super().__init__(n_var=len(sizes), n_obj=len(self.names), n_ieq_constr=1, xl=0, xu=sizes - 1, vtype=int)

        def _evaluate(self, x: np.ndarray, out: dict, *args: Any, **kwargs: Any) -> None:
            rows = np.clip(np.rint(x), self.xl, self.xu).astype(np.int64)
            cols = evaluate_batch(self.config, rows, overrides=self.overrides)
            ok = cols["feasible"]
            out["F"] = np.column_stack([np.where(ok, s * cols[m], INFEASIBLE) for m, s in zip(self.names, self.signs)])
            out["G"] = np.where(ok, -1.0, 1.0)[:, None]

    return PymooProblem


def pymoo_nsga2(pop_size: int) -> Any:
    """pymoo's NSGA-II set up for archsim's integer index genes: integer random sampling, SBX
    (p 0.9, eta 15) and polynomial mutation (eta 20) rounded back to integers, duplicates
    eliminated — the configuration the DSE benchmarks compare against."""
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.repair.rounding import RoundingRepair
    from pymoo.operators.sampling.rnd import IntegerRandomSampling

    return NSGA2(
        pop_size=pop_size,
        sampling=IntegerRandomSampling(),
        crossover=SBX(prob=0.9, eta=15, vtype=float, repair=RoundingRepair()),
        mutation=PM(eta=20, vtype=float, repair=RoundingRepair()),
        eliminate_duplicates=True,
    )


def __getattr__(name: str) -> Any:
    # pymoo is imported only when its adapter is asked for.
    if name == "PymooProblem":
        return _pymoo_problem_class()
    raise AttributeError(name)
