//! A reconfigurable dataflow unit after SambaNova SN40L: R. Prabhakar et al., "SambaNova SN40L:
//! Scaling the AI Memory Wall with Dataflow and Composition of Experts", MICRO 2024,
//! doi:10.1109/MICRO61859.2024.00100.
//!
//! Fidelity: [`Fidelity::Analytic`]. A grid of pattern compute units (PCUs) and pattern memory
//! units (PMUs) runs an op graph as a sequence of **sections**. Inside a section the ops are
//! placed spatially and stream tiles to each other through PMUs: a section is a pipeline whose
//! steady-state period is its slowest stage's time per tile, plus fill and drain
//! ([`pipeline_cycles`]). A section is bounded by the PCUs (at least one per op), and by the
//! PMU SRAM that double-buffers the tiles between its stages; between sections, activations
//! go through HBM. Weights stream from HBM once per section. Unfused execution (one kernel per
//! op, every intermediate through HBM, a launch overhead per kernel) is the GPU-style baseline.
//!
//! Memory tiers per socket: on-chip SRAM (520 MB), HBM (64 GB) and DDR (up to 1.5 TB). For
//! Composition of Experts, experts live in DDR and the active one is copied to HBM on a switch
//! ([`switch_seconds`]); a DGX copies from host memory over PCIe instead.
//!
//! Not modelled: the inter-RDU network beyond an even split of a switch's copy over sockets,
//! and the CoE serving comparison of the paper (an 8-socket node vs a DGX H100 serving many
//! experts).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use archsim_sim::{OpReport, Provenance, Report};
use archsim_workloads::{Op, OpKind, Workload};

use crate::{energy, AccelError, Fidelity};

/// The RDU's parameters. Values stated in the paper: 1040 PCUs and 1040 PMUs, 520 MB of SRAM,
/// 64 GB of HBM, 1.5 TB of DDR, 638 bf16 TFLOP/s per socket, 8 sockets per node. The others are
/// assumptions, named with their reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RduConfig {
    /// Fuse ops into streaming sections (default true); false runs one kernel per op.
    pub fused: bool,
    /// Pattern compute units per socket.
    pub pcus: u64,
    /// Pattern memory units per socket.
    pub pmus: u64,
    /// On-chip SRAM per socket, MB (520: 0.5 MB per PMU).
    pub sram_mb: f64,
    /// Dense bf16 peak per socket, TFLOP/s.
    pub tflops: f64,
    /// HBM bandwidth per socket, GB/s (assumed 1800: HBM3 class, not restated here from the
    /// paper).
    pub hbm_gbps: f64,
    /// DDR bandwidth per socket, GB/s (assumed 200: six DDR5 channels' order).
    pub ddr_gbps: f64,
    /// Sockets per node.
    pub sockets: u64,
    /// Clock, MHz (assumed 1600).
    pub freq_mhz: f64,
    /// Overhead of launching one kernel or section, µs (assumed 5: a host-side launch and
    /// reconfiguration of the PCUs' program, as a GPU kernel launch from an eager framework).
    pub launch_us: f64,
    /// Tokens per pipeline tile (assumed 64).
    pub tile_tokens: u64,
    /// Tiles a stage's work is cut into at least, streaming along the output features when
    /// there are few tokens (assumed 64).
    pub min_tiles: u64,
}

impl Default for RduConfig {
    fn default() -> Self {
        RduConfig {
            fused: true,
            pcus: 1040,
            pmus: 1040,
            sram_mb: 520.0,
            tflops: 638.0,
            hbm_gbps: 1800.0,
            ddr_gbps: 200.0,
            sockets: 8,
            freq_mhz: 1600.0,
            launch_us: 5.0,
            tile_tokens: 64,
            min_tiles: 64,
        }
    }
}

impl RduConfig {
    /// The model's fidelity.
    pub fn fidelity(&self) -> Fidelity {
        Fidelity::Analytic
    }

    /// Checks every value.
    pub fn validate(&self) -> Result<(), AccelError> {
        let bad = |key: &str| {
            Err(AccelError::InvalidConfig {
                key: key.into(),
                reason: "must be positive".into(),
            })
        };
        for (k, v) in [
            ("pcus", self.pcus),
            ("pmus", self.pmus),
            ("sockets", self.sockets),
            ("tile_tokens", self.tile_tokens),
            ("min_tiles", self.min_tiles),
        ] {
            if v == 0 {
                return bad(k);
            }
        }
        for (k, v) in [
            ("sram_mb", self.sram_mb),
            ("tflops", self.tflops),
            ("hbm_gbps", self.hbm_gbps),
            ("ddr_gbps", self.ddr_gbps),
            ("freq_mhz", self.freq_mhz),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(k);
            }
        }
        if !(self.launch_us.is_finite() && self.launch_us >= 0.0) {
            return bad("launch_us");
        }
        Ok(())
    }

    fn flops_per_cycle_per_pcu(&self) -> f64 {
        self.tflops * 1e12 / (self.freq_mhz * 1e6) / self.pcus as f64
    }

    fn hbm_bytes_per_cycle(&self) -> f64 {
        self.hbm_gbps * 1e9 / (self.freq_mhz * 1e6)
    }
}

