//! The serving evaluator: one serving simulation of the configured traffic on a design's fleet.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use archsim_accelerators::config::typed;
use archsim_serving::config::SloConfig;
use archsim_serving::{evaluate_rate, Fleet, PoolCache, ServingError, ServingFile, ServingReport};

use super::Evaluator;
use crate::GymError;

/// The metrics of a serving design point ([`Serving`]), in order.
pub const SERVING_METRICS: &[&str] = &[
    "cost_per_hour",
    "cost_per_mtok",
    "slo_attainment",
    "slo_met",
    "goodput_rps",
    "throughput_rps",
    "tokens_per_s",
    "ttft_p50_s",
    "ttft_p90_s",
    "ttft_p99_s",
    "tpot_p50_s",
    "tpot_p90_s",
    "tpot_p99_s",
    "e2e_p50_s",
    "e2e_p90_s",
    "e2e_p99_s",
    "preemptions",
    "replicas",
    "devices",
];

/// The serving evaluator: one serving simulation of the configured traffic (at
/// `serving.traffic.rate`; a `capacity:` search is not run) on the design's fleet. A pool
/// with `count: 0` is left out of the fleet, so a search over counts also chooses which
/// device types to use. Metrics: [`SERVING_METRICS`]; a fleet that misses `serving.slo` is
/// infeasible ([`Evaluator::infeasible`]). Pools are priced once per device, tp and batching
/// and reused ([`PoolCache`]).
#[derive(Debug, Clone)]
pub struct Serving {
    slo: SloConfig,
    base_dir: PathBuf,
    cache: Arc<PoolCache>,
}

impl Serving {
    /// The evaluator of the serving config `base`, which must be valid.
    pub fn new(base: &Value, base_dir: &Path) -> Result<Self, GymError> {
        let f: ServingFile = typed(base.clone(), &[]).map_err(|e| GymError::InvalidConfig {
            key: e.key(),
            reason: e.message,
        })?;
        let mut check = f.serving.clone();
        for p in &mut check.pools {
            p.count = p.count.max(1);
        }
        check.validate().map_err(serving_err)?;
        if f.workload.llm.is_none() {
            return Err(GymError::InvalidConfig {
                key: "workload".into(),
                reason:
                    "a serving config serves an `llm:` model: give `workload: {llm: {model: ...}}`"
                        .into(),
            });
        }
        Ok(Serving {
            slo: f.serving.slo,
            base_dir: base_dir.to_path_buf(),
            cache: Arc::new(PoolCache::default()),
        })
    }
}

fn serving_err(e: ServingError) -> GymError {
    match e {
        ServingError::Config { key, reason } => GymError::InvalidConfig { key, reason },
        other => GymError::InvalidConfig {
            key: "serving".into(),
            reason: other.to_string(),
        },
    }
}

/// A serving error of the fleet without its empty pools, keyed by the pool's index in the
/// config (`kept[j]` is the config index of the fleet's pool `j`).
fn pool_key(e: ServingError, kept: &[usize]) -> String {
    match e {
        ServingError::Config { key, reason } => {
            let key = match key.strip_prefix("serving.pools.") {
                Some(rest) => {
                    let (j, tail) = rest.split_once('.').unwrap_or((rest, ""));
                    match j.parse::<usize>().ok().and_then(|j| kept.get(j)) {
                        Some(i) if tail.is_empty() => format!("serving.pools.{i}"),
                        Some(i) => format!("serving.pools.{i}.{tail}"),
                        None => key,
                    }
                }
                None => key,
            };
            format!("{key}: {reason}")
        }
        other => other.to_string(),
    }
}

/// The metric vector of a serving report, in [`SERVING_METRICS`] order.
pub fn serving_metrics(r: &ServingReport) -> Vec<f64> {
    let replicas: u64 = r.pools.iter().map(|p| p.count as u64).sum();
    // A replica spans tp × ep devices.
    let devices: u64 = r.pools.iter().map(|p| p.count as u64 * p.tp * p.ep).sum();
    vec![
        r.cost_per_hour,
        r.cost_per_mtok,
        r.slo_attainment,
        if r.slo_met { 1.0 } else { 0.0 },
        r.goodput_rps,
        r.throughput_rps,
        r.tokens_per_s,
        r.ttft_s.p50,
        r.ttft_s.p90,
        r.ttft_s.p99,
        r.tpot_s.p50,
        r.tpot_s.p90,
        r.tpot_s.p99,
        r.e2e_s.p50,
        r.e2e_s.p90,
        r.e2e_s.p99,
        r.preemptions as f64,
        replicas as f64,
        devices as f64,
    ]
}

fn at(name: &str) -> usize {
    SERVING_METRICS
        .iter()
        .position(|m| *m == name)
        .expect("a serving metric")
}

impl Evaluator for Serving {
    fn kind(&self) -> &'static str {
        "serving"
    }

    fn metrics(&self) -> &'static [&'static str] {
        SERVING_METRICS
    }

    fn evaluate(&self, v: Value) -> Result<Vec<f64>, String> {
        let mut f: ServingFile = typed(v, &[]).map_err(|e| e.to_string())?;
        // Validate with every pool present (errors keep the config's pool indices), then
        // leave the empty pools out.
        let mut check = f.serving.clone();
        for p in &mut check.pools {
            p.count = p.count.max(1);
        }
        check.validate().map_err(|e| e.to_string())?;
        let kept: Vec<usize> = (0..f.serving.pools.len())
            .filter(|&i| f.serving.pools[i].count > 0)
            .collect();
        if kept.is_empty() {
            return Err("no replica: every serving.pools[i].count is 0".into());
        }
        f.serving.pools.retain(|p| p.count > 0);
        f.serving.capacity = None;
        let fleet = Fleet::build_cached(
            &f.serving,
            &f.workload,
            f.seed,
            &self.base_dir,
            false,
            Some(&self.cache),
        )
        .map_err(|e| pool_key(e, &kept))?;
        let r = evaluate_rate(&fleet, &f.serving, f.seed, &self.base_dir, None, None)
            .map_err(|e| pool_key(e, &kept))?;
        Ok(serving_metrics(&r))
    }

    fn infeasible(&self, m: &[f64]) -> Option<String> {
        if m.get(at("slo_met")).is_none_or(|&v| v >= 0.5) {
            return None;
        }
        let mut missed = Vec::new();
        for (metric, bound, key, what) in [
            ("ttft_p90_s", self.slo.ttft_p90_s, "ttft_p90_s", "TTFT p90"),
            ("tpot_p99_s", self.slo.tpot_p99_s, "tpot_p99_s", "TPOT p99"),
        ] {
            let v = m[at(metric)];
            if let Some(b) = bound.filter(|&b| v > b) {
                missed.push(format!("{what} {v:.4} s above serving.slo.{key} = {b} s"));
            }
        }
        if missed.is_empty() {
            missed.push("no request finished within the SLO".into());
        }
        Some(format!(
            "misses the SLO: {} (SLO attainment {:.1}%)",
            missed.join(", "),
            m[at("slo_attainment")] * 100.0
        ))
    }
}
