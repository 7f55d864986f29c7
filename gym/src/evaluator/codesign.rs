//! The co-design evaluator: a NAS-Bench-201 cell and the chip that runs its network.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use archsim_accelerators::config::SimConfig;
use archsim_accelerators::family::Context;
use archsim_workloads::Workload;

use super::cache::{load_table, table_column, Table};
use super::{fitting_metrics, Evaluator};
use crate::objective::METRICS;
use crate::GymError;

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
        let cfg = SimConfig::from_value(base.clone()).map_err(|e| bad(&e.key(), e.message))?;
        let cell = cfg.cell.as_ref().ok_or_else(|| {
            bad(
                "cell",
                "missing: a co-design config has a `cell:` section".into(),
            )
        })?;
        let table = load_table(&base_dir.join(&cell.oracle))?;
        let col = table_column(&cell.dataset).map_err(|e| bad("cell.dataset", e.to_string()))?;
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
        let col = table_column(dataset).map_err(|e| e.to_string())?;
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
        let cfg = SimConfig::from_value(v).map_err(|e| e.to_string())?;
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
