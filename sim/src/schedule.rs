//! The list scheduler: turns mapped tasks into a timed schedule.
//!
//! Each task names its engine, its duration when it has the hardware to itself (compute plus
//! the stalls its own cost model predicts), the bytes it moves through each memory, the bytes
//! of its output, and the tasks it depends on. The scheduler runs an event-driven simulation:
//!
//! * a task becomes *ready* when every predecessor has finished;
//! * whenever an engine is idle, it starts the ready task with the lowest priority value (ties:
//!   lowest index) — a classic list schedule;
//! * a memory with finite bandwidth is a shared channel: each task's traffic occupies it for
//!   `⌈bytes / bandwidth⌉` cycles, starting when the channel frees up; a task ends no earlier
//!   than its traffic does, so two concurrent tasks on different engines slow each other down
//!   (the extra cycles are reported as contention stalls);
//! * a task's output is live from its start until its last consumer ends; the peak of live bytes
//!   per memory is reported and checked against capacity.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::{Cycle, EventQueue, Resources, SimError};

/// One unit of work for the scheduler (usually one op of the workload).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Name, for errors and traces.
    pub name: String,
    /// Index of the engine that runs it.
    pub engine: usize,
    /// Duration in cycles with the hardware to itself.
    pub cycles: u64,
    /// Bytes moved through each memory: `(memory index, bytes)`.
    pub traffic: Vec<(usize, u64)>,
    /// Bytes of the output, live in `output_memory` until every consumer has finished.
    pub output_bytes: u64,
    /// Memory that holds the output (index into [`Resources::memories`]), if any.
    pub output_memory: Option<usize>,
    /// Indices of the tasks whose outputs this task reads.
    pub preds: Vec<usize>,
    /// Lower runs first among ready tasks (e.g. the topological index).
    pub priority: u64,
}

/// When and where one task ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// Engine index.
    pub engine: usize,
    /// Start cycle.
    pub start: Cycle,
    /// End cycle.
    pub end: Cycle,
    /// Cycles added by contention for shared memory bandwidth.
    pub contention_cycles: u64,
}

/// A timed schedule: one [`Slot`] per task, indexed like the tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// One slot per task.
    pub slots: Vec<Slot>,
    /// End of the last task.
    pub makespan: Cycle,
    /// Peak live bytes per memory (indexed like [`Resources::memories`]).
    pub peak_bytes: Vec<u64>,
}

enum Event {
    Done(usize),
}

/// Schedules `tasks` on `resources`. `resident_bytes[m]` are bytes permanently held in memory
/// `m` (e.g. weights), counted in its peak and capacity.
pub fn list_schedule(
    tasks: &[Task],
    resources: &Resources,
    resident_bytes: &[u64],
) -> Result<Schedule, SimError> {
    if let [t] = tasks {
        if let Some(s) = single(t, resources, resident_bytes) {
            return s;
        }
    }
    event_loop(tasks, resources, resident_bytes)
}

