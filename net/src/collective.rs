//! Collectives priced analytically: algorithms, protocols and an NCCL-like choice.
//!
//! Every algorithm is an α-β model of chunked, pipelined steps. With `p` ranks, a buffer of
//! `S` bytes (nccl-tests' "size"), a link of `B` bytes/s and a protocol of wire efficiency
//! `w`, bandwidth efficiency `η`, fill `γ`, launch latency `base` and per-step overhead `σ`,
//! a step costs `α = link latency + σ` and the ring all-reduce takes
//!
//! ```text
//! T = base + 2(p−1)·α + (2(p−1) + γ)/p · S / (η·w·B)
//! ```
//!
//! which, for the ideal protocol (`η = w = 1`, `γ = base = σ = 0`), is the textbook
//! `2(p−1)·(S/p)/B + 2(p−1)·α`. `γ` counts the shard-steps of the pipeline's fill and drain
//! that no other transfer hides (NCCL's chunks are a fixed fraction of the shard at the sizes
//! measured). The other algorithms are written out in [`price_on`]'s arms.

use serde::Serialize;

use crate::error::NetError;
use crate::topology::{ClusterSpec, ScaleOutKind, ScaleUpKind};

/// A collective operation.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Every rank ends with the sum of every rank's buffer.
    AllReduce,
    /// Rank `i` ends with shard `i` of the sum (`S` = the whole buffer).
    ReduceScatter,
    /// Every rank ends with every rank's shard (`S` = the whole gathered buffer).
    AllGather,
    /// Every rank sends `S/p` to every rank (`S` = one rank's buffer; `all_to_allv` is read
    /// as it, the imbalance being the caller's sizes).
    #[serde(alias = "all_to_allv")]
    AllToAll,
    /// Rank 0's buffer reaches every rank.
    Broadcast,
    /// Rank 0 ends with the sum.
    Reduce,
    /// Rank 0 sends `S` to rank 1 (the last rank when the op spans nodes).
    SendRecv,
}

impl Op {
    /// Every op, in config order.
    pub const ALL: [Op; 7] = [
        Op::AllReduce,
        Op::ReduceScatter,
        Op::AllGather,
        Op::AllToAll,
        Op::Broadcast,
        Op::Reduce,
        Op::SendRecv,
    ];

    /// The config name.
    pub fn name(self) -> &'static str {
        match self {
            Op::AllReduce => "all_reduce",
            Op::ReduceScatter => "reduce_scatter",
            Op::AllGather => "all_gather",
            Op::AllToAll => "all_to_all",
            Op::Broadcast => "broadcast",
            Op::Reduce => "reduce",
            Op::SendRecv => "send_recv",
        }
    }

    /// Parses a config name (`all_to_allv` is accepted for all-to-all).
    pub fn parse(key: &str, s: &str) -> Result<Op, NetError> {
        if s == "all_to_allv" {
            return Ok(Op::AllToAll);
        }
        Op::ALL
            .into_iter()
            .find(|o| o.name() == s)
            .ok_or_else(|| NetError::Count {
                key: key.into(),
                reason: format!(
                    "unknown collective `{s}` (expected one of: {})",
                    Op::ALL.map(Op::name).join(", ")
                ),
            })
    }

    /// nccl-tests' bus-bandwidth factor: busbw = algbw × factor.
    pub fn bus_factor(self, p: usize) -> f64 {
        let p = p.max(1) as f64;
        match self {
            Op::AllReduce => 2.0 * (p - 1.0) / p,
            Op::ReduceScatter | Op::AllGather | Op::AllToAll => (p - 1.0) / p,
            Op::Broadcast | Op::Reduce | Op::SendRecv => 1.0,
        }
    }
}

/// A collective algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// Ring (pipelined chain for broadcast/reduce), flat over every rank.
    Ring,
    /// NCCL's double binary tree (all-reduce, broadcast, reduce).
    DoubleBinaryTree,
    /// Recursive halving-doubling (Rabenseifner).
    HalvingDoubling,
    /// Direct / one-shot: every rank talks to every rank at once (needs a switch or a mesh).
    Direct,
    /// Intra-node reduce-scatter, inter-node all-reduce, intra-node all-gather.
    Hierarchical,
    /// In-switch reduction and multicast (NVLink SHARP).
    Nvls,
}

