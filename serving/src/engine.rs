//! The discrete-event simulation: arrivals, routing, iteration-level batching on every
//! replica, the paged KV cache with preemption, and prefill → decode KV transfers.
//!
//! Time is an integer count of nanoseconds on `archsim_sim`'s [`EventQueue`] (ordered by time,
//! then insertion), so a run replays bit for bit. Per-request state is kept in flat arrays
//! (struct of arrays); the queue holds at most one pending arrival, one step per replica and
//! the KV transfers in flight, so nothing is allocated per event.

use std::collections::VecDeque;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use archsim_sim::{Cycle, EventQueue};

use crate::config::{Preemption, Role, RouterKind, ServingConfig};
use crate::fleet::Fleet;
use crate::traffic::Request;
use crate::ServingError;

/// Not set (a time that has not happened).
pub const NEVER: u64 = u64::MAX;

/// Buckets of the KV-occupancy time series over the arrival window.
const BUCKETS: u64 = 200;

#[derive(Debug, Clone, Copy)]
enum Ev {
    Arrive(u32),
    Step(u32),
    Transfer(u32, u32),
}

struct Replica {
    pool: usize,
    role: Role,
    waiting: VecDeque<u32>,
    running: Vec<u32>,
    batch: Vec<(u32, u32)>,
    free: u32,
    total: u32,
    busy: bool,
    step_ns: u64,
    busy_ns: u64,
    /// Tokens still to process (prefill tokens plus output tokens), over the pool's speed.
    outstanding: i64,
    speed: f64,
    /// Prefixes this replica holds ([`crate::prefix`]).
    prefixes: crate::prefix::ReplicaPrefixes,
}

/// Per-pool statistics of a run.
#[derive(Debug, Clone, Default)]
pub struct PoolStats {
    /// Busy time summed over the pool's replicas, ns.
    pub busy_ns: u64,
    /// Iterations run.
    pub steps: u64,
    /// Preemptions.
    pub preemptions: u64,
    /// Swap traffic to and from host memory, bytes.
    pub swap_bytes: f64,
    /// Requests migrated away from the pool's replicas.
    pub migrations: u64,
    /// Highest KV blocks in use on one replica.
    pub peak_blocks: u32,
    /// Occupancy × time per bucket (ns), summed over replicas.
    pub occupancy_ns: Vec<f64>,
    /// Tokens prefilled (recomputation included) and decoded.
    pub prefill_tokens: u64,
    /// Tokens decoded.
    pub decode_tokens: u64,
    /// Context tokens the decodes attended to (summed over every decode of every iteration):
    /// the KV-cache tokens decode attention read, before `serving.kv.read_fraction`.
    pub decode_context_tokens: u64,
    /// Prompt tokens found in the prefix cache (not prefilled).
    pub prefix_hit_tokens: u64,
    /// Requests that found their prefix cached.
    pub prefix_hits: u64,
    /// Speculative verification rounds, and the tokens they yielded.
    pub spec_rounds: u64,
    /// Tokens yielded by verification rounds.
    pub spec_tokens: u64,
    /// Rounds that drafted the full `k` tokens (not cut short by the end of a request).
    pub spec_full_rounds: u64,
    /// Tokens yielded by full rounds.
    pub spec_full_tokens: u64,
}

/// Everything a run produced: per-request times (ns) and per-pool statistics.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Arrival, ns.
    pub arrival_ns: Vec<u64>,
    /// Prompt tokens.
    pub prompt: Vec<u32>,
    /// Output tokens.
    pub output: Vec<u32>,
    /// The replica that produced the first token (index over all replicas).
    pub first_replica: Vec<u32>,
    /// The replica that finished it.
    pub replica: Vec<u32>,
    /// First iteration that worked on it, ns.
    pub start_ns: Vec<u64>,
    /// First token, ns.
    pub first_ns: Vec<u64>,
    /// Last token, ns.
    pub finish_ns: Vec<u64>,
    /// Times it was preempted.
    pub preemptions: Vec<u32>,
    /// Completions counted (each request exactly once).
    pub completions: u64,
    /// The pool of each replica.
    pub replica_pool: Vec<usize>,
    /// Per-pool statistics.
    pub pools: Vec<PoolStats>,
    /// Width of an occupancy bucket, ns.
    pub bucket_ns: u64,
    /// Last completion, ns.
    pub makespan_ns: u64,
}

