//! What one design point costs: the evaluator behind a [`Problem`](crate::Problem).
//!
//! A problem varies a base config by a design space. Its [`Evaluator`] turns one varied config
//! into a metric vector, names those metrics, and says when a design misses a requirement
//! that the config itself states. Three are built in, chosen by the form of the base config
//! ([`ConfigForm::of`]):
//!
//! * [`Simulation`] — `workload` + `accelerator`: one run of the pipeline, the metrics
//!   [`METRICS`] (the observation of every design-space environment, unchanged);
//! * [`Serving`] — `workload: {llm: ...}` + `serving:`: one serving simulation of the
//!   configured traffic on the fleet, the metrics [`SERVING_METRICS`]; a fleet that misses
//!   `serving.slo` is infeasible, with the bound it misses as the reason;
//! * [`CoDesign`] — `cell:` + `workload` + `accelerator`: a NAS-Bench-201 cell (its six edge
//!   ops, `cell.ops[0]` … `cell.ops[5]`) and the chip that runs it: one run of the pipeline on
//!   the cell's network plus the cell's accuracy from the table `cell.oracle`, the metrics
//!   [`CODESIGN_METRICS`] ([`METRICS`] then `accuracy`).
//!
//! Another evaluator plugs in through [`Problem::with_evaluator`](crate::Problem::with_evaluator).
//!
//! ```
//! use archsim_gym::{DesignSpace, Problem};
//! use serde_json::json;
//!
//! let base = json!({
//!     "workload": {"llm": {"model": "llama2_7b"}},
//!     "serving": {
//!         "traffic": {"rate": 4.0, "requests": 100, "seed": 0,
//!                     "prompt_tokens": {"fixed": 256}, "output_tokens": {"fixed": 32}},
//!         "pools": [{"accelerator": {"kind": "roofline", "peak_tflops": {"bf16": 989.0},
//!                                    "mem_bw_gb_s": 3350.0, "mem_gb": 80.0},
//!                    "count": 1, "cost_per_hour": 4.0}],
//!         "scheduler": {"max_batch": 32, "max_batch_tokens": 2048},
//!         "slo": {"ttft_p90_s": 1.0, "tpot_p99_s": 0.1}}
//! });
//! let space = json!({"serving.pools[0].count": {"int": [1, 4]}});
//! let space = DesignSpace::from_map("search.space", space.as_object().unwrap()).unwrap();
//! let p = Problem::new(base, space, std::path::Path::new(".")).unwrap();
//! assert_eq!(p.evaluator().kind(), "serving");
//! let m = p.evaluate(&[1]).unwrap().metrics.unwrap(); // two replicas
//! let cost = p.metric_names().iter().position(|n| *n == "cost_per_hour").unwrap();
//! assert_eq!(m[cost], 8.0);
//! assert!(p.infeasible(&m).is_none()); // the SLO holds
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

use archsim_accelerators::config::{typed, KeyError, SimConfig};
use archsim_serving::config::SloConfig;
use archsim_serving::{evaluate_rate, Fleet, PoolCache, ServingError, ServingFile, ServingReport};
use archsim_workloads::{Form, Workload};

use archsim_accelerators::family::{Context, Family, Setter};
use archsim_accelerators::AcceleratorConfig;

use crate::objective::{report_metrics, totals_metrics, LLM_STEP_METRICS, METRICS};
use crate::path::Segment;
use crate::space::DesignSpace;
use crate::GymError;

