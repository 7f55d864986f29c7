//! NAS-Bench-201 cell networks.
//!
//! Source: Dong & Yang, "NAS-Bench-201: Extending the Scope of Reproducible Neural Architecture
//! Search", ICLR 2020, and its code (`xautodl`: `models/cell_infers/tiny_network.py`,
//! `cells.py`, `cell_operations.py`, `utils/flop_benchmark.py`).
//!
//! # The cell
//!
//! A cell is a DAG of 4 nodes; node 0 is the cell's input, node `j` sums one op applied to each
//! earlier node `i < j`, and node 3 is the output. The 6 edge ops are written in the
//! benchmark's arch string, node by node:
//! `|op~0|+|op~0|op~1|+|op~0|op~1|op~2|` (`op~i` is the edge from node `i`), with `op` one of
//! `none`, `skip_connect`, `nor_conv_1x1`, `nor_conv_3x3`, `avg_pool_3x3`.
//!
//! | op | graph |
//! |---|---|
//! | `none` | nothing (a product by zero); a node whose edges are all `none` is a zero tensor (a `copy` op with no input) |
//! | `skip_connect` | the input itself, no op |
//! | `nor_conv_k×k` | ReLU → `k×k` conv → BN (folded into the conv); the ReLU of a node is computed once and shared by its conv edges |
//! | `avg_pool_3x3` | 3×3 average pool, stride 1, padding 1 |
//!
//! Sums of two or more edges are one `Add` op. Ops whose result no later node reads (a branch
//! that ends in `none` edges) are kept: the benchmark's network computes and counts them.
//!
//! # The network
//!
//! Stem 3×3 conv 3→16 + BN; 5 cells at 16 channels; a ResNet reduction block to 32 channels
//! (ReLU-conv 3×3 stride 2-BN, ReLU-conv 3×3-BN, shortcut 2×2 average pool stride 2 + 1×1 conv,
//! no BN); 5 cells at 32; reduction to 64; 5 cells at 64; BN, ReLU, global average pool and a
//! linear classifier. Inputs: CIFAR-10 and CIFAR-100 at 32×32 (10 and 100 classes),
//! ImageNet16-120 at 16×16 (120 classes).
//!
//! # Cost convention
//!
//! [`nb201_cost`] reproduces the benchmark's `params` and `flops` columns exactly:
//!
//! * params: every trainable tensor (`count_parameters_in_MB`): conv weights (no conv has a
//!   bias), BatchNorm γ and β (2 per channel, the final unfolded BN included) and the
//!   classifier's weight and bias. This is [`ZooModel::params`].
//! * FLOPs: `xautodl`'s `get_model_infos` sums only `Conv2d` and `Linear` modules: their
//!   multiply-accumulates (one per MAC, not two) plus the classifier's bias adds. Pooling,
//!   BatchNorm, ReLU and the node sums are not counted. Here that is the workload's
//!   [`total_macs`](crate::Workload::total_macs) at batch 1 plus the number of classes.
//!
//! For arch 0 (`|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|`)
//! on CIFAR-10 this gives 129,306 parameters and 15,647,370 FLOPs, the benchmark's 0.129306 M
//! and 15.64737 M.

use std::fmt;
use std::str::FromStr;

use crate::graph::Tensor;
use crate::op::{Conv2d, EltFunc, Pool, PoolFunc};
use crate::zoo::net::Net;
use crate::zoo::ZooModel;
use crate::{DType, Workload, WorkloadError};

/// Channels of the stem and the first stage (doubled by each reduction).
const C: u64 = 16;
/// Cells per stage.
const N: usize = 5;

/// The datasets of NAS-Bench-201, which fix the input size and the classifier width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Nb201Dataset {
    /// CIFAR-10: 32×32 images, 10 classes.
    Cifar10,
    /// CIFAR-100: 32×32 images, 100 classes.
    Cifar100,
    /// ImageNet16-120: 16×16 down-sampled ImageNet, 120 classes.
    ImageNet16_120,
}

