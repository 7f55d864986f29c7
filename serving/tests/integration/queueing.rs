//! Queueing sanity: batch size 1, deterministic service, Poisson arrivals is an M/D/1 queue,
//! whose mean wait is the Pollaczek–Khinchine formula W = ρ S / (2 (1 − ρ)).

use std::path::Path;

use archsim_serving::{engine, traffic, Fleet};

use crate::common::{llm, roofline, serving};

#[test]
fn md1_mean_wait_matches_pollaczek_khinchine() {
    let mut cfg = serving(serde_json::json!({
        "traffic": {"arrival": "poisson", "rate": 1.0, "requests": 200000, "seed": 3,
                    "prompt_tokens": {"fixed": 512}, "output_tokens": {"fixed": 1}},
        "pools": [{"accelerator": roofline(), "count": 1}],
        "scheduler": {"max_batch": 1, "max_batch_tokens": 1024},
    }));
    let fleet = Fleet::build(&cfg, &llm("llama2_7b"), 0, Path::new("."), false).unwrap();
    // The service time: one prefill of 512 tokens (a knot of the step grid: exact).
    let s = fleet.pools[0]
        .step
        .uniform(archsim_serving::step::UniformStep::Prefill {
            batch: 1,
            prompt: 512,
        });
    for rho in [0.5, 0.8] {
        cfg.traffic.rate = Some(rho / s);
        let reqs = traffic::generate(&cfg.traffic, 0, Path::new("."), None, None).unwrap();
        let out = engine::run(&fleet, &cfg, &reqs, 0).unwrap();
        let n = reqs.len() as f64;
        let wait = out
            .start_ns
            .iter()
            .zip(&out.arrival_ns)
            .map(|(s, a)| (s - a) as f64 * 1e-9)
            .sum::<f64>()
            / n;
        let pk = rho * s / (2.0 * (1.0 - rho));
        let err = (wait / pk - 1.0).abs();
        eprintln!(
            "M/D/1 rho {rho}: S {s:.6} s, mean wait {wait:.6} s, P-K {pk:.6} s, error {:.2}%",
            err * 100.0
        );
        assert!(err < 0.03, "rho {rho}: wait {wait} vs P-K {pk}");
    }
}
