//! Integration tests of the gym: the registered environments, determinism, infeasible points.

use std::path::Path;

use archsim_gym::{presets, DseEnv, Env, GymError};

mod training;

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
    // A 4x4 array with little bandwidth misses a 60 us latency target; a big array meets it
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
            "{metric: latency_s, target: 6.0e-5}",
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
        (
            "accelerator.rows: {pow2: [4, 256]}",
            "accelerator.rowz: {pow2: [4, 256]}",
            "gym.space.accelerator.rowz: unknown field `rowz`",
        ),
        (
            "{choice: [os, ws, is]}",
            "{choice: [os, ws, xs]}",
            "gym.space.accelerator.dataflow: unknown variant `xs`",
        ),
    ] {
        let yaml = presets::SYSTOLIC_GEMM.replace(from, to);
        let e = DseEnv::from_yaml(&yaml, Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{e}");
    }
}

mod soc_env {
    use std::path::Path;

    use archsim_gym::soc_env::PE_FEATURES;
    use archsim_gym::{presets, Env, GymError, SocEnv};

    fn env() -> SocEnv {
        let text = presets::SOC_WIFI.replace("count: 60", "count: 12");
        SocEnv::from_yaml(&text, Path::new(".")).unwrap()
    }

    /// Plays an episode choosing the PE flagged "earliest finish"; returns (return, obs trace).
    fn play_eft(e: &mut SocEnv, seed: u64) -> (f64, Vec<Vec<f64>>) {
        let mut obs = e.reset(Some(seed));
        let mut trace = vec![obs.clone()];
        let mut ret = 0.0;
        let d = PE_FEATURES.len();
        loop {
            let off = e.pe_features_offset();
            let pe = (0..e.num_pes())
                .find(|&p| obs[off + p * d + 3] == 1.0)
                .expect("some PE finishes first");
            assert!(e.action_mask()[pe]);
            let s = e.step(&pe).unwrap();
            assert_eq!(s.obs.len(), e.obs_len());
            ret += s.reward;
            assert!(s.reward <= 0.0);
            assert!(!s.truncated);
            obs = s.obs;
            trace.push(obs.clone());
            if s.terminated {
                return (ret, trace);
            }
        }
    }

    #[test]
    fn episodes_are_seeded_and_the_return_is_minus_total_latency() {
        let mut e = env();
        let (r1, t1) = play_eft(&mut e, 4);
        let lat = e.avg_job_latency_us().unwrap();
        let (r2, t2) = play_eft(&mut e, 4);
        assert_eq!((r1, &t1), (r2, &t2));
        assert!((r1 + lat * 12.0 / 1000.0).abs() < 1e-9, "{r1} vs {lat}");
        let (r3, _) = play_eft(&mut e, 5);
        assert_ne!(r1, r3);
        // Picking the earliest-finish PE each step is EFT: the same latency as the built-in one.
        let eft = e
            .scheduler_latency_us(archsim_accelerators::soc::Policy::Eft, 4, 0)
            .unwrap();
        let _ = play_eft(&mut e, 4);
        assert!((e.avg_job_latency_us().unwrap() - eft).abs() < 1e-9);
    }

    #[test]
    fn masked_actions_are_refused_and_leave_the_episode_unchanged() {
        let mut e = env();
        let obs = e.reset(Some(0));
        let mask = e.action_mask();
        let bad = mask
            .iter()
            .position(|&m| !m)
            .expect("some PE cannot run the task");
        assert!(matches!(e.step(&bad), Err(GymError::InvalidAction { .. })));
        assert!(matches!(
            e.step(&e.num_pes()),
            Err(GymError::InvalidAction { .. })
        ));
        assert_eq!(e.action_mask(), mask);
        let ok = mask.iter().position(|&m| m).unwrap();
        assert!(e.step(&ok).is_ok());
        assert_eq!(obs.len(), e.obs_len());
    }

    #[test]
    fn bad_configs_are_errors() {
        let text = presets::SOC_WIFI.replace("max_ready: 8", "max_ready: 0");
        assert!(SocEnv::from_yaml(&text, Path::new(".")).is_err());
        let text = presets::SOC_WIFI.replace("kind: soc", "kind: systolic");
        assert!(SocEnv::from_yaml(&text, Path::new(".")).is_err());
    }
}

