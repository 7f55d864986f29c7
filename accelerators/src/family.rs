//! The one seam between the pipeline and the hardware families.
//!
//! ```text
//!  accelerator: {kind: K, ...}                 workload: {...}
//!        │ registry (lib.rs `families!`)             │ WorkloadConfig::form()
//!        ▼                                           ▼
//!  AcceleratorConfig::<kind>(cfg) ─ FamilyConfig::build ─► Box<dyn Family>
//!                                                    │ run_graph / run_tasks / run_jobs
//!                                                    ▼
//!                                                 Report  (+ llm / tasks / jobs sections)
//! ```
//!
//! Every hardware family — systolic, GPU, heterogeneous chip, NPU+PIM, RDU, SoC, roofline —
//! is one config type implementing [`FamilyConfig`] (how its `accelerator:` mapping is read,
//! validated and built) and one model implementing [`Family`] (how it maps and prices a
//! workload into a [`Report`]). The pipeline (`archsim::simulate`, the gym, sweeps, searches,
//! the Python package) only ever holds a `Box<dyn Family>`: it branches on the *workload's*
//! form (an op graph, several concurrent networks, a job stream), never on the accelerator
//! kind. Optional capabilities are report sections a family fills when it can: `llm` (serving
//! metrics of an `llm:` step), `tasks` (per-network results) and `jobs` (job statistics).
//!
//! Adding a family is one file (its config, its model, both traits) plus one line in the
//! registry; `doc/architecture.md` walks through the roofline family as the example.

use serde_json::{Map, Value};

use archsim_sim::Report;
use archsim_workloads::jobs::JobSet;
use archsim_workloads::llm::LlmConfig;
use archsim_workloads::{DType, Workload, WorkloadConfig};

use crate::config::{typed, KeyError};
use crate::AccelError;

pub use archsim_workloads::Form;

/// What a run passes to a family besides the workload: provenance and the workload options
/// a family may need (the element type, the `llm:` step behind an op graph).
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The config's hash, for the report's provenance.
    pub config_hash: &'a str,
    /// The run's seed.
    pub seed: u64,
    /// The workload's element type.
    pub dtype: DType,
    /// The `llm:` step the op graph was lowered from, if any: a family that prices serving
    /// fills the report's `llm` section from it.
    pub llm: Option<&'a LlmConfig>,
    /// The report lists every op (`report.json`'s `ops`); off, a family may leave `ops` empty
    /// and report the same totals (a search or gym step reads no per-op row).
    pub ops: bool,
}

