//! Co-design of networks and a heterogeneous accelerator, after NASAIC.
//!
//! NASAIC (Yang et al., "Co-Exploration of Neural Architectures and Heterogeneous ASIC
//! Accelerator Designs Targeting Multiple Tasks", DAC 2020, doi:10.1109/DAC18072.2020.9218676)
//! searches, in one space, a network for each task and the sub-accelerators of one chip that
//! runs all the tasks at once, maximizing accuracy under design specs (latency per task,
//! energy, area). Its finding: the "successive" flow — pick the most accurate network of each
//! task first, then the best hardware for those networks — violates specs that
//! co-exploration meets, at a small accuracy cost.
//!
//! Here:
//!
//! * the **network space** is NAS-Bench-201 (15,625 cells; Dong & Yang, ICLR 2020): a point
//!   holds, per task, an index into an [`AccuracyOracle`], which gives the cell string and its
//!   accuracy on the task's dataset, with no training. [`CsvOracle`] reads `nb201.csv`-style
//!   tables; any other oracle (a trained predictor, a callback that trains) implements the
//!   trait;
//! * the **hardware space** is one systolic sub-accelerator per task on a
//!   [`hetero`](archsim_accelerators::hetero) chip (task `i` on sub `i`, DRAM shared): dataflow,
//!   rows, columns, SRAM size per sub;
//! * **specs** are constraints (latency per task, energy, area); the **objective** is the
//!   task-weighted accuracy;
//! * [`co_explore`] searches both at once and [`successive`] fixes the most accurate networks
//!   first, with the same seeded (ChaCha8) evolutionary search and the same budget.
//!
//! ```
//! use archsim_gym::codesign::{CoDesignConfig, CsvOracle, co_explore};
//! let cfg: CoDesignConfig = serde_json::from_value(serde_json::json!({
//!     "oracle": "unused", "budget": 20, "seed": 1,
//!     "tasks": [{"dataset": "cifar10", "max_latency_ms": 5.0}],
//!     "hardware": {"rows": [8, 16], "cols": [8, 16], "dataflows": ["os"], "sram_kib": [64]},
//! })).unwrap();
//! let csv = "index,arch,cifar10_test_acc\n0,|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|,85.86\n";
//! let oracle = CsvOracle::parse(csv).unwrap();
//! let best = co_explore(&cfg, &oracle).unwrap();
//! assert_eq!(best.eval.accuracy[0], 85.86);
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use archsim_accelerators::hetero::{Hetero, HeteroConfig, SubAccelConfig};
use archsim_accelerators::systolic::{Dataflow, SramKib};
use archsim_workloads::{zoo, DType};

/// Where network accuracies come from.
pub trait AccuracyOracle {
    /// Networks in the space.
    fn len(&self) -> usize;
    /// True when the space is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Cell string of network `index`.
    fn arch(&self, index: usize) -> &str;
    /// Accuracy (%) of network `index` on `dataset`, if known.
    fn accuracy(&self, index: usize, dataset: &str) -> Option<f64>;
}

/// An oracle read from a CSV with columns `arch` and `<dataset>_test_acc` (as NAS-Bench-201's
/// `nb201.csv`: `cifar10_test_acc`, `cifar100_test_acc`, `imagenet16_test_acc`).
#[derive(Debug, Clone, PartialEq)]
pub struct CsvOracle {
    archs: Vec<String>,
    acc: BTreeMap<String, Vec<f64>>,
}

