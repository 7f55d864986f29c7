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
//! * [`co_explore`] searches both at once and [`successive`] fixes the most accurate networks
//!   first, with the same seeded (ChaCha8) evolutionary search and the same budget;
//!   [`co_explore_history`] and [`successive_history`] also return every evaluated point, and
//!   [`pareto_front`] picks the non-dominated ones (accuracy, latency, energy);
//! * [`crate::codesign_env::CoDesignEnv`] is the same problem as a (multi-agent) environment.
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
    fn neighbour(self, arch: &str, rng: &mut ChaCha8Rng) -> Option<String> {
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
/// a fresh random point. Returns the best point found in `cfg.budget` evaluations, and every
/// evaluation in order when `history` is given.
fn search(
    cfg: &CoDesignConfig,
    o: &dyn AccuracyOracle,
    fixed_nets: Option<Vec<usize>>,
    mut history: Option<&mut Vec<CoResult>>,
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
    if let Some(h) = history.as_deref_mut() {
        h.push(best.clone());
    }
    for _ in 1..cfg.budget.max(1) {
        // A caller that can be interrupted (Ctrl-C from Python) is asked between evaluations.
        if archsim_sim::cancel::requested() {
            return Err(archsim_sim::cancel::MESSAGE.into());
        }
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
                    _ => p.nets[t] = mutate_net(cfg.network, o, &index_of, p.nets[t], &mut rng),
                }
            }
            p
        };
        let r = cfg.evaluate(o, &p)?;
        if let Some(h) = history.as_deref_mut() {
            h.push(r.clone());
        }
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

/// A neighbour of network `i`: half the time one choice changed (when the result is in the
/// oracle), else a uniformly random network.
fn mutate_net(
    space: NetSpace,
    o: &dyn AccuracyOracle,
    index_of: &HashMap<&str, usize>,
    i: usize,
    rng: &mut ChaCha8Rng,
) -> usize {
    if rng.random_range(0..2) == 0 {
        if let Some(j) = space
            .neighbour(o.arch(i), rng)
            .and_then(|a| index_of.get(a.as_str()).copied())
        {
            return j;
        }
    }
    rng.random_range(0..o.len())
}

/// Co-exploration: networks and hardware in one space.
pub fn co_explore(cfg: &CoDesignConfig, o: &dyn AccuracyOracle) -> Result<CoResult, String> {
    search(cfg, o, None, None)
}

/// [`co_explore`], also returning every evaluated point in order.
pub fn co_explore_history(
    cfg: &CoDesignConfig,
    o: &dyn AccuracyOracle,
) -> Result<(CoResult, Vec<CoResult>), String> {
    let mut h = Vec::with_capacity(cfg.budget);
    let best = search(cfg, o, None, Some(&mut h))?;
    Ok((best, h))
}

/// [`successive`], also returning every evaluated point in order.
pub fn successive_history(
    cfg: &CoDesignConfig,
    o: &dyn AccuracyOracle,
) -> Result<(CoResult, Vec<CoResult>), String> {
    let mut h = Vec::with_capacity(cfg.budget);
    let best = search(cfg, o, Some(most_accurate(cfg, o)?), Some(&mut h))?;
    Ok((best, h))
}

/// The objectives of the Pareto front: weighted accuracy (maximized), the largest task latency
/// in ms and the energy in mJ (both minimized).
pub fn pareto_objectives(e: &CoEval) -> (f64, f64, f64) {
    let lat = e.latency_ms.iter().copied().fold(0.0, f64::max);
    (e.weighted_accuracy, lat, e.energy_mj)
}

/// Indices of the non-dominated points among `results` that meet every spec, on
/// [`pareto_objectives`]: a point is dropped when another is at least as good in all three and
/// better in one. Of identical objective vectors the first is kept. Sorted by latency.
pub fn pareto_front(results: &[CoResult]) -> Vec<usize> {
    let obj: Vec<(usize, (f64, f64, f64))> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.eval.violations.is_empty())
        .map(|(i, r)| (i, pareto_objectives(&r.eval)))
        .collect();
    let dominates = |a: (f64, f64, f64), b: (f64, f64, f64)| {
        a.0 >= b.0 && a.1 <= b.1 && a.2 <= b.2 && (a.0 > b.0 || a.1 < b.1 || a.2 < b.2)
    };
    let mut front: Vec<usize> = obj
        .iter()
        .enumerate()
        .filter(|&(k, &(_, a))| {
            !obj.iter()
                .enumerate()
                .any(|(j, &(_, b))| dominates(b, a) || (b == a && j < k))
        })
        .map(|(_, &(i, _))| i)
        .collect();
    front.sort_by(|&a, &b| {
        let (x, y) = (
            pareto_objectives(&results[a].eval),
            pareto_objectives(&results[b].eval),
        );
        x.1.total_cmp(&y.1)
            .then(y.0.total_cmp(&x.0))
            .then(a.cmp(&b))
    });
    front
}

/// The successive flow: the most accurate network of each task first (ties: lowest index),
/// then the best hardware for them. With a function oracle ([`FnOracle`]) this asks for the accuracy of every network.
pub fn successive(cfg: &CoDesignConfig, o: &dyn AccuracyOracle) -> Result<CoResult, String> {
    search(cfg, o, Some(most_accurate(cfg, o)?), None)
}

