//! Job DAGs for heterogeneous-SoC scheduling, and the arrival process that streams them.
//!
//! A *job* is one run of an application — a WiFi frame to transmit, a radar pulse to range — and
//! is a DAG of coarse *tasks* (an FFT, a Viterbi decoder, a scrambler) joined by edges that carry
//! data. This is the workload model of DS3 (Arda et al., "DS3: A System-Level Domain-Specific
//! System-on-Chip Simulation Framework", IEEE Trans. Computers 69(8), 2020,
//! doi:10.1109/TC.2020.2986963) and of DeepSoCS (Sung et al., Electronics 9(6) 936, 2020,
//! doi:10.3390/electronics9060936): jobs of several applications arrive continuously and a
//! scheduler maps each task onto one processing element (PE) of a heterogeneous SoC.
//!
//! # Job files
//!
//! A job file (YAML, or JSON, which is YAML) names the application, declares its task *types*
//! with their execution time on each PE type (the DS3 profile), lists the tasks and the edges:
//!
//! ```yaml
//! name: wifi_tx
//! time_unit: us                 # optional; the only unit is microseconds
//! types:                        # task type -> PE type -> execution time in µs
//!   ifft: {a7: 296, a15: 118, fft_acc: 16}
//!   crc: {a7: 5, a15: 3}
//! tasks:                        # any order; names are unique
//!   - {name: ifft_1, type: ifft}
//!   - {name: crc_1, type: crc}
//! edges:                        # producer -> consumer, with the bytes it sends
//!   - {from: ifft_1, to: crc_1, bytes: 80}
//! ```
//!
//! A PE runs a task when its type has a time for that PE's type. Loading checks the file and
//! names the task at fault: an unknown type, a negative or non-finite time, an edge to an unknown
//! task, a negative volume, a cycle (`a -> b -> a`), a type with no PE at all.
//!
//! The DS3 reference applications ship with archsim ([`builtin`]): `wifi_tx`, `wifi_rx`,
//! `range_detection`, `sc_tx`, `sc_rx`, `temporal_mitigation`, and `topcuoglu`, the HEFT worked
//! example (Topcuoglu, Hariri and Wu, IEEE TPDS 13(3), 2002, doi:10.1109/71.993206).
//!
//! # Arrivals
//!
//! [`JobsConfig`] (the `workload: {jobs: …}` section) picks the applications and their mix, and
//! the arrival process: `poisson` (exponential inter-arrival times, as DS3's job generator),
//! `periodic`, or `batch` (every job at time 0). [`JobsConfig::build`] draws the stream from a
//! seeded ChaCha8 generator, so the same seed gives the same jobs.
//!
//! ```
//! use archsim_workloads::jobs::{builtin, Arrival, AppRef, JobsConfig, Process};
//!
//! let wifi = builtin("wifi_tx").unwrap();
//! assert_eq!(wifi.tasks.len(), 27);
//! let cfg = JobsConfig {
//!     apps: vec![AppRef::named("wifi_tx", 0.8), AppRef::named("wifi_rx", 0.2)],
//!     arrival: Arrival { process: Process::Poisson, rate_per_ms: Some(2.0) },
//!     count: 10,
//! };
//! let set = cfg.build(std::path::Path::new("."), 7).unwrap();
//! assert_eq!(set.jobs.len(), 10);
//! assert_eq!(set.jobs[0].at_us, 0.0);
//! assert!(set.jobs.windows(2).all(|w| w[0].at_us <= w[1].at_us));
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::WorkloadError;

/// The applications that ship with archsim: `(name, job file text)`.
pub const BUILTIN: &[(&str, &str)] = &[
    ("wifi_tx", include_str!("../data/ds3/wifi_tx.yaml")),
    ("wifi_rx", include_str!("../data/ds3/wifi_rx.yaml")),
    (
        "range_detection",
        include_str!("../data/ds3/range_detection.yaml"),
    ),
    ("sc_tx", include_str!("../data/ds3/sc_tx.yaml")),
    ("sc_rx", include_str!("../data/ds3/sc_rx.yaml")),
    (
        "temporal_mitigation",
        include_str!("../data/ds3/temporal_mitigation.yaml"),
    ),
    ("topcuoglu", include_str!("../data/heft/topcuoglu.yaml")),
];

