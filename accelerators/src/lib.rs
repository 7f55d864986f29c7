//! # archsim-accelerators — hardware families behind one registry
//!
//! The second stage of archsim's data flow: a hardware family maps a workload onto its engines
//! and prices it into a [`archsim_sim::Report`].
//!
//! ```text
//! accelerator: {kind: K, ...} ──families! registry──► AcceleratorConfig::K(cfg)
//!                               FamilyConfig::build ─► Box<dyn Family>
//!   run_graph(op graph) / run_tasks(networks) / run_jobs(job DAGs) ─► Report (+ llm, tasks, jobs)
//! ```
//!
//! * [`family`] is the seam: [`family::FamilyConfig`] (how an `accelerator:` mapping is read,
//!   validated, reconciled with its workload, patched and built) and [`family::Family`] (how a
//!   workload is priced). Generic code holds a `Box<dyn Family>` and branches on the
//!   workload's form, never on the kind.
//! * The registry (the `families!` lines in this file) lists the families: `systolic`
//!   (SCALE-Sim v3 parity), `gpu` (calibrated on a measured H100), `soc` (DS3 job streams on
//!   PEs), `hetero` (several systolic arrays sharing DRAM, after NASAIC), `npu_pim` (an NPU
//!   beside HBM-PIM, after NeuPIMs), `rdu` (a dataflow RDU, after SambaNova SN40L) and
//!   `roofline` (a what-if chip). Each is one module, its config and its model.
//! * [`pipeline`] runs a per-op model ([`Accelerator`]: `map(op)` with the family's own plan
//!   type, pure `cost(op, mapping)`) through mapping, `archsim-sim`'s list scheduler and the
//!   report; contention for shared memory bandwidth is the scheduler's, not the model's.
//! * [`llm_metrics`] derives an `llm:` step's serving metrics (TTFT, TPOT, memory, largest
//!   batch, KV swapping) for every family that prices a step; [`collective`] prices
//!   tensor-parallel collectives on `archsim-net`; [`config`], [`ranges`] and `energy` are the
//!   shared config reading, value bounds and energy/area constants.
//!
//! Adding a family is one file plus one registry line (`doc/architecture.md` walks through the
//! roofline family); `tests/integration/seam.rs` fails if a generic module names a family.
//!
//! ```
//! use archsim_accelerators::{pipeline, systolic::{Dataflow, Systolic, SystolicConfig}};
//! use archsim_workloads::{zoo, DType};
//!
//! let w = zoo::build("resnet18", 1, DType::Int8).unwrap();
//! let acc = Systolic::new(SystolicConfig::new(128, 128, Dataflow::Os)).unwrap();
//! let report = pipeline::evaluate(&w, &acc, "doc", 0).unwrap();
//! assert_eq!(report.macs, w.total_macs());
//! assert!(report.utilization > 0.0 && report.utilization <= 1.0);
//! ```
#![warn(missing_docs, unreachable_pub)]

pub mod coe;
pub mod collective;
pub mod config;
mod energy;
pub mod family;
pub mod llm_metrics;
pub mod pipeline;
pub mod ranges;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use archsim_sim::{Resources, SimError};
use archsim_workloads::Op;

/// How closely a model follows the hardware, so tests know which tolerance applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fidelity {
    /// Closed-form roofline-style model.
    Analytic,
    /// Closed-form or fold-level model that reproduces a cycle-level reference.
    CycleApprox,
    /// Driven by an event or trace simulation.
    EventDriven,
}

/// Errors of the mapping and scheduling stages.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum AccelError {
    /// A config value is out of range. Fatal for this design point; agents treat it as
    /// an infeasible point.
    #[error("accelerator.{key}: {reason}")]
    InvalidConfig {
        /// Key relative to the `accelerator:` section.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// An op cannot run on this accelerator (infeasible design point).
    #[error("op `{op}` cannot be mapped on {accelerator}: {reason}")]
    Mapping {
        /// Op name.
        op: String,
        /// Accelerator description.
        accelerator: String,
        /// Why.
        reason: String,
    },
    /// The workload does not fit in the accelerator's memory (infeasible design point).
    #[error("out of memory on {accelerator}: {reason}")]
    OutOfMemory {
        /// Accelerator description.
        accelerator: String,
        /// What does not fit, with the sizes.
        reason: String,
    },
    /// The scheduler failed.
    #[error(transparent)]
    Sim(#[from] SimError),
}

/// Where and how an op runs: the engine, and the plan of the family that mapped it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpMapping<P> {
    /// Index of the engine in [`Accelerator::resources`].
    pub engine: usize,
    /// The family's own mapping details ([`Accelerator::Plan`]).
    pub plan: P,
}

