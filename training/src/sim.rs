//! One training iteration as an event DAG on `archsim-sim`'s event queue.
//!
//! Tasks: for every pipeline stage and micro-batch a forward, an optional recompute and a
//! backward on the stage's compute stream, in the order the schedule gives (GPipe: every
//! forward, then every backward; 1F1B: `pp − stage − 1` warm-up forwards, then one forward
//! and one backward alternately, then the cool-down backwards); a send of the activation to
//! the next stage after each forward and of its gradient to the previous stage after each
//! backward, on the link between the two (FIFO); then per stage the data-parallel gradient
//! reduction on the stage's data-parallel channel and the optimizer step. A task starts when
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
    /// Data-parallel gradient reduction of the whole stage (plus the tied-embedding sync).
    pub dp_s: f64,
    /// The same per layer, for overlap with the last backward.
    pub dp_layer_s: f64,
    /// Layers of the stage.
    pub layers: u64,
    /// Optimizer step.
    pub optimizer_s: f64,
}

/// The schedule of one pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    Gpipe,
    OneFOneB,
}

/// Builds the DAG of one pipeline of `stages.len()` stages over `m` micro-batches.
/// Resources: stage `s`'s compute stream is `s`; its forward send link `P + s`, backward
/// send link `2P + s`, data-parallel channel `3P + s`.
pub(crate) fn build(
    stages: &[StageTimes],
    m: usize,
    order: Order,
    overlap: bool,
    no_p2p: bool,
) -> Dag {
    let p = stages.len();
    let mut dag = Dag::default();
    dag.order.resize(4 * p, Vec::new());
    // Compute sequence per stage: (is_forward, micro-batch).
    let seq = |s: usize| -> Vec<(bool, usize)> {
        match order {
            Order::Gpipe => (0..m)
                .map(|i| (true, i))
                .chain((0..m).map(|i| (false, i)))
                .collect(),
            Order::OneFOneB => {
                let w = (p - s - 1).min(m);
                let mut v: Vec<(bool, usize)> = (0..w).map(|i| (true, i)).collect();
                for i in 0..m - w {
                    v.push((true, w + i));
                    v.push((false, i));
                }
                v.extend((m - w..m).map(|i| (false, i)));
                v
            }
        }
    };
    // Task ids, filled as created: fwd[s][i], bwd[s][i] (the last piece), sends.
    let mut fwd = vec![vec![usize::MAX; m]; p];
    let mut bwd_first = vec![vec![usize::MAX; m]; p];
    let mut bwd_last = vec![vec![usize::MAX; m]; p];
    let mut send_f = vec![vec![usize::MAX; m]; p];
    let mut send_b = vec![vec![usize::MAX; m]; p];
    // Sends depend on tasks of the neighbour; create tasks in an order where every
    // predecessor exists: sweep the global "time steps" stage by stage is not enough for 1F1B,
    // so create all tasks first with placeholder predecessors and fill them after.
    let seqs: Vec<Vec<(bool, usize)>> = (0..p).map(seq).collect();
    let mut dp_tasks: Vec<Vec<usize>> = vec![Vec::new(); p];
    for s in 0..p {
        let st = &stages[s];
        let mut prev_compute: Option<usize> = None;
        for &(is_f, i) in &seqs[s] {
            if is_f {
                let id = dag.add(Task {
                    kind: Kind::Forward,
                    resource: s,
                    compute_s: st.fwd.0,
                    tp_s: st.fwd.1,
                    dp_s: st.fwd.2,
                    preds: Vec::new(),
                });
                fwd[s][i] = id;
                prev_compute = Some(id);
                if s + 1 < p {
                    send_f[s][i] = dag.add(Task {
                        kind: Kind::Send,
                        resource: p + s,
                        compute_s: if no_p2p { 0.0 } else { st.send_s },
                        tp_s: 0.0,
                        dp_s: 0.0,
                        preds: vec![id],
                    });
                }
            } else {
                let mut first = usize::MAX;
                if st.recompute.0 + st.recompute.1 > 0.0 {
                    first = dag.add(Task {
                        kind: Kind::Recompute,
                        resource: s,
                        compute_s: st.recompute.0,
                        tp_s: st.recompute.1,
                        dp_s: 0.0,
                        preds: Vec::new(),
                    });
                }
                let last_mb = i + 1 == m;
                let pieces = if overlap && last_mb && p > 0 {
                    st.layers.max(1) as usize
                } else {
                    1
                };
                let mut last = usize::MAX;
                for k in 0..pieces {
                    let frac = 1.0 / pieces as f64;
                    let id = dag.add(Task {
                        kind: Kind::Backward,
                        resource: s,
                        compute_s: st.bwd.0 * frac,
                        tp_s: st.bwd.1 * frac,
                        dp_s: st.bwd.2 * frac,
                        preds: if k > 0 { vec![last] } else { Vec::new() },
                    });
                    if first == usize::MAX {
                        first = id;
                    } else if k == 0 {
                        dag.tasks[id].preds.push(first);
                    }
                    if pieces > 1 {
                        let d = dag.add(Task {
                            kind: Kind::Dp,
                            resource: 3 * p + s,
                            compute_s: 0.0,
                            tp_s: 0.0,
                            dp_s: st.dp_layer_s,
                            preds: vec![id],
                        });
                        dp_tasks[s].push(d);
                    }
                    last = id;
                }
                bwd_first[s][i] = first;
                bwd_last[s][i] = last;
                prev_compute = Some(last);
                if s > 0 {
                    send_b[s][i] = dag.add(Task {
                        kind: Kind::Send,
                        resource: 2 * p + s,
                        compute_s: if no_p2p { 0.0 } else { st.send_s },
                        tp_s: 0.0,
                        dp_s: 0.0,
                        preds: vec![last],
                    });
                }
            }
        }
        // Data-parallel reduction (whole stage unless overlapped per layer), then the step.
        let mut opt_preds = Vec::new();
        if let Some(last) = prev_compute {
            opt_preds.push(last);
            let rest = if overlap {
                st.dp_s - st.dp_layer_s * st.layers as f64
            } else {
                st.dp_s
            };
            if rest > 0.0 || dp_tasks[s].is_empty() {
                let d = dag.add(Task {
                    kind: Kind::Dp,
                    resource: 3 * p + s,
                    compute_s: 0.0,
                    tp_s: 0.0,
                    dp_s: rest.max(0.0),
                    preds: vec![last],
                });
                dp_tasks[s].push(d);
            }
        }
        opt_preds.extend(dp_tasks[s].iter().copied());
        dag.add(Task {
            kind: Kind::Optimizer,
            resource: s,
            compute_s: st.optimizer_s,
            tp_s: 0.0,
            dp_s: 0.0,
            preds: opt_preds,
        });
    }
    // Cross-stage dependencies.
    for s in 0..p {
        for i in 0..m {
            if s > 0 {
                dag.tasks[fwd[s][i]].preds.push(send_f[s - 1][i]);
            }
            if s + 1 < p {
                dag.tasks[bwd_first[s][i]].preds.push(send_b[s + 1][i]);
            } else {
                dag.tasks[bwd_first[s][i]].preds.push(fwd[s][i]);
            }
        }
    }
    dag
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
                let dag = build(&uniform(p, 1e-3, 2e-3), m, order, false, false);
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
                let dag = build(&st, 6, order, overlap, false);
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

    /// 1F1B's steady state alternates: stage 0 of 4 runs 3 warm-up forwards first.
    #[test]
    fn one_f_one_b_order() {
        let dag = build(&uniform(4, 1e-3, 2e-3), 6, Order::OneFOneB, false, false);
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
}
