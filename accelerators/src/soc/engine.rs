//! The event-driven engine of a SoC run, steppable one scheduling point at a time.

use std::collections::BTreeSet;
use std::ops::Range;
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use archsim_sim::{Cycle, EventQueue};

use super::{BoundJobs, NetKind, Scheduler, Soc};
use crate::AccelError;

#[derive(Debug, Clone, Copy)]
enum Ev {
    Arrive(usize),
    Finish(usize),
    Data(usize),
}

#[derive(Debug, Clone)]
struct JobRun {
    app: usize,
    arrival: u64,
    first: usize,
    left: usize,
    end: Option<u64>,
}

#[derive(Debug, Clone)]
struct TaskRun {
    job: usize,
    local: usize,
    pe: Option<usize>,
    key: u64,
    est: u64,
    preds_left: usize,
    inputs_left: usize,
    noise: f64,
    start: Option<u64>,
    end: Option<u64>,
}

#[derive(Debug, Clone, Default)]
struct PeRun {
    queue: BTreeSet<(u64, u64, usize)>,
    running: Option<usize>,
    busy: u64,
    tasks: u64,
}

/// One executed task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskRecord {
    /// Job index.
    pub job: usize,
    /// Task index in its application's DAG.
    pub local: usize,
    /// PE that ran it.
    pub pe: usize,
    /// Start cycle.
    pub start: u64,
    /// End cycle.
    pub end: u64,
}

/// The outcome of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct SocRun {
    /// Every task, in job then task order.
    pub tasks: Vec<TaskRecord>,
    /// Per job: (application, arrival cycle, end cycle).
    pub jobs: Vec<(usize, u64, u64)>,
    /// Per PE: (busy cycles, tasks run).
    pub pes: Vec<(u64, u64)>,
    /// End of the last task, cycles.
    pub makespan: u64,
    /// Bytes that crossed the interconnect.
    pub interconnect_bytes: u64,
}

/// A SoC simulation in progress.
///
/// Drive it with [`SocSim::advance`] (runs events up to the next scheduling point) and
/// [`SocSim::assign`]; [`run`] does so with a [`Scheduler`]. The read-only methods are what a
/// scheduler (or a gym observation) sees: estimates only, never the noisy run times.
pub struct SocSim {
    soc: Arc<Soc>,
    work: Arc<BoundJobs>,
    now: u64,
    events: EventQueue<Ev>,
    jobs: Vec<JobRun>,
    tasks: Vec<TaskRun>,
    pes: Vec<PeRun>,
    ready: Vec<usize>,
    arrived: Vec<usize>,
    offered: bool,
    bus_free: u64,
    seq: u64,
    xfer_bytes: u64,
    in_system: u64,
    area: f64,
    done_jobs: u64,
}

impl SocSim {
    /// A run of `work` on `soc`; `seed` draws the execution-time noise (one factor per task,
    /// in job then task order, so every scheduler faces the same noise).
    pub fn new(soc: Arc<Soc>, work: Arc<BoundJobs>, seed: u64) -> SocSim {
        let sigma = soc.config().exec_noise;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(1);
        let mut events = EventQueue::new();
        let mut jobs = Vec::with_capacity(work.set.jobs.len());
        let mut tasks = Vec::new();
        for (j, a) in work.set.jobs.iter().enumerate() {
            let g = &work.set.apps[a.app];
            let arrival = soc.cycles(a.at_us);
            jobs.push(JobRun {
                app: a.app,
                arrival,
                first: tasks.len(),
                left: g.tasks.len(),
                end: None,
            });
            for local in 0..g.tasks.len() {
                let noise = if sigma > 0.0 {
                    (1.0 + sigma * std_normal(&mut rng)).max(0.1)
                } else {
                    1.0
                };
                let np = g.preds(local).len();
                tasks.push(TaskRun {
                    job: j,
                    local,
                    pe: None,
                    key: 0,
                    est: 0,
                    preds_left: np,
                    inputs_left: np,
                    noise,
                    start: None,
                    end: None,
                });
            }
            events.push(Cycle(arrival), Ev::Arrive(j));
        }
        let pes = vec![PeRun::default(); soc.pes().len()];
        SocSim {
            soc,
            work,
            now: 0,
            events,
            jobs,
            tasks,
            pes,
            ready: Vec::new(),
            arrived: Vec::new(),
            offered: false,
            bus_free: 0,
            seq: 0,
            xfer_bytes: 0,
            in_system: 0,
            area: 0.0,
            done_jobs: 0,
        }
    }

    /// The SoC.
    pub fn soc(&self) -> &Soc {
        &self.soc
    }