impl Algorithm {
    /// Every algorithm.
    pub const ALL: [Algorithm; 6] = [
        Algorithm::Ring,
        Algorithm::DoubleBinaryTree,
        Algorithm::HalvingDoubling,
        Algorithm::Direct,
        Algorithm::Hierarchical,
        Algorithm::Nvls,
    ];

    /// The config name.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Ring => "ring",
            Algorithm::DoubleBinaryTree => "tree",
            Algorithm::HalvingDoubling => "halving_doubling",
            Algorithm::Direct => "direct",
            Algorithm::Hierarchical => "hierarchical",
            Algorithm::Nvls => "nvls",
        }
    }

    /// Parses a config name; `auto` is `None` (the NCCL-like choice).
    pub fn parse(key: &str, s: &str) -> Result<Option<Algorithm>, NetError> {
        if s == "auto" {
            return Ok(None);
        }
        Algorithm::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .map(Some)
            .ok_or_else(|| NetError::UnknownAlgorithm {
                key: key.into(),
                name: s.into(),
                expected: std::iter::once("auto")
                    .chain(Algorithm::ALL.map(Algorithm::name))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

/// A wire protocol: how much of the link's bandwidth reaches payload and what a step costs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Protocol {
    /// Name (`simple`, `ll128`, `ll`, `ideal`).
    pub name: String,
    /// Payload fraction of the wire (LL128: 120 of 128 bytes; LL: 8 of 16; Simple: 1).
    pub wire_efficiency: f64,
    /// Launch and synchronization latency of one collective, seconds.
    pub base_s: f64,
    /// Overhead of one pipelined step on top of the link latency, seconds.
    pub step_s: f64,
    /// Pipeline chunk, bytes (broadcast, reduce and trees pipeline in chunks of this size).
    pub chunk_bytes: f64,
}

/// The constants of the collective model: a bandwidth efficiency, a pipeline fill and the
/// protocols a library chooses among (the cheapest for each call, as NCCL's tuner does).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetModel {
    /// Achieved fraction of a link's physical bandwidth (`η`).
    pub bandwidth_efficiency: f64,
    /// Shard-steps of pipeline fill and drain not hidden (`γ`).
    pub fill_steps: f64,
    /// Protocols to choose among.
    pub protocols: Vec<Protocol>,
}

impl NetModel {
    /// The textbook α-β model: full bandwidth, no launch latency, no fill.
    pub fn ideal() -> Self {
        NetModel {
            bandwidth_efficiency: 1.0,
            fill_steps: 0.0,
            protocols: vec![Protocol {
                name: "ideal".into(),
                wire_efficiency: 1.0,
                base_s: 0.0,
                step_s: 0.0,
                chunk_bytes: 512.0 * 1024.0,
            }],
        }
    }

    /// NCCL's Simple and LL128 protocols with the constants fitted on measured NCCL
    /// all-reduce on an 8-A100 NVSwitch node (see [`crate::calibrate`]; the fit is rerun by
    /// `cargo test -p archsim-net --test net calibration`).
    pub fn nccl() -> Self {
        let c = crate::calibrate::NCCL_A100;
        c.model()
    }
}

impl Default for NetModel {
    fn default() -> Self {
        NetModel::nccl()
    }
}

/// The price of one collective call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CollectiveCost {
    /// The operation.
    pub op: Op,
    /// The algorithm used.
    pub algorithm: Algorithm,
    /// The protocol used.
    pub protocol: String,
    /// Ranks taking part.
    pub ranks: usize,
    /// Buffer size, bytes (nccl-tests' size).
    pub bytes: f64,
    /// Time, seconds.
    pub time_s: f64,
    /// Algorithm bandwidth, bytes / time, GB/s.
    pub algbw_gb_s: f64,
    /// nccl-tests bus bandwidth, GB/s.
    pub busbw_gb_s: f64,
}