fn to_ns(s: f64) -> u64 {
    (s * 1e9).round().max(0.0) as u64
}

/// Runs `reqs` through `fleet` as `cfg` configures it.
pub fn run(
    fleet: &Fleet,
    cfg: &ServingConfig,
    reqs: &[Request],
    seed: u64,
) -> Result<Outcome, ServingError> {
    let n = reqs.len();
    if n == 0 {
        return Err(ServingError::Config {
            key: "serving.traffic".into(),
            reason: "no requests to serve".into(),
        });
    }
    let bs = cfg.kv.block_tokens;
    // Every request must fit in the KV cache of the pools it may run on.
    for (pi, p) in fleet.pools.iter().enumerate() {
        for (i, r) in reqs.iter().enumerate() {
            let tokens = match p.role {
                Role::Prefill => r.prompt_tokens,
                _ => r.prompt_tokens + r.output_tokens,
            };
            if tokens.div_ceil(bs) > p.kv_blocks {
                return Err(ServingError::Config {
                    key: "serving.traffic".into(),
                    reason: format!(
                        "request {i} holds {tokens} tokens of KV cache, more than the {} tokens a replica of pool `{}` (serving.pools.{pi}) holds; use a larger tp or shorter requests",
                        p.kv_blocks as u64 * bs as u64,
                        p.name
                    ),
                });
            }
        }
    }
    let mut replicas = Vec::new();
    let mut replica_pool = Vec::new();
    for (pi, p) in fleet.pools.iter().enumerate() {
        let b = (cfg.scheduler.max_batch as u64).clamp(1, 64);
        let speed = b as f64
            / p.step
                .uniform(crate::step::UniformStep::Decode {
                    batch: b,
                    context: 512,
                })
                .max(1e-12);
        for _ in 0..p.count {
            replica_pool.push(pi);
            replicas.push(Replica {
                pool: pi,
                role: p.role,
                waiting: VecDeque::new(),
                running: Vec::new(),
                batch: Vec::new(),
                free: p.kv_blocks,
                total: p.kv_blocks,
                busy: false,
                step_ns: 0,
                busy_ns: 0,
                outstanding: 0,
                speed,
                prefixes: Default::default(),
            });
        }
    }
    let entry: Vec<u32> = (0..replicas.len() as u32)
        .filter(|&r| replicas[r as usize].role != Role::Decode)
        .collect();
    let decoders: Vec<u32> = (0..replicas.len() as u32)
        .filter(|&r| replicas[r as usize].role == Role::Decode)
        .collect();
    let last_arrival = reqs.last().map_or(0.0, |r| r.arrival_s);
    let bucket_ns = (to_ns(last_arrival) / BUCKETS).max(1_000_000);
    let prefixes = cfg.prefix_cache.as_ref().map(|p| {
        let longest = reqs
            .iter()
            .map(|r| (r.prompt_tokens + r.output_tokens).div_ceil(bs))
            .max()
            .unwrap_or(0);
        crate::prefix::Draws::new(p, n, seed, longest)
    });
    let mut st = State {
        spec: cfg
            .speculative
            .as_ref()
            .map(|s| crate::speculative::Rounds::new(s, n, seed)),
        prefix: vec![0; n],
        target: reqs.iter().map(|r| r.prompt_tokens).collect(),
        ctx: vec![0; n],
        gen: vec![0; n],
        blocks: vec![0; n],
        swapped: vec![false; n],
        in_batch: vec![false; n],
        out: Outcome {
            arrival_ns: reqs.iter().map(|r| to_ns(r.arrival_s)).collect(),
            prompt: reqs.iter().map(|r| r.prompt_tokens).collect(),
            output: reqs.iter().map(|r| r.output_tokens).collect(),
            first_replica: vec![u32::MAX; n],
            replica: vec![u32::MAX; n],
            start_ns: vec![NEVER; n],
            first_ns: vec![NEVER; n],
            finish_ns: vec![NEVER; n],
            preemptions: vec![0; n],
            completions: 0,
            replica_pool,
            pools: vec![PoolStats::default(); fleet.pools.len()],
            bucket_ns,
            makespan_ns: 0,
        },
    };
    let mut q: EventQueue<Ev> = EventQueue::new();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5e41_71c6);
    let mut rr = 0usize;
    q.push(Cycle(st.out.arrival_ns[0]), Ev::Arrive(0));
    let ctx = Ctx { fleet, cfg };
    let mut events = 0u64;
    while let Some((Cycle(now), ev)) = q.pop() {
        // A caller that can be interrupted (Ctrl-C from Python) is asked every 4096 events.
        events += 1;
        if events % 4096 == 0 && archsim_sim::cancel::requested() {
            return Err(ServingError::Cancelled);
        }
        match ev {
            Ev::Arrive(i) => {
                if (i as usize) + 1 < n {
                    let j = i as usize + 1;
                    q.push(Cycle(st.out.arrival_ns[j]), Ev::Arrive(j as u32));
                }
                let rid = route(&replicas, &entry, cfg.router.kind, &mut rr, &mut rng);
                let r = &mut replicas[rid as usize];
                r.outstanding +=
                    (reqs[i as usize].prompt_tokens + reqs[i as usize].output_tokens) as i64;
                if let Some(d) = &prefixes {
                    let skip = d.lookup(
                        i as usize,
                        st.target[i as usize],
                        &mut r.prefixes,
                        &mut r.free,
                        r.total,
                        bs,
                    );
                    if skip > 0 {
                        st.prefix[i as usize] = skip;
                        st.target[i as usize] -= skip;
                        r.outstanding -= skip as i64;
                        let ps = &mut st.out.pools[r.pool];
                        ps.prefix_hit_tokens += skip as u64;
                        ps.prefix_hits += 1;
                    }
                }
                st.out.replica[i as usize] = rid;
                r.waiting.push_back(i);
                try_start(&ctx, &mut replicas[rid as usize], rid, &mut st, now, &mut q);
            }
            Ev::Transfer(i, rid) => {
                let r = &mut replicas[rid as usize];
                r.waiting.push_back(i);
                try_start(&ctx, r, rid, &mut st, now, &mut q);
            }
            Ev::Step(rid) => {
                let departures = finish_step(&mut replicas[rid as usize], rid, &mut st, now);
                for i in departures {
                    // Prefill done on a prefill replica: the KV cache crosses to a decoder.
                    let d = route(&replicas, &decoders, cfg.router.kind, &mut rr, &mut rng);
                    let left = (st.out.output[i as usize] - st.gen[i as usize]) as i64;
                    replicas[d as usize].outstanding += left;
                    st.out.replica[i as usize] = d;
                    let bytes = st.ctx[i as usize] as f64 * fleet.kv_bytes_per_token;
                    let t = bytes / (cfg.kv_transfer.link_gb_s * 1e9) + cfg.kv_transfer.latency_s;
                    q.push(Cycle(now + to_ns(t)), Ev::Transfer(i, d));
                }
                if let Some(m) = cfg.migration {
                    migrate(&ctx, &mut replicas, rid, m, &mut st, now, &mut q);
                }
                let r = &mut replicas[rid as usize];
                try_start(&ctx, r, rid, &mut st, now, &mut q);
            }
        }
    }
    for r in &replicas {
        st.out.pools[r.pool].busy_ns += r.busy_ns;
    }
    st.out.makespan_ns = st
        .out
        .finish_ns
        .iter()
        .copied()
        .filter(|&t| t != NEVER)
        .max()
        .unwrap_or(0);
    if st.out.completions != n as u64 {
        return Err(ServingError::PotentialBug(format!(
            "{} of {n} requests finished",
            st.out.completions
        )));
    }
    Ok(st.out)
}