impl CsvOracle {
    /// Parses the CSV text. Errors name the line.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().ok_or("empty CSV")?.split(',').collect();
        let arch_col = header
            .iter()
            .position(|h| *h == "arch")
            .ok_or("no `arch` column")?;
        let acc_cols: Vec<(usize, String)> = header
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.strip_suffix("_test_acc").map(|d| (i, d.to_string())))
            .collect();
        if acc_cols.is_empty() {
            return Err("no `<dataset>_test_acc` column".into());
        }
        let mut archs = Vec::new();
        let mut acc: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for (n, line) in lines.enumerate() {
            let f: Vec<&str> = line.split(',').collect();
            let get = |i: usize| f.get(i).ok_or(format!("line {}: too few columns", n + 2));
            archs.push(get(arch_col)?.to_string());
            for (i, d) in &acc_cols {
                let v: f64 = get(*i)?
                    .parse()
                    .map_err(|_| format!("line {}: bad {d}_test_acc", n + 2))?;
                acc.entry(d.clone()).or_default().push(v);
            }
        }
        Ok(CsvOracle { archs, acc })
    }

    /// Reads and parses a CSV file.
    pub fn from_path(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

impl AccuracyOracle for CsvOracle {
    fn len(&self) -> usize {
        self.archs.len()
    }
    fn arch(&self, index: usize) -> &str {
        &self.archs[index]
    }
    fn accuracy(&self, index: usize, dataset: &str) -> Option<f64> {
        self.acc.get(dataset).and_then(|v| v.get(index).copied())
    }
}

/// One task: a dataset, its weight in the objective and its latency spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CoTask {
    /// `cifar10`, `cifar100` or `imagenet16` (the oracle's column prefix; the network is built
    /// for this dataset's input and classes).
    pub dataset: String,
    /// Weight of its accuracy in the objective (default 1; normalized over tasks).
    #[serde(default = "one_f")]
    pub weight: f64,
    /// Latency spec in ms (absent = none).
    #[serde(default)]
    pub max_latency_ms: Option<f64>,
}

fn one_f() -> f64 {
    1.0
}

/// The hardware choices of each sub-accelerator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HwSpace {
    /// Dataflows (`os` ShiDianNao-like, `ws` NVDLA-like, `is` Eyeriss-like).
    #[serde(default = "all_dataflows")]
    pub dataflows: Vec<Dataflow>,
    /// PE rows.
    pub rows: Vec<u32>,
    /// PE columns.
    pub cols: Vec<u32>,
    /// ifmap and filter SRAM sizes in KiB (the ofmap SRAM is half).
    pub sram_kib: Vec<u32>,
    /// Shared DRAM bandwidth, bytes per cycle (default 16).
    #[serde(default = "default_bw")]
    pub dram_bw_bytes_per_cycle: f64,
    /// Clock in MHz (default 1000).
    #[serde(default = "default_freq")]
    pub freq_mhz: f64,
}

fn all_dataflows() -> Vec<Dataflow> {
    vec![Dataflow::Os, Dataflow::Ws, Dataflow::Is]
}
fn default_bw() -> f64 {
    16.0
}
fn default_freq() -> f64 {
    1000.0
}

/// Chip-level specs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Specs {
    /// Energy of one run of every task, mJ.
    #[serde(default)]
    pub max_energy_mj: Option<f64>,
    /// Chip area, mm².
    #[serde(default)]
    pub max_area_mm2: Option<f64>,
}

/// The `codesign:` section: a co-design problem and its search budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CoDesignConfig {
    /// Accuracy table (CSV, see [`CsvOracle`]), relative to the config file.
    pub oracle: PathBuf,
    /// The tasks, one sub-accelerator each.
    pub tasks: Vec<CoTask>,
    /// Hardware choices.
    pub hardware: HwSpace,
    /// Chip specs.
    #[serde(default)]
    pub specs: Specs,
    /// Evaluations per search (default 1000).
    #[serde(default = "default_budget")]
    pub budget: usize,
    /// Seed (default 0).
    #[serde(default)]
    pub seed: u64,
}

fn default_budget() -> usize {
    1000
}

/// A design point: per task a network index and its sub-accelerator's choices (indices into
/// the [`HwSpace`] lists: dataflow, rows, cols, SRAM).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CoPoint {
    /// Network index per task.
    pub nets: Vec<usize>,
    /// `[dataflow, rows, cols, sram]` indices per task's sub-accelerator.
    pub hw: Vec<[usize; 4]>,
}

