//! Far below capacity a request's TTFT is the single prefill step that `archsim run` reports
//! for the same `llm:` config on the same accelerator, under the program a serving run prices
//! by default (`framework: fused`).

use std::path::Path;

use archsim_accelerators::config::SimConfig;
use archsim_serving::serve;

use crate::common::{llm, serving};

fn archsim_ttft(acc: serde_json::Value, prompt: u64) -> f64 {
    let doc = serde_json::json!({
        "workload": {"llm": {"model": "llama2_7b", "phase": "prefill", "batch": 1, "prompt_len": prompt},
                     "framework": "fused"},
        "accelerator": acc,
    });
    let cfg = SimConfig::from_value(doc).unwrap();
    let w = cfg.workload.build(Path::new(".")).unwrap();
    let r = cfg
        .accelerator
        .family()
        .unwrap()
        .run_graph(&w, &cfg.context(""))
        .unwrap();
    r.llm.unwrap().ttft_s
}

#[test]
fn ttft_far_below_capacity_is_archsims_prefill_step() {
    for acc in [
        serde_json::json!({"kind": "gpu", "preset": "h100_sxm"}),
        crate::common::roofline(),
    ] {
        let want = archsim_ttft(acc.clone(), 1000);
        let cfg = serving(serde_json::json!({
            "traffic": {"rate": 0.01, "requests": 20, "seed": 1,
                        "prompt_tokens": {"fixed": 1000}, "output_tokens": {"fixed": 16}},
            "pools": [{"accelerator": acc, "count": 1}],
        }));
        let run = serve(&cfg, &llm("llama2_7b"), 0, Path::new(".")).unwrap();
        for &t in &run.requests.ttft_s {
            assert!((t - want).abs() < 2e-9, "{t} vs archsim's {want}");
        }
        eprintln!("TTFT {} s = archsim run's {want} s", run.report.ttft_s.p50);
    }
}
