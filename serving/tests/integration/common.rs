//! Shared helpers: configs from JSON, and a synthetic fleet priced by a closed form (fast, for
//! property tests).

use archsim_serving::config::Role;
use archsim_serving::fleet::{Pool, PoolMemory};
use archsim_serving::step::{StepCost, UniformStep};
use archsim_serving::{Fleet, ServingConfig, ServingError};
use archsim_workloads::WorkloadConfig;

pub fn serving(v: serde_json::Value) -> ServingConfig {
    serde_json::from_value(v).expect("a valid serving section")
}

pub fn llm(model: &str) -> WorkloadConfig {
    serde_json::from_value(serde_json::json!({"llm": {"model": model}})).unwrap()
}

/// A roofline H100-like device (fast to price).
pub fn roofline() -> serde_json::Value {
    serde_json::json!({"kind": "roofline", "peak_tflops": {"bf16": 989.0},
                       "mem_bw_gb_s": 3350.0, "mem_gb": 80.0, "host_link_gb_s": 64.0})
}

/// A pool priced by a closed form: 5 ms + 20 µs per token, decode attention 1 ns per context
/// token, prefill attention 0.1 ns per query-key pair.
pub fn synthetic_pool(role: Role, count: u32, kv_blocks: u32, t_max: u64, b_max: u64) -> Pool {
    let lin = |t: u64| 5e-3 + 2e-5 * t as f64;
    let mut price = |s: UniformStep| -> Result<f64, ServingError> {
        Ok(match s {
            UniformStep::Decode { batch, context } => {
                lin(batch) + 1e-9 * (batch * (context - 1)) as f64
            }
            UniformStep::Prefill { batch, prompt } => {
                lin(batch * prompt) + 1e-10 * (batch * prompt * (prompt + 1) / 2) as f64
            }
        })
    };
    Pool {
        name: format!("{role:?}"),
        accelerator: "synthetic".into(),
        role,
        count,
        tp: 1,
        ep: 1,
        device_cost_per_hour: 1.0,
        step: StepCost::build(t_max, b_max, &[], &mut price).unwrap(),
        kv_blocks,
        kv_bytes_per_token_dev: 131072.0,
        host_link_gbps: Some(32.0),
        power_w: 700.0,
        memory: PoolMemory {
            weights_bytes: 0,
            activation_bytes: 0,
            capacity_bytes: 0,
            kv_bytes: 0,
        },
        kv_format: archsim_serving::kv::KvFormat::new(None, None, archsim_workloads::DType::Bf16),
        draft: None,
        checks: Vec::new(),
    }
}

pub fn synthetic_fleet(pools: Vec<Pool>) -> Fleet {
    Fleet {
        pools,
        kv_bytes_per_token: 524288.0,
        model: "synthetic".into(),
    }
}
