//! Collectives of every family, priced by `archsim-net`.
//!
//! A family that shards a workload over devices (the GPU's and NPU+PIM's tensor parallelism,
//! the RDU's sockets) describes its device-to-device links as a [`Links`] built from its own
//! config keys, and asks [`Links::seconds`] what a collective of a tensor costs. The formula is
//! net's (ring, direct/one-shot, NVLS, with its chunked, pipelined steps and protocols), so no
//! family keeps a private one:
//!
//! * GPU and NPU+PIM: an NVSwitch node (or a PCIe tree where the GPU has no NVLink) priced with
//!   [`NetModel::nccl`], the constants fitted on measured NCCL all-reduce (launch latency,
//!   LL128/Simple protocols, ~80% of the wire), NCCL's own choice of algorithm.
//! * RDU sockets: every socket one hop from every other, priced with [`NetModel::ideal`] (no
//!   NCCL on SambaNova; the per-hop `p2p_latency_us` is the link latency), the faster of a
//!   ring and a one-shot exchange ([`Algorithm::Ring`] vs [`Algorithm::Direct`]).

use crate::config::KeyError;
use archsim_net::{price_on, Algorithm, ClusterSpec, NetModel, Op, ScaleUpKind};
use archsim_workloads::CollectiveFunc;

/// Devices' links for one family's collectives.
#[derive(Debug, Clone)]
pub struct Links {
    /// How the devices are connected.
    pub kind: ScaleUpKind,
    /// Bandwidth per device and direction, GB/s.
    pub gb_s: f64,
    /// Latency of one device-to-device hop, µs.
    pub latency_us: f64,
    /// Protocol constants.
    pub model: NetModel,
    /// Algorithms to try (the cheapest is used); empty: net's NCCL-like choice.
    pub algorithms: Vec<Algorithm>,
}

/// Latency of one GPU-to-GPU hop through an NVSwitch, µs (the calibrated A100 node's).
pub const NVLINK_HOP_US: f64 = archsim_net::calibrate::A100_HOP_LATENCY_US;

/// Devices of one scale-up node where a family's config names none: an HGX/DGX board's eight
/// GPUs on one NVSwitch (what [`Links::nccl_switch`] prices).
pub const NODE_DEVICES: u64 = 8;

/// Refuses an expert-parallel `llm:` step whose `tp × ep` devices do not fit in one node of
/// `node` devices (`what` names them): its all-to-alls are priced on one node's links, and an
/// `llm:` run has no `cluster:` to span nodes with. The error names `workload.llm.ep`. A step
/// without expert parallelism is left as it was (its `tp` is checked, or not, as before).
pub fn check_expert_parallel_node(
    workload: &archsim_workloads::WorkloadConfig,
    node: u64,
    what: &str,
) -> Result<(), KeyError> {
    match &workload.llm {
        Some(l) if l.ep > 1 && l.tp.saturating_mul(l.ep) > node => Err(KeyError::new(
            vec!["workload".into(), "llm".into(), "ep".into()],
            format!(
                "tp × ep = {} × {} = {} devices exceed one node ({what}); an `llm:` step's \
                 all-to-alls run on one node's links and it takes no cluster: section to span \
                 nodes: use tp × ep ≤ {node}",
                l.tp,
                l.ep,
                l.tp.saturating_mul(l.ep)
            ),
        )),
        _ => Ok(()),
    }
}

impl Links {
    /// Devices on an NVSwitch (`gb_s` NVLink per device and direction), priced as NCCL.
    pub fn nccl_switch(gb_s: f64) -> Self {
        Links {
            kind: ScaleUpKind::Nvswitch,
            gb_s,
            latency_us: NVLINK_HOP_US,
            model: NetModel::nccl(),
            algorithms: Vec::new(),
        }
    }

    /// Devices under a PCIe tree (`gb_s` per device and direction), priced as NCCL.
    pub fn nccl_pcie(gb_s: f64) -> Self {
        Links {
            kind: ScaleUpKind::Pcie,
            ..Links::nccl_switch(gb_s)
        }
    }

    /// Devices each one hop from every other (`gb_s` per device and direction, `latency_us`
    /// per hop) under the ideal α-β model: the faster of a ring and a one-shot exchange.
    pub fn ideal_ring_or_one_shot(gb_s: f64, latency_us: f64) -> Self {
        Links {
            kind: ScaleUpKind::Nvswitch,
            gb_s,
            latency_us,
            model: NetModel::ideal(),
            algorithms: vec![Algorithm::Ring, Algorithm::Direct],
        }
    }