impl Nb201Dataset {
    /// Every dataset, in the benchmark's order.
    pub const ALL: [Nb201Dataset; 3] = [
        Nb201Dataset::Cifar10,
        Nb201Dataset::Cifar100,
        Nb201Dataset::ImageNet16_120,
    ];

    /// Height and width of the input images.
    pub fn resolution(self) -> u64 {
        match self {
            Nb201Dataset::Cifar10 | Nb201Dataset::Cifar100 => 32,
            Nb201Dataset::ImageNet16_120 => 16,
        }
    }

    /// Classes of the classifier.
    pub fn classes(self) -> u64 {
        match self {
            Nb201Dataset::Cifar10 => 10,
            Nb201Dataset::Cifar100 => 100,
            Nb201Dataset::ImageNet16_120 => 120,
        }
    }

    /// The name used in model names: `cifar10`, `cifar100`, `imagenet16-120`.
    pub fn name(self) -> &'static str {
        match self {
            Nb201Dataset::Cifar10 => "cifar10",
            Nb201Dataset::Cifar100 => "cifar100",
            Nb201Dataset::ImageNet16_120 => "imagenet16-120",
        }
    }
}

impl fmt::Display for Nb201Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Nb201Dataset {
    type Err = WorkloadError;

    /// Parses `cifar10`, `cifar100` or `imagenet16-120` (case-insensitive; `imagenet16`,
    /// `ImageNet16-120` and `imagenet16_120` are accepted too).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "cifar10" => Ok(Nb201Dataset::Cifar10),
            "cifar100" => Ok(Nb201Dataset::Cifar100),
            "imagenet16-120" | "imagenet16_120" | "imagenet16" => Ok(Nb201Dataset::ImageNet16_120),
            _ => Err(WorkloadError::InvalidParameter {
                key: "nb201.dataset".into(),
                reason: format!("unknown dataset `{s}`; known: cifar10, cifar100, imagenet16-120"),
            }),
        }
    }
}

/// The op on one edge of a NAS-Bench-201 cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Nb201Op {
    /// `none`: the edge contributes zeros.
    None,
    /// `skip_connect`: identity.
    SkipConnect,
    /// `nor_conv_1x1`: ReLU, 1×1 conv, BN.
    NorConv1x1,
    /// `nor_conv_3x3`: ReLU, 3×3 conv, BN.
    NorConv3x3,
    /// `avg_pool_3x3`: 3×3 average pool, stride 1.
    AvgPool3x3,
}

impl Nb201Op {
    /// Every op, in the benchmark's order.
    pub const ALL: [Nb201Op; 5] = [
        Nb201Op::None,
        Nb201Op::SkipConnect,
        Nb201Op::NorConv1x1,
        Nb201Op::NorConv3x3,
        Nb201Op::AvgPool3x3,
    ];

    /// The op's name in arch strings.
    pub fn name(self) -> &'static str {
        match self {
            Nb201Op::None => "none",
            Nb201Op::SkipConnect => "skip_connect",
            Nb201Op::NorConv1x1 => "nor_conv_1x1",
            Nb201Op::NorConv3x3 => "nor_conv_3x3",
            Nb201Op::AvgPool3x3 => "avg_pool_3x3",
        }
    }

    fn conv_kernel(self) -> Option<u64> {
        match self {
            Nb201Op::NorConv1x1 => Some(1),
            Nb201Op::NorConv3x3 => Some(3),
            _ => None,
        }
    }
}

/// A NAS-Bench-201 cell: the ops of its 6 edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Nb201Cell {
    /// Edge ops in arch-string order: `1←0, 2←0, 2←1, 3←0, 3←1, 3←2`.
    pub edges: [Nb201Op; 6],
}

impl Nb201Cell {
    /// The op on the edge from node `from` to node `to` (`from < to ≤ 3`).
    pub fn edge(&self, to: usize, from: usize) -> Option<Nb201Op> {
        (from < to && to <= 3).then(|| self.edges[to * (to - 1) / 2 + from])
    }