/// A hardware family's model: maps and prices a workload and returns the report.
///
/// Only [`Family::run_graph`] is required; a family that runs several networks at once
/// (`workload: {tasks: [...]}`) or job streams (`workload: {jobs: ...}`) overrides
/// [`Family::run_tasks`] or [`Family::run_jobs`] and lists the form in
/// [`FamilyConfig::FORMS`], which the config loader checks before anything is built.
pub trait Family: Send + Sync {
    /// Short description, e.g. `systolic 128x128 os`.
    fn name(&self) -> String;
    /// Chip area in mm² (0 where the family does not model area).
    fn area_mm2(&self) -> f64;
    /// Maps, schedules and prices an op graph. A family that can price serving fills the
    /// report's `llm` section when `ctx.llm` is given.
    fn run_graph(&self, w: &Workload, ctx: &Context<'_>) -> Result<Report, AccelError>;
    /// The totals of [`Family::run_graph`] (`Totals::of` its report, or its error) where the
    /// family gives them without building the report and the run fits with no `llm` section;
    /// `None` (the default) where the caller runs the graph for the report.
    fn graph_totals(
        &self,
        _w: &Workload,
        _ctx: &Context<'_>,
    ) -> Option<Result<crate::pipeline::Totals, AccelError>> {
        None
    }
    /// Runs several networks concurrently; the report carries per-task results in `tasks`.
    fn run_tasks(&self, _tasks: &[Workload], _ctx: &Context<'_>) -> Result<Report, AccelError> {
        Err(unsupported(Form::Tasks))
    }
    /// Runs a stream of job DAGs; the report carries the job statistics in `jobs`.
    fn run_jobs(&self, _jobs: &JobSet, _ctx: &Context<'_>) -> Result<Report, AccelError> {
        Err(unsupported(Form::Jobs))
    }
    /// The stages of the per-op model ([`crate::Accelerator`]) behind the family, when it has one:
    /// what `archsim run --stop-after mapping|schedule` dumps. Families that price larger
    /// units (fused sections, whole tasks on PEs, the roofline's graph pass) return `None`.
    fn per_op(&self) -> Option<&dyn crate::pipeline::Stages> {
        None
    }
}

fn unsupported(form: Form) -> AccelError {
    AccelError::InvalidConfig {
        key: "kind".into(),
        reason: format!(
            "this accelerator does not run a {} workload",
            form.describe()
        ),
    }
}

/// Sets one key of a family's config to a value decoded once ([`FamilyConfig::setter`]).
pub type Setter<C> = Box<dyn Fn(&mut C) + Send + Sync>;

/// A [`Setter`] of `path` (a key of the config, or a key of one of its mappings) for
/// [`FamilyConfig::setter`]: `value` is decoded here, once, as the key's type reads it from a
/// mapping (`None` when it does not decode); the setter assigns it.
///
/// ```ignore
/// match path {
///     ["rows"] => set_field!(value, rows),
///     ["sram_kib", "ifmap"] => set_field!(value, sram_kib.ifmap),
///     _ => None,
/// }
/// ```
macro_rules! set_field {
    ($value:expr, $($field:ident).+) => {{
        let x = serde::Deserialize::deserialize($value).ok()?;
        Some(Box::new(move |c: &mut Self| c.$($field).+ = Clone::clone(&x))
            as $crate::family::Setter<Self>)
    }};
}
pub(crate) use set_field;

/// A family's `accelerator:` config: how the mapping is read, validated and built.
pub trait FamilyConfig: Sized + serde::de::DeserializeOwned {
    /// Workload forms the family runs (default: an op graph).
    const FORMS: &'static [Form] = &[Form::Graph];
    /// Whether the family prices an `llm:` step's serving metrics (the report's `llm`
    /// section: `ttft_s`, `tpot_s`, `decode_tokens_per_s`, memory). Default: no, so those
    /// metrics are absent from its results and an objective on them is refused.
    const LLM_METRICS: bool = false;
    /// Names accepted by its `preset:` key, if it has one.
    fn presets() -> Vec<&'static str> {
        Vec::new()
    }
    /// Reads the `accelerator:` mapping (its `kind` already removed); a family with presets
    /// merges them here. Errors carry the key path (starting at `accelerator`).
    fn from_map(acc: Map<String, Value>) -> Result<Self, KeyError> {
        typed(Value::Object(acc), &["accelerator"])
    }
    /// A typed setter of the key at `path` (keys below `accelerator:`, outermost first) to
    /// `value`, decoded once, here: applied to the config [`FamilyConfig::from_map`] reads from
    /// a mapping, it gives the config read from that mapping with `value` at `path` — the
    /// mappings on the way present in it, as the caller checks. `None` (the default) where the
    /// family has no setter for the key (the caller sets the key in the mapping and reads it
    /// again), or the value does not decode as the key's type. A setter does not validate:
    /// the caller validates the config it set ([`FamilyConfig::validate`]), as `from_map` does.
    fn setter(_path: &[&str], _value: &Value) -> Option<Setter<Self>> {
        None
    }
    /// Checks the values (errors name the key relative to `accelerator:`).
    fn validate(&self) -> Result<(), AccelError>;
    /// Reconciles the config with the workload it runs: a key the family derives from the
    /// workload when the user left it out (`given` lists the keys the user wrote, a preset's
    /// included), or an error naming both keys when they conflict. Default: nothing to do.
    fn reconcile(&mut self, _given: &[String], _workload: &WorkloadConfig) -> Result<(), KeyError> {
        Ok(())
    }
    /// The device's datasheet at `dtype`, for models that report against it (a training
    /// iteration's MFU and memory use); `None` (the default) where the family gives none.
    fn datasheet(&self, _dtype: DType) -> Option<Result<Datasheet, AccelError>> {
        None
    }
    /// Builds the model.
    fn build(&self) -> Result<Box<dyn Family>, AccelError>;
}

/// A device's datasheet figures at one element type ([`FamilyConfig::datasheet`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Datasheet {
    /// Dense peak at the element type, FLOP/s; `None` where the device states none for it.
    pub peak_flops: Option<f64>,
    /// Memory capacity, bytes.
    pub mem_bytes: f64,
}

/// A family config that the registry lists: it reads itself out of an `accelerator:`
/// section (implemented by the registry for every family's config, so that a family's own
/// module, not generic code, offers access to its config: e.g. the GPU's `config_of`).
pub trait Registered: Sized {
    /// The family's config in `acc`, when `acc` is of the family's kind.
    fn of(acc: &crate::AcceleratorConfig) -> Option<&Self>;
}

