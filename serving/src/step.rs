//! The cost of one batched iteration, derived once per pool from the full step model.
//!
//! A serving iteration mixes decode tokens of sequences at different contexts with prefill
//! chunks at different offsets; archsim's step models price uniform `llm:` steps (a batch of
//! equal sequences). The iteration is split into the terms that scale differently:
//!
//! ```text
//! step_s = lin(T)                               every op but attention: T tokens in the step
//!        + a_dec(n_dec) · Σ_decodes context      decode attention: KV tokens read
//!        + Σ_chunks res(q) + a_pair(q)·(q(q+1)/2 + q·c0)   a chunk of q tokens after c0 cached
//! ```
//!
//! and each term is read off priced uniform steps on a grid (token counts at powers of two and
//! halfway between them in log scale, 3·2^k, plus any fixed prompt length of the traffic):
//!
//! * `lin(T)` = decode of batch `T` at context 1 (attention negligible);
//! * `a_dec(b)` = (decode(b, C) − decode(b, 1)) / (b·(C − 1)) with `C` = 1024;
//! * `extra(q)` = prefill(q) − lin(q) (signed: a prompt's tokens can cost less than as many
//!   decode sequences);
//! * `a_pair(q)` = (extra(2q) − 2·extra(q)) / q², the marginal cost of one query-key pair of
//!   attention (doubling a chunk adds q² pairs beyond twice its own; linear terms cancel),
//!   which also prices a chunk's attention over the `c0` tokens cached before it;
//! * `res(q)` = extra(q) − a_pair(q)·q(q+1)/2, so a lone prefill at a grid length is priced
//!   exactly.
//!
//! Between knots every term is interpolated linearly (dense tables, so an iteration costs a
//! few array reads). [`StepCost::check`] measures the error of the shortcut against the full
//! model on steps off the grid.

use serde::Serialize;

use crate::ServingError;

/// A uniform `llm:` step to price: `batch` sequences, each adding `q_len` tokens at context
/// `context` (tokens in the KV cache after the step).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniformStep {
    /// Prefill of `batch` prompts of `prompt` tokens.
    Prefill {
        /// Sequences.
        batch: u64,
        /// Prompt tokens.
        prompt: u64,
    },
    /// One decode token for `batch` sequences at `context` tokens.
    Decode {
        /// Sequences.
        batch: u64,
        /// Context tokens after the step.
        context: u64,
    },
}

/// The context at which the decode-attention slope is measured.
const C_HI: u64 = 1024;

/// Per-pool iteration cost tables.
#[derive(Debug, Clone)]
pub struct StepCost {
    /// lin(T), s, T = 0..=t_max.
    lin: Vec<f64>,
    /// a_dec(b), s per context token, b = 0..=b_max.
    a_dec: Vec<f64>,
    /// A chunk of q tokens at context 0 beyond lin and its own attention, s, q = 0..=t_max.
    pre_extra: Vec<f64>,
    /// The marginal cost of a query-key pair at chunk size q, s, q = 0..=t_max.
    a_pair: Vec<f64>,
    /// The knots priced.
    pub knots: usize,
}

/// One comparison of the shortcut with the full model.
#[derive(Debug, Clone, Serialize)]
pub struct StepCheck {
    /// The step, e.g. `decode b=24 c=777`.
    pub step: String,
    /// The full step model, s.
    pub full_s: f64,
    /// The shortcut, s.
    pub shortcut_s: f64,
    /// |shortcut − full| / full.
    pub rel_err: f64,
}

/// Query-key pairs of a causal chunk of q tokens.
fn pairs(q: u64) -> f64 {
    (q * (q + 1) / 2) as f64
}

/// Powers of two up to `max` (and `max`), and with `half` the points halfway in log scale
/// (3·2^k).
fn pow2_knots(max: u64, half: bool) -> Vec<u64> {
    let mut v = vec![1u64];
    let mut p = 1u64;
    while p < max {
        if half && p >= 2 && p + p / 2 < max {
            v.push(p + p / 2);
        }
        p *= 2;
        v.push(p.min(max));
    }
    v
}