/// Evaluates one design point: a whole config (the base with the point's values set) in, a
/// metric vector out. `Sync`, so optimizers evaluate batches in parallel.
pub trait Evaluator: Send + Sync + std::fmt::Debug {
    /// `simulation`, `serving`, or the name of a plugged-in evaluator.
    fn kind(&self) -> &'static str;
    /// The names of the metrics [`Evaluator::evaluate`] returns, in order.
    fn metrics(&self) -> &'static [&'static str];
    /// The metric vector of one design, or why it cannot be evaluated (an invalid config, a
    /// model that does not fit the device): an infeasible point with its reason.
    fn evaluate(&self, config: Value) -> Result<Vec<f64>, String>;
    /// A shortcut for a point given as its values in the order of the design space the
    /// evaluator was built for: exactly what [`Evaluator::evaluate`] gives on the whole config,
    /// or `None` where the whole config must be built (the default).
    fn shortcut(&self, _values: &[Value]) -> Option<Result<Vec<f64>, String>> {
        None
    }
    /// [`Evaluator::shortcut`] for a point given as one index per dimension of that space
    /// (each in its domain's range): exactly what the whole config of the point's values
    /// gives, or `None` (the default) where the values must be decoded.
    fn shortcut_indices(&self, _point: &[i64]) -> Option<Result<Vec<f64>, String>> {
        None
    }
    /// Why an evaluated design misses a requirement the config states (an SLO), if it does:
    /// such a design keeps its metrics and is infeasible with this reason.
    fn infeasible(&self, _metrics: &[f64]) -> Option<String> {
        None
    }
}

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

/// The metrics of a co-design point ([`CoDesign`]), in order: [`METRICS`], then the
/// network's `accuracy` (%, from the accuracy table).
pub const CODESIGN_METRICS: &[&str] = &metrics_then::<12>("accuracy");
const _: () = assert!(CODESIGN_METRICS.len() == METRICS.len() + 1);

/// [`METRICS`] followed by `extra`: `N` must be one more than [`METRICS`]' length (checked
/// at compile time).
const fn metrics_then<const N: usize>(extra: &'static str) -> [&'static str; N] {
    let mut out = [""; N];
    let mut i = 0;
    while i < METRICS.len() {
        out[i] = METRICS[i];
        i += 1;
    }
    out[N - 1] = extra;
    out
}

/// The form of a base config, which picks the built-in evaluator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigForm {
    /// `workload` + `accelerator`: a simulation.
    Simulation,
    /// `workload: {llm: ...}` + `serving:`: a serving run.
    Serving,
    /// `cell:` + `workload` + `accelerator`: a network × hardware co-design point.
    CoDesign,
}

impl ConfigForm {
    /// A config with a `serving:` section is a serving config, one with a `cell:` section a
    /// co-design config; any other a simulation.
    pub fn of(config: &Value) -> ConfigForm {
        let has = |k: &str| config.get(k).is_some_and(|v| !v.is_null());
        if has("serving") {
            ConfigForm::Serving
        } else if has("cell") {
            ConfigForm::CoDesign
        } else {
            ConfigForm::Simulation
        }
    }

    /// The metrics of this form's evaluator.
    pub fn metrics(self) -> &'static [&'static str] {
        match self {
            ConfigForm::Simulation => METRICS,
            ConfigForm::Serving => SERVING_METRICS,
            ConfigForm::CoDesign => CODESIGN_METRICS,
        }
    }

    /// The metrics of this form's evaluator that the runs of `config` (a valid config of this
    /// form) do not produce, and why: the [`LLM_STEP_METRICS`] of a simulation whose workload
    /// is not an `llm:` step, or whose accelerator family does not price them. Empty when
    /// every metric is produced (or the config does not read).
    pub fn absent_metrics(self, config: &Value) -> (Vec<&'static str>, String) {
        if self == ConfigForm::Serving {
            return (Vec::new(), String::new());
        }
        let Ok(cfg) = SimConfig::from_value(config.clone()) else {
            return (Vec::new(), String::new());
        };
        let source = format!(
            "{} come from an `llm:` workload on an accelerator kind that prices them ({})",
            LLM_STEP_METRICS.join(", "),
            AcceleratorConfig::llm_metric_kinds().join(", ")
        );
        if cfg.workload.llm.is_none() {
            (
                LLM_STEP_METRICS.to_vec(),
                format!("{source}; this workload is not an `llm:` step"),
            )
        } else if !cfg.accelerator.llm_metrics() {
            (
                LLM_STEP_METRICS.to_vec(),
                format!("{source}; `{}` does not price them", cfg.accelerator.kind()),
            )
        } else {
            (Vec::new(), String::new())
        }
    }

    /// Reads `config` as this form's typed config (a schema check: unknown keys, wrong types).
    pub fn check(self, config: Value) -> Result<(), KeyError> {
        match self {
            ConfigForm::Simulation | ConfigForm::CoDesign => {
                SimConfig::from_value(config).map(|_| ())
            }
            ConfigForm::Serving => typed::<ServingFile>(config, &[]).map(|_| ()),
        }
    }
}

