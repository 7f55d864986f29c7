//! A serving run prices the inference engine's program (`framework: fused`, CUDA graphs)
//! unless the config names another: an explicit `workload.framework` or `accelerator.launch`
//! wins.

use std::path::Path;

use archsim_serving::{serve, ServingConfig};
use archsim_workloads::WorkloadConfig;

use crate::common::serving;

fn cfg(acc: serde_json::Value) -> ServingConfig {
    serving(serde_json::json!({
        "traffic": {"rate": 2.0, "requests": 60, "seed": 3,
                    "prompt_tokens": {"fixed": 512}, "output_tokens": {"fixed": 64}},
        "pools": [{"accelerator": acc, "count": 1}],
        "scheduler": {"max_batch": 16, "max_batch_tokens": 2048},
    }))
}

fn workload(framework: Option<&str>) -> WorkloadConfig {
    let mut v = serde_json::json!({"llm": {"model": "llama2_7b"}});
    if let Some(f) = framework {
        v["framework"] = serde_json::json!(f);
    }
    serde_json::from_value(v).unwrap()
}

fn gpu(launch: Option<&str>) -> serde_json::Value {
    let mut v = serde_json::json!({"kind": "gpu", "preset": "h100_sxm"});
    if let Some(l) = launch {
        v["launch"] = serde_json::json!(l);
    }
    v
}

#[test]
fn a_serving_run_prices_the_fused_program_under_cuda_graphs_by_default() {
    let run = |launch, fw| serve(&cfg(gpu(launch)), &workload(fw), 0, Path::new(".")).unwrap();
    let default = run(None, None);
    let fused_graphs = run(Some("cudagraph"), Some("fused"));
    // The default is exactly the fused program under CUDA graphs, request by request.
    assert_eq!(default.requests.e2e_s, fused_graphs.requests.e2e_s);
    assert_eq!(default.report.tpot_s, fused_graphs.report.tpot_s);
    // An explicit framework wins: eager PyTorch's program is slower per token.
    let pytorch = run(None, Some("pytorch"));
    assert!(
        pytorch.report.tpot_s.p50 > default.report.tpot_s.p50 * 1.05,
        "pytorch TPOT {} vs fused {}",
        pytorch.report.tpot_s.p50,
        default.report.tpot_s.p50
    );
    // An explicit launch mode wins: launching one op at a time from Python is slower still.
    let eager = run(Some("eager"), None);
    assert!(
        eager.report.tpot_s.p50 > default.report.tpot_s.p50,
        "eager TPOT {} vs CUDA graphs {}",
        eager.report.tpot_s.p50,
        default.report.tpot_s.p50
    );
}
