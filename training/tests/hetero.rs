//! Heterogeneous clusters (Holmes): node groups with their own devices and NICs, given and
//! chosen layer partitions, NIC-aware and flat placement.

use archsim_accelerators::AcceleratorConfig;
use archsim_net::{ClusterSpec, Fabric, NetModel, NodeGroup, ScaleOutKind, ScaleUpKind};
use archsim_training::hetero::balance;
use archsim_training::{
    device_caps, partition, prepare, prepare_hetero, Calibration, GroupDevice, ParallelConfig,
    Placement, PlacementRule, TrainingConfig, TrainingError, TrainingReport,
};
use archsim_workloads::DType;

fn gpu(preset: &str) -> AcceleratorConfig {
    serde_json::from_str(&format!(
        r#"{{"kind": "gpu", "preset": "{preset}", "launch": "cudagraph"}}"#
    ))
    .unwrap()
}

fn job(layers: u64) -> TrainingConfig {
    serde_json::from_str(&format!(
        r#"{{"model": {{"layers": {layers}, "hidden": 2048, "heads": 16, "vocab": 51200}},
            "seq_len": 2048, "global_batch": 64, "micro_batch": 2, "recompute": "selective"}}"#
    ))
    .unwrap()
}

fn nic(nodes: usize, gb_s: f64, nics: usize, latency_us: f64, fabric: Fabric) -> NodeGroup {
    NodeGroup {
        nodes,
        nic_gb_s: gb_s,
        nics_per_node: nics,
        latency_us,
        fabric,
    }
}

/// Nodes of 8 devices on NVSwitch; `groups` in node order.
fn cluster(groups: Vec<NodeGroup>) -> ClusterSpec {
    let nodes = groups.iter().map(|g| g.nodes).sum();
    let mut c = ClusterSpec::node(ScaleUpKind::Nvswitch, 8, 300.0, 1.0).scale_out(
        nodes,
        ScaleOutKind::Rail,
        25.0,
        8,
        5.0,
        1.0,
    );
    if let Some(so) = c.scale_out.as_mut() {
        so.groups = groups;
    }
    c
}

fn hetero(
    t: &TrainingConfig,
    p: &ParallelConfig,
    accs: &[&AcceleratorConfig],
    c: &ClusterSpec,
    between: Option<&NodeGroup>,
) -> Result<TrainingReport, TrainingError> {
    let fams: Vec<_> = accs.iter().map(|a| a.family().unwrap()).collect();
    let devs: Vec<GroupDevice<'_>> = fams
        .iter()
        .zip(accs)
        .map(|(f, a)| GroupDevice {
            family: f.as_ref(),
            caps: device_caps(a, DType::Fp16).unwrap(),
        })
        .collect();
    let cal = Calibration::A100_VTRAIN;
    prepare_hetero(
        t,
        p,
        DType::Fp16,
        &devs,
        c,
        between,
        &NetModel::nccl(),
        &cal,
    )?
    .evaluate(&cal)
}

/// Linear stage costs balanced by hand: a device twice as fast gets twice the layers, and
/// the stage holding the embedding gives up what it costs.
#[test]
fn balance_gives_faster_stages_more_layers() {
    assert_eq!(balance(9, &[1.0, 2.0], &[0.0, 0.0], 1), vec![6, 3]);
    // Stage 0 carries 2 layers' worth of extra work: 12 layers → 5 + 2 = 7 = 7.
    assert_eq!(balance(12, &[1.0, 1.0], &[2.0, 0.0], 1), vec![5, 7]);
    // Every stage keeps its minimum even when it is very slow.
    assert_eq!(balance(10, &[1.0, 100.0], &[0.0, 0.0], 2), vec![8, 2]);
}

/// Two groups of the same device and NIC are the uniform cluster: the same iteration to the
/// picosecond with the same partition.
#[test]
fn identical_groups_reproduce_the_uniform_cluster() {
    let a100 = gpu("a100_80gb");
    let t = job(24);
    let p = ParallelConfig {
        tp: 4,
        pp: 2,
        dp: 2,
        layers_per_stage: partition(24, 2),
        ..ParallelConfig::default()
    };
    let ib = |n| nic(n, 25.0, 8, 5.0, Fabric::Infiniband);
    let c = cluster(vec![ib(1), ib(1)]);
    let h = hetero(&t, &p, &[&a100, &a100], &c, None).unwrap();
    let fam = a100.family().unwrap();
    let caps = device_caps(&a100, DType::Fp16).unwrap();
    let u = prepare(
        &t,
        &p,
        DType::Fp16,
        fam.as_ref(),
        caps,
        &c,
        &NetModel::nccl(),
    )
    .unwrap()
    .evaluate(&Calibration::A100_VTRAIN)
    .unwrap();
    assert!(
        (h.iteration_s - u.iteration_s).abs() < 1e-12,
        "{} vs {}",
        h.iteration_s,
        u.iteration_s
    );
    assert!((h.mfu - u.mfu).abs() < 1e-12);
    assert_eq!(h.memory_gb, u.memory_gb);
    let pl = h.placement.unwrap();
    assert_eq!(pl.stage_groups, vec![vec![0], vec![1]]);
    assert_eq!(pl.rule, "nic_aware");
}