/// Cycles of a pipeline of stages whose time per tile is `stage_cycles`, over `tiles` tiles:
/// the first tile crosses every stage (fill), the others follow one slowest-stage period apart
/// (drain included), `Σ tᵢ + (tiles − 1) · max tᵢ`.
pub fn pipeline_cycles(stage_cycles: &[u64], tiles: u64) -> u64 {
    if tiles == 0 || stage_cycles.is_empty() {
        return 0;
    }
    let fill: u64 = stage_cycles.iter().sum();
    let slowest = stage_cycles.iter().copied().max().unwrap_or(0);
    fill + (tiles - 1) * slowest
}

/// One section: the ops fused into one streaming pipeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Section {
    /// Names of its ops, in order.
    pub ops: Vec<String>,
    /// PCUs per stage.
    pub pcus: Vec<u64>,
    /// Cycles per tile of each stage.
    pub stage_cycles: Vec<u64>,
    /// Pipeline cycles (fill, steady state, drain).
    pub pipeline_cycles: u64,
    /// Bytes through HBM: weights, the section's inputs and its output.
    pub hbm_bytes: u64,
    /// Cycles: the longer of the pipeline and its HBM traffic, plus the launch.
    pub cycles: u64,
}

struct OpWork {
    name: String,
    kind: &'static str,
    macs: u64,
    flops: u64,
    weight_bytes: u64,
    in_bytes: u64,
    out_bytes: u64,
}

fn work(w: &Workload) -> Vec<OpWork> {
    w.topo_order()
        .into_iter()
        .map(|n| &w.graph[n])
        .filter(|op| !matches!(op.kind, OpKind::Reshape))
        .map(|op: &Op| {
            let b = op.dtype.bytes();
            let mut weight_bytes = op.weight_elems_read() * b;
            let mut in_bytes = op.input_elems() * b;
            // A decode attention's KV cache lives in HBM whatever the fusion: read it like a
            // weight; only the query streams from the previous stage.
            if let OpKind::Attention(a) = &op.kind {
                let q = a.batch * a.heads * a.q_len * a.head_dim * b;
                weight_bytes += in_bytes.saturating_sub(q);
                in_bytes = in_bytes.min(q);
            }
            OpWork {
                name: op.name.clone(),
                kind: op.class(),
                macs: op.macs(),
                flops: op.flops().max(op.vector_work()),
                weight_bytes,
                in_bytes,
                out_bytes: op.bytes_written(),
            }
        })
        .collect()
}

/// Prices a section of ops fused together on one socket, `tiles` tiles deep.
fn section(cfg: &RduConfig, ops: &[&OpWork], tiles: u64) -> Section {
    let total: u64 = ops.iter().map(|o| o.flops).sum::<u64>().max(1);
    let n = ops.len() as u64;
    let spare = cfg.pcus.saturating_sub(n);
    // Every stage gets one PCU, the rest in proportion to its FLOPs.
    let pcus: Vec<u64> = ops
        .iter()
        .map(|o| 1 + (spare as u128 * o.flops as u128 / total as u128) as u64)
        .collect();
    let per_pcu = cfg.flops_per_cycle_per_pcu();
    let stage_cycles: Vec<u64> = ops
        .iter()
        .zip(&pcus)
        .map(|(o, &p)| (o.flops as f64 / tiles as f64 / (p as f64 * per_pcu)).ceil() as u64)
        .collect();
    let pipe = pipeline_cycles(&stage_cycles, tiles);
    let weights: u64 = ops.iter().map(|o| o.weight_bytes).sum();
    let hbm =
        weights + ops.first().map_or(0, |o| o.in_bytes) + ops.last().map_or(0, |o| o.out_bytes);
    let mem = (hbm as f64 / cfg.hbm_bytes_per_cycle()).ceil() as u64;
    let launch = (cfg.launch_us * cfg.freq_mhz).round() as u64;
    Section {
        ops: ops.iter().map(|o| o.name.clone()).collect(),
        pcus,
        stage_cycles,
        pipeline_cycles: pipe,
        hbm_bytes: hbm,
        cycles: pipe.max(mem) + launch,
    }
}

