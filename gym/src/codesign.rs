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
//! * the **network space** is NAS-Bench-201 (15,625 cells; Dong & Yang, ICLR 2020) or
//!   Accel-NASBench's MnasNet space (ImageNet; see [`archsim_workloads::zoo::MnasNetArch`]),
//!   chosen by [`CoDesignConfig::network`]: a point holds, per task, an index into an
//!   [`AccuracyOracle`], which gives the architecture string and its accuracy on the task's
//!   dataset. [`CsvOracle`] reads `nb201.csv`- and `accelnb_mnasnet.csv`-style tables (no
//!   training); [`FnOracle`] asks a function (a trained predictor, a callback that trains — the
//!   Python bindings pass a Python callable), caching each answer;
//! * the **hardware space** is one systolic sub-accelerator per task on a
//!   [`hetero`](archsim_accelerators::hetero) chip (task `i` on sub `i`, DRAM shared): dataflow,
//!   rows, columns, SRAM size per sub;
//! * **specs** are constraints (latency per task, energy, area); the **objective** is the
//!   task-weighted accuracy;
//! * [`CoDesignConfig::evaluate`] prices one point ([`CoPoint`]: networks and hardware
//!   choices) on the chip;
//! * [`crate::codesign_env::CoDesignEnv`] is the same problem as a (multi-agent) environment.
//!
//! The NASAIC study itself — co-exploration against the successive flow with a seeded
//! evolutionary search, and the Pareto front of what both evaluated — is the `nasaic` module of
//! `archsim-studies`; the gym keeps the problem and its environment.
//!
//! ```
//! use archsim_gym::codesign::{CoDesignConfig, CoPoint, CsvOracle};
//! let cfg: CoDesignConfig = serde_json::from_value(serde_json::json!({
//!     "oracle": "unused", "budget": 20, "seed": 1,
//!     "tasks": [{"dataset": "cifar10", "max_latency_ms": 5.0}],
//!     "hardware": {"rows": [8, 16], "cols": [8, 16], "dataflows": ["os"], "sram_kib": [64]},
//! })).unwrap();
//! let csv = "index,arch,cifar10_test_acc\n0,|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|,85.86\n";
//! let oracle = CsvOracle::parse(csv).unwrap();
//! let r = cfg.evaluate(&oracle, &CoPoint { nets: vec![0], hw: vec![[0, 1, 1, 0]] }).unwrap();
//! assert_eq!(r.eval.accuracy[0], 85.86);
//! assert!(r.eval.latency_ms[0] > 0.0);
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use archsim_accelerators::family::Context;
use archsim_accelerators::hetero::{HeteroConfig, SubAccelConfig};
use archsim_accelerators::systolic::{Dataflow, SramKib};
use archsim_accelerators::AcceleratorConfig;
use archsim_workloads::{zoo, DType, Workload};

/// Where network accuracies come from.
pub trait AccuracyOracle {
    /// Networks in the space.
    fn len(&self) -> usize;
    /// True when the space is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Architecture string of network `index` (an NB201 cell string or a MnasNet-space
    /// string, see [`NetSpace`]).
    fn arch(&self, index: usize) -> &str;
    /// Accuracy (%) of network `index` on `dataset`, or why it is unknown.
    fn accuracy(&self, index: usize, dataset: &str) -> Result<f64, String>;
}

/// The network search space of a co-design problem.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NetSpace {
    /// NAS-Bench-201 cells; task datasets `cifar10`, `cifar100`, `imagenet16`.
    #[default]
    Nb201,
    /// Accel-NASBench's MnasNet space (224×224 ImageNet); task dataset `imagenet`.
    Mnasnet,
}

const NB201_OPS: [&str; 5] = [
    "none",
    "skip_connect",
    "nor_conv_1x1",
    "nor_conv_3x3",
    "avg_pool_3x3",
];

impl NetSpace {
    /// Checks a task's dataset against the space.
    pub fn check_dataset(self, dataset: &str) -> Result<(), String> {
        match self {
            NetSpace::Nb201 => dataset
                .parse::<zoo::Nb201Dataset>()
                .map(|_| ())
                .map_err(|e| e.to_string()),
            NetSpace::Mnasnet if dataset == "imagenet" => Ok(()),
            NetSpace::Mnasnet => Err(format!(
                "the mnasnet space is trained on `imagenet`, not `{dataset}`"
            )),
        }
    }

