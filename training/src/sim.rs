//! One training iteration as an event DAG on `archsim-sim`'s event queue.
//!
//! Tasks: for every (virtual) pipeline stage and micro-batch a forward, an optional
//! recompute and a backward on its device's compute stream, in the order the schedule gives
//! (GPipe: every forward, then every backward; 1F1B: `pp − stage − 1` warm-up forwards, then
//! one forward and one backward alternately, then the cool-down backwards; interleaved 1F1B:
//! the same over `vpp` model chunks per device in Megatron-LM's order, see `sequence`); a
//! send of the activation to the next stage after each forward and of its gradient to the
//! previous stage after each backward, on the sending device's link (FIFO); then per device
//! the data-parallel gradient reduction on its data-parallel channel and the optimizer step. A task starts when
//! its predecessors have ended, it is next on its stream and the stream is free; the
//! iteration ends with the last optimizer step. The pipeline bubble is what the streams wait,
//! not a formula. Only one pipeline is simulated: the other tensor- and data-parallel
//! replicas run the same tasks at the same times.
//!
//! With `dp_overlap`, the last micro-batch's backward is split per layer and each layer's
//! gradient reduction starts as soon as that layer's gradients are complete.

use archsim_sim::{Cycle, EventQueue};
use serde::Serialize;

/// Ticks per second of the event queue (picoseconds).
const TICKS: f64 = 1e12;

/// What a task is, for the breakdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Forward,
    Recompute,
    Backward,
    Send,
    Dp,
    Optimizer,
    /// A host ↔ device, NVMe or host-CPU task of offload (ZeRO-Offload / ZeRO-Infinity).
    Offload,
}

/// One task of the DAG.
#[derive(Debug, Clone)]
pub(crate) struct Task {
    pub kind: Kind,
    pub resource: usize,
    /// Seconds, by part: compute, tensor-parallel communication, data-parallel (ZeRO-3
    /// gathers) — their sum is the duration.
    pub compute_s: f64,
    pub tp_s: f64,
    pub dp_s: f64,
    pub preds: Vec<usize>,
}

impl Task {
    fn dur(&self) -> u64 {
        ((self.compute_s + self.tp_s + self.dp_s) * TICKS).round() as u64
    }
}

/// The DAG: tasks and, per resource, the order its tasks run in.
#[derive(Debug, Clone, Default)]
pub(crate) struct Dag {
    pub tasks: Vec<Task>,
    pub order: Vec<Vec<usize>>,
}

impl Dag {
    pub(crate) fn add(&mut self, t: Task) -> usize {
        let id = self.tasks.len();
        if self.order.len() <= t.resource {
            self.order.resize(t.resource + 1, Vec::new());
        }
        self.order[t.resource].push(id);
        self.tasks.push(t);
        id
    }
}

/// Start and end of every task, seconds.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Timing {
    pub start: Vec<f64>,
    pub end: Vec<f64>,
}

/// Runs the DAG: each resource runs its tasks in order, one at a time, each once its
/// predecessors are done. Returns `None` on a cycle (a schedule bug).
pub(crate) fn run(dag: &Dag) -> Option<Timing> {
    let n = dag.tasks.len();
    let mut waiting: Vec<usize> = dag.tasks.iter().map(|t| t.preds.len()).collect();
    let mut succs: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, t) in dag.tasks.iter().enumerate() {
        for &p in &t.preds {
            succs[p].push(i);
        }
    }
    let mut next = vec![0usize; dag.order.len()];
    let mut busy = vec![false; dag.order.len()];
    let mut start = vec![0u64; n];
    let mut end = vec![0u64; n];
    let mut done = 0usize;
    let mut q: EventQueue<usize> = EventQueue::new();
    let try_start = |r: usize,
                     now: u64,
                     next: &mut [usize],
                     busy: &mut [bool],
                     waiting: &[usize],
                     start: &mut [u64],
                     q: &mut EventQueue<usize>| {
        if busy[r] {
            return;
        }
        if let Some(&t) = dag.order[r].get(next[r]) {
            if waiting[t] == 0 {
                busy[r] = true;
                next[r] += 1;
                start[t] = now;
                q.push(Cycle(now + dag.tasks[t].dur()), t);
            }
        }
    };
    for r in 0..dag.order.len() {
        try_start(r, 0, &mut next, &mut busy, &waiting, &mut start, &mut q);
    }
    while let Some((Cycle(now), t)) = q.pop() {
        end[t] = now;
        done += 1;
        let r = dag.tasks[t].resource;
        busy[r] = false;
        for &s in &succs[t] {
            waiting[s] -= 1;
        }
        try_start(r, now, &mut next, &mut busy, &waiting, &mut start, &mut q);
        for &s in &succs[t] {
            let rs = dag.tasks[s].resource;
            try_start(rs, now, &mut next, &mut busy, &waiting, &mut start, &mut q);
        }
    }
    if done != n {
        return None;
    }
    Some(Timing {
        start: start.iter().map(|&c| c as f64 / TICKS).collect(),
        end: end.iter().map(|&c| c as f64 / TICKS).collect(),
    })
}

