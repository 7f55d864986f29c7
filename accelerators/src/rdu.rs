//! A reconfigurable dataflow unit after SambaNova SN40L: R. Prabhakar et al., "SambaNova SN40L:
//! Scaling the AI Memory Wall with Dataflow and Composition of Experts", MICRO 2024,
//! doi:10.1109/MICRO61859.2024.00100.
//!
//! Fidelity: [`Fidelity::Analytic`]. A grid of pattern compute units (PCUs) and pattern memory
//! units (PMUs) runs an op graph as a sequence of **kernels** (sections). Inside a kernel the
//! ops are placed spatially and stream tiles to each other through PMUs: a kernel is a pipeline
//! whose stages are its HBM traffic, its ops and its collectives, and whose time is
//! `Σ stage + (tiles − 1) · slowest stage` ([`pipeline_cycles`]: fill, steady state, drain).
//! A kernel is bounded by the PCUs (at least one per op), by the PMU SRAM that double-buffers
//! the tiles between its stages, and by its fill (at most a quarter as many stages as tiles);
//! between kernels, activations go through HBM. Weights (and a decode's KV cache) stream from
//! HBM once per kernel, at the sustained fraction of HBM bandwidth the paper reports.
//!
//! **Kernel launch.** A launch is Program Load, Argument Load and Kernel Execute (§IV-D of the
//! paper). Software orchestration issues them from the host for every kernel
//! ([`RduConfig::sw_launch_us`]); hardware orchestration runs a static schedule from the AGCUs
//! ([`RduConfig::hw_launch_us`]). A program is loaded only when a kernel differs from the one
//! before it ([`RduConfig::program_load_us`]): a model of identical decoder layers fused one
//! layer per kernel loads its program once.
//!
//! **Unfused baseline** (the paper's, §VI-A): every framework op is its own kernel,
//! software-orchestrated, its inputs and output materialized in HBM; the op alone still gets the
//! whole chip. **Fused**: ops grouped into kernels as above, hardware-orchestrated by default.
//!
//! **Multi-socket.** A tensor-parallel workload (`llm: {tp: N}`) is one socket's shard; its
//! collectives run over the peer-to-peer network between sockets ([`collective_seconds`]:
//! ring or one-shot, whichever is faster, with a link bandwidth and latency per hop, priced
//! by `archsim-net`). Fused, a collective is a stage of its kernel (the paper streams P2P
//! traffic inside kernels); unfused, it is a kernel of its own.
//!
//! Memory tiers per socket: on-chip SRAM (520 MB), HBM (64 GiB) and DDR (up to 1.5 TiB). For
//! Composition of Experts, experts live in DDR and the active one is copied to HBM on a switch
//! ([`switch_seconds`]); a DGX copies from host memory over PCIe instead. Serving a CoE on a
//! node vs a DGX is in [`crate::coe`].
//!
//! Not modelled: place-and-route limits inside a kernel, PMU bank conflicts and on-chip network
//! congestion (the paper's §VII), and DDR spills of activations.

use crate::config::KeyError;
use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use archsim_sim::{OpReport, Provenance, Report};
use crate::collective::Links;
use archsim_workloads::{CollectiveFunc, Op, OpKind, Workload};

use crate::{energy, AccelError, Fidelity};

/// Who schedules the kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Orchestration {
    /// The AGCUs run a static kernel schedule on the device (the paper's "HO").
    #[default]
    Hardware,
    /// The host issues every kernel's launch commands (the paper's "SO").
    Software,
}