/// One level of the network as the analytic model sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Tier {
    ranks: usize,
    /// Bytes/s a rank can push into this tier in one direction, as a ring uses it.
    bw: f64,
    /// Latency of one hop, seconds.
    lat: f64,
    /// Every rank reaches every rank in one hop at full bandwidth (a switch or a mesh).
    direct: bool,
    /// Ranks under one leaf switch (traffic beyond them crosses the spine).
    leaf_ranks: usize,
    /// Bytes/s per rank of a leaf's uplink (its share after oversubscription).
    uplink_bw: f64,
}

/// Ranks taking part: the first `ranks` devices of the cluster, whole nodes first.
fn layout(spec: &ClusterSpec, ranks: usize) -> (usize, usize) {
    let d = spec.devices_per_node;
    if ranks <= d {
        (1, ranks)
    } else {
        (ranks.div_ceil(d), d)
    }
}

fn up_tier(spec: &ClusterSpec, local: usize) -> Tier {
    let su = &spec.scale_up;
    let gb = su.gb_s * 1e9;
    let lat = su.latency_us * 1e-6;
    let (bw, direct) = match su.kind {
        ScaleUpKind::Nvswitch => (gb, true),
        // NCCL runs one ring each way round a physical ring.
        ScaleUpKind::NvlinkRing => (if local > 2 { 2.0 * gb } else { gb }, false),
        // Rings over different link orders use every link of a mesh at once.
        ScaleUpKind::NvlinkMesh => ((local.max(2) - 1) as f64 * gb, true),
        ScaleUpKind::Pcie => (gb, false),
        // A torus all-reduce runs dimension by dimension (see `torus_all_reduce`); as one ring
        // it gets both directions of one dimension.
        ScaleUpKind::Torus2d | ScaleUpKind::Torus3d => (2.0 * gb, false),
    };
    Tier {
        ranks: local,
        bw,
        lat,
        direct,
        leaf_ranks: usize::MAX,
        uplink_bw: f64::INFINITY,
    }
}

fn out_tier(spec: &ClusterSpec, nodes: usize) -> Option<Tier> {
    let so = spec.scale_out.as_ref()?;
    let d = spec.devices_per_node as f64;
    // The slowest group bounds every ring and every all-to-all that crosses it.
    let mut bw = f64::INFINITY;
    let mut lat: f64 = 0.0;
    for g in &so.groups {
        bw = bw.min(g.nic_gb_s * 1e9 * g.nics_per_node as f64 / d);
        lat = lat.max(g.latency_us * 1e-6);
    }
    // A fat tree's leaf uplinks carry only the traffic that leaves the leaf; rings cross a
    // leaf boundary with one flow per ring and are not slowed by it. A rail-optimized network
    // keeps each rail on its own leaf (cross-rail traffic hops over NVLink first, as NCCL's
    // PXN does), so its spine is never the bottleneck here.
    let (leaf_ranks, uplink_bw) = match so.kind {
        ScaleOutKind::Rail => (usize::MAX, f64::INFINITY),
        ScaleOutKind::FatTree => (
            so.nodes_per_leaf * spec.devices_per_node,
            bw / so.oversubscription,
        ),
    };
    Some(Tier {
        ranks: nodes,
        bw,
        lat,
        direct: true,
        leaf_ranks,
        uplink_bw,
    })
}

struct Ctx<'a> {
    m: &'a NetModel,
    pr: &'a Protocol,
}