/// H100 next to A100: the chosen partition puts more layers on the H100 stage and beats the
/// uniform split; the MFU is against both groups' peaks.
#[test]
fn chosen_partition_favours_the_faster_group() {
    let (h100, a100) = (gpu("h100_sxm"), gpu("a100_80gb"));
    let t = job(32);
    let ib = |n| nic(n, 25.0, 8, 5.0, Fabric::Infiniband);
    let c = cluster(vec![ib(1), ib(1)]);
    let p = ParallelConfig {
        tp: 4,
        pp: 2,
        dp: 2,
        ..ParallelConfig::default()
    };
    let chosen = hetero(&t, &p, &[&h100, &a100], &c, None).unwrap();
    let layers = chosen.placement.as_ref().unwrap().layers_per_stage.clone();
    assert_eq!(layers.iter().sum::<u64>(), 32);
    assert!(layers[0] > layers[1], "{layers:?}");
    let uniform = hetero(
        &t,
        &ParallelConfig {
            layers_per_stage: vec![16, 16],
            ..p.clone()
        },
        &[&h100, &a100],
        &c,
        None,
    )
    .unwrap();
    assert!(
        chosen.iteration_s < 0.95 * uniform.iteration_s,
        "chosen {} uniform {}",
        chosen.iteration_s,
        uniform.iteration_s
    );
    // MFU: model FLOPs over (8 H100 + 8 A100 peaks) × the iteration.
    let peak = 8.0 * device_caps(&h100, DType::Fp16).unwrap().peak_flops
        + 8.0 * device_caps(&a100, DType::Fp16).unwrap().peak_flops;
    let mfu = chosen.model_flops / (peak * chosen.iteration_s);
    assert!((chosen.mfu - mfu).abs() < 1e-9 * mfu);
}

/// An InfiniBand group and an Ethernet group: keeping each stage's data-parallel group on
/// one NIC kind (pipeline across the slow boundary) beats the flat layout, whose gradient
/// all-reduces all run at the Ethernet NIC; the flat stages straddle both groups.
#[test]
fn nic_aware_placement_beats_flat() {
    let a100 = gpu("a100_80gb");
    let t = job(24);
    let c = cluster(vec![
        nic(2, 25.0, 8, 5.0, Fabric::Infiniband),
        nic(2, 3.125, 1, 30.0, Fabric::Ethernet),
    ]);
    let p = ParallelConfig {
        tp: 8,
        pp: 2,
        dp: 2,
        ..ParallelConfig::default()
    };
    let aware = hetero(&t, &p, &[&a100, &a100], &c, None).unwrap();
    let flat = hetero(
        &t,
        &ParallelConfig {
            placement: Some(Placement::Rule(PlacementRule::Flat)),
            ..p.clone()
        },
        &[&a100, &a100],
        &c,
        None,
    )
    .unwrap();
    assert!(
        aware.iteration_s < flat.iteration_s,
        "aware {} flat {}",
        aware.iteration_s,
        flat.iteration_s
    );
    assert!(aware.breakdown.dp_comm_s < flat.breakdown.dp_comm_s);
    assert_eq!(
        aware.placement.unwrap().stage_groups,
        vec![vec![0], vec![1]]
    );
    // dp = 2 × tp = 8: a stage is 2 nodes, the groups' order puts one stage in each.
    assert_eq!(flat.placement.unwrap().rule, "flat");
    // The flat layout of pp = 4, dp = 1 straddles nothing either; dp = 4, pp = 1 spans both.
    let wide = hetero(
        &t,
        &ParallelConfig {
            tp: 8,
            pp: 1,
            dp: 4,
            placement: Some(Placement::Rule(PlacementRule::Flat)),
            ..ParallelConfig::default()
        },
        &[&a100, &a100],
        &c,
        None,
    )
    .unwrap();
    assert_eq!(wide.placement.unwrap().stage_groups, vec![vec![0, 1]]);
}