    /// Parses an arch string such as
    /// `|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|`.
    ///
    /// Node `j` (the `j`-th `+`-separated group) must list exactly one edge from each earlier
    /// node, in any order. Surrounding whitespace is ignored.
    pub fn parse(arch: &str) -> Result<Self, WorkloadError> {
        let bad = |reason: String| {
            WorkloadError::InvalidParameter {
            key: "nb201.arch".into(),
            reason: format!("{reason} in arch string `{arch}` (expected the form `|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`)"),
        }
        };
        let groups: Vec<&str> = arch.trim().split('+').collect();
        if groups.len() != 3 {
            return Err(bad(format!(
                "{} node groups separated by `+`, expected 3",
                groups.len()
            )));
        }
        let mut edges = [Nb201Op::None; 6];
        for (g, group) in groups.iter().enumerate() {
            let to = g + 1;
            let inner = group
                .strip_prefix('|')
                .and_then(|s| s.strip_suffix('|'))
                .ok_or_else(|| {
                    bad(format!(
                        "node {to}'s group `{group}` is not enclosed in `|`"
                    ))
                })?;
            let tokens: Vec<&str> = inner.split('|').collect();
            if tokens.len() != to {
                return Err(bad(format!(
                    "node {to} has {} edges, expected {to}",
                    tokens.len()
                )));
            }
            let mut seen = [false; 3];
            for tok in tokens {
                let (name, from) = tok
                    .split_once('~')
                    .ok_or_else(|| bad(format!("edge `{tok}` is not `op~input`")))?;
                let op = Nb201Op::ALL
                    .into_iter()
                    .find(|o| o.name() == name)
                    .ok_or_else(|| {
                        bad(format!(
                            "unknown op `{name}` (known: none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3)"
                        ))
                    })?;
                let from: usize = from.parse().ok().filter(|&i| i < to).ok_or_else(|| {
                    bad(format!(
                        "edge `{tok}` of node {to} must come from a node 0..{}",
                        to - 1
                    ))
                })?;
                if std::mem::replace(&mut seen[from], true) {
                    return Err(bad(format!("node {to} has two edges from node {from}")));
                }
                edges[to * (to - 1) / 2 + from] = op;
            }
        }
        Ok(Nb201Cell { edges })
    }

    /// Number of distinct cells: 5 ops on each of 6 edges.
    pub const COUNT: usize = 15_625;

    /// The `i`-th cell (`i < COUNT`) of archsim's enumeration: the edges, in arch-string order,
    /// are the digits of `i` in base 5, most significant first, each digit indexing
    /// [`Nb201Op::ALL`]. Cell 0 is all `none`, cell `COUNT - 1` all `avg_pool_3x3`. (This is
    /// not the benchmark's own index, which follows the order of its data file.)
    pub fn nth(i: usize) -> Option<Self> {
        if i >= Self::COUNT {
            return None;
        }
        let mut edges = [Nb201Op::None; 6];
        let mut rest = i;
        for e in edges.iter_mut().rev() {
            *e = Nb201Op::ALL[rest % 5];
            rest /= 5;
        }
        Some(Nb201Cell { edges })
    }

    /// The position of the cell in the enumeration of [`Nb201Cell::nth`].
    pub fn ordinal(&self) -> usize {
        self.edges.iter().fold(0, |acc, e| {
            acc * 5
                + Nb201Op::ALL
                    .iter()
                    .position(|o| o == e)
                    .expect("every op is in ALL")
        })
    }

    /// Number of edges with op `op`.
    pub fn count(&self, op: Nb201Op) -> usize {
        self.edges.iter().filter(|&&e| e == op).count()
    }
}

impl FromStr for Nb201Cell {
    type Err = WorkloadError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Nb201Cell::parse(s)
    }
}