impl Ctx<'_> {
    fn eff(&self, bw: f64) -> f64 {
        bw * self.m.bandwidth_efficiency * self.pr.wire_efficiency
    }
    fn alpha(&self, t: &Tier) -> f64 {
        t.lat + self.pr.step_s
    }
    /// Ring reduce-scatter or all-gather phase(s): `phases` = 1 or 2.
    fn ring(&self, t: &Tier, s: f64, phases: f64) -> f64 {
        let p = t.ranks as f64;
        if t.ranks < 2 {
            return 0.0;
        }
        phases * (p - 1.0) * self.alpha(t)
            + (phases * (p - 1.0) + self.m.fill_steps * phases / 2.0) / p * s / self.eff(t.bw)
    }
    /// Pipelined chain (or tree of `depth` levels) carrying `s` in chunks.
    fn pipeline(&self, t: &Tier, s: f64, depth: f64, bw: f64) -> f64 {
        let n = (s / self.pr.chunk_bytes).ceil().max(1.0);
        (depth + n - 1.0) * (self.alpha(t) + s / n / self.eff(bw))
    }
    fn halving_doubling(&self, t: &Tier, s: f64, phases: f64) -> f64 {
        let p = t.ranks;
        if p < 2 {
            return 0.0;
        }
        let lg = (p as f64).log2().floor();
        let pow2 = 1usize << (lg as u32);
        let pf = pow2 as f64;
        let mut time = phases * lg * self.alpha(t) + phases * (pf - 1.0) / pf * s / self.eff(t.bw);
        if pow2 != p {
            // The ranks beyond the power of two fold their buffers in first and get the result
            // back last.
            time += 2.0 * (self.alpha(t) + s / self.eff(t.bw));
        }
        time
    }
    fn direct(&self, t: &Tier, s: f64, factor: f64) -> f64 {
        if t.ranks < 2 {
            return 0.0;
        }
        self.alpha(t) + factor * s / self.eff(t.bw)
    }
}

/// Prices `op` of `bytes` over the first `ranks` devices of `spec` with `algorithm` (`None`:
/// the NCCL-like choice, see [`choose`]) under `model`, choosing the cheapest protocol.
pub fn price_on(
    spec: &ClusterSpec,
    model: &NetModel,
    op: Op,
    bytes: f64,
    ranks: usize,
    algorithm: Option<Algorithm>,
) -> Result<CollectiveCost, NetError> {
    let have = spec.devices();
    if ranks == 0 || ranks > have {
        return Err(NetError::DeviceCount {
            key: "ranks".into(),
            want: ranks,
            have,
        });
    }
    if !(bytes.is_finite() && bytes >= 0.0) {
        return Err(NetError::Count {
            key: "sizes".into(),
            reason: format!("a size must be a non-negative number of bytes, got {bytes}"),
        });
    }
    let candidates: Vec<Algorithm> = match algorithm {
        Some(a) => vec![a],
        None => choose(spec, op, ranks),
    };
    let mut best: Option<CollectiveCost> = None;
    let mut last_err = None;
    for &alg in &candidates {
        for pr in &model.protocols {
            match time_of(spec, &Ctx { m: model, pr }, op, bytes, ranks, alg) {
                Ok(t) => {
                    let t = t + pr.base_s;
                    if best.as_ref().is_none_or(|b| t < b.time_s) {
                        let algbw = if t > 0.0 { bytes / t / 1e9 } else { 0.0 };
                        best = Some(CollectiveCost {
                            op,
                            algorithm: alg,
                            protocol: pr.name.clone(),
                            ranks,
                            bytes,
                            time_s: t,
                            algbw_gb_s: algbw,
                            busbw_gb_s: algbw * op.bus_factor(ranks),
                        });
                    }
                }
                Err(e) => last_err = Some(e),
            }
        }
    }
    match (best, last_err) {
        (Some(b), _) => Ok(b),
        (None, Some(e)) => Err(e),
        (None, None) => Err(NetError::Count {
            key: "protocols".into(),
            reason: "the model has no protocol".into(),
        }),
    }
}