/// A workload built once for every point of a problem.
#[derive(Debug, Clone)]
enum Built {
    /// One op graph.
    Graph(Box<Workload>),
    /// Several networks run together (`tasks:`, e.g. on `kind: hetero`).
    Tasks(Vec<Workload>),
}

/// The simulation evaluator: the pipeline on the workload in its form (an op graph, several
/// `tasks:` together, or a stream of `jobs:`); an op graph or a task list is built once when
/// the space does not touch the workload. Metrics: [`METRICS`].
#[derive(Debug, Clone)]
pub struct Simulation {
    workload: Option<Built>,
    base_dir: PathBuf,
    accel_only: Option<AccelOnly>,
}

/// The shortcut of a space whose every dimension lies under `accelerator.` (most DSE spaces)
/// over a workload built once: a point rebuilds the accelerator mapping alone, not the whole
/// config, and the workload stays typed. It computes exactly what the whole config gives (the
/// workload's own checks cannot change when no dimension touches it); a point it cannot
/// convert takes the whole config, whose error names the key.
#[derive(Debug, Clone)]
struct AccelOnly {
    /// The base config's `accelerator:` mapping.
    acc: Value,
    /// Each dimension's path below `accelerator`.
    paths: Vec<Vec<Segment>>,
    /// The base config, typed (its workload and seed).
    cfg: SimConfig,
    /// The typed patch, where the accelerator's family has a setter for every dimension.
    typed: Option<Arc<TypedPatch>>,
}

/// The accelerator-only shortcut without the mapping: the base `accelerator:` config read once,
/// and each dimension's values decoded once into typed setters
/// ([`FamilyConfig::setter`](archsim_accelerators::family::FamilyConfig::setter)). A point
/// clones the typed config, applies its setters, and validates and reconciles it as
/// [`AcceleratorConfig::from_map`] and [`SimConfig::from_value`] do: what reading the mapping
/// with the point's values set gives. A point it cannot set takes the mapping.
struct TypedPatch {
    /// The base `accelerator:` config as read from its mapping (not yet reconciled with the
    /// workload).
    base: AcceleratorConfig,
    /// The keys of the mapping with every dimension set (what `reconcile` is told was given).
    given: Vec<String>,
    /// Each dimension's keys below `accelerator`.
    keys: Vec<Vec<String>>,
    /// Each dimension's setters, or its domain where it is too large to decode up front.
    setters: Vec<DimSetters>,
}

/// How a dimension's value of a given domain index is set.
enum DimSetters {
    /// The setter of each domain index (`None` for a value without one).
    ByIndex(Vec<Option<Setter<AcceleratorConfig>>>),
    /// A domain too large to decode up front: its values are decoded per point.
    Decode(crate::space::Domain),
}

impl std::fmt::Debug for TypedPatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedPatch")
            .field("base", &self.base)
            .field("given", &self.given)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

/// Most values of a dimension whose setters are made up front (a larger domain's values are
/// decoded point by point).
const SETTERS_UP_FRONT: u64 = 4096;

