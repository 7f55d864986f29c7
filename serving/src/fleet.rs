//! Pools resolved against archsim's models: each pool's accelerator config is read, built
//! into its family (through the registry, never naming a kind), priced on the step grid, and
//! its KV-cache capacity derived from the device memory.

use archsim_accelerators::config::KeyError;
use std::path::Path;

use serde::Serialize;
use serde_json::{json, Value};

use archsim_accelerators::config::SimConfig;
use archsim_accelerators::family::{Context, Family};
use archsim_accelerators::llm_metrics::{activation_bytes, kv_cache_bytes};
use archsim_accelerators::AccelError;
use archsim_workloads::llm::{LlmConfig, Phase};
use archsim_workloads::WorkloadConfig;

use crate::config::{Lengths, Role, ServingConfig};
use crate::kv::KvFormat;
use crate::step::{off_grid_steps, StepCheck, StepCost, UniformStep};
use crate::ServingError;

/// One pool, ready to simulate.
#[derive(Debug, Clone)]
pub struct Pool {
    /// Its name (`name`, or `pool<i>`).
    pub name: String,
    /// The family's description of one device.
    pub accelerator: String,
    /// Phases it serves.
    pub role: Role,
    /// Replicas.
    pub count: u32,
    /// Tensor-parallel devices per expert-parallel group.
    pub tp: u64,
    /// Expert-parallel groups per replica (a replica spans `tp × ep` devices).
    pub ep: u64,
    /// $ per device-hour (the config's `serving.pools[i].cost_per_hour`); a replica costs
    /// `tp × ep` times it, the pool [`Pool::pool_cost_per_hour`].
    pub device_cost_per_hour: f64,
    /// Iteration cost.
    pub step: StepCost,
    /// KV blocks per replica.
    pub kv_blocks: u32,
    /// KV bytes per token on one device.
    pub kv_bytes_per_token_dev: f64,
    /// Host link of one device (GB/s), when it has one.
    pub host_link_gbps: Option<f64>,
    /// Power of a busy replica, W (0 when the model gives no energy).
    pub power_w: f64,
    /// Memory of one device: weights, activations, capacity (bytes).
    pub memory: PoolMemory,
    /// The KV cache's element width and the fraction a decode reads ([`crate::kv`]).
    pub kv_format: KvFormat,
    /// The draft model's iteration cost on its device, with speculative decoding
    /// ([`crate::speculative`]).
    pub draft: Option<StepCost>,
    /// The shortcut against the full step model off the grid.
    pub checks: Vec<StepCheck>,
}

impl Pool {
    /// $ per hour of the whole pool: every device of every replica.
    pub fn pool_cost_per_hour(&self) -> f64 {
        self.device_cost_per_hour * (self.tp * self.ep) as f64 * self.count as f64
    }
}

/// Memory of one device of a pool.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PoolMemory {
    /// Weights (one device's share), bytes.
    pub weights_bytes: u64,
    /// Peak activations of the largest iteration, bytes.
    pub activation_bytes: u64,
    /// Device memory, bytes.
    pub capacity_bytes: u64,
    /// Left for the KV cache, bytes.
    pub kv_bytes: u64,
}

/// The fleet: its pools and the whole-model KV bytes per token (for transfers).
#[derive(Debug, Clone)]
pub struct Fleet {
    /// The pools, in config order.
    pub pools: Vec<Pool>,
    /// KV bytes of one token of the whole model (all devices).
    pub kv_bytes_per_token: f64,
    /// The model.
    pub model: String,
}

fn pool_err(i: usize, e: impl std::fmt::Display) -> ServingError {
    ServingError::Config {
        key: format!("serving.pools.{i}.accelerator"),
        reason: e.to_string(),
    }
}

impl Fleet {
    /// Builds every pool of `cfg` for `workload` (an `llm:` model); `check` also prices the
    /// off-grid steps that measure the shortcut's error.
    pub fn build(
        cfg: &ServingConfig,
        workload: &WorkloadConfig,
        seed: u64,
        base: &Path,
        check: bool,
    ) -> Result<Fleet, ServingError> {
        Fleet::build_cached(cfg, workload, seed, base, check, None)
    }