impl fmt::Display for Nb201Cell {
    /// The canonical arch string (edges of each node in input order).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for to in 1..=3 {
            if to > 1 {
                f.write_str("+")?;
            }
            f.write_str("|")?;
            for from in 0..to {
                write!(f, "{}~{from}|", self.edges[to * (to - 1) / 2 + from].name())?;
            }
        }
        Ok(())
    }
}

/// One searched cell at `ch` channels.
fn cell(
    net: &mut Net,
    name: &str,
    x: &Tensor,
    c: &Nb201Cell,
    ch: u64,
) -> Result<Tensor, WorkloadError> {
    let mut nodes: Vec<Tensor> = vec![x.clone()];
    // ReLU of each node, computed on first use by a conv edge.
    let mut relus: Vec<Option<Tensor>> = vec![None; 4];
    for to in 1..=3 {
        let mut terms: Vec<Tensor> = Vec::new();
        for from in 0..to {
            let op = c.edges[to * (to - 1) / 2 + from];
            let src = &nodes[from];
            let ename = format!("{name}.edge{from}to{to}");
            let term = match op {
                Nb201Op::None => continue,
                Nb201Op::SkipConnect => src.clone(),
                Nb201Op::AvgPool3x3 => {
                    let p = Pool {
                        func: PoolFunc::Avg,
                        kernel: [3, 3],
                        stride: [1, 1],
                        pads: [1; 4],
                    };
                    net.pool(&format!("{ename}.avgpool"), src, p)?
                }
                Nb201Op::NorConv1x1 | Nb201Op::NorConv3x3 => {
                    let k = op.conv_kernel().unwrap_or(1);
                    let r = match &relus[from] {
                        Some(r) => r.clone(),
                        None => {
                            let r =
                                net.act(&format!("{name}.node{from}.relu"), EltFunc::Relu, src)?;
                            relus[from] = Some(r.clone());
                            r
                        }
                    };
                    net.conv_bn(
                        &format!("{ename}.conv{k}x{k}"),
                        &r,
                        Conv2d::square(ch, ch, k, 1, (k - 1) / 2),
                    )?
                }
            };
            terms.push(term);
        }
        let node = match terms.as_slice() {
            [] => net.zeros(&format!("{name}.node{to}.zeros"), x.shape.clone())?,
            [one] => one.clone(),
            many => {
                let refs: Vec<&Tensor> = many.iter().collect();
                net.eltwise(&format!("{name}.node{to}.sum"), EltFunc::Add, &refs)?
            }
        };
        nodes.push(node);
    }
    Ok(nodes.swap_remove(3))
}

/// The ResNet basic block that halves the resolution and doubles the channels between stages.
fn reduction(net: &mut Net, name: &str, x: &Tensor, cin: u64) -> Result<Tensor, WorkloadError> {
    let cout = 2 * cin;
    let r = net.act(&format!("{name}.conv_a.relu"), EltFunc::Relu, x)?;
    let a = net.conv_bn(
        &format!("{name}.conv_a"),
        &r,
        Conv2d::square(cin, cout, 3, 2, 1),
    )?;
    let r = net.act(&format!("{name}.conv_b.relu"), EltFunc::Relu, &a)?;
    let b = net.conv_bn(
        &format!("{name}.conv_b"),
        &r,
        Conv2d::square(cout, cout, 3, 1, 1),
    )?;
    let p = Pool {
        func: PoolFunc::Avg,
        kernel: [2, 2],
        stride: [2, 2],
        pads: [0; 4],
    };
    let s = net.pool(&format!("{name}.downsample.avgpool"), x, p)?;
    let s = net.conv(
        &format!("{name}.downsample.conv"),
        &s,
        Conv2d::square(cin, cout, 1, 1, 0),
    )?;
    net.eltwise(&format!("{name}.add"), EltFunc::Add, &[&s, &b])
}

