"""Native module of archsim (private: use the names re-exported by ``archsim``)."""

from typing import Callable

import numpy as np
import numpy.typing as npt

__version__: str

class ConfigError(ValueError):
    """Invalid config, workload or design point."""

class SimulationError(RuntimeError):
    """The simulation failed."""

def simulate_text(text: str, source: str = "<config>", base_dir: str = ".", overrides: list[str] = ...) -> str:
    """Simulate a YAML/JSON config and return the report as a JSON string."""

def search_text(text: str, source: str = "<config>", base_dir: str = ".", overrides: list[str] = ...) -> str:
    """Run a search config and return the result as a JSON string."""

def serve_text(text: str, source: str = "<config>", base_dir: str = ".", overrides: list[str] = ...) -> str:
    """Run a serving config and return ``{"report": ..., "requests": {column: [...]}}`` as JSON."""

def models() -> list[str]:
    """Names of the zoo's models."""

def sweep_points(text: str, source: str = "<config>") -> str:
    """The points of a sweep config as a JSON list, in order."""

def sweep_point(text: str, source: str, base_dir: str, index: int, point: str) -> str:
    """Evaluate one sweep point (a JSON object); return its journal entry as a JSON line."""

def sweep_read_journal(path: str) -> list[str]:
    """The entries of a sweep journal as JSON lines, in point order; the file is only read (a torn
    last line is skipped; a file without archsim's journal header is refused, never modified)."""

def sweep_finish(entries: list[str], out: str) -> list[str]:
    """Write results.csv, results.parquet (and the heatmap) from journal entries; return the paths."""

def sweep_text(text: str, source: str, base_dir: str, out: str, fresh: bool = False) -> str:
    """Run or resume a whole sweep in this process; return ``{"entries", "files"}`` as JSON."""

def read_config(path: str) -> str:
    """The text of a config file, checked (a regular file of at most 16 MiB; never a FIFO)."""

class SweepSession:
    """A locked sweep folder with its journal open, for a sweep another scheduler evaluates."""

    def __init__(self, text: str, source: str, out: str, fresh: bool = False) -> None: ...
    def entries(self) -> list[str]: ...
    def journal_path(self) -> str: ...
    def append(self, line: str) -> None: ...
    def finish(self, entries: list[str]) -> list[str]: ...
    def close(self) -> None: ...

def run_text(text: str, source: str = "<config>", base_dir: str = ".", overrides: list[str] = ..., out: str | None = None) -> str:
    """Run any config (simulation, search, sweep, serving or study); return what it prints as JSON."""

def evaluate_batch_text(
    text: str,
    source: str = "<config>",
    base_dir: str = ".",
    overrides: list[str] = ...,
    points_json: str | None = None,
    indices: npt.NDArray[np.int64] | None = None,
) -> tuple[
    list[str],
    list[int],
    list[str],
    list[npt.NDArray[np.float64]],
    npt.NDArray[np.bool_],
    npt.NDArray[np.uint32],
    list[str],
]:
    """Evaluate points of a search config in parallel without the GIL: ``(paths, sizes,
    metric names, metric columns, feasible, reason index, distinct reasons)``."""

class ServingEvaluatorCore:
    """The serving evaluator behind ``archsim/Serving-v0`` (pools priced once)."""

    def __init__(self, config_json: str, base_dir: str = ".") -> None: ...
    @property
    def metrics(self) -> list[str]: ...
    def evaluate(self, config_json: str) -> tuple[list[float] | None, str | None]: ...

class DseVecCore:
    """N copies of a ``DseEnvCore`` stepped in one call, in parallel, without the GIL; distinct
    designs are evaluated once and up to ``cache_size`` of them remembered."""

    def __init__(self, core: "DseEnvCore", num_envs: int, cache_size: int = 65536) -> None: ...
    def cache_len(self) -> int: ...
    def reset(self, seeds: list[int | None]) -> list[list[float]]: ...
    def step(
        self, actions: npt.NDArray[np.int64], reset_mask: npt.NDArray[np.bool_]
    ) -> tuple[
        npt.NDArray[np.float32],
        npt.NDArray[np.float64],
        npt.NDArray[np.bool_],
        npt.NDArray[np.bool_],
        npt.NDArray[np.bool_],
        npt.NDArray[np.uint32],
        list[str],
        npt.NDArray[np.float64],
    ]: ...
    def time_steps(self, actions: list[list[int]], n: int) -> float: ...

class ActionError(ValueError):
    """An action that does not fit the action space."""

def env_presets() -> list[str]:
    """Names of the environment presets."""

def metric_names() -> list[str]:
    """Names of the metrics in an observation, in order."""

class DseEnvCore:
    """The Rust environment behind ``archsim.envs`` (one design evaluated per step)."""

    def __init__(self, text: str, base_dir: str = ".") -> None: ...
    @staticmethod
    def preset(name: str) -> "DseEnvCore": ...
    def nvec(self) -> list[int]: ...
    def param_paths(self) -> list[str]: ...
    def episode_len(self) -> int: ...
    def agents(self) -> list[tuple[str, list[int]]]: ...
    def reset(self, seed: int | None = None) -> list[float]: ...
    def step(self, action: list[int]) -> tuple[list[float], float, bool, bool, dict]: ...
    def step_agents(self, actions: list[tuple[str, list[int]]]) -> tuple[list[float], float, bool, bool, dict]: ...
    def time_steps(self, actions: list[list[int]], n: int) -> float: ...
    def action_mask(self) -> list[list[bool]]: ...

def codesign_presets() -> list[tuple[str, str]]:
    """Names and YAML texts of the co-design environment presets."""

class CoDesignEnvCore:
    """The Rust co-design environment behind ``archsim.envs.codesign``."""

    def __init__(
        self,
        text: str,
        base_dir: str = ".",
        accuracy_fn: Callable[[str, str], float] | None = None,
        archs: list[str] | None = None,
    ) -> None: ...
    def nvec(self) -> list[int]: ...
    def obs_names(self) -> list[str]: ...
    def episode_len(self) -> int: ...
    def agents(self) -> list[tuple[str, list[int]]]: ...
    def arch(self, index: int) -> str: ...
    def reset(self, seed: int | None = None) -> list[float]: ...
    def step(self, action: list[int]) -> tuple[list[float], float, bool, bool, dict]: ...
    def step_agents(self, actions: list[tuple[str, list[int]]]) -> tuple[list[float], float, bool, bool, dict]: ...
    def time_steps(self, actions: list[list[int]], n: int) -> float: ...