    /// Builds network `arch` of this space for `dataset` (batch 1, int8).
    pub fn build(self, arch: &str, dataset: &str) -> Result<Workload, String> {
        match self {
            NetSpace::Nb201 => {
                let ds: zoo::Nb201Dataset = dataset.parse().map_err(|e| format!("{e}"))?;
                zoo::nb201(arch, ds, 1, DType::Int8).map_err(|e| e.to_string())
            }
            NetSpace::Mnasnet => {
                let a: zoo::MnasNetArch = arch.parse().map_err(|e| format!("{e}"))?;
                zoo::mnasnet(&a, 1, DType::Int8).map_err(|e| e.to_string())
            }
        }
    }

    /// A neighbour of `arch`: one choice changed at random (one NB201 edge's op, or one
    /// MnasNet stage's e, k, l or se), or `None` when `arch` is not of this space.
    pub fn neighbour(self, arch: &str, rng: &mut ChaCha8Rng) -> Option<String> {
        match self {
            NetSpace::Nb201 => {
                // Edges are the `op~k` tokens between `|`.
                let n = arch.split('|').filter(|s| s.contains('~')).count();
                if n == 0 {
                    return None;
                }
                let e = rng.random_range(0..n);
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
                Some(mutated.join("|"))
            }
            NetSpace::Mnasnet => {
                let mut a: zoo::MnasNetArch = arch.parse().ok()?;
                let st = &mut a.stages[rng.random_range(0..7)];
                match rng.random_range(0..4) {
                    0 => st.e = zoo::MNASNET_EXPANSIONS[rng.random_range(0..3)],
                    1 => st.k = zoo::MNASNET_KERNELS[rng.random_range(0..2)],
                    2 => st.l = zoo::MNASNET_LAYERS[rng.random_range(0..4)],
                    _ => st.se = !st.se,
                }
                Some(a.to_string())
            }
        }
    }
}

/// An oracle read from a CSV: either columns `arch` and `<dataset>_test_acc` (as NAS-Bench-201's
/// `nb201.csv`: `cifar10_test_acc`, `cifar100_test_acc`, `imagenet16_test_acc`), or
/// Accel-NASBench's `accelnb_mnasnet.csv`: the architecture in columns `block<i>_{e,k,l,se}`
/// (`i` = 0..6, written as a [`zoo::MnasNetArch`] string) and the ImageNet top-1 accuracy in
/// `val_top1` (dataset `imagenet`; `val_top5` becomes dataset `imagenet_top5`).
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
        let pos = |name: &str| header.iter().position(|h| *h == name);
        // The arch: one `arch` column, or the 28 MnasNet-space columns.
        let arch_cols: Vec<usize> = match pos("arch") {
            Some(i) => vec![i],
            None => (0..7)
                .flat_map(|b| ["e", "k", "l", "se"].map(|g| format!("block{b}_{g}")))
                .map(|c| pos(&c))
                .collect::<Option<Vec<usize>>>()
                .ok_or("no `arch` column and no `block<i>_{e,k,l,se}` columns")?,
        };
        let acc_cols: Vec<(usize, String)> = header
            .iter()
            .enumerate()
            .filter_map(|(i, h)| {
                let d = match *h {
                    "val_top1" => Some("imagenet"),
                    "val_top5" => Some("imagenet_top5"),
                    _ => h.strip_suffix("_test_acc"),
                };
                d.map(|d| (i, d.to_string()))
            })
            .collect();
        if acc_cols.is_empty() {
            return Err("no `<dataset>_test_acc` (or `val_top1`) column".into());
        }
        let mut archs = Vec::new();
        let mut acc: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for (n, line) in lines.enumerate() {
            let f: Vec<&str> = line.split(',').collect();
            let get = |i: usize| f.get(i).ok_or(format!("line {}: too few columns", n + 2));
            if let [a] = arch_cols[..] {
                archs.push(get(a)?.to_string());
            } else {
                let mut s = String::new();
                for (j, &c) in arch_cols.iter().enumerate() {
                    let sep = match j % 4 {
                        0 if j > 0 => "-e",
                        0 => "e",
                        1 => "k",
                        2 => "l",
                        _ => "se",
                    };
                    s.push_str(sep);
                    s.push_str(get(c)?);
                }
                s.parse::<zoo::MnasNetArch>()
                    .map_err(|e| format!("line {}: {e}", n + 2))?;
                archs.push(s);
            }
            for (i, d) in &acc_cols {
                let v: f64 = get(*i)?
                    .parse()
                    .map_err(|_| format!("line {}: bad accuracy of `{d}`", n + 2))?;
                acc.entry(d.clone()).or_default().push(v);
            }
        }
        Ok(CsvOracle { archs, acc })
    }

    /// Reads and parses a CSV file.
    pub fn from_path(path: &Path) -> Result<Self, String> {
        let text = archsim_workloads::input::read_to_string(
            path,
            archsim_workloads::input::InputKind::Table,
        )
        .map_err(|e| e.to_string())?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

impl CsvOracle {
    /// The datasets the table has accuracies for.
    pub fn datasets(&self) -> Vec<String> {
        self.acc.keys().cloned().collect()
    }
}

impl AccuracyOracle for CsvOracle {
    fn len(&self) -> usize {
        self.archs.len()
    }
    fn arch(&self, index: usize) -> &str {
        &self.archs[index]
    }
    fn accuracy(&self, index: usize, dataset: &str) -> Result<f64, String> {
        let col = self.acc.get(dataset).ok_or_else(|| {
            format!(
                "the oracle has no accuracy for dataset `{dataset}`; it has: {}",
                self.acc.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })?;
        col.get(index)
            .copied()
            .ok_or_else(|| format!("network {index} is not in the oracle ({})", col.len()))
    }
}

/// The accuracy function of an [`FnOracle`]: `(arch, dataset) -> accuracy %` or an error.
pub type AccuracyFn = dyn Fn(&str, &str) -> Result<f64, String> + Send + Sync;

/// An oracle that asks a function for accuracies (a trained predictor, or a callback that
/// trains the network), over a fixed list of architectures. Each `(network, dataset)` is asked
/// once: the answer is cached (an error is not, so a failed call is retried when asked again).
pub struct FnOracle {
    archs: Vec<String>,
    f: Box<AccuracyFn>,
    cache: std::sync::Mutex<HashMap<(usize, String), Result<f64, String>>>,
}

impl std::fmt::Debug for FnOracle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FnOracle")
            .field("archs", &self.archs.len())
            .finish_non_exhaustive()
    }
}

