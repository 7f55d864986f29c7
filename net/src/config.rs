//! The `cluster:` section of a config, as written (serde + JSON schema), and its conversion
//! into a [`ClusterSpec`]. The keys are fixed in DESIGN.md; `nvls`, `dims`, `nodes_per_leaf`,
//! `fabric` and `groups` are additive extras.
//!
//! ```
//! use archsim_net::config::ClusterConfig;
//! let c: ClusterConfig = serde_json::from_str(
//!     r#"{"nodes": 2, "devices_per_node": 8, "scale_up": {"gb_s": 300},
//!         "scale_out": {"nic_gb_s": 25, "nics_per_node": 8}}"#).unwrap();
//! assert_eq!(c.spec().unwrap().devices(), 16);
//! ```

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::NetError;
use crate::topology::{
    ClusterSpec, Fabric, NodeGroup, ScaleOut, ScaleOutKind, ScaleUp, ScaleUpKind,
};

fn one() -> usize {
    1
}
fn eight() -> usize {
    8
}
fn up_gb_s() -> f64 {
    300.0
}
fn up_latency() -> f64 {
    1.0
}
fn nic_gb_s() -> f64 {
    25.0
}
fn out_latency() -> f64 {
    5.0
}
fn oversub() -> f64 {
    1.0
}

/// `cluster:` — the machines of a multi-device run (bandwidths per device or link, one
/// direction, GB/s; latencies in µs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// Nodes (default 1).
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = 1_048_576))]
    pub nodes: usize,
    /// Devices per node (default 8).
    #[serde(default = "eight")]
    #[schemars(range(min = 1, max = 65_536))]
    pub devices_per_node: usize,
    /// The network inside a node.
    #[serde(default)]
    pub scale_up: ScaleUpConfig,
    /// The network between nodes (required with more than one node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_out: Option<ScaleOutConfig>,
    /// The host of each node (CPU memory, PCIe, NVMe): what training's offload uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostConfig>,
}

/// `cluster.host:` — the host of each node, shared by its devices (bandwidths one direction,
/// GB/s; capacities GB = 10⁹ bytes). No defaults: PCIe generation, DRAM channels and drives
/// vary from machine to machine.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// Host ↔ device bandwidth of each device's PCIe link, one direction (PCIe 4.0 x16:
    /// ~25 achieved of 31.5).
    #[schemars(range(min = 0, max = 1e7))]
    pub pcie_gb_s: f64,
    /// Host memory of the node.
    #[schemars(range(min = 0, max = 1e9))]
    pub host_mem_gb: f64,
    /// Host memory bandwidth the node's CPU optimizer streams at (CPU Adam is bound by it).
    #[schemars(range(min = 0, max = 1e7))]
    pub cpu_adam_gb_s: f64,
    /// Read/write bandwidth of the node's NVMe drives together (required for NVMe offload).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1e7))]
    pub nvme_gb_s: Option<f64>,
    /// Capacity of the node's NVMe drives (required for NVMe offload).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1e12))]
    pub nvme_gb: Option<f64>,
}

/// `cluster.scale_up`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScaleUpConfig {
    /// `nvswitch` (default), `nvlink_ring`, `nvlink_mesh`, `pcie`, `torus2d` or `torus3d`.
    #[serde(default)]
    pub kind: ScaleUpKind,
    /// Bandwidth per device (per link for rings, meshes and tori), one direction, GB/s
    /// (default 300).
    #[serde(default = "up_gb_s")]
    #[schemars(range(min = 1e-3, max = 1e7))]
    pub gb_s: f64,
    /// Latency of one device-to-device hop, µs (default 1).
    #[serde(default = "up_latency")]
    #[schemars(range(min = 0, max = 1e9))]
    pub latency_us: f64,
    /// In-switch reduction (NVLink SHARP) on an `nvswitch` (default false).
    #[serde(default)]
    pub nvls: bool,
    /// Torus dimensions (product = devices_per_node); default near-square / near-cube.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(range(min = 1, max = 65_536)))]
    pub dims: Vec<usize>,
}

impl Default for ScaleUpConfig {
    fn default() -> Self {
        ScaleUpConfig {
            kind: ScaleUpKind::Nvswitch,
            gb_s: up_gb_s(),
            latency_us: up_latency(),
            nvls: false,
            dims: Vec::new(),
        }
    }
}

