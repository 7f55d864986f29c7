"""archsim.simulate: the Python face of `archsim run`."""

from pathlib import Path

import pytest

import archsim

ROOT = Path(__file__).resolve().parents[2]

BASE = {
    "workload": {"model": "resnet18", "batch": 1, "dtype": "int8"},
    "accelerator": {"kind": "systolic", "rows": 32, "cols": 32, "dataflow": "ws"},
}


def test_simulate_dict_returns_the_report():
    r = archsim.simulate(BASE)
    assert r["workload"] == "resnet18"
    assert r["total_cycles"] > 0
    assert 0 < r["utilization"] <= 1
    assert sum(op["macs"] for op in r["ops"]) == r["macs"] == 1_814_073_344
    for op in r["ops"]:
        assert op["cycles"] == op["compute_cycles"] + op["stall_cycles"]


def test_simulate_yaml_path_matches_the_cli_quickstart():
    r = archsim.simulate(ROOT / "configs" / "quickstart.yaml")
    assert r["accelerator"] == "systolic 128x128 os"
    assert r["ops"][0]["name"] == "conv1"


def test_same_config_same_report():
    assert archsim.simulate(BASE) == archsim.simulate(BASE)


def test_overrides_and_bandwidth_stalls():
    free = archsim.simulate(BASE)
    slow = archsim.simulate(BASE, overrides=["accelerator.dram_bw_bytes_per_cycle=0.5"])
    assert slow["total_cycles"] > free["total_cycles"]
    assert slow["stall_cycles"] > 0


@pytest.mark.parametrize(
    "bad, match",
    [
        ({**BASE, "accelerator": {**BASE["accelerator"], "rows": 0}}, "accelerator.rows: must be at least 1"),
        ({**BASE, "accelerator": {**BASE["accelerator"], "dataflow": "xs"}}, "unknown variant `xs`"),
        ({**BASE, "accelerator": {**BASE["accelerator"], "colour": 1}}, "accelerator.colour: unknown field"),
        ({**BASE, "workload": {"model": "resnet19"}}, "unknown model `resnet19`"),
        ({"workload": {"model": "resnet18"}}, "missing field `accelerator`"),
        ({**BASE, "accelerator": {**BASE["accelerator"], "rows": "many"}}, "invalid type"),
        # Sizes that would overflow the cost model are refused up front, naming the key.
        ({**BASE, "workload": {"model": "resnet18", "batch": 2**40}}, "workload.batch"),
        ({**BASE, "workload": {"gemm": {"m": 2**62, "n": 8, "k": 8}}}, "workload.gemm"),
    ],
)
def test_bad_input_raises_config_error(bad, match):
    with pytest.raises(archsim.ConfigError, match=match):
        archsim.simulate(bad)
    assert issubclass(archsim.ConfigError, ValueError)


def test_garbage_raises_never_crashes(tmp_path):
    with pytest.raises(TypeError):
        archsim.simulate(42)  # type: ignore[arg-type]
    with pytest.raises(archsim.ConfigError):
        archsim.simulate({"workload": object()})
    with pytest.raises(archsim.ConfigError, match="cannot read config"):
        archsim.simulate(tmp_path / "missing.yaml")
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("workload: {model: [\n")
    with pytest.raises(archsim.ConfigError, match="bad.yaml:"):
        archsim.simulate(bad_yaml)
    with pytest.raises(TypeError):
        archsim.simulate(BASE, overrides="accelerator.rows=4")


def test_models_and_version():
    assert "resnet18" in archsim.models()
    assert archsim.__version__


def test_search_runs_the_rust_agents():
    cfg = ROOT / "configs" / "search" / "resnet18_bo.yaml"
    r = archsim.search(cfg, overrides=["search.budget=16", "search.agent={kind: ga}"])
    assert r["agent"] == "ga" and len(r["history"]) == 16
    assert r["best"]["metrics"]["area_mm2"] <= 60
    assert r == archsim.search(cfg, overrides=["search.budget=16", "search.agent={kind: ga}"])
    with pytest.raises(archsim.ConfigError, match="search"):
        archsim.search(BASE)


def test_run_dispatches_as_the_cli_does(tmp_path):
    # A plain config: the same report as simulate.
    assert archsim.run(BASE) == archsim.simulate(BASE)
    # A search config: the search's result, and its files with out=.
    cfg = ROOT / "configs" / "search" / "resnet18_bo.yaml"
    over = ["search.budget=8", "search.agent={kind: random}"]
    r = archsim.run(cfg, overrides=over, out=tmp_path / "search")
    assert r == archsim.search(cfg, overrides=over)
    assert (tmp_path / "search" / "history.csv").exists()
    # simulate() on a search config points at run().
    with pytest.raises(archsim.ConfigError, match=r"search config.*archsim\.run"):
        archsim.simulate(cfg)
    # A co-design config on the sample oracle.
    nasaic = ROOT / "configs" / "repro" / "nasaic.yaml"
    oracle = ROOT / "tests" / "data" / "nas" / "nb201_sample.csv"
    co = archsim.run(nasaic, overrides=[f"codesign.oracle={oracle}", "codesign.budget=20"])
    assert set(co) == {"co_exploration", "successive"}
    assert co["successive"]["eval"]["accuracy"][0] == 93.71
    # A study (DS3 scheduler latency vs rate), files into out=.
    ds3 = ROOT / "configs" / "repro" / "ds3_latency_vs_rate.yaml"
    rows = archsim.run(ds3, overrides=["study.seeds=[0]", "study.rates_per_ms=[2]"], out=tmp_path / "ds3")
    assert rows and {"scheduler", "rate_per_ms", "avg_job_latency_us"} <= set(rows[0])
    assert any(p.suffix == ".csv" for p in (tmp_path / "ds3").iterdir())
    # A sweep file is archsim.sweep's.
    with pytest.raises(archsim.ConfigError, match=r"archsim\.sweep"):
        archsim.run(ROOT / "configs" / "sweep" / "systolic_grid.yaml")
    with pytest.raises(TypeError):
        archsim.run(BASE, out=3)