struct Ctx<'a> {
    fleet: &'a Fleet,
    cfg: &'a ServingConfig,
}

struct State {
    /// Speculative decoding's acceptance draws.
    spec: Option<crate::speculative::Rounds>,
    /// Prompt tokens found in the prefix cache: before the request's own `ctx` tokens.
    prefix: Vec<u32>,
    target: Vec<u32>,
    ctx: Vec<u32>,
    gen: Vec<u32>,
    blocks: Vec<u32>,
    swapped: Vec<bool>,
    in_batch: Vec<bool>,
    out: Outcome,
}

fn route(
    replicas: &[Replica],
    among: &[u32],
    kind: RouterKind,
    rr: &mut usize,
    rng: &mut ChaCha8Rng,
) -> u32 {
    let load = |r: u32| {
        let x = &replicas[r as usize];
        (x.outstanding.max(0) as f64 + 1.0) / x.speed
    };
    match kind {
        RouterKind::RoundRobin => {
            let r = among[*rr % among.len()];
            *rr += 1;
            r
        }
        RouterKind::LeastLoaded => {
            let mut best = among[0];
            let mut bl = load(best);
            for &r in &among[1..] {
                let l = load(r);
                if l < bl {
                    best = r;
                    bl = l;
                }
            }
            best
        }
        RouterKind::PowerOfTwo => {
            let a = among[rng.random_range(0..among.len())];
            let b = among[rng.random_range(0..among.len())];
            if load(b) < load(a) {
                b
            } else {
                a
            }
        }
    }
}

