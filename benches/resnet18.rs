//! One whole ResNet-18 evaluation (workload built once; mapping, schedule and report per
//! iteration) on a 128×128 array, the loop an optimizer pays for.
//!
//! Target: under 100 µs. SCALE-Sim v3 needs 54–74 s for the same network on this machine class
//! (tests/data/scalesim/README.md); the ratio is printed at the end.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};

use archsim_accelerators::pipeline;
use archsim_accelerators::systolic::{Dataflow, Systolic, SystolicConfig};
use archsim_workloads::{zoo, DType};

/// SCALE-Sim v3.0.0 wall time for ResNet-18 on 128×128, output stationary (seconds).
const SCALESIM_OS_128_S: f64 = 54.0;

fn bench(c: &mut Criterion) {
    // As the `archsim` binary and the Python module run (see `archsim::heap`).
    archsim::heap::retain_freed_memory();
    let w = zoo::resnet18(1, DType::Int8).unwrap();
    let mut g = c.benchmark_group("resnet18_128x128");
    for df in [Dataflow::Os, Dataflow::Ws, Dataflow::Is] {
        let acc = Systolic::new(SystolicConfig::new(128, 128, df)).unwrap();
        g.bench_function(df.name(), |b| {
            b.iter(|| pipeline::evaluate(&w, &acc, "bench", 0).unwrap())
        });
    }
    let mut stalled = SystolicConfig::new(128, 128, Dataflow::Os);
    stalled.dram_bw_bytes_per_cycle = Some(8.0);
    let acc = Systolic::new(stalled).unwrap();
    g.bench_function("os_dram_8_words_per_cycle", |b| {
        b.iter(|| pipeline::evaluate(&w, &acc, "bench", 0).unwrap())
    });
    g.finish();

    // A small array behind a narrow DRAM interface: thousands of folds per layer, the case the
    // prefetch-stall model must price without walking them.
    let mut small = SystolicConfig::new(16, 16, Dataflow::Ws);
    small.dram_bw_bytes_per_cycle = Some(2.0);
    let acc = Systolic::new(small).unwrap();
    c.bench_function("resnet18_16x16_ws_dram_2_words_per_cycle", |b| {
        b.iter(|| pipeline::evaluate(&w, &acc, "bench", 0).unwrap())
    });

    // The ratio against SCALE-Sim, measured in this run.
    let acc = Systolic::new(SystolicConfig::new(128, 128, Dataflow::Os)).unwrap();
    let n = 2000u32;
    let t0 = Instant::now();
    for _ in 0..n {
        std::hint::black_box(pipeline::evaluate(&w, &acc, "bench", 0).unwrap());
    }
    let per = t0.elapsed() / n;
    println!(
        "resnet18 128x128 os: {:.1} us per evaluation; SCALE-Sim v3: {SCALESIM_OS_128_S} s; ratio {:.0}x; target < 100 us: {}",
        per.as_secs_f64() * 1e6,
        SCALESIM_OS_128_S / per.as_secs_f64(),
        if per < Duration::from_micros(100) { "met" } else { "MISSED" }
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
