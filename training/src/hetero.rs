//! Heterogeneous clusters (Holmes, Yang et al. 2024): node groups with their own device kind
//! and their own NICs in one training job.
//!
//! A cluster is given as groups in node order, each with a device (any family that prices
//! op graphs and has a peak and a capacity) and the NIC of its nodes (`cluster.groups`); a
//! link between groups (`cluster.between_groups`, default: the slower group's NIC) carries
//! what crosses from one group to another. Every pipeline stage's `tp · dp` devices are
//! placed (`parallel.placement`):
//!
//! - `nic_aware` (default; Holmes' cross-cluster pipeline): each stage inside one group, as
//!   many stages per group as its devices hold, in the groups' order. Tensor- and
//!   data-parallel collectives run on the group's own NICs; only the pipeline sends at a
//!   boundary between groups cross the slow link.
//! - `flat`: Megatron-LM's rank order over all devices, the groups seen as one cluster: a
//!   stage whose devices span groups runs at its slowest device, and every inter-node
//!   collective at the slowest NIC (a launcher that ignores the NIC kinds).
//! - a list: the group of every stage (each group's devices used exactly).
//!
//! The layers of each stage (`parallel.layers_per_stage`) are given or chosen: one layer
//! at a time to the stage whose forward + recompute + backward per micro-batch would end
//! lowest (Holmes' self-adapting partition: faster devices get more layers), the first and
//! last stages carrying the embedding and the LM head. The iteration is then the same event
//! DAG as a uniform cluster's, each stage's tasks priced on its own device and network.

use archsim_accelerators::family::Family;
use archsim_net::{ClusterSpec, NetModel, NodeGroup, Op};
use archsim_workloads::DType;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use archsim_accelerators::config::{typed, KeyError};
use archsim_accelerators::AcceleratorConfig;
use archsim_net::Fabric;

use crate::comm::collective_s;
use crate::config::{validate, ParallelConfig, Placement, PlacementRule, Schedule, TrainingConfig};
use crate::error::{invalid, TrainingError};
use crate::memory::MemoryGb;
use crate::model::{prepare_with, Calibration, DeviceCaps, Prepared, TrainingReport};

/// One entry of `cluster.groups` (a heterogeneous cluster, node order): the nodes, their
/// device and their NICs. Additive extra.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterGroup {
    /// Nodes in the group.
    pub nodes: usize,
    /// The group's device (`kind` and its keys, as `accelerator:`).
    #[schemars(with = "AcceleratorConfig")]
    pub accelerator: Map<String, Value>,
    /// Bandwidth of one NIC, one direction, GB/s.
    pub nic_gb_s: f64,
    /// NICs per node.
    pub nics_per_node: usize,
    /// Latency through the group's fabric, µs (default 5).
    #[serde(default = "five")]
    pub latency_us: f64,
    /// `infiniband` (default), `roce` or `ethernet`.
    #[serde(default)]
    pub fabric: Fabric,
}

/// `cluster.between_groups`: the link pipeline sends take from one group to another
/// (default: the slower group's NICs). Additive extra.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BetweenGroups {
    /// Bandwidth of one NIC, one direction, GB/s.
    pub nic_gb_s: f64,
    /// NICs per node on the link.
    pub nics_per_node: usize,
    /// Latency, µs (default 5).
    #[serde(default = "five")]
    pub latency_us: f64,
    /// `infiniband` (default), `roce` or `ethernet`.
    #[serde(default)]
    pub fabric: Fabric,
}

impl BetweenGroups {
    /// The link as the network prices a pipeline send over it: two nodes, one on each side.
    pub fn node_group(&self) -> NodeGroup {
        NodeGroup {
            nodes: 2,
            nic_gb_s: self.nic_gb_s,
            nics_per_node: self.nics_per_node,
            latency_us: self.latency_us,
            fabric: self.fabric,
        }
    }
}

fn five() -> f64 {
    5.0
}

/// A split-off `cluster:`: as written, its groups, the link between them.
pub type Groups = (Value, Vec<ClusterGroup>, Option<BetweenGroups>);

