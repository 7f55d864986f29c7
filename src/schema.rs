//! The JSON schema of a config file (`archsim schema`), generated from the types the loaders
//! read each section into, so that it cannot drift from them.
//!
//! A config file is one of these forms, each a struct below whose fields are the loaders' own
//! section types:
//!
//! * a **simulation** (`workload:` + `accelerator:` + `seed:`, and a co-design `cell:` whose
//!   network is the workload), which may carry a `search:` section
//!   ([`archsim_agents::SearchConfig`]) or a `gym:` section (a design-space environment's
//!   [`archsim_gym::GymSection`] or a SoC scheduling environment's
//!   [`archsim_gym::soc_env::SocGymSection`]);
//! * a **serving** simulation (`workload: {llm: ...}` + `serving:`, [`crate::serve::ServingFile`]),
//!   and a **fleet search** (a serving config with a `search:` section);
//! * a **training** iteration (`workload: {training: ...}` + `accelerator:` + `cluster:` +
//!   `parallel:`, [`crate::training::TrainingFile`]), and a **layout search** or environment
//!   (a training config with a `search:` or `gym:` section);
//! * a **collective** run (`workload: {collective: ...}` + `cluster:`,
//!   [`archsim_net::workload::CollectiveFile`]);
//! * a **sweep** (`archsim sweep`): a simulation config with a `sweep:` section, whose base
//!   config may leave out keys that its grid or random part sets (so its `workload:`,
//!   `accelerator:` and `search:` are checked with no key required but `kind`; every key given
//!   is still checked by name and type);
//! * every **study** of the registry ([`archsim_studies::STUDIES`]): `study: {kind, ...}` and
//!   the sections of its file (or the study's own section), as the study describes them
//!   (`Study::schema`).
//!
//! The schema describes the file as written: an accelerator `preset:` may stand in for the
//! keys it gives (see `archsim_accelerators::AcceleratorConfig`'s schema). It checks shapes,
//! types, names, the range of every number and the least length of every list; the loaders
//! enforce those same bounds from it ([`crate::config::check_values`],
//! [`archsim_accelerators::ranges`]), check the rest (cross-key rules such as a
//! `search.space` path naming a real key) and locate every error at its line and column.
//!
//! ```
//! let schema = archsim::schema::config_schema();
//! let forms = schema.as_value()["anyOf"].as_array().unwrap();
//! assert_eq!(forms.len(), 7 + archsim_studies::STUDIES.len());
//! ```

use schemars::JsonSchema;
use serde_json::{Map, Value};

use archsim_accelerators::AcceleratorConfig;
use archsim_workloads::WorkloadConfig;

/// The JSON schema (draft 2020-12) of every config file archsim reads.
pub fn config_schema() -> schemars::Schema {
    let mut generator = schemars::SchemaGenerator::default();
    // Every registered study's file, described by its study (`Study::schema`), is one more form.
    let studies: Vec<Value> = archsim_studies::STUDIES
        .iter()
        .map(|st| {
            let mut form = (st.schema)(&mut generator).to_value();
            if let Some(m) = form.as_object_mut() {
                m.insert("description".into(), Value::from(st.about));
            }
            form
        })
        .collect();
    let mut schema = generator.root_schema_for::<ConfigFile>();
    let root = schema
        .as_object_mut()
        .expect("a struct's schema is an object");
    if let Some(Value::Array(forms)) = root.get_mut("anyOf") {
        forms.extend(studies);
    }
    let mut defs = match root.remove("$defs") {
        Some(Value::Object(d)) => d,
        _ => Map::new(),
    };
    // A sweep's base config: the same sections, no key required (its points set them).
    if let Some(Value::Object(props)) = defs
        .get_mut("SweepFile")
        .and_then(|f| f.get_mut("properties"))
    {
        for key in ["workload", "accelerator", "search"] {
            if let Some(p) = props.get_mut(key) {
                partial_refs(p);
            }
        }
    }
    let mut todo: Vec<String> = Vec::new();
    collect_partial_refs(defs.get("SweepFile").unwrap_or(&Value::Null), &mut todo);
    while let Some(name) = todo.pop() {
        let partial = format!("{PARTIAL}{name}");
        if defs.contains_key(&partial) {
            continue;
        }
        let Some(mut def) = defs.get(&name).cloned() else {
            continue;
        };
        strip_required(&mut def);
        partial_refs(&mut def);
        collect_partial_refs(&def, &mut todo);
        defs.insert(partial, def);
    }
    root.insert("$defs".into(), Value::Object(defs));
    schema
}

const PARTIAL: &str = "Partial";
const DEFS: &str = "#/$defs/";

/// Points every `$ref` under `v` at the partial copy of its definition.
fn partial_refs(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                match x {
                    Value::String(r) if k == "$ref" => {
                        if let Some(name) = r.strip_prefix(DEFS) {
                            if !name.starts_with(PARTIAL) {
                                *r = format!("{DEFS}{PARTIAL}{name}");
                            }
                        }
                    }
                    _ => partial_refs(x),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(partial_refs),
        _ => {}
    }
}

/// The definitions whose partial copies `v` refers to.
fn collect_partial_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match x {
                    Value::String(r) if k == "$ref" => {
                        if let Some(name) =
                            r.strip_prefix(DEFS).and_then(|n| n.strip_prefix(PARTIAL))
                        {
                            out.push(name.to_string());
                        }
                    }
                    _ => collect_partial_refs(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_partial_refs(x, out)),
        _ => {}
    }
}

