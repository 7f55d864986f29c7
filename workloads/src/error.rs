//! Errors raised while building or importing a workload.

use thiserror::Error;

/// Why a workload could not be built or imported.
///
/// Every variant is fatal for the workload at hand; none leaves a partial graph behind.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WorkloadError {
    /// An op's parameters are inconsistent with its input shape (e.g. a filter larger than the
    /// padded input, channels not divisible by groups).
    #[error("op `{op}`: {reason}")]
    InvalidOp {
        /// Name of the offending op.
        op: String,
        /// What is wrong, in words.
        reason: String,
    },
    /// A model name that the zoo does not know.
    #[error("unknown model `{name}`; known models: {known}")]
    UnknownModel {
        /// The name asked for.
        name: String,
        /// Comma-separated list of the zoo's names.
        known: String,
    },
    /// A SCALE-Sim topology file that cannot be read or parsed.
    #[error("{path}{}: {reason}", line_suffix(*.line))]
    Topology {
        /// File path (or `<string>` for in-memory input).
        path: String,
        /// One-based line number in the file (0 when the file itself cannot be read).
        line: usize,
        /// What is wrong, in words.
        reason: String,
    },
    /// A job file (SoC job DAG) that cannot be read or is invalid; the reason names the task.
    #[error("{file}: {reason}")]
    Job {
        /// File path (or `<builtin NAME>`).
        file: String,
        /// What is wrong, naming the task or edge.
        reason: String,
    },
    /// A workload parameter (batch, GEMM dims, …) out of range.
    #[error("{key}: {reason}")]
    InvalidParameter {
        /// Config key of the parameter.
        key: String,
        /// What is wrong, in words.
        reason: String,
    },
    /// An ONNX model that cannot be decoded or imported: malformed bytes, an inconsistent
    /// graph (cycles, undefined values), or a node whose inputs do not fit its op (the reason
    /// names the node).
    #[error("{file}: {reason}")]
    Onnx {
        /// File path, or the name given to the in-memory model.
        file: String,
        /// What is wrong, in words.
        reason: String,
    },
    /// ONNX nodes whose op types the importer does not support (every one of them is listed,
    /// grouped by op type).
    #[error("unsupported ONNX ops: {}", unsupported_list(.nodes))]
    Unsupported {
        /// `(node name, op type)` of each unsupported node, in file order.
        nodes: Vec<(String, String)>,
    },
}

/// `Foo` (2 nodes: a, b); `Bar` (1 node: c)
fn unsupported_list(nodes: &[(String, String)]) -> String {
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for (node, op) in nodes {
        match groups.iter_mut().find(|(o, _)| o == op) {
            Some((_, v)) => v.push(node),
            None => groups.push((op, vec![node])),
        }
    }
    groups
        .iter()
        .map(|(op, ns)| {
            let plural = if ns.len() == 1 { "node" } else { "nodes" };
            format!("`{op}` ({} {plural}: {})", ns.len(), ns.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn line_suffix(line: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!(":{line}")
    }
}
