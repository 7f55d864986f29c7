//! The mapping → schedule → report stages for any [`Accelerator`].

use std::collections::BTreeMap;

use serde::Serialize;

use archsim_sim::{list_schedule, OpReport, Provenance, Report, Schedule, Task};
use archsim_workloads::{NodeIndex, Workload};

use crate::{AccelError, Accelerator, Cost, OpMapping, OpPlan};

/// One op placed and priced, under a family's plan `P`.
#[derive(Debug, Clone, Serialize)]
pub struct MappedOp<P> {
    /// Op name.
    pub name: String,
    /// Op class.
    pub kind: &'static str,
    /// Multiply-accumulates.
    pub macs: u64,
    /// Bytes of the op's output.
    pub output_bytes: u64,
    /// Where and how it runs.
    pub mapping: OpMapping<P>,
    /// What it costs alone.
    pub cost: Cost,
    /// Indices (into [`Mapping::ops`]) of the ops it reads from.
    pub preds: Vec<usize>,
}

/// The mapping stage's output: every op of the workload, in topological order, under a
/// family's plan `P`.
#[derive(Debug, Clone, Serialize)]
pub struct Mapping<P> {
    /// Workload name.
    pub workload: String,
    /// Accelerator description.
    pub accelerator: String,
    /// Mapped ops in topological order.
    pub ops: Vec<MappedOp<P>>,
    /// Bytes of parameters resident in off-chip memory.
    pub weight_bytes: u64,
}

/// Maps and prices every op of `w` on `acc`.
pub fn mapping<A: Accelerator>(w: &Workload, acc: &A) -> Result<Mapping<A::Plan>, AccelError> {
    mapping_by(w, acc, |_, op| map_and_cost(acc, op))
}

/// One op's own mapping on `acc` and its cost.
fn map_and_cost<A: Accelerator>(
    acc: &A,
    op: &archsim_workloads::Op,
) -> Result<(OpMapping<A::Plan>, Cost), AccelError> {
    let mapping = acc.map(op)?;
    let cost = acc.cost(op, &mapping);
    Ok((mapping, cost))
}

/// [`mapping`] with each op's mapping and cost given by `plan` from its node (a model that
/// prices ops in their graph context: the GPU's framework program).
pub fn mapping_by<A: Accelerator>(
    w: &Workload,
    acc: &A,
    plan: impl FnMut(
        NodeIndex,
        &archsim_workloads::Op,
    ) -> Result<(OpMapping<A::Plan>, Cost), AccelError>,
) -> Result<Mapping<A::Plan>, AccelError> {
    map_ops(w, acc, plan, true)
}

/// [`mapping_by`]; without `named`, the workload, accelerator and op names are left empty
/// (no string built per op, for [`totals`]).
fn map_ops<A: Accelerator>(
    w: &Workload,
    acc: &A,
    mut plan: impl FnMut(
        NodeIndex,
        &archsim_workloads::Op,
    ) -> Result<(OpMapping<A::Plan>, Cost), AccelError>,
    named: bool,
) -> Result<Mapping<A::Plan>, AccelError> {
    let order = w.topo_order();
    let mut pos = vec![usize::MAX; order.iter().map(|n| n.index() + 1).max().unwrap_or(0)];
    for (i, n) in order.iter().enumerate() {
        pos[n.index()] = i;
    }
    let mut ops = Vec::with_capacity(order.len());
    for &n in &order {
        let op = &w.graph[n];
        let (mapping, cost) = plan(n, op)?;
        let preds = w
            .graph
            .neighbors_directed(n, petgraph_incoming())
            .map(|p: NodeIndex| pos[p.index()])
            .collect();
        ops.push(MappedOp {
            name: if named {
                op.name.clone()
            } else {
                String::new()
            },
            kind: op.class(),
            macs: op.macs(),
            output_bytes: op.bytes_written(),
            mapping,
            cost,
            preds,
        });
    }
    let (workload, accelerator) = if named {
        (w.name.clone(), acc.name())
    } else {
        (String::new(), String::new())
    };
    Ok(Mapping {
        workload,
        accelerator,
        ops,
        weight_bytes: w.total_weights() * w.dtype.bytes(),
    })
}

fn petgraph_incoming() -> archsim_workloads::Direction {
    archsim_workloads::Direction::Incoming
}

