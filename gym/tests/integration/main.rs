//! Integration tests of the gym: the registered environments, determinism, infeasible points.

use std::path::Path;

use archsim_gym::{presets, DseEnv, Env, GymError};

fn env(yaml: &str) -> DseEnv {
    DseEnv::from_yaml(yaml, Path::new(".")).unwrap()
}

#[test]
fn every_preset_builds_and_steps() {
    for (name, yaml) in presets::ALL {
        let mut e = env(yaml);
        let obs = e.reset(Some(0));
        assert_eq!(obs.len(), archsim_gym::METRICS.len(), "{name}");
        let a: Vec<i64> = e.space().nvec().iter().map(|&n| (n / 2) as i64).collect();
        let s = e.step(&a).unwrap();
        assert_eq!(s.info.step, 1);
        assert!(s.reward.is_finite(), "{name}");
        assert_eq!(s.info.point.len(), a.len());
    }
}

#[test]
fn same_actions_same_trajectory() {
    let run = || {
        let mut e = env(presets::SYSTOLIC_RESNET18);
        e.reset(Some(7));
        let n = e.space().nvec();
        (0..10i64)
            .map(|k| {
                e.step(
                    &n.iter()
                        .map(|&m| (k * 3 + 1) % m as i64)
                        .collect::<Vec<_>>(),
                )
                .unwrap()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

#[test]
fn episodes_truncate_and_targets_terminate() {
    let mut e = env(presets::SYSTOLIC_GEMM);
    e.reset(None);
    let n = e.space().nvec();
    let small: Vec<i64> = vec![0; n.len()];
    let mut last = None;
    for _ in 0..e.episode_len() {
        last = Some(e.step(&small).unwrap());
    }
    assert!(last.unwrap().truncated);
    e.reset(None);
    assert!(!e.step(&small).unwrap().truncated);
    // A 4x4 array with little bandwidth misses a 20 us latency target; a big array meets it
    // but busts the 20 mm2 area target: the reward is the summed relative overshoot.
    let s = e.step(&small).unwrap();
    assert!(s.reward < 0.0 && !s.terminated);
}

#[test]
fn infeasible_designs_are_penalized_never_panics() {
    let yaml = presets::SYSTOLIC_RESNET18.replace("max: 60", "max: 5");
    let mut e = env(&yaml);
    e.reset(None);
    let n = e.space().nvec();
    let big: Vec<i64> = n.iter().map(|&m| m as i64 - 1).collect();
    let s = e.step(&big).unwrap();
    assert!(!s.info.feasible);
    assert_eq!(s.reward, -100.0);
    assert!(s.info.reason.unwrap().contains("area_mm2 <= 5 violated"));
    // An invalid value in the space (rows = 0) is an infeasible point with the config's reason.
    let yaml = presets::SYSTOLIC_GEMM.replace(
        "accelerator.rows: {pow2: [4, 256]}",
        "accelerator.rows: {ordinal: [0, 8]}",
    );
    let mut e = env(&yaml);
    e.reset(None);
    let s = e.step(&[0, 0, 0, 0]).unwrap();
    assert!(!s.info.feasible);
    assert!(s
        .info
        .reason
        .unwrap()
        .contains("accelerator.rows: must be at least 1"));
    assert_eq!(e.action_mask()[0], vec![false, true]);
}

#[test]
fn malformed_actions_are_errors() {
    let mut e = env(presets::SYSTOLIC_GEMM);
    e.reset(None);
    assert!(matches!(
        e.step(&[0, 0]),
        Err(GymError::InvalidAction { .. })
    ));
    assert!(matches!(
        e.step(&[0, 0, 99, 0]),
        Err(GymError::InvalidAction { .. })
    ));
    assert!(matches!(
        e.step(&[0, -1, 0, 0]),
        Err(GymError::InvalidAction { .. })
    ));
}

#[test]
fn multi_agent_split_and_errors() {
    let mut e = env(presets::SYSTOLIC_MARL);
    e.reset(None);
    let names: Vec<&str> = e.agents().iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["compute", "memory"]);
    let s = e
        .step_agents(&[
            ("compute".into(), vec![2, 2, 1]),
            ("memory".into(), vec![1, 1, 1, 1]),
        ])
        .unwrap();
    assert!(s.reward.is_finite());
    assert!(e.step_agents(&[("compute".into(), vec![2, 2, 1])]).is_err());
    assert!(e
        .step_agents(&[
            ("compute".into(), vec![2, 2]),
            ("memory".into(), vec![1, 1, 1, 1])
        ])
        .is_err());
    let bad = presets::SYSTOLIC_MARL.replace("compute: [accelerator.rows, ", "compute: [");
    assert!(DseEnv::from_yaml(&bad, Path::new("."))
        .unwrap_err()
        .to_string()
        .contains("owned by no agent"));
}

#[test]
fn config_errors_name_the_key() {
    for (from, to, want) in [
        (
            "episode_len: 64",
            "episode_len: 0",
            "gym.episode_len: must be at least 1",
        ),
        (
            "{metric: latency_s, target: 2.0e-5}",
            "{metric: speed, target: 1}",
            "gym.objectives.0.metric: unknown metric `speed`",
        ),
        (
            "reward: {kind: target}",
            "reward: {kind: lottery}",
            "gym.reward",
        ),
        (
            "kind: systolic",
            "kind: abacus",
            "accelerator.kind: unknown kind",
        ),
    ] {
        let yaml = presets::SYSTOLIC_GEMM.replace(from, to);
        let e = DseEnv::from_yaml(&yaml, Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{e}");
    }
}