/// Llumnix-style migration after an iteration of `rid` (see [`crate::config::MigrationConfig`]).
fn migrate(
    c: &Ctx<'_>,
    replicas: &mut [Replica],
    rid: u32,
    m: crate::config::MigrationConfig,
    st: &mut State,
    now: u64,
    q: &mut EventQueue<Ev>,
) {
    let occ = |r: &Replica| (r.total - r.free) as f64 / r.total as f64;
    let r = &replicas[rid as usize];
    let o = occ(r);
    if r.role == Role::Prefill || r.busy || !(o >= m.high || (o >= m.low && !r.waiting.is_empty()))
    {
        return;
    }
    let role = r.role;
    let mut best: Option<(u32, f64)> = None;
    for (d, x) in replicas.iter().enumerate() {
        let od = occ(x);
        if d as u32 != rid && x.role == role && od < m.low && best.is_none_or(|b| od < b.1) {
            best = Some((d as u32, od));
        }
    }
    let Some((d, _)) = best else { return };
    let r = &mut replicas[rid as usize];
    let Some(pos) = r
        .running
        .iter()
        .rposition(|&v| st.ctx[v as usize] >= st.target[v as usize] && st.gen[v as usize] >= 1)
    else {
        return;
    };
    let v = r.running.remove(pos);
    let vi = v as usize;
    r.free += st.blocks[vi];
    st.blocks[vi] = 0;
    let left = (st.out.output[vi] - st.gen[vi]) as i64;
    r.outstanding -= left;
    st.out.pools[r.pool].migrations += 1;
    replicas[d as usize].outstanding += left;
    st.out.replica[vi] = d;
    let bytes = st.ctx[vi] as f64 * c.fleet.kv_bytes_per_token;
    let t = bytes / (c.cfg.kv_transfer.link_gb_s * 1e9) + c.cfg.kv_transfer.latency_s;
    q.push(Cycle(now + to_ns(t)), Ev::Transfer(v, d));
}