/// Times the mapped ops on the accelerator's resources.
pub fn schedule<A: Accelerator>(m: &Mapping<A::Plan>, acc: &A) -> Result<Schedule, AccelError> {
    let dram = acc.dram();
    let tasks: Vec<Task> = m
        .ops
        .iter()
        .enumerate()
        .map(|(i, o)| Task {
            name: o.name.clone(),
            engine: o.mapping.engine,
            cycles: o.cost.compute_cycles + o.cost.stall_cycles,
            traffic: dram
                .map(|d| vec![(d, o.cost.dram_bytes)])
                .unwrap_or_default(),
            output_bytes: o.output_bytes,
            output_memory: dram,
            preds: o.preds.clone(),
            priority: i as u64,
        })
        .collect();
    let resources = acc.resources();
    let mut resident = vec![0; resources.memories.len()];
    if let Some(d) = dram {
        resident[d] = m.weight_bytes;
    }
    Ok(list_schedule(&tasks, &resources, &resident)?)
}

/// Assembles the report from the mapping and the schedule.
pub fn report<A: Accelerator>(
    m: &Mapping<A::Plan>,
    s: &Schedule,
    acc: &A,
    config_hash: &str,
    seed: u64,
) -> Report {
    report_with(m, s, acc, config_hash, seed, true)
}

/// [`report`] with the totals alone (`ops` left empty): the same figures for a caller that
/// reads no per-op row — a search or gym step — without building one string per op.
pub fn report_totals<A: Accelerator>(
    m: &Mapping<A::Plan>,
    s: &Schedule,
    acc: &A,
    config_hash: &str,
    seed: u64,
) -> Report {
    report_with(m, s, acc, config_hash, seed, false)
}

/// The ops' totals, accumulated in the order the ops start (ties by index): compute and
/// stall cycles, MACs, energy, and bytes per memory level.
struct Sums {
    /// Op indices in order of start.
    order: Vec<usize>,
    compute: u64,
    stall: u64,
    macs: u64,
    energy_pj: f64,
    /// Bytes per level, in the order the levels first appear (a handful of levels).
    bytes: Vec<(&'static str, u64)>,
}

fn sums<P>(m: &Mapping<P>, s: &Schedule) -> Sums {
    let mut order: Vec<usize> = (0..m.ops.len()).collect();
    order.sort_by_key(|&i| (s.slots[i].start, i));
    // Accumulated under the levels' static names; owned keys only once, in the report.
    let mut bytes: Vec<(&'static str, u64)> = Vec::new();
    let mut energy_pj = 0.0;
    let (mut compute, mut stall, mut macs) = (0u64, 0u64, 0u64);
    for &i in &order {
        let o = &m.ops[i];
        compute += o.cost.compute_cycles;
        stall += o.cost.stall_cycles + s.slots[i].contention_cycles;
        macs += o.macs;
        energy_pj += o.cost.energy_pj;
        for &(level, b) in &o.cost.bytes {
            match bytes.iter_mut().find(|(l, _)| *l == level) {
                Some(e) => e.1 += b,
                None => bytes.push((level, b)),
            }
        }
    }
    Sums {
        order,
        compute,
        stall,
        macs,
        energy_pj,
        bytes,
    }
}

/// The totals of a report: what a search or gym step reads of a run that fits and has no
/// `llm` section.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Totals {
    /// [`Report::total_cycles`].
    pub total_cycles: u64,
    /// [`Report::latency_s`].
    pub latency_s: f64,
    /// [`Report::energy_j`].
    pub energy_j: f64,
    /// [`Report::area_mm2`].
    pub area_mm2: f64,
    /// [`Report::utilization`].
    pub utilization: f64,
    /// The report's `bytes["dram"]` (0 when it has none).
    pub dram_bytes: u64,
}

impl Totals {
    /// The totals of `r`.
    pub fn of(r: &Report) -> Totals {
        Totals {
            total_cycles: r.total_cycles,
            latency_s: r.latency_s,
            energy_j: r.energy_j,
            area_mm2: r.area_mm2,
            utilization: r.utilization,
            dram_bytes: r.bytes.get("dram").copied().unwrap_or(0),
        }
    }