/// The RDU's parameters. Values stated in the paper (Table II, §I, §VI): 1040 PCUs and 1040
/// PMUs, 520 MB of SRAM, 64 GiB of HBM at 1.8 TB/s, 1.5 TiB of DDR at 200 GB/s, 638 bf16
/// TFLOP/s per socket, 8 sockets per node, over 85% of HBM bandwidth sustained by fused
/// kernels. The others are assumptions, named with their reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RduConfig {
    /// Fuse ops into streaming kernels (default true); false runs one kernel per op,
    /// software-orchestrated (the paper's unfused baseline).
    pub fused: bool,
    /// Who schedules the fused kernels (`hardware`, default, or `software`).
    pub orchestration: Orchestration,
    /// Pattern compute units per socket.
    #[schemars(range(min = 1, max = 16777216))]
    pub pcus: u64,
    /// Pattern memory units per socket.
    #[schemars(range(min = 1, max = 16777216))]
    pub pmus: u64,
    /// On-chip SRAM per socket, MB (520: 0.5 MB per PMU).
    #[schemars(range(max = crate::ranges::MAX_MB), extend("exclusiveMinimum" = 0))]
    pub sram_mb: f64,
    /// Dense bf16 peak per socket, TFLOP/s.
    #[schemars(range(min = crate::ranges::MIN_TFLOPS, max = crate::ranges::MAX_TFLOPS))]
    pub tflops: f64,
    /// HBM bandwidth per socket, GB/s (Table II: 1.8 TB/s).
    #[schemars(range(min = crate::ranges::MIN_GB_S, max = crate::ranges::MAX_GB_S))]
    pub hbm_gbps: f64,
    /// HBM capacity per socket, GB (64 GiB).
    #[schemars(range(max = crate::ranges::MAX_GB), extend("exclusiveMinimum" = 0))]
    pub hbm_gb: f64,
    /// Fraction of HBM bandwidth a streaming kernel sustains (§VI-B: "over 85%").
    #[schemars(range(min = 0.01, max = 1))]
    pub hbm_efficiency: f64,
    /// DDR bandwidth per socket, GB/s (Table II: 200 GB/s).
    #[schemars(range(min = crate::ranges::MIN_GB_S, max = crate::ranges::MAX_GB_S))]
    pub ddr_gbps: f64,
    /// DDR capacity per socket, GB (1.5 TiB).
    #[schemars(range(max = crate::ranges::MAX_GB), extend("exclusiveMinimum" = 0))]
    pub ddr_gb: f64,
    /// Fraction of DDR bandwidth a DDR-to-HBM copy sustains (assumed 0.7: DDR5 streaming reads
    /// sustain 70-80% of peak; 8 x 200 x 0.7 = 1.12 TB/s per node, as the paper's "over 1 TB/s"
    /// measured).
    #[schemars(range(min = 0.01, max = 1))]
    pub ddr_efficiency: f64,
    /// Sockets per node.
    #[schemars(range(min = 1, max = 16777216))]
    pub sockets: u64,
    /// Clock, MHz (assumed 1600; the paper says "< 2 GHz"; only sets the cycle unit).
    #[schemars(range(min = crate::ranges::MIN_FREQ_MHZ, max = crate::ranges::MAX_FREQ_MHZ))]
    pub freq_mhz: f64,
    /// Host-side cost of one software-orchestrated kernel launch, µs (assumed 20: the measured
    /// cost of dispatching one kernel from eager PyTorch on the H100 reference host,
    /// `EAGER_SMALL_KERNEL_US` = 20.6 µs; the unfused baseline runs every PyTorch op as a
    /// host-issued kernel).
    #[schemars(range(min = 0, max = crate::ranges::MAX_US))]
    pub sw_launch_us: f64,
    /// Gap between hardware-orchestrated kernels, µs (assumed 1: an AGCU command sequence and a
    /// tile-wide barrier on the device, no host round trip).
    #[schemars(range(min = 0, max = crate::ranges::MAX_US))]
    pub hw_launch_us: f64,
    /// Loading a kernel's program into the PCUs, PMUs and switches, µs, paid when a kernel
    /// differs from the previous one (assumed 5: a few MB of configuration for ~2,000 units and
    /// their switches, streamed from device memory, plus a barrier; not published).
    #[schemars(range(min = 0, max = crate::ranges::MAX_US))]
    pub program_load_us: f64,
    /// Peer-to-peer bandwidth per socket to the other sockets, GB/s, one direction (assumed
    /// 100: not published; of the order of a few PCIe Gen5 x16 links).
    #[schemars(range(min = crate::ranges::MIN_GB_S, max = crate::ranges::MAX_GB_S))]
    pub p2p_gbps: f64,
    /// Latency of one peer-to-peer hop, µs (assumed 2: a SerDes link plus the AGCUs at both
    /// ends, a PCIe-class round).
    #[schemars(range(min = 0, max = crate::ranges::MAX_US))]
    pub p2p_latency_us: f64,
    /// Tokens per pipeline tile (assumed 64).
    #[schemars(range(min = 1, max = 16777216))]
    pub tile_tokens: u64,
    /// Tiles a stage's work is cut into at least, streaming along the output features when
    /// there are few tokens (assumed 64).
    #[schemars(range(min = 1, max = 16777216))]
    pub min_tiles: u64,
}

