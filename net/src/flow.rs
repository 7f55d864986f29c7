//! Flow-level contention: max-min fair sharing of links, event by event.
//!
//! Each [`Flow`] moves `bytes` along a path of link ids, starting at `start_s`. At every
//! arrival and completion the rates of all active flows are recomputed by progressive filling:
//! repeatedly take the link whose remaining capacity divided by its unfrozen flows is smallest,
//! give each of those flows that share, freeze them and take their rate off every other link
//! they cross. That is the max-min fair allocation: no flow can go faster without slowing a
//! flow that is no faster. A flow ends `latency` after its last byte leaves (the sum of its
//! links' latencies).
//!
//! Time: arrivals are events on sim's [`EventQueue`], keyed by [`Cycle`] at one picosecond per
//! tick, so equal arrival times pop first-in first-out and runs replay bit for bit.
//! Completions are not queued: a completion time moves whenever any rate changes, so a queued
//! completion would need cancelling at every event; instead the earliest completion is found
//! by a scan of the active flows after each rate update, and flows that end in the same
//! picosecond end together.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use archsim_sim::{Cycle, EventQueue};
use serde::Serialize;

use crate::collective::{Algorithm, Op};

use crate::error::NetError;
use crate::topology::Topology;

/// Ticks per second of the arrival clock (1 ps).
pub const TICKS_PER_S: f64 = 1e12;

/// A transfer along a fixed path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flow {
    /// Link ids, in order.
    pub path: Vec<u32>,
    /// Bytes to move.
    pub bytes: f64,
    /// When it starts, seconds.
    pub start_s: f64,
}

/// When a flow ran.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FlowTiming {
    /// Start, seconds.
    pub start_s: f64,
    /// End (last byte delivered, plus path latency), seconds.
    pub end_s: f64,
}

/// The outcome of [`simulate`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowReport {
    /// One timing per flow, in input order.
    pub flows: Vec<FlowTiming>,
    /// The last end, seconds.
    pub makespan_s: f64,
    /// Rate recomputations (events) performed.
    pub events: usize,
}