/// Linear interpolation of (x, y) knots (sorted by x) onto 0..=max.
fn dense(knots: &[(u64, f64)], max: u64) -> Vec<f64> {
    let mut out = Vec::with_capacity(max as usize + 1);
    for x in 0..=max {
        let i = knots.partition_point(|k| k.0 < x);
        let y = if i == 0 {
            knots[0].1
        } else if i == knots.len() {
            // Extrapolate from the last two knots.
            let n = knots.len();
            if n == 1 {
                knots[0].1
            } else {
                let (x0, y0) = knots[n - 2];
                let (x1, y1) = knots[n - 1];
                y1 + (y1 - y0) * (x - x1) as f64 / (x1 - x0) as f64
            }
        } else {
            let (x0, y0) = knots[i - 1];
            let (x1, y1) = knots[i];
            y0 + (y1 - y0) * (x - x0) as f64 / (x1 - x0) as f64
        };
        out.push(y);
    }
    out
}

impl StepCost {
    /// Prices the grid with `price` (the full step model) for iterations of at most `t_max`
    /// tokens and `b_max` decoding sequences; `extra_prompts` are prompt lengths to price
    /// exactly (the traffic's fixed lengths).
    pub fn build(
        t_max: u64,
        b_max: u64,
        extra_prompts: &[u64],
        price: &mut dyn FnMut(UniformStep) -> Result<f64, ServingError>,
    ) -> Result<StepCost, ServingError> {
        let t_max = t_max.max(b_max).max(1);
        let mut t_knots = pow2_knots(t_max, true);
        for &p in extra_prompts {
            if p <= t_max && !t_knots.contains(&p) {
                t_knots.push(p);
            }
        }
        t_knots.sort_unstable();
        let mut priced = 0usize;
        let mut lin_k = Vec::new();
        for &t in &t_knots {
            let s = price(UniformStep::Decode {
                batch: t,
                context: 1,
            })?;
            priced += 1;
            lin_k.push((t, s));
        }
        let lin = dense(&lin_k, t_max);
        let b_knots = pow2_knots(b_max.max(1), false);
        let mut dec_k = Vec::new();
        for &b in &b_knots {
            let hi = price(UniformStep::Decode {
                batch: b,
                context: C_HI,
            })?;
            priced += 1;
            let slope = ((hi - lin[b as usize]) / (b * (C_HI - 1)) as f64).max(0.0);
            dec_k.push((b, slope));
        }
        let a_dec = dense(&dec_k, b_max.max(1));
        // A prefill chunk's cost beyond lin: its attention and what differs between a prompt's
        // tokens and decode tokens (signed: a prompt's tokens can cost less than as many
        // decode sequences).
        let mut extra_k = vec![(0u64, 0.0f64)];
        for &q in &t_knots {
            let s = price(UniformStep::Prefill {
                batch: 1,
                prompt: q,
            })?;
            priced += 1;
            extra_k.push((q, s - lin[q as usize]));
        }
        let at = |x: u64| extra_k.iter().find(|k| k.0 == x).map(|k| k.1);
        // The marginal cost of a query-key pair at chunk size q: doubling a chunk adds q² pairs
        // beyond twice its own, and cancels every term linear in q.
        let mut pair_k = Vec::new();
        for &q in t_knots.iter().filter(|q| q.is_power_of_two()) {
            if let (Some(e1), Some(e2)) = (at(q), at(2 * q)) {
                pair_k.push((q, ((e2 - 2.0 * e1) / (q * q) as f64).max(0.0)));
            }
        }
        if pair_k.is_empty() {
            pair_k.push((1, 0.0));
        }
        let a_pair = dense(&pair_k, t_max);
        // What is left of a chunk's cost after its own attention, interpolated linearly.
        let res_k: Vec<(u64, f64)> = extra_k
            .iter()
            .map(|&(q, e)| (q, e - a_pair[q as usize] * pairs(q)))
            .collect();
        let pre_extra = dense(&res_k, t_max);
        Ok(StepCost {
            lin,
            a_dec,
            pre_extra,
            a_pair,
            knots: priced,
        })
    }

    /// Multiplies the decode-attention term by `k` (a KV cache of other bytes per token, or a
    /// decode that reads a fraction of it: [`crate::kv`]).
    pub fn scale_decode_attention(&mut self, k: f64) {
        for a in &mut self.a_dec {
            *a *= k;
        }
    }

    fn lin_at(&self, t: usize) -> f64 {
        match self.lin.get(t) {
            Some(v) => *v,
            None => {
                // Past the table: extrapolate with the last slope.
                let n = self.lin.len();
                let slope = self.lin[n - 1] - self.lin[n - 2];
                self.lin[n - 1] + slope * (t - (n - 1)) as f64
            }
        }
    }