/// The graph cut into fused sections: ops join the current section while every op keeps at
/// least one PCU, the double-buffered tiles between stages fit the PMUs' SRAM, and the section
/// has at most a quarter as many stages as tiles (so that fill and drain stay under a quarter
/// of the steady state).
pub fn fused_sections(cfg: &RduConfig, w: &Workload) -> Vec<Section> {
    let ops = work(w);
    let tiles = tiles_of(cfg, w);
    let sram = cfg.sram_mb * 1e6;
    let mut out = Vec::new();
    let mut cur: Vec<&OpWork> = Vec::new();
    let mut buffered = 0.0;
    let max_stages = (tiles / 4).max(1).min(cfg.pcus.min(cfg.pmus));
    for o in &ops {
        let tile_buf = 2.0 * o.out_bytes as f64 / tiles as f64;
        if !cur.is_empty() && (cur.len() as u64 + 1 > max_stages || buffered + tile_buf > sram) {
            out.push(section(cfg, &cur, tiles));
            cur.clear();
            buffered = 0.0;
        }
        cur.push(o);
        buffered += tile_buf;
    }
    if !cur.is_empty() {
        out.push(section(cfg, &cur, tiles));
    }
    out
}

/// One section per op (a kernel each, every intermediate through HBM).
pub fn unfused_sections(cfg: &RduConfig, w: &Workload) -> Vec<Section> {
    let tiles = tiles_of(cfg, w);
    work(w).iter().map(|o| section(cfg, &[o], tiles)).collect()
}

fn tiles_of(cfg: &RduConfig, w: &Workload) -> u64 {
    let tokens = w.llm.as_ref().map_or(w.batch, |l| l.batch * l.q_len);
    tokens.div_ceil(cfg.tile_tokens).max(cfg.min_tiles)
}

/// Seconds of a list of sections run one after the other on one socket.
pub fn seconds(cfg: &RduConfig, sections: &[Section]) -> f64 {
    sections.iter().map(|s| s.cycles).sum::<u64>() as f64 / (cfg.freq_mhz * 1e6)
}

/// Runs a workload on one socket (`archsim run` with `kind: rdu`): one report row per op, its
/// engine the section it belongs to (`section N`); the ops of a section share its window, as
/// they run together spatially.
pub fn evaluate(
    cfg: &RduConfig,
    w: &Workload,
    config_hash: &str,
    seed: u64,
) -> Result<Report, AccelError> {
    cfg.validate()?;
    let sections = if cfg.fused {
        fused_sections(cfg, w)
    } else {
        unfused_sections(cfg, w)
    };
    let ops = work(w);
    let by_name: BTreeMap<&str, &OpWork> = ops.iter().map(|o| (o.name.as_str(), o)).collect();
    let hz = cfg.freq_mhz * 1e6;
    let mut rows = Vec::new();
    let (mut t, mut energy_pj, mut macs, mut hbm) = (0u64, 0.0, 0u64, 0u64);
    for (id, s) in sections.iter().enumerate() {
        let sec_pj = s.hbm_bytes as f64 * energy::DRAM_PJ_PER_BYTE;
        energy_pj += sec_pj;
        hbm += s.hbm_bytes;
        for (k, name) in s.ops.iter().enumerate() {
            let Some(o) = by_name.get(name.as_str()) else {
                continue;
            };
            let op_pj = o.macs as f64 * energy::mac_pj(2);
            energy_pj += op_pj;
            macs += o.macs;
            let pcus = s.pcus.get(k).copied().unwrap_or(1);
            let peak = pcus as f64 * cfg.flops_per_cycle_per_pcu() / 2.0;
            rows.push(OpReport {
                name: name.clone(),
                kind: o.kind.to_string(),
                engine: format!("section {id}"),
                mapping: format!("{pcus} pcus, {} tiles", tiles_of(cfg, w)),
                start_cycle: t,
                end_cycle: t + s.cycles,
                cycles: s.cycles,
                compute_cycles: s.pipeline_cycles,
                stall_cycles: s.cycles - s.pipeline_cycles,
                utilization: if s.cycles == 0 {
                    0.0
                } else {
                    (o.macs as f64 / (s.cycles as f64 * peak)).min(1.0)
                },
                macs: o.macs,
                bytes: BTreeMap::new(),
                energy_j: (op_pj + sec_pj / s.ops.len().max(1) as f64) * 1e-12,
                latency_s: s.cycles as f64 / hz,
            });
        }
        t += s.cycles;
    }
    let peak_macs = cfg.tflops * 1e12 / 2.0 / hz;
    Ok(Report {
        workload: w.name.clone(),
        accelerator: format!(
            "rdu {} pcus ({})",
            cfg.pcus,
            if cfg.fused { "fused" } else { "unfused" }
        ),
        total_cycles: t,
        compute_cycles: sections.iter().map(|s| s.pipeline_cycles).sum(),
        stall_cycles: sections.iter().map(|s| s.cycles - s.pipeline_cycles).sum(),
        latency_s: t as f64 / hz,
        energy_j: energy_pj * 1e-12,
        area_mm2: 0.0,
        utilization: if t == 0 {
            0.0
        } else {
            (macs as f64 / (t as f64 * peak_macs)).min(1.0)
        },
        macs,
        peak_memory_bytes: w.total_weights() * w.dtype.bytes(),
        bytes: BTreeMap::from([("hbm".to_string(), hbm)]),
        ops: rows,
        provenance: Provenance {
            archsim_version: env!("CARGO_PKG_VERSION").to_string(),
            config_hash: config_hash.to_string(),
            seed,
        },
        llm: None,
        jobs: None,
        tasks: None,
    })
}