impl Default for RduConfig {
    fn default() -> Self {
        RduConfig {
            fused: true,
            orchestration: Orchestration::Hardware,
            pcus: 1040,
            pmus: 1040,
            sram_mb: 520.0,
            tflops: 638.0,
            hbm_gbps: 1800.0,
            hbm_gb: 68.719_476_736,
            hbm_efficiency: 0.85,
            ddr_gbps: 200.0,
            ddr_gb: 1_649.267_441_664,
            ddr_efficiency: 0.7,
            sockets: 8,
            freq_mhz: 1600.0,
            sw_launch_us: 20.0,
            hw_launch_us: 1.0,
            program_load_us: 5.0,
            p2p_gbps: 100.0,
            p2p_latency_us: 2.0,
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
        let bad = |key: &str, reason: &str| {
            Err(AccelError::InvalidConfig {
                key: key.into(),
                reason: reason.into(),
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
                return bad(k, "must be positive");
            }
            if v > 1 << 24 {
                return bad(k, "must be at most 16777216");
            }
        }
        for (k, v) in [
            ("sram_mb", self.sram_mb),
            ("tflops", self.tflops),
            ("hbm_gbps", self.hbm_gbps),
            ("hbm_gb", self.hbm_gb),
            ("ddr_gbps", self.ddr_gbps),
            ("ddr_gb", self.ddr_gb),
            ("freq_mhz", self.freq_mhz),
            ("p2p_gbps", self.p2p_gbps),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(k, "must be positive");
            }
        }
        for (k, v) in [
            ("hbm_efficiency", self.hbm_efficiency),
            ("ddr_efficiency", self.ddr_efficiency),
        ] {
            if !(v.is_finite() && (0.01..=1.0).contains(&v)) {
                return bad(k, "must be in [0.01, 1]");
            }
        }
        for (k, v) in [
            ("sw_launch_us", self.sw_launch_us),
            ("hw_launch_us", self.hw_launch_us),
            ("program_load_us", self.program_load_us),
            ("p2p_latency_us", self.p2p_latency_us),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(k, "must be zero or positive");
            }
            if v > 1e9 {
                return bad(k, "must be at most 1e9 µs");
            }
        }
        if self.freq_mhz > crate::MAX_FREQ_MHZ {
            return bad("freq_mhz", "must be at most 100000 (100 GHz)");
        }
        Ok(())
    }

    fn hz(&self) -> f64 {
        self.freq_mhz * 1e6
    }

    fn flops_per_cycle_per_pcu(&self) -> f64 {
        self.tflops * 1e12 / self.hz() / self.pcus as f64
    }

    /// Sustained HBM bytes per cycle of a streaming kernel.
    fn hbm_bytes_per_cycle(&self) -> f64 {
        self.hbm_gbps * 1e9 * self.hbm_efficiency / self.hz()
    }

    fn us_cycles(&self, us: f64) -> u64 {
        (us * self.freq_mhz).round() as u64
    }

    /// Sustained DDR-to-HBM copy bandwidth of the whole node, bytes/s.
    pub fn node_ddr_to_hbm_bytes_per_s(&self) -> f64 {
        self.sockets as f64 * self.ddr_gbps * 1e9 * self.ddr_efficiency
    }
}

/// Cycles of a pipeline of stages whose time per tile is `stage_cycles`, over `tiles` tiles:
/// the first tile crosses every stage (fill), the others follow one slowest-stage period apart
/// (drain included), `Σ tᵢ + (tiles − 1) · max tᵢ`.
pub fn pipeline_cycles(stage_cycles: &[u64], tiles: u64) -> u64 {
    if tiles == 0 || stage_cycles.is_empty() {
        return 0;
    }
    // Saturating: a design at the edge of its bounds (a 1 MFLOP/s socket) must not wrap.
    let fill = stage_cycles.iter().fold(0u64, |a, &c| a.saturating_add(c));
    let slowest = stage_cycles.iter().copied().max().unwrap_or(0);
    fill.saturating_add((tiles - 1).saturating_mul(slowest))
}

/// Seconds of a collective over `ranks` sockets on `bytes` of tensor (the reduced tensor for
/// an all-reduce, the gathered one for an all-gather), priced by `archsim-net` on sockets each
/// one hop from every other (`p2p_gbps` per direction, `p2p_latency_us` per hop) under the
/// ideal α-β model: the faster of a ring ([`archsim_net::Algorithm::Ring`], `2(p−1)` hops of
/// `bytes/p` for an all-reduce, `p−1` for an all-gather) and a one-shot exchange
/// ([`archsim_net::Algorithm::Direct`]: every socket sends its share to every other at once,
/// one hop of latency).
pub fn collective_seconds(cfg: &RduConfig, func: CollectiveFunc, ranks: u64, bytes: u64) -> f64 {
    Links::ideal_ring_or_one_shot(cfg.p2p_gbps, cfg.p2p_latency_us).seconds(
        func,
        ranks,
        bytes as f64,
    )
}

/// One kernel: the ops fused into one streaming pipeline (one op, unfused).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Section {
    /// Names of its ops, in order.
    pub ops: Vec<String>,
    /// PCUs per op (0 for a collective, which runs on the AGCUs' peer-to-peer links).
    pub pcus: Vec<u64>,
    /// Cycles per tile of each stage: the HBM traffic first, then each op.
    pub stage_cycles: Vec<u64>,
    /// Tiles streamed through the pipeline.
    pub tiles: u64,
    /// Pipeline cycles (fill, steady state, drain), plus the collectives' link latency.
    pub pipeline_cycles: u64,
    /// Bytes through HBM: weights (and KV cache), the kernel's inputs and its output.
    pub hbm_bytes: u64,
    /// Launch cycles (software or hardware orchestration).
    pub launch_cycles: u64,
    /// Program-load cycles (0 when the previous kernel had the same program).
    pub program_load_cycles: u64,
    /// Cycles: pipeline, launch and program load.
    pub cycles: u64,
}

