//! Pricing the training job's collectives on the cluster through `archsim-net`.
//!
//! Ranks are laid out as Megatron-LM lays them out: tensor-parallel ranks innermost
//! (consecutive devices, inside a node when `tp` ≤ devices per node), then data-parallel,
//! then pipeline stages outermost. A group of `size` ranks spaced `stride` apart is priced on
//! the part of the cluster it spans: one node's scale-up network when it fits in a node,
//! otherwise `size / local` nodes of `local` members each, every member keeping its own share
//! of its node's NIC bandwidth (on a rail-optimized network, its own rail). Collective
//! algorithms, protocols and constants are the network crate's (NCCL-calibrated
//! [`NetModel::nccl`] by default).

use archsim_net::{price_on, ClusterSpec, NetModel, Op, ScaleOut};

use crate::error::TrainingError;

/// The part of `cluster` spanned by a group of `size` ranks `stride` apart.
pub fn group_spec(cluster: &ClusterSpec, stride: usize, size: usize) -> ClusterSpec {
    let dpn = cluster.devices_per_node.max(1);
    let mut g = cluster.clone();
    if stride * (size - 1) < dpn || cluster.scale_out.is_none() {
        g.nodes = 1;
        g.devices_per_node = size;
        g.scale_out = None;
        return g;
    }
    let local = (dpn / stride).max(1).min(size);
    let nodes = size.div_ceil(local);
    g.nodes = nodes;
    g.devices_per_node = local;
    if let Some(so) = cluster.scale_out.as_ref() {
        // The slowest group's NIC share per device (as the network model's scale-out tier).
        let mut slowest = so.groups[0].clone();
        for gr in &so.groups {
            let per = gr.nic_gb_s * gr.nics_per_node as f64;
            if per < slowest.nic_gb_s * slowest.nics_per_node as f64 {
                slowest = gr.clone();
            }
        }
        let per_device = slowest.nic_gb_s * slowest.nics_per_node as f64 / dpn as f64;
        slowest.nodes = nodes;
        slowest.nics_per_node = local;
        slowest.nic_gb_s = per_device;
        g.scale_out = Some(ScaleOut {
            groups: vec![slowest],
            nodes_per_leaf: so.nodes_per_leaf,
            ..so.clone()
        });
    }
    g
}

/// Seconds of `op` on `bytes` over a group of `size` ranks `stride` apart (0 for one rank).
pub fn collective_s(
    cluster: &ClusterSpec,
    model: &NetModel,
    op: Op,
    bytes: f64,
    stride: usize,
    size: usize,
) -> Result<f64, TrainingError> {
    if size < 2 || bytes <= 0.0 {
        return Ok(0.0);
    }
    let spec = group_spec(cluster, stride, size);
    Ok(price_on(&spec, model, op, bytes, size, None)?.time_s)
}