/// The metrics of a design point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoEval {
    /// Accuracy per task, %.
    pub accuracy: Vec<f64>,
    /// Task-weighted accuracy, %.
    pub weighted_accuracy: f64,
    /// Latency per task, ms.
    pub latency_ms: Vec<f64>,
    /// Energy of all tasks, mJ.
    pub energy_mj: f64,
    /// Chip area, mm².
    pub area_mm2: f64,
    /// Violated specs, e.g. `latency[1] 3.2 > 2.5 ms`.
    pub violations: Vec<String>,
    /// Sum of relative spec excesses (0 when feasible).
    pub excess: f64,
}

/// A point with its metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoResult {
    /// The point.
    pub point: CoPoint,
    /// Cell string per task.
    pub archs: Vec<String>,
    /// Its metrics.
    pub eval: CoEval,
}

impl CoDesignConfig {
    /// Checks the lists and specs.
    pub fn validate(&self) -> Result<(), String> {
        if self.tasks.is_empty() {
            return Err("codesign.tasks: give at least one task".into());
        }
        let h = &self.hardware;
        for (k, n) in [
            ("dataflows", h.dataflows.len()),
            ("rows", h.rows.len()),
            ("cols", h.cols.len()),
            ("sram_kib", h.sram_kib.len()),
        ] {
            if n == 0 {
                return Err(format!("codesign.hardware.{k}: give at least one value"));
            }
        }
        for (i, t) in self.tasks.iter().enumerate() {
            t.dataset
                .parse::<zoo::Nb201Dataset>()
                .map_err(|e| format!("codesign.tasks.{i}.dataset: {e}"))?;
            if !(t.weight.is_finite() && t.weight >= 0.0) {
                return Err(format!("codesign.tasks.{i}.weight: must be ≥ 0"));
            }
        }
        Ok(())
    }

    /// Evaluates one point: builds each task's network, runs them all on the chip.
    pub fn evaluate(&self, o: &dyn AccuracyOracle, p: &CoPoint) -> Result<CoResult, String> {
        let h = &self.hardware;
        let mut subs = Vec::new();
        let mut nets = Vec::new();
        let mut accuracy = Vec::new();
        for (t, task) in self.tasks.iter().enumerate() {
            let [d, r, c, s] = p.hw[t];
            let kib = h.sram_kib[s];
            let mut sub =
                SubAccelConfig::new(&format!("sub{t}"), h.rows[r], h.cols[c], h.dataflows[d]);
            sub.sram_kib = SramKib {
                ifmap: kib,
                filter: kib,
                ofmap: (kib / 2).max(1),
            };
            subs.push(sub);
            let ds: zoo::Nb201Dataset = task.dataset.parse().map_err(|e| format!("{e}"))?;
            nets.push(
                zoo::nb201(o.arch(p.nets[t]), ds, 1, DType::Int8).map_err(|e| e.to_string())?,
            );
            accuracy.push(
                o.accuracy(p.nets[t], &task.dataset)
                    .ok_or(format!("oracle has no `{}_test_acc`", task.dataset))?,
            );
        }
        let mut hc = HeteroConfig::new(subs);
        hc.dram_bw_bytes_per_cycle = Some(h.dram_bw_bytes_per_cycle);
        hc.freq_mhz = h.freq_mhz;
        let chip = Hetero::new(hc).map_err(|e| e.to_string())?;
        let r = chip
            .simulate(&nets, "", self.seed)
            .map_err(|e| e.to_string())?;
        let latency_ms: Vec<f64> = r
            .tasks
            .iter()
            .flatten()
            .map(|t| t.latency_s * 1e3)
            .collect();
        let (energy_mj, area_mm2) = (r.energy_j * 1e3, r.area_mm2);
        let mut violations = Vec::new();
        let mut excess = 0.0;
        let mut check = |what: String, v: f64, max: Option<f64>, unit: &str| {
            if let Some(m) = max.filter(|&m| v > m) {
                violations.push(format!("{what} {v:.3} > {m} {unit}"));
                excess += (v - m) / m;
            }
        };
        for (t, task) in self.tasks.iter().enumerate() {
            check(
                format!("latency[{t}]"),
                latency_ms[t],
                task.max_latency_ms,
                "ms",
            );
        }
        check("energy".into(), energy_mj, self.specs.max_energy_mj, "mJ");
        check("area".into(), area_mm2, self.specs.max_area_mm2, "mm2");
        let wsum: f64 = self.tasks.iter().map(|t| t.weight).sum();
        let weighted_accuracy = if wsum > 0.0 {
            self.tasks
                .iter()
                .zip(&accuracy)
                .map(|(t, a)| t.weight * a)
                .sum::<f64>()
                / wsum
        } else {
            0.0
        };
        Ok(CoResult {
            archs: p.nets.iter().map(|&i| o.arch(i).to_string()).collect(),
            point: p.clone(),
            eval: CoEval {
                accuracy,
                weighted_accuracy,
                latency_ms,
                energy_mj,
                area_mm2,
                violations,
                excess,
            },
        })
    }