/// What identifies a kernel stage's program: kind, FLOPs, weight, input and output bytes.
type Program = (&'static str, u64, u64, u64, u64);

struct OpWork {
    name: String,
    kind: &'static str,
    macs: u64,
    flops: u64,
    weight_bytes: u64,
    in_bytes: u64,
    out_bytes: u64,
    /// A collective's function, ranks and buffer (`Op::collective_bytes`).
    collective: Option<(CollectiveFunc, u64, u64)>,
}

impl OpWork {
    /// What makes two ops the same program: kind, work and traffic (not the name).
    fn program(&self) -> Program {
        (
            self.kind,
            self.flops,
            self.weight_bytes,
            self.in_bytes,
            self.out_bytes,
        )
    }
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
            let collective = match op.kind {
                OpKind::Collective { func, ranks } => Some((func, ranks, op.collective_bytes())),
                _ => None,
            };
            OpWork {
                name: op.name.clone(),
                kind: op.class(),
                macs: op.macs(),
                flops: if collective.is_some() {
                    0
                } else {
                    op.flops().max(op.vector_work())
                },
                weight_bytes,
                in_bytes,
                out_bytes: op.bytes_written(),
                collective,
            }
        })
        .collect()
}

/// Prices a kernel of `ops` on one socket, `tiles` tiles deep, without its launch: stage 0 is
/// its HBM traffic at the sustained bandwidth, then one stage per op (PCUs split in proportion
/// to the ops' FLOPs, at least one each; a collective streams over the peer-to-peer links).
fn price(cfg: &RduConfig, ops: &[&OpWork], tiles: u64) -> Section {
    let total: u64 = ops.iter().map(|o| o.flops).sum::<u64>().max(1);
    let computing = ops.iter().filter(|o| o.collective.is_none()).count() as u64;
    let spare = cfg.pcus.saturating_sub(computing);
    let pcus: Vec<u64> = ops
        .iter()
        .map(|o| match o.collective {
            Some(_) => 0,
            None => 1 + (spare as u128 * o.flops as u128 / total as u128) as u64,
        })
        .collect();
    let hz = cfg.hz();
    let weights: u64 = ops.iter().map(|o| o.weight_bytes).sum();
    let hbm =
        weights + ops.first().map_or(0, |o| o.in_bytes) + ops.last().map_or(0, |o| o.out_bytes);
    let per_pcu = cfg.flops_per_cycle_per_pcu();
    let mut stage_cycles =
        vec![(hbm as f64 / tiles as f64 / cfg.hbm_bytes_per_cycle()).ceil() as u64];
    let mut latency = 0u64;
    for (o, &p) in ops.iter().zip(&pcus) {
        match o.collective {
            Some((func, ranks, bytes)) => {
                // The bandwidth term streams tile by tile; the hops' latency is paid once.
                let with = collective_seconds(cfg, func, ranks, bytes);
                let lat = collective_seconds(cfg, func, ranks, 0);
                stage_cycles.push(((with - lat) * hz / tiles as f64).ceil() as u64);
                latency += (lat * hz).round() as u64;
            }
            None => stage_cycles
                .push((o.flops as f64 / tiles as f64 / (p as f64 * per_pcu)).ceil() as u64),
        }
    }
    let pipe = pipeline_cycles(&stage_cycles, tiles) + latency;
    Section {
        ops: ops.iter().map(|o| o.name.clone()).collect(),
        pcus,
        stage_cycles,
        tiles,
        pipeline_cycles: pipe,
        hbm_bytes: hbm,
        launch_cycles: 0,
        program_load_cycles: 0,
        cycles: pipe,
    }
}

/// Adds each kernel's launch and, where its program differs from the previous kernel's, its
/// program load.
fn launch(
    cfg: &RduConfig,
    groups: &[Vec<&OpWork>],
    tiles: u64,
    orch: Orchestration,
) -> Vec<Section> {
    let launch = cfg.us_cycles(match orch {
        Orchestration::Hardware => cfg.hw_launch_us,
        Orchestration::Software => cfg.sw_launch_us,
    });
    let load = cfg.us_cycles(cfg.program_load_us);
    let mut prev: Option<Vec<Program>> = None;
    groups
        .iter()
        .map(|g| {
            let mut s = price(cfg, g, tiles);
            let program: Vec<_> = g.iter().map(|o| o.program()).collect();
            s.launch_cycles = launch;
            s.program_load_cycles = if prev.as_ref() == Some(&program) {
                0
            } else {
                load
            };
            s.cycles = s.pipeline_cycles + s.launch_cycles + s.program_load_cycles;
            prev = Some(program);
            s
        })
        .collect()
}

