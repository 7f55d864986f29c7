"""archsim.serve: the serving simulator from Python."""

import json
from pathlib import Path

import numpy as np
import pytest

import archsim

ROOT = Path(__file__).resolve().parents[2]

CONFIG = {
    "workload": {"llm": {"model": "llama2_7b"}},
    "serving": {
        "traffic": {"rate": 5.0, "requests": 300, "seed": 0,
                    "prompt_tokens": {"uniform": [100, 400]}, "output_tokens": {"fixed": 32}},
        "pools": [{"accelerator": {"kind": "roofline", "peak_tflops": {"bf16": 989.0},
                                   "mem_bw_gb_s": 3350.0, "mem_gb": 80.0},
                   "count": 2, "cost_per_hour": 4.0}],
        "scheduler": {"max_batch": 32, "max_batch_tokens": 2048},
        "slo": {"ttft_p90_s": 1.0, "tpot_p99_s": 0.1},
    },
}


def test_serve_dict_returns_metrics_and_numpy_columns():
    r = archsim.serve(CONFIG)
    m = r["metrics"]
    for k in ("ttft_s", "tpot_s", "e2e_s"):
        assert set(m[k]) >= {"mean", "p50", "p90", "p99"}
    assert m["requests"] == 300 and m["slo_attainment"] == 1.0 and m["cost_per_mtok"] > 0
    cols = r["requests"]
    assert isinstance(cols["ttft_s"], np.ndarray) and cols["ttft_s"].shape == (300,)
    assert np.all(cols["e2e_s"] >= cols["ttft_s"])
    assert cols["output_tokens"].sum() == 300 * 32


def test_serve_yaml_path_and_text_agree():
    path = ROOT / "configs" / "serving_llama7b_h100.yaml"
    a = archsim.serve(path, ["serving.traffic.requests=200", "serving.capacity=null"])
    b = archsim.serve(path.read_text(), ["serving.traffic.requests=200", "serving.capacity=null"])
    assert a["metrics"] == b["metrics"]
    assert len(a["requests"]["id"]) == 200


def test_bad_rate_names_the_key():
    bad = {**CONFIG, "serving": {**CONFIG["serving"], "traffic": {**CONFIG["serving"]["traffic"], "rate": -1}}}
    with pytest.raises(archsim.ConfigError, match="serving.traffic.rate"):
        archsim.serve(bad)


def test_serving_env_finds_fleets_and_is_deterministic():
    import gymnasium

    env = gymnasium.make("archsim/Serving-v0")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (5,)
    obs, reward, term, trunc, info = env.step(np.array([1, 0, 2, 1]))
    assert info["slo_met"] and -1.0 < reward < 0.0
    assert info["metrics"]["cost_per_hour"] == pytest.approx(4.0)
    _, r0, *_ = env.step(np.array([0, 0, 2, 1]))
    assert r0 == -2.0  # no replica

    def rollout(seed):
        e = gymnasium.make("archsim/Serving-v0")
        e.action_space.seed(seed)
        e.reset(seed=seed)
        return [e.step(e.action_space.sample())[:2] for _ in range(4)]

    a, b = rollout(1), rollout(1)
    assert str(a) == str(b)


FLEET = ROOT / "configs" / "search" / "serving_fleet.yaml"
FAST = ["serving.traffic.requests=300"]


def test_evaluate_batch_takes_a_serving_search_config():
    from archsim.envs.serving import ServingEvaluatorCore

    names = ServingEvaluatorCore(json.dumps(CONFIG)).metrics
    points = [
        # 2 x A100 (the hand-picked fleet of the CLI test): within the SLO.
        {"serving.pools[0].count": 0, "serving.pools[1].count": 2, "serving.pools[2].count": 0,
         "serving.scheduler.max_batch": 128},
        # 1 x L4 for 30 req/s: far over capacity, misses the SLO.
        {"serving.pools[0].count": 1, "serving.pools[1].count": 0, "serving.pools[2].count": 0,
         "serving.scheduler.max_batch": 128},
        # No replica at all: not evaluated.
        {"serving.pools[0].count": 0, "serving.pools[1].count": 0, "serving.pools[2].count": 0,
         "serving.scheduler.max_batch": 64},
    ]
    cols = archsim.evaluate_batch(FLEET, points, FAST)
    # The columns are the serving evaluator's metrics, named by the problem.
    assert set(names) <= set(cols) and "latency_s" not in cols
    assert cols["paths"][:3] == [f"serving.pools[{i}].count" for i in range(3)]
    assert all(isinstance(cols[n], np.ndarray) and cols[n].shape == (3,) for n in names)
    assert list(cols["feasible"]) == [True, False, False]
    assert cols["reason"][0] == ""
    assert cols["cost_per_hour"][0] == pytest.approx(2 * 3.67)
    assert cols["slo_met"][0] == 1.0 and cols["replicas"][0] == 2
    # The fleet that misses the SLO keeps its metrics; the reason names the bound it misses.
    assert cols["slo_met"][1] == 0.0 and cols["cost_per_hour"][1] == pytest.approx(0.70)
    assert "misses the SLO" in cols["reason"][1] and "serving.slo.ttft_p90_s" in cols["reason"][1]
    assert cols["ttft_p90_s"][1] > 2.0
    assert np.isnan(cols["cost_per_hour"][2]) and "no replica" in cols["reason"][2]
    # Index rows (gym actions) give the same rows.
    rows = archsim.evaluate_batch(FLEET, np.array([[0, 2, 0, 1], [1, 0, 0, 1]]), FAST)
    for n in names:
        np.testing.assert_array_equal(rows[n], cols[n][:2])


def test_a_serving_config_without_search_or_with_a_bad_point_is_a_config_error():
    with pytest.raises(archsim.ConfigError, match="search"):
        archsim.evaluate_batch(CONFIG, [{"serving.pools[0].count": 1}])
    with pytest.raises(archsim.ConfigError, match="serving.pools\\[1\\].count"):
        archsim.evaluate_batch(FLEET, [{"serving.pools[0].count": 1, "serving.pools[1].count": 9,
                                        "serving.pools[2].count": 0, "serving.scheduler.max_batch": 64}], FAST)


def test_serving_env_evaluates_through_the_fleet_search_evaluator():
    """Serving-v0 and evaluate_batch on the same fleet give the same metrics (one code path)."""
    import gymnasium

    from archsim.envs.serving import DEFAULT, MAX_BATCH, METRICS, ROUTERS

    cfg = json.loads(json.dumps(DEFAULT))
    cfg["search"] = {
        "agent": {"kind": "random"}, "budget": 1, "objectives": [{"metric": "cost_per_hour"}],
        "space": {"serving.pools[0].count": {"int": [0, 2]}, "serving.pools[1].count": {"int": [0, 2]},
                  "serving.scheduler.max_batch": {"ordinal": MAX_BATCH},
                  "serving.router.kind": {"choice": ROUTERS}},
    }
    env = gymnasium.make("archsim/Serving-v0")
    env.reset(seed=0)
    for action in ([1, 0, 3, 1], [0, 2, 1, 2], [1, 1, 0, 0]):
        _, _, _, _, info = env.step(np.array(action))
        cols = archsim.evaluate_batch(cfg, np.array([action]))
        for k in METRICS:
            assert info["metrics"][k] == cols[k][0], (action, k)
        assert info["slo_met"] == (cols["slo_met"][0] == 1.0)
        assert (info.get("reason") is None) == bool(cols["feasible"][0])