    /// The bound job set.
    pub fn work(&self) -> &BoundJobs {
        &self.work
    }

    /// Current time, cycles.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Ready tasks not yet assigned, in the order they became ready.
    pub fn ready(&self) -> &[usize] {
        &self.ready
    }

    /// Jobs that arrived at this scheduling point.
    pub fn arrived(&self) -> &[usize] {
        &self.arrived
    }

    /// Number of PE instances.
    pub fn num_pes(&self) -> usize {
        self.pes.len()
    }

    /// Global task indices of job `j`, in its DAG's topological order.
    pub(crate) fn job_tasks(&self, j: usize) -> Range<usize> {
        let first = self.jobs[j].first;
        first..first + self.work.set.apps[self.jobs[j].app].tasks.len()
    }

    /// (job, application, index in the application's DAG) of a task.
    pub fn task_origin(&self, t: usize) -> (usize, usize, usize) {
        let job = self.tasks[t].job;
        (job, self.jobs[job].app, self.tasks[t].local)
    }

    /// Arrival cycle of job `j`.
    pub fn job_arrival(&self, j: usize) -> u64 {
        self.jobs[j].arrival
    }

    /// Estimated execution time of task `t` on PE `pe`, cycles (`None`: cannot run there).
    pub fn exec(&self, t: usize, pe: usize) -> Option<u64> {
        let (_, app, local) = self.task_origin(t);
        self.work.apps[app].exec[local][pe]
    }

    /// HEFT upward rank of task `t`, cycles.
    pub fn rank(&self, t: usize) -> f64 {
        let (_, app, local) = self.task_origin(t);
        self.work.apps[app].rank[local]
    }