    /// The totals of the mapped and scheduled ops (what [`report`] gives).
    fn from_sums<A: Accelerator>(sums: &Sums, s: &Schedule, acc: &A) -> Totals {
        let total_cycles = s.makespan.get();
        Totals {
            total_cycles,
            latency_s: latency_s(total_cycles, acc),
            energy_j: sums.energy_pj * 1e-12,
            area_mm2: acc.area_mm2(),
            utilization: utilization(sums.macs, total_cycles, acc),
            dram_bytes: sums
                .bytes
                .iter()
                .find(|(l, _)| *l == "dram")
                .map_or(0, |&(_, b)| b),
        }
    }
}

fn latency_s<A: Accelerator>(total_cycles: u64, acc: &A) -> f64 {
    total_cycles as f64 / (acc.freq_mhz() * 1e6)
}

fn utilization<A: Accelerator>(macs: u64, total_cycles: u64, acc: &A) -> f64 {
    let units = acc.mac_units();
    if total_cycles == 0 || units == 0 {
        0.0
    } else {
        macs as f64 / (total_cycles as f64 * units as f64)
    }
}

fn report_with<A: Accelerator>(
    m: &Mapping<A::Plan>,
    s: &Schedule,
    acc: &A,
    config_hash: &str,
    seed: u64,
    with_ops: bool,
) -> Report {
    let freq = acc.freq_mhz();
    let sums = sums(m, s);
    let ops = if with_ops {
        // The engines' names label the op rows only.
        let engines = acc.resources().engines;
        sums.order
            .iter()
            .map(|&i| {
                let o = &m.ops[i];
                let slot = s.slots[i];
                let cycles = slot.end - slot.start;
                let utilization = if cycles == 0 || o.cost.mac_slots == 0 {
                    0.0
                } else {
                    o.macs as f64 / (cycles as f64 * o.cost.mac_slots as f64)
                };
                OpReport {
                    name: o.name.clone(),
                    kind: o.kind.to_string(),
                    engine: engines
                        .get(slot.engine)
                        .map_or_else(String::new, |e| e.name.to_string()),
                    mapping: o.mapping.plan.summary(),
                    start_cycle: slot.start.get(),
                    end_cycle: slot.end.get(),
                    cycles,
                    compute_cycles: o.cost.compute_cycles,
                    stall_cycles: o.cost.stall_cycles + slot.contention_cycles,
                    utilization,
                    macs: o.macs,
                    bytes: o
                        .cost
                        .bytes
                        .iter()
                        .map(|&(k, v)| (k.to_string(), v))
                        .collect(),
                    energy_j: o.cost.energy_pj * 1e-12,
                    latency_s: cycles as f64 / (freq * 1e6),
                    kernels: o.mapping.plan.kernels(),
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    let t = Totals::from_sums(&sums, s, acc);
    Report {
        total_cycles: t.total_cycles,
        compute_cycles: sums.compute,
        stall_cycles: sums.stall,
        latency_s: t.latency_s,
        energy_j: t.energy_j,
        area_mm2: t.area_mm2,
        utilization: t.utilization,
        macs: sums.macs,
        peak_memory_bytes: acc
            .dram()
            .and_then(|d| s.peak_bytes.get(d).copied())
            .unwrap_or(0),
        bytes: sums
            .bytes
            .iter()
            .map(|&(k, v)| (k.to_string(), v))
            .collect::<BTreeMap<String, u64>>(),
        ops,
        ..Report::new(
            m.workload.clone(),
            m.accelerator.clone(),
            Provenance::new(config_hash, seed),
        )
    }
}

/// The totals of [`evaluate`] (`Totals::of(&evaluate(w, acc, ..)?)`) without the report: no
/// names, no per-op rows, no string per op. An error is the one [`evaluate`] gives.
pub fn totals<A: Accelerator>(w: &Workload, acc: &A) -> Result<Totals, AccelError> {
    let lean = || -> Result<Totals, AccelError> {
        let m = map_ops(w, acc, |_, op| map_and_cost(acc, op), false)?;
        let s = schedule(&m, acc)?;
        Ok(Totals::from_sums(&sums(&m, &s), &s, acc))
    };
    // Errors name ops and the accelerator: the named run words them.
    lean().or_else(|_| evaluate_with(w, acc, "", 0, false).map(|r| Totals::of(&r)))
}

/// Runs the three stages: mapping, schedule, report.
pub fn evaluate<A: Accelerator>(
    w: &Workload,
    acc: &A,
    config_hash: &str,
    seed: u64,
) -> Result<Report, AccelError> {
    evaluate_with(w, acc, config_hash, seed, true)
}

/// [`evaluate`], listing the ops in the report only when `ops` is set (the totals are the same).
pub fn evaluate_with<A: Accelerator>(
    w: &Workload,
    acc: &A,
    config_hash: &str,
    seed: u64,
    ops: bool,
) -> Result<Report, AccelError> {
    let m = mapping(w, acc)?;
    let s = schedule(&m, acc)?;
    Ok(report_with(&m, &s, acc, config_hash, seed, ops))
}

/// The mapping and schedule stages of a per-op model, as `archsim run --stop-after
/// mapping|schedule` dumps them: the object-safe face of an [`Accelerator`] (whose plan type
/// is its family's own), so that generic code holds one without naming a plan.
pub trait Stages: Send + Sync {
    /// The mapping stage of `w` ([`mapping`]) as JSON.
    fn mapping_json(&self, w: &Workload) -> Result<serde_json::Value, AccelError>;
    /// The schedule stage of `w` ([`schedule`] of its [`mapping`]) as JSON.
    fn schedule_json(&self, w: &Workload) -> Result<serde_json::Value, AccelError>;
}

impl<A: Accelerator + Send + Sync> Stages for A {
    fn mapping_json(&self, w: &Workload) -> Result<serde_json::Value, AccelError> {
        json(&mapping(w, self)?, self)
    }
    fn schedule_json(&self, w: &Workload) -> Result<serde_json::Value, AccelError> {
        json(&schedule(&mapping(w, self)?, self)?, self)
    }
}

/// A stage as JSON (its types serialize with string keys only, so this does not fail in
/// practice; a failure is reported as the accelerator's, not a panic).
fn json<T: Serialize, A: Accelerator>(stage: &T, acc: &A) -> Result<serde_json::Value, AccelError> {
    serde_json::to_value(stage).map_err(|e| AccelError::Mapping {
        op: String::new(),
        accelerator: acc.name(),
        reason: format!("the stage does not serialize: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::systolic::{Dataflow, PoolMapping, SramKib, Systolic, SystolicConfig};
    use archsim_workloads::{zoo, DType};

    /// [`totals`] gives, bit for bit, the totals of the report [`evaluate`] builds: networks
    /// with convolutions, pooling, element-wise sums and attention, on arrays of every
    /// dataflow, with and without a DRAM limit, pooling and sums on the array or beside it.
    #[test]
    fn totals_are_the_reports() {
        let nets = [
            zoo::build("resnet18", 1, DType::Int8).unwrap(),
            zoo::build("bert_base", 1, DType::Bf16).unwrap(),
            archsim_workloads::single_gemm(128, 3072, 768, DType::Int8).unwrap(),
        ];
        let mut n = 0;
        for w in &nets {
            for (rows, cols) in [(8, 8), (32, 16), (128, 128)] {
                for dataflow in [Dataflow::Os, Dataflow::Ws, Dataflow::Is] {
                    for (bw, pool, psum) in [
                        (None, PoolMapping::Vector, false),
                        (Some(16.0), PoolMapping::Depthwise, true),
                        (Some(3.0), PoolMapping::Dense, false),
                    ] {
                        let mut c = SystolicConfig::new(rows, cols, dataflow);
                        c.dram_bw_bytes_per_cycle = bw;
                        c.pool_mapping = pool;
                        c.sum_as_psum = psum;
                        c.sram_kib = SramKib {
                            ifmap: 64,
                            filter: 32,
                            ofmap: 16,
                        };
                        c.word_bytes = w.dtype.bytes() as u32;
                        let acc = Systolic::new(c).unwrap();
                        let full = Totals::of(&evaluate(w, &acc, "", 0).unwrap());
                        let lean = totals(w, &acc).unwrap();
                        let bits = |t: &Totals| {
                            [t.latency_s, t.energy_j, t.area_mm2, t.utilization].map(f64::to_bits)
                        };
                        assert_eq!(bits(&lean), bits(&full), "{} on {}", w.name, acc.name());
                        assert_eq!(lean, full);
                        n += 1;
                    }
                }
            }
        }
        assert_eq!(n, 81);
    }
}