/// A built-in application by name.
pub fn builtin(name: &str) -> Result<JobGraph, WorkloadError> {
    let (_, text) = BUILTIN.iter().find(|(n, _)| *n == name).ok_or_else(|| {
        WorkloadError::InvalidParameter {
            key: "workload.jobs.apps.name".into(),
            reason: format!(
                "unknown application `{name}`; built-in: {}",
                BUILTIN
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    })?;
    JobGraph::from_str(text, &format!("<builtin {name}>"))
}

/// One task of a job DAG.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobTask {
    /// Task name, unique in its job.
    pub name: String,
    /// Task type: the key of its execution-time profile.
    pub kind: String,
}

/// A data dependency: `to` reads `bytes` produced by `from` (indices into [`JobGraph::tasks`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobEdge {
    /// Producer.
    pub from: usize,
    /// Consumer.
    pub to: usize,
    /// Data volume in bytes.
    pub bytes: u64,
}

/// A validated job DAG: tasks in a topological order (the file's order where it allows),
/// edges, and the execution-time profile of each task type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobGraph {
    /// Application name.
    pub name: String,
    /// Tasks, topologically ordered: every edge goes from a lower to a higher index.
    pub tasks: Vec<JobTask>,
    /// Edges, sorted by (consumer, producer).
    pub edges: Vec<JobEdge>,
    /// Task type → PE type → execution time in µs.
    pub profiles: BTreeMap<String, BTreeMap<String, f64>>,
    preds: Vec<Vec<(usize, u64)>>,
    succs: Vec<Vec<(usize, u64)>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    name: String,
    #[serde(default)]
    time_unit: Option<String>,
    types: BTreeMap<String, BTreeMap<String, f64>>,
    tasks: Vec<RawTask>,
    #[serde(default)]
    edges: Vec<RawEdge>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTask {
    name: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEdge {
    from: String,
    to: String,
    #[serde(default)]
    bytes: f64,
}

impl JobGraph {
    /// Parses and validates a job file's text; `origin` (a path) names it in errors.
    pub fn from_str(text: &str, origin: &str) -> Result<JobGraph, WorkloadError> {
        let err = |reason: String| WorkloadError::Job {
            file: origin.to_string(),
            reason,
        };
        let raw: RawJob = serde_saphyr::from_str(text).map_err(|e| {
            let loc = e
                .location()
                .map(|l| format!("line {} column {}: ", l.line(), l.column()))
                .unwrap_or_default();
            let msg = e.to_string();
            let first = msg.lines().next().unwrap_or("malformed job file").trim();
            let first = first.strip_prefix("error: ").unwrap_or(first);
            let first = match first.find(": ") {
                Some(i) if first.starts_with("line ") => &first[i + 2..],
                _ => first,
            };
            err(format!("{loc}{first}"))
        })?;
        if let Some(u) = &raw.time_unit {
            if u != "us" {
                return Err(err(format!(
                    "time_unit `{u}` is not supported; times are in µs (`us`)"
                )));
            }
        }
        if raw.tasks.is_empty() {
            return Err(err("a job needs at least one task".into()));
        }
        for (ty, times) in &raw.types {
            if times.is_empty() {
                let users: Vec<&str> = raw
                    .tasks
                    .iter()
                    .filter(|t| &t.kind == ty)
                    .map(|t| t.name.as_str())
                    .collect();
                let who = users
                    .first()
                    .map_or_else(String::new, |t| format!("task `{t}`: "));
                return Err(err(format!(
                    "{who}type `{ty}` has no execution time on any PE type"
                )));
            }
            for (pe, &t) in times {
                if !t.is_finite() || t < 0.0 {
                    let who = raw
                        .tasks
                        .iter()
                        .find(|x| &x.kind == ty)
                        .map_or_else(String::new, |x| format!("task `{}`: ", x.name));
                    return Err(err(format!(
                        "{who}type `{ty}` has execution time {t} µs on `{pe}`; times must be finite and ≥ 0"
                    )));
                }
            }
        }
        let mut index: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, t) in raw.tasks.iter().enumerate() {
            if t.name.is_empty() {
                return Err(err(format!("task #{i} has an empty name")));
            }
            if index.insert(t.name.as_str(), i).is_some() {
                return Err(err(format!("task `{}` is defined twice", t.name)));
            }
            if !raw.types.contains_key(&t.kind) {
                return Err(err(format!(
                    "task `{}`: unknown type `{}` (declare it under `types:`)",
                    t.name, t.kind
                )));
            }
        }
        let n = raw.tasks.len();
        let mut preds: Vec<Vec<(usize, u64)>> = vec![Vec::new(); n];
        let mut succs: Vec<Vec<(usize, u64)>> = vec![Vec::new(); n];
        let mut seen = BTreeSet::new();
        for e in &raw.edges {
            let look = |name: &str, end: &str| {
                index.get(name).copied().ok_or_else(|| {
                    err(format!(
                        "edge {} -> {}: unknown {end} task `{name}`",
                        e.from, e.to
                    ))
                })
            };
            let (a, b) = (look(&e.from, "producer")?, look(&e.to, "consumer")?);
            if a == b {
                return Err(err(format!(
                    "task `{}` depends on itself (cycle `{0} -> {0}`)",
                    e.from
                )));
            }
            if !e.bytes.is_finite() || e.bytes < 0.0 {
                return Err(err(format!(
                    "edge {} -> {}: task `{}` sends {} bytes; volumes must be finite and ≥ 0",
                    e.from, e.to, e.from, e.bytes
                )));
            }
            if !seen.insert((a, b)) {
                return Err(err(format!(
                    "edge {} -> {} is given twice (task `{}`)",
                    e.from, e.to, e.to
                )));
            }
            let bytes = e.bytes.round() as u64;
            preds[b].push((a, bytes));
            succs[a].push((b, bytes));
        }
        // Kahn's algorithm, always taking the lowest file index: a stable topological order.
        let mut indeg: Vec<usize> = preds.iter().map(Vec::len).collect();
        let mut ready: BTreeSet<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
        let mut order = Vec::with_capacity(n);
        while let Some(i) = ready.pop_first() {
            order.push(i);
            for &(s, _) in &succs[i] {
                indeg[s] -= 1;
                if indeg[s] == 0 {
                    ready.insert(s);
                }
            }
        }
        if order.len() < n {
            let cycle = find_cycle(&succs, &indeg);
            let names: Vec<&str> = cycle.iter().map(|&i| raw.tasks[i].name.as_str()).collect();
            return Err(err(format!(
                "task `{}` is on a dependency cycle: {}",
                names[0],
                names.join(" -> ")
            )));
        }
        let mut pos = vec![0; n];
        for (p, &i) in order.iter().enumerate() {
            pos[i] = p;
        }
        let tasks: Vec<JobTask> = order
            .iter()
            .map(|&i| JobTask {
                name: raw.tasks[i].name.clone(),
                kind: raw.tasks[i].kind.clone(),
            })
            .collect();
        let mut edges: Vec<JobEdge> = raw
            .edges
            .iter()
            .map(|e| JobEdge {
                from: pos[index[e.from.as_str()]],
                to: pos[index[e.to.as_str()]],
                bytes: e.bytes.round() as u64,
            })
            .collect();
        edges.sort_by_key(|e| (e.to, e.from));
        Ok(JobGraph::assemble(raw.name, tasks, edges, raw.types))
    }

    /// Reads a job file from disk.
    pub fn from_file(path: &Path) -> Result<JobGraph, WorkloadError> {
        let text =
            crate::input::read_to_string(path, crate::input::InputKind::Config).map_err(|e| {
                WorkloadError::Job {
                    file: e.path,
                    reason: e.message,
                }
            })?;
        JobGraph::from_str(&text, &path.display().to_string())
    }

    fn assemble(
        name: String,
        tasks: Vec<JobTask>,
        edges: Vec<JobEdge>,
        profiles: BTreeMap<String, BTreeMap<String, f64>>,
    ) -> JobGraph {
        let n = tasks.len();
        let mut preds = vec![Vec::new(); n];
        let mut succs = vec![Vec::new(); n];
        for e in &edges {
            preds[e.to].push((e.from, e.bytes));
            succs[e.from].push((e.to, e.bytes));
        }
        JobGraph {
            name,
            tasks,
            edges,
            profiles,
            preds,
            succs,
        }
    }

    /// Producers of task `i`, with the bytes each sends.
    pub fn preds(&self, i: usize) -> &[(usize, u64)] {
        &self.preds[i]
    }

    /// Consumers of task `i`, with the bytes each receives.
    pub fn succs(&self, i: usize) -> &[(usize, u64)] {
        &self.succs[i]
    }

    /// Execution time in µs of task `i` on a PE of type `pe_type`, if it can run there.
    pub fn exec_us(&self, i: usize, pe_type: &str) -> Option<f64> {
        self.profiles
            .get(&self.tasks[i].kind)
            .and_then(|m| m.get(pe_type))
            .copied()
    }
}