    fn table_at(t: &[f64], q: usize) -> f64 {
        match t.get(q) {
            Some(v) => *v,
            None => {
                let n = t.len();
                if n < 2 {
                    return t[n - 1];
                }
                t[n - 1] + (t[n - 1] - t[n - 2]) * (q - (n - 1)) as f64
            }
        }
    }

    /// Seconds of an iteration of `tokens` tokens, `n_dec` of them decodes over `dec_ctx`
    /// context tokens in all, plus the prefill-attention term `pre_attn` (the sum of
    /// [`StepCost::chunk_attn`] over the chunks).
    #[inline]
    pub fn seconds(&self, tokens: u32, n_dec: u32, dec_ctx: u64, pre_attn: f64) -> f64 {
        let a_dec = *self
            .a_dec
            .get(n_dec as usize)
            .unwrap_or(&self.a_dec[self.a_dec.len() - 1]);
        self.lin_at(tokens as usize) + a_dec * dec_ctx as f64 + pre_attn
    }

    /// The prefill-attention term of a chunk of `q` tokens after `c0` cached tokens.
    #[inline]
    pub fn chunk_attn(&self, q: u32, c0: u32) -> f64 {
        let a_pair = *self
            .a_pair
            .get(q as usize)
            .unwrap_or(&self.a_pair[self.a_pair.len() - 1]);
        Self::table_at(&self.pre_extra, q as usize)
            + a_pair * (pairs(q as u64) + q as f64 * c0 as f64)
    }

    /// The shortcut's price of a uniform step.
    pub fn uniform(&self, s: UniformStep) -> f64 {
        match s {
            UniformStep::Prefill { batch, prompt } => {
                let attn = batch as f64 * self.chunk_attn(prompt as u32, 0);
                self.seconds((batch * prompt) as u32, 0, 0, attn)
            }
            UniformStep::Decode { batch, context } => {
                self.seconds(batch as u32, batch as u32, batch * (context - 1), 0.0)
            }
        }
    }

    /// Compares the shortcut with the full model on `steps`.
    pub fn check(
        &self,
        steps: &[UniformStep],
        price: &mut dyn FnMut(UniformStep) -> Result<f64, ServingError>,
    ) -> Result<Vec<StepCheck>, ServingError> {
        steps
            .iter()
            .map(|&s| {
                let full = price(s)?;
                let short = self.uniform(s);
                Ok(StepCheck {
                    step: match s {
                        UniformStep::Prefill { batch, prompt } => {
                            format!("prefill b={batch} p={prompt}")
                        }
                        UniformStep::Decode { batch, context } => {
                            format!("decode b={batch} c={context}")
                        }
                    },
                    full_s: full,
                    shortcut_s: short,
                    rel_err: if full > 0.0 {
                        (short - full).abs() / full
                    } else {
                        0.0
                    },
                })
            })
            .collect()
    }
}

/// Steps off the grid for [`StepCost::check`], within `t_max` tokens and `b_max` sequences.
pub fn off_grid_steps(t_max: u64, b_max: u64) -> Vec<UniformStep> {
    let mut v = Vec::new();
    for (b, c) in [(3u64, 300u64), (24, 777), (100, 2000), (200, 3100)] {
        if b <= b_max {
            v.push(UniformStep::Decode {
                batch: b,
                context: c,
            });
        }
    }
    for (b, p) in [(1u64, 100u64), (1, 700), (1, 3000), (3, 200), (5, 1000)] {
        if b * p <= t_max {
            v.push(UniformStep::Prefill {
                batch: b,
                prompt: p,
            });
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic model that is exactly of the shortcut's form is reproduced exactly.
    #[test]
    fn a_model_of_the_same_form_is_reproduced() {
        let lin = |t: u64| 1e-3 + 2e-6 * t as f64;
        let mut price = |s: UniformStep| -> Result<f64, ServingError> {
            Ok(match s {
                UniformStep::Decode { batch, context } => {
                    lin(batch) + 3e-9 * (batch * (context - 1)) as f64
                }
                UniformStep::Prefill { batch, prompt } => {
                    lin(batch * prompt) + batch as f64 * 5e-11 * (prompt * (prompt + 1) / 2) as f64
                }
            })
        };
        let sc = StepCost::build(4096, 128, &[], &mut price).unwrap();
        for c in sc.check(&off_grid_steps(4096, 128), &mut price).unwrap() {
            assert!(c.rel_err < 1e-9, "{c:?}");
        }
    }

    #[test]
    fn dense_interpolates_and_extrapolates() {
        let d = dense(&[(1, 1.0), (3, 3.0)], 5);
        assert_eq!(d, vec![1.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    }
}
