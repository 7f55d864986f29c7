//! Bad input gives an error naming the key (or an explicit infeasible result), never a panic.

use std::path::Path;

use archsim_serving::{capacity, serve, Fleet};

use crate::common::{llm, roofline, serving};

fn base() -> serde_json::Value {
    serde_json::json!({
        "traffic": {"rate": 1.0, "requests": 10, "prompt_tokens": {"fixed": 100},
                    "output_tokens": {"fixed": 10}},
        "pools": [{"accelerator": roofline(), "count": 1}],
    })
}

fn error(v: serde_json::Value) -> String {
    let cfg = serving(v);
    serve(&cfg, &llm("llama2_7b"), 0, Path::new("."))
        .unwrap_err()
        .to_string()
}

#[test]
fn bad_values_name_their_key() {
    let mut v = base();
    v["traffic"]["rate"] = serde_json::json!(-1.0);
    assert_eq!(
        error(v),
        "serving.traffic.rate: must be a positive number, got -1"
    );
    let mut v = base();
    v["pools"][0]["accelerator"]["mem_gb"] = serde_json::json!(8.0);
    let e = error(v);
    assert!(
        e.starts_with("serving.pools.0: the model does not fit"),
        "{e}"
    );
    let mut v = base();
    v["pools"][0]["accelerator"]["kind"] = serde_json::json!("tpu");
    let e = error(v);
    assert!(
        e.starts_with("serving.pools.0.accelerator.kind: unknown kind `tpu`"),
        "{e}"
    );
    let mut v = base();
    v["pools"][0]["accelerator"] =
        serde_json::json!({"kind": "gpu", "preset": "h100_sxm", "bogus": 1});
    let e = error(v);
    assert!(
        e.starts_with("serving.pools.0.accelerator.bogus: unknown field"),
        "{e}"
    );
    let mut v = base();
    v["scheduler"] = serde_json::json!({"max_batch": 64, "max_batch_tokens": 32});
    assert!(error(v).starts_with("serving.scheduler.max_batch_tokens: must be at least max_batch"));
    let mut v = base();
    v["traffic"]["prompt_tokens"] = serde_json::json!({"fixed": 1000000});
    let e = error(v);
    assert!(e.starts_with("serving.traffic: request 0 holds"), "{e}");
}

#[test]
fn traces_are_checked() {
    let dir = std::env::temp_dir().join(format!("archsim-serving-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text).unwrap();
        let mut v = base();
        v["traffic"] = serde_json::json!({"trace": name});
        let cfg = serving(v);
        serve(&cfg, &llm("llama2_7b"), 0, &dir)
            .map(|r| r.report.requests)
            .map_err(|e| e.to_string())
    };
    let e = run("empty.csv", "arrival_s,prompt_tokens,output_tokens\n").unwrap_err();
    assert!(
        e.starts_with("serving.traffic.trace: ") && e.ends_with("the trace has no requests"),
        "{e}"
    );
    let e = run(
        "unsorted.csv",
        "arrival_s,prompt_tokens,output_tokens\n0.5,10,10\n0.2,10,10\n",
    )
    .unwrap_err();
    assert!(
        e.contains("line 3: arrival_s 0.2 is before the previous row's 0.5"),
        "{e}"
    );
    let e = run(
        "neg.csv",
        "arrival_s,prompt_tokens,output_tokens\n-1,10,10\n",
    )
    .unwrap_err();
    assert!(e.contains("line 2: arrival_s -1 is negative"), "{e}");
    assert_eq!(
        run(
            "ok.csv",
            "arrival_s,prompt_tokens,output_tokens\n0,10,10\n0.1,20,5\n"
        ),
        Ok(2)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_slo_no_fleet_meets_is_an_explicit_infeasible_result() {
    let mut v = base();
    v["slo"] = serde_json::json!({"ttft_p90_s": 1e-6});
    let cfg = serving(v);
    let fleet = Fleet::build(&cfg, &llm("llama2_7b"), 0, Path::new("."), false).unwrap();
    let c = capacity(&fleet, &cfg, 0, Path::new(".")).unwrap();
    assert!(!c.feasible && c.rate_rps == 0.0);
    assert!(c.reason.unwrap().starts_with("the SLO is not met even at"));
}