/// A task on a cycle, found from the tasks Kahn's algorithm could not order.
fn find_cycle(succs: &[Vec<(usize, u64)>], indeg: &[usize]) -> Vec<usize> {
    // Every unordered task has an unordered predecessor; walk successors inside the
    // unordered set until a task repeats.
    let stuck: Vec<bool> = indeg.iter().map(|&d| d > 0).collect();
    let start = stuck.iter().position(|&s| s).unwrap_or(0);
    let mut path = vec![start];
    let mut on_path = vec![usize::MAX; succs.len()];
    on_path[start] = 0;
    let mut cur = start;
    loop {
        let next = succs[cur]
            .iter()
            .map(|&(s, _)| s)
            .find(|&s| stuck[s])
            .unwrap_or(start);
        if on_path[next] != usize::MAX {
            let mut cycle = path[on_path[next]..].to_vec();
            cycle.push(next);
            return cycle;
        }
        on_path[next] = path.len();
        path.push(next);
        cur = next;
    }
}

/// An application of the mix: a built-in name or a job file, with its share of the jobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppRef {
    /// A built-in application (`wifi_tx`, `wifi_rx`, `range_detection`, `sc_tx`, `sc_rx`,
    /// `temporal_mitigation`, `topcuoglu`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Path of a job file (YAML or JSON), relative to the config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub file: Option<PathBuf>,
    /// Relative weight in the mix (default 1): the probability that a new job is this one.
    #[serde(default = "one_f")]
    #[schemars(range(min = 0, max = 1e6))]
    pub weight: f64,
}

