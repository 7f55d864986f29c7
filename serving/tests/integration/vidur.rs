//! Vidur's option set: per-iteration batch statistics, the per-token time between tokens,
//! MFU and busy fraction per replica, the fleet's load, the iteration trace, and the capacity
//! search on a scheduling-delay percentile.

use std::path::Path;

use archsim_serving::config::Role;
use archsim_serving::traffic::Request;
use archsim_serving::{engine, report, serve};

use crate::common::{llm, roofline, serving, synthetic_fleet, synthetic_pool};

/// Four requests at t = 0 on one synthetic replica (10-token prompts, 5 output tokens). The
/// first arrival starts an iteration alone (one 10-token prefill); the next iteration decodes
/// it next to the other three prompts (31 tokens); then three iterations of four decodes and
/// a last one of three.
#[test]
fn batch_tbt_and_mfu_by_hand() {
    let fleet = synthetic_fleet(vec![synthetic_pool(Role::Mixed, 1, 1000, 4096, 64)]);
    let cfg = serving(serde_json::json!({
        "traffic": {"arrival": "static", "requests": 4,
                    "prompt_tokens": {"fixed": 10}, "output_tokens": {"fixed": 5}},
        "pools": [{"accelerator": roofline()}],
        "scheduler": {"max_batch": 64, "max_batch_tokens": 4096},
    }));
    let reqs = vec![
        Request {
            arrival_s: 0.0,
            prompt_tokens: 10,
            output_tokens: 5
        };
        4
    ];
    let out = engine::run(&fleet, &cfg, &reqs, 0).unwrap();
    let (r, _) = report::summarize(&fleet, &cfg, &out, 0, true);
    // Sequences per iteration 1, 4, 4, 4, 4, 3; tokens 10, 31, 4, 4, 4, 3.
    assert_eq!(r.pools[0].steps, 6);
    assert!((r.batch_size.mean - 20.0 / 6.0).abs() < 1e-12);
    assert_eq!(
        (r.batch_size.p50, r.batch_size.p90, r.batch_size.p99),
        (4.0, 4.0, 4.0)
    );
    assert!((r.batch_tokens.mean - 56.0 / 6.0).abs() < 1e-12);
    assert_eq!(
        (r.batch_tokens.p50, r.batch_tokens.p90, r.batch_tokens.p99),
        (4.0, 31.0, 31.0)
    );
    // Sixteen tokens after the first ones, each after the gap of its iteration: by rising
    // gap the last iteration (3 decodes at contexts 13), the three of four decodes (contexts
    // 41, 45, 49 in all) and the 31-token one (the first request's second token).
    let ns = |tokens: u32, n_dec: u32, ctx: u64, attn: f64| {
        (fleet.pools[0].step.seconds(tokens, n_dec, ctx, attn) * 1e9).round() as u64
    };
    let chunk = fleet.pools[0].step.chunk_attn(10, 0);
    let want = vec![
        (ns(3, 3, 39, 0.0), 3),
        (ns(4, 4, 41, 0.0), 4),
        (ns(4, 4, 45, 0.0), 4),
        (ns(4, 4, 49, 0.0), 4),
        (ns(31, 1, 10, chunk + chunk + chunk), 1),
    ];
    assert_eq!(out.tbt_ns, want);
    let mean = want.iter().map(|(g, c)| *g as f64 * *c as f64).sum::<f64>() * 1e-9 / 16.0;
    assert!(
        (r.tbt_s.mean - mean).abs() < 1e-15,
        "{} vs {mean}",
        r.tbt_s.mean
    );
    assert_eq!(r.tbt_s.p99, want[4].0 as f64 * 1e-9);
    assert_eq!(r.tbt_s.p50, want[2].0 as f64 * 1e-9);
    // Every request has as many tokens, so the per-token mean is the per-request TPOT mean.
    assert!((r.tbt_s.mean - r.tpot_s.mean).abs() < 1e-12);
    // Model FLOPs: 56 tokens; query-key pairs 4 × 55 in the prefills, 4 × (11 + 12 + 13 +
    // 14) in the decodes.
    let flops = 56.0 * 1.4e10 + (4.0 * 55.0 + 4.0 * 50.0) * 5e5;
    let rep = &r.replicas[0];
    assert!((rep.mfu.unwrap() - flops / (1e15 * r.duration_s)).abs() < 1e-15);
    assert!(
        (rep.busy_fraction - 1.0).abs() < 1e-9,
        "{}",
        rep.busy_fraction
    );
    assert_eq!(r.pools[0].mfu, rep.mfu);
}