    /// [`Fleet::build`], reusing the pools priced before through `cache` (a fleet search
    /// prices each device type, tensor parallelism and batching once, not once per fleet).
    /// The result is the same with or without a cache.
    pub fn build_cached(
        cfg: &ServingConfig,
        workload: &WorkloadConfig,
        seed: u64,
        base: &Path,
        check: bool,
        cache: Option<&PoolCache>,
    ) -> Result<Fleet, ServingError> {
        let Some(llm) = &workload.llm else {
            return Err(ServingError::Config {
                key: "workload".into(),
                reason:
                    "a serving config serves an `llm:` model: give `workload: {llm: {model: ...}}`"
                        .into(),
            });
        };
        let mut pools = Vec::new();
        let mut kv_total = 0.0;
        for (i, p) in cfg.pools.iter().enumerate() {
            let (pool, kv) = match cache {
                None => build_pool(i, p, cfg, workload, llm, seed, base, check)?,
                Some(c) => {
                    // Everything a pool's pricing depends on, except what only labels or
                    // counts it.
                    let key = serde_json::to_string(&json!({
                        "accelerator": p.accelerator, "tp": p.tp, "ep": p.ep, "workload": workload,
                        "scheduler": cfg.scheduler, "kv": cfg.kv,
                        "prompt_tokens": cfg.traffic.prompt_tokens, "seed": seed,
                        "base": base, "check": check,
                    }))
                    .map_err(|e| pool_err(i, e))?;
                    // One slot per key: a thread that asks for a pool another is pricing
                    // waits for it instead of pricing it again.
                    let slot = match c.pools.lock() {
                        Ok(mut m) => m.entry(key).or_default().clone(),
                        Err(_) => Default::default(),
                    };
                    let built = slot.get_or_init(|| {
                        build_pool(i, p, cfg, workload, llm, seed, base, check).ok()
                    });
                    match built {
                        Some(b) => b.clone(),
                        // Failed: price it again for the error, keyed by this pool's index.
                        None => build_pool(i, p, cfg, workload, llm, seed, base, check)?,
                    }
                }
            };
            kv_total = kv;
            pools.push(Pool {
                name: p.name.clone().unwrap_or_else(|| format!("pool{i}")),
                role: p.role,
                count: p.count,
                device_cost_per_hour: p.cost_per_hour,
                ..pool
            });
        }
        if let Some(sp) = &cfg.speculative {
            let draft = build_draft(sp, cfg, workload, llm, seed, base)?;
            for p in &mut pools {
                p.draft = Some(draft.clone());
            }
        }
        Ok(Fleet {
            pools,
            kv_bytes_per_token: kv_total,
            model: llm.model.clone(),
        })
    }
}

/// Pools priced before, by what their pricing depends on (device, tp, model, batching, KV
/// settings); shared between threads.
#[derive(Debug, Default)]
pub struct PoolCache {
    #[allow(clippy::type_complexity)]
    pools: std::sync::Mutex<
        std::collections::HashMap<String, std::sync::Arc<std::sync::OnceLock<Option<(Pool, f64)>>>>,
    >,
}

/// The draft model of speculative decoding priced on its device, as a pool of one.
fn build_draft(
    sp: &crate::speculative::SpeculativeConfig,
    cfg: &ServingConfig,
    workload: &WorkloadConfig,
    llm: &LlmConfig,
    seed: u64,
    base: &Path,
) -> Result<StepCost, ServingError> {
    let p = crate::config::PoolConfig {
        accelerator: sp.draft.accelerator.clone(),
        count: 1,
        tp: 1,
        ep: 1,
        cost_per_hour: 0.0,
        role: Role::Mixed,
        name: Some("draft".into()),
    };
    let dl = LlmConfig {
        model: sp.draft.model.clone(),
        layers: sp.draft.layers,
        tp: 1,
        ep: 1,
        ..llm.clone()
    };
    let mut wl = workload.clone();
    wl.llm = Some(dl.clone());
    // Errors name the draft's keys, not a pool's.
    const SLOT: usize = usize::MAX;
    let pools_key = format!("serving.pools.{SLOT}");
    build_pool(SLOT, &p, cfg, &wl, &dl, seed, base, false)
        .map(|(pool, _)| pool.step)
        .map_err(|e| match e {
            ServingError::Config { key, reason } => ServingError::Config {
                key: key
                    .replace(&pools_key, "serving.speculative.draft")
                    .replace("workload.llm", "serving.speculative.draft"),
                reason,
            },
            e => e,
        })
}

