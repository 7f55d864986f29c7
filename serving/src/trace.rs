//! The Chrome/Perfetto trace of a run (`trace.json`, `serving.trace: true`): one process per
//! pool, one track (thread) per replica, one complete event per iteration with its batch in
//! the event's `args`. The format is the JSON "Trace Event Format" that archsim's other
//! traces use (`ui.perfetto.dev` and `chrome://tracing` open it); times in µs.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::engine::Outcome;
use crate::fleet::Fleet;

/// The most iterations a trace records: about 160 bytes each in `trace.json`, so at most
/// ~16 MB; later iterations are counted in the report's `trace.dropped`.
pub const MAX_SLICES: usize = 100_000;

/// One iteration of one replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Slice {
    /// The replica (index over all replicas).
    pub replica: u32,
    /// Start, ns.
    pub start_ns: u64,
    /// Duration, ns.
    pub dur_ns: u64,
    /// Sequences in the batch.
    pub sequences: u32,
    /// Tokens (prefill chunks plus decode tokens).
    pub tokens: u32,
    /// Decode tokens among them.
    pub decodes: u32,
}

/// What the report says of the trace.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct TraceInfo {
    /// Iterations written to `trace.json`.
    pub slices: u64,
    /// Iterations left out past [`MAX_SLICES`].
    pub dropped: u64,
}

/// The trace's report entry.
pub fn info(out: &Outcome) -> TraceInfo {
    TraceInfo {
        slices: out.slices.len() as u64,
        dropped: out.slices_dropped,
    }
}

/// `trace.json`: newline-terminated.
pub fn trace_json(fleet: &Fleet, out: &Outcome) -> String {
    let mut events: Vec<Value> = Vec::new();
    for (pi, p) in fleet.pools.iter().enumerate() {
        events.push(json!({
            "name": "process_name", "ph": "M", "pid": pi, "tid": 0,
            "args": {"name": format!("{} ({} x {}, tp {})", p.name, p.count, p.accelerator, p.tp)},
        }));
        events.push(json!({
            "name": "process_sort_index", "ph": "M", "pid": pi, "tid": 0,
            "args": {"sort_index": pi},
        }));
    }
    for (r, &pi) in out.replica_pool.iter().enumerate() {
        events.push(json!({
            "name": "thread_name", "ph": "M", "pid": pi, "tid": r,
            "args": {"name": format!("replica {r}")},
        }));
    }
    for s in &out.slices {
        let prefill = s.tokens - s.decodes;
        let name = match (prefill > 0, s.decodes > 0) {
            (true, true) => "mixed",
            (true, false) => "prefill",
            _ => "decode",
        };
        events.push(json!({
            "name": name,
            "cat": "iteration",
            "ph": "X",
            "pid": out.replica_pool[s.replica as usize],
            "tid": s.replica,
            "ts": s.start_ns as f64 * 1e-3,
            "dur": s.dur_ns as f64 * 1e-3,
            "args": {"sequences": s.sequences, "tokens": s.tokens, "decode_tokens": s.decodes,
                     "prefill_tokens": prefill},
        }));
    }
    let mut text = serde_json::to_string(&json!({
        "traceEvents": events,
        "displayTimeUnit": "ns",
        "otherData": {"model": fleet.model, "slices": out.slices.len(),
                      "dropped": out.slices_dropped, "max_slices": MAX_SLICES},
    }))
    .unwrap_or_default();
    text.push('\n');
    text
}