/// `cluster.scale_out`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScaleOutConfig {
    /// `rail` (rail-optimized, default) or `fat_tree`.
    #[serde(default)]
    pub kind: ScaleOutKind,
    /// Bandwidth of one NIC, one direction, GB/s (default 25: 200 Gb/s HDR).
    #[serde(default = "nic_gb_s")]
    #[schemars(range(min = 1e-3, max = 1e7))]
    pub nic_gb_s: f64,
    /// NICs per node (default 8).
    #[serde(default = "eight")]
    #[schemars(range(min = 1, max = 1024))]
    pub nics_per_node: usize,
    /// Device-to-device latency through the fabric, µs (default 5).
    #[serde(default = "out_latency")]
    #[schemars(range(min = 0, max = 1e9))]
    pub latency_us: f64,
    /// Leaf downlink : uplink capacity (default 1, full bisection).
    #[serde(default = "oversub")]
    #[schemars(range(min = 1, max = 1e6))]
    pub oversubscription: f64,
    /// Nodes under one fat-tree leaf (default: a 64-port leaf, half of it facing nodes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1_048_576))]
    pub nodes_per_leaf: Option<usize>,
    /// The NICs' technology (default infiniband).
    #[serde(default)]
    pub fabric: Fabric,
    /// Node groups with different NICs side by side (their `nodes` add up to
    /// `cluster.nodes`); when given, they replace `nic_gb_s`, `nics_per_node`, `latency_us` and
    /// `fabric`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<NodeGroupConfig>,
}

/// One entry of `cluster.scale_out.groups`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeGroupConfig {
    /// Nodes in the group.
    #[schemars(range(min = 1, max = 1_048_576))]
    pub nodes: usize,
    /// Bandwidth of one NIC, GB/s.
    #[schemars(range(min = 1e-3, max = 1e7))]
    pub nic_gb_s: f64,
    /// NICs per node.
    #[schemars(range(min = 1, max = 1024))]
    pub nics_per_node: usize,
    /// Latency through the fabric, µs (default 5).
    #[serde(default = "out_latency")]
    #[schemars(range(min = 0, max = 1e9))]
    pub latency_us: f64,
    /// Technology (default infiniband).
    #[serde(default)]
    pub fabric: Fabric,
}

impl ClusterConfig {
    /// One node of `devices` on an NVSwitch of `gb_s` per device.
    pub fn single_node(devices: usize, gb_s: f64, latency_us: f64) -> Self {
        ClusterConfig {
            nodes: 1,
            devices_per_node: devices,
            scale_up: ScaleUpConfig {
                gb_s,
                latency_us,
                ..ScaleUpConfig::default()
            },
            scale_out: None,
            host: None,
        }
    }

    /// The validated spec (errors name the `cluster.…` key).
    pub fn spec(&self) -> Result<ClusterSpec, NetError> {
        let su = &self.scale_up;
        let spec = ClusterSpec {
            nodes: self.nodes,
            devices_per_node: self.devices_per_node,
            scale_up: ScaleUp {
                kind: su.kind,
                gb_s: su.gb_s,
                latency_us: su.latency_us,
                nvls: su.nvls,
                dims: su.dims.clone(),
            },
            scale_out: self.scale_out.as_ref().map(|so| ScaleOut {
                kind: so.kind,
                groups: if so.groups.is_empty() {
                    vec![NodeGroup {
                        nodes: self.nodes,
                        nic_gb_s: so.nic_gb_s,
                        nics_per_node: so.nics_per_node,
                        latency_us: so.latency_us,
                        fabric: so.fabric,
                    }]
                } else {
                    so.groups
                        .iter()
                        .map(|g| NodeGroup {
                            nodes: g.nodes,
                            nic_gb_s: g.nic_gb_s,
                            nics_per_node: g.nics_per_node,
                            latency_us: g.latency_us,
                            fabric: g.fabric,
                        })
                        .collect()
                },
                oversubscription: so.oversubscription,
                nodes_per_leaf: so
                    .nodes_per_leaf
                    .unwrap_or_else(|| (32 / so.nics_per_node.max(1)).max(1)),
            }),
        };
        spec.validate()?;
        Ok(spec)
    }
}
