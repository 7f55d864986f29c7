//! The accuracy tables of co-design problems, each loaded once per file and shared.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use archsim_workloads::WorkloadError;

use crate::GymError;

/// An accuracy table loaded once per file (and reloaded when the file changes): every
/// problem over the same table shares it, so a batch evaluation called point by point (an
/// outside optimizer's trial loop) does not parse 15,625 rows per call.
#[derive(Debug)]
pub(super) struct Table {
    /// Accuracy by arch string, per dataset column (`cifar10`, `cifar100`, `imagenet16`).
    pub(super) acc: HashMap<String, HashMap<String, f64>>,
    /// The datasets the table has.
    pub(super) datasets: Vec<String>,
}

type TableKey = (PathBuf, Option<std::time::SystemTime>);

/// The accuracy table at `path`, from the shared cache when the file is unchanged; an error
/// is keyed `cell.oracle`, the config key that names the file.
pub(super) fn load_table(path: &Path) -> Result<Arc<Table>, GymError> {
    load_table_unkeyed(path).map_err(|reason| GymError::InvalidConfig {
        key: "cell.oracle".into(),
        reason,
    })
}

fn load_table_unkeyed(path: &Path) -> Result<Arc<Table>, String> {
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
pub(super) fn table_column(dataset: &str) -> Result<&'static str, WorkloadError> {
    match dataset.parse::<archsim_workloads::zoo::Nb201Dataset>()? {
        archsim_workloads::zoo::Nb201Dataset::Cifar10 => Ok("cifar10"),
        archsim_workloads::zoo::Nb201Dataset::Cifar100 => Ok("cifar100"),
        archsim_workloads::zoo::Nb201Dataset::ImageNet16_120 => Ok("imagenet16"),
    }
}
