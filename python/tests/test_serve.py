"""archsim.serve: the serving simulator from Python."""

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
