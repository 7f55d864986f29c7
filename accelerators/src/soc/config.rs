//! The `accelerator: {kind: soc, …}` section: PEs, interconnect, scheduler, noise.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::AccelError;

/// Built-in SoCs: `(name, YAML)`.
pub(super) const PRESETS: &[(&str, &str)] = &[("ds3", include_str!("../../data/soc/ds3.yaml"))];

/// One kind of processing element, possibly replicated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PeConfig {
    /// Name; instances are `NAME_0`, `NAME_1`, … when `count > 1`.
    pub name: String,
    /// PE type: the key job files use for execution times (`a7`, `fft_acc`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// Number of identical instances (default 1).
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = 4096))]
    pub count: u64,
    /// Power while running a task, in watts.
    #[serde(default)]
    #[schemars(range(min = 0, max = crate::ranges::MAX_W))]
    pub active_w: f64,
    /// Power while idle, in watts.
    #[serde(default)]
    #[schemars(range(min = 0, max = crate::ranges::MAX_W))]
    pub idle_w: f64,
    /// Area of one instance in mm².
    #[serde(default)]
    #[schemars(range(min = 0, max = crate::ranges::MAX_MM2))]
    pub area_mm2: f64,
    /// Execution times in µs by task type, overriding (or adding to) the job files' profiles.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("additionalProperties" = {"type": "number", "format": "double", "minimum": 0, "maximum": crate::ranges::MAX_US}))]
    pub exec_us: BTreeMap<String, f64>,
}

fn one() -> u64 {
    1
}

/// Interconnect topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NetKind {
    /// One shared bus: every pair of PEs at `bandwidth_bytes_per_us` (plus per-type `links`);
    /// with `contention: true` transfers take the bus one at a time, first come first served.
    #[default]
    Bus,
    /// A 2D mesh, PEs placed row-major `mesh_cols` wide: a transfer pays `hop_latency_us` per
    /// hop (Manhattan distance) plus volume over bandwidth; links never contend.
    Mesh,
}

/// A bandwidth override between two PE types.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkConfig {
    /// The two PE types (either order).
    pub between: [String; 2],
    /// Bandwidth between them in bytes per µs.
    #[schemars(range(min = crate::ranges::MIN_BYTES_PER_US, max = crate::ranges::MAX_BYTES_PER_US))]
    pub bandwidth_bytes_per_us: f64,
}

/// `interconnect:` — how edge volumes become transfer times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InterconnectConfig {
    /// `bus` (default) or `mesh`.
    #[serde(default)]
    pub kind: NetKind,
    /// Bandwidth between two different PEs in bytes per µs (default 1000, i.e. 1 GB/s).
    #[serde(default = "default_bw")]
    #[schemars(range(min = crate::ranges::MIN_BYTES_PER_US, max = crate::ranges::MAX_BYTES_PER_US))]
    pub bandwidth_bytes_per_us: f64,
    /// Fixed latency of a transfer in µs (default 0).
    #[serde(default)]
    #[schemars(range(min = 0, max = crate::ranges::MAX_US))]
    pub latency_us: f64,
    /// Bus only: transfers share the bus one at a time (default false: contention-free links).
    #[serde(default)]
    pub contention: bool,
    /// Mesh only: PEs per mesh row (default: the smallest square that holds them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 4096))]
    pub mesh_cols: Option<u64>,
    /// Mesh only: latency per hop in µs (default 0).
    #[serde(default)]
    #[schemars(range(min = 0, max = crate::ranges::MAX_US))]
    pub hop_latency_us: f64,
    /// Per-PE-type bandwidth overrides.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<LinkConfig>,
    /// Energy of moving one byte between PEs, in picojoules (default 0).
    #[serde(default)]
    #[schemars(range(min = 0, max = crate::ranges::MAX_PJ))]
    pub energy_pj_per_byte: f64,
}

fn default_bw() -> f64 {
    1000.0
}

