//! Prefix caching (`serving.prefix_cache`): a hit skips the shared prefix's prefill, checked
//! by hand against the pool's own iteration cost.

use std::path::Path;

use archsim_serving::{serve, Fleet};

use crate::common::{llm, roofline, serving};

fn cfg(prefix: serde_json::Value, rate: f64, requests: u64) -> archsim_serving::ServingConfig {
    let mut v = serde_json::json!({
        "traffic": {"rate": rate, "requests": requests, "seed": 5,
                    "prompt_tokens": {"fixed": 1024}, "output_tokens": {"fixed": 16}},
        "pools": [{"accelerator": roofline(), "count": 1}],
        "scheduler": {"max_batch": 64, "max_batch_tokens": 4096},
    });
    if !prefix.is_null() {
        v["prefix_cache"] = prefix;
    }
    serving(v)
}

#[test]
fn a_full_prefix_hit_skips_the_shared_prefill() {
    let c = cfg(
        serde_json::json!({"tokens": 1000, "hit_rate": 1.0}),
        0.01,
        20,
    );
    c.validate().unwrap();
    let fleet = Fleet::build(&c, &llm("llama2_7b"), 0, Path::new("."), false).unwrap();
    let step = &fleet.pools[0].step;
    // Alone on the replica, a request prefills its 24 own tokens after 1000 cached ones.
    let want = step.seconds(24, 0, 0, step.chunk_attn(24, 1000));
    let whole = step.seconds(1024, 0, 0, step.chunk_attn(1024, 0));
    let run = serve(&c, &llm("llama2_7b"), 0, Path::new(".")).unwrap();
    for &t in &run.requests.ttft_s {
        assert!((t - want).abs() < 2e-9, "{t} vs {want}");
    }
    let p = run.report.pools[0].prefix_cache.as_ref().unwrap();
    assert_eq!(
        (p.hits, p.hit_tokens, p.prefill_tokens),
        (20, 20_000, 20 * 24)
    );
    // Without the cache the same requests prefill 1024 tokens each.
    let plain = serve(
        &cfg(serde_json::Value::Null, 0.01, 20),
        &llm("llama2_7b"),
        0,
        Path::new("."),
    )
    .unwrap();
    for &t in &plain.requests.ttft_s {
        assert!((t - whole).abs() < 2e-9, "{t} vs {whole}");
    }
    // 24 tokens still read every weight once (4 ms at 3.35 TB/s), a quarter of the whole prompt.
    assert!(want < whole / 4.0, "{want} vs {whole}");
    assert!(serde_json::to_value(&plain.report.pools[0])
        .unwrap()
        .get("prefix_cache")
        .is_none());
}

#[test]
fn each_groups_first_request_computes_the_prefix_and_the_rest_share_it() {
    let run = |prefix| {
        serve(
            &cfg(prefix, 20.0, 400),
            &llm("llama2_7b"),
            0,
            Path::new("."),
        )
        .unwrap()
    };
    let grouped = run(serde_json::json!({"tokens": 768, "groups": 4}));
    let plain = run(serde_json::Value::Null);
    let p = grouped.report.pools[0].prefix_cache.as_ref().unwrap();
    // One replica: each of the 4 groups misses once.
    assert_eq!(p.hits, 396);
    assert_eq!(p.hit_tokens, 396 * 768);
    assert_eq!(p.prefill_tokens, 400 * 1024 - 396 * 768);
    // Four prefixes of 48 blocks are pinned; the rest is shared.
    assert!(grouped.report.pools[0].kv_peak_occupancy > 0.0);
    assert!(grouped.report.ttft_s.p90 < plain.report.ttft_s.p90);
    assert!(grouped.report.pools[0].utilization < plain.report.pools[0].utilization);
}

#[test]
fn prefix_caching_is_rejected_on_disaggregated_pools_and_needs_one_mode() {
    let mut c = cfg(serde_json::json!({"tokens": 100, "groups": 2}), 1.0, 10);
    c.pools[0].role = archsim_serving::config::Role::Prefill;
    let mut d = c.pools[0].clone();
    d.role = archsim_serving::config::Role::Decode;
    c.pools.push(d);
    let e = c.validate().unwrap_err().to_string();
    assert!(
        e.starts_with("serving.prefix_cache: prefix caching is modelled on co-located pools only"),
        "{e}"
    );
    let c = cfg(serde_json::json!({"tokens": 100}), 1.0, 10);
    assert!(c
        .validate()
        .unwrap_err()
        .to_string()
        .contains("give one of"));
}