impl<T: FamilyConfig + 'static> FamilyConfig for Box<T> {
    const FORMS: &'static [Form] = T::FORMS;
    const LLM_METRICS: bool = T::LLM_METRICS;
    fn presets() -> Vec<&'static str> {
        T::presets()
    }
    fn from_map(acc: Map<String, Value>) -> Result<Self, KeyError> {
        T::from_map(acc).map(Box::new)
    }
    fn setter(path: &[&str], value: &Value) -> Option<Setter<Self>> {
        let set = T::setter(path, value)?;
        Some(Box::new(move |c: &mut Box<T>| set(c)))
    }
    fn validate(&self) -> Result<(), AccelError> {
        T::validate(self)
    }
    fn reconcile(&mut self, given: &[String], workload: &WorkloadConfig) -> Result<(), KeyError> {
        T::reconcile(self, given, workload)
    }
    fn datasheet(&self, dtype: DType) -> Option<Result<Datasheet, AccelError>> {
        T::datasheet(self, dtype)
    }
    fn build(&self) -> Result<Box<dyn Family>, AccelError> {
        T::build(self)
    }
}

/// The [`Family`] of a per-op [`crate::Accelerator`]: its name, area and `per_op` come from the
/// accelerator, and its op graph runs through [`crate::pipeline::evaluate`] (map every op,
/// schedule on `archsim-sim`, report).
///
/// * `per_op_family!(Ty)` — the whole family is the pipeline: `run_graph` and a
///   `graph_totals` without a report.
/// * `per_op_family!(Ty { fn run_tasks(..) {..} })` — the same, plus the capabilities written
///   in the braces (hetero runs several networks at once).
/// * `per_op_family!(Ty, own run_graph { fn run_graph(..) {..} .. })` — the family prices its
///   op graph itself (the GPU attaches an `llm:` step's serving metrics); the braces hold
///   `run_graph` and any other capability.
macro_rules! per_op_family {
    ($ty:ty) => {
        $crate::family::per_op_family!($ty {});
    };
    ($ty:ty { $($extra:tt)* }) => {
        $crate::family::per_op_family!($ty, own run_graph {
            fn run_graph(
                &self,
                w: &archsim_workloads::Workload,
                ctx: &$crate::family::Context<'_>,
            ) -> Result<archsim_sim::Report, $crate::AccelError> {
                $crate::pipeline::evaluate_with(w, self, ctx.config_hash, ctx.seed, ctx.ops)
            }
            fn graph_totals(
                &self,
                w: &archsim_workloads::Workload,
                _ctx: &$crate::family::Context<'_>,
            ) -> Option<Result<$crate::pipeline::Totals, $crate::AccelError>> {
                // `run_graph`'s report always fits and has no `llm` section.
                Some($crate::pipeline::totals(w, self))
            }
            $($extra)*
        });
    };
    ($ty:ty, own run_graph { $($items:tt)* }) => {
        impl $crate::family::Family for $ty {
            fn name(&self) -> String {
                $crate::Accelerator::name(self)
            }
            fn area_mm2(&self) -> f64 {
                $crate::Accelerator::area_mm2(self)
            }
            fn per_op(&self) -> Option<&dyn $crate::pipeline::Stages> {
                Some(self)
            }
            $($items)*
        }
    };
}
pub(crate) use per_op_family;

/// The array word follows the workload's element type: `word_bytes` left out (and no preset)
/// is the dtype's width; data wider than the word the user gave is an error naming both keys
/// (narrower data in wider words is what a 16-bit array does with int8: allowed).
pub(crate) fn word_follows_dtype(
    word_bytes: &mut u32,
    given: &[String],
    workload: &WorkloadConfig,
) -> Result<(), KeyError> {
    let dtype = workload.dtype();
    let bytes = dtype.bytes() as u32;
    if !given.iter().any(|k| k == "word_bytes" || k == "preset") {
        *word_bytes = bytes;
        return Ok(());
    }
    if bytes > *word_bytes {
        return Err(KeyError::new(
            vec!["accelerator".into(), "word_bytes".into()],
            format!(
                "{word_bytes}-byte words cannot hold the workload's {} ({bytes} bytes, \
                 workload.dtype); set word_bytes: {bytes} or a narrower dtype",
                dtype.name()
            ),
        ));
    }
    Ok(())
}