/// Takes `cluster.groups` (and `cluster.between_groups`) out of a config document, putting
/// their NICs where the network reads them (`cluster.scale_out.groups`, `cluster.nodes`).
pub fn split_groups(value: &mut Value) -> Result<Option<Groups>, (String, String)> {
    let Some(cluster) = value.get_mut("cluster").and_then(Value::as_object_mut) else {
        return Ok(None);
    };
    if !cluster.contains_key("groups") {
        if cluster.contains_key("between_groups") {
            return Err((
                "cluster.between_groups".into(),
                "links node groups, so it needs cluster.groups".into(),
            ));
        }
        return Ok(None);
    }
    let doc = Value::Object(cluster.clone());
    let raw = cluster.remove("groups").unwrap_or(Value::Null);
    let groups: Vec<ClusterGroup> = typed(raw, &[]).map_err(|KeyError { path, message: m }| {
        let mut k = vec!["cluster.groups".to_string()];
        k.extend(path);
        (k.join("."), m)
    })?;
    if groups.is_empty() {
        return Err(("cluster.groups".into(), "needs at least one group".into()));
    }
    let between: Option<BetweenGroups> = match cluster.remove("between_groups") {
        None => None,
        Some(v) => Some(typed(v, &[]).map_err(|KeyError { path, message: m }| {
            let mut k = vec!["cluster.between_groups".to_string()];
            k.extend(path);
            (k.join("."), m)
        })?),
    };
    if let Some(i) = groups.iter().position(|g| g.nodes == 0) {
        return Err((
            format!("cluster.groups[{i}].nodes"),
            "must be at least 1".into(),
        ));
    }
    if let Some(b) = &between {
        let k = "cluster.between_groups";
        if !(b.nic_gb_s.is_finite() && b.nic_gb_s > 0.0) {
            return Err((
                format!("{k}.nic_gb_s"),
                format!("must be a positive number of GB/s, not {}", b.nic_gb_s),
            ));
        }
        if b.nics_per_node == 0 {
            return Err((format!("{k}.nics_per_node"), "must be at least 1".into()));
        }
        if !(b.latency_us.is_finite() && b.latency_us >= 0.0) {
            return Err((
                format!("{k}.latency_us"),
                format!("must be a non-negative number of µs, not {}", b.latency_us),
            ));
        }
    }
    let nodes: usize = groups.iter().map(|g| g.nodes).sum();
    if let Some(n) = cluster.get("nodes").and_then(Value::as_u64) {
        if n as usize != nodes {
            return Err((
                "cluster.nodes".into(),
                format!("{n} nodes, but cluster.groups has {nodes}"),
            ));
        }
    }
    cluster.insert("nodes".into(), Value::from(nodes));
    let so = cluster
        .entry("scale_out")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(so) = so.as_object_mut() else {
        return Err(("cluster.scale_out".into(), "must be a mapping".into()));
    };
    if so.contains_key("groups") {
        return Err((
            "cluster.groups".into(),
            "gives the NICs of the node groups; drop cluster.scale_out.groups".into(),
        ));
    }
    let nics = groups
        .iter()
        .map(|g| {
            serde_json::json!({"nodes": g.nodes, "nic_gb_s": g.nic_gb_s,
                "nics_per_node": g.nics_per_node, "latency_us": g.latency_us,
                "fabric": g.fabric})
        })
        .collect();
    so.insert("groups".into(), Value::Array(nics));
    Ok(Some((doc, groups, between)))
}
/// The device of one node group (the group's nodes and NIC are `cluster.scale_out.groups`
/// at the same index).
pub struct GroupDevice<'a> {
    /// Prices the group's op graphs.
    pub family: &'a dyn Family,
    /// Peak and capacity of the group's device.
    pub caps: DeviceCaps,
}

/// Where the stages of a heterogeneous job went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlacementReport {
    /// `nic_aware`, `flat` or `given`.
    pub rule: String,
    /// Layers of each (virtual) stage, in model order.
    pub layers_per_stage: Vec<u64>,
    /// The groups each pipeline stage's devices are in.
    pub stage_groups: Vec<Vec<usize>>,
}

/// A heterogeneous job, priced: one [`Prepared`] per group (its device, and its own network
/// or the flat one), the placement and the links between groups.
pub struct HeteroPrepared {
    jobs: Vec<Prepared>,
    stage_groups: Vec<Vec<usize>>,
    rule: &'static str,
    layers: Vec<u64>,
    /// Pipeline send across a boundary, seconds, by (from group, to group).
    cross_send: Vec<Vec<f64>>,
    devices_per_group: Vec<usize>,
    flat: bool,
}