/// A family's mapping details for one op: what its [`Accelerator::map`] decided and its
/// [`Accelerator::cost`] reads back. Each family owns its plan type; the pipeline reads a plan
/// only through this trait (the report's mapping column and kernel rows), and
/// `archsim run --stop-after mapping` dumps it as it serializes.
pub trait OpPlan: std::fmt::Debug + Clone + Serialize + Send + Sync {
    /// One-line summary for reports, e.g. `os 95x1 folds`.
    fn summary(&self) -> String;
    /// Every kernel priced for the op, in launch order, for the report's per-op row (none by
    /// default: a family that launches no kernels).
    fn kernels(&self) -> Vec<archsim_sim::KernelRow> {
        Vec::new()
    }
}

/// The price of one op under one mapping.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cost {
    /// Cycles the engine computes.
    pub compute_cycles: u64,
    /// Cycles it waits for memory when it has the memory to itself.
    pub stall_cycles: u64,
    /// Bytes moved through off-chip memory.
    pub dram_bytes: u64,
    /// Bytes moved per memory level.
    pub bytes: Vec<(&'static str, u64)>,
    /// Dynamic energy in picojoules.
    pub energy_pj: f64,
    /// MAC units of the engine (0 for engines without MACs).
    pub mac_slots: u64,
}

impl Cost {
    /// The cost of running `parts` one after the other on the same engine.
    pub fn sum(parts: Vec<Cost>) -> Cost {
        let mut total = Cost {
            compute_cycles: 0,
            stall_cycles: 0,
            dram_bytes: 0,
            bytes: Vec::new(),
            energy_pj: 0.0,
            mac_slots: 0,
        };
        for p in parts {
            total.compute_cycles += p.compute_cycles;
            total.stall_cycles += p.stall_cycles;
            total.dram_bytes += p.dram_bytes;
            total.energy_pj += p.energy_pj;
            total.mac_slots = total.mac_slots.max(p.mac_slots);
            for (level, b) in p.bytes {
                match total.bytes.iter_mut().find(|(l, _)| *l == level) {
                    Some(e) => e.1 += b,
                    None => total.bytes.push((level, b)),
                }
            }
        }
        total
    }

    /// [`Cost::sum`] of one part: the part itself where the sum would not change it (its
    /// levels distinct, its energy not `-0.0`), without building the list.
    pub fn sum_of_one(part: Cost) -> Cost {
        let distinct = part
            .bytes
            .iter()
            .enumerate()
            .all(|(i, (l, _))| part.bytes[..i].iter().all(|(k, _)| k != l));
        let negative_zero = part.energy_pj == 0.0 && part.energy_pj.is_sign_negative();
        if distinct && !negative_zero {
            part
        } else {
            Cost::sum(vec![part])
        }
    }
}

/// The highest clock a config may give, MHz (100 GHz): beyond it, cycle counts of long
/// workloads would overflow 64 bits.
pub const MAX_FREQ_MHZ: f64 = 1e5;

/// A hardware model.
pub trait Accelerator {
    /// The family's mapping details of one op.
    type Plan: OpPlan;
    /// Short description, e.g. `systolic 128x128 os`.
    fn name(&self) -> String;
    /// Fidelity of the model.
    fn fidelity(&self) -> Fidelity;
    /// Engines and memories, for the scheduler.
    fn resources(&self) -> Resources;
    /// Index of the off-chip memory in [`Accelerator::resources`], if any.
    fn dram(&self) -> Option<usize>;
    /// Chooses the engine and the tiling of one op.
    fn map(&self, op: &Op) -> Result<OpMapping<Self::Plan>, AccelError>;
    /// Prices one op under a mapping. Pure.
    fn cost(&self, op: &Op, mapping: &OpMapping<Self::Plan>) -> Cost;
    /// Clock in MHz.
    fn freq_mhz(&self) -> f64;
    /// MAC units on the chip (for utilization).
    fn mac_units(&self) -> u64;
    /// Chip area in mm².
    fn area_mm2(&self) -> f64;
}

