//! A heterogeneous chip: several systolic sub-accelerators sharing one DRAM, running several
//! networks (tasks) concurrently.
//!
//! This is the hardware side of NASAIC (Yang et al., "Co-Exploration of Neural Architectures
//! and Heterogeneous ASIC Accelerator Designs Targeting Multiple Tasks", DAC 2020,
//! doi:10.1109/DAC18072.2020.9218676): one ASIC holds sub-accelerators built from templates of
//! different dataflows — output stationary as in ShiDianNao (`os`), weight stationary as in
//! NVDLA (`ws`), and input/row stationary as in Eyeriss (`is`, see
//! [`SystolicConfig::preset`](crate::systolic::SystolicConfig::preset)) — each with its own
//! array size and SRAMs, and every task (network) is assigned to one sub-accelerator.
//!
//! Fidelity: [`Fidelity::CycleApprox`] per op (each sub-accelerator is a [`Systolic`] model
//! with SCALE-Sim parity); contention is resolved by `archsim-sim`'s list scheduler: every
//! sub-accelerator contributes two engines (`<name>.array`, `<name>.vector`) and the chip has
//! one DRAM memory whose bandwidth (`dram_bw_bytes_per_cycle`) all of them share. The
//! sub-accelerators' own stall model is off (their DRAM bandwidth is unlimited); an op's DRAM
//! traffic occupies the shared channel for `⌈bytes / bandwidth⌉` cycles instead, so an op
//! alone takes `max(compute, traffic)` and two sub-accelerators streaming at once slow each
//! other down. All tasks start at cycle 0; a task's latency is the end of its last op.
//!
//! Energy is the sum of the ops' dynamic energy; area is the sum of the sub-accelerators'
//! areas (arrays, vector units, SRAMs).
//!
//! ```
//! use archsim_accelerators::hetero::{Hetero, HeteroConfig, SubAccelConfig};
//! use archsim_accelerators::systolic::Dataflow;
//! use archsim_workloads::{zoo, DType};
//!
//! let cfg = HeteroConfig::new(vec![
//!     SubAccelConfig::new("shidiannao", 32, 32, Dataflow::Os),
//!     SubAccelConfig::new("nvdla", 16, 64, Dataflow::Ws),
//! ]);
//! let chip = Hetero::new(cfg).unwrap();
//! let a = zoo::build("nb201:|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|", 1, DType::Int8).unwrap();
//! let b = zoo::build("nb201:cifar100:|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|", 1, DType::Int8).unwrap();
//! let r = chip.simulate(&[a, b], "doc", 0).unwrap();
//! let tasks = r.tasks.unwrap();
//! assert_eq!(tasks.len(), 2);
//! assert_eq!(r.total_cycles, tasks.iter().map(|t| t.end_cycle).max().unwrap());
//! ```

use crate::config::KeyError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use archsim_sim::{list_schedule, Engine, Memory, Report, Resources, Task, TaskReport};
use archsim_workloads::{Op, Workload};

use crate::pipeline::{self, MappedOp, Mapping};
use crate::systolic::{Dataflow, SramKib, Systolic, SystolicConfig};
use crate::{AccelError, Accelerator, Cost, Fidelity, OpMapping};

fn one() -> u32 {
    1
}
fn default_freq() -> f64 {
    1000.0
}
fn default_bw() -> Option<f64> {
    Some(16.0)
}

/// One sub-accelerator of a [`HeteroConfig`]: a systolic template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubAccelConfig {
    /// Name used in engine names and reports (e.g. `shidiannao`, `nvdla`, `eyeriss`).
    pub name: String,
    /// PE rows.
    #[schemars(range(min = 1, max = 65536))]
    pub rows: u32,
    /// PE columns.
    #[schemars(range(min = 1, max = 65536))]
    pub cols: u32,
    /// `os` (ShiDianNao-like), `ws` (NVDLA-like) or `is` (Eyeriss-like).
    pub dataflow: Dataflow,
    /// SRAM sizes in KiB (default ifmap 512, filter 512, ofmap 256).
    #[serde(default)]
    pub sram_kib: SramKib,
}

impl SubAccelConfig {
    /// A `rows × cols` sub-accelerator with the default SRAMs.
    pub fn new(name: &str, rows: u32, cols: u32, dataflow: Dataflow) -> Self {
        SubAccelConfig {
            name: name.into(),
            rows,
            cols,
            dataflow,
            sram_kib: SramKib::default(),
        }
    }
}