/// [`list_schedule`]'s event-driven simulation, for any task list.
fn event_loop(
    tasks: &[Task],
    resources: &Resources,
    resident_bytes: &[u64],
) -> Result<Schedule, SimError> {
    let n = tasks.len();
    let n_mem = resources.memories.len();
    let mut succs: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut waiting: Vec<usize> = vec![0; n];
    for (i, t) in tasks.iter().enumerate() {
        if t.engine >= resources.engines.len() {
            return Err(SimError::UnknownResource {
                task: t.name.clone(),
                what: "engine",
                index: t.engine,
            });
        }
        if let Some(&(m, _)) = t.traffic.iter().find(|(m, _)| *m >= n_mem) {
            return Err(SimError::UnknownResource {
                task: t.name.clone(),
                what: "memory",
                index: m,
            });
        }
        if let Some(m) = t.output_memory.filter(|&m| m >= n_mem) {
            return Err(SimError::UnknownResource {
                task: t.name.clone(),
                what: "memory",
                index: m,
            });
        }
        for &p in &t.preds {
            if p >= n {
                return Err(SimError::UnknownDependency {
                    task: t.name.clone(),
                    pred: p,
                });
            }
            succs[p].push(i);
        }
        waiting[i] = t.preds.len();
    }
    // Consumers left before a task's output can be freed.
    let mut readers_left: Vec<usize> = succs.iter().map(Vec::len).collect();

    let mut ready: BTreeSet<(u64, usize)> = (0..n)
        .filter(|&i| waiting[i] == 0)
        .map(|i| (tasks[i].priority, i))
        .collect();
    let mut engine_busy = vec![false; resources.engines.len()];
    let mut channel_free = vec![Cycle::ZERO; n_mem];
    let mut live: Vec<u64> = (0..n_mem)
        .map(|m| resident_bytes.get(m).copied().unwrap_or(0))
        .collect();
    let mut peak = live.clone();
    let mut slots: Vec<Option<Slot>> = vec![None; n];
    let mut queue = EventQueue::new();
    let mut now = Cycle::ZERO;
    let mut done = 0usize;

    loop {
        // Dispatch: every idle engine takes its best ready task.
        let startable: Vec<(u64, usize)> = ready
            .iter()
            .copied()
            .filter(|&(_, i)| !engine_busy[tasks[i].engine])
            .collect();
        for key in startable {
            let i = key.1;
            let t = &tasks[i];
            if engine_busy[t.engine] {
                continue;
            }
            ready.remove(&key);
            engine_busy[t.engine] = true;
            let solo_end = now + t.cycles;
            let mut end = solo_end;
            // A task that moves no bytes through a memory does not wait for its channel.
            for &(m, bytes) in t.traffic.iter().filter(|(_, b)| *b > 0) {
                if let Some(bw) = resources.memories[m].bandwidth_bytes_per_cycle {
                    let need = (bytes as f64 / bw).ceil() as u64;
                    let from = channel_free[m].max(now);
                    channel_free[m] = from + need;
                    end = end.max(channel_free[m]);
                }
            }
            if let Some(m) = t.output_memory {
                live[m] += t.output_bytes;
                if live[m] > peak[m] {
                    peak[m] = live[m];
                }
                let mem = &resources.memories[m];
                if let Some(cap) = mem.capacity_bytes.filter(|&c| live[m] > c) {
                    return Err(SimError::CapacityExceeded {
                        memory: mem.name.to_string(),
                        needed: live[m],
                        capacity: cap,
                        at: now.get(),
                    });
                }
            }
            slots[i] = Some(Slot {
                engine: t.engine,
                start: now,
                end,
                contention_cycles: end - solo_end,
            });
            queue.push(end, Event::Done(i));
        }
        let Some((at, Event::Done(i))) = queue.pop() else {
            break;
        };
        now = at;
        done += 1;
        engine_busy[tasks[i].engine] = false;
        for &p in &tasks[i].preds {
            readers_left[p] -= 1;
            if readers_left[p] == 0 {
                if let Some(m) = tasks[p].output_memory {
                    live[m] -= tasks[p].output_bytes;
                }
            }
        }
        for &s in &succs[i] {
            waiting[s] -= 1;
            if waiting[s] == 0 {
                ready.insert((tasks[s].priority, s));
            }
        }
    }
    if done < n {
        let first = (0..n)
            .find(|&i| slots[i].is_none())
            .map_or_else(String::new, |i| tasks[i].name.clone());
        return Err(SimError::Deadlock {
            count: n - done,
            first,
        });
    }
    let slots: Vec<Slot> = slots.into_iter().flatten().collect();
    let makespan = slots.iter().map(|s| s.end).max().unwrap_or(Cycle::ZERO);
    Ok(Schedule {
        slots,
        makespan,
        peak_bytes: peak,
    })
}