#[inline]
fn blocks_for(tokens: u32, bs: u32) -> u32 {
    tokens.div_ceil(bs)
}

/// Frees `v`'s KV cache and sends it back to the front of the queue.
fn preempt(c: &Ctx<'_>, r: &mut Replica, st: &mut State, v: u32, extra_s: &mut f64) {
    let vi = v as usize;
    let pool = &c.fleet.pools[r.pool];
    r.free += st.blocks[vi];
    st.blocks[vi] = 0;
    st.out.preemptions[vi] += 1;
    let stats = &mut st.out.pools[r.pool];
    stats.preemptions += 1;
    match (c.cfg.kv.preemption, pool.host_link_gbps) {
        (Preemption::Swap, Some(gbps)) if st.ctx[vi] > 0 => {
            let bytes = st.ctx[vi] as f64 * pool.kv_bytes_per_token_dev;
            *extra_s += bytes / (gbps * 1e9);
            stats.swap_bytes += bytes * pool.tp as f64;
            st.swapped[vi] = true;
        }
        _ => {
            if st.gen[vi] > 0 {
                st.target[vi] = st.ctx[vi];
            }
            r.outstanding += st.ctx[vi] as i64;
            st.ctx[vi] = 0;
        }
    }
    r.waiting.push_front(v);
}

#[derive(Default)]
struct Acc {
    tokens: u32,
    n_dec: u32,
    dec_ctx: u64,
    pre_attn: f64,
    extra_s: f64,
    /// Speculative decoding: draft steps, and the prompt tokens (and their attention term)
    /// the draft prefills.
    draft_steps: u32,
    draft_tokens: u32,
    draft_attn: f64,
}

/// Admits waiting requests (FCFS, head of line): resumes those whose KV cache is in host memory
/// or arrived from a prefill replica, starts fresh prefills (or recomputations). True when a
/// prefill was scheduled.
fn admit(c: &Ctx<'_>, r: &mut Replica, st: &mut State, now: u64, a: &mut Acc) -> bool {
    let s = &c.cfg.scheduler;
    let bs = c.cfg.kv.block_tokens;
    let pool = &c.fleet.pools[r.pool];
    let mut admitted = false;
    while let Some(&v) = r.waiting.front() {
        if r.running.len() >= s.max_batch as usize {
            break;
        }
        let vi = v as usize;
        if st.ctx[vi] > 0 {
            let need = blocks_for(st.ctx[vi] + 1, bs);
            if need > r.free {
                break;
            }
            r.waiting.pop_front();
            if st.swapped[vi] {
                if let Some(gbps) = pool.host_link_gbps {
                    let bytes = st.ctx[vi] as f64 * pool.kv_bytes_per_token_dev;
                    a.extra_s += bytes / (gbps * 1e9);
                    st.out.pools[r.pool].swap_bytes += bytes * pool.tp as f64;
                }
                st.swapped[vi] = false;
            }
            r.free -= need;
            st.blocks[vi] = need;
            r.running.push(v);
            continue;
        }
        let left = s.max_batch_tokens.saturating_sub(a.tokens);
        let want = st.target[vi];
        let chunk = if s.chunked_prefill {
            want.min(left).min(r.free * bs)
        } else if want <= left || a.tokens == 0 {
            want
        } else {
            0
        };
        let need = blocks_for(chunk, bs);
        if chunk == 0 || need > r.free {
            break;
        }
        r.waiting.pop_front();
        r.free -= need;
        st.blocks[vi] = need;
        r.running.push(v);
        r.batch.push((v, chunk));
        st.in_batch[vi] = true;
        a.tokens += chunk;
        a.pre_attn += pool.step.chunk_attn(chunk, st.prefix[vi]);
        if let Some(d) = &pool.draft {
            a.draft_tokens += chunk;
            a.draft_attn += d.chunk_attn(chunk, st.prefix[vi]);
        }
        if st.out.start_ns[vi] == NEVER {
            st.out.start_ns[vi] = now;
        }
        admitted = true;
    }
    admitted
}