fn group_cluster(cluster: &ClusterSpec, g: &NodeGroup, devices: usize) -> ClusterSpec {
    let dpn = cluster.devices_per_node.max(1);
    let mut c = cluster.clone();
    if devices <= dpn {
        c.nodes = 1;
        c.devices_per_node = devices;
        c.scale_out = None;
        return c;
    }
    c.nodes = devices / dpn;
    if let Some(so) = c.scale_out.as_mut() {
        so.groups = vec![NodeGroup {
            nodes: c.nodes,
            ..g.clone()
        }];
    }
    c
}

/// The NIC share per device of a group (for the slowest-of comparisons).
fn per_device(g: &NodeGroup, dpn: usize) -> f64 {
    g.nic_gb_s * g.nics_per_node as f64 / dpn.max(1) as f64
}

/// Layers per device stage (each at least `min`) minimizing the largest stage's time
/// `l · per_layer + extra` (greedy one layer at a time; exact for linear costs).
pub fn balance(layers: u64, per_layer: &[f64], extra: &[f64], min: u64) -> Vec<u64> {
    let n = per_layer.len();
    let mut l = vec![min; n];
    let mut left = layers.saturating_sub(min * n as u64);
    while left > 0 {
        let mut best = 0;
        let mut best_t = f64::INFINITY;
        for d in 0..n {
            let t = (l[d] + 1) as f64 * per_layer[d] + extra[d];
            if t < best_t {
                best_t = t;
                best = d;
            }
        }
        l[best] += 1;
        left -= 1;
    }
    l
}