/// The graph cut into fused kernels, launched as `cfg.orchestration` says: ops join the
/// current kernel while every op keeps at least one PCU, the double-buffered tiles between
/// stages fit the PMUs' SRAM, and the kernel has at most a quarter as many stages as tiles (so
/// that fill and drain stay under a quarter of the steady state).
pub fn fused_sections(cfg: &RduConfig, w: &Workload) -> Vec<Section> {
    let ops = work(w);
    let tiles = tiles_of(cfg, w);
    let sram = cfg.sram_mb * 1e6;
    let mut groups: Vec<Vec<&OpWork>> = Vec::new();
    let mut cur: Vec<&OpWork> = Vec::new();
    let mut buffered = 0.0;
    let max_stages = (tiles / 4).max(1).min(cfg.pcus.min(cfg.pmus));
    for o in &ops {
        let tile_buf = 2.0 * o.out_bytes as f64 / tiles as f64;
        if !cur.is_empty() && (cur.len() as u64 + 1 > max_stages || buffered + tile_buf > sram) {
            groups.push(std::mem::take(&mut cur));
            buffered = 0.0;
        }
        cur.push(o);
        buffered += tile_buf;
    }
    if !cur.is_empty() {
        groups.push(cur);
    }
    launch(cfg, &groups, tiles, cfg.orchestration)
}

/// The paper's unfused baseline: one software-orchestrated kernel per op, every intermediate
/// through HBM, each kernel with the whole chip to itself.
pub fn unfused_sections(cfg: &RduConfig, w: &Workload) -> Vec<Section> {
    let ops = work(w);
    let tiles = tiles_of(cfg, w);
    let groups: Vec<Vec<&OpWork>> = ops.iter().map(|o| vec![o]).collect();
    launch(cfg, &groups, tiles, Orchestration::Software)
}

fn tiles_of(cfg: &RduConfig, w: &Workload) -> u64 {
    let tokens = w.llm.as_ref().map_or(w.batch, |l| l.batch * l.q_len);
    tokens.div_ceil(cfg.tile_tokens).max(cfg.min_tiles)
}

/// Seconds of a list of kernels run one after the other on one socket (every socket of a
/// tensor-parallel group runs its shard in lockstep).
pub fn seconds(cfg: &RduConfig, sections: &[Section]) -> f64 {
    sections.iter().map(|s| s.cycles).sum::<u64>() as f64 / cfg.hz()
}

/// Seconds of `w` on one socket, fused or not as `cfg.fused` says.
pub fn workload_seconds(cfg: &RduConfig, w: &Workload) -> f64 {
    if cfg.fused {
        seconds(cfg, &fused_sections(cfg, w))
    } else {
        seconds(cfg, &unfused_sections(cfg, w))
    }
}

/// Runs a workload on one socket (`archsim run` with `kind: rdu`): one report row per op, its
/// engine the kernel it belongs to (`section N`); the ops of a kernel share its window, as
/// they run together spatially. Compute cycles are the pipeline's; stall cycles are the
/// launch and program load.
pub fn evaluate(
    cfg: &RduConfig,
    w: &Workload,
    config_hash: &str,
    seed: u64,
) -> Result<Report, AccelError> {
    cfg.validate()?;
    // The socket's weights live in HBM (experts wait in DDR: see `coe`).
    let weights = w.total_weights() * w.dtype.bytes();
    let hbm_bytes = cfg.hbm_gb * 1e9;
    if weights as f64 > hbm_bytes {
        return Err(AccelError::OutOfMemory {
            accelerator: "rdu".into(),
            reason: format!(
                "{:.2} GB of weights on one socket, {:.2} GB of HBM (accelerator.hbm_gb); \
                 shard the model with workload.llm.tp",
                weights as f64 / 1e9,
                cfg.hbm_gb
            ),
        });
    }
    let sections = if cfg.fused {
        fused_sections(cfg, w)
    } else {
        unfused_sections(cfg, w)
    };
    let ops = work(w);
    let by_name: BTreeMap<&str, &OpWork> = ops.iter().map(|o| (o.name.as_str(), o)).collect();
    let hz = cfg.hz();
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
            let pcus = s.pcus.get(k).copied().unwrap_or(0);
            let peak = pcus as f64 * cfg.flops_per_cycle_per_pcu() / 2.0;
            rows.push(OpReport {
                name: name.clone(),
                kind: o.kind.to_string(),
                engine: format!("section {id}"),
                mapping: match o.collective {
                    Some((_, ranks, _)) => format!("p2p over {ranks} sockets, {} tiles", s.tiles),
                    None => format!("{pcus} pcus, {} tiles", s.tiles),
                },
                start_cycle: t,
                end_cycle: t + s.cycles,
                cycles: s.cycles,
                compute_cycles: s.pipeline_cycles,
                stall_cycles: s.cycles - s.pipeline_cycles,
                utilization: if s.cycles == 0 || peak == 0.0 {
                    0.0
                } else {
                    (o.macs as f64 / (s.cycles as f64 * peak)).min(1.0)
                },
                macs: o.macs,
                bytes: BTreeMap::from([(
                    "hbm".to_string(),
                    s.hbm_bytes / s.ops.len().max(1) as u64,
                )]),
                energy_j: (op_pj + sec_pj / s.ops.len().max(1) as f64) * 1e-12,
                latency_s: s.cycles as f64 / hz,
                kernels: Vec::new(),
            });
        }
        t += s.cycles;
    }
    let peak_macs = cfg.tflops * 1e12 / 2.0 / hz;
    Ok(Report {
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
        ..Report::new(
            w.name.clone(),
            format!(
                "rdu {} pcus ({})",
                cfg.pcus,
                if cfg.fused { "fused" } else { "unfused" }
            ),
            Provenance::new(config_hash, seed),
        )
    })
}