/// The `accelerator:` section for `kind: hetero`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeteroConfig {
    /// The sub-accelerators (at least one).
    pub subs: Vec<SubAccelConfig>,
    /// Task → sub-accelerator: entry `i` is the index in `subs` of the sub-accelerator that runs
    /// task `i` of a `workload: {tasks: [...]}`; missing entries default to `i mod len(subs)`.
    /// A single (non-`tasks`) workload runs on `assignment[0]` (default 0).
    #[serde(default)]
    pub assignment: Vec<usize>,
    /// Bytes per word: 1, 2 or 4 (default 1).
    #[serde(default = "one")]
    pub word_bytes: u32,
    /// Clock of every sub-accelerator in MHz (default 1000).
    #[serde(default = "default_freq")]
    #[schemars(range(min = crate::ranges::MIN_FREQ_MHZ, max = crate::ranges::MAX_FREQ_MHZ))]
    pub freq_mhz: f64,
    /// Shared DRAM bandwidth in bytes per cycle (default 16; `null` = unlimited).
    #[serde(default = "default_bw")]
    #[schemars(range(min = crate::ranges::MIN_BYTES_PER_CYCLE, max = crate::ranges::MAX_BYTES_PER_CYCLE))]
    pub dram_bw_bytes_per_cycle: Option<f64>,
}

impl HeteroConfig {
    /// A chip of `subs` with the defaults (int8, 1 GHz, 16 B/cycle DRAM, task `i` on sub `i`).
    pub fn new(subs: Vec<SubAccelConfig>) -> Self {
        HeteroConfig {
            subs,
            assignment: Vec::new(),
            word_bytes: 1,
            freq_mhz: 1000.0,
            dram_bw_bytes_per_cycle: default_bw(),
        }
    }

    /// The systolic config of sub-accelerator `i` (shared word size and clock, no own DRAM
    /// limit: the shared channel is modelled by the scheduler).
    fn sub_systolic(&self, s: &SubAccelConfig) -> SystolicConfig {
        let mut c = SystolicConfig::new(s.rows, s.cols, s.dataflow);
        c.sram_kib = s.sram_kib;
        c.word_bytes = self.word_bytes;
        c.freq_mhz = self.freq_mhz;
        c
    }

    /// Sub-accelerator index of task `t`.
    pub fn sub_of(&self, t: usize) -> usize {
        self.assignment
            .get(t)
            .copied()
            .unwrap_or(t % self.subs.len().max(1))
    }

    /// Checks every value; the error names the key relative to the `accelerator:` section.
    pub fn validate(&self) -> Result<(), AccelError> {
        let bad = |key: String, reason: String| Err(AccelError::InvalidConfig { key, reason });
        if self.subs.is_empty() {
            return bad("subs".into(), "give at least one sub-accelerator".into());
        }
        for (i, s) in self.subs.iter().enumerate() {
            if s.name.is_empty() {
                return bad(format!("subs.{i}.name"), "must not be empty".into());
            }
            if self.subs[..i].iter().any(|o| o.name == s.name) {
                return bad(format!("subs.{i}.name"), format!("`{}` repeats", s.name));
            }
            if let Err(AccelError::InvalidConfig { key, reason }) = self.sub_systolic(s).validate()
            {
                let key = match key.as_str() {
                    "word_bytes" | "freq_mhz" => key,
                    _ => format!("subs.{i}.{key}"),
                };
                return bad(key, reason);
            }
        }
        for (t, &a) in self.assignment.iter().enumerate() {
            if a >= self.subs.len() {
                return bad(
                    format!("assignment.{t}"),
                    format!(
                        "{a} is not a sub-accelerator index (0..{})",
                        self.subs.len()
                    ),
                );
            }
        }
        if let Some(bw) = self.dram_bw_bytes_per_cycle {
            if !(bw.is_finite() && bw > 0.0) {
                return bad(
                    "dram_bw_bytes_per_cycle".into(),
                    "must be a positive number (null for unlimited)".into(),
                );
            }
        }
        Ok(())
    }
}

/// The heterogeneous chip built from a validated [`HeteroConfig`].
#[derive(Debug, Clone)]
pub struct Hetero {
    cfg: HeteroConfig,
    subs: Vec<Systolic>,
}

const DRAM: usize = 0;