#[test]
fn spaces_vary_list_elements_of_a_heterogeneous_chip() {
    let yaml = "workload:\n  tasks:\n    - {gemm: {m: 64, n: 64, k: 64}}\n    - {gemm: {m: 32, n: 32, k: 32}}\naccelerator:\n  kind: hetero\n  subs:\n    - {name: a, rows: 8, cols: 8, dataflow: os}\n    - {name: b, rows: 16, cols: 16, dataflow: ws}\n  assignment: [0, 1]\ngym:\n  space:\n    accelerator.subs[1].rows: {pow2: [4, 64]}\n    accelerator.subs[0].dataflow: {choice: [os, ws, is]}\n  objectives: [{metric: latency_s}]\n";
    let mut e = env(yaml);
    e.reset(Some(0));
    let s = e.step(&[4, 2]).unwrap();
    assert!(s.info.feasible, "{:?}", s.info.reason);
    assert_eq!(
        s.info.point,
        [
            (
                "accelerator.subs[1].rows".to_string(),
                serde_json::json!(64)
            ),
            (
                "accelerator.subs[0].dataflow".to_string(),
                serde_json::json!("is")
            ),
        ]
    );
    assert!(s.obs[0] > 0.0);
    // A bigger second array is faster on its task.
    let small = e.step(&[0, 2]).unwrap();
    assert!(small.obs[0] >= s.obs[0]);
    let e = DseEnv::from_yaml(&yaml.replace("subs[1]", "subs[2]"), Path::new("."))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "gym.space.accelerator.subs[2].rows: index 2 is out of range: `accelerator.subs` has 2 elements"
    );
}

/// The co-design evaluator (a `cell:` section): its accuracy is the table's for the cell and
/// its simulation metrics are those of a plain run of the cell's network on the same array.
#[test]
fn codesign_evaluator_reads_the_oracle_and_matches_a_plain_run() {
    use archsim_accelerators::config::SimConfig;
    use archsim_gym::codesign::{AccuracyOracle, CsvOracle};
    use archsim_gym::{objective::metrics, DesignSpace, EvaluatorKind, Problem, CODESIGN_METRICS};
    use serde_json::json;

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let table = "tests/data/nas/nb201.csv";
    let accel = json!({"kind": "systolic", "rows": 32, "cols": 16, "dataflow": "os"});
    let base = json!({
        "cell": {"dataset": "cifar10", "oracle": table,
                 "ops": ["none", "none", "none", "none", "none", "none"]},
        "workload": {"batch": 1},
        "accelerator": accel,
    });
    assert_eq!(EvaluatorKind::of(&base), EvaluatorKind::CoDesign);
    let ops =
        json!({"choice": ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]});
    let space: serde_json::Map<String, serde_json::Value> = (0..6)
        .map(|i| (format!("cell.ops[{i}]"), ops.clone()))
        .collect();
    let space = DesignSpace::from_map("search.space", &space).unwrap();
    assert_eq!(space.size(), 15_625);
    let p = Problem::new(base, space, &dir).unwrap();
    assert_eq!(p.evaluator().kind(), "codesign");
    assert_eq!(p.metric_names(), CODESIGN_METRICS);
    // NB201 index 1 (nb201.csv): |nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|
    let arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|";
    let m = p.evaluate(&[3, 3, 4, 1, 3, 1]).unwrap().metrics.unwrap();
    let oracle = CsvOracle::from_path(&dir.join(table)).unwrap();
    let i = (0..oracle.len()).find(|&i| oracle.arch(i) == arch).unwrap();
    assert_eq!(i, 1);
    let acc = m[CODESIGN_METRICS.len() - 1];
    assert_eq!(acc, oracle.accuracy(i, "cifar10").unwrap());
    assert_eq!(acc, 93.66);
    // A plain run of the same network on the same array.
    let plain = SimConfig::from_value(json!({
        "workload": {"model": format!("nb201:cifar10:{arch}")},
        "accelerator": accel,
    }))
    .unwrap();
    let w = plain.workload.build(&dir).unwrap();
    let r = plain
        .accelerator
        .family()
        .unwrap()
        .run_graph(&w, &plain.context(""))
        .unwrap();
    // Bit for bit (the serving metrics, absent for a CNN, are NaN in both).
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&m[..CODESIGN_METRICS.len() - 1]), bits(&metrics(&r)));
    assert!(m[0] > 0.0);
    // A bad op is a clear error naming the edge.
    let bad = SimConfig::from_value(json!({
        "cell": {"dataset": "cifar10", "oracle": table,
                 "ops": ["none", "none", "conv_5x5", "none", "none", "none"]},
        "workload": {"batch": 1},
        "accelerator": accel,
    }))
    .unwrap_err();
    assert_eq!(bad.path, vec!["cell", "ops", "2"]);
    assert!(
        bad.message.starts_with("unknown op `conv_5x5`"),
        "{}",
        bad.message
    );
}