impl FnOracle {
    /// An oracle over `archs` whose accuracies come from `f(arch, dataset)`.
    pub fn new(archs: Vec<String>, f: Box<AccuracyFn>) -> Self {
        FnOracle {
            archs,
            f,
            cache: Default::default(),
        }
    }

    /// How many times the function has been called (distinct `(network, dataset)` pairs).
    pub fn calls(&self) -> usize {
        self.cache.lock().map_or(0, |c| c.len())
    }
}

impl AccuracyOracle for FnOracle {
    fn len(&self) -> usize {
        self.archs.len()
    }
    fn arch(&self, index: usize) -> &str {
        &self.archs[index]
    }
    fn accuracy(&self, index: usize, dataset: &str) -> Result<f64, String> {
        let key = (index, dataset.to_string());
        if let Some(r) = self.cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return r;
        }
        let arch = self
            .archs
            .get(index)
            .ok_or_else(|| format!("network {index} is not in the oracle ({})", self.len()))?;
        // The lock is not held during the call: the function may be slow (it may train).
        let r = (self.f)(arch, dataset).and_then(|a| {
            if (0.0..=100.0).contains(&a) {
                Ok(a)
            } else {
                Err(format!(
                    "the accuracy of `{arch}` on `{dataset}` is {a}; an accuracy is a \
                     percentage in [0, 100]"
                ))
            }
        });
        if let (Ok(a), Ok(mut c)) = (&r, self.cache.lock()) {
            c.insert(key, Ok(*a));
        }
        r
    }
}