impl Default for InterconnectConfig {
    fn default() -> Self {
        InterconnectConfig {
            kind: NetKind::Bus,
            bandwidth_bytes_per_us: default_bw(),
            latency_us: 0.0,
            contention: false,
            mesh_cols: None,
            hop_latency_us: 0.0,
            links: Vec::new(),
            energy_pj_per_byte: 0.0,
        }
    }
}

/// The scheduling policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Minimum execution time: each ready task to a PE where it runs fastest.
    Met,
    /// Earliest finish time: each ready task, in order, to the PE where it would end first.
    Eft,
    /// Earliest task first: repeatedly the (ready task, PE) pair that ends first.
    #[default]
    Etf,
    /// Heterogeneous earliest finish time: a whole job planned at arrival, by upward rank,
    /// with insertion into idle slots.
    Heft,
    /// Each ready task to the next PE, in turn, that can run it.
    RoundRobin,
    /// Each ready task to a uniformly drawn PE that can run it (seeded).
    Random,
}

impl Policy {
    /// Every scheduler, in a fixed order.
    pub const ALL: [Policy; 6] = [
        Policy::Met,
        Policy::Eft,
        Policy::Etf,
        Policy::Heft,
        Policy::RoundRobin,
        Policy::Random,
    ];

    /// The config name (`met`, `round_robin`, …).
    pub fn name(self) -> &'static str {
        match self {
            Policy::Met => "met",
            Policy::Eft => "eft",
            Policy::Etf => "etf",
            Policy::Heft => "heft",
            Policy::RoundRobin => "round_robin",
            Policy::Random => "random",
        }
    }
}

fn default_freq() -> f64 {
    1000.0
}
fn default_gantt() -> u64 {
    8
}

/// `accelerator: {kind: soc, …}` — a heterogeneous SoC running a stream of job DAGs.
///
/// `preset: ds3` starts from a built-in SoC ([`PRESETS`]); the other keys given next to it
/// replace the preset's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SocConfig {
    /// The built-in SoC this config started from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// Processing elements.
    pub pes: Vec<PeConfig>,
    /// Interconnect.
    #[serde(default)]
    pub interconnect: InterconnectConfig,
    /// Scheduling policy (default `etf`).
    #[serde(default)]
    pub scheduler: Policy,
    /// Relative standard deviation of the run-time execution-time noise (default 0): a task
    /// runs `estimate × max(0.1, 1 + exec_noise · z)`, z standard normal, drawn per task from
    /// the seed. Schedulers only see the estimate.
    #[serde(default)]
    #[schemars(range(min = 0, max = 100))]
    pub exec_noise: f64,
    /// Clock of the simulation in MHz (default 1000: one cycle is 1 ns).
    #[serde(default = "default_freq")]
    #[schemars(range(min = crate::ranges::MIN_FREQ_MHZ, max = crate::ranges::MAX_FREQ_MHZ))]
    pub freq_mhz: f64,
    /// Jobs drawn in the Gantt chart (default 8).
    #[serde(default = "default_gantt")]
    #[schemars(range(min = 0, max = 10000))]
    pub gantt_jobs: u64,
}

/// The longest interconnect latency a config may give, µs (1,000 s).
const MAX_US: f64 = 1e9;

impl SocConfig {
    /// A built-in SoC by name, with defaults for every other key.
    pub fn preset(name: &str) -> Result<SocConfig, AccelError> {
        let text = PRESETS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| *t)
            .ok_or_else(|| AccelError::InvalidConfig {
                key: "preset".into(),
                reason: format!(
                    "unknown SoC preset `{name}`; known: {}",
                    PRESETS
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })?;
        let mut c: SocConfig =
            serde_saphyr::from_str(text).map_err(|e| AccelError::InvalidConfig {
                key: "preset".into(),
                reason: format!("built-in preset `{name}` does not parse: {e}"),
            })?;
        c.preset = Some(name.into());
        Ok(c)
    }

