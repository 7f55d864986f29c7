"""Sweeps from Python: archsim.sweep (in process, as `archsim sweep`) and archsim.ray.sweep
(the same points spread over a Ray cluster), their tables (CSV and Parquet) and journals."""

import csv
import json
import sys
import time
from pathlib import Path

import pytest

import archsim

ROOT = Path(__file__).resolve().parents[2]
GRID = ROOT / "configs" / "sweep" / "systolic_grid.yaml"

RAY_SKIP = (
    "Ray cannot be imported here (Python {}.{}; `pip install ray` found no wheel for this "
    "interpreter or platform), so the Ray sweep is not tested".format(*sys.version_info[:2])
)


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def nb201_config(tmp_path, cells):
    text = (ROOT / "configs" / "sweep" / "nb201_presets.yaml").read_text()
    assert "cells: 5000" in text
    cfg = tmp_path / "nb201.yaml"
    cfg.write_text(text.replace("cells: 5000", f"cells: {cells}"))
    return cfg


@pytest.fixture(scope="module")
def local_grid(tmp_path_factory):
    out = tmp_path_factory.mktemp("local_grid")
    return archsim.sweep(GRID, out), out


@pytest.fixture(scope="module")
def ray_cluster():
    try:
        import ray
    except ImportError:
        pytest.skip(RAY_SKIP)
    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    print(f"ray.init: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    yield ray
    ray.shutdown()


def test_local_sweep_writes_the_cli_tables(local_grid):
    r, out = local_grid
    assert len(r.entries) == 96 and [e["index"] for e in r.entries] == list(range(96))
    assert all(e["error"] is None if "error" in e else True for e in r.entries)
    assert {Path(f).name for f in r.files} >= {"journal.jsonl", "results.csv", "results.parquet"}
    header, rows = read_csv(out / "results.csv")
    assert header[:5] == ["index", "accelerator.dataflow", "accelerator.rows", "accelerator.cols",
                          "accelerator.sram_kib.ifmap"]
    assert len(rows) == 96
    for e, row in zip(r.entries, rows):
        assert float(row[header.index("latency_s")]) == e["metrics"]["latency_s"] > 0
    # Rerunning resumes: every point is already in the journal, the table is unchanged.
    again = archsim.sweep(GRID, out)
    assert again.entries == r.entries
    assert len((out / "journal.jsonl").read_text().splitlines()) == 1 + 96


def test_parquet_table_equals_the_csv(local_grid):
    pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow is not installed")
    _, out = local_grid
    header, rows = read_csv(out / "results.csv")
    table = pq.read_table(out / "results.parquet")
    assert table.column_names == header
    assert table.num_rows == len(rows)
    assert str(table.schema.field("index").type) == "int64"
    assert str(table.schema.field("accelerator.rows").type) == "int64"
    assert str(table.schema.field("accelerator.dataflow").type) == "string"
    assert str(table.schema.field("latency_s").type) == "double"
    for c, name in enumerate(header):
        for got, want in zip(table.column(name).to_pylist(), (r[c] for r in rows)):
            if got is None:
                assert want == ""
            elif isinstance(got, float):
                assert got == float(want)
            else:
                assert str(got) == want


def test_nb201_generator_sweeps_cells_on_both_presets(tmp_path):
    r = archsim.sweep(nb201_config(tmp_path, 3), tmp_path / "out")
    assert len(r.entries) == 6
    models = [e["point"]["workload.model"] for e in r.entries]
    assert models[0::2] == models[1::2] and len(set(models)) == 3
    assert all(m.startswith("nb201:cifar10:|") for m in models)
    assert [e["point"]["accelerator.preset"] for e in r.entries] == ["eyeriss", "nvdla_small"] * 3
    assert all(e["metrics"]["latency_s"] > 0 for e in r.entries)


def test_bad_sweep_configs_raise_config_error(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(GRID.read_text().replace("samples: 2", "samples: 0"))
    with pytest.raises(archsim.ConfigError, match="sweep.samples: must be at least 1"):
        archsim.sweep(cfg, tmp_path / "out")
    cfg.write_text(GRID.read_text().replace("accelerator.rows:", "accelerator.rowz:"))
    with pytest.raises(archsim.ConfigError, match="rowz"):
        archsim.sweep(cfg, tmp_path / "out")
    with pytest.raises(archsim.ConfigError, match="cannot read config"):
        archsim.sweep(tmp_path / "missing.yaml", tmp_path / "out")
    with pytest.raises(TypeError):
        archsim.sweep({"sweep": {}}, tmp_path / "out")


def test_ray_sweep_needs_ray_and_says_so(tmp_path, monkeypatch):
    import archsim.ray

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails
    with pytest.raises(ImportError, match="archsim.ray.sweep needs Ray.*pip install ray"):
        archsim.ray.sweep(GRID, tmp_path / "out")
    # A bad config is reported before Ray is needed at all.
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(GRID.read_text().replace("samples: 2", "samples: 0"))
    with pytest.raises(archsim.ConfigError, match="sweep.samples"):
        archsim.ray.sweep(cfg, tmp_path / "out")
    with pytest.raises(ValueError, match="chunk_size"):
        archsim.ray.sweep(GRID, tmp_path / "out", chunk_size=0)


def test_ray_sweep_on_two_workers_equals_the_local_sweep(ray_cluster, local_grid, tmp_path):
    import archsim.ray

    local, local_out = local_grid
    t0 = time.perf_counter()
    r = archsim.ray.sweep(GRID, tmp_path / "ray", chunk_size=6)
    print(f"ray sweep of 96 points: {time.perf_counter() - t0:.2f} s", file=sys.stderr)
    assert r.entries == local.entries
    assert (tmp_path / "ray" / "results.csv").read_bytes() == (local_out / "results.csv").read_bytes()
    # Both workers of the two-CPU cluster evaluated points; every point says which.
    assert all(w is not None for w in r.workers)
    assert len({w["pid"] for w in r.workers}) == 2
    assert len({w["worker_id"] for w in r.workers}) == 2
    assert len({w["node_id"] for w in r.workers}) == 1
    # The Parquet table is the local one too.
    pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow is not installed")
    assert pq.read_table(tmp_path / "ray" / "results.parquet").equals(
        pq.read_table(local_out / "results.parquet")
    )


def test_ray_sweep_resumes_a_journal_torn_by_a_kill(ray_cluster, local_grid, tmp_path):
    import archsim.ray

    local, local_out = local_grid
    lines = (local_out / "journal.jsonl").read_text().splitlines()
    out = tmp_path / "torn"
    out.mkdir()
    # The header, 30 entries and half a line.
    (out / "journal.jsonl").write_text("\n".join(lines[:31]) + "\n" + lines[31][: len(lines[31]) // 2])
    kept = {json.loads(line)["index"] for line in lines[1:31]}
    r = archsim.ray.sweep(GRID, out)
    assert r.entries == local.entries
    assert {i for i, w in enumerate(r.workers) if w is None} == kept
    assert (out / "results.csv").read_bytes() == (local_out / "results.csv").read_bytes()
    assert len((out / "journal.jsonl").read_text().splitlines()) == 1 + 96


def test_ray_sweep_of_nb201_cells_equals_the_local_sweep(ray_cluster, tmp_path):
    import archsim.ray

    cfg = nb201_config(tmp_path, 8)
    local = archsim.sweep(cfg, tmp_path / "local")
    r = archsim.ray.sweep(cfg, tmp_path / "ray")
    assert len(r.entries) == 16 and r.entries == local.entries
    assert (tmp_path / "ray" / "results.csv").read_bytes() == (tmp_path / "local" / "results.csv").read_bytes()


FOREIGN = 'root:x:0:0:root:/root:/bin/bash\n{"index": 0, "note": "mine"}\n{"a": 1}\n{"half": '


def test_reading_a_journal_never_modifies_it(local_grid, tmp_path):
    # A file that is not a journal: refused, naming it, byte for byte as it was.
    foreign = tmp_path / "notes.jsonl"
    foreign.write_text(FOREIGN)
    with pytest.raises(archsim.SimulationError, match="notes.jsonl: not an archsim sweep journal") as e:
        archsim._archsim.sweep_read_journal(str(foreign))
    assert "root:x" not in str(e.value)
    assert foreign.read_text() == FOREIGN
    # archsim's own journal with a torn last line: the line is skipped in memory, not cut.
    _, local_out = local_grid
    lines = (local_out / "journal.jsonl").read_text().splitlines()
    torn = tmp_path / "torn.jsonl"
    text = "\n".join(lines[:11]) + "\n" + lines[11][:40]
    torn.write_text(text)
    got = archsim._archsim.sweep_read_journal(str(torn))
    # In point order; the journal holds them in the order they finished.
    assert [json.loads(x)["index"] for x in got] == sorted(json.loads(x)["index"] for x in lines[1:11])
    assert torn.read_text() == text
    # A sweep into a folder whose journal.jsonl is not a journal: refused, untouched.
    out = tmp_path / "out"
    out.mkdir()
    (out / "journal.jsonl").write_text(FOREIGN)
    with pytest.raises(archsim.SimulationError, match="not an archsim sweep journal"):
        archsim.sweep(GRID, out)
    assert (out / "journal.jsonl").read_text() == FOREIGN


def test_a_changed_config_is_refused_on_resume_and_fresh_starts_over(local_grid, tmp_path):
    _, local_out = local_grid
    out = tmp_path / "out"
    out.mkdir()
    journal = (local_out / "journal.jsonl").read_bytes()
    (out / "journal.jsonl").write_bytes(journal)
    cfg = tmp_path / "grid.yaml"
    cfg.write_text(GRID.read_text().replace("seed: 0", "seed: 1"))
    with pytest.raises(archsim.ConfigError, match=r"another config \(sweep.seed changed\).*--fresh"):
        archsim.sweep(cfg, out)
    assert (out / "journal.jsonl").read_bytes() == journal
    r = archsim.sweep(cfg, out, fresh=True)
    assert len(r.entries) == 96
    assert (out / "journal.jsonl.1").read_bytes() == journal


def test_a_locked_folder_is_refused_naming_the_holder(tmp_path):
    import os
    import socket

    out = tmp_path / "out"
    out.mkdir()
    lock = out / ".archsim.lock"
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "command": "archsim sweep x.yaml",
              "started": "2025-01-01T00:00:00Z"}
    lock.write_text(json.dumps(holder) + "\n")
    with pytest.raises(archsim.SimulationError, match=f"in use by another archsim \\(pid {os.getpid()}"):
        archsim.sweep(GRID, out)
    assert json.loads(lock.read_text()) == holder
    assert sorted(p.name for p in out.iterdir()) == [".archsim.lock"]


def test_a_fifo_or_device_as_config_is_refused_at_once(tmp_path):
    import os

    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    for path, what in [(fifo, "FIFO"), ("/dev/zero", "device")]:
        with pytest.raises(archsim.ConfigError, match=what):
            archsim.simulate(path)
        with pytest.raises(archsim.ConfigError, match=what):
            archsim.sweep(path, tmp_path / "out")


def test_a_sweep_session_journals_and_locks_as_the_cli_does(local_grid, tmp_path):
    # The driver side of archsim.ray.sweep, without Ray: the same journal, the same table.
    from archsim._archsim import SweepSession, sweep_point, sweep_points

    local, local_out = local_grid
    text, source, base = archsim._sweep.sweep_source(GRID)
    points = json.loads(sweep_points(text, source))
    out = tmp_path / "session"
    session = SweepSession(text, source, str(out))
    try:
        with pytest.raises(archsim.SimulationError, match="in use by another archsim"):
            SweepSession(text, source, str(out))
        assert session.entries() == []
        lines = [sweep_point(text, source, base, i, json.dumps(p)) for i, p in enumerate(points)]
        for line in lines:
            session.append(line)
        files = session.finish(lines)
    finally:
        session.close()
    assert (out / "results.csv").read_bytes() == (local_out / "results.csv").read_bytes()
    # The same header line, the same entries (the local sweep journals them as they finish).
    mine = (out / "journal.jsonl").read_text().splitlines()
    theirs = (local_out / "journal.jsonl").read_text().splitlines()
    assert mine[0] == theirs[0] and sorted(mine[1:]) == sorted(theirs[1:])
    assert str(out / "results.csv") in files
    assert not (out / ".archsim.lock").exists()
    # Reopened: every entry is there, in point order.
    again = SweepSession(text, source, str(out))
    assert [json.loads(x)["index"] for x in again.entries()] == list(range(96))
    again.close()
