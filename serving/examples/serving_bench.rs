//! This demonstrates the serving simulator's speed: 1,000,000 requests through 16 replicas
//! of LLaMA-2-7B on the H100 model, and a capacity search (bisection over the rate), each
//! timed on one thread. Run it optimized:
//!
//! ```text
//! cargo run --release -p archsim-serving --example serving_bench
//! ```
//!
//! It prints requests simulated per second and asserts the targets (1M requests in under
//! 10 s, the capacity search in under 5 s; the fleet's step grid is priced once, before), and
//! the same 1M requests with speculative decoding, an int4 KV cache and prefix caching (10 s).

use std::path::Path;
use std::time::Instant;

use archsim_serving::{capacity, engine, report, traffic, Fleet, ServingConfig};
use archsim_workloads::WorkloadConfig;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cfg: ServingConfig = serde_json::from_value(serde_json::json!({
        "traffic": {"arrival": "poisson", "rate": 300.0, "requests": 1_000_000, "seed": 0,
                    "prompt_tokens": {"lognormal": {"mean": 512.0, "sigma": 0.7, "max": 4096}},
                    "output_tokens": {"lognormal": {"mean": 128.0, "sigma": 0.7, "max": 1024}}},
        "pools": [{"accelerator": {"kind": "gpu", "preset": "h100_sxm"}, "count": 16, "cost_per_hour": 4.0}],
        "scheduler": {"max_batch": 128, "max_batch_tokens": 4096},
        "slo": {"ttft_p90_s": 0.5, "tpot_p99_s": 0.1},
        "capacity": {"requests": 20000, "rel_tol": 0.02}
    }))?;
    let workload: WorkloadConfig =
        serde_json::from_value(serde_json::json!({"llm": {"model": "llama2_7b"}}))?;
    let base = Path::new(".");
    let t = Instant::now();
    let fleet = Fleet::build(&cfg, &workload, 0, base, false)?;
    println!(
        "fleet built (step grid priced by the GPU model): {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let reqs = traffic::generate(&cfg.traffic, 0, base, None, None)?;
    let gen_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let out = engine::run(&fleet, &cfg, &reqs, 0)?;
    let sim_s = t.elapsed().as_secs_f64();
    let (r, _) = report::summarize(&fleet, &cfg, &out, 0, false);
    let total = gen_s + sim_s;
    println!(
        "1,000,000 requests, 16 replicas: traffic {gen_s:.2} s + simulation {sim_s:.2} s = {total:.2} s ({:.0} requests/s); {} iterations; TTFT p90 {:.3} s, TPOT p99 {:.4} s, {:.0} output tokens/s simulated",
        reqs.len() as f64 / total,
        r.pools[0].steps,
        r.ttft_s.p90,
        r.tpot_s.p99,
        r.tokens_per_s
    );
    let t = Instant::now();
    let c = capacity(&fleet, &cfg, 0, base)?;
    let cap_s = t.elapsed().as_secs_f64();
    println!(
        "capacity search: {:.1} requests/s within the SLO, {} evaluations of {} requests, {cap_s:.2} s",
        c.rate_rps,
        c.evaluations.len(),
        c.requests
    );
    assert!(total < 10.0, "1M requests took {total:.2} s");
    assert!(cap_s < 5.0, "the capacity search took {cap_s:.2} s");
    seeds(&cfg, &workload)?;
    Ok(())
}

/// The same 1M requests with speculative decoding (a GPT-2-sized draft on a CPU roofline,
/// k = 4, α = 0.7), an int4 KV cache and a shared 256-token prompt prefix in 8 groups.
fn seeds(
    base_cfg: &ServingConfig,
    workload: &WorkloadConfig,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut v = serde_json::to_value(base_cfg)?;
    v["speculative"] = serde_json::json!({
        "draft": {"model": "gpt2", "accelerator": {"kind": "roofline", "peak_tflops": {"bf16": 115.0},
                                                   "mem_bw_gb_s": 307.0, "mem_gb": 512.0}},
        "tokens": 4, "acceptance": 0.7});
    v["kv"]["dtype"] = serde_json::json!("int4");
    v["prefix_cache"] = serde_json::json!({"tokens": 256, "groups": 8});
    v["capacity"] = serde_json::Value::Null;
    let cfg: ServingConfig = serde_json::from_value(v)?;
    let base = Path::new(".");
    let fleet = Fleet::build(&cfg, workload, 0, base, false)?;
    let t = Instant::now();
    let reqs = traffic::generate(&cfg.traffic, 0, base, None, None)?;
    let out = engine::run(&fleet, &cfg, &reqs, 0)?;
    let total = t.elapsed().as_secs_f64();
    let (r, _) = report::summarize(&fleet, &cfg, &out, 0, false);
    let sp = r.pools[0]
        .speculative
        .as_ref()
        .map_or(0.0, |s| s.tokens_per_round);
    println!(
        "1,000,000 requests with speculative decoding, int4 KV and prefix caching: {total:.2} s ({:.0} requests/s); {} iterations, {sp:.2} tokens per round; TTFT p90 {:.3} s, TPOT p99 {:.4} s",
        reqs.len() as f64 / total,
        r.pools[0].steps,
        r.ttft_s.p90,
        r.tpot_s.p99
    );
    assert!(total < 10.0, "1M requests with the seeds took {total:.2} s");
    Ok(())
}
