//! A roofline chip (`kind: roofline`): a hypothetical accelerator given only by its peak
//! compute per dtype, its memory bandwidth and capacity, an on-chip buffer and a per-op
//! overhead — the machine of what-if studies ("what if HBM were twice as fast?") in the
//! manner of GenZ (Bambhaniya et al., "Demystifying Platform Requirements for Diverse LLM
//! Inference Use Cases", arXiv:2406.01698, 2024) and of the roofline model (Williams,
//! Waterman and Patterson, CACM 52(4), 2009, doi:10.1145/1498765.1498785).
//!
//! Fidelity: analytic. The ops run one after the other in topological order; each takes
//!
//! ```text
//! t(op) = max(FLOPs / peak[dtype], memory bytes / bandwidth) + op_overhead_us
//! ```
//!
//! (a view — a reshape — takes nothing). Memory bytes are the traffic the op must make with
//! ideal tiling, every operand crossing the memory interface once:
//!
//! * its parameters (filters, weights, norm scales, the embedding rows it gathers);
//! * its activation inputs that come from outside the graph (graph inputs, an LLM's KV cache);
//! * an activation passed from one op to the next only when it is larger than the on-chip
//!   buffer (`buffer_mib`): the producer writes it and the consumer reads it back; a smaller
//!   one stays in the buffer;
//! * the graph's outputs, written;
//! * in an `llm:` step, the new tokens' K and V that attention appends to the KV cache.
//!
//! `latency_s` is the exact sum of the ops' times; cycles are those times at `freq_mhz`
//! (1 GHz by default: one cycle per ns), rounded. An `llm:` workload also gets its serving
//! metrics ([`crate::llm_metrics`]): TTFT, TPOT, memory against `mem_gb`, the largest batch;
//! a KV cache that overflows swaps over `host_link_gb_s` when one is given and is out of
//! memory otherwise.
//!
//! ```
//! use archsim_accelerators::family::{Context, FamilyConfig};
//! use archsim_accelerators::roofline::RooflineConfig;
//! use archsim_workloads::{zoo, DType};
//!
//! // A GEMM of 1024³ in bf16 on a chip of 100 TFLOP/s and 1,000 GB/s: 2·1024³ FLOPs take
//! // 21.47 µs; its 3·1024²·2 bytes take 6.29 µs, so it is compute-bound.
//! let cfg = RooflineConfig::new(&[("bf16", 100.0)], 1000.0, 80.0);
//! let chip = cfg.build().unwrap();
//! let w = archsim_workloads::single_gemm(1024, 1024, 1024, DType::Bf16).unwrap();
//! let ctx = Context { config_hash: "doc", seed: 0, dtype: DType::Bf16, llm: None, ops: true };
//! let r = chip.run_graph(&w, &ctx).unwrap();
//! assert!((r.latency_s - 2.0 * 1024f64.powi(3) / 100e12).abs() < 1e-15);
//! assert!(r.ops[0].mapping.starts_with("compute-bound"));
//! ```

use crate::config::KeyError;
use std::collections::BTreeMap;


use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use archsim_sim::{OpReport, Provenance, Report};
use archsim_workloads::{numel, DType, Direction, NodeIndex, OpKind, Workload};

use crate::collective::Links;
use crate::family::{Context, Family, FamilyConfig};
use crate::llm_metrics::{self, StepModel};
use crate::{energy, AccelError, MAX_FREQ_MHZ};

/// Element types a peak can be given for.
const DTYPES: [DType; 5] = [
    DType::Int8,
    DType::Fp8,
    DType::Bf16,
    DType::Fp16,
    DType::Fp32,
];

/// Energy of one byte through HBM, pJ: 3.9 pJ/bit for HBM2 (O'Connor et al., "Fine-Grained DRAM:
/// Energy-Efficient DRAM for Extreme Bandwidth Systems", MICRO 2017, Table 1), the default of
/// a roofline chip's memory (a what-if chip is an HBM-class accelerator, not a 45 nm DDR3 one).
pub const HBM_PJ_PER_BYTE: f64 = 3.9 * 8.0;

fn default_freq() -> f64 {
    1000.0
}