/// Where an expert is switched in from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SwitchSource {
    /// Already in the RDU's HBM: only the launch of its program.
    RduHbm,
    /// The RDU node's DDR to its HBM, every socket copying its tensor-parallel share.
    RduDdr,
    /// A DGX's host memory over each GPU's PCIe link.
    DgxHost {
        /// GPUs, each copying its share.
        gpus: u64,
        /// PCIe bandwidth per GPU, GB/s.
        pcie_gbps: f64,
    },
}

/// Seconds to switch to an expert of `bytes` of weights.
pub fn switch_seconds(cfg: &RduConfig, bytes: u64, from: SwitchSource) -> f64 {
    let launch = cfg.launch_us * 1e-6;
    match from {
        SwitchSource::RduHbm => launch,
        SwitchSource::RduDdr => launch + bytes as f64 / (cfg.sockets as f64 * cfg.ddr_gbps * 1e9),
        SwitchSource::DgxHost { gpus, pcie_gbps } => {
            bytes as f64 / (gpus.max(1) as f64 * pcie_gbps * 1e9)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use archsim_workloads::llm::{lower, LlmConfig, Phase};
    use archsim_workloads::DType;

    #[test]
    fn slowest_stage_sets_the_throughput() {
        // Stages of 2, 5 and 3 cycles per tile, 10 tiles: the first tile takes 2+5+3 = 10
        // cycles to cross, the other 9 leave one 5-cycle period apart: 10 + 9·5 = 55.
        assert_eq!(pipeline_cycles(&[2, 5, 3], 10), 55);
        // Speeding up a non-bottleneck stage changes only the fill.
        assert_eq!(pipeline_cycles(&[1, 5, 1], 10), 52);
        // In the steady state a tile leaves every 5 cycles.
        let period = pipeline_cycles(&[2, 5, 3], 101) - pipeline_cycles(&[2, 5, 3], 100);
        assert_eq!(period, 5);
        assert_eq!(pipeline_cycles(&[], 10), 0);
    }

    fn step(phase: Phase, batch: u64) -> Workload {
        lower(
            &LlmConfig {
                model: "llama2_7b".into(),
                phase,
                batch,
                prompt_len: 2048,
                context_len: Some(2049),
                layers: Some(4),
                tp: 1,
                moe_skew: 0.0,
            },
            DType::Bf16,
        )
        .unwrap()
    }

    #[test]
    fn fused_beats_unfused_on_prefill_and_decode() {
        let cfg = RduConfig::default();
        for w in [step(Phase::Prefill, 1), step(Phase::Decode, 16)] {
            let f = seconds(&cfg, &fused_sections(&cfg, &w));
            let u = seconds(&cfg, &unfused_sections(&cfg, &w));
            assert!(u > f, "{}: unfused {u} fused {f}", w.name);
        }
    }

    #[test]
    fn report_rows_name_their_section() {
        let w = step(Phase::Decode, 4);
        let r = evaluate(&RduConfig::default(), &w, "t", 0).unwrap();
        assert!(r.ops.iter().all(|o| o.engine.starts_with("section ")));
        assert!(r.ops.last().unwrap().engine != "section 0");
        assert!(r.total_cycles > 0 && r.energy_j > 0.0);
    }

    #[test]
    fn ddr_switch_beats_pcie_host_switch() {
        let cfg = RduConfig::default();
        let bytes = 13_476_839_424; // LLaMA-2-7B in bf16
        let hbm = switch_seconds(&cfg, bytes, SwitchSource::RduHbm);
        let ddr = switch_seconds(&cfg, bytes, SwitchSource::RduDdr);
        let host = switch_seconds(
            &cfg,
            bytes,
            SwitchSource::DgxHost {
                gpus: 8,
                pcie_gbps: 64.0,
            },
        );
        assert!(hbm < ddr && ddr < host, "{hbm} {ddr} {host}");
    }
}
