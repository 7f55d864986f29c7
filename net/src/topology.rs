//! Topologies: devices, switches, NICs and one-direction links, built from a cluster spec.
//!
//! A [`Topology`] is a directed graph. Every physical cable is two [`Link`]s, one per
//! direction, each with its own bandwidth (bytes/s) and latency, because collectives load the
//! two directions independently. Besides the graph, the topology keeps the [`ClusterSpec`] it
//! was built from, whose tier summary ([`ClusterSpec::scale_up`], [`ClusterSpec::scale_out`])
//! is what the analytic collective model prices; the graph is what the flow simulator routes
//! over.

use serde::{Deserialize, Serialize};

use crate::error::{check_bw, check_count, check_lat, NetError};

/// What a vertex of the graph is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Vertex {
    /// A device (GPU, NPU, RDU socket) with its global rank and node.
    Device {
        /// Global rank.
        rank: usize,
        /// Node index.
        node: usize,
    },
    /// A switch (NVSwitch, PCIe switch, leaf, spine), named for traces.
    Switch(String),
    /// A network interface of a node.
    Nic {
        /// Node index.
        node: usize,
        /// NIC index within the node (its rail).
        index: usize,
    },
    /// A device's memory, when modelled as a link resource (see [`Topology::add_memory`]).
    Memory {
        /// The device's rank.
        rank: usize,
    },
}

/// One direction of a cable (or a memory port).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Link {
    /// Source vertex.
    pub from: usize,
    /// Destination vertex.
    pub to: usize,
    /// Bandwidth in bytes per second.
    pub bytes_per_s: f64,
    /// Latency of one traversal in seconds.
    pub latency_s: f64,
}

/// The kind of scale-up (intra-node) network.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ScaleUpKind {
    /// Every device on one switch (NVSwitch); optionally with in-switch reduction (NVLS).
    #[default]
    Nvswitch,
    /// Devices on a bidirectional ring of point-to-point links.
    NvlinkRing,
    /// Every pair of devices directly linked (`gb_s` is per link).
    NvlinkMesh,
    /// A PCIe tree: PCIe switches of four devices under a root complex.
    Pcie,
    /// A 2D torus with wrap-around links (TPU-style).
    Torus2d,
    /// A 3D torus with wrap-around links.
    Torus3d,
}

impl ScaleUpKind {
    /// The config name.
    pub fn name(self) -> &'static str {
        match self {
            ScaleUpKind::Nvswitch => "nvswitch",
            ScaleUpKind::NvlinkRing => "nvlink_ring",
            ScaleUpKind::NvlinkMesh => "nvlink_mesh",
            ScaleUpKind::Pcie => "pcie",
            ScaleUpKind::Torus2d => "torus2d",
            ScaleUpKind::Torus3d => "torus3d",
        }
    }
}

/// The scale-up network of every node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScaleUp {
    /// Its kind.
    pub kind: ScaleUpKind,
    /// Bandwidth per device (per link for meshes, rings and tori), one direction, GB/s.
    pub gb_s: f64,
    /// Latency of one device-to-device hop, µs.
    pub latency_us: f64,
    /// In-switch reduction (NVLink SHARP); only on an NVSwitch.
    pub nvls: bool,
    /// Torus dimensions (product = devices per node); empty = chosen near-square/near-cube.
    pub dims: Vec<usize>,
}

/// The kind of scale-out (inter-node) network.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ScaleOutKind {
    /// Rail-optimized: NIC `r` of every node on leaf `r`, leaves joined by a spine.
    #[default]
    Rail,
    /// A two-tier fat tree: leaves of `nodes_per_leaf` nodes under one (aggregated) spine.
    FatTree,
}

/// The link technology of a node group's NICs (reported; the numbers are in the group).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Fabric {
    /// InfiniBand.
    #[default]
    Infiniband,
    /// RDMA over converged Ethernet.
    Roce,
    /// Plain Ethernet (TCP).
    Ethernet,
}

