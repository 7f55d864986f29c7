//! Cost evaluations per second: one conv layer's mapping and cost on a systolic array.

use criterion::{criterion_group, criterion_main, Criterion};

use archsim_accelerators::systolic::{Dataflow, Systolic, SystolicConfig};
use archsim_accelerators::Accelerator;
use archsim_workloads::{zoo, DType};

fn bench(c: &mut Criterion) {
    let w = zoo::resnet18(1, DType::Int8).unwrap();
    let op = w
        .ops()
        .find(|o| o.name == "layer2.0.conv2")
        .unwrap()
        .clone();
    for (name, bw) in [
        ("unlimited_dram", None),
        ("dram_4_words_per_cycle", Some(4.0)),
    ] {
        let mut cfg = SystolicConfig::new(32, 32, Dataflow::Ws);
        cfg.dram_bw_bytes_per_cycle = bw;
        let acc = Systolic::new(cfg).unwrap();
        c.bench_function(&format!("conv_cost_32x32_ws_{name}"), |b| {
            b.iter(|| {
                let m = acc.map(&op).unwrap();
                acc.cost(&op, &m)
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