/// Objectives on metrics the config does not produce, and objectives that count for nothing,
/// are refused when the environment is built.
#[test]
fn absent_metrics_and_weightless_objectives_are_refused() {
    for (to, want) in [
        (
            "{metric: tpot_s, target: 0.01}",
            "gym.objectives.1.metric: `tpot_s` is absent from this config's results",
        ),
        (
            "{metric: area_mm2, target: 20, weight: 0}",
            "gym.objectives.1.weight: 0 makes the objective count for nothing",
        ),
    ] {
        let yaml = presets::SYSTOLIC_GEMM.replace("{metric: area_mm2, target: 20}", to);
        let e = DseEnv::from_yaml(&yaml, Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{e}");
    }
    // A constraint on an absent metric too.
    let yaml = presets::SYSTOLIC_GEMM.replace(
        "  reward: {kind: target}",
        "  constraints: [{metric: ttft_s, max: 1}]\n  reward: {kind: target}",
    );
    let e = DseEnv::from_yaml(&yaml, Path::new("."))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("gym.constraints.0.metric: `ttft_s` is absent"),
        "{e}"
    );
}

/// A GEMM produces no serving metrics: they observe as 0 (an observation is a fixed-length
/// vector) and are absent from a problem's metric map.
#[test]
fn absent_metrics_observe_as_zero_and_are_left_out_of_maps() {
    let mut e = env(presets::SYSTOLIC_GEMM);
    e.reset(Some(0));
    let s = e.step(&[3, 3, 0, 2]).unwrap();
    assert!(s.info.feasible, "{:?}", s.info.reason);
    let names = archsim_gym::METRICS;
    for (k, name) in names.iter().enumerate() {
        assert!(s.obs[k].is_finite(), "{name}");
        if archsim_gym::objective::LLM_STEP_METRICS.contains(name) {
            assert_eq!(s.obs[k], 0.0, "{name}");
        }
    }
    let m = e
        .problem()
        .evaluate(&[3, 3, 0, 2])
        .unwrap()
        .metrics
        .unwrap();
    let map = archsim_gym::metric_map(&m);
    assert!(map["latency_s"].as_f64().unwrap() > 0.0);
    for k in archsim_gym::objective::LLM_STEP_METRICS {
        assert!(!map.contains_key(*k), "{k}");
    }
}

/// An evaluator whose metric is not a number: the point is infeasible with the metric named,
/// never a result holding NaN or infinity.
#[test]
fn a_metric_that_is_not_a_number_makes_the_point_infeasible() {
    use archsim_gym::{DesignSpace, Evaluator, Problem, METRICS};
    use serde_json::{json, Value};

    #[derive(Debug)]
    struct Fixed(Vec<f64>);
    impl Evaluator for Fixed {
        fn kind(&self) -> &'static str {
            "fixed"
        }
        fn metrics(&self) -> &'static [&'static str] {
            METRICS
        }
        fn evaluate(&self, _: Value) -> Result<Vec<f64>, String> {
            Ok(self.0.clone())
        }
    }
    let space = DesignSpace::from_map(
        "search.space",
        json!({"accelerator.rows": {"pow2": [8, 16]}})
            .as_object()
            .unwrap(),
    )
    .unwrap();
    let problem = |m: Vec<f64>| {
        Problem::with_evaluator(json!({}), space.clone(), std::sync::Arc::new(Fixed(m)))
    };
    let mut m = vec![1.0; METRICS.len()];
    for (k, bad) in [(1, f64::INFINITY), (3, f64::NAN), (8, f64::NEG_INFINITY)] {
        let mut v = m.clone();
        v[k] = bad;
        let why = problem(v).evaluate(&[0]).unwrap().metrics.unwrap_err();
        assert!(
            why.contains(&format!("{} could not be computed", METRICS[k])),
            "{why}"
        );
    }
    // An absent serving metric (NaN) is not an error.
    m[9] = f64::NAN;
    assert!(problem(m).evaluate(&[1]).unwrap().metrics.is_ok());
}