/// Per-stage durations that the DAG is built from (seconds).
#[derive(Debug, Clone, Default)]
pub(crate) struct StageTimes {
    /// Forward of one micro-batch: compute, TP communication, ZeRO-3 gathers.
    pub fwd: (f64, f64, f64),
    /// Recompute before a backward: compute, TP communication.
    pub recompute: (f64, f64),
    /// Backward of one micro-batch: compute, TP communication, ZeRO-3 gathers/scatters.
    pub bwd: (f64, f64, f64),
    /// Activation (or gradient) send to the neighbouring stage.
    pub send_s: f64,
    /// The gradient's send to the previous stage when it differs from `send_s` (a pipeline
    /// boundary between node groups of a heterogeneous cluster).
    pub send_prev_s: Option<f64>,
    /// Data-parallel gradient reduction of the whole stage (plus the tied-embedding sync).
    pub dp_s: f64,
    /// The same per layer, for overlap with the last backward.
    pub dp_layer_s: f64,
    /// Layers of the stage.
    pub layers: u64,
    /// Optimizer step.
    pub optimizer_s: f64,
    /// Offload transfers and host work, per layer (`None`: nothing offloaded).
    pub offload: Option<OffloadTimes>,
}

/// Per-layer times of offload's tasks, seconds (each on its device's PCIe, NVMe or host
/// CPU resource; a layer is `1/layers` of the device's parameters).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct OffloadTimes {
    /// One layer's 16-bit gradients device → host over PCIe.
    pub grad_down_s: f64,
    /// Gradients go down after every micro-batch's backward (`gradients: cpu`), not only
    /// the last one's.
    pub every_micro_batch: bool,
    /// Host accumulation of one layer's gradients (micro-batches after the first).
    pub host_acc_s: f64,
    /// One layer's 16-bit parameters host → device before each forward and backward
    /// (0: parameters stay on the device).
    pub param_fetch_s: f64,
    /// The same layer read from NVMe first (0 unless `params: nvme`).
    pub param_nvme_s: f64,
    /// One layer's optimizer states read from NVMe before its step (0 unless
    /// `optimizer: nvme`).
    pub opt_read_s: f64,
    /// CPU Adam (or SGD) on one layer's parameters.
    pub cpu_step_s: f64,
    /// One layer's optimizer states (and, with `params: nvme`, 16-bit weights) written back
    /// to NVMe.
    pub opt_write_s: f64,
    /// One layer's updated 16-bit parameters host → device (0 when parameters are
    /// offloaded: the next iteration fetches them).
    pub param_back_s: f64,
}

/// The schedule of one pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    Gpipe,
    OneFOneB,
    /// Megatron-LM's interleaved 1F1B over this many model chunks (virtual stages) per
    /// device.
    Interleaved(usize),
}

/// One entry of a device's compute sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Step {
    pub forward: bool,
    /// Model chunk on the device (0 unless interleaved).
    pub chunk: usize,
    pub micro_batch: usize,
}

