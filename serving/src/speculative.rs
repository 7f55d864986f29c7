//! Speculative decoding (Leviathan et al., ICML'23; Chen et al. 2023; Dovetail's draft on the
//! CPU and target on the GPU): a small draft model proposes `k` tokens one by one, and the
//! target verifies the `k + 1` positions in one step, keeping the accepted prefix of the draft
//! and one token of its own.
//!
//! `serving.speculative: {draft: {model, layers, accelerator}, tokens: k, acceptance: α}`:
//!
//! * **Acceptance.** Each drafted token is accepted with probability α, independently, until the
//!   first rejection (a seeded draw per token); `acceptance: {uniform: [lo, hi]}` draws each
//!   request's α once (seeded). A round yields `1 + accepted` tokens, in expectation
//!   `(1 − α^(k+1)) / (1 − α)`. A round near the end of a request drafts only what is left
//!   (`k' = min(k, left − 1)`).
//! * **Time.** The draft runs on its own device (any accelerator config that prices an `llm:`
//!   step, e.g. a CPU as a `roofline`), priced like a pool: its step grid, built once. An
//!   iteration with `n` sequences decoding first runs the draft's `k'` decode steps of batch
//!   `n` (the largest `k'` of the batch; the contexts grow by one each step), and the draft's
//!   prefill of the prompt chunks of the iteration, then the target's step, in which each
//!   decoding sequence is `k' + 1` tokens: the linear terms (weights, MLP, projections) count
//!   `k' + 1` tokens, the decode attention one read of the sequence's KV cache (the `k' + 1`
//!   queries share it: memory-bound, as a decode). Draft and target do not overlap (Dovetail
//!   pipelines them only across requests).
//! * **Memory.** A verification writes `k' + 1` tokens of KV; the rejected ones stay in the
//!   sequence's blocks until they are overwritten. The draft's own weights and KV cache live in
//!   the draft device's memory (checked to fit when it is priced), not in the replica's.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::step::StepCost;
use crate::ServingError;

/// `serving.speculative`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpeculativeConfig {
    /// The draft model and its device.
    pub draft: DraftConfig,
    /// Tokens drafted per round, `k`.
    #[schemars(range(min = 1, max = 64))]
    pub tokens: u32,
    /// Probability that a drafted token is accepted: a number, or `{uniform: [lo, hi]}` drawn
    /// per request.
    pub acceptance: Acceptance,
}

/// The draft: a model as in `llm:` and the accelerator it runs on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftConfig {
    /// A zoo model (`llm:`'s `model`).
    pub model: String,
    /// Its layers (default: the model's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 4096))]
    pub layers: Option<u64>,
    /// Any accelerator config that prices an `llm:` step (a CPU as a `roofline`).
    #[schemars(with = "archsim_accelerators::AcceleratorConfig")]
    pub accelerator: Map<String, Value>,
}

/// The acceptance rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Acceptance {
    /// Every drafted token is accepted with this probability.
    Fixed(#[schemars(range(min = 0, max = 1))] f64),
    /// Per request, α drawn from a distribution.
    Dist(AcceptanceDist),
}

/// A distribution of per-request acceptance rates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum AcceptanceDist {
    /// Uniform on `[lo, hi]`.
    Uniform([f64; 2]),
}

/// Expected tokens per round of `k` drafts at acceptance `a`: `(1 − a^(k+1)) / (1 − a)`.
pub fn expected_tokens(a: f64, k: u32) -> f64 {
    if a >= 1.0 {
        (k + 1) as f64
    } else {
        (1.0 - a.powi(k as i32 + 1)) / (1.0 - a)
    }
}