/// Nodes that share one kind of NIC.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeGroup {
    /// Nodes in the group.
    pub nodes: usize,
    /// Bandwidth of one NIC, one direction, GB/s.
    pub nic_gb_s: f64,
    /// NICs per node.
    pub nics_per_node: usize,
    /// Latency device to device through the fabric, µs.
    pub latency_us: f64,
    /// Technology.
    pub fabric: Fabric,
}

/// The scale-out network.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScaleOut {
    /// Rail-optimized or fat tree.
    pub kind: ScaleOutKind,
    /// Node groups, in node order (one group when every node has the same NICs).
    pub groups: Vec<NodeGroup>,
    /// Downlink to uplink capacity ratio of a leaf (1 = full bisection).
    pub oversubscription: f64,
    /// Nodes under one leaf of a fat tree.
    pub nodes_per_leaf: usize,
}

/// Everything needed to build a [`Topology`]: the `cluster:` section of a config.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterSpec {
    /// Nodes.
    pub nodes: usize,
    /// Devices per node.
    pub devices_per_node: usize,
    /// The scale-up network.
    pub scale_up: ScaleUp,
    /// The scale-out network (`None` for one node).
    pub scale_out: Option<ScaleOut>,
}

impl ClusterSpec {
    /// One node of `devices` devices on `kind` with `gb_s` per device and `latency_us` per hop.
    pub fn node(kind: ScaleUpKind, devices: usize, gb_s: f64, latency_us: f64) -> Self {
        ClusterSpec {
            nodes: 1,
            devices_per_node: devices,
            scale_up: ScaleUp {
                kind,
                gb_s,
                latency_us,
                nvls: false,
                dims: Vec::new(),
            },
            scale_out: None,
        }
    }

    /// Turns on NVLS (in-switch reduction).
    pub fn with_nvls(mut self, on: bool) -> Self {
        self.scale_up.nvls = on;
        self
    }

    /// Sets explicit torus dimensions.
    pub fn with_dims(mut self, dims: &[usize]) -> Self {
        self.scale_up.dims = dims.to_vec();
        self
    }

    /// `nodes` such nodes joined by a scale-out network of one NIC kind.
    #[allow(clippy::too_many_arguments)]
    pub fn scale_out(
        mut self,
        nodes: usize,
        kind: ScaleOutKind,
        nic_gb_s: f64,
        nics_per_node: usize,
        latency_us: f64,
        oversubscription: f64,
    ) -> Self {
        self.nodes = nodes;
        self.scale_out = Some(ScaleOut {
            kind,
            groups: vec![NodeGroup {
                nodes,
                nic_gb_s,
                nics_per_node,
                latency_us,
                fabric: Fabric::Infiniband,
            }],
            oversubscription,
            nodes_per_leaf: default_nodes_per_leaf(nics_per_node),
        });
        self
    }

    /// Replaces the scale-out's node groups (their node counts must add up to `nodes`).
    pub fn with_groups(mut self, groups: Vec<NodeGroup>) -> Self {
        if let Some(so) = self.scale_out.as_mut() {
            so.groups = groups;
        }
        self
    }

    /// Sets the nodes under one fat-tree leaf.
    pub fn with_nodes_per_leaf(mut self, n: usize) -> Self {
        if let Some(so) = self.scale_out.as_mut() {
            so.nodes_per_leaf = n;
        }
        self
    }

    /// Total devices.
    pub fn devices(&self) -> usize {
        self.nodes * self.devices_per_node
    }