#[allow(clippy::too_many_arguments)]
fn build_pool(
    i: usize,
    p: &crate::config::PoolConfig,
    cfg: &ServingConfig,
    workload: &WorkloadConfig,
    llm: &LlmConfig,
    seed: u64,
    base: &Path,
    check: bool,
) -> Result<(Pool, f64), ServingError> {
    let mut step_llm = LlmConfig {
        phase: Phase::Prefill,
        batch: 1,
        prompt_len: 16,
        context_len: None,
        tp: p.tp,
        ep: p.ep,
        ..llm.clone()
    };
    let mut wl = workload.clone();
    wl.llm = Some(step_llm.clone());
    let doc = json!({
        "workload": serde_json::to_value(&wl).map_err(|e| pool_err(i, e))?,
        "accelerator": Value::Object(p.accelerator.clone()),
        "seed": seed,
    });
    let sim = SimConfig::from_value(doc).map_err(|KeyError { path, message: m }| {
        let key = match path.first().map(String::as_str) {
            Some("accelerator") => format!("serving.pools.{i}.{}", path.join(".")),
            _ if path.last().map(String::as_str) == Some("tp") => {
                format!("serving.pools.{i}.tp")
            }
            _ if path.last().map(String::as_str) == Some("ep") => {
                format!("serving.pools.{i}.ep")
            }
            _ => path.join("."),
        };
        ServingError::Config { key, reason: m }
    })?;
    let family = sim.accelerator.family().map_err(|e| pool_err(i, e))?;
    let dtype = sim.workload.dtype();
    let framework = sim.workload.llm.as_ref().map(|l| l.framework);
    if let Some(fw) = framework {
        step_llm.framework = fw;
    }
    // Memory and the host link: a lone short prefill must fit.
    let probe = |l: &LlmConfig| -> Result<archsim_sim::Report, AccelError> {
        let mut wl = sim.workload.clone();
        wl.llm = Some(l.clone());
        let w = wl.build(base).map_err(|e| AccelError::InvalidConfig {
            key: "workload".into(),
            reason: e.to_string(),
        })?;
        family.run_graph(&w, &ctx(seed, dtype, Some(l)))
    };
    let base_report = probe(&step_llm).map_err(|e| ServingError::Config {
        key: format!("serving.pools.{i}"),
        reason: format!("the model does not fit: {e}"),
    })?;
    let mem = base_report
            .llm
            .as_ref()
            .map(|l| l.memory.clone())
            .ok_or_else(|| {
                pool_err(
                    i,
                    format!(
                        "{} does not price an `llm:` step (no serving metrics); use a GPU preset, roofline, rdu or npu_pim",
                        family.name()
                    ),
                )
            })?;
    let host_link_gbps = host_link(&*family, &sim, &step_llm, seed, dtype, base);
    let t_max = cfg.scheduler.max_batch_tokens as u64;
    let b_max = cfg.scheduler.max_batch as u64;
    let extra: Vec<u64> = match &cfg.traffic.prompt_tokens {
        Some(Lengths::Fixed(n)) => vec![*n as u64],
        _ => vec![],
    };
    let mut max_act = 0u64;
    let mut energy = (0.0f64, 0.0f64);
    let mut info = None;
    let mut price = |s: UniformStep| -> Result<f64, ServingError> {
        let l = uniform_llm(&step_llm, s);
        let mut wl = sim.workload.clone();
        wl.llm = Some(l.clone());
        let w = wl.build(base).map_err(|e| ServingError::Config {
            key: "workload.llm".into(),
            reason: e.to_string(),
        })?;
        if info.is_none() {
            info = w.llm.clone();
        }
        let tokens = match s {
            UniformStep::Prefill { batch, prompt } => batch * prompt,
            UniformStep::Decode { batch, .. } => batch,
        };
        if tokens <= t_max {
            max_act = max_act.max(activation_bytes(&w));
        }
        let r = match family.run_graph(&w, &ctx(seed, dtype, Some(&l))) {
            Ok(r) => r,
            Err(AccelError::OutOfMemory { .. }) => family
                .run_graph(&w, &ctx(seed, dtype, None))
                .map_err(|e| pool_err(i, e))?,
            Err(e) => return Err(pool_err(i, e)),
        };
        if r.latency_s > 0.0 {
            energy.0 += r.energy_j;
            energy.1 += r.latency_s;
        }
        // The step as the family's serving metrics price it (what `archsim run`
        // reports as TTFT and TPOT), unless they add KV swapping; else the graph.
        Ok(match r.llm.as_ref().filter(|l| l.kv_swap.is_none()) {
            Some(l) => match s {
                UniformStep::Prefill { .. } => l.ttft_s,
                UniformStep::Decode { .. } => l.tpot_s,
            },
            None => r.latency_s,
        })
    };
    let mut step = StepCost::build(t_max, b_max, &extra, &mut price)?;
    let checks = if check {
        step.check(&off_grid_steps(t_max, b_max), &mut price)?
    } else {
        Vec::new()
    };
    // A KV cache of another width, or read in part: the shortcut's error above is measured
    // on the model's own cache (the full step model prices no other); the decode-attention
    // term then scales with the bytes read.
    let kv_format = KvFormat::new(cfg.kv.dtype, cfg.kv.read_fraction, dtype);
    if !kv_format.is_identity() {
        step.scale_decode_attention(kv_format.attention_scale());
    }
    let info = info.ok_or_else(|| pool_err(i, "the lowered step carries no LLM metadata"))?;
    let kv_dev = kv_format.bytes(kv_cache_bytes(&info.spec, info.layers, p.tp, 1, 1, dtype) as f64);
    let kv_total = kv_format.bytes(kv_cache_bytes(&info.spec, info.layers, 1, 1, 1, dtype) as f64);
    let usable = (mem.capacity_bytes as f64 * cfg.kv.memory_fraction) as u64;
    let kv_bytes = usable
        .saturating_sub(mem.weights_bytes)
        .saturating_sub(max_act);
    let blocks = (kv_bytes as f64 / (kv_dev * cfg.kv.block_tokens as f64)).floor();
    if blocks < 1.0 {
        return Err(ServingError::Config {
                key: format!("serving.pools.{i}"),
                reason: format!(
                    "the model does not fit: {} weights ({:.1} GB per device at tp {}) and activations ({:.1} GB) leave no room for a KV block in {:.1} GB; use a larger tp",
                    llm.model,
                    mem.weights_bytes as f64 / 1e9,
                    p.tp,
                    max_act as f64 / 1e9,
                    usable as f64 / 1e9
                ),
            });
    }
    Ok((
        Pool {
            name: p.name.clone().unwrap_or_else(|| format!("pool{i}")),
            accelerator: family.name(),
            role: p.role,
            count: p.count,
            tp: p.tp,
            ep: p.ep,
            device_cost_per_hour: p.cost_per_hour,
            step,
            // Each expert-parallel group holds its own sequences' KV cache: the replica's
            // blocks are its groups' together.
            kv_blocks: (blocks * p.ep as f64).min(u32::MAX as f64) as u32,
            kv_bytes_per_token_dev: kv_dev,
            host_link_gbps,
            power_w: if energy.1 > 0.0 {
                energy.0 / energy.1 * (p.tp * p.ep) as f64
            } else {
                0.0
            },
            memory: PoolMemory {
                weights_bytes: mem.weights_bytes,
                activation_bytes: max_act,
                capacity_bytes: mem.capacity_bytes,
                kv_bytes,
            },
            kv_format,
            draft: None,
            checks,
        },
        kv_total,
    ))
}