/// `accelerator: {kind: roofline, ...}`.
///
/// ```yaml
/// accelerator:
///   kind: roofline
///   peak_tflops: {bf16: 989, fp8: 1979}   # dense peak per dtype, TFLOP/s
///   mem_bw_gb_s: 3350                     # memory bandwidth, GB/s
///   mem_gb: 80                            # memory capacity, GB
///   buffer_mib: 50                        # on-chip buffer holding activations between ops
///   op_overhead_us: 0                     # fixed cost of every op (a kernel launch, a sync)
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RooflineConfig {
    /// Dense peak compute per element type (`int8`, `fp8`, `bf16`, `fp16`, `fp32`), TFLOP/s
    /// (TOP/s for `int8`). A workload in a type not listed is an error naming this key.
    #[schemars(extend("minProperties" = 1, "additionalProperties" = {"type": "number", "format": "double", "exclusiveMinimum": 0, "maximum": crate::ranges::MAX_TFLOPS}))]
    pub peak_tflops: BTreeMap<String, f64>,
    /// Memory bandwidth, GB/s.
    #[schemars(range(max = crate::ranges::MAX_GB_S), extend("exclusiveMinimum" = 0))]
    pub mem_bw_gb_s: f64,
    /// Memory capacity, GB.
    #[schemars(range(max = crate::ranges::MAX_GB), extend("exclusiveMinimum" = 0))]
    pub mem_gb: f64,
    /// On-chip buffer, MiB: an activation passed between two ops stays on chip when it fits
    /// (default 0: everything through memory).
    #[serde(default)]
    #[schemars(range(min = 0, max = crate::ranges::MAX_MB))]
    pub buffer_mib: f64,
    /// Fixed time added to every op, µs (default 0).
    #[serde(default)]
    #[schemars(range(min = 0, max = 1000000.0))]
    pub op_overhead_us: f64,
    /// Link to host memory, GB/s, that an overflowing KV cache swaps over (default: none, an
    /// overflowing KV cache is out of memory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = crate::ranges::MAX_GB_S), extend("exclusiveMinimum" = 0))]
    pub host_link_gb_s: Option<f64>,
    /// Link from each chip to the others of a tensor- or expert-parallel group (`workload.llm`
    /// `tp`, `ep`), GB/s per chip and direction (default: none, and a collective costs only
    /// its memory traffic). When given, a collective takes at least its transfer over the
    /// links, priced by `archsim-net`'s ideal α-β model (the faster of a ring and a one-shot
    /// exchange). An expert-parallel step needs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = crate::ranges::MAX_GB_S), extend("exclusiveMinimum" = 0))]
    pub link_gb_s: Option<f64>,
    /// Latency of one chip-to-chip hop of `link_gb_s`, µs (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000000.0))]
    pub link_latency_us: Option<f64>,
    /// Clock that turns times into cycles, MHz (default 1000).
    #[serde(default = "default_freq")]
    #[schemars(range(max = crate::ranges::MAX_FREQ_MHZ), extend("exclusiveMinimum" = 0))]
    pub freq_mhz: f64,
    /// Energy per FLOP, pJ (default: half of archsim's 45 nm MAC energy at the op's width,
    /// `energy::mac_pj`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000000000.0))]
    pub pj_per_flop: Option<f64>,
    /// Energy per byte of memory traffic, pJ (default [`HBM_PJ_PER_BYTE`], HBM2's 3.9 pJ/bit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000000000.0))]
    pub pj_per_byte: Option<f64>,
    /// Chip area to report, mm² (default 0: a roofline chip has no floorplan).
    #[serde(default)]
    #[schemars(range(min = 0, max = 1000000.0))]
    pub area_mm2: f64,
}

impl RooflineConfig {
    /// A chip with these peaks (dtype name, TFLOP/s), bandwidth (GB/s) and capacity (GB); no
    /// buffer, no overhead.
    pub fn new(peaks: &[(&str, f64)], mem_bw_gb_s: f64, mem_gb: f64) -> RooflineConfig {
        RooflineConfig {
            peak_tflops: peaks.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            mem_bw_gb_s,
            mem_gb,
            buffer_mib: 0.0,
            op_overhead_us: 0.0,
            host_link_gb_s: None,
            link_gb_s: None,
            link_latency_us: None,
            freq_mhz: default_freq(),
            pj_per_flop: None,
            pj_per_byte: None,
            area_mm2: 0.0,
        }
    }