    /// Checks every number; errors name the config key.
    pub fn validate(&self) -> Result<(), NetError> {
        check_count("cluster.nodes", self.nodes)?;
        check_count("cluster.devices_per_node", self.devices_per_node)?;
        check_bw("cluster.scale_up.gb_s", self.scale_up.gb_s)?;
        check_lat("cluster.scale_up.latency_us", self.scale_up.latency_us)?;
        if self.scale_up.nvls && self.scale_up.kind != ScaleUpKind::Nvswitch {
            return Err(NetError::Count {
                key: "cluster.scale_up.nvls".into(),
                reason: format!(
                    "in-switch reduction needs an nvswitch, not {}",
                    self.scale_up.kind.name()
                ),
            });
        }
        if matches!(
            self.scale_up.kind,
            ScaleUpKind::Torus2d | ScaleUpKind::Torus3d
        ) {
            let dims = self.torus_dims();
            let prod: usize = dims.iter().product();
            if prod != self.devices_per_node || dims.contains(&0) {
                return Err(NetError::DeviceCount {
                    key: "cluster.scale_up.dims".into(),
                    want: prod,
                    have: self.devices_per_node,
                });
            }
        }
        match &self.scale_out {
            None if self.nodes > 1 => Err(NetError::Count {
                key: "cluster.scale_out".into(),
                reason: format!("{} nodes need a scale_out network", self.nodes),
            }),
            None => Ok(()),
            Some(so) => {
                if !(so.oversubscription.is_finite() && so.oversubscription >= 1.0) {
                    return Err(NetError::Count {
                        key: "cluster.scale_out.oversubscription".into(),
                        reason: format!("must be >= 1, got {}", so.oversubscription),
                    });
                }
                check_count("cluster.scale_out.nodes_per_leaf", so.nodes_per_leaf)?;
                if so.groups.is_empty() {
                    return Err(NetError::Count {
                        key: "cluster.scale_out.groups".into(),
                        reason: "needs at least one node group".into(),
                    });
                }
                let single = so.groups.len() == 1;
                let mut total = 0;
                for (i, g) in so.groups.iter().enumerate() {
                    let key = |k: &str| {
                        if single {
                            format!("cluster.scale_out.{k}")
                        } else {
                            format!("cluster.scale_out.groups[{i}].{k}")
                        }
                    };
                    if g.nics_per_node == 0 {
                        return Err(NetError::NoNic {
                            key: if single {
                                "cluster.scale_out.nics_per_node".into()
                            } else {
                                format!("cluster.scale_out.groups[{i}]")
                            },
                        });
                    }
                    check_bw(&key("nic_gb_s"), g.nic_gb_s)?;
                    check_lat(&key("latency_us"), g.latency_us)?;
                    total += g.nodes;
                }
                if total != self.nodes {
                    return Err(NetError::DeviceCount {
                        key: "cluster.scale_out.groups".into(),
                        want: total * self.devices_per_node,
                        have: self.devices(),
                    });
                }
                Ok(())
            }
        }
    }

    /// The torus dimensions: the given ones, or a near-square (2D) / near-cube (3D) factoring.
    pub fn torus_dims(&self) -> Vec<usize> {
        if !self.scale_up.dims.is_empty() {
            return self.scale_up.dims.clone();
        }
        let d = self.devices_per_node;
        match self.scale_up.kind {
            ScaleUpKind::Torus2d => {
                let a = largest_factor_at_most(d, (d as f64).sqrt().round() as usize);
                vec![a, d / a]
            }
            ScaleUpKind::Torus3d => {
                let a = largest_factor_at_most(d, (d as f64).cbrt().round() as usize);
                let rest = d / a;
                let b = largest_factor_at_most(rest, (rest as f64).sqrt().round() as usize);
                vec![a, b, rest / b]
            }
            _ => vec![d],
        }
    }

    /// Builds the graph.
    pub fn build(&self) -> Result<Topology, NetError> {
        self.validate()?;
        Topology::from_spec(self.clone())
    }
}

fn default_nodes_per_leaf(nics_per_node: usize) -> usize {
    // A 64-port leaf with half of its ports facing the nodes.
    (32 / nics_per_node.max(1)).max(1)
}

fn largest_factor_at_most(n: usize, cap: usize) -> usize {
    (1..=cap.max(1)).rev().find(|f| n % f == 0).unwrap_or(1)
}

