"""python/bench/dse_suite.py: runs are cached one file each, a rerun skips them, and the report
is built from the cache alone."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "dse_suite.py"


@pytest.fixture(scope="module")
def suite():
    spec = importlib.util.spec_from_file_location("dse_suite", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run(suite, monkeypatch, capsys, *args):
    monkeypatch.setattr(sys, "argv", ["dse_suite.py", *args])
    suite.main()
    return capsys.readouterr().out


def test_runs_are_cached_resumed_and_reported(suite, tmp_path, monkeypatch, capsys):
    common = ["--out", str(tmp_path), "--budget", "24", "--seeds", "2", "--problems", "resnet50_systolic",
              "--only", "archsim-random"]
    out = run(suite, monkeypatch, capsys, *common, "--no-report")
    assert "2 runs to do" in out
    f = suite.run_file(tmp_path / "runs", "resnet50_systolic", "archsim-random", 24, 1)
    with np.load(f) as z:
        assert z["F"].shape == (24, 1) and float(z["wall_s"]) > 0
    # A rerun skips what is cached (a killed benchmark resumes).
    assert "0 runs to do" in run(suite, monkeypatch, capsys, *common, "--no-report")
    # The same seed gives the same run.
    F, _ = suite.load_runs(tmp_path / "runs", "resnet50_systolic", 24)[("archsim-random", 1)]
    np.testing.assert_array_equal(F, suite.run_archsim(suite.SUITE / "resnet50_systolic.yaml",
                                                       suite.objectives(suite.SUITE / "resnet50_systolic.yaml"),
                                                       suite.ARCHSIM_SINGLE["random"], 24, 1))
    pytest.importorskip("matplotlib")
    run(suite, monkeypatch, capsys, *common, "--report-only")
    md = (tmp_path / "suite_24.md").read_text()
    assert "| archsim-random | 2 |" in md
    assert (tmp_path / "suite_24_resnet50_systolic.png").exists()