/// The compute sequence of device `d` of `p` over `m` micro-batches.
///
/// Interleaved (Narayanan et al. 2021, Megatron-LM's `forward_backward_pipelining_with_
/// interleaving`): the device runs `m·v` forwards and as many backwards over its `v`
/// chunks; the `k`-th forward is of chunk `(k mod p·v) / p` and micro-batch
/// `(k / p·v)·p + k mod p` (forwards go in groups of `p` micro-batches per chunk), the `k`-th
/// backward the same with the chunks in reverse; `(p − d − 1)·2 + (v − 1)·p` warm-up
/// forwards (all of them when `m = p`), then one forward and one backward alternately, then
/// the cool-down backwards. `m` must be a multiple of `p`.
pub(crate) fn sequence(order: Order, p: usize, d: usize, m: usize) -> Vec<Step> {
    let st = |forward: bool, chunk: usize, micro_batch: usize| Step {
        forward,
        chunk,
        micro_batch,
    };
    match order {
        Order::Gpipe => (0..m)
            .map(|i| st(true, 0, i))
            .chain((0..m).map(|i| st(false, 0, i)))
            .collect(),
        Order::OneFOneB => {
            let w = (p - d - 1).min(m);
            let mut v: Vec<Step> = (0..w).map(|i| st(true, 0, i)).collect();
            for i in 0..m - w {
                v.push(st(true, 0, w + i));
                v.push(st(false, 0, i));
            }
            v.extend((m - w..m).map(|i| st(false, 0, i)));
            v
        }
        Order::Interleaved(vpp) => {
            let total = m * vpp;
            let group = p * vpp;
            let at = |k: usize, forward: bool| {
                let c = (k % group) / p;
                let chunk = if forward { c } else { vpp - 1 - c };
                st(forward, chunk, (k / group) * p + k % p)
            };
            let w = if m == p {
                total
            } else {
                ((p - d - 1) * 2 + (vpp - 1) * p).min(total)
            };
            let mut v: Vec<Step> = (0..w).map(|k| at(k, true)).collect();
            for k in 0..total - w {
                v.push(at(k + w, true));
                v.push(at(k, false));
            }
            v.extend((total - w..total).map(|k| at(k, false)));
            v
        }
    }
}