/// The family registry: the one place that lists the hardware families. Each line is
/// `kind => Variant(ConfigType)`: the family's module is `kind` (its own file,
/// `src/<kind>.rs`), and `accelerator.kind: kind` reads the mapping as `ConfigType`
/// (a [`family::FamilyConfig`]) and builds its [`family::Family`]. The macro generates the
/// `accelerator:` config enum, [`KINDS`] and the dispatch; nothing else in archsim matches on
/// an accelerator kind (`doc/architecture.md`).
macro_rules! families {
    ($( $(#[$doc:meta])* $kind:ident => $variant:ident($cfg:ty), )+) => {
        $( pub mod $kind; )+

        /// The `accelerator:` section of a config, tagged by `kind`.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        #[schemars(transform = preset_schema)]
        #[non_exhaustive]
        pub enum AcceleratorConfig {
            $( $(#[$doc])* $variant($cfg), )+
        }

        /// Kinds accepted in `accelerator.kind`.
        pub const KINDS: &[&str] = &[$( stringify!($kind) ),+];

        $( impl From<$cfg> for AcceleratorConfig {
            fn from(c: $cfg) -> AcceleratorConfig {
                AcceleratorConfig::$variant(c)
            }
        } )+

        $( impl family::Registered for $cfg {
            fn of(acc: &AcceleratorConfig) -> Option<&Self> {
                #[allow(unreachable_patterns)]
                match acc {
                    AcceleratorConfig::$variant(c) => Some(c),
                    _ => None,
                }
            }
        } )+

        impl AcceleratorConfig {
            /// The `kind` of this config.
            pub fn kind(&self) -> &'static str {
                match self {
                    $( AcceleratorConfig::$variant(_) => stringify!($kind), )+
                }
            }

            /// Builds the family's model, validating the config.
            pub fn family(&self) -> Result<Box<dyn family::Family>, AccelError> {
                match self {
                    $( AcceleratorConfig::$variant(c) => family::FamilyConfig::build(c), )+
                }
            }

            /// Reconciles the config with its workload ([`family::FamilyConfig::reconcile`]).
            pub fn reconcile(
                &mut self,
                given: &[String],
                workload: &archsim_workloads::WorkloadConfig,
            ) -> Result<(), config::KeyError> {
                match self {
                    $( AcceleratorConfig::$variant(c) => family::FamilyConfig::reconcile(c, given, workload), )+
                }
            }

            /// A typed setter of the key at `path` (below `accelerator:`) to `value`, decoded
            /// once ([`family::FamilyConfig::setter`]), for a config of this one's kind;
            /// `None` where the family has none.
            pub fn setter(
                &self,
                path: &[&str],
                value: &serde_json::Value,
            ) -> Option<family::Setter<AcceleratorConfig>> {
                match self {
                    $( AcceleratorConfig::$variant(_) => {
                        let set = <$cfg as family::FamilyConfig>::setter(path, value)?;
                        Some(Box::new(move |a: &mut AcceleratorConfig| {
                            if let AcceleratorConfig::$variant(c) = a {
                                set(c)
                            }
                        }))
                    } )+
                }
            }

            /// The device's datasheet at `dtype` ([`family::FamilyConfig::datasheet`]);
            /// `None` where the family gives none.
            pub fn datasheet(
                &self,
                dtype: archsim_workloads::DType,
            ) -> Option<Result<family::Datasheet, AccelError>> {
                match self {
                    $( AcceleratorConfig::$variant(c) => family::FamilyConfig::datasheet(c, dtype), )+
                }
            }

            /// Validates the config without building the model.
            pub fn validate(&self) -> Result<(), AccelError> {
                match self {
                    $( AcceleratorConfig::$variant(c) => family::FamilyConfig::validate(c), )+
                }
            }

            /// Workload forms this config's family runs.
            pub fn forms(&self) -> &'static [family::Form] {
                match self {
                    $( AcceleratorConfig::$variant(_) => <$cfg as family::FamilyConfig>::FORMS, )+
                }
            }

            /// Whether this config's family prices an `llm:` step's serving metrics
            /// ([`family::FamilyConfig::LLM_METRICS`]).
            pub fn llm_metrics(&self) -> bool {
                match self {
                    $( AcceleratorConfig::$variant(_) => <$cfg as family::FamilyConfig>::LLM_METRICS, )+
                }
            }

            /// The kinds whose family prices an `llm:` step's serving metrics.
            pub fn llm_metric_kinds() -> Vec<&'static str> {
                let mut k = Vec::new();
                $( if <$cfg as family::FamilyConfig>::LLM_METRICS {
                    k.push(stringify!($kind));
                } )+
                k
            }

            /// Preset names of `kind` (empty when it has none or is unknown).
            pub fn presets_of(kind: &str) -> Vec<&'static str> {
                match kind {
                    $( stringify!($kind) => <$cfg as family::FamilyConfig>::presets(), )+
                    _ => Vec::new(),
                }
            }

            /// Kinds whose family runs workloads of `form`.
            pub fn kinds_for(form: family::Form) -> Vec<&'static str> {
                let mut k = Vec::new();
                $( if <$cfg as family::FamilyConfig>::FORMS.contains(&form) {
                    k.push(stringify!($kind));
                } )+
                k
            }

            /// Reads the `accelerator:` mapping of `kind` (the `kind` key removed); `None`
            /// for an unknown kind.
            pub fn from_kind(
                kind: &str,
                acc: serde_json::Map<String, serde_json::Value>,
            ) -> Option<Result<AcceleratorConfig, config::KeyError>> {
                match kind {
                    $( stringify!($kind) => Some(
                        <$cfg as family::FamilyConfig>::from_map(acc).map(AcceleratorConfig::$variant),
                    ), )+
                    _ => None,
                }
            }
        }
    };
}

