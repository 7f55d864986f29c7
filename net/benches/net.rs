//! What agents and the CLI pay for: pricing one collective on a large cluster, and simulating
//! many concurrent flows with contention.

use archsim_net::flow::{self, Flow};
use archsim_net::{price_on, Algorithm, ClusterSpec, NetModel, Op, ScaleOutKind, ScaleUpKind};
use criterion::{criterion_group, criterion_main, Criterion};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;

fn cluster() -> ClusterSpec {
    // 128 DGX-A100-like nodes: NVSwitch inside, 8 × 25 GB/s NICs on a rail-optimized network.
    ClusterSpec::node(ScaleUpKind::Nvswitch, 8, 300.0, 1.0).scale_out(
        128,
        ScaleOutKind::Rail,
        25.0,
        8,
        5.0,
        1.0,
    )
}

fn all_reduce_1024(c: &mut Criterion) {
    let spec = cluster();
    let model = NetModel::nccl();
    c.bench_function(
        "all_reduce 1 GiB over 1024 devices (128 nodes, rail)",
        |b| {
            b.iter(|| {
                price_on(
                    black_box(&spec),
                    &model,
                    Op::AllReduce,
                    black_box(1073741824.0),
                    1024,
                    None,
                )
            })
        },
    );
}

/// 10,000 concurrent flows on the 1,024-GPU cluster, all starting together: an expert-parallel
/// all-to-all among the 88 GPUs of 11 nodes (7,656 flows of 256 MiB / 88), a data-parallel
/// hierarchical all-reduce of 1 GiB over all 1,024 GPUs (2,048 flows) and 296 background flows
/// between random GPUs with random sizes (1–64 MiB). They contend on the NVSwitch ports and the
/// NICs; every distinct completion is an event that reshuffles the fair shares.
fn ten_thousand_flows(c: &mut Criterion) {
    let topo = cluster().build().expect("valid cluster");
    let mut flows =
        flow::collective_flows(&topo, Op::AllToAll, Algorithm::Direct, 268435456.0, 88, 0.0)
            .expect("a2a");
    flows.extend(
        flow::collective_flows(
            &topo,
            Op::AllReduce,
            Algorithm::Hierarchical,
            1073741824.0,
            1024,
            0.0,
        )
        .expect("all-reduce"),
    );
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    while flows.len() < 10_000 {
        let a = rng.random_range(0..1024);
        let b = rng.random_range(0..1024);
        if a == b {
            continue;
        }
        let bytes = rng.random_range(1.0..64.0) * 1048576.0;
        flows.push(flow::device_flow(&topo, a, b, bytes, 0.0).expect("connected"));
    }
    let flows: Vec<Flow> = flows;
    let mut g = c.benchmark_group("flows");
    g.sample_size(10);
    g.bench_function(
        "10,000 concurrent flows (a2a + all-reduce + background), 1024 GPUs",
        |b| b.iter(|| flow::simulate(black_box(&topo), black_box(&flows)).expect("simulates")),
    );
    g.finish();
}

/// The worst case per flow: 1,000 flows between random GPUs with random sizes, so every
/// completion is its own event (cost ∝ events × active flows × path length).
fn thousand_random_flows(c: &mut Criterion) {
    let topo = cluster().build().expect("valid cluster");
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut flows = Vec::new();
    while flows.len() < 1_000 {
        let a = rng.random_range(0..1024);
        let b = rng.random_range(0..1024);
        if a != b {
            let bytes = rng.random_range(1.0..64.0) * 1048576.0;
            flows.push(flow::device_flow(&topo, a, b, bytes, 0.0).expect("connected"));
        }
    }
    let mut g = c.benchmark_group("flows");
    g.sample_size(10);
    g.bench_function("1,000 random flows, random sizes, 1024 GPUs", |b| {
        b.iter(|| flow::simulate(black_box(&topo), black_box(&flows)).expect("simulates"))
    });
    g.finish();
}

criterion_group!(
    benches,
    all_reduce_1024,
    ten_thousand_flows,
    thousand_random_flows
);
criterion_main!(benches);