/// Builds the DAG of one pipeline of `p` devices over `m` micro-batches. `stages` are the
/// virtual stages in model order (`p·v` of them; chunk `c` of device `d` is stage `c·p + d`),
/// one per device unless interleaved. A device's data-parallel reduction and optimizer step
/// are the sums of its chunks' (put them on one chunk).
/// Resources: device `d`'s compute stream is `d`; its forward send link `p + d`, backward
/// send link `2p + d`, data-parallel channel `3p + d`; with offload, its PCIe device → host
/// `4p + d`, PCIe host → device `5p + d`, host CPU `6p + d`, NVMe `7p + d`. With `free`
/// the sends and (`free_offload`) the offload transfers take no time (to tell the bubble
/// from the waiting they cause).
#[allow(clippy::too_many_arguments)]
pub(crate) fn build(
    stages: &[StageTimes],
    p: usize,
    m: usize,
    order: Order,
    overlap: bool,
    no_p2p: bool,
    free_offload: bool,
) -> Dag {
    let nv = stages.len();
    let vpp = (nv / p.max(1)).max(1);
    let mut dag = Dag::default();
    dag.order.resize(4 * p, Vec::new());
    // Task ids per virtual stage and micro-batch, filled as created.
    let mut fwd = vec![vec![usize::MAX; m]; nv];
    let mut bwd_first = vec![vec![usize::MAX; m]; nv];
    let mut send_f = vec![vec![usize::MAX; m]; nv];
    let mut send_b = vec![vec![usize::MAX; m]; nv];
    let mut fwd_last = vec![vec![usize::MAX; m]; nv];
    // Create every task first (sends depend on the neighbour's tasks), then the
    // cross-stage dependencies.
    for d in 0..p {
        let chunks: Vec<&StageTimes> = (0..vpp).map(|c| &stages[c * p + d]).collect();
        let dp_s: f64 = chunks.iter().map(|c| c.dp_s).sum();
        let layers: u64 = chunks.iter().map(|c| c.layers).sum();
        let dp_layer_s = chunks[0].dp_layer_s;
        let optimizer_s: f64 = chunks.iter().map(|c| c.optimizer_s).sum();
        let off = chunks[0].offload;
        let z = |x: f64| if free_offload { 0.0 } else { x };
        let fetching = off.is_some_and(|o| o.param_fetch_s > 0.0);
        let every_mb = off.is_some_and(|o| o.every_micro_batch);
        // Compute pieces that hold a fetched layer (the buffer holds two), gradients still
        // to send once the iteration's backward is done, gradients already on the host.
        let mut used: Vec<usize> = Vec::new();
        let mut to_send: Vec<usize> = Vec::new();
        let mut on_host: Vec<usize> = Vec::new();
        let mut dp_tasks: Vec<usize> = Vec::new();
        let mut prev_compute: Option<usize> = None;
        for step in sequence(order, p, d, m) {
            let v = step.chunk * p + d;
            let st = &stages[v];
            let i = step.micro_batch;
            if step.forward {
                let pieces = if fetching { st.layers.max(1) } else { 1 };
                let mut last = usize::MAX;
                for k in 0..pieces {
                    let frac = 1.0 / pieces as f64;
                    let mut preds = if k > 0 { vec![last] } else { Vec::new() };
                    if let Some(o) = off.filter(|_| fetching) {
                        preds.push(fetch(&mut dag, p, d, &o, &used, free_offload));
                    }
                    let id = dag.add(Task {
                        kind: Kind::Forward,
                        resource: d,
                        compute_s: st.fwd.0 * frac,
                        tp_s: st.fwd.1 * frac,
                        dp_s: st.fwd.2 * frac,
                        preds,
                    });
                    if k == 0 {
                        fwd[v][i] = id;
                    }
                    if fetching {
                        used.push(id);
                    }
                    last = id;
                }
                fwd_last[v][i] = last;
                prev_compute = Some(last);
                if v + 1 < nv {
                    send_f[v][i] = dag.add(Task {
                        kind: Kind::Send,
                        resource: p + d,
                        compute_s: if no_p2p { 0.0 } else { st.send_s },
                        tp_s: 0.0,
                        dp_s: 0.0,
                        preds: vec![last],
                    });
                }
            } else {
                let last_mb = i + 1 == m;
                let has_rec = st.recompute.0 + st.recompute.1 > 0.0;
                let down_now = off.is_some() && (every_mb || last_mb);
                // With fetched parameters each layer is recomputed right before its backward.
                let rec_split = fetching && has_rec;
                let mut first = usize::MAX;
                if has_rec && !rec_split {
                    first = dag.add(Task {
                        kind: Kind::Recompute,
                        resource: d,
                        compute_s: st.recompute.0,
                        tp_s: st.recompute.1,
                        dp_s: 0.0,
                        preds: Vec::new(),
                    });
                }
                let per_layer_dp = overlap && last_mb;
                let pieces = if per_layer_dp || fetching || down_now {
                    st.layers.max(1) as usize
                } else {
                    1
                };
                let mut last = usize::MAX;
                for k in 0..pieces {
                    let frac = 1.0 / pieces as f64;
                    let mut preds = if k > 0 { vec![last] } else { Vec::new() };
                    let f = off
                        .filter(|_| fetching)
                        .map(|o| fetch(&mut dag, p, d, &o, &used, free_offload));
                    if rec_split {
                        preds.extend(f);
                        let r = dag.add(Task {
                            kind: Kind::Recompute,
                            resource: d,
                            compute_s: st.recompute.0 * frac,
                            tp_s: st.recompute.1 * frac,
                            dp_s: 0.0,
                            preds,
                        });
                        if first == usize::MAX {
                            first = r;
                        }
                        preds = vec![r];
                    } else {
                        preds.extend(f);
                    }
                    let id = dag.add(Task {
                        kind: Kind::Backward,
                        resource: d,
                        compute_s: st.bwd.0 * frac,
                        tp_s: st.bwd.1 * frac,
                        dp_s: st.bwd.2 * frac,
                        preds,
                    });
                    if first == usize::MAX {
                        first = id;
                    } else if k == 0 && !rec_split {
                        dag.tasks[id].preds.push(first);
                    }
                    if fetching {
                        used.push(id);
                    }
                    let mut grads = id;
                    if per_layer_dp && pieces > 1 {
                        let t = dag.add(Task {
                            kind: Kind::Dp,
                            resource: 3 * p + d,
                            compute_s: 0.0,
                            tp_s: 0.0,
                            dp_s: dp_layer_s,
                            preds: vec![id],
                        });
                        dp_tasks.push(t);
                        grads = t;
                    }
                    if let Some(o) = off.filter(|_| down_now) {
                        if every_mb {
                            let dn = dag.add(Task {
                                kind: Kind::Offload,
                                resource: 4 * p + d,
                                compute_s: z(o.grad_down_s),
                                tp_s: 0.0,
                                dp_s: 0.0,
                                preds: vec![grads],
                            });
                            let mut tail = dn;
                            if i > 0 && o.host_acc_s > 0.0 {
                                tail = dag.add(Task {
                                    kind: Kind::Offload,
                                    resource: 6 * p + d,
                                    compute_s: z(o.host_acc_s),
                                    tp_s: 0.0,
                                    dp_s: 0.0,
                                    preds: vec![dn],
                                });
                            }
                            if last_mb {
                                on_host.push(tail);
                            }
                        } else {
                            to_send.push(grads);
                        }
                    }
                    last = id;
                }
                bwd_first[v][i] = first;
                prev_compute = Some(last);
                if v > 0 {
                    send_b[v][i] = dag.add(Task {
                        kind: Kind::Send,
                        resource: 2 * p + d,
                        compute_s: if no_p2p {
                            0.0
                        } else {
                            st.send_prev_s.unwrap_or(st.send_s)
                        },
                        tp_s: 0.0,
                        dp_s: 0.0,
                        preds: vec![last],
                    });
                }
            }
        }
        // Data-parallel reduction (whole device unless overlapped per layer), then the step.
        let mut opt_preds = Vec::new();
        let mut whole_dp = None;
        if let Some(last) = prev_compute {
            opt_preds.push(last);
            let rest = if overlap {
                dp_s - dp_layer_s * layers as f64
            } else {
                dp_s
            };
            if rest > 0.0 || dp_tasks.is_empty() {
                let t = dag.add(Task {
                    kind: Kind::Dp,
                    resource: 3 * p + d,
                    compute_s: 0.0,
                    tp_s: 0.0,
                    dp_s: rest.max(0.0),
                    preds: vec![last],
                });
                dp_tasks.push(t);
                if rest > 0.0 {
                    whole_dp = Some(t);
                }
            }
        }
        opt_preds.extend(dp_tasks.iter().copied());
        if let Some(o) = off {
            // Reduced gradients down, layer by layer as they are ready.
            for &g in &to_send {
                let mut preds = vec![g];
                preds.extend(whole_dp);
                on_host.push(dag.add(Task {
                    kind: Kind::Offload,
                    resource: 4 * p + d,
                    compute_s: z(o.grad_down_s),
                    tp_s: 0.0,
                    dp_s: 0.0,
                    preds,
                }));
            }
            // The host's step per layer once all gradients are down: NVMe read (one layer
            // ahead, from when the layer's gradients arrive), CPU update, NVMe write and the
            // 16-bit weights back up, pipelined over the resources.
            let n = on_host.len();
            let mut reads = vec![None; n];
            let read = |dag: &mut Dag, g: usize| {
                dag.add(Task {
                    kind: Kind::Offload,
                    resource: 7 * p + d,
                    compute_s: z(o.opt_read_s),
                    tp_s: 0.0,
                    dp_s: 0.0,
                    preds: vec![g],
                })
            };
            for k in 0..n {
                if o.opt_read_s > 0.0 {
                    if k == 0 {
                        reads[0] = Some(read(&mut dag, on_host[0]));
                    }
                    if k + 1 < n {
                        reads[k + 1] = Some(read(&mut dag, on_host[k + 1]));
                    }
                }
                // ZeRO-Offload steps once every gradient is on the host.
                let mut preds = vec![on_host[k]];
                preds.extend(on_host.last().copied());
                preds.extend(reads[k]);
                let c = dag.add(Task {
                    kind: Kind::Offload,
                    resource: 6 * p + d,
                    compute_s: z(o.cpu_step_s),
                    tp_s: 0.0,
                    dp_s: 0.0,
                    preds,
                });
                opt_preds.push(c);
                for (s, r) in [(o.opt_write_s, 7 * p + d), (o.param_back_s, 5 * p + d)] {
                    if s > 0.0 {
                        opt_preds.push(dag.add(Task {
                            kind: Kind::Offload,
                            resource: r,
                            compute_s: z(s),
                            tp_s: 0.0,
                            dp_s: 0.0,
                            preds: vec![c],
                        }));
                    }
                }
            }
        }
        dag.add(Task {
            kind: Kind::Optimizer,
            resource: d,
            compute_s: optimizer_s,
            tp_s: 0.0,
            dp_s: 0.0,
            preds: opt_preds,
        });
    }
    // Cross-stage dependencies.
    for v in 0..nv {
        for i in 0..m {
            if v > 0 {
                dag.tasks[fwd[v][i]].preds.push(send_f[v - 1][i]);
            }
            if v + 1 < nv {
                dag.tasks[bwd_first[v][i]].preds.push(send_b[v + 1][i]);
            } else {
                dag.tasks[bwd_first[v][i]].preds.push(fwd_last[v][i]);
            }
        }
    }
    dag
}