    /// The preset's keys as a JSON map (for overlaying a config's keys on it).
    pub(crate) fn preset_map(
        name: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>, AccelError> {
        let c = SocConfig::preset(name)?;
        match serde_json::to_value(c) {
            Ok(serde_json::Value::Object(m)) => Ok(m),
            _ => Err(AccelError::InvalidConfig {
                key: "preset".into(),
                reason: "preset does not serialize to a mapping".into(),
            }),
        }
    }

    /// Checks every value; errors name the key relative to `accelerator`.
    pub fn validate(&self) -> Result<(), AccelError> {
        let bad = |key: String, reason: &str| AccelError::InvalidConfig {
            key,
            reason: reason.into(),
        };
        if self.pes.is_empty() {
            return Err(bad("pes".into(), "give at least one PE"));
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, p) in self.pes.iter().enumerate() {
            let k = |f: &str| format!("pes.{i}.{f}");
            if p.name.is_empty() || !names.insert(p.name.as_str()) {
                return Err(bad(k("name"), "must be non-empty and unique"));
            }
            if p.kind.is_empty() {
                return Err(bad(k("type"), "must be non-empty"));
            }
            if p.count == 0 || p.count > 4096 {
                return Err(bad(k("count"), "must be in 1..=4096"));
            }
            for (f, v) in [
                ("active_w", p.active_w),
                ("idle_w", p.idle_w),
                ("area_mm2", p.area_mm2),
            ] {
                if !v.is_finite() || v < 0.0 {
                    return Err(bad(k(f), "must be finite and ≥ 0"));
                }
            }
            for (ty, &t) in &p.exec_us {
                if !t.is_finite() || t < 0.0 {
                    return Err(bad(
                        format!("pes.{i}.exec_us.{ty}"),
                        "execution times must be finite and ≥ 0",
                    ));
                }
            }
        }
        let n = &self.interconnect;
        if !n.bandwidth_bytes_per_us.is_finite() || n.bandwidth_bytes_per_us <= 0.0 {
            return Err(bad(
                "interconnect.bandwidth_bytes_per_us".into(),
                "must be positive",
            ));
        }
        for (f, v) in [
            ("latency_us", n.latency_us),
            ("hop_latency_us", n.hop_latency_us),
            ("energy_pj_per_byte", n.energy_pj_per_byte),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(bad(format!("interconnect.{f}"), "must be finite and ≥ 0"));
            }
            if f != "energy_pj_per_byte" && v > MAX_US {
                return Err(bad(format!("interconnect.{f}"), "must be at most 1e9 µs"));
            }
        }
        if n.mesh_cols == Some(0) {
            return Err(bad("interconnect.mesh_cols".into(), "must be at least 1"));
        }
        if n.kind == NetKind::Mesh && n.contention {
            return Err(bad(
                "interconnect.contention".into(),
                "applies to `kind: bus` only (mesh links never contend)",
            ));
        }
        for (i, l) in n.links.iter().enumerate() {
            if !l.bandwidth_bytes_per_us.is_finite() || l.bandwidth_bytes_per_us <= 0.0 {
                return Err(bad(
                    format!("interconnect.links.{i}.bandwidth_bytes_per_us"),
                    "must be positive",
                ));
            }
            for t in &l.between {
                if !self.pes.iter().any(|p| &p.kind == t) {
                    return Err(AccelError::InvalidConfig {
                        key: format!("interconnect.links.{i}.between"),
                        reason: format!("no PE has type `{t}`"),
                    });
                }
            }
        }
        if !self.exec_noise.is_finite() || !(0.0..=10.0).contains(&self.exec_noise) {
            return Err(bad("exec_noise".into(), "must be in [0, 10]"));
        }
        if !self.freq_mhz.is_finite() || self.freq_mhz <= 0.0 {
            return Err(bad("freq_mhz".into(), "must be positive"));
        }
        if self.freq_mhz > crate::MAX_FREQ_MHZ {
            return Err(bad("freq_mhz".into(), "must be at most 100000 (100 GHz)"));
        }
        Ok(())
    }
}