pub(crate) fn nb201_model(
    cell_arch: &Nb201Cell,
    dataset: Nb201Dataset,
    batch: u64,
    dtype: DType,
) -> Result<ZooModel, WorkloadError> {
    let mut net = Net::new(format!("nb201_{dataset}"), dtype);
    let hw = dataset.resolution();
    let x = net.image(batch, 3, hw, hw)?;
    let mut x = net.conv_bn("stem", &x, Conv2d::square(3, C, 3, 1, 1))?;
    let mut ch = C;
    for stage in 0..3 {
        if stage > 0 {
            x = reduction(&mut net, &format!("reduction{stage}"), &x, ch)?;
            ch *= 2;
        }
        for i in 0..N {
            x = cell(
                &mut net,
                &format!("stage{}.cell{i}", stage + 1),
                &x,
                cell_arch,
                ch,
            )?;
        }
    }
    let x = net.batch_norm("lastact.bn", &x)?;
    let x = net.act("lastact.relu", EltFunc::Relu, &x)?;
    let x = net.global_avg_pool("avgpool", &x)?;
    net.linear("classifier", &x, dataset.classes())?;
    Ok(net.finish())
}

/// The NAS-Bench-201 network of cell `arch` for `dataset`, at `batch` images of `dtype`.
///
/// ```
/// use archsim_workloads::{zoo::{self, Nb201Dataset}, DType};
/// let arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|";
/// let w = zoo::nb201(arch, Nb201Dataset::Cifar10, 1, DType::Int8).unwrap();
/// assert_eq!(w.total_macs() + 10, 113_951_370); // the benchmark's 113.95137 MFLOPs
/// assert!(zoo::nb201("|nor_conv_3x3~0|", Nb201Dataset::Cifar10, 1, DType::Int8).is_err());
/// ```
pub fn nb201(
    arch: &str,
    dataset: Nb201Dataset,
    batch: u64,
    dtype: DType,
) -> Result<Workload, WorkloadError> {
    let cell_arch = Nb201Cell::parse(arch)?;
    nb201_model(&cell_arch, dataset, batch, dtype).map(|m| m.workload)
}

/// Parameters and FLOPs of a NAS-Bench-201 network in the benchmark's own convention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nb201Cost {
    /// Trainable parameters (the benchmark's `params`, times 10⁶).
    pub params: u64,
    /// Conv and linear multiply-accumulates plus the classifier's bias adds, per image (the
    /// benchmark's `flops`, times 10⁶).
    pub flops: u64,
}