/// Schedules the running sequences, oldest first: a decode token each (preempting the newest
/// sequences when the cache has no block for it), and the next chunk of unfinished prefills.
fn schedule_running(c: &Ctx<'_>, r: &mut Replica, st: &mut State, a: &mut Acc) {
    let s = &c.cfg.scheduler;
    let bs = c.cfg.kv.block_tokens;
    let pool = &c.fleet.pools[r.pool];
    let mut i = 0;
    while i < r.running.len() {
        let v = r.running[i];
        let vi = v as usize;
        if st.in_batch[vi] {
            i += 1;
            continue;
        }
        if st.ctx[vi] >= st.target[vi] {
            // Speculative decoding verifies the drafted tokens too.
            let look = st
                .spec
                .as_ref()
                .map_or(0, |s| s.drafts(st.out.output[vi] - st.gen[vi]));
            let need = blocks_for(st.ctx[vi] + 1 + look, bs).saturating_sub(st.blocks[vi]);
            let mut self_preempted = false;
            while need > r.free {
                let Some(victim) = r.running.pop() else { break };
                if st.in_batch[victim as usize] {
                    // Sequences are scheduled front to back, so a victim is never in the batch.
                    st.in_batch[victim as usize] = false;
                    r.batch.retain(|b| b.0 != victim);
                }
                preempt(c, r, st, victim, &mut a.extra_s);
                if victim == v {
                    self_preempted = true;
                    break;
                }
            }
            if self_preempted || need > r.free {
                break;
            }
            r.free -= need;
            st.blocks[vi] += need;
            r.batch.push((v, 0));
            st.in_batch[vi] = true;
            a.tokens += 1 + look;
            a.draft_steps = a.draft_steps.max(look);
            a.n_dec += 1;
            a.dec_ctx += (st.ctx[vi] + st.prefix[vi]) as u64;
        } else if s.chunked_prefill {
            let left = s.max_batch_tokens.saturating_sub(a.tokens);
            let room = (st.blocks[vi] + r.free) * bs - st.ctx[vi];
            let chunk = (st.target[vi] - st.ctx[vi]).min(left).min(room);
            if chunk > 0 {
                let need = blocks_for(st.ctx[vi] + chunk, bs) - st.blocks[vi];
                r.free -= need;
                st.blocks[vi] += need;
                r.batch.push((v, chunk));
                st.in_batch[vi] = true;
                a.tokens += chunk;
                a.pre_attn += pool.step.chunk_attn(chunk, st.ctx[vi] + st.prefix[vi]);
                if let Some(d) = &pool.draft {
                    a.draft_tokens += chunk;
                    a.draft_attn += d.chunk_attn(chunk, st.ctx[vi] + st.prefix[vi]);
                }
            }
        }
        i += 1;
    }
}