/// A network: vertices, one-direction links, and the spec it was built from.
#[derive(Debug, Clone, Serialize)]
pub struct Topology {
    spec: ClusterSpec,
    vertices: Vec<Vertex>,
    links: Vec<Link>,
    #[serde(skip)]
    out: Vec<Vec<u32>>,
    devices: Vec<usize>,
}

const GB: f64 = 1e9;

impl Topology {
    /// One NVSwitch node: every device on one switch, `gb_s` per device and direction.
    pub fn nvswitch_node(
        devices: usize,
        gb_s: f64,
        latency_us: f64,
        nvls: bool,
    ) -> Result<Self, NetError> {
        ClusterSpec::node(ScaleUpKind::Nvswitch, devices, gb_s, latency_us)
            .with_nvls(nvls)
            .build()
    }

    /// One node whose devices form a bidirectional NVLink ring (`gb_s` per link and direction).
    pub fn nvlink_ring(devices: usize, gb_s: f64, latency_us: f64) -> Result<Self, NetError> {
        ClusterSpec::node(ScaleUpKind::NvlinkRing, devices, gb_s, latency_us).build()
    }

    /// One node whose devices are all pairwise linked (`gb_s` per link and direction).
    pub fn nvlink_mesh(devices: usize, gb_s: f64, latency_us: f64) -> Result<Self, NetError> {
        ClusterSpec::node(ScaleUpKind::NvlinkMesh, devices, gb_s, latency_us).build()
    }

    /// One node on a PCIe tree (switches of four devices under the root complex).
    pub fn pcie_tree(devices: usize, gb_s: f64, latency_us: f64) -> Result<Self, NetError> {
        ClusterSpec::node(ScaleUpKind::Pcie, devices, gb_s, latency_us).build()
    }

    /// A 2D or 3D torus with the given dimensions (`gb_s` per link and direction).
    pub fn torus(dims: &[usize], gb_s: f64, latency_us: f64) -> Result<Self, NetError> {
        let kind = if dims.len() == 3 {
            ScaleUpKind::Torus3d
        } else {
            ScaleUpKind::Torus2d
        };
        if !(2..=3).contains(&dims.len()) {
            return Err(NetError::Count {
                key: "cluster.scale_up.dims".into(),
                reason: format!("a torus has 2 or 3 dimensions, got {}", dims.len()),
            });
        }
        let n = dims.iter().product();
        ClusterSpec::node(kind, n, gb_s, latency_us)
            .with_dims(dims)
            .build()
    }

    fn from_spec(spec: ClusterSpec) -> Result<Self, NetError> {
        let mut t = Topology {
            spec,
            vertices: Vec::new(),
            links: Vec::new(),
            out: Vec::new(),
            devices: Vec::new(),
        };
        let d = t.spec.devices_per_node;
        for node in 0..t.spec.nodes {
            for local in 0..d {
                let v = t.vertex(Vertex::Device {
                    rank: node * d + local,
                    node,
                });
                t.devices.push(v);
            }
            t.build_scale_up(node);
        }
        t.build_scale_out();
        Ok(t)
    }

    fn vertex(&mut self, v: Vertex) -> usize {
        self.vertices.push(v);
        self.out.push(Vec::new());
        self.vertices.len() - 1
    }

    /// Adds one link (one direction) and returns its id.
    pub fn add_link(&mut self, from: usize, to: usize, gb_s: f64, latency_us: f64) -> usize {
        let id = self.links.len();
        self.links.push(Link {
            from,
            to,
            bytes_per_s: gb_s * GB,
            latency_s: latency_us * 1e-6,
        });
        self.out[from].push(id as u32);
        id
    }

    fn cable(&mut self, a: usize, b: usize, gb_s: f64, latency_us: f64) {
        self.add_link(a, b, gb_s, latency_us);
        self.add_link(b, a, gb_s, latency_us);
    }

