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

from ._archsim import read_config, sweep_text


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
    text = read_config(str(path))  # a regular file within the config cap; never a FIFO
    return text, str(path), str(path.resolve().parent)


def default_out(config: PathLike) -> Path:
    """``out/<config stem>``, the folder ``archsim sweep`` writes to without ``--out``."""
    return Path("out") / Path(config).stem


def sweep(config: PathLike, out: Optional[PathLike] = None, *, fresh: bool = False) -> SweepResult:
    """Run (or resume) the sweep of a config file in this process, as ``archsim sweep CONFIG
    --out OUT`` (``out`` defaults to ``out/<config stem>``; ``fresh=True`` as ``--fresh``).

    Resuming needs the config the journal was started with: a changed config raises
    ``ConfigError`` saying what changed, unless ``fresh`` (the old journal is kept aside as
    ``journal.jsonl.N``). The folder is locked while the sweep runs.

    Raises ``ConfigError`` (a ``ValueError``) for a bad config or ``sweep:`` section.
    """
    text, source, base = sweep_source(config)
    out = Path(out) if out is not None else default_out(config)
    got: dict[str, Any] = json.loads(sweep_text(text, source, base, str(out), fresh))
    return SweepResult(entries=got["entries"], files=got["files"], workers=[None] * len(got["entries"]))