/// Where an expert is switched in from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SwitchSource {
    /// Already in the RDU's HBM: only its program is loaded.
    RduHbm,
    /// The RDU node's DDR to its HBM: every socket copies its tensor-parallel share from its
    /// own DDR, at the sustained DDR bandwidth.
    RduDdr,
    /// A DGX's host memory to its GPUs: each GPU copies its share over its own PCIe link, and
    /// all of them together at most at the host-to-GPU rate.
    DgxHost {
        /// GPUs, each copying its share.
        gpus: u64,
        /// PCIe bandwidth per GPU, GB/s.
        pcie_gbps: f64,
        /// Host-to-GPU bandwidth of the whole machine, GB/s.
        host_gbps: f64,
    },
}

/// Seconds to switch to an expert of `bytes` of weights.
pub fn switch_seconds(cfg: &RduConfig, bytes: u64, from: SwitchSource) -> f64 {
    let load = cfg.program_load_us * 1e-6;
    match from {
        SwitchSource::RduHbm => load,
        SwitchSource::RduDdr => load + bytes as f64 / cfg.node_ddr_to_hbm_bytes_per_s(),
        SwitchSource::DgxHost {
            gpus,
            pcie_gbps,
            host_gbps,
        } => {
            let bw = (gpus.max(1) as f64 * pcie_gbps).min(host_gbps) * 1e9;
            bytes as f64 / bw
        }
    }
}


impl crate::family::FamilyConfig for RduConfig {
    const LLM_METRICS: bool = true;
    fn validate(&self) -> Result<(), AccelError> {
        RduConfig::validate(self)
    }
    /// A tensor-parallel step (`llm: {tp: N}`) is one socket's shard of a group of `N`
    /// sockets of one node, its collectives on the node's peer-to-peer network: the node
    /// needs `sockets ≥ tp`. (A single step's time does not depend on `sockets` beyond that:
    /// the node's other sockets run other groups. `sockets` sizes the node for the
    /// Composition-of-Experts model, [`RduConfig::node_ddr_to_hbm_bytes_per_s`].)
    fn reconcile(
        &mut self,
        _given: &[String],
        workload: &archsim_workloads::WorkloadConfig,
    ) -> Result<(), KeyError> {
        match &workload.llm {
            Some(l) if l.ep <= 1 && l.tp > self.sockets => Err(KeyError::new(
                vec!["accelerator".into(), "sockets".into()],
                format!(
                    "a tensor-parallel step over {} sockets (workload.llm.tp) needs a node of at \
                     least {} sockets; this node has {}",
                    l.tp, l.tp, self.sockets
                ),
            )),
            Some(l) if l.tp.saturating_mul(l.ep) > self.sockets => Err(KeyError::new(
                vec!["workload".into(), "llm".into(), "ep".into()],
                format!(
                    "an expert-parallel step over {} × {} = {} sockets (workload.llm.tp × \
                     workload.llm.ep) needs a node of at least that many sockets; this node has \
                     {} (accelerator.sockets)",
                    l.tp,
                    l.ep,
                    l.tp.saturating_mul(l.ep),
                    self.sockets
                ),
            )),
            _ => Ok(()),
        }
    }
    fn build(&self) -> Result<Box<dyn crate::family::Family>, AccelError> {
        RduConfig::validate(self)?;
        Ok(Box::new(self.clone()))
    }
}

/// An RDU socket prices fused sections ([`evaluate`]), not ops on engines: it has no per-op
/// model to dump.
impl crate::family::Family for RduConfig {
    fn name(&self) -> String {
        format!(
            "rdu {} pcus ({})",
            self.pcus,
            if self.fused { "fused" } else { "unfused" }
        )
    }
    fn area_mm2(&self) -> f64 {
        0.0
    }
    /// The socket's report, and for an `llm:` step its serving metrics.
    fn run_graph(
        &self,
        w: &Workload,
        ctx: &crate::family::Context<'_>,
    ) -> Result<Report, AccelError> {
        let report = evaluate(self, w, ctx.config_hash, ctx.seed)?;
        let serving = match ctx.llm {
            Some(l) => Some(crate::llm_metrics::metrics(self, l, ctx.dtype)?),
            None => None,
        };
        Ok(report.with_llm(serving))
    }
}