fn ctx<'a>(seed: u64, dtype: archsim_workloads::DType, llm: Option<&'a LlmConfig>) -> Context<'a> {
    Context {
        config_hash: "",
        seed,
        dtype,
        llm,
        // A step's price is its totals: no per-op rows.
        ops: false,
    }
}

/// The `llm:` section of a uniform step.
pub fn uniform_llm(base: &LlmConfig, s: UniformStep) -> LlmConfig {
    match s {
        UniformStep::Prefill { batch, prompt } => LlmConfig {
            phase: Phase::Prefill,
            batch,
            prompt_len: prompt,
            context_len: None,
            ..base.clone()
        },
        UniformStep::Decode { batch, context } => LlmConfig {
            phase: Phase::Decode,
            batch,
            prompt_len: context.saturating_sub(1).max(1),
            context_len: Some(context),
            ..base.clone()
        },
    }
}

/// The device's host link, read through the seam: the serving metrics of a decode step whose
/// KV cache overflows the device report the link it swaps over (none: the device cannot swap).
fn host_link(
    family: &dyn Family,
    sim: &SimConfig,
    base: &LlmConfig,
    seed: u64,
    dtype: archsim_workloads::DType,
    dir: &Path,
) -> Option<f64> {
    let l = LlmConfig {
        phase: Phase::Decode,
        batch: 8,
        prompt_len: 16,
        context_len: Some(1 << 20),
        ..base.clone()
    };
    let mut wl = sim.workload.clone();
    wl.llm = Some(LlmConfig {
        context_len: Some(2),
        ..l.clone()
    });
    let w = wl.build(dir).ok()?;
    let r = family.run_graph(&w, &ctx(seed, dtype, Some(&l))).ok()?;
    r.llm?.kv_swap.map(|s| s.host_link_gbps)
}