impl TypedPatch {
    /// The patch of `space` (whose paths below `accelerator` are `paths`) over the base
    /// `accelerator:` mapping `acc`, or `None` where the family lacks a setter for some
    /// dimension or a path is not plain keys through mappings of `acc`.
    fn new(
        acc: &Value,
        paths: &[Vec<Segment>],
        space: &DesignSpace,
        workload: &archsim_workloads::WorkloadConfig,
    ) -> Option<TypedPatch> {
        let mut map = acc.as_object()?.clone();
        let mut keys = Vec::with_capacity(paths.len());
        for p in paths {
            let k = p
                .iter()
                .map(|s| match s {
                    Segment::Key(k) => Some(k.clone()),
                    Segment::Index(_) => None,
                })
                .collect::<Option<Vec<String>>>()?;
            // Setting a key below others creates the mappings on the way where they are
            // missing or null (`path::set`), and every point sets it: the typed base is read
            // with those mappings created empty, so their other keys read as the point's do.
            let mut at = &mut map;
            for k in &k[..k.len() - 1] {
                let v = at.entry(k.clone()).or_insert(Value::Null);
                if v.is_null() {
                    *v = Value::Object(serde_json::Map::new());
                }
                at = v.as_object_mut()?;
            }
            keys.push(k);
        }
        let mut given: Vec<String> = map.keys().cloned().collect();
        for k in &keys {
            if !given.contains(&k[0]) {
                given.push(k[0].clone());
            }
        }
        let base = AcceleratorConfig::from_map(map).ok()?;
        if !base.forms().contains(&workload.form()) {
            return None;
        }
        let mut setters = Vec::with_capacity(keys.len());
        for (param, k) in space.params.iter().zip(&keys) {
            let k: Vec<&str> = k.iter().map(String::as_str).collect();
            let n = param.domain.len();
            let first = base.setter(&k, &param.domain.value(0));
            // The family has no setter for this key at all.
            first.as_ref()?;
            setters.push(if n <= SETTERS_UP_FRONT {
                DimSetters::ByIndex(
                    std::iter::once(first)
                        .chain((1..n).map(|i| base.setter(&k, &param.domain.value(i))))
                        .collect(),
                )
            } else {
                DimSetters::Decode(param.domain.clone())
            });
        }
        Some(TypedPatch {
            base,
            given,
            keys,
            setters,
        })
    }

    /// The accelerator config of the point whose values `set` applies (one call per
    /// dimension), validated and reconciled with the workload; `None` where a value has no
    /// setter or the config is invalid (the mapping then says why).
    fn config(
        &self,
        workload: &archsim_workloads::WorkloadConfig,
        mut set: impl FnMut(usize, &mut AcceleratorConfig) -> Option<()>,
    ) -> Option<AcceleratorConfig> {
        let mut acc = self.base.clone();
        for d in 0..self.keys.len() {
            set(d, &mut acc)?;
        }
        acc.validate().ok()?;
        acc.reconcile(&self.given, workload).ok()?;
        Some(acc)
    }

    /// Applies dimension `d`'s value `value` to `acc` (decoding it now).
    fn set_value(&self, d: usize, value: &Value, acc: &mut AcceleratorConfig) -> Option<()> {
        let k: Vec<&str> = self.keys[d].iter().map(String::as_str).collect();
        self.base.setter(&k, value)?(acc);
        Some(())
    }

    /// Applies dimension `d`'s value of domain index `i` to `acc`.
    fn set_index(&self, d: usize, i: u64, acc: &mut AcceleratorConfig) -> Option<()> {
        match &self.setters[d] {
            DimSetters::ByIndex(by_index) => by_index.get(usize::try_from(i).ok()?)?.as_ref()?(acc),
            DimSetters::Decode(domain) => self.set_value(d, &domain.value(i), acc)?,
        }
        Some(())
    }
}