/// [`list_schedule`] of one task that depends on nothing and names existing resources (a
/// one-op workload, such as a single GEMM): the same schedule without the event loop — the
/// task starts at cycle 0 on its engine, each memory it moves bytes through is busy from 0
/// for the traffic's cycles one entry after the other, and its output joins the resident
/// bytes. `None` where the task is not of that kind (the event loop then says what is wrong).
fn single(
    t: &Task,
    resources: &Resources,
    resident_bytes: &[u64],
) -> Option<Result<Schedule, SimError>> {
    let n_mem = resources.memories.len();
    if !t.preds.is_empty()
        || t.engine >= resources.engines.len()
        || t.traffic.iter().any(|&(m, _)| m >= n_mem)
        || t.output_memory.is_some_and(|m| m >= n_mem)
    {
        return None;
    }
    let now = Cycle::ZERO;
    let solo_end = now + t.cycles;
    let mut end = solo_end;
    for (k, &(m, bytes)) in t.traffic.iter().enumerate() {
        if bytes == 0 {
            continue;
        }
        if let Some(bw) = resources.memories[m].bandwidth_bytes_per_cycle {
            // The channel is free from the end of this task's earlier traffic through it
            // (all of it from cycle 0, back to back).
            let mut free = now;
            for &(m2, b2) in &t.traffic[..k] {
                if m2 == m && b2 > 0 {
                    free = free + (b2 as f64 / bw).ceil() as u64;
                }
            }
            let need = (bytes as f64 / bw).ceil() as u64;
            end = end.max(free + need);
        }
    }
    let mut peak: Vec<u64> = (0..n_mem)
        .map(|m| resident_bytes.get(m).copied().unwrap_or(0))
        .collect();
    if let Some(m) = t.output_memory {
        let live = peak[m] + t.output_bytes;
        peak[m] = peak[m].max(live);
        let mem = &resources.memories[m];
        if let Some(cap) = mem.capacity_bytes.filter(|&c| live > c) {
            return Some(Err(SimError::CapacityExceeded {
                memory: mem.name.to_string(),
                needed: live,
                capacity: cap,
                at: now.get(),
            }));
        }
    }
    Some(Ok(Schedule {
        slots: vec![Slot {
            engine: t.engine,
            start: now,
            end,
            contention_cycles: end - solo_end,
        }],
        makespan: end,
        peak_bytes: peak,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Engine, Memory};

    fn res(bw: Option<f64>) -> Resources {
        Resources {
            engines: vec![Engine { name: "a".into() }, Engine { name: "b".into() }],
            memories: vec![Memory {
                name: "dram".into(),
                capacity_bytes: None,
                bandwidth_bytes_per_cycle: bw,
            }],
        }
    }

    fn task(name: &str, engine: usize, cycles: u64, preds: Vec<usize>) -> Task {
        Task {
            name: name.into(),
            engine,
            cycles,
            traffic: vec![],
            output_bytes: 10,
            output_memory: Some(0),
            preds,
            priority: 0,
        }
    }

    #[test]
    fn chain_runs_back_to_back() {
        let t = vec![
            task("x", 0, 5, vec![]),
            task("y", 1, 3, vec![0]),
            task("z", 0, 2, vec![1]),
        ];
        let s = list_schedule(&t, &res(None), &[]).unwrap();
        assert_eq!(s.makespan, Cycle(10));
        assert_eq!((s.slots[1].start, s.slots[2].start), (Cycle(5), Cycle(8)));
    }

    #[test]
    fn independent_tasks_overlap_on_two_engines_and_serialize_on_one() {
        let two = vec![task("x", 0, 5, vec![]), task("y", 1, 5, vec![])];
        assert_eq!(
            list_schedule(&two, &res(None), &[]).unwrap().makespan,
            Cycle(5)
        );
        let one = vec![task("x", 0, 5, vec![]), task("y", 0, 5, vec![])];
        assert_eq!(
            list_schedule(&one, &res(None), &[]).unwrap().makespan,
            Cycle(10)
        );
    }

    #[test]
    fn shared_bandwidth_slows_concurrent_tasks() {
        let mut t = vec![task("x", 0, 10, vec![]), task("y", 1, 10, vec![])];
        t[0].traffic = vec![(0, 40)];
        t[1].traffic = vec![(0, 40)];
        // 4 bytes/cycle: each task alone needs 10 cycles of channel; together 20.
        let s = list_schedule(&t, &res(Some(4.0)), &[]).unwrap();
        assert_eq!(s.slots[0].end, Cycle(10));
        assert_eq!(s.slots[1].end, Cycle(20));
        assert_eq!(s.slots[1].contention_cycles, 10);
    }

    #[test]
    fn tasks_without_traffic_do_not_wait_for_a_busy_channel() {
        let mut t = vec![task("x", 0, 10, vec![]), task("view", 1, 0, vec![])];
        t[0].traffic = vec![(0, 400)];
        t[1].traffic = vec![(0, 0)];
        let s = list_schedule(&t, &res(Some(4.0)), &[]).unwrap();
        assert_eq!(s.slots[0].end, Cycle(100));
        assert_eq!(
            (s.slots[1].end, s.slots[1].contention_cycles),
            (Cycle(0), 0)
        );
    }

    #[test]
    fn peak_memory_frees_consumed_outputs() {
        let t = vec![
            task("x", 0, 1, vec![]),
            task("y", 0, 1, vec![0]),
            task("z", 0, 1, vec![1]),
        ];
        let s = list_schedule(&t, &res(None), &[100]).unwrap();
        assert_eq!(s.peak_bytes, vec![120]);
    }

    #[test]
    fn cycles_and_bad_indices_are_errors() {
        let t = vec![task("x", 0, 1, vec![1]), task("y", 0, 1, vec![0])];
        assert!(matches!(
            list_schedule(&t, &res(None), &[]),
            Err(SimError::Deadlock { count: 2, .. })
        ));
        let t = vec![task("x", 7, 1, vec![])];
        assert!(matches!(
            list_schedule(&t, &res(None), &[]),
            Err(SimError::UnknownResource { .. })
        ));
        let t = vec![task("x", 0, 1, vec![9])];
        assert!(matches!(
            list_schedule(&t, &res(None), &[]),
            Err(SimError::UnknownDependency { .. })
        ));
    }

    /// A lone task takes the shortcut: the same schedule, or the same error, as the event loop.
    #[test]
    fn a_single_task_is_scheduled_as_by_the_event_loop() {
        let mut n = 0;
        for bw in [None, Some(3.0), Some(16.0)] {
            for cap in [None, Some(100), Some(1 << 20)] {
                let mut r = res(bw);
                r.memories[0].capacity_bytes = cap;
                for traffic in [
                    vec![],
                    vec![(0, 0)],
                    vec![(0, 1000)],
                    vec![(0, 10), (0, 0), (0, 1001)],
                    vec![(1, 5)],
                ] {
                    for (output_memory, output_bytes) in [(None, 0), (Some(0), 64), (Some(0), 500)]
                    {
                        for cycles in [0, 7, 500] {
                            let t = Task {
                                traffic: traffic.clone(),
                                output_memory,
                                output_bytes,
                                ..task("t", 0, cycles, vec![])
                            };
                            for resident in [vec![], vec![40]] {
                                let fast = list_schedule(std::slice::from_ref(&t), &r, &resident);
                                let slow = event_loop(std::slice::from_ref(&t), &r, &resident);
                                assert_eq!(fast, slow, "{t:?} {r:?} {resident:?}");
                                n += usize::from(single(&t, &r, &resident).is_some());
                            }
                        }
                    }
                }
            }
        }
        assert!(n > 100, "the shortcut took {n} tasks");
    }

    #[test]
    fn capacity_is_enforced() {
        let mut r = res(None);
        r.memories[0].capacity_bytes = Some(15);
        let t = vec![task("x", 0, 1, vec![]), task("y", 1, 1, vec![])];
        assert!(matches!(
            list_schedule(&t, &r, &[]),
            Err(SimError::CapacityExceeded { needed: 20, .. })
        ));
    }
}