/// The algorithms an NCCL-like library considers for `op` on `ranks` devices of `spec`; the
/// cheapest of them (with the cheapest protocol) is used. Within a node NCCL runs rings (and
/// NVLS where the switch reduces); across nodes it adds the double binary tree and the
/// hierarchical (CollNet-style) all-reduce. Halving-doubling and direct are available by name.
pub fn choose(spec: &ClusterSpec, op: Op, ranks: usize) -> Vec<Algorithm> {
    let (nodes, _) = layout(spec, ranks);
    let nvls = spec.scale_up.nvls;
    let torus = matches!(
        spec.scale_up.kind,
        ScaleUpKind::Torus2d | ScaleUpKind::Torus3d
    );
    let mut v = Vec::new();
    match op {
        Op::AllReduce => {
            v.push(Algorithm::Ring);
            if nodes > 1 || torus {
                v.push(Algorithm::Hierarchical);
            }
            if nodes > 1 {
                v.push(Algorithm::DoubleBinaryTree);
            }
            if nvls && nodes == 1 {
                v.push(Algorithm::Nvls);
            }
        }
        Op::ReduceScatter | Op::AllGather => {
            v.push(Algorithm::Ring);
            if nodes > 1 {
                v.push(Algorithm::Hierarchical);
            }
            if nvls && nodes == 1 {
                v.push(Algorithm::Nvls);
            }
        }
        Op::Broadcast | Op::Reduce => {
            v.push(Algorithm::Ring);
            if nodes > 1 {
                v.push(Algorithm::DoubleBinaryTree);
            }
        }
        Op::AllToAll | Op::SendRecv => v.push(Algorithm::Direct),
    }
    v
}

fn unsupported(alg: Algorithm, op: Op, reason: &str) -> NetError {
    NetError::Unsupported {
        key: "algorithm".into(),
        algorithm: alg.name().into(),
        op: op.name().into(),
        reason: reason.into(),
    }
}