/// One task: a dataset, its weight in the objective and its latency spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CoTask {
    /// `cifar10`, `cifar100` or `imagenet16` for NAS-Bench-201, `imagenet` for the MnasNet
    /// space (the oracle's dataset; an NB201 network is built for this dataset's input and
    /// classes).
    pub dataset: String,
    /// Weight of its accuracy in the objective (default 1; normalized over tasks).
    #[serde(default = "one_f")]
    #[schemars(range(min = 0, max = archsim_accelerators::ranges::MAX_WEIGHT))]
    pub weight: f64,
    /// Latency spec in ms (absent = none).
    #[serde(default)]
    #[schemars(range(max = 1000000000.0), extend("exclusiveMinimum" = 0))]
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
    #[schemars(length(min = 1), inner(range(min = 1, max = 65536)))]
    pub rows: Vec<u32>,
    /// PE columns.
    #[schemars(length(min = 1), inner(range(min = 1, max = 65536)))]
    pub cols: Vec<u32>,
    /// ifmap and filter SRAM sizes in KiB (the ofmap SRAM is half).
    #[schemars(length(min = 1), inner(range(min = 1)))]
    pub sram_kib: Vec<u32>,
    /// Shared DRAM bandwidth, bytes per cycle (default 16).
    #[serde(default = "default_bw")]
    #[schemars(range(min = archsim_accelerators::ranges::MIN_BYTES_PER_CYCLE, max = archsim_accelerators::ranges::MAX_BYTES_PER_CYCLE))]
    pub dram_bw_bytes_per_cycle: f64,
    /// Clock in MHz (default 1000).
    #[serde(default = "default_freq")]
    #[schemars(range(min = archsim_accelerators::ranges::MIN_FREQ_MHZ, max = archsim_accelerators::ranges::MAX_FREQ_MHZ))]
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
    #[schemars(range(max = 1000000000000.0), extend("exclusiveMinimum" = 0))]
    pub max_energy_mj: Option<f64>,
    /// Chip area, mm².
    #[serde(default)]
    #[schemars(range(max = archsim_accelerators::ranges::MAX_MM2), extend("exclusiveMinimum" = 0))]
    pub max_area_mm2: Option<f64>,
}

/// The most evaluations of each co-design search (`codesign.budget`). Both searches keep every
/// evaluation (its point, networks and metrics, for `history.csv` and the Pareto plot): measured
/// at about 1.4 KB of memory an evaluation (budget 2,000 on the MnasNet problem: 5 MB more peak
/// memory than budget 200), so the bound, the same as a search's, is about 2.9 GB for both
/// searches; it is checked when the config loads, before anything is allocated.
pub const MAX_BUDGET: usize = 1_000_000;