impl SpeculativeConfig {
    pub(crate) fn validate(&self) -> Result<(), ServingError> {
        let bad = |k: &str, r: String| ServingError::Config {
            key: format!("serving.speculative.{k}"),
            reason: r,
        };
        if !(1..=64).contains(&self.tokens) {
            return Err(bad(
                "tokens",
                format!("must be in [1, 64], got {}", self.tokens),
            ));
        }
        let ok = |a: f64| (0.0..=1.0).contains(&a);
        match self.acceptance {
            Acceptance::Fixed(a) if !ok(a) => Err(bad(
                "acceptance",
                format!("must be a probability in [0, 1], got {a}"),
            )),
            Acceptance::Dist(AcceptanceDist::Uniform([lo, hi]))
                if !(ok(lo) && ok(hi) && lo <= hi) =>
            {
                Err(bad(
                    "acceptance.uniform",
                    format!("needs 0 <= lo <= hi <= 1, got [{lo}, {hi}]"),
                ))
            }
            _ => Ok(()),
        }?;
        if self.draft.layers == Some(0) {
            return Err(bad("draft.layers", "must be at least 1".into()));
        }
        Ok(())
    }
}

/// Per-run state: each request's α and the seeded draws of acceptances.
#[derive(Debug, Clone)]
pub(crate) struct Rounds {
    k: u32,
    alpha: Vec<f64>,
    rng: ChaCha8Rng,
}

impl Rounds {
    pub(crate) fn new(cfg: &SpeculativeConfig, n: usize, seed: u64) -> Rounds {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x51ec_0de5_7a11_0b3d);
        let alpha = match cfg.acceptance {
            Acceptance::Fixed(a) => vec![a; n],
            Acceptance::Dist(AcceptanceDist::Uniform([lo, hi])) => (0..n)
                .map(|_| lo + (hi - lo) * rng.random::<f64>())
                .collect(),
        };
        Rounds {
            k: cfg.tokens,
            alpha,
            rng,
        }
    }

    /// Tokens drafted for a sequence with `left` output tokens still to produce.
    #[inline]
    pub(crate) fn drafts(&self, left: u32) -> u32 {
        self.k.min(left.saturating_sub(1))
    }

    /// A verification round of request `i` with `left` tokens to produce: the tokens it
    /// yields, and whether it drafted the full `k`.
    #[inline]
    pub(crate) fn round(&mut self, i: usize, left: u32) -> (u32, bool) {
        let k = self.drafts(left);
        let a = self.alpha[i];
        let mut accepted = 0;
        while accepted < k && self.rng.random::<f64>() < a {
            accepted += 1;
        }
        (1 + accepted, k == self.k)
    }
}

/// The draft's time in an iteration: `steps` decode steps of `n` sequences over `ctx` context
/// tokens in all (growing by `n` per step), and the prefill of `chunk_tokens` prompt tokens
/// whose attention term is `chunk_attn`.
pub(crate) fn draft_seconds(
    d: &StepCost,
    steps: u32,
    n: u32,
    ctx: u64,
    chunk_tokens: u32,
    chunk_attn: f64,
) -> f64 {
    let mut s = 0.0;
    for j in 0..steps {
        s += d.seconds(n, n, ctx + (j * n) as u64, 0.0);
    }
    if chunk_tokens > 0 {
        s += d.seconds(chunk_tokens, 0, 0, chunk_attn);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expected_tokens_per_round_follow_the_geometric_sum() {
        assert_eq!(expected_tokens(0.0, 4), 1.0);
        assert_eq!(expected_tokens(1.0, 4), 5.0);
        assert!((expected_tokens(0.5, 2) - 1.75).abs() < 1e-12);
    }

    #[test]
    fn a_round_never_yields_more_than_is_left() {
        let cfg: SpeculativeConfig = serde_json::from_value(serde_json::json!({
            "draft": {"model": "llama2_7b", "accelerator": {"kind": "roofline"}},
            "tokens": 4, "acceptance": 1.0,
        }))
        .unwrap();
        let mut r = Rounds::new(&cfg, 1, 0);
        assert_eq!(r.round(0, 100), (5, true));
        assert_eq!(r.round(0, 3), (3, false));
        assert_eq!(r.round(0, 1), (1, false));
        let bad: SpeculativeConfig = serde_json::from_value(serde_json::json!({
            "draft": {"model": "llama2_7b", "accelerator": {"kind": "roofline"}},
            "tokens": 4, "acceptance": {"uniform": [0.9, 0.2]},
        }))
        .unwrap();
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("serving.speculative.acceptance.uniform"));
    }
}