    /// Producers of task `t`: (global task index, bytes).
    pub fn preds(&self, t: usize) -> impl Iterator<Item = (usize, u64)> + '_ {
        let (job, app, local) = self.task_origin(t);
        let first = self.jobs[job].first;
        self.work.set.apps[app]
            .preds(local)
            .iter()
            .map(move |&(p, b)| (first + p, b))
    }

    /// PE a task is assigned to.
    pub fn assigned_pe(&self, t: usize) -> Option<usize> {
        self.tasks[t].pe
    }

    /// Tasks waiting in PE `pe`'s queue (the running one excluded).
    pub fn queue_len(&self, pe: usize) -> usize {
        self.pes[pe].queue.len()
    }

    /// Whether PE `pe` is running a task.
    pub fn is_busy(&self, pe: usize) -> bool {
        self.pes[pe].running.is_some()
    }

    /// Jobs arrived and not finished.
    pub fn jobs_in_system(&self) -> u64 {
        self.in_system
    }

    /// Jobs finished so far.
    pub fn jobs_done(&self) -> u64 {
        self.done_jobs
    }

    /// Total jobs of the run.
    pub fn jobs_total(&self) -> usize {
        self.jobs.len()
    }

    /// ∫ (jobs in system) dt so far, in job·cycles: at the end, the sum of all job latencies.
    pub fn latency_area(&self) -> f64 {
        self.area
    }

    /// Estimated end of a task that has not ended: its start plus estimate when running (at
    /// least now), its planned start plus estimate when queued.
    fn end_estimate(&self, t: usize) -> u64 {
        let r = &self.tasks[t];
        match (r.end, r.start, r.pe) {
            (Some(e), _, _) => e,
            (None, Some(s), _) => (s + r.est).max(self.now),
            (None, None, Some(_)) => r.key.max(self.now) + r.est,
            (None, None, None) => self.now,
        }
    }

    /// When PE `pe` would be free of everything assigned to it (estimates).
    pub fn pe_available(&self, pe: usize) -> u64 {
        let p = &self.pes[pe];
        let mut t = self.now;
        if let Some(r) = p.running {
            t = t.max(self.end_estimate(r));
        }
        for &(key, _, q) in &p.queue {
            t = t.max(key) + self.tasks[q].est;
        }
        t
    }

    /// PE `pe`'s projected busy intervals (estimates), in order.
    pub(crate) fn pe_timeline(&self, pe: usize) -> Vec<(u64, u64)> {
        let p = &self.pes[pe];
        let mut out = Vec::with_capacity(p.queue.len() + 1);
        let mut t = self.now;
        if let Some(r) = p.running {
            t = self.end_estimate(r);
            out.push((self.tasks[r].start.unwrap_or(self.now), t));
        }
        for &(key, _, q) in &p.queue {
            let s = t.max(key);
            t = s + self.tasks[q].est;
            out.push((s, t));
        }
        out
    }

    /// Estimated time all of task `t`'s inputs would be on PE `pe` if it were assigned now.
    pub fn data_ready(&self, t: usize, pe: usize) -> u64 {
        let mut at = self.now;
        for (p, bytes) in self.preds(t) {
            let ppe = self.tasks[p].pe;
            let x = ppe.map_or(0, |q| self.soc.transfer_cycles(q, pe, bytes));
            let arrive = if self.tasks[p].end.is_some() {
                if ppe == Some(pe) {
                    self.now
                } else {
                    self.now + x
                }
            } else {
                self.end_estimate(p) + x
            };
            at = at.max(arrive);
        }
        at
    }

    /// Estimated (start, end) of task `t` appended to PE `pe`'s queue now, or `None` when the
    /// PE cannot run it.
    pub fn eft(&self, t: usize, pe: usize) -> Option<(u64, u64)> {
        let w = self.exec(t, pe)?;
        let s = self.pe_available(pe).max(self.data_ready(t, pe));
        Some((s, s + w))
    }

    /// Assigns task `t` to PE `pe`; `planned_start` orders it in the PE's queue (default: its
    /// estimated start at the end of the queue).
    pub fn assign(
        &mut self,
        t: usize,
        pe: usize,
        planned_start: Option<u64>,
    ) -> Result<(), AccelError> {
        let bad = |reason: String| AccelError::InvalidConfig {
            key: "scheduler".into(),
            reason,
        };
        if t >= self.tasks.len() || pe >= self.pes.len() {
            return Err(bad(format!("no task #{t} or PE #{pe}")));
        }
        if self.tasks[t].pe.is_some() {
            return Err(bad(format!("task #{t} is already assigned")));
        }
        let Some(est) = self.exec(t, pe) else {
            let (_, app, local) = self.task_origin(t);
            return Err(bad(format!(
                "PE `{}` cannot run task `{}`",
                self.soc.pes()[pe].name,
                self.work.set.apps[app].tasks[local].name
            )));
        };
        let key = match planned_start {
            Some(k) => k,
            None => self.pe_available(pe).max(self.data_ready(t, pe)),
        };
        self.tasks[t].pe = Some(pe);
        self.tasks[t].est = est;
        self.tasks[t].key = key;
        self.pes[pe].queue.insert((key, self.seq, t));
        self.seq += 1;
        if let Some(i) = self.ready.iter().position(|&r| r == t) {
            self.ready.remove(i);
        }
        let done: Vec<(usize, u64)> = self
            .preds(t)
            .filter(|&(p, _)| self.tasks[p].end.is_some())
            .collect();
        for (p, bytes) in done {
            let from = self.tasks[p].pe.unwrap_or(pe);
            let at = self.transfer(from, pe, bytes, self.now);
            self.deliver(t, at);
        }
        self.try_start(pe);
        Ok(())
    }

    /// Runs events until the next scheduling point (tasks ready or jobs arrived); `false` when
    /// the run is over. Calling it again without assigning moves on to the next event.
    pub fn advance(&mut self) -> bool {
        if self.offered {
            self.offered = false;
            self.arrived.clear();
            if !self.step_batch() {
                return false;
            }
        }
        loop {
            if !self.ready.is_empty() || !self.arrived.is_empty() {
                self.offered = true;
                return true;
            }
            if !self.step_batch() {
                return false;
            }
        }
    }

    /// Whether every job has ended.
    pub fn is_done(&self) -> bool {
        self.done_jobs as usize == self.jobs.len()
    }

    fn step_batch(&mut self) -> bool {
        let Some(Cycle(t)) = self.events.peek_time() else {
            return false;
        };
        self.area += self.in_system as f64 * (t - self.now) as f64;
        self.now = t;
        while self.events.peek_time() == Some(Cycle(t)) {
            let Some((_, ev)) = self.events.pop() else {
                break;
            };
            match ev {
                Ev::Arrive(j) => self.on_arrive(j),
                Ev::Finish(x) => self.on_finish(x),
                Ev::Data(x) => self.on_data(x),
            }
        }
        true
    }

    fn on_arrive(&mut self, j: usize) {
        self.in_system += 1;
        for t in self.job_tasks(j) {
            if self.tasks[t].preds_left == 0 {
                self.ready.push(t);
            }
        }
        self.arrived.push(j);
    }

    fn on_finish(&mut self, t: usize) {
        let pe = self.tasks[t].pe.unwrap_or(0);
        let start = self.tasks[t].start.unwrap_or(self.now);
        self.pes[pe].running = None;
        self.pes[pe].busy += self.now - start;
        self.pes[pe].tasks += 1;
        self.tasks[t].end = Some(self.now);
        let job = self.tasks[t].job;
        self.jobs[job].left -= 1;
        if self.jobs[job].left == 0 {
            self.jobs[job].end = Some(self.now);
            self.in_system -= 1;
            self.done_jobs += 1;
        }
        let (_, app, local) = self.task_origin(t);
        let first = self.jobs[job].first;
        let work = self.work.clone();
        for &(s, bytes) in work.set.apps[app].succs(local) {
            let s = first + s;
            self.tasks[s].preds_left -= 1;
            match self.tasks[s].pe {
                Some(sp) => {
                    let at = self.transfer(pe, sp, bytes, self.now);
                    self.deliver(s, at);
                }
                None => {
                    if self.tasks[s].preds_left == 0 {
                        self.ready.push(s);
                    }
                }
            }
        }
        self.try_start(pe);
    }

    fn on_data(&mut self, t: usize) {
        self.tasks[t].inputs_left -= 1;
        if self.tasks[t].inputs_left == 0 {
            if let Some(pe) = self.tasks[t].pe {
                self.try_start(pe);
            }
        }
    }

    /// Starts a transfer at `at`; returns its arrival cycle.
    fn transfer(&mut self, from: usize, to: usize, bytes: u64, at: u64) -> u64 {
        if from == to {
            return at;
        }
        self.xfer_bytes += bytes;
        let x = self.soc.transfer_cycles(from, to, bytes);
        let net = &self.soc.config().interconnect;
        if net.kind == NetKind::Bus && net.contention {
            let start = at.max(self.bus_free);
            self.bus_free = start + self.soc.occupancy_cycles(from, to, bytes);
            start + x
        } else {
            at + x
        }
    }

    fn deliver(&mut self, t: usize, at: u64) {
        if at <= self.now {
            self.tasks[t].inputs_left -= 1;
            if self.tasks[t].inputs_left == 0 {
                if let Some(pe) = self.tasks[t].pe {
                    self.try_start(pe);
                }
            }
        } else {
            self.events.push(Cycle(at), Ev::Data(t));
        }
    }

    fn try_start(&mut self, pe: usize) {
        if self.pes[pe].running.is_some() {
            return;
        }
        let Some(&(key, seq, t)) = self.pes[pe].queue.first() else {
            return;
        };
        if self.tasks[t].inputs_left > 0 {
            return;
        }
        self.pes[pe].queue.remove(&(key, seq, t));
        let r = &mut self.tasks[t];
        r.start = Some(self.now);
        let dur = (r.est as f64 * r.noise).round() as u64;
        self.pes[pe].running = Some(t);
        self.events.push(Cycle(self.now + dur), Ev::Finish(t));
    }

    /// Ends the run: every job must have ended.
    pub fn finish(self) -> Result<SocRun, AccelError> {
        if !self.is_done() {
            let stuck = self.tasks.iter().position(|t| t.end.is_none()).unwrap_or(0);
            let (_, app, local) = self.task_origin(stuck);
            return Err(AccelError::InvalidConfig {
                key: "scheduler".into(),
                reason: format!(
                    "the run stalled: {} of {} jobs unfinished, task `{}/{}` never ran (left unassigned?)",
                    self.jobs.len() as u64 - self.done_jobs,
                    self.jobs.len(),
                    self.work.set.apps[app].name,
                    self.work.set.apps[app].tasks[local].name
                ),
            });
        }
        let tasks = self
            .tasks
            .iter()
            .map(|t| TaskRecord {
                job: t.job,
                local: t.local,
                pe: t.pe.unwrap_or(0),
                start: t.start.unwrap_or(0),
                end: t.end.unwrap_or(0),
            })
            .collect::<Vec<_>>();
        let makespan = tasks.iter().map(|t| t.end).max().unwrap_or(0);
        Ok(SocRun {
            tasks,
            jobs: self
                .jobs
                .iter()
                .map(|j| (j.app, j.arrival, j.end.unwrap_or(0)))
                .collect(),
            pes: self.pes.iter().map(|p| (p.busy, p.tasks)).collect(),
            makespan,
            interconnect_bytes: self.xfer_bytes,
        })
    }
}

/// A standard normal draw (Box–Muller).
fn std_normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Runs a whole simulation with `scheduler`.
pub fn run(
    soc: Arc<Soc>,
    work: Arc<BoundJobs>,
    scheduler: &mut dyn Scheduler,
    seed: u64,
) -> Result<SocRun, AccelError> {
    let mut sim = SocSim::new(soc, work, seed);
    while sim.advance() {
        scheduler.schedule(&mut sim)?;
    }
    sim.finish()
}