/// The `codesign:` section: a co-design problem and its search budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CoDesignConfig {
    /// Accuracy table (CSV, see [`CsvOracle`]), relative to the config file.
    #[schemars(length(min = 1))]
    pub oracle: PathBuf,
    /// The network space (default `nb201`).
    #[serde(default)]
    pub network: NetSpace,
    /// The tasks, one sub-accelerator each.
    #[schemars(length(min = 1))]
    pub tasks: Vec<CoTask>,
    /// Hardware choices.
    pub hardware: HwSpace,
    /// Chip specs.
    #[serde(default)]
    pub specs: Specs,
    /// Evaluations per search (default 1000).
    #[serde(default = "default_budget")]
    #[schemars(range(min = 1, max = crate::codesign::MAX_BUDGET), extend("x-bound" = "MAX_BUDGET: both searches keep every evaluation in memory, about 1.4 KB each"))]
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
    /// Checks the lists and specs; the error names the key (`codesign.tasks.0.weight`) and
    /// says what is wrong with it. (Each number's own bounds are in the schema, which the
    /// config loader checks; these are the rules across keys.)
    pub fn check(&self) -> Result<(), (String, String)> {
        let bad = |k: String, m: String| Err((k, m));
        if self.tasks.is_empty() {
            return bad("codesign.tasks".into(), "give at least one task".into());
        }
        if self.budget == 0 {
            return bad(
                "codesign.budget".into(),
                "must be at least 1 (the evaluations of each search)".into(),
            );
        }
        let h = &self.hardware;
        for (k, n) in [
            ("dataflows", h.dataflows.len()),
            ("rows", h.rows.len()),
            ("cols", h.cols.len()),
            ("sram_kib", h.sram_kib.len()),
        ] {
            if n == 0 {
                return bad(
                    format!("codesign.hardware.{k}"),
                    "give at least one value".into(),
                );
            }
        }
        for (i, t) in self.tasks.iter().enumerate() {
            if let Err(e) = self.network.check_dataset(&t.dataset) {
                return bad(format!("codesign.tasks.{i}.dataset"), e);
            }
            if !(t.weight.is_finite() && t.weight >= 0.0) {
                return bad(format!("codesign.tasks.{i}.weight"), "must be ≥ 0".into());
            }
            if t.max_latency_ms
                .is_some_and(|m| !(m.is_finite() && m > 0.0))
            {
                return bad(
                    format!("codesign.tasks.{i}.max_latency_ms"),
                    "must be a number above 0 (leave it out for no latency spec)".into(),
                );
            }
        }
        // The weighted accuracy divides by the weights' sum.
        if self.tasks.iter().all(|t| t.weight == 0.0) {
            return bad(
                "codesign.tasks".into(),
                "every task's weight is 0, so the weighted accuracy both searches maximize is \
                 0 for every design; give at least one task a positive weight"
                    .into(),
            );
        }
        for (k, v) in [
            ("max_energy_mj", self.specs.max_energy_mj),
            ("max_area_mm2", self.specs.max_area_mm2),
        ] {
            if v.is_some_and(|m| !(m.is_finite() && m > 0.0)) {
                return bad(
                    format!("codesign.specs.{k}"),
                    "must be a number above 0 (leave it out for no spec)".into(),
                );
            }
        }
        Ok(())
    }

    /// [`check`](Self::check) as one message, `KEY: reason`.
    pub fn validate(&self) -> Result<(), String> {
        self.check().map_err(|(k, m)| format!("{k}: {m}"))
    }

    /// Evaluates one point: builds each task's network, runs them all on the chip. A point
    /// that does not fit the problem (wrong lengths, indices out of range) is an error.
    pub fn evaluate(&self, o: &dyn AccuracyOracle, p: &CoPoint) -> Result<CoResult, String> {
        self.check_point(o, p)?;
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
            nets.push(self.network.build(o.arch(p.nets[t]), &task.dataset)?);
            accuracy.push(o.accuracy(p.nets[t], &task.dataset)?);
        }
        let mut hc = HeteroConfig::new(subs);
        hc.dram_bw_bytes_per_cycle = Some(h.dram_bw_bytes_per_cycle);
        hc.freq_mhz = h.freq_mhz;
        // The chip is built through the family registry, and its tasks run as a
        // `workload: {tasks: [...]}` run does, without the per-op rows.
        let chip = AcceleratorConfig::from(hc)
            .family()
            .map_err(|e| e.to_string())?;
        let ctx = Context {
            config_hash: "",
            seed: self.seed,
            dtype: nets.first().map_or(DType::Int8, |w| w.dtype),
            llm: None,
            ops: false,
        };
        let r = chip.run_tasks(&nets, &ctx).map_err(|e| e.to_string())?;
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

    /// Checks a point's lengths and indices against the problem and the oracle.
    pub fn check_point(&self, o: &dyn AccuracyOracle, p: &CoPoint) -> Result<(), String> {
        let n = self.tasks.len();
        if p.nets.len() != n || p.hw.len() != n {
            return Err(format!(
                "a point needs {n} networks and {n} sub-accelerators, got {} and {}",
                p.nets.len(),
                p.hw.len()
            ));
        }
        if let Some(&i) = p.nets.iter().find(|&&i| i >= o.len()) {
            return Err(format!("network index {i} is outside 0..{}", o.len()));
        }
        let h = &self.hardware;
        let sizes = [
            ("dataflow", h.dataflows.len()),
            ("rows", h.rows.len()),
            ("cols", h.cols.len()),
            ("sram_kib", h.sram_kib.len()),
        ];
        for (t, hw) in p.hw.iter().enumerate() {
            for ((what, len), &i) in sizes.iter().zip(hw) {
                if i >= *len {
                    return Err(format!("sub{t}.{what} index {i} is outside 0..{len}"));
                }
            }
        }
        Ok(())
    }

    /// A random hardware choice for one task: indices into dataflows, rows, columns and SRAM
    /// sizes.
    pub fn random_hw(&self, rng: &mut ChaCha8Rng) -> [usize; 4] {
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
        assert_eq!(o.accuracy(0, "cifar10"), Ok(85.863333));
        assert_eq!(o.accuracy(0, "cifar100"), Ok(52.913333));
        assert!(o.accuracy(0, "svhn").unwrap_err().contains("cifar100"));
        assert!(o.accuracy(101, "cifar10").is_err());
        assert!(CsvOracle::parse("a,b\n").is_err());
    }

    #[test]
    fn malformed_points_are_errors() {
        let o = sample();
        let c = cfg(1.0);
        let ok = CoPoint {
            nets: vec![0, 1],
            hw: vec![[0, 0, 0, 0]; 2],
        };
        assert!(c.evaluate(&o, &ok).is_ok());
        for (p, why) in [
            (
                CoPoint {
                    nets: vec![0],
                    hw: vec![[0; 4]; 2],
                },
                "needs 2 networks",
            ),
            (
                CoPoint {
                    nets: vec![0, 101],
                    hw: vec![[0; 4]; 2],
                },
                "index 101",
            ),
            (
                CoPoint {
                    nets: vec![0, 1],
                    hw: vec![[0, 0, 3, 0]; 2],
                },
                "sub0.cols index 3",
            ),
        ] {
            let e = c.evaluate(&o, &p).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
    }
}
