"""Sweeps from Python: the result type and the local (in-process) sweep.

``archsim.sweep`` runs a sweep config exactly as ``archsim sweep CONFIG --out DIR`` does, on every
core of this machine; ``archsim.ray.sweep`` spreads the same points over a Ray cluster. Both
journal every finished point to ``DIR/journal.jsonl`` (in the same format, so either resumes the
other's journal) and write ``DIR/results.csv`` and ``DIR/results.parquet``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from ._archsim import ConfigError, sweep_text


@dataclass
class SweepResult:
    """What a sweep gives back.

    ``entries``: one dict per point, in point order (``index``, ``point``, ``metrics``, and
    ``error`` for a failed point, ``best_cost``/``best_eval``/``trace`` for a sweep of searches),
    as in ``journal.jsonl``. ``files``: the paths written. ``workers``: for a Ray sweep, per entry,
    the Ray worker that evaluated it (``pid``, ``node_id``, ``worker_id``), or ``None`` for an
    entry read back from the journal of an earlier run (always ``None`` for a local sweep).
    """

    entries: list = field(default_factory=list)
    files: list = field(default_factory=list)
    workers: list = field(default_factory=list)


PathLike = Union[str, "os.PathLike[str]"]


def sweep_source(config: PathLike) -> tuple[str, str, str]:
    """Text, name and absolute base folder of a sweep config file."""
    if not isinstance(config, (str, os.PathLike)):
        raise TypeError(f"config must be the path of a sweep config file, not {type(config).__name__}")
    path = Path(config)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config: {e.strerror or e}") from None
    return text, str(path), str(path.resolve().parent)


def default_out(config: PathLike) -> Path:
    """``out/<config stem>``, the folder ``archsim sweep`` writes to without ``--out``."""
    return Path("out") / Path(config).stem


def sweep(config: PathLike, out: Optional[PathLike] = None) -> SweepResult:
    """Run (or resume) the sweep of a config file in this process, as ``archsim sweep CONFIG
    --out OUT`` (``out`` defaults to ``out/<config stem>``).

    Raises ``ConfigError`` (a ``ValueError``) for a bad config or ``sweep:`` section.
    """
    text, source, base = sweep_source(config)
    out = Path(out) if out is not None else default_out(config)
    got: dict[str, Any] = json.loads(sweep_text(text, source, base, str(out)))
    return SweepResult(entries=got["entries"], files=got["files"], workers=[None] * len(got["entries"]))