fn time_of(
    spec: &ClusterSpec,
    c: &Ctx<'_>,
    op: Op,
    s: f64,
    ranks: usize,
    alg: Algorithm,
) -> Result<f64, NetError> {
    let (nodes, local) = layout(spec, ranks);
    let up = up_tier(spec, local);
    let out = if nodes > 1 {
        out_tier(spec, nodes)
    } else {
        None
    };
    // A flat algorithm over every rank runs at the slowest tier's pace.
    let flat = match out {
        Some(o) => Tier {
            ranks,
            bw: up.bw.min(o.bw),
            lat: up.lat.max(o.lat),
            direct: up.direct && o.direct,
            leaf_ranks: o.leaf_ranks,
            uplink_bw: o.uplink_bw,
        },
        None => Tier { ranks, ..up },
    };
    let torus = matches!(
        spec.scale_up.kind,
        ScaleUpKind::Torus2d | ScaleUpKind::Torus3d
    );
    let p = ranks as f64;
    if ranks < 2 {
        return Ok(0.0);
    }
    Ok(match (alg, op) {
        (Algorithm::Ring, Op::AllReduce) => c.ring(&flat, s, 2.0),
        (Algorithm::Ring, Op::ReduceScatter | Op::AllGather) => c.ring(&flat, s, 1.0),
        (Algorithm::Ring, Op::Broadcast | Op::Reduce) => c.pipeline(&flat, s, p - 1.0, flat.bw),
        (Algorithm::Ring, Op::AllToAll) => {
            // Block k travels k hops: a link carries S/p·(1 + … + p−1) = (p−1)·S/2.
            (p - 1.0) * c.alpha(&flat) + (p - 1.0) / 2.0 * s / c.eff(flat.bw)
        }
        (Algorithm::DoubleBinaryTree, Op::AllReduce | Op::Broadcast | Op::Reduce) => {
            let depth = p.log2().ceil();
            // Two trees each carry half; a rank is interior in at most one, so its links
            // carry the half buffer of each tree once per direction.
            let phases = if op == Op::AllReduce { 2.0 } else { 1.0 };
            phases * c.pipeline(&flat, s, depth, flat.bw)
        }
        (Algorithm::HalvingDoubling, Op::AllReduce) => c.halving_doubling(&flat, s, 2.0),
        (Algorithm::HalvingDoubling, Op::ReduceScatter | Op::AllGather) => {
            c.halving_doubling(&flat, s, 1.0)
        }
        (Algorithm::Direct, _) if !flat.direct && op != Op::SendRecv => {
            return Err(unsupported(
                alg,
                op,
                "direct needs every rank one hop from every rank (a switch or a mesh)",
            ))
        }
        (Algorithm::Direct, Op::AllReduce) => c.direct(&flat, s, p - 1.0),
        (Algorithm::Direct, Op::ReduceScatter | Op::AllGather | Op::AllToAll) => match out {
            Some(o) if op == Op::AllToAll => {
                // Each rank's S/p blocks for other nodes leave through its NIC share, those
                // for its own node through the scale-up network, at the same time.
                let remote = (p - local as f64) / p * s / c.eff(o.bw);
                let near = (local as f64 - 1.0) / p * s / c.eff(up.bw);
                let beyond_leaf = ranks.saturating_sub(o.leaf_ranks) as f64;
                let spine = beyond_leaf / p * s / c.eff(o.uplink_bw);
                c.alpha(&flat) + remote.max(near).max(spine)
            }
            _ => c.direct(&flat, s, (p - 1.0) / p),
        },
        (Algorithm::Direct, Op::Broadcast | Op::Reduce) => c.direct(&flat, s, p - 1.0),
        (Algorithm::Direct, Op::SendRecv) => c.alpha(&flat) + s / c.eff(flat.bw),
        (Algorithm::Hierarchical, Op::AllReduce) if torus && nodes == 1 => {
            torus_all_reduce(spec, c, s)
        }
        (Algorithm::Hierarchical, Op::AllReduce | Op::ReduceScatter | Op::AllGather) => {
            let Some(o) = out else {
                return Err(unsupported(alg, op, "it needs more than one node"));
            };
            let d = local as f64;
            let phases = if op == Op::AllReduce { 2.0 } else { 1.0 };
            let intra = c.ring(&up, s, phases);
            let inter = c.ring(&o, s / d, phases);
            intra + inter
        }
        (Algorithm::Nvls, Op::AllReduce | Op::ReduceScatter | Op::AllGather) => {
            if !spec.scale_up.nvls || nodes > 1 {
                return Err(unsupported(
                    alg,
                    op,
                    "nvls needs one node on an nvswitch with nvls: true",
                ));
            }
            // The switch reduces (and multicasts): each link direction carries S once for an
            // all-reduce, (p−1)/p·S for a reduce-scatter or all-gather.
            let (steps, factor) = if op == Op::AllReduce {
                (2.0, 1.0)
            } else {
                (1.0, (p - 1.0) / p)
            };
            steps * c.alpha(&up) + factor * s / c.eff(up.bw)
        }
        _ => return Err(unsupported(alg, op, "not defined for this operation")),
    })
}

/// All-reduce on a torus, one dimension after the other: reduce-scatter along each dimension
/// (the buffer shrinking by that dimension's size), then all-gather back in reverse order.
fn torus_all_reduce(spec: &ClusterSpec, c: &Ctx<'_>, s: f64) -> f64 {
    let up = up_tier(spec, spec.devices_per_node);
    let mut left = s;
    let mut time = 0.0;
    for &n in &spec.torus_dims() {
        let t = Tier { ranks: n, ..up };
        // A line of two has one cable: one direction each way, not two.
        let t = if n == 2 {
            Tier {
                bw: up.bw / 2.0,
                ..t
            }
        } else {
            t
        };
        time += 2.0 * c.ring(&t, left, 1.0);
        left /= n as f64;
    }
    time
}

/// Ring all-reduce time of `s` bytes over `p` ranks of one node of `spec`, cheapest protocol:
/// the same arithmetic as [`price_on`] without its bookkeeping (the calibration's inner loop).
pub(crate) fn ring_all_reduce_in_node(
    model: &NetModel,
    spec: &ClusterSpec,
    p: usize,
    s: f64,
) -> f64 {
    let up = up_tier(spec, p);
    model
        .protocols
        .iter()
        .map(|pr| Ctx { m: model, pr }.ring(&up, s, 2.0) + pr.base_s)
        .fold(f64::INFINITY, f64::min)
}