/// The cost of the network of cell `arch` for `dataset` as NAS-Bench-201 reports it (see the
/// module's "Cost convention").
pub fn nb201_cost(arch: &str, dataset: Nb201Dataset) -> Result<Nb201Cost, WorkloadError> {
    let cell_arch = Nb201Cell::parse(arch)?;
    let m = nb201_model(&cell_arch, dataset, 1, DType::Int8)?;
    Ok(Nb201Cost {
        params: m.params(),
        flops: m.workload.total_macs() + dataset.classes(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::OpKind;

    const ARCH0: &str = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|";
    const ARCH1: &str = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|";
    const ALL_NONE: &str = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|";
    const ALL_3X3: &str = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|";

    /// A row of `tests/data/nas/nb201_sample.csv`.
    struct Row {
        index: u64,
        arch: String,
        /// (params M, FLOPs M) for CIFAR-10, CIFAR-100, ImageNet16-120.
        cost: [(f64, f64); 3],
    }

    fn sample() -> Vec<Row> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/data/nas/nb201_sample.csv"
        );
        let mut rd = csv::Reader::from_path(path).unwrap();
        let headers = rd.headers().unwrap().clone();
        let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
        let (i_index, i_arch) = (col("index"), col("arch"));
        let cols: Vec<(usize, usize)> = ["cifar10", "cifar100", "imagenet16"]
            .iter()
            .map(|d| (col(&format!("params_{d}_M")), col(&format!("flops_{d}_M"))))
            .collect();
        rd.records()
            .map(|r| {
                let r = r.unwrap();
                let f = |i: usize| r[i].parse::<f64>().unwrap();
                Row {
                    index: r[i_index].parse().unwrap(),
                    arch: r[i_arch].to_string(),
                    cost: [0, 1, 2].map(|d| (f(cols[d].0), f(cols[d].1))),
                }
            })
            .collect()
    }

    #[test]
    fn arch0_reproduces_the_benchmark_exactly() {
        let c = nb201_cost(ARCH0, Nb201Dataset::Cifar10).unwrap();
        assert_eq!(c.params, 129_306);
        assert_eq!(c.flops, 15_647_370);
    }

    #[test]
    fn extremes_reproduce_the_published_ranges() {
        // Min/max printed by the NB201 API (SOURCES.md), per dataset.
        let expect = [
            (
                Nb201Dataset::Cifar10,
                (73_306, 7_783_050),
                (1_531_546, 220_119_690),
            ),
            (
                Nb201Dataset::Cifar100,
                (79_156, 7_788_900),
                (1_537_396, 220_125_540),
            ),
            (
                Nb201Dataset::ImageNet16_120,
                (80_456, 1_953_400),
                (1_538_696, 55_037_560),
            ),
        ];
        for (ds, lo, hi) in expect {
            let c = nb201_cost(ALL_NONE, ds).unwrap();
            assert_eq!((c.params, c.flops), lo, "{ds}");
            let c = nb201_cost(ALL_3X3, ds).unwrap();
            assert_eq!((c.params, c.flops), hi, "{ds}");
        }
    }

    #[test]
    fn sampled_benchmark_rows_match_params_and_flops() {
        let rows = sample();
        assert!(rows.len() >= 100, "{} rows", rows.len());
        for row in &rows {
            for (d, ds) in Nb201Dataset::ALL.into_iter().enumerate() {
                let c = nb201_cost(&row.arch, ds).unwrap();
                let (p, f) = row.cost[d];
                let (gp, gf) = (c.params as f64 / 1e6, c.flops as f64 / 1e6);
                // Within 1 % as asked; in fact equal to the CSV's 6 and 5 decimals.
                assert!(
                    (gp - p).abs() <= 0.01 * p && (gf - f).abs() <= 0.01 * f,
                    "index {} on {ds}: got {gp} M params / {gf} MFLOPs, benchmark {p} / {f}",
                    row.index
                );
                assert!((gp - p).abs() < 1e-6 && (gf - f).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn enumeration_covers_every_cell_once() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..Nb201Cell::COUNT {
            let c = Nb201Cell::nth(i).unwrap();
            assert_eq!(c.ordinal(), i);
            assert_eq!(Nb201Cell::parse(&c.to_string()).unwrap(), c);
            assert!(seen.insert(c.edges));
        }
        assert_eq!(seen.len(), 5usize.pow(6));
        assert_eq!(Nb201Cell::nth(Nb201Cell::COUNT), None);
        assert_eq!(Nb201Cell::nth(0).unwrap().count(Nb201Op::None), 6);
        assert_eq!(
            Nb201Cell::nth(Nb201Cell::COUNT - 1)
                .unwrap()
                .count(Nb201Op::AvgPool3x3),
            6
        );
        // The last edge (3←2) is the least significant digit.
        assert_eq!(
            Nb201Cell::nth(1).unwrap().to_string(),
            "|none~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|"
        );
    }

    #[test]
    fn arch_strings_round_trip() {
        for row in sample() {
            let c = Nb201Cell::parse(&row.arch).unwrap();
            assert_eq!(c.to_string(), row.arch);
        }
    }

    #[test]
    fn parser_reads_edges_by_node() {
        let c = Nb201Cell::parse(ARCH1).unwrap();
        assert_eq!(c.edge(1, 0), Some(Nb201Op::NorConv3x3));
        assert_eq!(c.edge(2, 1), Some(Nb201Op::AvgPool3x3));
        assert_eq!(c.edge(3, 2), Some(Nb201Op::SkipConnect));
        assert_eq!(c.edge(2, 2), None);
        assert_eq!(c.count(Nb201Op::NorConv3x3), 3);
        // Edges of a node may come in any order.
        let shuffled = "|nor_conv_3x3~0|+|avg_pool_3x3~1|nor_conv_3x3~0|+|skip_connect~2|skip_connect~0|nor_conv_3x3~1|";
        assert_eq!(Nb201Cell::parse(shuffled).unwrap(), c);
    }

    #[test]
    fn malformed_arch_strings_are_rejected_clearly() {
        let cases = [
            ("", "node groups"),
            ("|nor_conv_3x3~0|", "node groups"),
            (
                "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|",
                "node 3 has 2 edges",
            ),
            (
                "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                "unknown op `conv`",
            ),
            (
                "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",
                "must come from a node 0..0",
            ),
            (
                "|none~0|+|none~0|none~0|+|none~0|none~1|none~2|",
                "two edges from node 0",
            ),
            (
                "|none0|+|none~0|none~1|+|none~0|none~1|none~2|",
                "not `op~input`",
            ),
            (
                "none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                "not enclosed",
            ),
            (
                "|none~x|+|none~0|none~1|+|none~0|none~1|none~2|",
                "must come from",
            ),
        ];
        for (arch, why) in cases {
            let e = Nb201Cell::parse(arch).unwrap_err().to_string();
            assert!(e.contains("nb201.arch") && e.contains(why), "{arch}: {e}");
        }
    }

    #[test]
    fn datasets_parse_and_size_the_input() {
        assert_eq!(
            "CIFAR10".parse::<Nb201Dataset>().unwrap(),
            Nb201Dataset::Cifar10
        );
        assert_eq!(
            "ImageNet16-120".parse::<Nb201Dataset>().unwrap(),
            Nb201Dataset::ImageNet16_120
        );
        assert!("mnist".parse::<Nb201Dataset>().is_err());
        let w = nb201(ARCH1, Nb201Dataset::ImageNet16_120, 2, DType::Fp16).unwrap();
        let first = w.ops().next().unwrap();
        assert_eq!(first.inputs[0], vec![2, 3, 16, 16]);
        let last = w.ops().last().unwrap();
        assert_eq!(last.output, vec![2, 120]);
    }

    #[test]
    fn cell_graph_follows_the_edges() {
        let w = nb201(ARCH1, Nb201Dataset::Cifar10, 1, DType::Int8).unwrap();
        let ops: Vec<&str> = w
            .graph
            .node_weights()
            .filter(|o| o.name.starts_with("stage1.cell0."))
            .map(|o| o.name.as_str())
            .collect();
        // Node 0 feeds two 3×3 convs through one shared ReLU; node 1 feeds a pool and a conv.
        assert_eq!(
            ops,
            [
                "stage1.cell0.node0.relu",
                "stage1.cell0.edge0to1.conv3x3",
                "stage1.cell0.edge0to2.conv3x3",
                "stage1.cell0.edge1to2.avgpool",
                "stage1.cell0.node2.sum",
                "stage1.cell0.node1.relu",
                "stage1.cell0.edge1to3.conv3x3",
                "stage1.cell0.node3.sum",
            ]
        );
        // Node 3 sums the skip from node 0, the conv from node 1 and the skip from node 2.
        let sum = w
            .graph
            .node_weights()
            .find(|o| o.name == "stage1.cell0.node3.sum")
            .unwrap();
        assert_eq!(sum.inputs.len(), 3);
    }

    #[test]
    fn dead_cells_produce_zeros() {
        let w = nb201(ALL_NONE, Nb201Dataset::Cifar10, 1, DType::Int8).unwrap();
        let zeros: Vec<_> = w
            .graph
            .node_weights()
            .filter(|o| o.name.ends_with(".zeros"))
            .collect();
        // Every node of every cell is zero.
        assert_eq!(zeros.len(), 3 * 3 * N);
        assert!(zeros
            .iter()
            .all(|o| o.kind == OpKind::Copy && o.inputs.is_empty()));
    }
}