/// A given placement swaps the groups' stages; a slow link between groups shows as
/// pipeline waiting.
#[test]
fn given_placement_and_the_link_between_groups() {
    let (h100, a100) = (gpu("h100_sxm"), gpu("a100_80gb"));
    let t = job(24);
    let ib = |n| nic(n, 25.0, 8, 5.0, Fabric::Infiniband);
    let c = cluster(vec![ib(1), ib(1)]);
    let p = ParallelConfig {
        tp: 8,
        pp: 2,
        dp: 1,
        layers_per_stage: vec![12, 12],
        placement: Some(Placement::Stages(vec![1, 0])),
        ..ParallelConfig::default()
    };
    let r = hetero(&t, &p, &[&h100, &a100], &c, None).unwrap();
    assert_eq!(r.placement.unwrap().stage_groups, vec![vec![1], vec![0]]);
    let slow = nic(2, 0.5, 1, 50.0, Fabric::Ethernet);
    let s = hetero(&t, &p, &[&h100, &a100], &c, Some(&slow)).unwrap();
    assert!(s.iteration_s > r.iteration_s);
    assert!(s.breakdown.pp_comm_s > r.breakdown.pp_comm_s);
}

/// Errors name the key.
#[test]
fn hetero_errors_name_the_keys() {
    let a100 = gpu("a100_80gb");
    let t = job(24);
    let ib = |n| nic(n, 25.0, 8, 5.0, Fabric::Infiniband);
    let c = cluster(vec![ib(1), ib(2)]);
    let base = ParallelConfig {
        tp: 8,
        pp: 3,
        dp: 1,
        ..ParallelConfig::default()
    };
    let err = |p: &ParallelConfig| {
        hetero(&t, p, &[&a100, &a100], &c, None)
            .unwrap_err()
            .to_string()
    };
    let e = err(&ParallelConfig {
        layers_per_stage: vec![8, 8, 7],
        ..base.clone()
    });
    assert!(
        e.contains("parallel.layers_per_stage") && e.contains("23"),
        "{e}"
    );
    let e = err(&ParallelConfig {
        layers_per_stage: vec![12, 12],
        ..base.clone()
    });
    assert!(e.contains("parallel.layers_per_stage"), "{e}");
    let e = err(&ParallelConfig {
        placement: Some(Placement::Stages(vec![0, 0, 1])),
        ..base.clone()
    });
    assert!(
        e.contains("parallel.placement") && e.contains("group 0"),
        "{e}"
    );
    let t48 = TrainingConfig {
        global_batch: 48,
        ..t.clone()
    };
    let e = hetero(
        &t48,
        &ParallelConfig {
            tp: 8,
            pp: 1,
            dp: 3,
            ..ParallelConfig::default()
        },
        &[&a100, &a100],
        &c,
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("parallel.placement") && e.contains("nic_aware"),
        "{e}"
    );
    // placement on a uniform cluster.
    let fam = a100.family().unwrap();
    let caps = device_caps(&a100, DType::Fp16).unwrap();
    let e = prepare(
        &t,
        &ParallelConfig {
            placement: Some(Placement::Rule(PlacementRule::Flat)),
            ..base.clone()
        },
        DType::Fp16,
        fam.as_ref(),
        caps,
        &c,
        &NetModel::nccl(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("parallel.placement"), "{e}");
}

/// Memory is checked against each stage's own device: a stage on a 24 GB card that would
/// fit an 80 GB one does not fit, and the reason names the group.
#[test]
fn memory_is_checked_per_group() {
    let (a100, small) = (gpu("a100_80gb"), gpu("rtx4090"));
    let t: TrainingConfig = serde_json::from_str(
        r#"{"model": "gpt3_7b", "seq_len": 2048, "global_batch": 16, "micro_batch": 1,
            "recompute": "full"}"#,
    )
    .unwrap();
    let ib = |n| nic(n, 25.0, 8, 5.0, Fabric::Infiniband);
    let c = cluster(vec![ib(1), ib(1)]);
    let p = ParallelConfig {
        tp: 8,
        pp: 2,
        dp: 1,
        layers_per_stage: vec![16, 16],
        ..ParallelConfig::default()
    };
    let both = hetero(&t, &p, &[&a100, &a100], &c, None).unwrap();
    assert!(both.fits);
    let mixed = hetero(&t, &p, &[&a100, &small], &c, None).unwrap();
    // 7B / 16 devices × 16 bytes ≈ 7 GB of states each: fits 24 GB too.
    assert!(mixed.fits, "{:?}", mixed.why_not);
    let big: TrainingConfig = serde_json::from_str(
        r#"{"model": "gpt3_30b", "seq_len": 2048, "global_batch": 16, "micro_batch": 1,
            "recompute": "full"}"#,
    )
    .unwrap();
    let p30 = ParallelConfig {
        layers_per_stage: vec![24, 24],
        ..p
    };
    let ok = hetero(&big, &p30, &[&a100, &a100], &c, None).unwrap();
    let bad = hetero(&big, &p30, &[&a100, &small], &c, None).unwrap();
    assert!(ok.fits, "{:?}", ok.why_not);
    assert!(!bad.fits);
    let why = bad.why_not.unwrap();
    assert!(why.contains("stage 1") && why.contains("group 1"), "{why}");
}