impl AppRef {
    /// A built-in application with a weight.
    pub fn named(name: &str, weight: f64) -> AppRef {
        AppRef {
            name: Some(name.into()),
            file: None,
            weight,
        }
    }
}

fn one_f() -> f64 {
    1.0
}

/// The arrival process of jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Process {
    /// Exponential inter-arrival times with mean `1000 / rate_per_ms` µs (first job at 0).
    Poisson,
    /// One job every `1000 / rate_per_ms` µs, from time 0.
    Periodic,
    /// Every job at time 0 (a static scheduling problem).
    Batch,
}

/// `arrival:` — the process and its injection rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Arrival {
    /// `poisson`, `periodic` or `batch`.
    pub process: Process,
    /// Injection rate in jobs per millisecond (required unless `batch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1e-6, max = 1e6))]
    pub rate_per_ms: Option<f64>,
}

fn default_count() -> u64 {
    100
}

/// The `workload: {jobs: …}` section: the application mix, the arrival process, the job count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobsConfig {
    /// Applications and their weights.
    pub apps: Vec<AppRef>,
    /// Arrival process.
    pub arrival: Arrival,
    /// Number of jobs (default 100).
    #[serde(default = "default_count")]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub count: u64,
}

/// One job of the stream: which application, and when it arrives.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct JobArrival {
    /// Index into [`JobSet::apps`].
    pub app: usize,
    /// Arrival time in µs.
    pub at_us: f64,
}

/// The applications and the stream of jobs drawn from them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSet {
    /// Application DAGs, in the config's order.
    pub apps: Vec<JobGraph>,
    /// Jobs in arrival order.
    pub jobs: Vec<JobArrival>,
}

impl JobSet {
    /// A short description: `wifi_tx 80% + wifi_rx 20%, 100 jobs`.
    pub fn describe(&self) -> String {
        let mut counts = vec![0usize; self.apps.len()];
        for j in &self.jobs {
            counts[j.app] += 1;
        }
        let parts: Vec<String> = self
            .apps
            .iter()
            .zip(&counts)
            .map(|(a, &c)| {
                format!(
                    "{} {:.0}%",
                    a.name,
                    100.0 * c as f64 / self.jobs.len().max(1) as f64
                )
            })
            .collect();
        format!("{}, {} jobs", parts.join(" + "), self.jobs.len())
    }
}

