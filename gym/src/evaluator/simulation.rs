//! The simulation evaluator: one run of the pipeline per design point, the workload built once
//! where the space leaves it alone, and the accelerator-only shortcut.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use archsim_accelerators::config::SimConfig;
use archsim_accelerators::family::{Context, Family};
use archsim_accelerators::AcceleratorConfig;
use archsim_workloads::{Form, Workload};

use super::patch::TypedPatch;
use super::{fitting_metrics, Evaluator};
use crate::objective::{totals_metrics, METRICS};
use crate::path::Segment;
use crate::space::DesignSpace;
use crate::GymError;

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

impl Simulation {
    /// The evaluator of the simulation config `base` (which must be valid) varied by `space`.
    /// The workload is built once unless the space varies it (it is then built per point).
    pub fn new(base: &Value, base_dir: &Path, space: &DesignSpace) -> Result<Self, GymError> {
        let build_workload = !space.touches_workload();
        let bad = |key: &str, reason: String| GymError::InvalidConfig {
            key: key.into(),
            reason,
        };
        let cfg = SimConfig::from_value(base.clone()).map_err(|e| bad(&e.key(), e.message))?;
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
        let cfg = SimConfig::from_value(v).map_err(|e| e.to_string())?;
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
