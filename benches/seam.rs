//! The pipeline's entry points, as `archsim run`, the Python package and sweeps call them:
//! `archsim::evaluate` on a built workload (ResNet-18 on a systolic array; one LLaMA-2-7B
//! decode step on the H100 model, with its serving metrics) and `archsim::simulate` on a DS3
//! job stream. These go through the config → family dispatch, so they show what the seam
//! between the pipeline and the hardware families costs; compare two builds side by side with
//! `scripts/bench-seam`.

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};

fn load(yaml: &str) -> archsim::Config {
    archsim::config::load_str(yaml, "bench.yaml", &[]).expect("bench config loads")
}

fn bench(c: &mut Criterion) {
    // As the `archsim` binary and the Python module run (see `archsim::heap`).
    archsim::heap::retain_freed_memory();
    let base = Path::new(".");
    let mut g = c.benchmark_group("seam");

    let resnet = load(
        "workload: {model: resnet18}\naccelerator: {kind: systolic, rows: 128, cols: 128, dataflow: os}\n",
    );
    let w = resnet.workload.build(base).expect("resnet18 builds");
    g.bench_function("resnet18_systolic_evaluate", |b| {
        b.iter(|| archsim::evaluate(&resnet, std::hint::black_box(&w)).expect("evaluates"))
    });

    let decode = load(
        "workload: {llm: {model: llama2_7b, phase: decode, batch: 1, prompt_len: 2048}}\naccelerator: {kind: gpu, preset: h100_sxm}\n",
    );
    let w = decode
        .workload
        .build(base)
        .expect("llama2_7b decode lowers");
    g.bench_function("llama2_7b_decode_gpu_evaluate", |b| {
        b.iter(|| archsim::evaluate(&decode, std::hint::black_box(&w)).expect("evaluates"))
    });

    let jobs = load(
        "workload: {jobs: {apps: [{name: wifi_tx, weight: 0.8}, {name: wifi_rx, weight: 0.2}], arrival: {process: poisson, rate_per_ms: 8}, count: 200}}\naccelerator: {kind: soc, preset: ds3, scheduler: etf}\n",
    );
    g.bench_function("ds3_jobs_simulate", |b| {
        b.iter(|| archsim::simulate(std::hint::black_box(&jobs), base).expect("simulates"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