/// The most accurate network of each task (ties: lowest index).
fn most_accurate(cfg: &CoDesignConfig, o: &dyn AccuracyOracle) -> Result<Vec<usize>, String> {
    let mut nets = Vec::new();
    for t in &cfg.tasks {
        let mut best: Option<(usize, f64)> = None;
        for i in 0..o.len() {
            let a = o.accuracy(i, &t.dataset)?;
            if best.is_none_or(|(_, b)| a > b) {
                best = Some((i, a));
            }
        }
        nets.push(best.map_or(0, |(i, _)| i));
    }
    Ok(nets)
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
        assert_eq!(o.accuracy(0, "cifar10"), Ok(85.863333));
        assert_eq!(o.accuracy(0, "cifar100"), Ok(52.913333));
        assert!(o.accuracy(0, "svhn").unwrap_err().contains("cifar100"));
        assert!(o.accuracy(101, "cifar10").is_err());
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

    fn mnasnet_oracle() -> CsvOracle {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/nas/accelnb_mnasnet.csv");
        CsvOracle::from_path(&p).unwrap()
    }

    #[test]
    fn accel_nasbench_is_an_imagenet_oracle() {
        let o = mnasnet_oracle();
        assert_eq!(o.len(), 5138);
        // Row 0 of the CSV.
        assert_eq!(
            o.arch(0),
            "e6k3l1se0-e4k5l2se0-e6k3l3se0-e6k5l3se0-e6k5l2se0-e1k3l2se0-e1k3l2se0"
        );
        assert_eq!(o.accuracy(0, "imagenet"), Ok(59.368));
        assert_eq!(o.accuracy(0, "imagenet_top5"), Ok(82.636));
        let c: CoDesignConfig = serde_json::from_value(serde_json::json!({
            "oracle": "x", "network": "mnasnet", "budget": 30, "seed": 2,
            "tasks": [{"dataset": "imagenet", "max_latency_ms": 20.0}],
            "hardware": {"rows": [16, 32], "cols": [16, 32], "sram_kib": [128, 512]},
        }))
        .unwrap();
        let best = co_explore(&c, &o).unwrap();
        assert_eq!(best, co_explore(&c, &o).unwrap());
        let i = best.point.nets[0];
        assert_eq!(best.eval.accuracy[0], o.accuracy(i, "imagenet").unwrap());
        assert!(best.eval.latency_ms[0] > 0.0 && best.eval.energy_mj > 0.0);
        // An NB201 dataset in the MnasNet space is refused, and the reverse.
        let mut bad = c.clone();
        bad.tasks[0].dataset = "cifar10".into();
        assert!(bad.validate().unwrap_err().contains("imagenet"));
        let mut bad = cfg(1.0);
        bad.tasks[0].dataset = "imagenet".into();
        assert!(bad.validate().unwrap_err().contains("tasks.0.dataset"));
    }

    #[test]
    fn function_oracle_is_asked_once_per_network_and_errors_surface() {
        let o = sample();
        let archs: Vec<String> = (0..o.len()).map(|i| o.arch(i).to_string()).collect();
        let table = o.clone();
        let lookup = archs.clone();
        let f = FnOracle::new(
            archs,
            Box::new(move |arch: &str, ds: &str| {
                let i = lookup.iter().position(|a| a == arch).unwrap();
                table.accuracy(i, ds)
            }),
        );
        let c = cfg(1.0);
        // Same accuracies, same search, same result as the table.
        assert_eq!(co_explore(&c, &f).unwrap(), co_explore(&c, &o).unwrap());
        let calls = f.calls();
        assert!(calls > 0 && calls <= 2 * o.len());
        co_explore(&c, &f).unwrap();
        assert_eq!(f.calls(), calls, "answers are cached");
        let failing = FnOracle::new(
            vec![o.arch(0).to_string()],
            Box::new(|_: &str, _: &str| Err("training diverged".to_string())),
        );
        assert_eq!(co_explore(&c, &failing).unwrap_err(), "training diverged");
        let nan = FnOracle::new(
            vec![o.arch(0).to_string()],
            Box::new(|_: &str, _: &str| Ok(f64::NAN)),
        );
        assert!(co_explore(&c, &nan).unwrap_err().contains("NaN"));
        for bad in [-5.0, 100.5, 1e30] {
            let o = FnOracle::new(
                vec![o.arch(0).to_string()],
                Box::new(move |_: &str, _: &str| Ok(bad)),
            );
            assert!(
                co_explore(&c, &o).unwrap_err().contains("[0, 100]"),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_pareto_front_is_the_non_dominated_feasible_set() {
        let o = sample();
        let (best, hist) = co_explore_history(&cfg(0.5), &o).unwrap();
        assert_eq!(hist.len(), 60);
        assert!(hist.contains(&best));
        let front = pareto_front(&hist);
        assert!(!front.is_empty());
        let obj = |i: usize| pareto_objectives(&hist[i].eval);
        for i in 0..hist.len() {
            let feasible = hist[i].eval.violations.is_empty();
            let dominated = (0..hist.len()).any(|j| {
                let (a, b) = (obj(j), obj(i));
                hist[j].eval.violations.is_empty()
                    && a.0 >= b.0
                    && a.1 <= b.1
                    && a.2 <= b.2
                    && (a.0 > b.0 || a.1 < b.1 || a.2 < b.2)
            });
            let duplicate_of_earlier =
                (0..i).any(|j| hist[j].eval.violations.is_empty() && obj(j) == obj(i));
            assert_eq!(
                front.contains(&i),
                feasible && !dominated && !duplicate_of_earlier,
                "point {i}"
            );
        }
        // The most accurate feasible point is on the front.
        assert!(front
            .iter()
            .any(|&i| hist[i].eval.weighted_accuracy == best.eval.weighted_accuracy));
        let (_, sh) = successive_history(&cfg(0.5), &o).unwrap();
        assert!(sh.iter().all(|r| r.point.nets == sh[0].point.nets));
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