#[test]
fn offered_load_is_the_rate_over_the_saturated_rate_and_busy_fraction_is_not() {
    let cfg = |rate: f64| {
        serving(serde_json::json!({
            "traffic": {"rate": rate, "requests": 3000, "seed": 2,
                        "prompt_tokens": {"fixed": 512}, "output_tokens": {"fixed": 128}},
            "pools": [{"accelerator": roofline(), "count": 1}],
            "scheduler": {"max_batch": 64, "max_batch_tokens": 2048},
        }))
    };
    let probe = serve(&cfg(1.0), &llm("llama2_7b"), 0, Path::new(".")).unwrap();
    let sat = probe.report.load.unwrap().saturated_rps;
    let run = serve(&cfg(0.25 * sat), &llm("llama2_7b"), 0, Path::new(".")).unwrap();
    let load = run.report.load.unwrap();
    assert_eq!(load.saturated_rps, sat);
    assert!(
        (load.offered_load.unwrap() - 0.25).abs() < 0.02,
        "{:?}",
        load
    );
    // A quarter of the fleet, yet busy most of the time: the busy fraction is not a load.
    assert!(load.busy_fraction > 0.5, "{load:?}");
    assert_eq!(load.busy_fraction, run.report.pools[0].busy_fraction);
    // And the fleet does keep up: every request meets a loose SLO.
    assert!(run.report.throughput_rps > 0.2 * sat);
}

