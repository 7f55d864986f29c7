//! Simulated jobs per second: the DS3 WiFi mix (TX 80 %, RX 20 %, Poisson at 8 jobs/ms) on
//! DS3's 16-PE SoC, per scheduler. One iteration simulates 200 jobs (about 5,800 tasks).

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use archsim_accelerators::soc::{self, Policy, Soc, SocConfig};
use archsim_workloads::jobs::{AppRef, Arrival, JobsConfig, Process};

fn wifi(c: &mut Criterion) {
    let jobs = 200;
    let set = JobsConfig {
        apps: vec![AppRef::named("wifi_tx", 0.8), AppRef::named("wifi_rx", 0.2)],
        arrival: Arrival {
            process: Process::Poisson,
            rate_per_ms: Some(8.0),
        },
        count: jobs,
    }
    .build(Path::new("."), 0)
    .expect("built-in applications load");
    let mut cfg = SocConfig::preset("ds3").expect("ds3 preset");
    cfg.exec_noise = 0.2;
    let soc = Arc::new(Soc::new(cfg).expect("valid SoC"));
    let work = Arc::new(soc.bind(&set).expect("every task has a PE"));
    let mut g = c.benchmark_group("soc_wifi_mix");
    g.throughput(Throughput::Elements(jobs));
    for kind in [Policy::Met, Policy::Etf, Policy::Heft] {
        g.bench_function(kind.name(), |b| {
            b.iter(|| {
                let mut s = soc::scheduler(kind, 0);
                black_box(soc::run(soc.clone(), work.clone(), s.as_mut(), 0).expect("runs"))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, wifi);
criterion_main!(benches);