    fn build_scale_up(&mut self, node: usize) {
        let su = self.spec.scale_up.clone();
        let d = self.spec.devices_per_node;
        let dev = |t: &Topology, local: usize| t.devices[node * d + local];
        match su.kind {
            ScaleUpKind::Nvswitch => {
                let sw = self.vertex(Vertex::Switch(format!("node{node}.nvswitch")));
                for l in 0..d {
                    let v = dev(self, l);
                    self.cable(v, sw, su.gb_s, su.latency_us / 2.0);
                }
            }
            ScaleUpKind::NvlinkRing => {
                if d == 2 {
                    let (a, b) = (dev(self, 0), dev(self, 1));
                    self.cable(a, b, su.gb_s, su.latency_us);
                } else if d > 2 {
                    for l in 0..d {
                        let (a, b) = (dev(self, l), dev(self, (l + 1) % d));
                        self.cable(a, b, su.gb_s, su.latency_us);
                    }
                }
            }
            ScaleUpKind::NvlinkMesh => {
                for a in 0..d {
                    for b in a + 1..d {
                        let (va, vb) = (dev(self, a), dev(self, b));
                        self.cable(va, vb, su.gb_s, su.latency_us);
                    }
                }
            }
            ScaleUpKind::Pcie => {
                let root = self.vertex(Vertex::Switch(format!("node{node}.root_complex")));
                for g in 0..d.div_ceil(4) {
                    let sw = self.vertex(Vertex::Switch(format!("node{node}.pcie{g}")));
                    self.cable(sw, root, su.gb_s, su.latency_us / 4.0);
                    for l in g * 4..(g * 4 + 4).min(d) {
                        let v = dev(self, l);
                        self.cable(v, sw, su.gb_s, su.latency_us / 4.0);
                    }
                }
            }
            ScaleUpKind::Torus2d | ScaleUpKind::Torus3d => {
                let dims = self.spec.torus_dims();
                let mut stride = 1;
                for &n in &dims {
                    for l in 0..d {
                        let coord = (l / stride) % n;
                        let next = l - coord * stride + ((coord + 1) % n) * stride;
                        // Wrap-around links close each line; a line of two has one cable.
                        if n > 2 || (n == 2 && coord == 0) {
                            let (a, b) = (dev(self, l), dev(self, next));
                            self.cable(a, b, su.gb_s, su.latency_us);
                        }
                    }
                    stride *= n;
                }
            }
        }
    }

    fn build_scale_out(&mut self) {
        let Some(so) = self.spec.scale_out.clone() else {
            return;
        };
        let d = self.spec.devices_per_node;
        let spine = self.vertex(Vertex::Switch("spine".into()));
        let mut node0 = 0;
        for (gi, g) in so.groups.iter().enumerate() {
            let nics = g.nics_per_node;
            // Each link of the path device → NIC → leaf → (spine → leaf →) NIC → device carries
            // a share of the group's latency; a path within one leaf sees half of it.
            let hop = g.latency_us / 6.0;
            let attach = g.nic_gb_s.max(self.spec.scale_up.gb_s);
            let mut leaves: Vec<(usize, f64)> = Vec::new(); // (leaf vertex, downlink GB/s)
            let leaf_count = match so.kind {
                ScaleOutKind::Rail => nics,
                ScaleOutKind::FatTree => g.nodes.div_ceil(so.nodes_per_leaf),
            };
            for l in 0..leaf_count {
                let name = match so.kind {
                    ScaleOutKind::Rail => format!("group{gi}.rail{l}"),
                    ScaleOutKind::FatTree => format!("group{gi}.leaf{l}"),
                };
                let v = self.vertex(Vertex::Switch(name));
                leaves.push((v, 0.0));
            }
            for n in 0..g.nodes {
                let node = node0 + n;
                for i in 0..nics {
                    let nic = self.vertex(Vertex::Nic { node, index: i });
                    for local in (0..d).filter(|l| l * nics / d == i) {
                        let dv = self.devices[node * d + local];
                        self.cable(dv, nic, attach, hop);
                    }
                    let leaf = match so.kind {
                        ScaleOutKind::Rail => i,
                        ScaleOutKind::FatTree => n / so.nodes_per_leaf,
                    };
                    let lv = leaves[leaf].0;
                    self.cable(nic, lv, g.nic_gb_s, hop);
                    leaves[leaf].1 += g.nic_gb_s;
                }
            }
            for (lv, down) in leaves {
                self.cable(lv, spine, down / so.oversubscription, hop);
            }
            node0 += g.nodes;
        }
    }

