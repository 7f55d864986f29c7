//! Speculative decoding (`serving.speculative`): tokens per verification round follow
//! `(1 − α^(k+1)) / (1 − α)`, and a draft that is never accepted only costs time.

use std::path::Path;

use archsim_serving::serve;
use archsim_serving::speculative::expected_tokens;

use crate::common::{llm, roofline, serving};

/// A CPU as a roofline: 56 cores of AMX (about 100 dense bf16 TFLOP/s), 8 channels of DDR5.
fn cpu() -> serde_json::Value {
    serde_json::json!({"kind": "roofline", "peak_tflops": {"bf16": 100.0},
                       "mem_bw_gb_s": 300.0, "mem_gb": 512.0})
}

fn cfg(spec: serde_json::Value, requests: u64, replicas: u32) -> archsim_serving::ServingConfig {
    let mut v = serde_json::json!({
        "traffic": {"rate": 40.0 * replicas as f64, "requests": requests, "seed": 11,
                    "prompt_tokens": {"fixed": 128}, "output_tokens": {"fixed": 64}},
        "pools": [{"accelerator": roofline(), "count": replicas}],
        "scheduler": {"max_batch": 64, "max_batch_tokens": 2048},
    });
    if !spec.is_null() {
        v["speculative"] = spec;
    }
    let c = serving(v);
    c.validate().unwrap();
    c
}

fn spec(k: u32, acceptance: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"draft": {"model": "llama2_7b", "layers": 2, "accelerator": cpu()},
                       "tokens": k, "acceptance": acceptance})
}

#[test]
fn tokens_per_round_follow_the_geometric_sum_over_100k_requests() {
    for (k, a) in [(4u32, 0.7f64), (2, 0.5), (6, 0.9)] {
        let run = serve(
            &cfg(spec(k, serde_json::json!(a)), 100_000, 8),
            &llm("llama2_7b"),
            0,
            Path::new("."),
        )
        .unwrap();
        let s = run.report.pools[0].speculative.as_ref().unwrap();
        let want = expected_tokens(a, k);
        assert_eq!(s.expected_tokens_per_round, Some(want));
        let err = (s.tokens_per_full_round / want - 1.0).abs();
        eprintln!(
            "k {k} α {a}: {:.4} tokens per round vs {want:.4} ({:.3}%), {} rounds",
            s.tokens_per_full_round,
            err * 100.0,
            s.rounds
        );
        assert!(err < 0.01, "{} vs {want}", s.tokens_per_full_round);
        // Every output token is produced once.
        let decoded: u64 = run.outcome.pools.iter().map(|p| p.decode_tokens).sum();
        assert_eq!(decoded, 100_000 * 64);
    }
}

#[test]
fn a_draft_never_accepted_costs_a_draft_and_a_verification_per_token() {
    let plain = serve(
        &cfg(serde_json::Value::Null, 300, 1),
        &llm("llama2_7b"),
        0,
        Path::new("."),
    )
    .unwrap();
    let zero = serve(
        &cfg(spec(4, serde_json::json!(0.0)), 300, 1),
        &llm("llama2_7b"),
        0,
        Path::new("."),
    )
    .unwrap();
    let s = zero.report.pools[0].speculative.as_ref().unwrap();
    // One token per round: one round per decoded token (the first comes out of the prefill).
    assert_eq!(s.tokens_per_round, 1.0);
    assert_eq!(s.rounds, 300 * 63);
    assert!(
        zero.report.tpot_s.mean > plain.report.tpot_s.mean,
        "{} vs {}",
        zero.report.tpot_s.mean,
        plain.report.tpot_s.mean
    );
    // A good draft pays: α = 0.9 at k = 4 yields 4.1 tokens a round, drafted on the GPU (a
    // draft step of the 2-layer model reads 1.3 GB: 0.4 ms at 3.35 TB/s, 4.4 ms on the CPU's
    // 300 GB/s, where it does not pay).
    let mut on_gpu = spec(4, serde_json::json!(0.9));
    on_gpu["draft"]["accelerator"] = roofline();
    let good = serve(&cfg(on_gpu, 300, 1), &llm("llama2_7b"), 0, Path::new(".")).unwrap();
    assert!(
        good.report.tpot_s.mean < plain.report.tpot_s.mean,
        "{} vs {}",
        good.report.tpot_s.mean,
        plain.report.tpot_s.mean
    );
    eprintln!(
        "TPOT plain {:.5} s, α=0 {:.5} s, α=0.9 {:.5} s",
        plain.report.tpot_s.mean, zero.report.tpot_s.mean, good.report.tpot_s.mean
    );
}

#[test]
fn per_request_acceptance_is_drawn_and_seeded() {
    let c = cfg(spec(3, serde_json::json!({"uniform": [0.2, 0.8]})), 2000, 1);
    let a = serve(&c, &llm("llama2_7b"), 0, Path::new(".")).unwrap();
    let b = serve(&c, &llm("llama2_7b"), 0, Path::new(".")).unwrap();
    let s = a.report.pools[0].speculative.as_ref().unwrap();
    assert!(s.expected_tokens_per_round.is_none());
    // Between the bounds' own expectations.
    assert!(
        s.tokens_per_full_round > expected_tokens(0.2, 3)
            && s.tokens_per_full_round < expected_tokens(0.8, 3)
    );
    assert_eq!(a.requests.e2e_s, b.requests.e2e_s);
}

#[test]
fn a_bad_draft_names_the_drafts_key() {
    let mut v = spec(4, serde_json::json!(0.5));
    v["draft"]["accelerator"] = serde_json::json!({"kind": "roofline", "bogus": 1});
    let c = cfg(v, 10, 1);
    let e = serve(&c, &llm("llama2_7b"), 0, Path::new("."))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("serving.speculative.draft.accelerator"),
        "{e}"
    );
}