#[derive(PartialEq)]
struct Share(f64, u32);
impl Eq for Share {}
impl PartialOrd for Share {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Share {
    fn cmp(&self, o: &Self) -> Ordering {
        // Min-heap on the share, then on the link id (deterministic ties).
        o.0.total_cmp(&self.0).then(o.1.cmp(&self.1))
    }
}

/// Simulates `flows` over links of `capacity` bytes/s and `latency` seconds (by link id).
pub fn simulate_links(
    capacity: &[f64],
    latency: &[f64],
    flows: &[Flow],
) -> Result<FlowReport, NetError> {
    let nl = capacity.len();
    for (i, f) in flows.iter().enumerate() {
        if let Some(&l) = f.path.iter().find(|&&l| l as usize >= nl) {
            return Err(NetError::Flow {
                flow: i,
                reason: format!("link {l} does not exist ({nl} links)"),
            });
        }
        if !(f.bytes.is_finite() && f.bytes >= 0.0 && f.start_s.is_finite() && f.start_s >= 0.0) {
            return Err(NetError::Flow {
                flow: i,
                reason: "bytes and start must be finite and non-negative".into(),
            });
        }
    }
    let path_lat: Vec<f64> = flows
        .iter()
        .map(|f| f.path.iter().map(|&l| latency[l as usize]).sum())
        .collect();
    let mut q = EventQueue::new();
    for (i, f) in flows.iter().enumerate() {
        q.push(Cycle((f.start_s * TICKS_PER_S).round() as u64), i);
    }
    let mut timing: Vec<FlowTiming> = flows
        .iter()
        .map(|f| FlowTiming {
            start_s: f.start_s,
            end_s: f.start_s,
        })
        .collect();
    let mut remaining: Vec<f64> = flows.iter().map(|f| f.bytes).collect();
    let mut rate = vec![0.0; flows.len()];
    let mut active: Vec<usize> = Vec::new();
    // A flow never runs faster than the slowest link of its path, so a link whose capacity
    // exceeds the sum of those caps over every flow that ever crosses it can never saturate:
    // it constrains nobody and is left out of the filling (exactly; each flow keeps the
    // slowest link of its path, which that sum cannot exceed strictly).
    let mut bound = vec![0.0; nl];
    for f in flows {
        let cap = f
            .path
            .iter()
            .map(|&l| capacity[l as usize])
            .fold(f64::INFINITY, f64::min);
        for &l in &f.path {
            bound[l as usize] += cap;
        }
    }
    // Paths flattened: flow i crosses links[off[i]..off[i + 1]] (binding links only).
    let mut off = Vec::with_capacity(flows.len() + 1);
    off.push(0usize);
    let mut links: Vec<u32> = Vec::new();
    for f in flows {
        links.extend(
            f.path
                .iter()
                .copied()
                .filter(|&l| capacity[l as usize] <= bound[l as usize]),
        );
        off.push(links.len());
    }
    // Scratch for progressive filling: link → active flows as compressed rows, rebuilt at
    // every event.
    let mut count = vec![0u32; nl + 1];
    let mut start = vec![0u32; nl + 1];
    let mut members: Vec<u32> = Vec::new();
    let mut left = vec![0.0; nl];
    let mut unfrozen = vec![0u32; nl];
    let mut frozen = vec![false; flows.len()];
    let mut touched: Vec<u32> = Vec::new();
    let mut heap = BinaryHeap::new();
    let mut now = 0.0_f64;
    let mut events = 0;
    loop {
        if active.is_empty() {
            let Some(t) = q.peek_time() else { break };
            now = now.max(t.0 as f64 / TICKS_PER_S);
        }
        // Admit every arrival due now.
        while let Some(t) = q.peek_time() {
            if t.0 as f64 / TICKS_PER_S > now {
                break;
            }
            if let Some((_, i)) = q.pop() {
                if flows[i].path.is_empty() || remaining[i] <= 0.0 {
                    timing[i].end_s = now + path_lat[i];
                } else {
                    active.push(i);
                }
            }
        }
        if active.is_empty() {
            continue;
        }
        events += 1;
        // Progressive filling over the active flows.
        touched.clear();
        for &i in &active {
            frozen[i] = false;
            for &l in &links[off[i]..off[i + 1]] {
                if count[l as usize] == 0 {
                    touched.push(l);
                }
                count[l as usize] += 1;
            }
        }
        let mut acc = 0u32;
        for &l in &touched {
            let l = l as usize;
            start[l] = acc;
            acc += count[l];
            unfrozen[l] = count[l];
            left[l] = capacity[l];
            count[l] = start[l]; // becomes the fill cursor
        }
        members.resize(acc as usize, 0);
        for &i in &active {
            for &l in &links[off[i]..off[i + 1]] {
                members[count[l as usize] as usize] = i as u32;
                count[l as usize] += 1;
            }
        }
        let mut entries = std::mem::take(&mut heap).into_vec();
        entries.clear();
        entries.extend(
            touched
                .iter()
                .map(|&l| Share(left[l as usize] / unfrozen[l as usize] as f64, l)),
        );
        heap = BinaryHeap::from(entries);
        // Shares only grow as flows freeze (a frozen flow takes the smallest share, at most
        // the fair share of every link it crosses), so a popped entry below its link's current
        // share is refreshed and pushed back rather than pushed at every change.
        while let Some(Share(share, l)) = heap.pop() {
            let lu = l as usize;
            if unfrozen[lu] == 0 {
                continue;
            }
            let now_share = left[lu] / unfrozen[lu] as f64;
            if share != now_share {
                heap.push(Share(now_share, l));
                continue;
            }
            for &i in &members[start[lu] as usize..count[lu] as usize] {
                let i = i as usize;
                if frozen[i] {
                    continue;
                }
                frozen[i] = true;
                rate[i] = share;
                for &m in &links[off[i]..off[i + 1]] {
                    let m = m as usize;
                    left[m] = (left[m] - share).max(0.0);
                    unfrozen[m] -= 1;
                }
            }
        }
        for &l in &touched {
            count[l as usize] = 0;
        }
        // Next event: the earliest completion or the next arrival.
        let dt_done = active
            .iter()
            .map(|&i| remaining[i] / rate[i])
            .fold(f64::INFINITY, f64::min);
        let next_arrival = q.peek_time().map(|t| t.0 as f64 / TICKS_PER_S);
        let dt = match next_arrival {
            Some(ta) if ta - now < dt_done => ta - now,
            _ => dt_done,
        };
        if !dt.is_finite() {
            return Err(NetError::Flow {
                flow: active[0],
                reason: "no bandwidth along its path".into(),
            });
        }
        now += dt;
        // Flows due within half a tick, or within a billionth of the step (floating-point
        // residue of symmetric flows), end together.
        let eps = 0.5 / TICKS_PER_S + dt * 1e-9;
        active.retain(|&i| {
            let done = remaining[i] / rate[i] <= dt + eps;
            if done {
                remaining[i] = 0.0;
                timing[i].end_s = now + path_lat[i];
            } else {
                remaining[i] -= rate[i] * dt;
            }
            !done
        });
    }
    let makespan_s = timing.iter().map(|t| t.end_s).fold(0.0, f64::max);
    Ok(FlowReport {
        flows: timing,
        makespan_s,
        events,
    })
}

/// Simulates `flows` on the links of `topo`.
pub fn simulate(topo: &Topology, flows: &[Flow]) -> Result<FlowReport, NetError> {
    let cap: Vec<f64> = topo.links().iter().map(|l| l.bytes_per_s).collect();
    let lat: Vec<f64> = topo.links().iter().map(|l| l.latency_s).collect();
    simulate_links(&cap, &lat, flows)
}

/// A flow of `bytes` from device `src` to device `dst` on the topology's route.
pub fn device_flow(
    topo: &Topology,
    src: usize,
    dst: usize,
    bytes: f64,
    start_s: f64,
) -> Result<Flow, NetError> {
    let path = topo.route(src, dst).ok_or_else(|| NetError::Flow {
        flow: 0,
        reason: format!("device {dst} is unreachable from device {src}"),
    })?;
    Ok(Flow {
        path,
        bytes,
        start_s,
    })
}

/// Expands a collective on the first `ranks` devices into its bandwidth-equivalent flows,
/// all starting at `start_s`: the bytes every rank sends to every peer over the whole call.
/// Simulated together with other traffic, they show how much the collective slows it (and
/// is slowed); the per-step latencies are the analytic model's business.
///
/// Ring: rank `i` sends `k·(p−1)/p·S` to rank `i+1` (`k` = 2 for all-reduce, 1 for
/// reduce-scatter/all-gather/broadcast/reduce). Direct and all-to-all: `S/p` to every peer
/// (`(p−1)·S/p`… for one-shot all-reduce each rank pulls every peer's whole buffer).
/// Hierarchical: the intra-node ring flows plus, per local index, a ring over the nodes
/// carrying `2·(n−1)/n·S/d`.
pub fn collective_flows(
    topo: &Topology,
    op: Op,
    algorithm: Algorithm,
    bytes: f64,
    ranks: usize,
    start_s: f64,
) -> Result<Vec<Flow>, NetError> {
    if ranks > topo.devices() || ranks == 0 {
        return Err(NetError::DeviceCount {
            key: "ranks".into(),
            want: ranks,
            have: topo.devices(),
        });
    }
    let p = ranks as f64;
    let phases = if op == Op::AllReduce { 2.0 } else { 1.0 };
    let mut pairs: Vec<(usize, usize, f64)> = Vec::new();
    let ring = |pairs: &mut Vec<(usize, usize, f64)>, members: &[usize], per: f64| {
        let n = members.len();
        if n > 1 {
            for k in 0..n {
                pairs.push((members[k], members[(k + 1) % n], per));
            }
        }
    };
    match (algorithm, op) {
        (_, Op::SendRecv) => pairs.push((0, ranks - 1, bytes)),
        (Algorithm::Direct, Op::AllReduce) => {
            for a in 0..ranks {
                for b in (0..ranks).filter(|&b| b != a) {
                    pairs.push((a, b, bytes));
                }
            }
        }
        (Algorithm::Direct, _) | (_, Op::AllToAll) => {
            for a in 0..ranks {
                for b in (0..ranks).filter(|&b| b != a) {
                    pairs.push((a, b, bytes / p));
                }
            }
        }
        (Algorithm::Hierarchical, _) => {
            let d = topo.spec().devices_per_node.min(ranks);
            let nodes = ranks.div_ceil(d);
            for n in 0..nodes {
                let members: Vec<usize> = (n * d..((n + 1) * d).min(ranks)).collect();
                let m = members.len() as f64;
                ring(&mut pairs, &members, phases * (m - 1.0) / m * bytes);
            }
            let nf = nodes as f64;
            for l in 0..d {
                let members: Vec<usize> = (0..nodes)
                    .map(|n| n * d + l)
                    .filter(|&r| r < ranks)
                    .collect();
                ring(
                    &mut pairs,
                    &members,
                    phases * (nf - 1.0) / nf * bytes / d as f64,
                );
            }
        }
        _ => {
            let members: Vec<usize> = (0..ranks).collect();
            ring(&mut pairs, &members, phases * (p - 1.0) / p * bytes);
        }
    }
    let mut flows = Vec::with_capacity(pairs.len());
    let mut cache: Vec<Option<crate::topology::Routes<'_>>> = (0..ranks).map(|_| None).collect();
    for (a, b, per) in pairs {
        let routes =
            cache[a].get_or_insert_with(|| topo.routes_from(topo.device_vertex(a).unwrap_or(0)));
        let dst = topo.device_vertex(b).unwrap_or(0);
        let path = routes.path_to(dst).ok_or_else(|| NetError::Flow {
            flow: flows.len(),
            reason: format!("device {b} is unreachable from device {a}"),
        })?;
        flows.push(Flow {
            path,
            bytes: per,
            start_s,
        });
    }
    Ok(flows)
}