impl Hetero {
    /// Builds the model; fails with the offending key if the config is invalid.
    pub fn new(cfg: HeteroConfig) -> Result<Self, AccelError> {
        cfg.validate()?;
        let subs = cfg
            .subs
            .iter()
            .map(|s| Systolic::new(cfg.sub_systolic(s)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Hetero { cfg, subs })
    }

    /// The config the model was built from.
    pub fn config(&self) -> &HeteroConfig {
        &self.cfg
    }

    /// Runs `tasks` concurrently, task `i` on sub-accelerator [`HeteroConfig::sub_of`]`(i)`,
    /// and returns one report: ops of every task (named `t<i>/<op>`), the makespan as
    /// `total_cycles`, total energy, chip area, and per-task latency in `tasks`.
    pub fn simulate(
        &self,
        tasks: &[Workload],
        config_hash: &str,
        seed: u64,
    ) -> Result<Report, AccelError> {
        self.simulate_with(tasks, config_hash, seed, true)
    }

    fn simulate_with(
        &self,
        tasks: &[Workload],
        config_hash: &str,
        seed: u64,
        with_ops: bool,
    ) -> Result<Report, AccelError> {
        if tasks.is_empty() {
            return Err(AccelError::InvalidConfig {
                key: "assignment".into(),
                reason: "no tasks to run".into(),
            });
        }
        let total: usize = tasks.iter().map(|w| w.graph.node_count()).sum();
        let mut ops: Vec<MappedOp<crate::systolic::SystolicPlan>> = Vec::with_capacity(total);
        let mut sched: Vec<Task> = Vec::with_capacity(total);
        let mut owner: Vec<usize> = Vec::with_capacity(total);
        let mut weight_bytes = 0;
        for (t, w) in tasks.iter().enumerate() {
            let s = self.cfg.sub_of(t);
            if s >= self.subs.len() {
                return Err(AccelError::InvalidConfig {
                    key: format!("assignment.{t}"),
                    reason: format!("{s} is not a sub-accelerator index"),
                });
            }
            let m = pipeline::mapping(w, &self.subs[s])?;
            weight_bytes += m.weight_bytes;
            let base = ops.len();
            for (i, mut o) in m.ops.into_iter().enumerate() {
                o.mapping.engine += 2 * s;
                o.preds.iter_mut().for_each(|p| *p += base);
                o.name = format!("t{t}/{}", o.name);
                sched.push(Task {
                    name: o.name.clone(),
                    engine: o.mapping.engine,
                    cycles: o.cost.compute_cycles + o.cost.stall_cycles,
                    traffic: vec![(DRAM, o.cost.dram_bytes)],
                    output_bytes: o.output_bytes,
                    output_memory: Some(DRAM),
                    preds: o.preds.clone(),
                    // Interleave the tasks' ops so no task starves the shared channel.
                    priority: (i * tasks.len() + t) as u64,
                });
                owner.push(t);
                ops.push(o);
            }
        }
        let mapping = Mapping {
            workload: tasks
                .iter()
                .map(|w| w.name.as_str())
                .collect::<Vec<_>>()
                .join(" + "),
            accelerator: self.name(),
            ops,
            weight_bytes,
        };
        let mut resident = vec![0; 1];
        resident[DRAM] = weight_bytes;
        let schedule = list_schedule(&sched, &self.resources(), &resident)?;
        let mut report = if with_ops {
            pipeline::report(&mapping, &schedule, self, config_hash, seed)
        } else {
            pipeline::report_totals(&mapping, &schedule, self, config_hash, seed)
        };
        let freq = self.cfg.freq_mhz * 1e6;
        let owner = &owner;
        let per_task = (0..tasks.len())
            .map(|t| {
                let n_ops = mapping.ops.len();
                let mine = move || (0..n_ops).filter(move |&i| owner[i] == t);
                let end = mine()
                    .map(|i| schedule.slots[i].end.get())
                    .max()
                    .unwrap_or(0);
                TaskReport {
                    workload: tasks[t].name.clone(),
                    sub_accelerator: self.cfg.subs[self.cfg.sub_of(t)].name.clone(),
                    end_cycle: end,
                    latency_s: end as f64 / freq,
                    energy_j: mine().map(|i| mapping.ops[i].cost.energy_pj).sum::<f64>() * 1e-12,
                    macs: mine().map(|i| mapping.ops[i].macs).sum(),
                    contention_cycles: mine().map(|i| schedule.slots[i].contention_cycles).sum(),
                }
            })
            .collect();
        report.tasks = Some(per_task);
        Ok(report)
    }
}

impl Accelerator for Hetero {
    type Plan = crate::systolic::SystolicPlan;

    fn name(&self) -> String {
        let subs: Vec<String> = self
            .cfg
            .subs
            .iter()
            .map(|s| format!("{} {}x{} {}", s.name, s.rows, s.cols, s.dataflow.name()))
            .collect();
        format!("hetero [{}]", subs.join(", "))
    }

    fn fidelity(&self) -> Fidelity {
        Fidelity::CycleApprox
    }