families! {
    /// A systolic array (`kind: systolic`).
    systolic => Systolic(systolic::SystolicConfig),
    /// A GPU (`kind: gpu`): a preset plus optional resource overrides.
    gpu => Gpu(Box<gpu::GpuConfig>),
    /// A heterogeneous SoC running job DAGs (`kind: soc`; needs a `jobs:` workload).
    soc => Soc(soc::SocConfig),
    /// Several systolic sub-accelerators sharing DRAM (`kind: hetero`); runs a single
    /// workload on `assignment[0]`, or several concurrently with `workload: {tasks: [...]}`.
    hetero => Hetero(hetero::HeteroConfig),
    /// An NPU beside HBM-PIM (`kind: npu_pim`), after NeuPIMs.
    npu_pim => NpuPim(Box<npu_pim::NpuPimConfig>),
    /// A dataflow RDU socket (`kind: rdu`), after SambaNova SN40L.
    rdu => Rdu(Box<rdu::RduConfig>),
    /// A roofline chip (`kind: roofline`): peak compute per dtype, memory bandwidth and capacity.
    roofline => Roofline(roofline::RooflineConfig),
}

/// The `accelerator:` schema as a config writes it, not as the merged config reads: a kind
/// with presets ([`family::FamilyConfig::presets`]) takes `preset:` (one of its names), and
/// beside a preset the keys its config otherwise requires may be left out, since the preset
/// gives them ([`config::merge_preset`]).
fn preset_schema(schema: &mut schemars::Schema) {
    use serde_json::Value;
    let Some(variants) = schema.get_mut("oneOf").and_then(Value::as_array_mut) else {
        return;
    };
    for v in variants {
        let Some(kind) = v
            .pointer("/properties/kind/const")
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            continue;
        };
        let presets = AcceleratorConfig::presets_of(&kind);
        if presets.is_empty() {
            continue;
        }
        let Some(obj) = v.as_object_mut() else {
            continue;
        };
        if let Some(Value::Object(props)) = obj.get_mut("properties") {
            let mut p = serde_json::Map::new();
            let about = props
                .get("preset")
                .and_then(|p| p.get("description"))
                .cloned()
                .unwrap_or_else(|| {
                    Value::from(
                        "A built-in design to start from; the keys given beside it replace the preset's.",
                    )
                });
            p.insert("description".into(), about);
            p.insert("type".into(), Value::from("string"));
            p.insert("enum".into(), Value::from(presets));
            props.insert("preset".into(), Value::Object(p));
        }
        let required: Vec<Value> = obj
            .get("required")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let rest: Vec<Value> = required
            .iter()
            .filter(|k| k.as_str() != Some("kind"))
            .cloned()
            .collect();
        if !rest.is_empty() {
            obj.insert("required".into(), Value::from(vec!["kind"]));
            obj.insert(
                "anyOf".into(),
                serde_json::json!([{"required": ["preset"]}, {"required": rest}]),
            );
        }
    }
}