    /// Checks every value; errors name the key relative to `accelerator`.
    pub fn validate(&self) -> Result<(), AccelError> {
        let bad = |key: String, reason: String| AccelError::InvalidConfig { key, reason };
        let in_range = |key: &str, v: f64, lo_open: f64, hi: f64| {
            if v.is_finite() && v > lo_open && v <= hi {
                Ok(())
            } else {
                Err(bad(key.into(), format!("must be in ({lo_open}, {hi}], got {v}")))
            }
        };
        if self.peak_tflops.is_empty() {
            return Err(bad(
                "peak_tflops".into(),
                "give the peak of at least one dtype, e.g. `{bf16: 989}`".into(),
            ));
        }
        for (k, &v) in &self.peak_tflops {
            if !DTYPES.iter().any(|d| d.name() == k) {
                return Err(bad(
                    format!("peak_tflops.{k}"),
                    format!(
                        "unknown dtype `{k}`; known: {}",
                        DTYPES.map(DType::name).join(", ")
                    ),
                ));
            }
            in_range(&format!("peak_tflops.{k}"), v, 0.0, 1e6)?;
        }
        in_range("mem_bw_gb_s", self.mem_bw_gb_s, 0.0, 1e7)?;
        in_range("mem_gb", self.mem_gb, 0.0, 1e6)?;
        in_range("freq_mhz", self.freq_mhz, 0.0, MAX_FREQ_MHZ)?;
        for (key, v) in [
            ("buffer_mib", self.buffer_mib),
            ("op_overhead_us", self.op_overhead_us),
            ("area_mm2", self.area_mm2),
        ] {
            if !(v.is_finite() && (0.0..=1e6).contains(&v)) {
                return Err(bad(key.into(), format!("must be in [0, 1e6], got {v}")));
            }
        }
        if let Some(l) = self.host_link_gb_s {
            in_range("host_link_gb_s", l, 0.0, 1e7)?;
        }
        if let Some(l) = self.link_gb_s {
            in_range("link_gb_s", l, 0.0, 1e7)?;
        }
        if let Some(v) = self.link_latency_us {
            if !(v.is_finite() && (0.0..=1e6).contains(&v)) {
                return Err(bad(
                    "link_latency_us".into(),
                    format!("must be in [0, 1e6], got {v}"),
                ));
            }
        }
        for (key, v) in [("pj_per_flop", self.pj_per_flop), ("pj_per_byte", self.pj_per_byte)] {
            if let Some(v) = v {
                if !(v.is_finite() && (0.0..=1e9).contains(&v)) {
                    return Err(bad(key.into(), format!("must be in [0, 1e9], got {v}")));
                }
            }
        }
        Ok(())
    }
}

impl FamilyConfig for RooflineConfig {
    const LLM_METRICS: bool = true;
    fn validate(&self) -> Result<(), AccelError> {
        RooflineConfig::validate(self)
    }
    /// `peak_tflops` at the dtype's name and `mem_gb`.
    fn datasheet(
        &self,
        dtype: archsim_workloads::DType,
    ) -> Option<Result<crate::family::Datasheet, AccelError>> {
        Some(Ok(crate::family::Datasheet {
            peak_flops: self.peak_tflops.get(dtype.name()).map(|p| p * 1e12),
            mem_bytes: self.mem_gb * 1e9,
        }))
    }
    /// An expert-parallel step spans `tp × ep` chips of one node of eight, and its
    /// all-to-alls need the links between them (`link_gb_s`).
    fn reconcile(
        &mut self,
        _given: &[String],
        workload: &archsim_workloads::WorkloadConfig,
    ) -> Result<(), KeyError> {
        crate::collective::check_expert_parallel_node(
            workload,
            crate::collective::NODE_DEVICES,
            "a node holds 8 chips",
        )?;
        match &workload.llm {
            Some(l) if l.ep > 1 && self.link_gb_s.is_none() => Err(KeyError::new(
                vec!["accelerator".into(), "link_gb_s".into()],
                format!(
                    "an expert-parallel step (workload.llm.ep = {}) sends every MoE layer's \
                     tokens between chips: give the chip-to-chip link, e.g. link_gb_s: 450",
                    l.ep
                ),
            )),
            _ => Ok(()),
        }
    }
    fn build(&self) -> Result<Box<dyn Family>, AccelError> {
        RooflineConfig::validate(self)?;
        Ok(Box::new(Roofline { cfg: self.clone() }))
    }
}

/// The roofline model of a [`RooflineConfig`].
#[derive(Debug, Clone)]
pub struct Roofline {
    cfg: RooflineConfig,
}