    /// Models device `rank`'s memory as a link resource of `gb_s` and returns its link id
    /// (a self-loop on a new memory vertex). Flows that read or write that memory list the
    /// link in their path, so a GEMM's operand traffic and a fused reduce-scatter share it.
    pub fn add_memory(&mut self, rank: usize, gb_s: f64) -> Result<usize, NetError> {
        check_bw("memory.gb_s", gb_s)?;
        if rank >= self.devices.len() {
            return Err(NetError::DeviceCount {
                key: "memory.rank".into(),
                want: rank + 1,
                have: self.devices.len(),
            });
        }
        let m = self.vertex(Vertex::Memory { rank });
        Ok(self.add_link(m, m, gb_s, 0.0))
    }

    /// The spec this topology was built from.
    pub fn spec(&self) -> &ClusterSpec {
        &self.spec
    }

    /// Number of devices.
    pub fn devices(&self) -> usize {
        self.devices.len()
    }

    /// The vertex of device `rank`.
    pub fn device_vertex(&self, rank: usize) -> Option<usize> {
        self.devices.get(rank).copied()
    }

    /// All vertices.
    pub fn vertices(&self) -> &[Vertex] {
        &self.vertices
    }

    /// All links.
    pub fn links(&self) -> &[Link] {
        &self.links
    }

    /// A shortest (fewest hops) path of link ids from device `src` to device `dst`; ties go
    /// to the link added first, so routes are deterministic. Empty when `src == dst`.
    pub fn route(&self, src: usize, dst: usize) -> Option<Vec<u32>> {
        let (s, t) = (self.device_vertex(src)?, self.device_vertex(dst)?);
        self.routes_from(s).path_to(t)
    }

    /// Breadth-first routes from vertex `s` to every vertex (reuse it for many destinations).
    pub fn routes_from(&self, s: usize) -> Routes<'_> {
        let mut via = vec![u32::MAX; self.vertices.len()];
        let mut seen = vec![false; self.vertices.len()];
        let mut queue = std::collections::VecDeque::from([s]);
        seen[s] = true;
        while let Some(v) = queue.pop_front() {
            for &l in &self.out[v] {
                let w = self.links[l as usize].to;
                // A path may pass through a device (rings, meshes and tori relay through
                // peers, and a rail network may hop over NVLink to another rail as NCCL's PXN
                // does); a memory vertex is never transit.
                if !seen[w] {
                    let transit_ok = !matches!(self.vertices[w], Vertex::Memory { .. });
                    if transit_ok {
                        seen[w] = true;
                        via[w] = l;
                        queue.push_back(w);
                    }
                }
            }
        }
        Routes { topo: self, via, s }
    }
}

/// Shortest-path routes from one vertex (see [`Topology::routes_from`]).
pub struct Routes<'a> {
    topo: &'a Topology,
    via: Vec<u32>,
    s: usize,
}

impl Routes<'_> {
    /// The path of link ids to vertex `t`, or `None` when unreachable.
    pub fn path_to(&self, t: usize) -> Option<Vec<u32>> {
        let mut path = Vec::new();
        let mut v = t;
        while v != self.s {
            let l = *self.via.get(v)?;
            if l == u32::MAX {
                return None;
            }
            path.push(l);
            v = self.topo.links[l as usize].from;
        }
        path.reverse();
        Some(path)
    }
}