impl Simulation {
    /// The evaluator of the simulation config `base` (which must be valid) varied by `space`.
    /// The workload is built once unless the space varies it (it is then built per point).
    pub fn new(base: &Value, base_dir: &Path, space: &DesignSpace) -> Result<Self, GymError> {
        let build_workload = !space.touches_workload();
        let bad = |key: &str, reason: String| GymError::InvalidConfig {
            key: key.into(),
            reason,
        };
        let cfg = SimConfig::from_value(base.clone()).map_err(|(p, m)| bad(&p.join("."), m))?;
        let built = |e: archsim_workloads::WorkloadError| bad("workload", e.to_string());
        let workload = match cfg.workload.form() {
            _ if !build_workload => None,
            Form::Graph => Some(Built::Graph(Box::new(
                cfg.workload.build(base_dir).map_err(built)?,
            ))),
            Form::Tasks => Some(Built::Tasks(
                cfg.workload.build_tasks(base_dir).map_err(built)?,
            )),
            // A job stream is drawn with the config's seed: built per point.
            Form::Jobs => None,
        };
        let accel_only = workload.as_ref().and_then(|_| {
            let acc = base.get("accelerator")?.clone();
            let paths = space
                .params
                .iter()
                .map(|p| match crate::path::parse(&p.path) {
                    Ok(mut segs)
                        if segs.len() > 1 && segs[0] == Segment::Key("accelerator".into()) =>
                    {
                        segs.remove(0);
                        Some(segs)
                    }
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()?;
            let typed = TypedPatch::new(&acc, &paths, space, &cfg.workload).map(Arc::new);
            Some(AccelOnly {
                acc,
                paths,
                cfg,
                typed,
            })
        });
        Ok(Simulation {
            workload,
            base_dir: base_dir.to_path_buf(),
            accel_only,
        })
    }

    /// Runs `family` on the built workload, or `None` when the workload is built per point.
    fn run_built(
        &self,
        family: &dyn Family,
        ctx: &Context<'_>,
    ) -> Option<Result<Vec<f64>, String>> {
        let r = match self.workload.as_ref()? {
            Built::Graph(w) => match family.graph_totals(w, ctx) {
                Some(t) => return Some(t.map(|t| totals_metrics(&t)).map_err(|e| e.to_string())),
                None => family.run_graph(w, ctx),
            },
            Built::Tasks(ts) => family.run_tasks(ts, ctx),
        };
        Some(fitting_metrics(r))
    }

    /// Runs the accelerator config `acc` of the shortcut `f` on the built workload.
    fn run_accelerator(
        &self,
        f: &AccelOnly,
        acc: &AcceleratorConfig,
    ) -> Option<Result<Vec<f64>, String>> {
        let family = acc.family().ok()?;
        let ctx = Context {
            ops: false,
            ..f.cfg.context("")
        };
        self.run_built(&*family, &ctx)
    }
}

/// The metrics of a run, or why it cannot count: the model's error, or what does not fit.
fn fitting_metrics(
    r: Result<archsim_sim::Report, archsim_accelerators::AccelError>,
) -> Result<Vec<f64>, String> {
    let r = r.map_err(|e| e.to_string())?;
    if !r.fits {
        return Err(format!("infeasible: {}", r.why_not.join("; ")));
    }
    report_metrics(&r)
}

impl Evaluator for Simulation {
    fn kind(&self) -> &'static str {
        "simulation"
    }

    fn metrics(&self) -> &'static [&'static str] {
        METRICS
    }

    fn shortcut(&self, values: &[Value]) -> Option<Result<Vec<f64>, String>> {
        let f = self.accel_only.as_ref()?;
        if let Some(t) = &f.typed {
            let acc = t.config(&f.cfg.workload, |d, acc| {
                t.set_value(d, values.get(d)?, acc)
            });
            if let Some(acc) = acc {
                return self.run_accelerator(f, &acc);
            }
        }
        let mut acc = f.acc.clone();
        for (p, x) in f.paths.iter().zip(values) {
            crate::path::set(&mut acc, p, x.clone()).ok()?;
        }
        let Value::Object(map) = acc else { return None };
        let given: Vec<String> = map.keys().cloned().collect();
        let mut accelerator = AcceleratorConfig::from_map(map).ok()?;
        accelerator.reconcile(&given, &f.cfg.workload).ok()?;
        if !accelerator.forms().contains(&f.cfg.workload.form()) {
            return None;
        }
        self.run_accelerator(f, &accelerator)
    }

    fn shortcut_indices(&self, point: &[i64]) -> Option<Result<Vec<f64>, String>> {
        let f = self.accel_only.as_ref()?;
        let t = f.typed.as_ref()?;
        if point.len() != t.keys.len() {
            return None;
        }
        let acc = t.config(&f.cfg.workload, |d, acc| {
            t.set_index(d, u64::try_from(point[d]).ok()?, acc)
        })?;
        self.run_accelerator(f, &acc)
    }

