//! Expert-parallel pools: a replica of `tp × ep` devices.

use std::path::Path;

use archsim_serving::fleet::Fleet;
use archsim_serving::serve;

use crate::common::{llm, roofline, serving};

fn pool(tp: u64, ep: u64) -> serde_json::Value {
    let mut acc = roofline();
    acc["link_gb_s"] = serde_json::json!(450.0);
    serde_json::json!({"accelerator": acc, "count": 2, "tp": tp, "ep": ep, "cost_per_hour": 3.0})
}

fn cfg(tp: u64, ep: u64) -> serde_json::Value {
    serde_json::json!({
        "traffic": {"rate": 2.0, "requests": 20, "prompt_tokens": {"fixed": 128},
                    "output_tokens": {"fixed": 8}},
        "pools": [pool(tp, ep)],
    })
}

#[test]
fn a_pool_with_ep_2_prices_twice_the_devices() {
    let run = |tp, ep| {
        serve(
            &serving(cfg(tp, ep)),
            &llm("mixtral_8x7b"),
            0,
            Path::new("."),
        )
        .unwrap()
    };
    let (one, two) = (run(2, 1), run(2, 2));
    // $3 per device-hour: 2 replicas × 2 devices, and × 2 groups with ep 2.
    assert_eq!(one.report.cost_per_hour, 12.0);
    assert_eq!(two.report.cost_per_hour, 24.0);
    assert_eq!(two.report.pools[0].pool_cost_per_hour, 24.0);
    assert_eq!(two.report.pools[0].ep, 2);
    let json = serde_json::to_value(&one.report.pools[0]).unwrap();
    assert!(json.get("ep").is_none(), "ep 1 is not written");
    // Each device holds half the experts: less weight per device, and each group's KV blocks
    // add up in the replica.
    let f = |tp, ep| {
        Fleet::build(
            &serving(cfg(tp, ep)),
            &llm("mixtral_8x7b"),
            0,
            Path::new("."),
            false,
        )
        .unwrap()
    };
    let (a, b) = (f(2, 1), f(2, 2));
    assert!(b.pools[0].memory.weights_bytes < a.pools[0].memory.weights_bytes);
    assert!(b.pools[0].kv_blocks > a.pools[0].kv_blocks);
    assert!(b.pools[0].power_w > a.pools[0].power_w);
}

#[test]
fn a_pool_ep_on_a_dense_model_names_the_pool_key() {
    let e = serve(&serving(cfg(1, 2)), &llm("llama2_7b"), 0, Path::new("."))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("serving.pools.0.ep") && e.contains("is dense"),
        "{e}"
    );
}
