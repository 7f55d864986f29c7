//! The mapping → schedule → report stages for any [`Accelerator`].

use std::collections::BTreeMap;

use serde::Serialize;

use archsim_sim::{list_schedule, OpReport, Provenance, Report, Schedule, Task};
use archsim_workloads::{NodeIndex, Workload};

use crate::{AccelError, Accelerator, Cost, OpMapping};

/// One op placed and priced.
#[derive(Debug, Clone, Serialize)]
pub struct MappedOp {
    /// Op name.
    pub name: String,
    /// Op class.
    pub kind: &'static str,
    /// Multiply-accumulates.
    pub macs: u64,
    /// Bytes of the op's output.
    pub output_bytes: u64,
    /// Where and how it runs.
    pub mapping: OpMapping,
    /// What it costs alone.
    pub cost: Cost,
    /// Indices (into [`Mapping::ops`]) of the ops it reads from.
    pub preds: Vec<usize>,
}

/// The mapping stage's output: every op of the workload, in topological order.
#[derive(Debug, Clone, Serialize)]
pub struct Mapping {
    /// Workload name.
    pub workload: String,
    /// Accelerator description.
    pub accelerator: String,
    /// Mapped ops in topological order.
    pub ops: Vec<MappedOp>,
    /// Bytes of parameters resident in off-chip memory.
    pub weight_bytes: u64,
}

/// Maps and prices every op of `w` on `acc`.
pub fn mapping(w: &Workload, acc: &dyn Accelerator) -> Result<Mapping, AccelError> {
    mapping_by(w, acc, |_, op| {
        let mapping = acc.map(op)?;
        let cost = acc.cost(op, &mapping);
        Ok((mapping, cost))
    })
}

/// [`mapping`] with each op's mapping and cost given by `plan` from its node (a model that
/// prices ops in their graph context: the GPU's framework program).
pub fn mapping_by(
    w: &Workload,
    acc: &dyn Accelerator,
    mut plan: impl FnMut(NodeIndex, &archsim_workloads::Op) -> Result<(OpMapping, Cost), AccelError>,
) -> Result<Mapping, AccelError> {
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
            name: op.name.clone(),
            kind: op.class(),
            macs: op.macs(),
            output_bytes: op.bytes_written(),
            mapping,
            cost,
            preds,
        });
    }
    Ok(Mapping {
        workload: w.name.clone(),
        accelerator: acc.name(),
        ops,
        weight_bytes: w.total_weights() * w.dtype.bytes(),
    })
}

fn petgraph_incoming() -> archsim_workloads::Direction {
    archsim_workloads::Direction::Incoming
}

/// Times the mapped ops on the accelerator's resources.
pub fn schedule(m: &Mapping, acc: &dyn Accelerator) -> Result<Schedule, AccelError> {
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
pub fn report(
    m: &Mapping,
    s: &Schedule,
    acc: &dyn Accelerator,
    config_hash: &str,
    seed: u64,
) -> Report {
    report_with(m, s, acc, config_hash, seed, true)
}

/// [`report`] with the totals alone (`ops` left empty): the same figures for a caller that
/// reads no per-op row — a search or gym step — without building one string per op.
pub fn report_totals(
    m: &Mapping,
    s: &Schedule,
    acc: &dyn Accelerator,
    config_hash: &str,
    seed: u64,
) -> Report {
    report_with(m, s, acc, config_hash, seed, false)
}

fn report_with(
    m: &Mapping,
    s: &Schedule,
    acc: &dyn Accelerator,
    config_hash: &str,
    seed: u64,
    with_ops: bool,
) -> Report {
    let freq = acc.freq_mhz();
    // The engines' names label the op rows only.
    let engines = if with_ops {
        acc.resources().engines
    } else {
        Vec::new()
    };
    let mut order: Vec<usize> = (0..m.ops.len()).collect();
    order.sort_by_key(|&i| (s.slots[i].start, i));
    // Accumulated under the levels' static names; owned keys only once, at the end.
    let mut totals: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut energy_pj = 0.0;
    let (mut compute, mut stall, mut macs) = (0u64, 0u64, 0u64);
    let ops = order
        .into_iter()
        .filter_map(|i| {
            let o = &m.ops[i];
            let slot = s.slots[i];
            let cycles = slot.end - slot.start;
            let op_stall = o.cost.stall_cycles + slot.contention_cycles;
            compute += o.cost.compute_cycles;
            stall += op_stall;
            macs += o.macs;
            energy_pj += o.cost.energy_pj;
            for &(level, b) in &o.cost.bytes {
                *totals.entry(level).or_default() += b;
            }
            if !with_ops {
                return None;
            }
            let utilization = if cycles == 0 || o.cost.mac_slots == 0 {
                0.0
            } else {
                o.macs as f64 / (cycles as f64 * o.cost.mac_slots as f64)
            };
            Some(OpReport {
                name: o.name.clone(),
                kind: o.kind.to_string(),
                engine: engines
                    .get(slot.engine)
                    .map_or_else(String::new, |e| e.name.clone()),
                mapping: o.mapping.plan.summary(),
                start_cycle: slot.start.get(),
                end_cycle: slot.end.get(),
                cycles,
                compute_cycles: o.cost.compute_cycles,
                stall_cycles: op_stall,
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
                kernels: match &o.mapping.plan {
                    crate::Plan::Gpu { kernels, .. } => kernels.clone(),
                    _ => Vec::new(),
                },
            })
        })
        .collect();
    let total_cycles = s.makespan.get();
    let units = acc.mac_units();
    Report {
        workload: m.workload.clone(),
        accelerator: m.accelerator.clone(),
        total_cycles,
        compute_cycles: compute,
        stall_cycles: stall,
        latency_s: total_cycles as f64 / (freq * 1e6),
        energy_j: energy_pj * 1e-12,
        area_mm2: acc.area_mm2(),
        utilization: if total_cycles == 0 || units == 0 {
            0.0
        } else {
            macs as f64 / (total_cycles as f64 * units as f64)
        },
        macs,
        peak_memory_bytes: acc
            .dram()
            .and_then(|d| s.peak_bytes.get(d).copied())
            .unwrap_or(0),
        fits: true,
        why_not: Vec::new(),
        bytes: totals
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        ops,
        provenance: Provenance {
            archsim_version: env!("CARGO_PKG_VERSION").to_string(),
            config_hash: config_hash.to_string(),
            seed,
        },
        llm: None,
        jobs: None,
        tasks: None,
    }
}

/// Runs the three stages: mapping, schedule, report.
pub fn evaluate(
    w: &Workload,
    acc: &dyn Accelerator,
    config_hash: &str,
    seed: u64,
) -> Result<Report, AccelError> {
    evaluate_with(w, acc, config_hash, seed, true)
}

/// [`evaluate`], listing the ops in the report only when `ops` is set (the totals are the same).
pub fn evaluate_with(
    w: &Workload,
    acc: &dyn Accelerator,
    config_hash: &str,
    seed: u64,
    ops: bool,
) -> Result<Report, AccelError> {
    let m = mapping(w, acc)?;
    let s = schedule(&m, acc)?;
    Ok(report_with(&m, &s, acc, config_hash, seed, ops))
}