    fn evaluate(&self, v: Value) -> Result<Vec<f64>, String> {
        let cfg = SimConfig::from_value(v).map_err(|(p, m)| format!("{}: {m}", p.join(".")))?;
        let family = cfg.accelerator.family().map_err(|e| e.to_string())?;
        // The metrics are totals: no per-op rows.
        let ctx = Context {
            ops: false,
            ..cfg.context("")
        };
        let dir = &self.base_dir;
        let r = match (cfg.workload.form(), &self.workload) {
            (Form::Graph, Some(Built::Graph(w))) => family.run_graph(w, &ctx),
            (Form::Graph, _) => {
                let w = cfg.workload.build(dir).map_err(|e| e.to_string())?;
                family.run_graph(&w, &ctx)
            }
            (Form::Tasks, Some(Built::Tasks(ts))) => family.run_tasks(ts, &ctx),
            (Form::Tasks, _) => {
                let ts = cfg.workload.build_tasks(dir).map_err(|e| e.to_string())?;
                family.run_tasks(&ts, &ctx)
            }
            (Form::Jobs, _) => {
                let jobs = cfg
                    .workload
                    .build_jobs(dir, cfg.seed)
                    .map_err(|e| e.to_string())?;
                family.run_jobs(&jobs, &ctx)
            }
        };
        fitting_metrics(r)
    }
}

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
        let f: ServingFile =
            typed(base.clone(), &[]).map_err(|(p, m)| GymError::InvalidConfig {
                key: p.join("."),
                reason: m,
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
    let devices: u64 = r.pools.iter().map(|p| p.count as u64 * p.tp).sum();
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
        let mut f: ServingFile = typed(v, &[]).map_err(|(p, m)| format!("{}: {m}", p.join(".")))?;
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

/// An accuracy table loaded once per file (and reloaded when the file changes): every
/// problem over the same table shares it, so a batch evaluation called point by point (an
/// outside optimizer's trial loop) does not parse 15,625 rows per call.
#[derive(Debug)]
struct Table {
    /// Accuracy by arch string, per dataset column (`cifar10`, `cifar100`, `imagenet16`).
    acc: HashMap<String, HashMap<String, f64>>,
    /// The datasets the table has.
    datasets: Vec<String>,
}

type TableKey = (PathBuf, Option<std::time::SystemTime>);

fn load_table(path: &Path) -> Result<Arc<Table>, String> {
    static TABLES: OnceLock<Mutex<HashMap<TableKey, Arc<Table>>>> = OnceLock::new();
    let key = (
        path.to_path_buf(),
        std::fs::metadata(path).and_then(|m| m.modified()).ok(),
    );
    let tables = TABLES.get_or_init(Default::default);
    if let Some(t) = tables.lock().map_err(|e| e.to_string())?.get(&key) {
        return Ok(t.clone());
    }
    let o = crate::codesign::CsvOracle::from_path(path)?;
    use crate::codesign::AccuracyOracle;
    let datasets = o.datasets();
    let mut acc: HashMap<String, HashMap<String, f64>> = HashMap::new();
    for d in &datasets {
        let col = acc.entry(d.clone()).or_default();
        for i in 0..o.len() {
            col.insert(o.arch(i).to_string(), o.accuracy(i, d)?);
        }
    }
    let t = Arc::new(Table { acc, datasets });
    let mut m = tables.lock().map_err(|e| e.to_string())?;
    m.retain(|(p, _), _| p != path);
    m.insert(key, t.clone());
    Ok(t)
}

/// The table's column of an NB201 dataset: `imagenet16-120` is `nb201.csv`'s `imagenet16`.
fn table_column(dataset: &str) -> Result<&'static str, String> {
    match dataset
        .parse::<archsim_workloads::zoo::Nb201Dataset>()
        .map_err(|e| e.to_string())?
    {
        archsim_workloads::zoo::Nb201Dataset::Cifar10 => Ok("cifar10"),
        archsim_workloads::zoo::Nb201Dataset::Cifar100 => Ok("cifar100"),
        archsim_workloads::zoo::Nb201Dataset::ImageNet16_120 => Ok("imagenet16"),
    }
}

/// Most networks a [`CoDesign`] evaluator keeps built (the cache is emptied when full).
const CELL_CACHE: usize = 4096;

/// The co-design evaluator: a NAS-Bench-201 cell (`cell.ops`) and the chip that runs its
/// network. The loader builds `workload.model` from the cell (`nb201:<dataset>:<arch>`); one
/// run of the pipeline gives [`METRICS`], and the accuracy table `cell.oracle` (an
/// `nb201.csv`-style file, relative to the config's folder) the cell's `accuracy` on
/// `cell.dataset` — together [`CODESIGN_METRICS`]. Each network is built once and kept
/// (up to 4,096 of them), so a search that revisits a cell with other hardware does not
/// rebuild it.
#[derive(Debug)]
pub struct CoDesign {
    table: Arc<Table>,
    base_dir: PathBuf,
    built: Mutex<HashMap<String, Arc<Workload>>>,
}

impl CoDesign {
    /// The evaluator of the co-design config `base` (which must be valid): its accuracy table
    /// is read here (a missing file, or one without the cell's dataset, is an error keyed
    /// `cell.oracle`).
    pub fn new(base: &Value, base_dir: &Path) -> Result<Self, GymError> {
        let bad = |key: &str, reason: String| GymError::InvalidConfig {
            key: key.into(),
            reason,
        };
        let cfg = SimConfig::from_value(base.clone()).map_err(|(p, m)| bad(&p.join("."), m))?;
        let cell = cfg.cell.as_ref().ok_or_else(|| {
            bad(
                "cell",
                "missing: a co-design config has a `cell:` section".into(),
            )
        })?;
        let table = load_table(&base_dir.join(&cell.oracle)).map_err(|e| bad("cell.oracle", e))?;
        let col = table_column(&cell.dataset).map_err(|e| bad("cell.dataset", e))?;
        if !table.acc.contains_key(col) {
            return Err(bad(
                "cell.oracle",
                format!(
                    "the table has no `{col}_test_acc` column (it has: {})",
                    table.datasets.join(", ")
                ),
            ));
        }
        Ok(CoDesign {
            table,
            base_dir: base_dir.to_path_buf(),
            built: Mutex::new(HashMap::new()),
        })
    }

    /// The accuracy (%) of the cell `arch` on `dataset`, or why the table has none.
    pub fn accuracy(&self, arch: &str, dataset: &str) -> Result<f64, String> {
        let col = table_column(dataset)?;
        self.table
            .acc
            .get(col)
            .and_then(|c| c.get(arch))
            .copied()
            .ok_or_else(|| format!("cell `{arch}` is not in the accuracy table"))
    }

    fn network(&self, cfg: &SimConfig) -> Result<Arc<Workload>, String> {
        let key = serde_json::to_string(&cfg.workload).map_err(|e| e.to_string())?;
        if let Some(w) = self.built.lock().map_err(|e| e.to_string())?.get(&key) {
            return Ok(w.clone());
        }
        let w = Arc::new(
            cfg.workload
                .build(&self.base_dir)
                .map_err(|e| e.to_string())?,
        );
        let mut m = self.built.lock().map_err(|e| e.to_string())?;
        if m.len() >= CELL_CACHE {
            m.clear();
        }
        m.insert(key, w.clone());
        Ok(w)
    }
}

impl Evaluator for CoDesign {
    fn kind(&self) -> &'static str {
        "codesign"
    }

    fn metrics(&self) -> &'static [&'static str] {
        CODESIGN_METRICS
    }

    fn evaluate(&self, v: Value) -> Result<Vec<f64>, String> {
        let cfg = SimConfig::from_value(v).map_err(|(p, m)| format!("{}: {m}", p.join(".")))?;
        let cell = cfg.cell.as_ref().ok_or("missing: the `cell:` section")?;
        let arch = cell.arch().map_err(|e| e.to_string())?;
        let accuracy = self.accuracy(&arch, &cell.dataset)?;
        let family = cfg.accelerator.family().map_err(|e| e.to_string())?;
        let ctx = Context {
            ops: false,
            ..cfg.context("")
        };
        let w = self.network(&cfg)?;
        let mut m = fitting_metrics(family.run_graph(&w, &ctx))?;
        m.push(accuracy);
        Ok(m)
    }
}
