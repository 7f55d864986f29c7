//! The training evaluator (a `search:` over a training config's layout) and
//! `archsim/Training-v0`.

use std::path::Path;

use archsim_gym::training_env::TrainingEnv;
use archsim_gym::{DesignSpace, Env, EvaluatorKind, Problem, TRAINING_METRICS};
use serde_json::{json, Value};

/// A 24-layer GPT of hidden 2048 (16 heads) on 16 A100 of two NVSwitch nodes.
fn base() -> Value {
    json!({
        "workload": {"training": {
            "model": {"layers": 24, "hidden": 2048, "heads": 16, "vocab": 51200},
            "seq_len": 2048, "global_batch": 64, "micro_batch": 1, "recompute": "full"}},
        "accelerator": {"kind": "gpu", "preset": "a100_80gb"},
        "cluster": {"nodes": 2, "devices_per_node": 8,
                    "scale_up": {"kind": "nvswitch", "gb_s": 300},
                    "scale_out": {"kind": "rail", "nic_gb_s": 25, "nics_per_node": 8}},
        "parallel": {"tp": 2, "pp": 2, "dp": 4}
    })
}

fn metric(m: &[f64], name: &str) -> f64 {
    m[TRAINING_METRICS.iter().position(|n| *n == name).unwrap()]
}

#[test]
fn a_training_search_scores_valid_layouts_and_names_the_keys_of_invalid_ones() {
    let b = base();
    assert_eq!(EvaluatorKind::of(&b), EvaluatorKind::Training);
    let space = json!({
        "parallel.tp": {"ordinal": [1, 2, 4, 8, 16]},
        "parallel.pp": {"ordinal": [1, 2, 4]},
        "parallel.dp": {"ordinal": [1, 2, 4, 8]},
        "workload.training.micro_batch": {"ordinal": [1, 2, 3]},
        "workload.training.recompute": {"choice": ["none", "selective", "full"]},
    });
    let space = DesignSpace::from_map("search.space", space.as_object().unwrap()).unwrap();
    space.check_schema("search.space", &b).unwrap();
    let p = Problem::new(b, space, Path::new(".")).unwrap();
    assert_eq!(p.evaluator().kind(), "training");
    assert_eq!(p.metric_names(), TRAINING_METRICS);
    // tp 2, pp 2, dp 4, micro-batch 2, full recompute: 16 devices, 8 micro-batches.
    let m = p.evaluate(&[1, 1, 2, 1, 2]).unwrap().metrics.unwrap();
    assert_eq!(metric(&m, "devices"), 16.0);
    assert_eq!(metric(&m, "micro_batches"), 8.0);
    let it = metric(&m, "iteration_s");
    assert!(it > 0.0 && (metric(&m, "tokens_per_s") - 64.0 * 2048.0 / it).abs() < 1e-6 * it);
    assert!(metric(&m, "mfu") > 0.0 && metric(&m, "mfu") < 1.0);
    // No recompute is faster than full recompute on the same layout.
    let none = p.evaluate(&[1, 1, 2, 1, 0]).unwrap().metrics.unwrap();
    assert!(metric(&none, "iteration_s") < it);
    // tp·pp·dp = 2·2·2 = 8 ≠ 16: infeasible, naming the keys.
    let e = p.evaluate(&[1, 1, 1, 0, 2]).unwrap().metrics.unwrap_err();
    assert!(e.contains("parallel.tp, parallel.pp, parallel.dp"), "{e}");
    // Micro-batch 3 does not divide the 16 sequences per replica.
    let e = p.evaluate(&[1, 1, 2, 2, 2]).unwrap().metrics.unwrap_err();
    assert!(e.contains("workload.training.micro_batch"), "{e}");
    // tp 16 does not fit in one node here but divides the heads: valid; tp 16 × pp 1 × dp 1.
    let m16 = p.evaluate(&[4, 0, 0, 0, 2]).unwrap().metrics;
    assert!(m16.is_ok(), "{m16:?}");
}

#[test]
fn a_layout_that_does_not_fit_is_infeasible_with_the_bytes_it_needs() {
    let mut b = base();
    // GPT-3 175B on 16 A100 cannot fit any way; with tp 8 pp 2 the states alone are 175 GB.
    b["workload"]["training"]["model"] = json!("gpt3_175b");
    b["parallel"] = json!({"tp": 8, "pp": 2, "dp": 1});
    let space = json!({"workload.training.recompute": {"choice": ["none", "full"]}});
    let space = DesignSpace::from_map("search.space", space.as_object().unwrap()).unwrap();
    let p = Problem::new(b, space, Path::new(".")).unwrap();
    let e = p.evaluate(&[1]).unwrap().metrics.unwrap_err();
    assert!(
        e.starts_with("does not fit: needs") && e.contains("GB per device"),
        "{e}"
    );
}

#[test]
fn training_v0_rewards_tokens_per_second_and_penalizes_invalid_layouts() {
    let mut env = TrainingEnv::new(&base(), Some(3)).unwrap();
    assert_eq!(env.nvec().len(), env.dims().len());
    assert_eq!(env.reset(Some(0)).len(), TRAINING_METRICS.len());
    // The config's own layout earns 1.
    let own = env.action_of(2, 2, 1, "full", 1).unwrap();
    let s = env.step(&own).unwrap();
    assert!(s.info.feasible && (s.reward - 1.0).abs() < 1e-12, "{s:?}");
    assert_eq!(s.info.point[0], ("parallel.tp".to_string(), json!(2)));
    // Full recompute off: faster, so the reward is above 1.
    let s = env
        .step(&env.action_of(2, 2, 1, "none", 1).unwrap())
        .unwrap();
    assert!(s.info.feasible && s.reward > 1.0, "{s:?}");
    assert!(!s.truncated);
    // tp 16 × pp 2 = 32 does not divide 16 devices: penalized, with the reason.
    let s = env
        .step(&env.action_of(16, 2, 1, "full", 1).unwrap())
        .unwrap();
    assert!(!s.info.feasible && s.reward == -1.0);
    assert!(s
        .info
        .reason
        .as_deref()
        .unwrap()
        .contains("parallel.tp, parallel.pp"));
    assert!(s.obs.iter().all(|&x| x == 0.0));
    assert!(s.truncated);
    // Malformed actions are errors; an index out of range names the dimension.
    assert!(env.step(&[0, 0]).is_err());
    let mut a = own.clone();
    a[4] = 9;
    let e = env.step(&a).unwrap_err().to_string();
    assert!(e.contains("parallel.vpp"), "{e}");
    // Same actions, same observations.
    let mut again = TrainingEnv::new(&base(), Some(3)).unwrap();
    again.reset(Some(5));
    env.reset(Some(0));
    assert_eq!(env.step(&own).unwrap(), again.step(&own).unwrap());
}