    fn resources(&self) -> Resources {
        let mut engines = Vec::with_capacity(2 * self.subs.len());
        for s in &self.cfg.subs {
            engines.push(Engine {
                name: format!("{}.array", s.name).into(),
            });
            engines.push(Engine {
                name: format!("{}.vector", s.name).into(),
            });
        }
        Resources {
            engines,
            memories: vec![Memory {
                name: "dram".into(),
                capacity_bytes: None,
                bandwidth_bytes_per_cycle: self.cfg.dram_bw_bytes_per_cycle,
            }],
        }
    }

    fn dram(&self) -> Option<usize> {
        Some(DRAM)
    }

    /// A single workload runs on sub-accelerator `assignment[0]` (default 0).
    fn map(&self, op: &Op) -> Result<OpMapping<Self::Plan>, AccelError> {
        let s = self.cfg.sub_of(0);
        let mut m = self.subs[s].map(op)?;
        m.engine += 2 * s;
        Ok(m)
    }

    fn cost(&self, op: &Op, mapping: &OpMapping<Self::Plan>) -> Cost {
        let s = (mapping.engine / 2).min(self.subs.len() - 1);
        let local = OpMapping {
            engine: mapping.engine % 2,
            plan: mapping.plan.clone(),
        };
        self.subs[s].cost(op, &local)
    }

    fn freq_mhz(&self) -> f64 {
        self.cfg.freq_mhz
    }

    fn mac_units(&self) -> u64 {
        self.subs.iter().map(Accelerator::mac_units).sum()
    }

    fn area_mm2(&self) -> f64 {
        self.subs.iter().map(Accelerator::area_mm2).sum()
    }
}


impl crate::family::FamilyConfig for HeteroConfig {
    const FORMS: &'static [crate::family::Form] =
        &[crate::family::Form::Graph, crate::family::Form::Tasks];
    fn validate(&self) -> Result<(), AccelError> {
        HeteroConfig::validate(self)
    }
    fn reconcile(
        &mut self,
        given: &[String],
        workload: &archsim_workloads::WorkloadConfig,
    ) -> Result<(), KeyError> {
        // Entry `i` places task `i`: an entry without a task places nothing.
        let tasks = workload.tasks.as_ref().map_or(1, Vec::len);
        if self.assignment.len() > tasks {
            return Err(KeyError::new(
                vec!["accelerator".into(), "assignment".into()],
                format!(
                    "{} entries for {tasks} task{} (entry i places task i of workload.tasks{}): \
                     remove the extra entries",
                    self.assignment.len(),
                    if tasks == 1 { "" } else { "s" },
                    if workload.tasks.is_some() {
                        ""
                    } else {
                        "; a single network is one task"
                    }
                ),
            ));
        }
        crate::family::word_follows_dtype(&mut self.word_bytes, given, workload)
    }
    fn build(&self) -> Result<Box<dyn crate::family::Family>, AccelError> {
        Ok(Box::new(Hetero::new(self.clone())?))
    }
}

crate::family::per_op_family!(Hetero {
    /// Several networks at once, each on the sub-accelerator its `assignment` names, sharing
    /// DRAM (a lone network runs on the sub-accelerator of `assignment[0]`).
    fn run_tasks(
        &self,
        tasks: &[Workload],
        ctx: &crate::family::Context<'_>,
    ) -> Result<Report, AccelError> {
        self.simulate_with(tasks, ctx.config_hash, ctx.seed, ctx.ops)
    }
});

#[cfg(test)]
mod tests {
    use super::*;
    use archsim_workloads::{zoo, DType};

    const BIG: &str = "nb201:|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|";
    const SMALL: &str = "nb201:|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|";

    fn chip(bw: Option<f64>) -> Hetero {
        let mut c = HeteroConfig::new(vec![
            SubAccelConfig::new("shidiannao", 32, 32, Dataflow::Os),
            SubAccelConfig::new("nvdla", 16, 64, Dataflow::Ws),
            SubAccelConfig::new("eyeriss", 12, 14, Dataflow::Is),
        ]);
        c.dram_bw_bytes_per_cycle = bw;
        Hetero::new(c).unwrap()
    }

    fn w(name: &str) -> Workload {
        zoo::build(name, 1, DType::Int8).unwrap()
    }

    /// The family's `graph_totals` (one network, no report built) are the totals of its
    /// `run_graph` report, bit for bit.
    #[test]
    fn one_network_totals_are_its_reports() {
        use crate::family::{Context, Family};
        let h = chip(Some(8.0));
        for name in [BIG, SMALL] {
            let net = w(name);
            let ctx = Context {
                config_hash: "t",
                seed: 0,
                dtype: DType::Int8,
                llm: None,
                ops: true,
            };
            let report = Family::run_graph(&h, &net, &ctx).unwrap();
            let totals = Family::graph_totals(&h, &net, &ctx).unwrap().unwrap();
            assert_eq!(totals, pipeline::Totals::of(&report));
        }
    }