    /// Seconds of `func` on a tensor of `bytes` (the reduced tensor of an all-reduce, the
    /// gathered one of an all-gather, one rank's buffer of an all-to-all, `(p − 1)/p` of which
    /// leaves the device: the busiest rank's for an all-to-allv, see
    /// `archsim_workloads::Op::collective_bytes`) over `ranks` devices. One device moves nothing; links of
    /// zero bandwidth never finish (infinite).
    pub fn seconds(&self, func: CollectiveFunc, ranks: u64, bytes: f64) -> f64 {
        if ranks <= 1 {
            return 0.0;
        }
        let op = match func {
            CollectiveFunc::AllReduce => Op::AllReduce,
            CollectiveFunc::AllGather => Op::AllGather,
            CollectiveFunc::AllToAll => Op::AllToAll,
        };
        let ranks = usize::try_from(ranks).unwrap_or(usize::MAX);
        let spec = ClusterSpec::node(self.kind, ranks, self.gb_s, self.latency_us);
        let price = |alg| {
            price_on(&spec, &self.model, op, bytes, ranks, alg).map_or(f64::INFINITY, |c| c.time_s)
        };
        if self.algorithms.is_empty() && op == Op::AllToAll {
            // NCCL's all-to-all is every rank sending to every rank at once; where the devices
            // are not one hop apart (a PCIe tree) the blocks go round a ring instead.
            price(None).min(price(Some(Algorithm::Ring)))
        } else if self.algorithms.is_empty() {
            price(None)
        } else {
            self.algorithms
                .iter()
                .map(|&a| price(Some(a)))
                .fold(f64::INFINITY, f64::min)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_shot_and_ring_are_the_textbook_formulas() {
        // 8 sockets, 100 GB/s, 2 µs: a large all-reduce rings, a small one goes one-shot.
        let l = Links::ideal_ring_or_one_shot(100.0, 2.0);
        let (p, bw, lat) = (8.0, 100e9, 2e-6);
        let big = (1u64 << 30) as f64;
        let ring = 2.0 * (p - 1.0) * (lat + big / p / bw);
        let got = l.seconds(CollectiveFunc::AllReduce, 8, big);
        assert!(
            (got - ring).abs() < 1e-12 * ring.max(1.0),
            "{got} vs {ring}"
        );
        let small = 8192.0;
        let one_shot = lat + (p - 1.0) * small / bw;
        let got = l.seconds(CollectiveFunc::AllReduce, 8, small);
        assert!((got - one_shot).abs() < 1e-15, "{got} vs {one_shot}");
        let gather = lat + (p - 1.0) * small / p / bw;
        let got = l.seconds(CollectiveFunc::AllGather, 8, small);
        assert!((got - gather).abs() < 1e-15, "{got} vs {gather}");
        assert_eq!(l.seconds(CollectiveFunc::AllReduce, 1, big), 0.0);
    }

    #[test]
    fn all_to_all_sends_the_other_ranks_blocks_once() {
        // One-shot on a switch: every rank sends (p−1)/p of its buffer at once, one hop.
        let l = Links::ideal_ring_or_one_shot(100.0, 2.0);
        let (p, bw, lat) = (8.0, 100e9, 2e-6);
        let s = (64u64 << 20) as f64;
        let direct = lat + (p - 1.0) / p * s / bw;
        let got = l.seconds(CollectiveFunc::AllToAll, 8, s);
        assert!((got - direct).abs() < 1e-15, "{got} vs {direct}");
        // NCCL on an NVSwitch: the one-shot exchange; under a PCIe tree (no direct path) the
        // blocks go round a ring, which moves (p−1)/2 buffers over each link.
        let sw = Links::nccl_switch(300.0).seconds(CollectiveFunc::AllToAll, 8, s);
        let pcie = Links::nccl_pcie(300.0).seconds(CollectiveFunc::AllToAll, 8, s);
        assert!(
            sw.is_finite() && pcie.is_finite() && pcie > 3.0 * sw,
            "{sw} {pcie}"
        );
        assert!(sw > 7.0 / 8.0 * s / 300e9, "no faster than the wire: {sw}");
        assert_eq!(
            Links::nccl_switch(300.0).seconds(CollectiveFunc::AllToAll, 1, s),
            0.0
        );
    }

    #[test]
    fn nccl_switch_has_a_latency_floor_and_a_bandwidth_plateau() {
        let l = Links::nccl_switch(300.0);
        let tiny = l.seconds(CollectiveFunc::AllReduce, 8, 64.0);
        // NCCL's launch and synchronization, tens of µs, not the 14 × 1 µs of an ideal ring.
        assert!(tiny > 20e-6 && tiny < 100e-6, "{tiny}");
        let s = (1u64 << 30) as f64;
        let t = l.seconds(CollectiveFunc::AllReduce, 8, s);
        let busbw = s / t * 2.0 * 7.0 / 8.0 / 1e9;
        assert!(busbw > 200.0 && busbw < 300.0, "{busbw}");
        assert_eq!(
            Links::nccl_switch(0.0).seconds(CollectiveFunc::AllReduce, 2, s),
            f64::INFINITY
        );
    }
}