/// One accelerator kind as `archsim list accelerators` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct KindInfo {
    /// `accelerator.kind`.
    pub kind: &'static str,
    /// Its description (the registry line's doc comment).
    pub about: String,
    /// Its keys, each with its allowed values where they are a fixed list (`dataflow (os|ws|is)`).
    pub keys: Vec<String>,
    /// Its presets.
    pub presets: Vec<&'static str>,
}

/// Every kind with its keys, read from the config's JSON schema (so a new family is listed
/// with no code of its own).
pub fn describe_kinds() -> Vec<KindInfo> {
    use serde_json::Value;
    let schema = schemars::schema_for!(AcceleratorConfig);
    let root = schema.as_value();
    let defs = root.get("$defs").cloned().unwrap_or(Value::Null);
    let resolve = |v: &Value| -> Value {
        let mut v = v.clone();
        // `Option<T>` is `anyOf: [T, null]`: look through it.
        if let Some(alt) = v.get("anyOf").and_then(Value::as_array) {
            if let Some(t) = alt
                .iter()
                .find(|a| a.get("type") != Some(&Value::from("null")))
            {
                v = t.clone();
            }
        }
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => r
                .rsplit('/')
                .next()
                .and_then(|name| defs.get(name))
                .cloned()
                .unwrap_or(Value::Null),
            None => v,
        }
    };
    let describe = |k: &str, v: &Value| -> String {
        let v = resolve(v);
        let mut out: Vec<String> = v
            .get("enum")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        for alt in v
            .get("oneOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(c) = alt.get("const").and_then(Value::as_str) {
                out.push(c.to_string());
            }
            if let Some(e) = alt.get("enum").and_then(Value::as_array) {
                out.extend(e.iter().filter_map(|x| x.as_str().map(str::to_string)));
            }
        }
        if !out.is_empty() {
            return format!("{k} ({})", out.join("|"));
        }
        let fields = |o: &Value| -> Option<String> {
            let m = o.get("properties")?.as_object()?;
            Some(m.keys().cloned().collect::<Vec<_>>().join(", "))
        };
        if let Some(f) = fields(&v) {
            return format!("{k} {{{f}}}");
        }
        if let Some(f) = v.get("items").map(&resolve).as_ref().and_then(fields) {
            return format!("{k} [{{{f}}}]");
        }
        k.to_string()
    };
    let variants = root
        .get("oneOf")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    KINDS
        .iter()
        .map(|&kind| {
            let v = variants
                .iter()
                .find(|v| v.pointer("/properties/kind/const").and_then(Value::as_str) == Some(kind))
                .cloned()
                .unwrap_or(Value::Null);
            // A boxed or referenced config lists its keys in its definition.
            let merged = |v: &Value| -> Vec<(String, Value)> {
                let mut props: Vec<(String, Value)> = v
                    .get("properties")
                    .and_then(Value::as_object)
                    .map(|m| m.iter().map(|(k, x)| (k.clone(), x.clone())).collect())
                    .unwrap_or_default();
                for part in v
                    .get("allOf")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let r = resolve(part);
                    if let Some(m) = r.get("properties").and_then(Value::as_object) {
                        props.extend(m.iter().map(|(k, x)| (k.clone(), x.clone())));
                    }
                }
                props
            };
            let mut props = merged(&v);
            if props.iter().all(|(k, _)| k == "kind") {
                props.extend(merged(&resolve(&v)));
            }
            let keys = props
                .iter()
                .filter(|(k, _)| k != "kind")
                .map(|(k, x)| describe(k, x))
                .collect();
            let about = v
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("")
                .replace('\n', " ");
            KindInfo {
                kind,
                about,
                keys,
                presets: AcceleratorConfig::presets_of(kind),
            }
        })
        .collect()
}