def test_evaluate_batch_columns_match_single_runs():
    import numpy as np

    cfg = ROOT / "configs" / "search" / "resnet18_bo.yaml"
    empty = archsim.evaluate_batch(cfg, [])
    paths = empty["paths"]
    assert paths and all(isinstance(p, str) for p in paths)
    assert empty["sizes"].tolist() == [6, 6, 3, 5, 5]
    idx = np.array([[0] * len(paths), [1] * len(paths), [2] * len(paths)], dtype=np.int64)
    cols = archsim.evaluate_batch(cfg, idx)
    assert cols["latency_s"].shape == (3,) and cols["feasible"].dtype == bool
    # The same designs as dicts of values give the same columns.
    hist = archsim.search(cfg, overrides=["search.budget=4", "search.agent={kind: random}"])["history"]
    dicts = [h["point"] for h in hist]
    by_dict = archsim.evaluate_batch(cfg, dicts)
    for h, lat, ok in zip(hist, by_dict["latency_s"], by_dict["feasible"]):
        assert ok == h["feasible"]
        if h["metrics"]:
            assert lat == h["metrics"]["latency_s"]
    # A design outside the constraints keeps its metrics and says why it is infeasible.
    tight = archsim.evaluate_batch(cfg, idx, overrides=["search.constraints=[{metric: area_mm2, max: 0.001}]"])
    assert not tight["feasible"].any()
    assert all("violates area_mm2 <= 0.001" in r for r in tight["reason"])
    assert np.isfinite(tight["latency_s"]).all()
    # A design that cannot be built is an infeasible row with its reason.
    odd = archsim.evaluate_batch(cfg, [{**dicts[0], "accelerator.rows": 8, "accelerator.cols": 8}])
    assert odd["feasible"].shape == (1,)
    # Malformed batches raise, naming the point and the key.
    with pytest.raises(archsim.ConfigError, match=r"point 0: index 1000000 of `accelerator.rows` is outside 0..5"):
        archsim.evaluate_batch(cfg, np.array([[10**6] * len(paths)]))
    with pytest.raises(archsim.ConfigError, match=r"point 1 has 2 indices"):
        archsim.evaluate_batch(cfg, [[0] * len(paths), [0, 0]])
    with pytest.raises(archsim.ConfigError, match=r"point 0: `accelerator.rows` = 48 is outside its domain \(pow2 \[8, 256\]\)"):
        archsim.evaluate_batch(cfg, [{**dicts[0], "accelerator.rows": 48}])
    with pytest.raises(archsim.ConfigError, match=r"point 0: `accelerator.rows` is nan"):
        archsim.evaluate_batch(cfg, [{**dicts[0], "accelerator.rows": float("nan")}])
    # Malformed batches raise.
    with pytest.raises(archsim.ConfigError, match="not a dimension of search.space"):
        archsim.evaluate_batch(cfg, [{"accelerator.rowz": 8}])
    with pytest.raises(archsim.ConfigError, match="integers of shape"):
        archsim.evaluate_batch(cfg, np.zeros((2, len(paths))))
    with pytest.raises(TypeError):
        archsim.evaluate_batch(cfg, 42)
    with pytest.raises(archsim.ConfigError, match="search"):
        archsim.evaluate_batch(BASE, [])


def test_optuna_and_pymoo_adapters_drive_a_search_problem():
    optuna = pytest.importorskip("optuna")
    pytest.importorskip("pymoo")
    import numpy as np
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.optimize import minimize

    from archsim import adapters

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cfg = ROOT / "configs" / "search" / "resnet18_bo.yaml"
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(adapters.optuna_objective(cfg), n_trials=12)
    best = study.best_trial
    assert best.value < adapters.INFEASIBLE
    # The best trial's indices evaluate to the same latency through evaluate_batch.
    paths = archsim.evaluate_batch(cfg, [])["paths"]
    row = np.array([[best.params[p] for p in paths]])
    assert archsim.evaluate_batch(cfg, row)["latency_s"][0] == best.value

    gemm = ROOT / "configs" / "search" / "gemm_nsga2.yaml"
    problem = adapters.PymooProblem(gemm, ["latency_s", "area_mm2"])
    res = minimize(problem, NSGA2(pop_size=12), ("n_gen", 3), seed=0, verbose=False)
    assert res.F is not None and res.F.shape[1] == 2 and (res.F < adapters.INFEASIBLE).all()