    fn random_hw(&self, rng: &mut ChaCha8Rng) -> [usize; 4] {
        let h = &self.hardware;
        [
            rng.random_range(0..h.dataflows.len()),
            rng.random_range(0..h.rows.len()),
            rng.random_range(0..h.cols.len()),
            rng.random_range(0..h.sram_kib.len()),
        ]
    }
}

/// Feasible points rank by weighted accuracy, then lower energy; infeasible ones below, by
/// smaller spec excess.
fn better(a: &CoEval, b: &CoEval) -> bool {
    match (a.violations.is_empty(), b.violations.is_empty()) {
        (true, false) => true,
        (false, true) => false,
        (true, true) => {
            a.weighted_accuracy > b.weighted_accuracy
                || (a.weighted_accuracy == b.weighted_accuracy && a.energy_mj < b.energy_mj)
        }
        (false, false) => a.excess < b.excess,
    }
}

/// Seeded evolutionary search: each step either mutates the best point so far (one to three
/// networks or hardware choices; networks only when `fixed_nets` is `None`) or, one time in five, draws
/// a fresh random point. Returns the best point found in `cfg.budget` evaluations.
fn search(
    cfg: &CoDesignConfig,
    o: &dyn AccuracyOracle,
    fixed_nets: Option<Vec<usize>>,
) -> Result<CoResult, String> {
    cfg.validate()?;
    if o.is_empty() {
        return Err("the accuracy oracle has no networks".into());
    }
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let n = cfg.tasks.len();
    let index_of: HashMap<&str, usize> = (0..o.len()).map(|i| (o.arch(i), i)).collect();
    let draw = |rng: &mut ChaCha8Rng| CoPoint {
        nets: fixed_nets
            .clone()
            .unwrap_or_else(|| (0..n).map(|_| rng.random_range(0..o.len())).collect()),
        hw: (0..n).map(|_| cfg.random_hw(rng)).collect(),
    };
    let first = draw(&mut rng);
    let mut best = cfg.evaluate(o, &first)?;
    for _ in 1..cfg.budget.max(1) {
        let p = if rng.random_range(0..5) == 0 {
            draw(&mut rng)
        } else {
            let mut p = best.point.clone();
            // One to three genes at once, so a network and the hardware that fits it can
            // change together.
            for _ in 0..rng.random_range(1..=3) {
                let t = rng.random_range(0..n);
                let gene = rng.random_range(0..if fixed_nets.is_some() { 4 } else { 6 });
                match gene {
                    0..=3 => {
                        let fresh = cfg.random_hw(&mut rng);
                        p.hw[t][gene] = fresh[gene];
                    }
                    _ => p.nets[t] = mutate_net(o, &index_of, p.nets[t], &mut rng),
                }
            }
            p
        };
        let r = cfg.evaluate(o, &p)?;
        if better(&r.eval, &best.eval) {
            best = r;
        }
    }
    Ok(best)
}

const NB201_OPS: [&str; 5] = [
    "none",
    "skip_connect",
    "nor_conv_1x1",
    "nor_conv_3x3",
    "avg_pool_3x3",
];