#[test]
fn the_trace_has_one_slice_per_iteration_on_its_replicas_track() {
    let mut cfg = serving(serde_json::json!({
        "traffic": {"rate": 4.0, "requests": 100, "seed": 1,
                    "prompt_tokens": {"uniform": [100, 800]}, "output_tokens": {"uniform": [10, 60]}},
        "pools": [{"accelerator": roofline(), "count": 3}],
        "scheduler": {"max_batch": 32, "max_batch_tokens": 1024},
    }));
    let plain = serve(&cfg, &llm("llama2_7b"), 0, Path::new(".")).unwrap();
    assert!(plain.trace.is_none() && plain.report.trace.is_none());
    cfg.trace = true;
    let run = serve(&cfg, &llm("llama2_7b"), 0, Path::new(".")).unwrap();
    // Tracing observes: the run is the same.
    assert_eq!(run.requests.e2e_s, plain.requests.e2e_s);
    let t: serde_json::Value = serde_json::from_str(run.trace.as_deref().unwrap()).unwrap();
    let slices: Vec<&serde_json::Value> = t["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] == "X")
        .collect();
    assert_eq!(slices.len() as u64, run.report.pools[0].steps);
    assert_eq!(run.report.trace.unwrap().slices, slices.len() as u64);
    assert_eq!(run.report.trace.unwrap().dropped, 0);
    let mut per_replica = [0u64; 3];
    let mut tokens = 0u64;
    for s in &slices {
        per_replica[s["tid"].as_u64().unwrap() as usize] += 1;
        tokens += s["args"]["tokens"].as_u64().unwrap();
        assert!(s["dur"].as_f64().unwrap() > 0.0);
    }
    for (i, r) in run.report.replicas.iter().enumerate() {
        assert_eq!(per_replica[i], r.steps);
    }
    // Every prompt token and every decode token (the first of each request comes with its
    // prefill) is in one slice.
    let want: u64 = (0..100)
        .map(|i| run.requests.prompt_tokens[i] + run.requests.output_tokens[i] - 1)
        .sum();
    assert_eq!(tokens, want);
}

#[test]
fn the_capacity_search_bisects_on_the_scheduling_delay() {
    let cfg = |bound: f64| {
        serving(serde_json::json!({
            "traffic": {"rate": 1.0, "requests": 600, "seed": 4,
                        "prompt_tokens": {"fixed": 1024}, "output_tokens": {"fixed": 64}},
            "pools": [{"accelerator": roofline(), "count": 1}],
            "scheduler": {"max_batch": 32, "max_batch_tokens": 2048, "chunked_prefill": false},
            "slo": {"scheduling_delay_p99_s": bound},
            "capacity": {"rel_tol": 0.01},
        }))
    };
    let tight = serve(&cfg(0.02), &llm("llama2_7b"), 0, Path::new(".")).unwrap();
    let loose = serve(&cfg(0.5), &llm("llama2_7b"), 0, Path::new(".")).unwrap();
    let (ct, cl) = (
        tight.report.capacity.unwrap(),
        loose.report.capacity.unwrap(),
    );
    assert!(ct.feasible && cl.feasible);
    assert!(
        ct.rate_rps < cl.rate_rps,
        "{} vs {}",
        ct.rate_rps,
        cl.rate_rps
    );
    for (c, bound) in [(&ct, 0.02), (&cl, 0.5)] {
        for e in &c.evaluations {
            // The verdict of every evaluation is the delay's p99 against the bound.
            assert_eq!(e.slo_met, e.scheduling_delay_p99_s <= bound, "{e:?}");
        }
        let at = c
            .evaluations
            .iter()
            .find(|e| e.rate_rps == c.rate_rps)
            .unwrap();
        assert!(at.scheduling_delay_p99_s <= bound);
    }
}

#[test]
fn traffic_combinations_are_refused_naming_the_key() {
    let check = |traffic: serde_json::Value, key: &str| {
        let cfg = serving(serde_json::json!({
            "traffic": traffic,
            "pools": [{"accelerator": roofline()}],
        }));
        let e = cfg.validate().unwrap_err().to_string();
        assert!(e.starts_with(key), "{e}");
    };
    let lens = serde_json::json!({"fixed": 10});
    check(
        serde_json::json!({"arrival": "static", "rate": 2.0, "prompt_tokens": lens, "output_tokens": lens}),
        "serving.traffic.rate: `arrival: static`",
    );
    check(
        serde_json::json!({"arrival": "static", "duration_s": 5.0, "prompt_tokens": lens, "output_tokens": lens}),
        "serving.traffic.duration_s: `arrival: static`",
    );
    check(
        serde_json::json!({"rate": 2.0, "requests": 10, "duration_s": 5.0, "prompt_tokens": lens, "output_tokens": lens}),
        "serving.traffic.duration_s: give `requests` or `duration_s`",
    );
    check(
        serde_json::json!({"rate": 2.0, "duration_s": -1.0, "prompt_tokens": lens, "output_tokens": lens}),
        "serving.traffic.duration_s: must be a positive number",
    );
    check(
        serde_json::json!({"rate": 2.0, "prompt_tokens": {"zipf": {"theta": 1.0, "min": 50, "max": 10}}, "output_tokens": lens}),
        "serving.traffic.prompt_tokens.zipf: needs 1 <= min <= max",
    );
    check(
        serde_json::json!({"arrival": "poisson", "rate": 2.0, "trace": "pairs.csv", "prompt_tokens": lens}),
        "serving.traffic.prompt_tokens: a length `trace:`",
    );
    let cfg = serving(serde_json::json!({
        "traffic": {"arrival": "static", "requests": 10, "prompt_tokens": lens, "output_tokens": lens},
        "pools": [{"accelerator": roofline()}],
        "capacity": {},
    }));
    let e = cfg.validate().unwrap_err().to_string();
    assert!(
        e.starts_with("serving.capacity: a capacity search varies"),
        "{e}"
    );
}

#[test]
fn a_duration_bounds_the_arrivals_of_a_served_run() {
    let cfg = serving(serde_json::json!({
        "traffic": {"rate": 10.0, "duration_s": 30.0, "seed": 5,
                    "prompt_tokens": {"zipf": {"theta": 1.1, "min": 64, "max": 2048}},
                    "output_tokens": {"fixed": 32}},
        "pools": [{"accelerator": roofline(), "count": 1}],
    }));
    let run = serve(&cfg, &llm("llama3_8b"), 0, Path::new(".")).unwrap();
    let n = run.report.requests as f64;
    assert!((n - 300.0).abs() < 60.0, "{n}");
    assert!(run.requests.arrival_s.iter().all(|&a| a <= 30.0));
    assert_eq!(run.report.model, "llama3_8b");
}
