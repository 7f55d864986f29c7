//! KV-cache precision and compression (`serving.kv.dtype`, `serving.kv.read_fraction`),
//! checked by hand against the fleet's memory and the iteration's decode-attention term.

use std::path::Path;

use archsim_serving::{serve, Fleet};

use crate::common::{llm, serving};

/// A roofline H100-like device with `mem_gb` of memory.
fn device(mem_gb: f64) -> serde_json::Value {
    serde_json::json!({"kind": "roofline", "peak_tflops": {"bf16": 989.0},
                       "mem_bw_gb_s": 3350.0, "mem_gb": mem_gb})
}

fn cfg(mem_gb: f64, kv: serde_json::Value, requests: u64) -> archsim_serving::ServingConfig {
    serving(serde_json::json!({
        "traffic": {"rate": 1000.0, "requests": requests, "seed": 3,
                    "prompt_tokens": {"fixed": 1024}, "output_tokens": {"fixed": 256}},
        "pools": [{"accelerator": device(mem_gb), "count": 1}],
        "scheduler": {"max_batch": 1024, "max_batch_tokens": 4096},
        "kv": kv,
    }))
}

fn fleet(mem_gb: f64, kv: serde_json::Value) -> Fleet {
    Fleet::build(
        &cfg(mem_gb, kv, 10),
        &llm("llama2_7b"),
        0,
        Path::new("."),
        false,
    )
    .unwrap()
}

/// Sequences of 1280 tokens (80 blocks of 16) a replica holds at once.
fn max_batch(f: &Fleet) -> u32 {
    f.pools[0].kv_blocks / (1280 / 16)
}

#[test]
fn an_int4_cache_quadruples_the_max_batch_of_a_kv_bound_replica() {
    // Size the memory by hand: the weights and activations of LLaMA-2-7B (bf16) plus room
    // for exactly 10 sequences of 1280 tokens at 16 bits.
    let probe = fleet(80.0, serde_json::json!({"dtype": "fp16"}));
    let p = &probe.pools[0];
    let fp16_token = p.kv_bytes_per_token_dev;
    assert_eq!(
        fp16_token,
        (2 * 32 * 4096 * 2) as f64,
        "LLaMA-2-7B: 2 × 32 layers × 4096 × 2 B"
    );
    let fixed = p.memory.weights_bytes + p.memory.activation_bytes;
    let room = 10 * 1280 * fp16_token as u64;
    let mem_gb = (fixed + room) as f64 / 1e9;
    let fp16 = fleet(mem_gb, serde_json::json!({"dtype": "fp16"}));
    let int4 = fleet(mem_gb, serde_json::json!({"dtype": "int4"}));
    let int8 = fleet(mem_gb, serde_json::json!({"dtype": "int8"}));
    // Same weights and activations: the cache's bytes are the same, its tokens are not.
    assert_eq!(fp16.pools[0].memory.kv_bytes, int4.pools[0].memory.kv_bytes);
    assert_eq!(int4.pools[0].kv_bytes_per_token_dev * 4.0, fp16_token);
    assert_eq!(max_batch(&fp16), 10);
    assert_eq!(max_batch(&int8), 20);
    assert_eq!(max_batch(&int4), 40);

    // In a run the KV-bound replica batches four times the sequences (less in the ramp and
    // the drain): 200 requests arriving at once.
    let run = |kv| {
        let r = serve(&cfg(mem_gb, kv, 200), &llm("llama2_7b"), 0, Path::new(".")).unwrap();
        let s = &r.outcome.pools[0];
        (
            s.decode_tokens as f64 / s.steps as f64,
            r.report.tokens_per_s,
        )
    };
    let (b16, t16) = run(serde_json::json!({"dtype": "fp16"}));
    let (b4, t4) = run(serde_json::json!({"dtype": "int4"}));
    eprintln!("mean decode batch fp16 {b16:.2}, int4 {b4:.2}; tokens/s {t16:.0} vs {t4:.0}");
    assert!(b4 > 3.0 * b16, "{b4} vs {b16}");
    assert!(t4 > 2.0 * t16, "{t4} vs {t16}");
}

#[test]
fn a_read_fraction_scales_the_decode_attention_and_its_kv_reads() {
    let whole = fleet(80.0, serde_json::json!({"dtype": "bf16"}));
    let quarter = fleet(80.0, serde_json::json!({"read_fraction": 0.25}));
    let int4 = fleet(
        80.0,
        serde_json::json!({"dtype": "int4", "read_fraction": 0.5}),
    );
    // An iteration of 64 decodes over 64 × 2000 context tokens: the attention term (what the
    // context adds to the step) is scaled by f, and by the bytes ratio × f.
    let attn = |f: &Fleet| {
        let s = &f.pools[0].step;
        s.seconds(64, 64, 64 * 2000, 0.0) - s.seconds(64, 64, 0, 0.0)
    };
    assert!(attn(&whole) > 0.0);
    assert!((attn(&quarter) / attn(&whole) - 0.25).abs() < 1e-12);
    assert!((attn(&int4) / attn(&whole) - 0.125).abs() < 1e-12);
    // The rest of the step is untouched.
    let s = |f: &Fleet| f.pools[0].step.seconds(64, 64, 0, 0.0);
    assert_eq!(s(&whole), s(&quarter));
    // A retrieval run reads f of the KV bytes the same requests read whole (no preemption at
    // 80 GB: every decode attends to the same contexts).
    let run = |kv| {
        serve(&cfg(80.0, kv, 50), &llm("llama2_7b"), 0, Path::new("."))
            .unwrap()
            .report
    };
    let a = run(serde_json::json!({"dtype": "bf16"}));
    let b = run(serde_json::json!({"read_fraction": 0.25}));
    assert_eq!(a.preemptions + b.preemptions, 0);
    // Without any change the pool reports no KV section; a fraction or a dtype adds one.
    let ka = serde_json::to_value(&a.pools[0]).unwrap();
    assert!(ka.get("kv").is_none());
    let kb = b.pools[0].kv.as_ref().unwrap();
    let whole_gb =
        50.0 * (1024..1024 + 255).map(|c| c as f64).sum::<f64>() * 2.0 * 32.0 * 4096.0 * 2.0 / 1e9;
    assert!(
        (kb.decode_read_gb / (0.25 * whole_gb) - 1.0).abs() < 1e-9,
        "{} vs {}",
        kb.decode_read_gb,
        whole_gb
    );
    assert!(b.tpot_s.mean < a.tpot_s.mean);
}

#[test]
fn a_bad_read_fraction_names_its_key() {
    let mut c = cfg(80.0, serde_json::json!({}), 10);
    c.kv.read_fraction = Some(1.5);
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("serving.kv.read_fraction"), "{e}");
}