/// An `llm:` step on one socket: TTFT and TPOT from [`workload_seconds`] on the lowered
/// prefill and decode, memory against the socket's HBM; a KV cache that overflows the HBM
/// lives in the socket's DDR (the SN40L's third memory tier) and streams over it.
impl crate::llm_metrics::StepModel for RduConfig {
    fn device_name(&self) -> String {
        crate::family::Family::name(self)
    }
    fn capacity_bytes(&self) -> u64 {
        (self.hbm_gb * 1e9) as u64
    }
    fn host_link_gbps(&self) -> Option<f64> {
        Some(self.ddr_gbps * self.ddr_efficiency)
    }
    fn mode(&self) -> String {
        format!(
            "{}, {}-orchestrated",
            if self.fused { "fused" } else { "unfused" },
            match self.orchestration {
                Orchestration::Hardware => "hardware",
                Orchestration::Software => "software",
            }
        )
    }
    fn step_seconds(
        &self,
        _step: &archsim_workloads::llm::LlmConfig,
        w: &Workload,
    ) -> Result<f64, AccelError> {
        Ok(workload_seconds(self, w))
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

    fn op(name: &str, flops: u64, weight_bytes: u64, in_bytes: u64, out_bytes: u64) -> OpWork {
        OpWork {
            name: name.into(),
            kind: "gemm",
            macs: flops / 2,
            flops,
            weight_bytes,
            in_bytes,
            out_bytes,
            collective: None,
        }
    }

    #[test]
    fn one_fused_pipeline_by_hand() {
        // A toy socket: 4 PCUs of 1 FLOP/cycle (4 MFLOP/s at 1 MHz), 1 byte/cycle of HBM.
        let cfg = RduConfig {
            pcus: 4,
            tflops: 4e-6,
            freq_mhz: 1.0,
            hbm_gbps: 1e-3,
            hbm_efficiency: 1.0,
            hw_launch_us: 3.0,
            program_load_us: 7.0,
            ..RduConfig::default()
        };
        // Two ops over 10 tiles: A (1,200 FLOPs, 400 B of weights, 200 B in) feeds B (600
        // FLOPs, 200 B of weights, 100 B out).
        let a = op("a", 1200, 400, 200, 50);
        let b = op("b", 600, 200, 50, 100);
        let s = &launch(&cfg, &[vec![&a, &b]], 10, Orchestration::Hardware)[0];
        // PCUs: one each, the 2 spare in proportion to FLOPs: A 1 + 2·1200/1800 = 2 (floor of
        // 2.33), B 1 + 2·600/1800 = 1.
        assert_eq!(s.pcus, vec![2, 1]);
        // HBM: weights 600 + A's input 200 + B's output 100 = 900 B, 90 B (cycles) per tile;
        // A: 1200/10/2 = 60 cycles per tile; B: 600/10/1 = 60.
        assert_eq!(s.hbm_bytes, 900);
        assert_eq!(s.stage_cycles, vec![90, 60, 60]);
        // Fill 90+60+60 = 210, then 9 tiles at the slowest stage (HBM, 90): 210 + 810 = 1020;
        // plus a hardware launch (3 cycles at 1 MHz) and a first program load (7).
        assert_eq!(s.pipeline_cycles, 1020);
        assert_eq!(s.cycles, 1030);
        // Unfused, each op is a kernel of its own, its intermediate through HBM, launched by
        // the host (20 µs = 20 cycles) with its own program load.
        let u = launch(&cfg, &[vec![&a], vec![&b]], 10, Orchestration::Software);
        // A: HBM 400+200+50 = 650 B -> 65/tile, compute 1200/10/4 = 30: 65+30 + 9·65 = 680.
        // B: HBM 200+50+100 = 350 B -> 35/tile, compute 600/10/4 = 15: 35+15 + 9·35 = 365.
        assert_eq!(u[0].pipeline_cycles, 680);
        assert_eq!(u[1].pipeline_cycles, 365);
        assert_eq!(u[0].cycles + u[1].cycles, 680 + 365 + 2 * (20 + 7));
        // The same program twice in a row loads once.
        let again = launch(&cfg, &[vec![&a], vec![&a]], 10, Orchestration::Hardware);
        assert_eq!(again[1].program_load_cycles, 0);
        assert_eq!(again[0].program_load_cycles, 7);
    }

    fn step(phase: Phase, batch: u64, tp: u64) -> Workload {
        lower(
            &LlmConfig {
                model: "llama2_7b".into(),
                phase,
                batch,
                prompt_len: 2048,
                context_len: Some(2049),
                layers: Some(4),
                tp,
                moe_skew: 0.0,
                ..Default::default()
            },
            DType::Bf16,
        )
        .unwrap()
    }

    #[test]
    fn fused_beats_unfused_on_prefill_and_decode() {
        let cfg = RduConfig::default();
        for w in [
            step(Phase::Prefill, 1, 1),
            step(Phase::Decode, 16, 1),
            step(Phase::Decode, 1, 8),
        ] {
            let f = seconds(&cfg, &fused_sections(&cfg, &w));
            let u = seconds(&cfg, &unfused_sections(&cfg, &w));
            assert!(u > f, "{}: unfused {u} fused {f}", w.name);
        }
    }

    #[test]
    fn hardware_orchestration_helps_decode_more_than_prefill() {
        let hw = RduConfig::default();
        let sw = RduConfig {
            orchestration: Orchestration::Software,
            ..RduConfig::default()
        };
        let gain = |w: &Workload| {
            seconds(&sw, &fused_sections(&sw, w)) / seconds(&hw, &fused_sections(&hw, w))
        };
        let (pre, dec) = (
            gain(&step(Phase::Prefill, 1, 8)),
            gain(&step(Phase::Decode, 1, 8)),
        );
        assert!(pre >= 1.0 && dec > pre, "prefill {pre} decode {dec}");
    }

    #[test]
    fn collectives_run_over_the_p2p_links() {
        let cfg = RduConfig::default();
        let w = step(Phase::Decode, 1, 8);
        let r = evaluate(&cfg, &w, "t", 0).unwrap();
        let coll: Vec<_> = r.ops.iter().filter(|o| o.kind == "collective").collect();
        assert!(!coll.is_empty());
        assert!(coll.iter().all(|o| o.mapping.starts_with("p2p over 8")));
        // A small all-reduce is latency-bound: one-shot beats the ring's 14 hops.
        let small = collective_seconds(&cfg, CollectiveFunc::AllReduce, 8, 8192);
        assert!(small < 2.0 * cfg.p2p_latency_us * 1e-6, "{small}");
        // A large one is bandwidth-bound: the ring's 2(p-1)/p of the bytes.
        let big = collective_seconds(&cfg, CollectiveFunc::AllReduce, 8, 1 << 30);
        let ring_bw = 2.0 * 7.0 / 8.0 * (1u64 << 30) as f64 / (cfg.p2p_gbps * 1e9);
        assert!(big >= ring_bw && big < ring_bw * 1.01, "{big} {ring_bw}");
        assert_eq!(
            collective_seconds(&cfg, CollectiveFunc::AllReduce, 1, 1 << 30),
            0.0
        );
    }

    #[test]
    fn report_rows_name_their_section() {
        let w = step(Phase::Decode, 4, 1);
        let r = evaluate(&RduConfig::default(), &w, "t", 0).unwrap();
        assert!(r.ops.iter().all(|o| o.engine.starts_with("section ")));
        assert!(r.ops.last().unwrap().engine != "section 0");
        assert!(r.total_cycles > 0 && r.energy_j > 0.0);
        assert!(r.ops.iter().all(|o| o.utilization <= 1.0));
    }

    #[test]
    fn weights_beyond_hbm_are_out_of_memory() {
        let w = archsim_workloads::llm::lower(
            &archsim_workloads::llm::LlmConfig {
                model: "llama2_7b".into(),
                phase: archsim_workloads::llm::Phase::Decode,
                batch: 1,
                prompt_len: 128,
                context_len: Some(129),
                layers: None,
                tp: 1,
                moe_skew: 0.0,
                ..Default::default()
            },
            DType::Bf16,
        )
        .unwrap();
        let small = RduConfig {
            hbm_gb: 8.0,
            ..RduConfig::default()
        };
        let e = evaluate(&small, &w, "t", 0).unwrap_err();
        assert!(matches!(e, AccelError::OutOfMemory { .. }), "{e}");
        assert!(e.to_string().contains("hbm_gb"), "{e}");
        assert!(evaluate(&RduConfig::default(), &w, "t", 0).is_ok());
    }

    #[test]
    fn bad_values_are_errors() {
        for cfg in [
            RduConfig {
                hbm_efficiency: 1.5,
                ..RduConfig::default()
            },
            RduConfig {
                p2p_gbps: 0.0,
                ..RduConfig::default()
            },
            RduConfig {
                sw_launch_us: f64::NAN,
                ..RduConfig::default()
            },
        ] {
            assert!(cfg.validate().is_err());
        }
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
                host_gbps: 64.0,
            },
        );
        assert!(hbm < ddr && ddr < host, "{hbm} {ddr} {host}");
        // The copy is bounded by the slower of the per-GPU links together and the host.
        let wide = switch_seconds(
            &cfg,
            bytes,
            SwitchSource::DgxHost {
                gpus: 8,
                pcie_gbps: 64.0,
                host_gbps: 1e6,
            },
        );
        assert!(
            (wide * 8.0 - host).abs() < 1e-9 * host.max(1.0),
            "{wide} {host}"
        );
    }
}
