//! Prefix caching (vLLM's automatic prefix caching, SGLang's RadixAttention): prompts that
//! begin with the same tokens (a system prompt, a few-shot template, a shared document) reuse
//! the KV cache of that prefix instead of prefilling it again.
//!
//! `serving.prefix_cache: {tokens: S, hit_rate: h}` or `{tokens: S, groups: G}`: every prompt
//! begins with a shared prefix of `S` tokens (at most its length less one: the last prompt
//! token is always computed, as vLLM does).
//!
//! * `hit_rate`: each request finds its prefix cached on its replica with probability `h`
//!   (seeded draw per request). A replica holding the prefix pins its blocks once.
//! * `groups`: each request's prefix is one of `G` (uniform, seeded). The first request of a
//!   group on a replica computes the prefix and the replica keeps it (its blocks pinned);
//!   later requests of that group on that replica hit. The hit rate comes out of the routing.
//!
//! A hit skips the prefix's prefill: the request's prefill starts after `S` cached tokens
//! (its chunks still attend to them, and its decodes read them), and its own KV blocks
//! exclude the prefix, which the replica holds once for every request of the group. A replica
//! pins a prefix only while the blocks left still hold the longest request (else it does not
//! cache it). The lookup happens when a request reaches its replica, so a request arriving while
//! its group's first request is still prefilling finds the prefix (slightly optimistic).
//! Cached prefixes are never evicted. Prefix caching applies to co-located (`mixed`) pools.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::Role;
use crate::ServingError;

/// `serving.prefix_cache`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrefixConfig {
    /// Tokens of the shared prefix.
    #[schemars(range(min = 1, max = crate::MAX_TOKENS))]
    pub tokens: u32,
    /// Probability that a request finds its prefix cached (give this or `groups`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1))]
    pub hit_rate: Option<f64>,
    /// Distinct prefixes, drawn uniformly per request (give this or `hit_rate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 16777216))]
    pub groups: Option<u32>,
}

impl PrefixConfig {
    pub(crate) fn validate(&self, roles: impl Iterator<Item = Role>) -> Result<(), ServingError> {
        let bad = |k: &str, r: String| ServingError::Config {
            key: format!("serving.prefix_cache{k}"),
            reason: r,
        };
        if self.tokens == 0 {
            return Err(bad(".tokens", "must be at least 1".into()));
        }
        match (self.hit_rate, self.groups) {
            (Some(h), None) if !(0.0..=1.0).contains(&h) => {
                Err(bad(".hit_rate", format!("must be in [0, 1], got {h}")))
            }
            (None, Some(0)) => Err(bad(".groups", "must be at least 1".into())),
            (Some(_), None) | (None, Some(_)) => Ok(()),
            _ => Err(bad(
                "",
                "give one of `hit_rate` (a probability) or `groups` (distinct prefixes)".into(),
            )),
        }?;
        if let Some(r) = roles.into_iter().find(|r| *r != Role::Mixed) {
            return Err(bad(
                "",
                format!("prefix caching is modelled on co-located pools only, not `role: {r:?}`")
                    .to_lowercase(),
            ));
        }
        Ok(())
    }
}

/// Per-request draws: the group of each request (`groups`), or whether it hits (`hit_rate`:
/// group 0 for a hit, `u32::MAX` for a miss).
#[derive(Debug, Clone)]
pub(crate) struct Draws {
    cfg: PrefixConfig,
    group: Vec<u32>,
    /// Blocks a replica must keep free for the longest request.
    reserve: u32,
}

/// The prefixes one replica holds.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReplicaPrefixes {
    cached: Vec<bool>,
    /// Blocks pinned by cached prefixes.
    pub(crate) pinned: u32,
}

impl Draws {
    /// Draws for `n` requests; `reserve` is the blocks of the longest request.
    pub(crate) fn new(cfg: &PrefixConfig, n: usize, seed: u64, reserve: u32) -> Draws {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x9f1c_a7e5_0d3b_2201);
        let group = (0..n)
            .map(|_| match (cfg.groups, cfg.hit_rate) {
                (Some(g), _) => rng.random_range(0..g),
                (None, Some(h)) => {
                    if rng.random::<f64>() < h {
                        0
                    } else {
                        u32::MAX
                    }
                }
                (None, None) => u32::MAX,
            })
            .collect();
        Draws {
            cfg: *cfg,
            group,
            reserve,
        }
    }

    /// Request `i` (of `prompt` tokens) reaches a replica with `total` blocks of `bs` tokens,
    /// `free` of them free: the prompt tokens it skips (0 on a miss). A prefix the replica
    /// caches now takes its blocks from `free`.
    pub(crate) fn lookup(
        &self,
        i: usize,
        prompt: u32,
        rp: &mut ReplicaPrefixes,
        free: &mut u32,
        total: u32,
        bs: u32,
    ) -> u32 {
        let shared = self.cfg.tokens.min(prompt.saturating_sub(1));
        let g = self.group[i];
        if shared == 0 || g == u32::MAX {
            return 0;
        }
        let slot = g as usize;
        if rp.cached.get(slot).copied().unwrap_or(false) {
            return shared;
        }
        // Not cached here yet: pin the whole prefix's blocks if the replica can spare them.
        let pin = self.cfg.tokens.div_ceil(bs);
        let can = pin <= *free && rp.pinned + pin + self.reserve <= total;
        if !can {
            return 0;
        }
        if rp.cached.len() <= slot {
            rp.cached.resize(slot + 1, false);
        }
        rp.cached[slot] = true;
        rp.pinned += pin;
        *free -= pin;
        // With a hit rate the prefix was computed before (a hit); a group's first request
        // computes it itself.
        if self.cfg.groups.is_some() {
            0
        } else {
            shared
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_groups_first_request_misses_and_the_rest_hit() {
        let cfg = PrefixConfig {
            tokens: 100,
            hit_rate: None,
            groups: Some(1),
        };
        let d = Draws::new(&cfg, 3, 0, 10);
        let mut rp = ReplicaPrefixes::default();
        let mut free = 100;
        assert_eq!(d.lookup(0, 500, &mut rp, &mut free, 100, 16), 0);
        assert_eq!((rp.pinned, free), (7, 93));
        assert_eq!(d.lookup(1, 500, &mut rp, &mut free, 100, 16), 100);
        // A prompt no longer than the prefix still computes its last token.
        assert_eq!(d.lookup(2, 60, &mut rp, &mut free, 100, 16), 59);
        assert_eq!(free, 93);
    }

    #[test]
    fn a_replica_too_full_to_pin_does_not_cache() {
        let cfg = PrefixConfig {
            tokens: 160,
            hit_rate: Some(1.0),
            groups: None,
        };
        let d = Draws::new(&cfg, 1, 0, 95);
        let mut rp = ReplicaPrefixes::default();
        let mut free = 100;
        assert_eq!(d.lookup(0, 500, &mut rp, &mut free, 100, 16), 0);
        assert_eq!((rp.pinned, free), (0, 100));
        let e = PrefixConfig {
            tokens: 10,
            hit_rate: Some(0.5),
            groups: Some(2),
        }
        .validate([Role::Mixed].into_iter())
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("serving.prefix_cache: give one of"),
            "{e}"
        );
    }
}
