//! Memory per device: model states under ZeRO and activations after Korthikanti et al.
//!
//! **Model states** (Rajbhandari et al., "ZeRO", SC 2020, §5): with mixed precision a model
//! of Ψ parameters holds 2Ψ bytes of 16-bit weights, 2Ψ of 16-bit gradients and KΨ of
//! optimizer state (K = 12 for Adam: fp32 master weights, momentum, variance), (2+2+K)Ψ in
//! all. Over N_d data-parallel ranks: stage 1 (P_os) keeps 2Ψ + 2Ψ + KΨ/N_d, stage 2
//! (P_os+g) 2Ψ + (2+K)Ψ/N_d, stage 3 (P_os+g+p) (2+2+K)Ψ/N_d. Here Ψ is one device's share
//! after tensor and pipeline parallelism.
//!
//! **Activations** (Korthikanti et al., "Reducing Activation Recomputation in Large
//! Transformer Models", MLSys 2023, §4, 16-bit activations, `s` sequence, `b` micro-batch,
//! `h` hidden, `a` heads, `t` tensor-parallel degree), bytes per layer:
//! no parallelism `sbh(34 + 5as/h)`; tensor parallel `sbh(10 + 24/t + 5as/(ht))`; with
//! sequence parallelism `sbh(34/t + 5as/(ht))`; selective recompute drops the `5as/h` term;
//! full recompute keeps only each layer's input, `2sbh` (`2sbh/t` with sequence
//! parallelism). The formulas assume an FFN of 4h and multi-head attention, as the paper's.
//! Micro-batches in flight on stage `i` (0-based) of `p`: `min(p − i, m)` under 1F1B, all
//! `m` under GPipe.

use serde::Serialize;

use crate::config::{Recompute, Schedule};

/// Bytes of model states per device under ZeRO `stage` over `dp` ranks for `psi` parameters,
/// `w` bytes per weight (and per gradient) and `k` optimizer bytes per parameter:
/// (parameters, gradients, optimizer states).
pub fn zero_states(psi: f64, w: f64, k: f64, dp: f64, stage: u8) -> (f64, f64, f64) {
    match stage {
        0 => (w * psi, w * psi, k * psi),
        1 => (w * psi, w * psi, k * psi / dp),
        2 => (w * psi, w * psi / dp, k * psi / dp),
        _ => (w * psi / dp, w * psi / dp, k * psi / dp),
    }
}

/// Activation bytes of one transformer layer for one micro-batch (Korthikanti et al.).
#[allow(clippy::too_many_arguments)]
pub fn layer_activation_bytes(
    s: f64,
    b: f64,
    h: f64,
    a: f64,
    t: f64,
    sp: bool,
    recompute: Recompute,
) -> f64 {
    let sbh = s * b * h;
    let attn = 5.0 * a * s / (h * t);
    match recompute {
        Recompute::Full => {
            if sp {
                2.0 * sbh / t
            } else {
                2.0 * sbh
            }
        }
        Recompute::Selective => {
            if sp {
                sbh * 34.0 / t
            } else {
                sbh * (10.0 + 24.0 / t)
            }
        }
        Recompute::None => {
            if sp {
                sbh * (34.0 / t + attn)
            } else {
                sbh * (10.0 + 24.0 / t + attn)
            }
        }
    }
}

/// Micro-batches whose activations are held at once on stage `stage` of `pp` (for the
/// interleaved schedule, chunk-micro-batches: one is a model chunk's activations of one
/// micro-batch) — the warm-up forwards plus the one in flight of `crate::sim`'s orders.
pub fn in_flight(
    schedule: Schedule,
    pp: usize,
    vpp: usize,
    stage: usize,
    micro_batches: u64,
) -> u64 {
    match schedule {
        Schedule::Gpipe => micro_batches,
        Schedule::OneFOneB => ((pp - stage) as u64).min(micro_batches),
        Schedule::Interleaved => {
            let total = micro_batches * vpp as u64;
            if micro_batches == pp as u64 {
                return total;
            }
            (((pp - stage - 1) * 2 + (vpp - 1) * pp + 1) as u64).min(total)
        }
    }
}

/// One device's memory, bytes, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct MemoryBytes {
    /// 16-bit weights.
    pub parameters: f64,
    /// Gradients.
    pub gradients: f64,
    /// Optimizer states.
    pub optimizer: f64,
    /// Saved activations of the micro-batches in flight.
    pub activations: f64,
    /// Temporary buffers (the recomputed layer under full recompute, fp32 logits).
    pub temporary: f64,
}

impl MemoryBytes {
    /// Sum.
    pub fn total(&self) -> f64 {
        self.parameters + self.gradients + self.optimizer + self.activations + self.temporary
    }
}

/// Memory in GB (10⁹ bytes) by kind, as the report shows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct MemoryGb {
    /// 16-bit weights.
    pub parameters: f64,
    /// Gradients.
    pub gradients: f64,
    /// Optimizer states.
    pub optimizer: f64,
    /// Saved activations.
    pub activations: f64,
    /// Temporary buffers.
    pub temporary: f64,
    /// Everything.
    pub total: f64,
}

impl From<MemoryBytes> for MemoryGb {
    fn from(m: MemoryBytes) -> Self {
        MemoryGb {
            parameters: m.parameters / 1e9,
            gradients: m.gradients / 1e9,
            optimizer: m.optimizer / 1e9,
            activations: m.activations / 1e9,
            temporary: m.temporary / 1e9,
            total: m.total() / 1e9,
        }
    }
}