    #[test]
    fn totals_only_reports_the_same_figures() {
        let h = Hetero::new(HeteroConfig::new(vec![
            SubAccelConfig::new("a", 16, 16, Dataflow::Os),
            SubAccelConfig::new("b", 32, 32, Dataflow::Ws),
        ]))
        .unwrap();
        let nets = [w(BIG), w(SMALL)];
        let full = h.simulate(&nets, "t", 0).unwrap();
        // What the co-design gym runs: the tasks through the family, without per-op rows.
        let ctx = crate::family::Context {
            config_hash: "t",
            seed: 0,
            dtype: DType::Int8,
            llm: None,
            ops: false,
        };
        let lean = crate::family::Family::run_tasks(&h, &nets, &ctx).unwrap();
        assert!(lean.ops.is_empty() && !full.ops.is_empty());
        assert_eq!(
            Report {
                ops: Vec::new(),
                ..full
            },
            lean
        );
    }

    #[test]
    fn one_task_alone_matches_its_sub_accelerator_without_contention() {
        let h = chip(None);
        let r = h.simulate(&[w(BIG)], "", 0).unwrap();
        let alone = pipeline::evaluate(&w(BIG), &h.subs[0], "", 0).unwrap();
        assert_eq!(r.total_cycles, alone.total_cycles);
        assert!((r.energy_j - alone.energy_j).abs() < 1e-12);
        assert!((r.area_mm2 - h.subs.iter().map(|s| s.area_mm2()).sum::<f64>()).abs() < 1e-12);
    }

    #[test]
    fn concurrent_tasks_contend_for_dram_and_separate_subs_overlap() {
        let h = chip(Some(4.0));
        let alone0 = h.simulate(&[w(BIG)], "", 0).unwrap().total_cycles;
        let both = h.simulate(&[w(BIG), w(SMALL)], "", 0).unwrap();
        let t = both.tasks.as_ref().unwrap();
        assert_eq!(t[0].sub_accelerator, "shidiannao");
        assert_eq!(t[1].sub_accelerator, "nvdla");
        // Sharing DRAM slows task 0 down...
        assert!(t[0].end_cycle > alone0, "{} vs {alone0}", t[0].end_cycle);
        assert!(t.iter().map(|t| t.contention_cycles).sum::<u64>() > 0);
        // ...but running both concurrently beats running them one after the other.
        let alone1 = h.simulate(&[w(SMALL)], "", 0).unwrap().total_cycles;
        assert!(both.total_cycles < alone0 + alone1 + h.subs.len() as u64);
        let e: f64 = t.iter().map(|t| t.energy_j).sum();
        assert!((e - both.energy_j).abs() <= 1e-9 * both.energy_j);
    }

    #[test]
    fn same_sub_serializes_tasks() {
        let mut c = chip(None).cfg;
        c.assignment = vec![0, 0];
        let h = Hetero::new(c).unwrap();
        let both = h.simulate(&[w(SMALL), w(SMALL)], "", 0).unwrap();
        let alone = h.simulate(&[w(SMALL)], "", 0).unwrap().total_cycles;
        // One array for both: the array-busy cycles add up, so the makespan is at least their
        // sum, and above one task's latency.
        let array_busy: u64 = both
            .ops
            .iter()
            .filter(|o| o.engine == "shidiannao.array")
            .map(|o| o.cycles)
            .sum();
        assert!(both.total_cycles >= array_busy);
        assert!(
            both.total_cycles > alone,
            "{} vs {alone}",
            both.total_cycles
        );
        let alone_busy: u64 = h
            .simulate(&[w(SMALL)], "", 0)
            .unwrap()
            .ops
            .iter()
            .filter(|o| o.engine == "shidiannao.array")
            .map(|o| o.cycles)
            .sum();
        assert_eq!(array_busy, 2 * alone_busy);
    }

    #[test]
    fn invalid_configs_name_their_key() {
        let mut c = chip(None).cfg;
        c.assignment = vec![5];
        assert!(
            matches!(Hetero::new(c), Err(AccelError::InvalidConfig { key, .. }) if key == "assignment.0")
        );
        let mut c = chip(None).cfg;
        c.subs[1].rows = 0;
        assert!(
            matches!(Hetero::new(c), Err(AccelError::InvalidConfig { key, .. }) if key == "subs.1.rows")
        );
        assert!(Hetero::new(HeteroConfig::new(vec![])).is_err());
    }
}