/// A neighbour of network `i`: half the time one cell edge changed to another op (when the
/// result is in the oracle), else a uniformly random network.
fn mutate_net(
    o: &dyn AccuracyOracle,
    index_of: &HashMap<&str, usize>,
    i: usize,
    rng: &mut ChaCha8Rng,
) -> usize {
    if rng.random_range(0..2) == 0 {
        let arch = o.arch(i);
        // Edges are the `op~k` tokens between `|`.
        let edges: Vec<&str> = arch.split('|').filter(|s| s.contains('~')).collect();
        if !edges.is_empty() {
            let e = rng.random_range(0..edges.len());
            let op = NB201_OPS[rng.random_range(0..NB201_OPS.len())];
            let mut k = 0;
            let mutated: Vec<String> = arch
                .split('|')
                .map(|s| {
                    if s.contains('~') {
                        k += 1;
                        if k - 1 == e {
                            if let Some((_, from)) = s.split_once('~') {
                                return format!("{op}~{from}");
                            }
                        }
                    }
                    s.to_string()
                })
                .collect();
            if let Some(&j) = index_of.get(mutated.join("|").as_str()) {
                return j;
            }
        }
    }
    rng.random_range(0..o.len())
}

/// Co-exploration: networks and hardware in one space.
pub fn co_explore(cfg: &CoDesignConfig, o: &dyn AccuracyOracle) -> Result<CoResult, String> {
    search(cfg, o, None)
}

/// The successive flow: the most accurate network of each task first (ties: lowest index),
/// then the best hardware for them.
pub fn successive(cfg: &CoDesignConfig, o: &dyn AccuracyOracle) -> Result<CoResult, String> {
    let mut nets = Vec::new();
    for t in &cfg.tasks {
        let mut best: Option<(usize, f64)> = None;
        for i in 0..o.len() {
            let a = o
                .accuracy(i, &t.dataset)
                .ok_or(format!("oracle has no `{}_test_acc`", t.dataset))?;
            if best.is_none_or(|(_, b)| a > b) {
                best = Some((i, a));
            }
        }
        nets.push(best.map_or(0, |(i, _)| i));
    }
    search(cfg, o, Some(nets))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CsvOracle {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/nas/nb201_sample.csv");
        CsvOracle::from_path(&p).unwrap()
    }

    fn cfg(max_latency_ms: f64) -> CoDesignConfig {
        serde_json::from_value(serde_json::json!({
            "oracle": "x", "budget": 60, "seed": 3,
            "tasks": [
                {"dataset": "cifar10", "max_latency_ms": max_latency_ms},
                {"dataset": "cifar100", "max_latency_ms": max_latency_ms},
            ],
            "hardware": {"rows": [8, 16, 32], "cols": [8, 16, 32], "sram_kib": [32, 128]},
            "specs": {"max_area_mm2": 4.0},
        }))
        .unwrap()
    }

    #[test]
    fn oracle_reads_the_sample() {
        let o = sample();
        assert_eq!(o.len(), 101);
        assert_eq!(o.accuracy(0, "cifar10"), Some(85.863333));
        assert_eq!(o.accuracy(0, "cifar100"), Some(52.913333));
        assert!(o.accuracy(0, "svhn").is_none());
        assert!(CsvOracle::parse("a,b\n").is_err());
    }

    #[test]
    fn searches_are_deterministic_and_successive_uses_the_best_networks() {
        let o = sample();
        let c = cfg(1.0);
        let a = co_explore(&c, &o).unwrap();
        assert_eq!(a, co_explore(&c, &o).unwrap());
        let s = successive(&c, &o).unwrap();
        let best10 = (0..o.len())
            .map(|i| o.accuracy(i, "cifar10").unwrap())
            .fold(f64::MIN, f64::max);
        assert_eq!(s.eval.accuracy[0], best10);
        // With no specs at all, co-exploration can never beat the best networks' accuracy.
        assert!(a.eval.weighted_accuracy <= s.eval.weighted_accuracy + 1e-9);
    }

    #[test]
    fn tight_latency_is_met_by_co_exploration() {
        let o = sample();
        let c = cfg(0.25);
        let a = co_explore(&c, &o).unwrap();
        let s = successive(&c, &o).unwrap();
        eprintln!("co {:?}\nsucc {:?}", a.eval, s.eval);
        assert!(a.eval.violations.is_empty(), "{:?}", a.eval);
    }
}