/// The fetch of one layer's 16-bit parameters to device `d` (from NVMe first when they live
/// there): it waits for the layer two back to be done with its buffer.
fn fetch(dag: &mut Dag, p: usize, d: usize, o: &OffloadTimes, used: &[usize], free: bool) -> usize {
    let z = |x: f64| if free { 0.0 } else { x };
    let mut preds = Vec::new();
    if used.len() >= 2 {
        preds.push(used[used.len() - 2]);
    }
    if o.param_nvme_s > 0.0 {
        let r = dag.add(Task {
            kind: Kind::Offload,
            resource: 7 * p + d,
            compute_s: z(o.param_nvme_s),
            tp_s: 0.0,
            dp_s: 0.0,
            preds: preds.clone(),
        });
        preds.push(r);
    }
    dag.add(Task {
        kind: Kind::Offload,
        resource: 5 * p + d,
        compute_s: z(o.param_fetch_s),
        tp_s: 0.0,
        dp_s: 0.0,
        preds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uniform(p: usize, f: f64, b: f64) -> Vec<StageTimes> {
        (0..p)
            .map(|_| StageTimes {
                fwd: (f, 0.0, 0.0),
                bwd: (b, 0.0, 0.0),
                layers: 4,
                ..StageTimes::default()
            })
            .collect()
    }

    /// With equal stages and free sends both schedules take (m + p − 1)(f + b): the bubble
    /// comes out of the simulated waiting.
    #[test]
    fn uniform_pipelines_take_the_textbook_time() {
        for order in [Order::Gpipe, Order::OneFOneB] {
            for (p, m) in [(1, 1), (2, 4), (4, 8), (8, 3)] {
                let dag = build(&uniform(p, 1e-3, 2e-3), p, m, order, false, false, false);
                let t = run(&dag).unwrap();
                let end = t.end.iter().copied().fold(0.0, f64::max);
                let want = (m + p - 1) as f64 * 3e-3;
                assert!(
                    (end - want).abs() < 1e-9,
                    "{order:?} p={p} m={m}: {end} vs {want}"
                );
            }
        }
    }

    #[test]
    fn every_task_starts_after_its_predecessors_and_streams_run_one_at_a_time() {
        let mut st = uniform(4, 1e-3, 2.5e-3);
        for (i, s) in st.iter_mut().enumerate() {
            s.send_s = 0.2e-3 * (i + 1) as f64;
            s.recompute = (0.7e-3, 0.1e-3);
            s.dp_s = 1e-3;
            s.dp_layer_s = 0.2e-3;
            s.optimizer_s = 0.5e-3;
        }
        for order in [Order::Gpipe, Order::OneFOneB] {
            for overlap in [false, true] {
                let dag = build(&st, 4, 6, order, overlap, false, false);
                let t = run(&dag).unwrap();
                for (i, task) in dag.tasks.iter().enumerate() {
                    for &p in &task.preds {
                        assert!(t.start[i] >= t.end[p] - 1e-12);
                    }
                }
                for seq in &dag.order {
                    for w in seq.windows(2) {
                        assert!(t.start[w[1]] >= t.end[w[0]] - 1e-12);
                    }
                }
            }
        }
    }

    /// Fetched weights with one layer of prefetch: a fetch shorter than a layer's compute
    /// hides behind it except the first, `x + f + b`; a longer one sets the pace, eight
    /// fetches back to back and the last layer's backward, `8x + b/4`.
    #[test]
    fn parameter_prefetch_overlaps_compute_until_the_link_is_the_bottleneck() {
        let (f, b) = (4e-3, 8e-3);
        for (x, want) in [(0.5e-3, 0.5e-3 + f + b), (5e-3, 8.0 * 5e-3 + b / 4.0)] {
            let mut st = uniform(1, f, b);
            st[0].offload = Some(OffloadTimes {
                param_fetch_s: x,
                ..OffloadTimes::default()
            });
            let dag = build(&st, 1, 1, Order::OneFOneB, false, false, false);
            let t = run(&dag).unwrap();
            let end = t.end.iter().copied().fold(0.0, f64::max);
            assert!((end - want).abs() < 1e-9, "x={x}: {end} vs {want}");
            // Free transfers: the compute alone.
            let dag0 = build(&st, 1, 1, Order::OneFOneB, false, false, true);
            let e0 = run(&dag0).unwrap().end.iter().copied().fold(0.0, f64::max);
            assert!((e0 - (f + b)).abs() < 1e-9);
        }
    }

    /// 1F1B's steady state alternates: stage 0 of 4 runs 3 warm-up forwards first.
    #[test]
    fn one_f_one_b_order() {
        let dag = build(
            &uniform(4, 1e-3, 2e-3),
            4,
            6,
            Order::OneFOneB,
            false,
            false,
            false,
        );
        let kinds: String = dag.order[0]
            .iter()
            .map(|&t| match dag.tasks[t].kind {
                Kind::Forward => 'F',
                Kind::Backward => 'B',
                Kind::Optimizer => 'O',
                _ => '?',
            })
            .collect();
        assert_eq!(kinds, "FFFFBFBFBBBBO");
    }

    /// Interleaving `v` chunks per device on equal stages with free sends: Megatron-LM's
    /// bubble `(p − 1)(f + b)` shrinks to `(p − 1)(f + b)/v` (each chunk does `1/v` of the
    /// device's work), out of the simulated waiting.
    #[test]
    fn interleaving_shrinks_the_bubble_by_vpp() {
        let (f, b) = (1e-3, 2e-3);
        for (p, v, m) in [
            (2, 2, 4),
            (4, 2, 8),
            (4, 3, 8),
            (4, 2, 4),
            (8, 4, 16),
            (3, 2, 9),
        ] {
            let stages = uniform(p * v, f / v as f64, b / v as f64);
            let dag = build(&stages, p, m, Order::Interleaved(v), false, false, false);
            let t = run(&dag).unwrap();
            let end = t.end.iter().copied().fold(0.0, f64::max);
            let want = m as f64 * (f + b) + (p - 1) as f64 * (f + b) / v as f64;
            assert!(
                (end - want).abs() < 1e-9,
                "p={p} v={v} m={m}: {end} vs {want}"
            );
            // Plain 1F1B on the same work: the bubble is v times longer.
            let plain = build(
                &uniform(p, f, b),
                p,
                m,
                Order::OneFOneB,
                false,
                false,
                false,
            );
            let t1 = run(&plain).unwrap();
            let end1 = t1.end.iter().copied().fold(0.0, f64::max);
            let bubble = |e: f64| e - m as f64 * (f + b);
            assert!((bubble(end1) - v as f64 * bubble(end)).abs() < 1e-9);
        }
    }

    /// Megatron-LM's interleaved order on 2 devices × 2 chunks (a, b) over 4 micro-batches:
    /// forwards in groups of p per chunk, (p − d − 1)·2 + (v − 1)·p warm-up forwards, the
    /// backwards' chunks in reverse.
    #[test]
    fn interleaved_order() {
        let dag = build(
            &uniform(4, 1e-3, 2e-3),
            2,
            4,
            Order::Interleaved(2),
            false,
            false,
            false,
        );
        let show = |d: usize| -> String {
            let steps = sequence(Order::Interleaved(2), 2, d, 4);
            let s: Vec<String> = steps
                .iter()
                .map(|s| {
                    format!(
                        "{}{}{}",
                        if s.forward { 'F' } else { 'B' },
                        s.micro_batch,
                        if s.chunk == 0 { 'a' } else { 'b' }
                    )
                })
                .collect();
            s.join(" ")
        };
        assert_eq!(
            show(0),
            "F0a F1a F0b F1b F2a B0b F3a B1b F2b B0a F3b B1a B2b B3b B2a B3a"
        );
        assert_eq!(
            show(1),
            "F0a F1a F0b B0b F1b B1b F2a B0a F3a B1a F2b B2b F3b B3b B2a B3a"
        );
        // The DAG follows it: 16 compute tasks and a step per device, and it runs.
        for d in 0..2 {
            let n = dag.order[d]
                .iter()
                .filter(|&&t| matches!(dag.tasks[t].kind, Kind::Forward | Kind::Backward))
                .count();
            assert_eq!(n, 16);
        }
        assert!(run(&dag).is_some());
    }
}
