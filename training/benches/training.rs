//! What a layout search pays: one GPT-3 175B iteration on 1,024 A100 (TP 8, PP 8, DP 16,
//! 1F1B, micro-batch 1, global batch 1,536), priced from scratch and re-simulated from its
//! priced pieces; one layout of a search (graphs already priced) and the job's whole valid
//! layout space, in the event and the analytic mode.

use archsim_net::{ClusterSpec, NetModel, ScaleOutKind, ScaleUpKind};
use archsim_training::calibrate::a100;
use archsim_training::lower::Pricer;
use archsim_training::space::{Layout, LayoutSearch, Mode};
use archsim_training::{device_caps, prepare, Calibration, ParallelConfig, TrainingConfig};
use archsim_workloads::DType;
use criterion::{criterion_group, criterion_main, Criterion};

fn gpt3(c: &mut Criterion) {
    let train: TrainingConfig = serde_json::from_str(
        r#"{"model": "gpt3_175b", "seq_len": 2048, "global_batch": 1536, "micro_batch": 1, "recompute": "full"}"#,
    )
    .unwrap();
    let parallel = ParallelConfig {
        tp: 8,
        pp: 8,
        dp: 16,
        ..ParallelConfig::default()
    };
    let cluster = ClusterSpec::node(ScaleUpKind::Nvswitch, 8, 300.0, 1.0).scale_out(
        128,
        ScaleOutKind::Rail,
        25.0,
        8,
        5.0,
        1.0,
    );
    let acc = a100();
    let fam = acc.family().unwrap();
    let caps = device_caps(&acc, DType::Fp16).unwrap();
    let net = NetModel::nccl();
    c.bench_function("gpt3_175b_1024gpu_prepare_and_evaluate", |b| {
        b.iter(|| {
            prepare(
                &train,
                &parallel,
                DType::Fp16,
                fam.as_ref(),
                caps,
                &cluster,
                &net,
            )
            .unwrap()
            .evaluate(&Calibration::A100_VTRAIN)
            .unwrap()
        })
    });
    let job = prepare(
        &train,
        &parallel,
        DType::Fp16,
        fam.as_ref(),
        caps,
        &cluster,
        &net,
    )
    .unwrap();
    c.bench_function("gpt3_175b_1024gpu_iteration_s", |b| {
        b.iter(|| job.iteration_s(&Calibration::A100_VTRAIN))
    });

    let mut search = LayoutSearch::new(
        Pricer::new(fam.as_ref(), DType::Fp16),
        &train,
        &parallel,
        caps,
        &cluster,
        &net,
        None,
        None,
        Calibration::A100_VTRAIN,
    );
    let megatron = Layout::of(&train, &parallel);
    for (name, mode) in [("event", Mode::Event), ("analytic", Mode::Analytic)] {
        c.bench_function(&format!("gpt3_175b_1024gpu_one_layout_{name}"), |b| {
            b.iter(|| search.score(&megatron, mode).unwrap())
        });
    }
    let space = search.layouts().unwrap();
    eprintln!(
        "layout space of GPT-3 175B on 1,024 A100: {} valid layouts",
        space.len()
    );
    let mut g = c.benchmark_group("gpt3_175b_1024gpu_whole_space");
    g.sample_size(10);
    for (name, mode) in [("event", Mode::Event), ("analytic", Mode::Analytic)] {
        // From a fresh pricer: every distinct graph of the space is priced inside the time.
        g.bench_function(name, |b| {
            b.iter(|| {
                LayoutSearch::new(
                    Pricer::new(fam.as_ref(), DType::Fp16),
                    &train,
                    &parallel,
                    caps,
                    &cluster,
                    &net,
                    None,
                    None,
                    Calibration::A100_VTRAIN,
                )
                .all(mode)
                .unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, gpt3);
criterion_main!(benches);