/// Drops every `required` under `v` but `kind` (which picks a tagged variant).
fn strip_required(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Array(r)) = m.get_mut("required") {
                r.retain(|k| k == "kind");
                if r.is_empty() {
                    m.remove("required");
                }
            }
            m.values_mut().for_each(strip_required);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_required),
        _ => {}
    }
}

/// An archsim config file: a simulation (which may carry a search, sweep or gym section), a
/// serving, training or collective run; the studies' files are added from the study registry.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)] // a schema only: `archsim run` dispatches on the sections present
enum ConfigFile {
    /// A simulation config, optionally with one of the sections that run it many times.
    Simulation(Box<SimulationFile>),
    /// A sweep (`archsim sweep`): a base config and the `sweep:` section that varies it.
    Sweep(Box<SweepFile>),
    /// An LLM serving simulation (`workload: {llm: ...}` + `serving:`).
    Serving(Box<crate::serve::ServingFile>),
    /// A fleet search: a serving config and the `search:` section that sizes its fleet.
    ServingSearch(Box<ServingSearchFile>),
    /// A training iteration (`workload: {training: ...}` + `cluster:` + `parallel:`).
    Training(Box<crate::training::TrainingFile>),
    /// A layout search or environment: a training config and the `search:` section over its
    /// layout, or the `gym:` section of `archsim/Training-v0`.
    TrainingSearch(Box<TrainingSearchFile>),
    /// A collective run (`workload: {collective: ...}` + `cluster:`), archsim's nccl-tests.
    Collective(Box<crate::collective::CollectiveFile>),
}

/// A simulation config (`archsim run`): `workload:`, `accelerator:`, `seed:`, and at most one
/// `search:` (an optimizer run) or `gym:` (an environment).
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct SimulationFile {
    /// What runs.
    workload: WorkloadConfig,
    /// What it runs on.
    accelerator: AcceleratorConfig,
    /// Seed of every random choice (default 0).
    #[serde(default)]
    seed: u64,
    /// A network × hardware co-design point: the NAS-Bench-201 cell whose network is the
    /// workload, and its accuracy table (a search varies `cell.ops[0]` … `cell.ops[5]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cell: Option<archsim_workloads::CellConfig>,
    /// A search over the config (`archsim run` runs it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "archsim_agents::SearchConfig")]
    search: Option<archsim_agents::SearchConfig>,
    /// The environment this config poses (Gymnasium / PettingZoo).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "GymSectionSchema")]
    gym: Option<GymSectionSchema>,
}

/// A serving config with a `search:` section (a fleet search, `archsim run`).
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ServingSearchFile {
    /// The model served: an `llm:` workload.
    workload: WorkloadConfig,
    /// Traffic, pools, scheduler, router, SLO, KV cache.
    #[schemars(with = "archsim_serving::ServingConfig")]
    serving: archsim_serving::ServingConfig,
    /// Seed of every random choice (default 0).
    #[serde(default)]
    seed: u64,
    /// The fleet search: its space varies the serving config, its objectives and constraints
    /// name serving metrics.
    #[schemars(with = "archsim_agents::SearchConfig")]
    search: archsim_agents::SearchConfig,
}

/// A training config with a `search:` section (a layout search, `archsim run`) or a `gym:`
/// section (`archsim/Training-v0`).
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct TrainingSearchFile {
    /// What is trained.
    workload: crate::training::TrainingWorkload,
    /// Every device.
    #[schemars(with = "AcceleratorConfig")]
    accelerator: Map<String, Value>,
    /// The machines.
    #[schemars(with = "crate::training::TrainingCluster")]
    cluster: archsim_net::config::ClusterConfig,
    /// The layout the search starts from (its space varies `parallel.*` and
    /// `workload.training.micro_batch` / `recompute`).
    #[serde(default)]
    parallel: archsim_training::ParallelConfig,
    /// Checkpointing, as in a training config.
    #[serde(default)]
    checkpoint: Option<archsim_training::CheckpointConfig>,
    /// Seed of the search.
    #[serde(default)]
    seed: u64,
    /// The layout search: objectives and constraints name training metrics.
    #[serde(default)]
    #[schemars(with = "archsim_agents::SearchConfig")]
    search: Option<archsim_agents::SearchConfig>,
    /// The environment this config poses (`archsim/Training-v0`).
    #[serde(default)]
    gym: Option<archsim_gym::training_env::TrainingGym>,
}

/// A sweep file: a simulation config (that may leave out what the sweep sets) and `sweep:`.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct SweepFile {
    /// What runs (keys the sweep sets may be left out).
    workload: WorkloadConfig,
    /// What it runs on (keys the sweep sets may be left out).
    accelerator: AcceleratorConfig,
    /// Seed of every random choice (default 0).
    #[serde(default)]
    seed: u64,
    /// A search at every point (the sweep then compares optimizers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "archsim_agents::SearchConfig")]
    search: Option<archsim_agents::SearchConfig>,
    /// The sweep.
    sweep: crate::sweep::SweepConfig,
}

/// A simulation config's `gym:` section: a design-space environment, or (on `kind: soc` with
/// `jobs:`) a SoC scheduling environment.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum GymSectionSchema {
    /// Design-space exploration.
    Dse(Box<archsim_gym::GymSection>),
    /// Task-to-PE scheduling.
    Soc(archsim_gym::soc_env::SocGymSection),
}