impl JobsConfig {
    /// Checks the section's values (not the job files).
    pub fn validate(&self) -> Result<(), WorkloadError> {
        let bad = |key: &str, reason: String| WorkloadError::InvalidParameter {
            key: format!("workload.jobs.{key}"),
            reason,
        };
        if self.apps.is_empty() {
            return Err(bad("apps", "give at least one application".into()));
        }
        for (i, a) in self.apps.iter().enumerate() {
            match (&a.name, &a.file) {
                (Some(_), Some(_)) => {
                    return Err(bad(
                        &format!("apps.{i}"),
                        "give `name` or `file`, not both".into(),
                    ))
                }
                (None, None) => {
                    return Err(bad(
                        &format!("apps.{i}"),
                        "give `name` (built-in) or `file` (job file)".into(),
                    ))
                }
                (Some(n), None) if !BUILTIN.iter().any(|(b, _)| b == n) => {
                    return Err(bad(
                        &format!("apps.{i}.name"),
                        format!(
                            "unknown application `{n}`; built-in: {}",
                            BUILTIN
                                .iter()
                                .map(|(n, _)| *n)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ))
                }
                _ => {}
            }
            if !a.weight.is_finite() || a.weight < 0.0 {
                return Err(bad(
                    &format!("apps.{i}.weight"),
                    "must be finite and ≥ 0".into(),
                ));
            }
        }
        if self.apps.iter().map(|a| a.weight).sum::<f64>() <= 0.0 {
            return Err(bad("apps", "the weights sum to 0".into()));
        }
        if self.count == 0 {
            return Err(bad("count", "must be at least 1".into()));
        }
        if self.count > 1_000_000 {
            return Err(bad(
                "count",
                "must be at most 1000000 (a million jobs; the stream is simulated job by job)"
                    .into(),
            ));
        }
        match (self.arrival.process, self.arrival.rate_per_ms) {
            (Process::Batch, _) => {}
            (_, None) => {
                return Err(bad(
                    "arrival.rate_per_ms",
                    "required for `poisson` and `periodic` arrivals".into(),
                ))
            }
            (_, Some(r)) if !r.is_finite() || r <= 0.0 => {
                return Err(bad("arrival.rate_per_ms", "must be positive".into()))
            }
            _ => {}
        }
        Ok(())
    }

    /// Loads the applications (files relative to `base_dir`) and draws the job stream.
    pub fn build(&self, base_dir: &Path, seed: u64) -> Result<JobSet, WorkloadError> {
        self.validate()?;
        let apps = self
            .apps
            .iter()
            .map(|a| match (&a.name, &a.file) {
                (Some(n), _) => builtin(n),
                (None, Some(f)) => JobGraph::from_file(&base_dir.join(f)),
                (None, None) => unreachable!("validate checked that each app has a source"),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let total: f64 = self.apps.iter().map(|a| a.weight).sum();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut jobs = Vec::with_capacity(self.count as usize);
        let mut t = 0.0f64;
        for k in 0..self.count {
            let at_us = match self.arrival.process {
                Process::Batch => 0.0,
                Process::Periodic => k as f64 * 1000.0 / self.arrival.rate_per_ms.unwrap_or(1.0),
                Process::Poisson => {
                    if k > 0 {
                        let u: f64 = rng.random();
                        t += -(1.0 - u).ln() * 1000.0 / self.arrival.rate_per_ms.unwrap_or(1.0);
                    }
                    t
                }
            };
            let mut pick: f64 = rng.random::<f64>() * total;
            let mut app = self.apps.len() - 1;
            for (i, a) in self.apps.iter().enumerate() {
                if pick < a.weight {
                    app = i;
                    break;
                }
                pick -= a.weight;
            }
            jobs.push(JobArrival { app, at_us });
        }
        Ok(JobSet { apps, jobs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = "name: t\ntypes:\n  a: {cpu: 1}\n  b: {cpu: 2, acc: 0.5}\ntasks:\n  - {name: x, type: a}\n  - {name: y, type: b}\nedges:\n  - {from: x, to: y, bytes: 8}\n";

    fn error(text: &str) -> String {
        JobGraph::from_str(text, "bad.yaml")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn every_builtin_loads() {
        for (name, _) in BUILTIN {
            let g = builtin(name).unwrap();
            assert_eq!(&g.name, name);
            for e in &g.edges {
                assert!(e.from < e.to, "{name}: topological order");
            }
        }
        assert_eq!(builtin("wifi_rx").unwrap().tasks.len(), 34);
        assert_eq!(builtin("topcuoglu").unwrap().edges.len(), 15);
    }

    #[test]
    fn good_file_parses() {
        let g = JobGraph::from_str(OK, "ok.yaml").unwrap();
        assert_eq!(g.preds(1), &[(0, 8)]);
        assert_eq!(g.exec_us(1, "acc"), Some(0.5));
        assert_eq!(g.exec_us(0, "acc"), None);
    }

    #[test]
    fn bad_files_name_the_task() {
        let cases = [
            (
                OK.replace("edges:\n", "edges:\n  - {from: y, to: x, bytes: 1}\n"),
                "bad.yaml: task `x` is on a dependency cycle: x -> y -> x",
            ),
            (
                OK.replace("b: {cpu: 2, acc: 0.5}", "b: {cpu: -2}"),
                "bad.yaml: task `y`: type `b` has execution time -2 µs on `cpu`",
            ),
            (
                OK.replace("type: b}", "type: c}"),
                "bad.yaml: task `y`: unknown type `c`",
            ),
            (
                OK.replace("bytes: 8", "bytes: -8"),
                "bad.yaml: edge x -> y: task `x` sends -8 bytes",
            ),
            (
                OK.replace("to: y", "to: z"),
                "bad.yaml: edge x -> z: unknown consumer task `z`",
            ),
            (
                OK.replace("{name: y", "{name: x"),
                "bad.yaml: task `x` is defined twice",
            ),
            (
                OK.replace("b: {cpu: 2, acc: 0.5}", "b: {}"),
                "bad.yaml: task `y`: type `b` has no execution time",
            ),
            (
                OK.replace("from: x, to: y", "from: y, to: y"),
                "bad.yaml: task `y` depends on itself",
            ),
            (OK.replace("name: t", "nme: t"), "bad.yaml: line 1 column 1"),
        ];
        for (text, want) in cases {
            let e = error(&text);
            assert!(e.starts_with(want), "{e:?} does not start with {want:?}");
        }
    }

    #[test]
    fn longer_cycles_are_reported_whole() {
        let text = "name: c\ntypes: {a: {cpu: 1}}\ntasks:\n  - {name: s, type: a}\n  - {name: p, type: a}\n  - {name: q, type: a}\n  - {name: r, type: a}\nedges:\n  - {from: s, to: p}\n  - {from: p, to: q}\n  - {from: q, to: r}\n  - {from: r, to: p}\n";
        assert!(error(text).contains("p -> q -> r -> p"), "{}", error(text));
    }

    #[test]
    fn arrivals_are_seeded_and_follow_the_rate() {
        let cfg = JobsConfig {
            apps: vec![AppRef::named("wifi_tx", 3.0), AppRef::named("wifi_rx", 1.0)],
            arrival: Arrival {
                process: Process::Poisson,
                rate_per_ms: Some(4.0),
            },
            count: 4000,
        };
        let a = cfg.build(Path::new("."), 1).unwrap();
        assert_eq!(a, cfg.build(Path::new("."), 1).unwrap());
        assert_ne!(a.jobs, cfg.build(Path::new("."), 2).unwrap().jobs);
        let span_ms = a.jobs.last().unwrap().at_us / 1000.0;
        let rate = (a.jobs.len() - 1) as f64 / span_ms;
        assert!((rate - 4.0).abs() < 0.25, "rate {rate}");
        let tx = a.jobs.iter().filter(|j| j.app == 0).count() as f64 / 4000.0;
        assert!((tx - 0.75).abs() < 0.03, "share {tx}");
        let p = JobsConfig {
            arrival: Arrival {
                process: Process::Periodic,
                rate_per_ms: Some(2.0),
            },
            count: 3,
            ..cfg.clone()
        }
        .build(Path::new("."), 0)
        .unwrap();
        let at: Vec<f64> = p.jobs.iter().map(|j| j.at_us).collect();
        assert_eq!(at, [0.0, 500.0, 1000.0]);
    }

    #[test]
    fn config_errors_name_the_key() {
        let mut cfg = JobsConfig {
            apps: vec![AppRef::named("wifi_tz", 1.0)],
            arrival: Arrival {
                process: Process::Poisson,
                rate_per_ms: None,
            },
            count: 1,
        };
        assert!(cfg
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("workload.jobs.apps.0.name: unknown application `wifi_tz`"));
        cfg.apps[0].name = Some("wifi_tx".into());
        assert!(cfg
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("workload.jobs.arrival.rate_per_ms: required"));
    }
}