/// Forms and starts the next iteration of an idle replica: with chunked prefill (Sarathi-Serve)
/// the running sequences first and fresh prefills in the budget left; without it (vLLM's
/// default) an iteration of whole prefills whenever one can be admitted, else the decodes.
fn try_start(
    c: &Ctx<'_>,
    r: &mut Replica,
    rid: u32,
    st: &mut State,
    now: u64,
    q: &mut EventQueue<Ev>,
) {
    if r.busy || (r.running.is_empty() && r.waiting.is_empty()) {
        return;
    }
    let pool = &c.fleet.pools[r.pool];
    r.batch.clear();
    let mut a = Acc::default();
    loop {
        if c.cfg.scheduler.chunked_prefill {
            schedule_running(c, r, st, &mut a);
            let before = r.running.len();
            admit(c, r, st, now, &mut a);
            if r.running.len() > before {
                // Resumed sequences (KV back from host memory or from a prefill replica)
                // decode in this iteration too.
                schedule_running(c, r, st, &mut a);
            }
        } else if !admit(c, r, st, now, &mut a) {
            schedule_running(c, r, st, &mut a);
        }
        if !r.batch.is_empty() || r.running.is_empty() {
            break;
        }
        // Nothing could run (the cache is full of unfinished prefills): free the newest.
        if let Some(victim) = r.running.pop() {
            preempt(c, r, st, victim, &mut a.extra_s);
        }
    }
    if r.batch.is_empty() {
        return;
    }
    let mut dur_s = pool.step.seconds(a.tokens, a.n_dec, a.dec_ctx, a.pre_attn) + a.extra_s;
    if let Some(d) = &pool.draft {
        dur_s += crate::speculative::draft_seconds(
            d,
            a.draft_steps,
            a.n_dec,
            a.dec_ctx,
            a.draft_tokens,
            a.draft_attn,
        );
    }
    let dur = to_ns(dur_s).max(1);
    let used = r.total - r.free;
    let stats = &mut st.out.pools[r.pool];
    stats.steps += 1;
    stats.decode_context_tokens += a.dec_ctx;
    stats.peak_blocks = stats.peak_blocks.max(used);
    let b = (now / st.out.bucket_ns) as usize;
    if stats.occupancy_ns.len() <= b {
        stats.occupancy_ns.resize(b + 1, 0.0);
    }
    stats.occupancy_ns[b] += used as f64 / r.total as f64 * dur as f64;
    r.busy = true;
    r.step_ns = dur;
    q.push(Cycle(now + dur), Ev::Step(rid));
}

/// Applies a finished iteration; returns the requests leaving for a decode replica.
fn finish_step(r: &mut Replica, rid: u32, st: &mut State, now: u64) -> Vec<u32> {
    r.busy = false;
    r.busy_ns += r.step_ns;
    let mut departures = Vec::new();
    let mut any_done = false;
    for k in 0..r.batch.len() {
        let (v, chunk) = r.batch[k];
        let vi = v as usize;
        st.in_batch[vi] = false;
        let stats = &mut st.out.pools[r.pool];
        if chunk > 0 {
            st.ctx[vi] += chunk;
            r.outstanding -= chunk as i64;
            stats.prefill_tokens += chunk as u64;
            if st.ctx[vi] >= st.target[vi] && st.gen[vi] == 0 {
                st.gen[vi] = 1;
                st.out.first_ns[vi] = now;
                st.out.first_replica[vi] = rid;
                r.outstanding -= 1;
                stats.decode_tokens += 1;
            }
        } else {
            let make = match st.spec.as_mut() {
                Some(s) => {
                    let (make, full) = s.round(vi, st.out.output[vi] - st.gen[vi]);
                    stats.spec_rounds += 1;
                    stats.spec_tokens += make as u64;
                    if full {
                        stats.spec_full_rounds += 1;
                        stats.spec_full_tokens += make as u64;
                    }
                    make
                }
                None => 1,
            };
            st.ctx[vi] += make;
            st.gen[vi] += make;
            r.outstanding -= make as i64;
            stats.decode_tokens += make as u64;
        }
        let done = st.gen[vi] >= st.out.output[vi];
        let leaves = !done && r.role == Role::Prefill && st.gen[vi] >= 1;
        if done || leaves {
            r.free += st.blocks[vi];
            st.blocks[vi] = 0;
            any_done = true;
        }
        if done {
            st.out.finish_ns[vi] = now;
            st.out.completions += 1;
        } else if leaves {
            r.outstanding -= (st.out.output[vi] - st.gen[vi]) as i64;
            st.out.replica[vi] = u32::MAX;
            departures.push(v);
        }
    }
    if any_done {
        let (fin, rep) = (&st.out.finish_ns, &st.out.replica);
        r.running
            .retain(|&v| fin[v as usize] == NEVER && rep[v as usize] == rid);
    }
    r.batch.clear();
    departures
}