/// Prices a job on a heterogeneous cluster: `cluster.scale_out.groups[g]` holds group `g`'s
/// nodes and NIC, `devices[g]` its device; `between` is the link between groups (default:
/// the slower group's NIC). `cal` chooses the layer partition when none is given.
#[allow(clippy::too_many_arguments)]
pub fn prepare_hetero(
    train: &TrainingConfig,
    parallel: &ParallelConfig,
    dtype: DType,
    devices: &[GroupDevice<'_>],
    cluster: &ClusterSpec,
    between: Option<&NodeGroup>,
    net: &NetModel,
    cal: &Calibration,
) -> Result<HeteroPrepared, TrainingError> {
    let spec = train.spec()?;
    let total = cluster.devices();
    validate(train, &spec, parallel, total)?;
    let groups: Vec<NodeGroup> = cluster
        .scale_out
        .as_ref()
        .map(|so| so.groups.clone())
        .unwrap_or_default();
    if groups.len() != devices.len() || groups.is_empty() {
        return Err(invalid(
            "cluster.groups",
            format!("{} node groups but {} devices", groups.len(), devices.len()),
        ));
    }
    if !parallel.offload.is_none() {
        return Err(invalid(
            "parallel.offload",
            "offload on a heterogeneous cluster (cluster.groups) is not modelled",
        ));
    }
    let dpn = cluster.devices_per_node.max(1);
    let n_dev: Vec<usize> = groups.iter().map(|g| g.nodes * dpn).collect();
    let (tp, pp, dp) = (parallel.tp, parallel.pp, parallel.dp);
    let per_stage = tp * dp;
    // The groups of every pipeline stage.
    let rule_of = match &parallel.placement {
        None => Placement::Rule(PlacementRule::NicAware),
        Some(p) => p.clone(),
    };
    let (stage_groups, rule): (Vec<Vec<usize>>, &'static str) = match &rule_of {
        Placement::Stages(list) => {
            if list.len() != pp {
                return Err(invalid(
                    "parallel.placement",
                    format!("{} entries for pp = {pp} stages", list.len()),
                ));
            }
            for (g, &n) in n_dev.iter().enumerate() {
                let used = list.iter().filter(|&&x| x == g).count() * per_stage;
                if used != n {
                    return Err(invalid(
                        "parallel.placement",
                        format!(
                            "group {g} has {n} devices but its {} stages of tp·dp = {per_stage} use {used}",
                            used / per_stage
                        ),
                    ));
                }
            }
            if let Some(&bad) = list.iter().find(|&&x| x >= groups.len()) {
                return Err(invalid(
                    "parallel.placement",
                    format!("group {bad} does not exist ({} groups)", groups.len()),
                ));
            }
            (list.iter().map(|&g| vec![g]).collect(), "given")
        }
        Placement::Rule(PlacementRule::NicAware) => {
            let mut out = Vec::with_capacity(pp);
            for (g, &n) in n_dev.iter().enumerate() {
                if n % per_stage != 0 {
                    return Err(invalid(
                        "parallel.placement",
                        format!(
                            "nic_aware: group {g}'s {n} devices are not a multiple of a stage's tp·dp = {per_stage}; give parallel.placement: flat or change the layout"
                        ),
                    ));
                }
                out.extend(std::iter::repeat_n(vec![g], n / per_stage));
            }
            (out, "nic_aware")
        }
        Placement::Rule(PlacementRule::Flat) => {
            // Rank r = t + tp·(d + dp·p): stage p holds ranks [p·tp·dp, (p+1)·tp·dp).
            let mut starts = Vec::with_capacity(n_dev.len());
            let mut acc = 0;
            for &n in &n_dev {
                starts.push(acc);
                acc += n;
            }
            let out = (0..pp)
                .map(|p| {
                    let (a, b) = (p * per_stage, (p + 1) * per_stage);
                    (0..n_dev.len())
                        .filter(|&g| starts[g] < b && starts[g] + n_dev[g] > a)
                        .collect()
                })
                .collect();
            (out, "flat")
        }
    };
    let flat = rule == "flat";
    // Each group's job on its own network (or, flat, on the whole cluster's).
    let slowest = groups
        .iter()
        .chain(between)
        .min_by(|a, b| per_device(a, dpn).total_cmp(&per_device(b, dpn)))
        .cloned()
        .unwrap_or_else(|| groups[0].clone());
    let net_of = |g: usize| -> ClusterSpec {
        if flat {
            group_cluster(cluster, &slowest, total)
        } else {
            group_cluster(cluster, &groups[g], total)
        }
    };
    let mut base = parallel.clone();
    base.placement = None;
    let prep = |p: &ParallelConfig| -> Result<Vec<Prepared>, TrainingError> {
        devices
            .iter()
            .enumerate()
            .map(|(g, d)| {
                prepare_with(
                    train,
                    p,
                    dtype,
                    d.family,
                    d.caps,
                    &net_of(g),
                    net,
                    None,
                    None,
                )
            })
            .collect()
    };
    let mut jobs = prep(&base)?;
    if parallel.layers_per_stage.is_empty() {
        let vpp = if parallel.schedule == Schedule::Interleaved {
            parallel.vpp
        } else {
            1
        };
        // Per device stage: the slowest group it spans sets its pace.
        let costs: Vec<(f64, f64, f64)> = jobs.iter().map(|j| j.pass_costs(cal)).collect();
        let per_layer: Vec<f64> = stage_groups
            .iter()
            .map(|gs| gs.iter().map(|&g| costs[g].0).fold(0.0, f64::max))
            .collect();
        let extra: Vec<f64> = stage_groups
            .iter()
            .enumerate()
            .map(|(d, gs)| {
                gs.iter()
                    .map(|&g| {
                        let mut e = 0.0;
                        if d == 0 {
                            e += costs[g].1;
                        }
                        if d + 1 == pp {
                            e += costs[g].2;
                        }
                        e
                    })
                    .fold(0.0, f64::max)
            })
            .collect();
        let per_dev = balance(spec.layers, &per_layer, &extra, vpp as u64);
        let mut virt = vec![0; pp * vpp];
        for (d, &l) in per_dev.iter().enumerate() {
            for (c, x) in crate::model::partition(l, vpp).into_iter().enumerate() {
                virt[c * pp + d] = x;
            }
        }
        base.layers_per_stage = virt;
        jobs = prep(&base)?;
    }
    let layers = jobs[0].virt().to_vec();
    // Pipeline sends across a boundary: the activation of one micro-batch split over the
    // tensor ranks, node to node on the link between the groups.
    let act =
        (train.micro_batch * train.seq_len * spec.hidden) as f64 * dtype.bytes() as f64 / tp as f64;
    let ng = groups.len();
    let mut cross_send = vec![vec![0.0; ng]; ng];
    for a in 0..ng {
        for b in 0..ng {
            if a == b {
                continue;
            }
            let link = match between {
                Some(l) => l.clone(),
                None if per_device(&groups[a], dpn) <= per_device(&groups[b], dpn) => {
                    groups[a].clone()
                }
                None => groups[b].clone(),
            };
            let two = group_cluster(cluster, &link, 2 * dpn);
            cross_send[a][b] = collective_s(&two, net, Op::SendRecv, act, dpn, 2)?;
        }
    }
    Ok(HeteroPrepared {
        jobs,
        stage_groups,
        rule,
        layers,
        cross_send,
        devices_per_group: n_dev,
        flat,
    })
}

impl HeteroPrepared {
    /// Simulates the iteration under `cal`: every stage's tasks from its group's job (the
    /// slowest of its groups' when it spans several), sends across group boundaries on the
    /// link between them.
    pub fn evaluate(&self, cal: &Calibration) -> Result<TrainingReport, TrainingError> {
        let per_group: Vec<_> = self.jobs.iter().map(|j| j.stage_times(cal)).collect();
        let pp = self.stage_groups.len();
        let nv = per_group[0].len();
        let dev = |v: usize| v % pp;
        let times: Vec<_> = (0..nv)
            .map(|v| {
                let gs = &self.stage_groups[dev(v)];
                let mut t = per_group[gs[0]][v].clone();
                for &g in &gs[1..] {
                    let o = &per_group[g][v];
                    let mx = |a: f64, b: f64| a.max(b);
                    t.fwd = (
                        mx(t.fwd.0, o.fwd.0),
                        mx(t.fwd.1, o.fwd.1),
                        mx(t.fwd.2, o.fwd.2),
                    );
                    t.bwd = (
                        mx(t.bwd.0, o.bwd.0),
                        mx(t.bwd.1, o.bwd.1),
                        mx(t.bwd.2, o.bwd.2),
                    );
                    t.recompute = (
                        mx(t.recompute.0, o.recompute.0),
                        mx(t.recompute.1, o.recompute.1),
                    );
                    t.dp_s = mx(t.dp_s, o.dp_s);
                    t.dp_layer_s = mx(t.dp_layer_s, o.dp_layer_s);
                    t.optimizer_s = mx(t.optimizer_s, o.optimizer_s);
                    t.send_s = mx(t.send_s, o.send_s);
                }
                if !self.flat {
                    let here = gs[0];
                    let own = t.send_s;
                    if v + 1 < nv {
                        let next = self.stage_groups[dev(v + 1)][0];
                        if next != here {
                            t.send_s = self.cross_send[here][next];
                        }
                    }
                    if v > 0 {
                        let prev = self.stage_groups[dev(v - 1)][0];
                        t.send_prev_s = Some(if prev != here {
                            self.cross_send[here][prev]
                        } else {
                            own
                        });
                    }
                }
                t
            })
            .collect();
        let last = self.stage_groups[pp - 1][0];
        let mut r = self.jobs[last].evaluate_times(&times)?;
        // Peak of the whole cluster; memory against each stage's own devices.
        let n = r.devices as f64;
        let peak_all: f64 = self
            .devices_per_group
            .iter()
            .zip(&self.jobs)
            .map(|(&k, j)| k as f64 * j.caps().peak_flops)
            .sum();
        let scale = self.jobs[last].caps().peak_flops * n / peak_all;
        r.mfu *= scale;
        r.hfu *= scale;
        let mut worst = -1.0;
        let mut reasons = Vec::new();
        for (d, gs) in self.stage_groups.iter().enumerate() {
            for &g in gs {
                let m = self.jobs[g].stage_memory()[d];
                let cap = self.jobs[g].caps().mem_bytes;
                if m.total() / cap > worst {
                    worst = m.total() / cap;
                    r.memory_gb = MemoryGb::from(m);
                }
                if m.total() > cap {
                    reasons.push(format!(
                        "stage {d} needs {:.1} GB per device of group {g}'s {:.1} GB",
                        m.total() / 1e9,
                        cap / 1e9
                    ));
                }
            }
        }
        r.fits = reasons.is_empty();
        r.why_not = (!r.fits).then(|| reasons.join("; "));
        r.placement = Some(PlacementReport {
            rule: self.rule.into(),
            layers_per_stage: self.layers.clone(),
            stage_groups: self.stage_groups.clone(),
        });
        Ok(r)
    }
}
