"""Thin adapters for outside optimizers over a search config's problem (the ``bench`` extra:
``pip install "./python[bench]"`` brings Optuna and pymoo), and :func:`sb3_vec_env`, which
hands a gymnasium vector env (``gymnasium.make_vec(..., vectorization_mode="vector_entry_point")``)
to Stable-Baselines3 as its ``VecEnv``.

The Optuna and pymoo adapters evaluate through :func:`archsim.evaluate_batch`: designs are index rows into the
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


def _sb3_vec_env_class():
    from stable_baselines3.common.vec_env.base_vec_env import VecEnv

    class SB3VecEnv(VecEnv):
        """A ``gymnasium.vector.VectorEnv`` (e.g. ``gymnasium.make_vec("archsim/Dse-v0", ...,
        vectorization_mode="vector_entry_point")``) as a Stable-Baselines3 ``VecEnv``.

        SB3 expects its own API: ``step`` returns ``(obs, rewards, dones, infos)`` with one info
        dict per environment, and an environment that is done has already been reset (its
        last observation in ``info["terminal_observation"]``, ``info["TimeLimit.truncated"]``
        set when it ended by truncation). Gymnasium's vector infos (a dict of arrays with
        ``_``-prefixed masks) are split into those dicts. archsim's vector env resets on the
        step after an episode ends (``AutoresetMode.NEXT_STEP``), which would spend one step of
        every ended environment evaluating nothing; archsim's design episodes end together (by
        truncation after ``episode_len`` steps), so when every environment is done the whole
        vector env is reset at once. An episode ending in some environments but not in others
        (a ``target`` reward met early) under next-step autoreset raises ``RuntimeError``.
        """

        def __init__(self, env: Any):
            self.env = env
            super().__init__(env.num_envs, env.single_observation_space, env.single_action_space)
            self._actions = None
            mode = env.metadata.get("autoreset_mode")
            self._same_step = getattr(mode, "name", str(mode)) == "SAME_STEP"

        def reset(self) -> np.ndarray:
            seeds = list(self._seeds)
            seed = None if all(s is None for s in seeds) else seeds
            if seed is not None and seeds == [seeds[0] + i for i in range(self.num_envs)]:
                seed = seeds[0]  # VecEnv.seed(s) gives s, s+1, ...: as gymnasium's seed=s
            opts = self._options[0] if self._options and self._options[0] else None
            obs, _ = self.env.reset(seed=seed, options=opts)
            self._reset_seeds()
            self._reset_options()
            return obs

        def step_async(self, actions: np.ndarray) -> None:
            self._actions = actions

        def _split(self, infos: dict) -> list:
            out = [{} for _ in range(self.num_envs)]
            for k, v in infos.items():
                if k.startswith("_"):
                    continue
                mask = infos.get("_" + k)
                for i in range(self.num_envs):
                    if mask is None or mask[i]:
                        out[i][k] = v[i]
            return out

        def step_wait(self):
            obs, rew, term, trunc, infos = self.env.step(self._actions)
            dones = np.logical_or(term, trunc)
            info = self._split(infos)
            if dones.any():
                if self._same_step:
                    final = infos.get("final_obs")
                    for i in np.flatnonzero(dones):
                        info[i]["terminal_observation"] = final[i] if final is not None else obs[i]
                        info[i]["TimeLimit.truncated"] = bool(trunc[i] and not term[i])
                elif dones.all():
                    for i in range(self.num_envs):
                        info[i]["terminal_observation"] = obs[i]
                        info[i]["TimeLimit.truncated"] = bool(trunc[i] and not term[i])
                    obs, _ = self.env.reset()
                else:
                    raise RuntimeError(
                        "episodes ended in some environments but not in others under next-step autoreset; "
                        "SB3VecEnv resets only when every environment is done"
                    )
            return obs, np.asarray(rew, dtype=np.float32), dones, info

        def close(self) -> None:
            self.env.close()

        def get_attr(self, attr_name: str, indices: Any = None) -> list:
            return [getattr(self.env, attr_name)] * len(self._get_indices(indices))

        def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
            setattr(self.env, attr_name, value)

        def env_method(self, method_name: str, *args: Any, indices: Any = None, **kwargs: Any) -> list:
            return [getattr(self.env, method_name)(*args, **kwargs) for _ in self._get_indices(indices)]

        def env_is_wrapped(self, wrapper_class: Any, indices: Any = None) -> list:
            return [False] * len(self._get_indices(indices))

    return SB3VecEnv


def sb3_vec_env(env: Any) -> Any:
    """A gymnasium vector env as a Stable-Baselines3 ``VecEnv`` (needs ``stable-baselines3``):

    >>> import gymnasium, archsim                                                  # doctest: +SKIP
    >>> from stable_baselines3 import PPO                                         # doctest: +SKIP
    >>> venv = gymnasium.make_vec("archsim/SystolicGemm-v0", num_envs=8,
    ...                           vectorization_mode="vector_entry_point")       # doctest: +SKIP
    >>> PPO("MlpPolicy", archsim.adapters.sb3_vec_env(venv), n_steps=16).learn(1024)  # doctest: +SKIP

    See the class docstring of the returned object for how episodes and infos are mapped."""
    return _sb3_vec_env_class()(env)


def __getattr__(name: str) -> Any:
    # pymoo is imported only when its adapter is asked for.
    if name == "PymooProblem":
        return _pymoo_problem_class()
    if name == "SB3VecEnv":
        return _sb3_vec_env_class()
    raise AttributeError(name)
