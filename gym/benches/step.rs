//! Gym steps per second: what an RL agent pays per design evaluated.

use criterion::{criterion_group, criterion_main, Criterion};

use archsim_gym::{presets, DseEnv, Env};

fn bench(c: &mut Criterion) {
    for (name, yaml) in [
        ("gemm_one_layer", presets::SYSTOLIC_GEMM),
        ("resnet18", presets::SYSTOLIC_RESNET18),
    ] {
        let mut env = DseEnv::from_yaml(yaml, std::path::Path::new(".")).unwrap();
        env.reset(Some(0));
        let nvec = env.space().nvec();
        let mut k = 0i64;
        c.bench_function(&format!("step_{name}"), |b| {
            b.iter(|| {
                k += 1;
                let a: Vec<i64> = nvec
                    .iter()
                    .enumerate()
                    .map(|(i, &n)| (k + i as i64) % n as i64)
                    .collect();
                env.step(&a).unwrap()
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
