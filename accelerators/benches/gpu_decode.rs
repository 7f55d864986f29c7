//! Predicting one LLaMA-2-7B decode step on the H100 model (the workload lowered once): the
//! fast path `Gpu::predict` and the full report `Gpu::evaluate`.
//!
//! Targets: predicting one decode step in under 50 µs, one ResNet-50 (batch 32, PyTorch's
//! program) in under 100 µs; the figures are printed at the end.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};

use archsim_accelerators::gpu::{Gpu, GpuConfig, LaunchMode};
use archsim_workloads::{llm, DType};

fn decode_step() -> archsim_workloads::Workload {
    let cfg = llm::LlmConfig {
        model: "llama2_7b".into(),
        phase: llm::Phase::Decode,
        batch: 1,
        prompt_len: 2048,
        context_len: Some(2049),
        layers: None,
        tp: 1,
        moe_skew: 0.0,
        ..Default::default()
    };
    llm::lower(&cfg, DType::Bf16).expect("llama2_7b lowers")
}

fn bench(c: &mut Criterion) {
    let w = decode_step();
    let gpu = Gpu::new(&GpuConfig::preset("h100_sxm", LaunchMode::CudaGraph)).expect("preset");
    let mut g = c.benchmark_group("llama2_7b_decode_h100");
    g.bench_function("predict", |b| {
        b.iter(|| gpu.predict(std::hint::black_box(&w)))
    });
    g.bench_function("evaluate_report", |b| {
        b.iter(|| {
            gpu.evaluate(std::hint::black_box(&w), "bench", 0)
                .expect("evaluates")
        })
    });
    g.finish();
    let resnet = archsim_workloads::zoo::build("resnet50", 32, DType::Bf16).expect("resnet50");
    c.bench_function("resnet50_b32_h100/predict", |b| {
        b.iter(|| gpu.predict(std::hint::black_box(&resnet)))
    });

    let n = 2000u32;
    let t0 = Instant::now();
    for _ in 0..n {
        std::hint::black_box(gpu.predict(std::hint::black_box(&w)));
    }
    let per = t0.elapsed() / n;
    println!(
        "llama2_7b decode step ({} ops) on h100_sxm: {:.1} us per prediction ({:.3} ms predicted); target < 50 us: {}",
        w.len(),
        per.as_secs_f64() * 1e6,
        gpu.predict(&w) * 1e3,
        if per < Duration::from_micros(50) { "met" } else { "MISSED" }
    );
    let n = 2000u32;
    let t0 = Instant::now();
    for _ in 0..n {
        std::hint::black_box(gpu.predict(std::hint::black_box(&resnet)));
    }
    let per = t0.elapsed() / n;
    println!(
        "resnet50 batch 32 ({} ops, {} kernels) on h100_sxm: {:.1} us per prediction ({:.3} ms predicted); target < 100 us: {}",
        resnet.len(),
        archsim_accelerators::gpu::program::lower(&gpu, &resnet)
            .iter()
            .map(|(_, k)| k.kernels.len())
            .sum::<usize>(),
        per.as_secs_f64() * 1e6,
        gpu.predict(&resnet) * 1e3,
        if per < Duration::from_micros(100) { "met" } else { "MISSED" }
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