/// The price of one op.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct OpTime {
    /// FLOPs / peak, s.
    pub compute_s: f64,
    /// Memory bytes / bandwidth, s.
    pub memory_s: f64,
    /// A collective's transfer over `link_gb_s`, s (0 for other ops, or without links).
    pub link_s: f64,
    /// The op's time: the larger of the two plus the overhead (0 for a view), s.
    pub total_s: f64,
    /// Bytes through memory.
    pub memory_bytes: u64,
}

impl Roofline {
    /// Peak FLOP/s at `dtype`, or an error naming `peak_tflops.<dtype>`.
    pub fn peak_flops(&self, dtype: DType) -> Result<f64, AccelError> {
        self.cfg
            .peak_tflops
            .get(dtype.name())
            .map(|t| t * 1e12)
            .ok_or_else(|| AccelError::InvalidConfig {
                key: format!("peak_tflops.{}", dtype.name()),
                reason: format!(
                    "the workload runs in {} but no peak is given for it (given: {})",
                    dtype.name(),
                    self.cfg
                        .peak_tflops
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
    }

    /// Every op's price, in topological order, with its node.
    pub(crate) fn price(&self, w: &Workload) -> Result<Vec<(NodeIndex, OpTime)>, AccelError> {
        let buffer = (self.cfg.buffer_mib * 1024.0 * 1024.0) as u64;
        let bw = self.cfg.mem_bw_gb_s * 1e9;
        let overhead = self.cfg.op_overhead_us * 1e-6;
        let llm = w.llm.is_some();
        let mut out = Vec::with_capacity(w.len());
        for n in w.topo_order() {
            let op = &w.graph[n];
            if matches!(op.kind, OpKind::Reshape) {
                out.push((n, OpTime {
                    compute_s: 0.0,
                    memory_s: 0.0,
                    link_s: 0.0,
                    total_s: 0.0,
                    memory_bytes: 0,
                }));
                continue;
            }
            let b = op.dtype.bytes();
            let (mut edge_in, mut spilled_in) = (0u64, 0u64);
            for e in w.graph.edges_directed(n, Direction::Incoming) {
                edge_in += e.weight().bytes;
                if e.weight().bytes > buffer {
                    spilled_in += e.weight().bytes;
                }
            }
            let outside_in = (op.input_elems() * b).saturating_sub(edge_in);
            let written = op.bytes_written();
            let consumers = w.graph.edges_directed(n, Direction::Outgoing).count();
            let out_bytes = if written > buffer || consumers == 0 {
                written
            } else {
                0
            };
            // Attention appends the new tokens' K and V (its last two inputs, when they are
            // the new tokens' size; a program with explicit cache writes wrote them already).
            let kv_append = match &op.kind {
                OpKind::Attention(a) if llm => op
                    .inputs
                    .iter()
                    .rev()
                    .take(2)
                    .filter(|s| numel(s) == a.batch * a.kv_heads * a.q_len * a.head_dim)
                    .map(|s| numel(s) * b)
                    .sum(),
                _ => 0,
            };
            let memory_bytes =
                op.weight_elems_read() * b + outside_in + spilled_in + out_bytes + kv_append;
            let compute_s = op.flops() as f64 / self.peak_flops(op.dtype)?;
            let memory_s = memory_bytes as f64 / bw;
            let link_s = match (&op.kind, self.cfg.link_gb_s) {
                (OpKind::Collective { func, ranks }, Some(gb_s)) => Links::ideal_ring_or_one_shot(
                    gb_s,
                    self.cfg.link_latency_us.unwrap_or(1.0),
                )
                .seconds(*func, *ranks, op.collective_bytes() as f64),
                _ => 0.0,
            };
            out.push((n, OpTime {
                compute_s,
                memory_s,
                link_s,
                total_s: compute_s.max(memory_s).max(link_s) + overhead,
                memory_bytes,
            }));
        }
        Ok(out)
    }

    /// Seconds of the whole graph (the sum of its ops' times).
    pub fn seconds(&self, w: &Workload) -> Result<f64, AccelError> {
        Ok(self.price(w)?.iter().map(|(_, t)| t.total_s).sum())
    }

    fn hz(&self) -> f64 {
        self.cfg.freq_mhz * 1e6
    }
}

impl StepModel for Roofline {
    fn device_name(&self) -> String {
        Family::name(self)
    }
    fn capacity_bytes(&self) -> u64 {
        (self.cfg.mem_gb * 1e9) as u64
    }
    fn host_link_gbps(&self) -> Option<f64> {
        self.cfg.host_link_gb_s
    }
    fn mode(&self) -> String {
        "roofline".into()
    }
    fn step_seconds(
        &self,
        _step: &archsim_workloads::llm::LlmConfig,
        w: &Workload,
    ) -> Result<f64, AccelError> {
        // `run_graph` has checked the dtype's peak before pricing any step.
        Ok(self.seconds(w).unwrap_or(f64::INFINITY))
    }
}

impl Family for Roofline {
    fn name(&self) -> String {
        let peaks: Vec<String> = self
            .cfg
            .peak_tflops
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        format!(
            "roofline {} TFLOP/s, {} GB/s",
            peaks.join(" / "),
            self.cfg.mem_bw_gb_s
        )
    }

    fn area_mm2(&self) -> f64 {
        self.cfg.area_mm2
    }

    fn run_graph(&self, w: &Workload, ctx: &Context<'_>) -> Result<Report, AccelError> {
        let peak = self.peak_flops(w.dtype)?;
        let weights = w.total_weights() * w.dtype.bytes();
        let capacity = self.capacity_bytes();
        if weights > capacity {
            return Err(AccelError::OutOfMemory {
                accelerator: Family::name(self),
                reason: format!(
                    "{:.2} GB of weights, {:.2} GB of memory (accelerator.mem_gb)",
                    weights as f64 / 1e9,
                    self.cfg.mem_gb
                ),
            });
        }
        let serving = match ctx.llm {
            Some(l) => {
                self.peak_flops(ctx.dtype)?;
                Some(llm_metrics::metrics(self, l, ctx.dtype)?)
            }
            None => None,
        };
        let hz = self.hz();
        let pj_byte = self.cfg.pj_per_byte.unwrap_or(HBM_PJ_PER_BYTE);
        let mut rows = Vec::with_capacity(w.len());
        let (mut t, mut energy_pj, mut macs, mut mem) = (0.0f64, 0.0f64, 0u64, 0u64);
        let (mut compute_cycles, mut stall_cycles) = (0u64, 0u64);
        for (n, p) in self.price(w)? {
            let op = &w.graph[n];
            let pj_flop = self
                .cfg
                .pj_per_flop
                .unwrap_or_else(|| energy::mac_pj(op.dtype.bytes() as u32) / 2.0);
            let op_pj = op.flops() as f64 * pj_flop + p.memory_bytes as f64 * pj_byte;
            let (start, end) = ((t * hz).round() as u64, ((t + p.total_s) * hz).round() as u64);
            let cycles = end - start;
            let compute = ((p.compute_s * hz).round() as u64).min(cycles);
            let op_peak = self.peak_flops(op.dtype)?;
            let bound = if p.total_s == 0.0 {
                "view".to_string()
            } else if p.link_s > p.compute_s.max(p.memory_s) {
                format!(
                    "link-bound {:.3} us (memory {:.3} us)",
                    p.link_s * 1e6,
                    p.memory_s * 1e6
                )
            } else if p.compute_s >= p.memory_s {
                format!(
                    "compute-bound {:.3} us (memory {:.3} us)",
                    p.compute_s * 1e6,
                    p.memory_s * 1e6
                )
            } else {
                format!(
                    "memory-bound {:.3} us (compute {:.3} us)",
                    p.memory_s * 1e6,
                    p.compute_s * 1e6
                )
            };
            rows.push(OpReport {
                name: op.name.clone(),
                kind: op.class().to_string(),
                engine: "roofline".into(),
                mapping: bound,
                start_cycle: start,
                end_cycle: end,
                cycles,
                compute_cycles: compute,
                stall_cycles: cycles - compute,
                utilization: if p.total_s > 0.0 {
                    (op.flops() as f64 / (p.total_s * op_peak)).min(1.0)
                } else {
                    0.0
                },
                macs: op.macs(),
                bytes: BTreeMap::from([("dram".to_string(), p.memory_bytes)]),
                energy_j: op_pj * 1e-12,
                latency_s: p.total_s,
                kernels: Vec::new(),
            });
            t += p.total_s;
            energy_pj += op_pj;
            macs += op.macs();
            mem += p.memory_bytes;
            compute_cycles += compute;
            stall_cycles += cycles - compute;
        }
        let flops: u64 = w.ops().map(|o| o.flops()).sum();
        Ok(Report {
            total_cycles: (t * hz).round() as u64,
            compute_cycles,
            stall_cycles,
            latency_s: t,
            energy_j: energy_pj * 1e-12,
            area_mm2: self.cfg.area_mm2,
            utilization: if t > 0.0 {
                (flops as f64 / (t * peak)).min(1.0)
            } else {
                0.0
            },
            macs,
            peak_memory_bytes: weights + llm_metrics::activation_bytes(w),
            bytes: BTreeMap::from([("dram".to_string(), mem)]),
            ops: rows,
            ..Report::new(
                w.name.clone(),
                Family::name(self),
                Provenance::new(ctx.config_hash, ctx.seed),
            )
        }
        .with_llm(serving))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use archsim_workloads::single_gemm;
    use archsim_workloads::llm::{LlmConfig, Phase};

    fn ctx(dtype: DType) -> Context<'static> {
        Context {
            config_hash: "t",
            seed: 0,
            dtype,
            llm: None,
            ops: true,
        }
    }

    /// A square GEMM of side n in bf16 does 2n³ FLOPs over 3n² elements of 2 bytes: its
    /// intensity is n/3 FLOP/byte. At 300 TFLOP/s and 1,000 GB/s the ridge is at 300 FLOP/byte,
    /// n = 900.
    #[test]
    fn a_gemm_sweep_follows_the_hand_computed_roofline_with_the_ridge_at_n_900() {
        let chip = Roofline {
            cfg: RooflineConfig::new(&[("bf16", 300.0)], 1000.0, 80.0),
        };
        let (peak, bw) = (300e12, 1000e9);
        for n in [64u64, 128, 300, 600, 899, 900, 901, 1200, 2048, 4096, 8192] {
            let w = single_gemm(n, n, n, DType::Bf16).unwrap();
            let r = chip.run_graph(&w, &ctx(DType::Bf16)).unwrap();
            let flops = 2.0 * (n * n * n) as f64;
            let bytes = 3.0 * (n * n) as f64 * 2.0;
            let hand = (flops / peak).max(bytes / bw);
            assert!(
                ((r.latency_s - hand) / hand).abs() < 1e-12,
                "n {n}: {} vs {hand}",
                r.latency_s
            );
            assert_eq!(r.bytes["dram"], 3 * n * n * 2, "n {n}");
            let bound = &r.ops[0].mapping;
            if n < 900 {
                assert!(bound.starts_with("memory-bound"), "n {n}: {bound}");
            } else {
                assert!(bound.starts_with("compute-bound"), "n {n}: {bound}");
            }
        }
        // At the ridge both roofs meet exactly.
        let p = chip.price(&single_gemm(900, 900, 900, DType::Bf16).unwrap()).unwrap();
        assert_eq!(p[0].1.compute_s, p[0].1.memory_s);
        assert_eq!(p[0].1.compute_s, 2.0 * 900f64.powi(3) / peak);
    }

    #[test]
    fn overhead_is_added_per_op_and_a_missing_dtype_names_its_key() {
        let mut cfg = RooflineConfig::new(&[("bf16", 300.0)], 1000.0, 80.0);
        cfg.op_overhead_us = 5.0;
        let chip = Roofline { cfg };
        let w = single_gemm(64, 64, 64, DType::Bf16).unwrap();
        let r = chip.run_graph(&w, &ctx(DType::Bf16)).unwrap();
        let hand = (3.0 * 64.0 * 64.0 * 2.0) / 1000e9 + 5e-6;
        assert!(((r.latency_s - hand) / hand).abs() < 1e-12);
        let w8 = single_gemm(64, 64, 64, DType::Int8).unwrap();
        match chip.run_graph(&w8, &ctx(DType::Int8)) {
            Err(AccelError::InvalidConfig { key, .. }) => assert_eq!(key, "peak_tflops.int8"),
            other => panic!("{other:?}"),
        }
    }

    fn decode(batch: u64, context: u64) -> LlmConfig {
        LlmConfig {
            model: "llama2_7b".into(),
            phase: Phase::Decode,
            batch,
            prompt_len: context - 1,
            context_len: Some(context),
            layers: None,
            tp: 1,
            moe_skew: 0.0,
            // An engine's program: the hand count below has no PyTorch cache copies.
            framework: archsim_workloads::Framework::Fused,
            ..Default::default()
        }
    }

    /// LLaMA-2-7B decode on an H100-like roofline: every byte of the weights and of the KV
    /// cache crosses the memory once per token, so the step takes (weights + KV) / bandwidth.
    #[test]
    fn llama2_7b_decode_is_weights_plus_kv_cache_over_bandwidth() {
        let mut cfg = RooflineConfig::new(&[("bf16", 989.0)], 3350.0, 80.0);
        cfg.buffer_mib = 50.0;
        let chip = Roofline { cfg };
        for (batch, context) in [(1u64, 2048u64), (8, 4096), (32, 1024)] {
            let l = decode(batch, context);
            let w = archsim_workloads::llm::lower(&l, DType::Bf16).unwrap();
            let c = Context {
                llm: Some(&l),
                ops: true,
                ..ctx(DType::Bf16)
            };
            let r = chip.run_graph(&w, &c).unwrap();
            // Hand count: 6.74 B parameters in bf16, of which the embedding table (32,000 ×
            // 4,096) is only gathered (one row per sequence), and 2 (K, V) × 32 layers × 4,096
            // × 2 bytes per cached token.
            let weights = w.total_weights() as f64 * 2.0;
            assert!((weights / 2.0 - 6.74e9).abs() / 6.74e9 < 0.01, "{weights}");
            let table = (32_000 * 4096 * 2) as f64;
            let gathered = (batch * 4096 * 2) as f64;
            let kv = (2 * 32 * 4096 * 2 * batch * context) as f64;
            let hand = (weights - table + gathered + kv) / 3350e9;
            let err = (r.latency_s - hand) / hand;
            assert!(err.abs() < 2e-3, "b{batch} ctx{context}: {} vs {hand} ({err:+.2e})", r.latency_s);
            // Every product is memory-bound at these batches.
            for o in r.ops.iter().filter(|o| o.macs > 0) {
                assert!(o.mapping.starts_with("memory-bound"), "{}: {}", o.name, o.mapping);
            }
            let s = r.llm.expect("serving metrics");
            assert_eq!(s.tpot_s, chip.seconds(&w).unwrap());
            assert!(s.ttft_s > 0.0 && s.memory.fits);
        }
    }

    #[test]
    fn twice_the_bandwidth_halves_a_memory_bound_decode() {
        let l = decode(1, 2048);
        let w = archsim_workloads::llm::lower(&l, DType::Bf16).unwrap();
        let t = |bw: f64| {
            let mut cfg = RooflineConfig::new(&[("bf16", 989.0)], bw, 80.0);
            cfg.buffer_mib = 50.0;
            Roofline { cfg }.seconds(&w).unwrap()
        };
        let ratio = t(3350.0) / t(6700.0);
        assert!((ratio - 2.0).abs() < 1e-3, "{ratio}");
    }

    #[test]
    fn a_kv_cache_that_does_not_fit_is_out_of_memory_without_a_host_link() {
        let chip = Roofline {
            cfg: RooflineConfig::new(&[("bf16", 989.0)], 3350.0, 80.0),
        };
        let l = decode(128, 4096);
        let w = archsim_workloads::llm::lower(&l, DType::Bf16).unwrap();
        let c = Context {
            llm: Some(&l),
            ops: true,
            ..ctx(DType::Bf16)
        };
        assert!(matches!(
            chip.run_graph(&w, &c),
            Err(AccelError::OutOfMemory { .. })
        ));
        let mut cfg = RooflineConfig::new(&[("bf16", 989.0)], 3350.0, 80.0);
        cfg.host_link_gb_s = Some(64.0);
        let r = Roofline { cfg }.run_graph(&w, &c).unwrap();
        let s = r.llm.unwrap();
        assert!(s.kv_swap.is_some() && !s.memory.fits);
    }

    #[test]
    fn bad_values_name_their_key() {
        let mut cfg = RooflineConfig::new(&[("bf17", 1.0)], 1000.0, 80.0);
        let key = |c: &RooflineConfig| match c.validate() {
            Err(AccelError::InvalidConfig { key, .. }) => key,
            other => panic!("{other:?}"),
        };
        assert_eq!(key(&cfg), "peak_tflops.bf17");
        cfg = RooflineConfig::new(&[("bf16", 1.0)], -1.0, 80.0);
        assert_eq!(key(&cfg), "mem_bw_gb_s");
        cfg = RooflineConfig::new(&[("bf16", 1.0)], 1.0, 80.0);
        cfg.buffer_mib = f64::NAN;
        assert_eq!(key(&cfg), "buffer_mib");
    }
}
