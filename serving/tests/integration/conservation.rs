//! Conservation, property-tested on random fleets, schedulers and traffic: every request
//! finishes exactly once, KV blocks never exceed capacity, no token comes before the prefill
//! ends, utilization ≤ 1, every output token is produced once.

use std::path::Path;

use proptest::prelude::*;

use archsim_serving::config::{Preemption, Role, RouterKind};
use archsim_serving::engine::NEVER;
use archsim_serving::{engine, report, traffic};

use crate::common::{serving, synthetic_fleet, synthetic_pool};

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn requests_tokens_and_blocks_are_conserved(
        rate in 1.0f64..400.0,
        n in 1u64..300,
        prompt in (1u32..400, 0u32..400),
        output in (1u32..100, 0u32..200),
        max_batch in 1u32..32,
        extra_tokens in 0u32..600,
        block in 1u32..32,
        blocks in 0u32..200,
        count in 1u32..4,
        chunked: bool,
        swap: bool,
        disagg: bool,
        router in 0usize..3,
        migrate: bool,
        seed in 0u64..1000,
    ) {
        let (p0, p1) = (prompt.0, prompt.0 + prompt.1);
        let (o0, o1) = (output.0, output.0 + output.1);
        let mut cfg = serving(serde_json::json!({
            "traffic": {"rate": rate, "requests": n, "seed": seed,
                        "prompt_tokens": {"uniform": [p0, p1]}, "output_tokens": {"uniform": [o0, o1]}},
            "pools": [{"accelerator": {}, "count": count}],
            "scheduler": {"max_batch": max_batch, "max_batch_tokens": max_batch + extra_tokens,
                          "chunked_prefill": chunked},
            "kv": {"block_tokens": block},
        }));
        cfg.kv.preemption = if swap { Preemption::Swap } else { Preemption::Recompute };
        cfg.router.kind = [RouterKind::RoundRobin, RouterKind::LeastLoaded, RouterKind::PowerOfTwo][router];
        if migrate {
            cfg.migration = Some(archsim_serving::config::MigrationConfig { high: 0.6, low: 0.3 });
        }
        // Just enough blocks for the longest request, plus a random margin.
        let kv = (p1 + o1).div_ceil(block) + blocks;
        let t_max = cfg.scheduler.max_batch_tokens as u64;
        let b_max = cfg.scheduler.max_batch as u64;
        let pools = if disagg {
            vec![synthetic_pool(Role::Prefill, count, kv, t_max, b_max),
                 synthetic_pool(Role::Decode, 1 + count / 2, kv, t_max, b_max)]
        } else {
            vec![synthetic_pool(Role::Mixed, count, kv, t_max, b_max)]
        };
        let fleet = synthetic_fleet(pools);
        let reqs = traffic::generate(&cfg.traffic, seed, Path::new("."), None, None).unwrap();
        let out = engine::run(&fleet, &cfg, &reqs, seed).unwrap();
        // Exactly once.
        prop_assert_eq!(out.completions, n);
        for i in 0..n as usize {
            let (a, s, f, e) = (out.arrival_ns[i], out.start_ns[i], out.first_ns[i], out.finish_ns[i]);
            prop_assert!(s != NEVER && f != NEVER && e != NEVER);
            // No token before its prefill (which starts at or after the arrival) ends.
            prop_assert!(a <= s && s < f && f <= e, "request {}: {} {} {} {}", i, a, s, f, e);
            if out.output[i] > 1 {
                prop_assert!(f < e);
            }
        }
        let mut decoded = 0;
        let mut prefilled = 0;
        for (p, st) in fleet.pools.iter().zip(&out.pools) {
            prop_assert!(st.peak_blocks <= p.kv_blocks);
            prop_assert!(st.busy_ns <= out.makespan_ns * p.count as u64);
            decoded += st.decode_tokens;
            prefilled += st.prefill_tokens;
        }
        let outputs: u64 = reqs.iter().map(|r| r.output_tokens as u64).sum();
        let prompts: u64 = reqs.iter().map(|r| r.prompt_tokens as u64).sum();
        prop_assert_eq!(decoded, outputs);
        prop_assert!(prefilled >= prompts);
        let (rep, table) = report::summarize(&fleet, &cfg, &out, seed, true);
        prop_assert_eq!(table.id.len() as u64, n);
        for p in &rep.pools {
            prop_assert!(p.utilization <= 1.0 && p.kv_peak_occupancy <= 1.0);
        }
        prop_assert!(rep.slo_attainment == 1.0);
    }
}

#[test]
fn same_seed_same_bytes() {
    let cfg = serving(serde_json::json!({
        "traffic": {"arrival": "gamma", "cv": 2.0, "rate": 50.0, "requests": 2000, "seed": 4,
                    "prompt_tokens": {"lognormal": {"mean": 300.0, "sigma": 1.0}},
                    "output_tokens": {"uniform": [1, 300]}},
        "pools": [{"accelerator": {}, "count": 3}],
        "scheduler": {"max_batch": 32, "max_batch_tokens": 1024},
        "router": {"kind": "power_of_two"},
    }));
    let fleet = synthetic_fleet(vec![synthetic_pool(Role::Mixed, 3, 2000, 1024, 32)]);
    let run = || {
        let reqs = traffic::generate(&cfg.traffic, 0, Path::new("."), None, None).unwrap();
        let out = engine::run(&fleet, &cfg, &reqs, 0).unwrap();
        let (r, t) = report::summarize(&fleet, &cfg, &out, 0, true);
        let mut csv = Vec::new();
        t.write_csv(&mut csv).unwrap();
        (serde_json::to_string(&r).unwrap(), csv)
    };
    assert_eq!(run(), run());
}
