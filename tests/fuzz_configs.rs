//! A seeded, time-bounded fuzz of every shipped config (issue 26's acceptance test): for a
//! deterministic sample of each config's leaf keys, `archsim run CONFIG --set KEY=BAD` with bad
//! values (0, -1, 1e-300, 1e308, .nan, .inf, -.inf, "", garbage, [], 2^62), each run with a
//! time limit, asserting that
//!
//! * nothing panics (no `panicked` on stderr, no exit 101) and nothing aborts (no signal, no
//!   exit 134): exit 0 or 2 only;
//! * no run goes over its time limit;
//! * a value refused (exit 2) is named: stderr holds the key;
//! * an accepted value (exit 0) writes no NaN, inf or null metric and no negative time,
//!   energy or cost into `report.json` or a CSV.
//!
//! The sample is sized for CI (about two minutes of debug builds on two cores): every config,
//! [`KEYS_PER_CONFIG`] keys each, [`VALUES_PER_KEY`] values each. `ARCHSIM_FUZZ_KEYS=N` and
//! `ARCHSIM_FUZZ_VALUES=N` widen it for a deeper local run, `ARCHSIM_FUZZ_SEED` picks another
//! sample. Slow configs run with small sizes (`FAST`), set before the fuzzed key so a fuzzed
//! size still wins. Sweep configs (`configs/sweep/`) are left out: `archsim sweep` takes no
//! `--set`, and each of their points loads through the loader these runs exercise.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

const KEYS_PER_CONFIG: usize = 8;
const VALUES_PER_KEY: usize = 3;
const SEED: u64 = 26;
/// The most one run may take (a debug build, two runs at once on two busy cores).
const TIME_LIMIT: Duration = Duration::from_secs(20);

/// The configs whose every run builds fleets of several device types (seconds of CPU in a
/// debug build however small the traffic): their limit.
const SLOW: &[(&str, u64)] = &[
    ("repro/melange.yaml", 90),
    ("repro/accelerator_fleet.yaml", 90),
    ("search/serving_fleet.yaml", 90),
];

const BAD: &[&str] = &[
    "0",
    "-1",
    "1e-300",
    "1e308",
    ".nan",
    ".inf",
    "-.inf",
    "\"\"",
    "garbage",
    "[]",
    "4611686018427387904",
];

/// Small sizes for the configs that take seconds as shipped (in a debug build).
const FAST: &[(&str, &[&str])] = &[
    ("codesign/mnasnet_imagenet.yaml", &["codesign.budget=8"]),
    ("repro/nasaic.yaml", &["codesign.budget=8"]),
    (
        "repro/accelerator_fleet.yaml",
        &["study.requests=60", "study.max_count=4"],
    ),
    (
        "repro/melange.yaml",
        &["study.requests=60", "study.max_count=4"],
    ),
    ("repro/disaggregation.yaml", &["study.requests=60"]),
    (
        "repro/ds3_latency_vs_rate.yaml",
        &["workload.jobs.count=10", "study.seeds=[0]"],
    ),
    (
        "search/serving_fleet.yaml",
        &["search.budget=2", "serving.traffic.requests=60"],
    ),
    ("search/gemm_nsga2.yaml", &["search.budget=8"]),
    ("search/resnet18_bo.yaml", &["search.budget=8"]),
    ("search/suite/hetero3_pareto.yaml", &["search.budget=8"]),
    ("search/suite/hetero3_two_nets.yaml", &["search.budget=8"]),
    ("search/suite/nb201_codesign.yaml", &["search.budget=8"]),
    ("search/suite/resnet50_systolic.yaml", &["search.budget=8"]),
    (
        "serving_llama7b_h100.yaml",
        &[
            "serving.traffic.requests=100",
            "serving.capacity.requests=60",
        ],
    ),
];

/// Findings the other work on issue 26 resolves; each names who and why. Nothing else is
/// excused. (config, key prefix, finding prefix, who fixes it and how).
const ALLOWED: &[(&str, &str, &str, &str)] = &[];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "yaml") {
            out.push(p);
        }
    }
}

/// Every leaf of `v` as a `--set` path (`a.b[0].c`).
fn leaves(v: &Value, path: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                // Mapping keys that hold dots (a search space's paths) cannot be `--set`.
                if k.contains(['.', '[', ']']) {
                    continue;
                }
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                leaves(x, &p, out);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, x) in a.iter().enumerate() {
                leaves(x, &format!("{path}[{i}]"), out);
            }
        }
        _ => out.push(path.to_string()),
    }
}

/// One run to make: config, the fast sizes and the fuzzed `--set`.
struct Case {
    config: PathBuf,
    name: String,
    fast: Vec<String>,
    key: String,
    value: String,
}

fn cases() -> Vec<Case> {
    let mut files = Vec::new();
    yaml_files(&root().join("configs"), &mut files);
    let keys = env_or("ARCHSIM_FUZZ_KEYS", KEYS_PER_CONFIG as u64) as usize;
    let values = (env_or("ARCHSIM_FUZZ_VALUES", VALUES_PER_KEY as u64) as usize).min(BAD.len());
    let seed = env_or("ARCHSIM_FUZZ_SEED", SEED);
    let mut out = Vec::new();
    for f in files {
        let name = f
            .strip_prefix(root().join("configs"))
            .unwrap()
            .display()
            .to_string();
        if name.starts_with("sweep/") {
            continue;
        }
        let doc: Value = serde_saphyr::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        let mut all = Vec::new();
        leaves(&doc, "", &mut all);
        let fast: Vec<String> = FAST
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| s.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default();
        // One stream per config, so adding a config leaves the others' samples as they are.
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ fnv(&name));
        let mut picked = BTreeSet::new();
        while picked.len() < keys.min(all.len()) {
            picked.insert(rng.random_range(0..all.len()));
        }
        for k in picked {
            let mut vals = BTreeSet::new();
            while vals.len() < values {
                vals.insert(rng.random_range(0..BAD.len()));
            }
            for v in vals {
                out.push(Case {
                    config: f.clone(),
                    name: name.clone(),
                    fast: fast.clone(),
                    key: all[k].clone(),
                    value: BAD[v].to_string(),
                });
            }
        }
    }
    out
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Runs one case; `None` when it passes, else what is wrong.
fn check(case: &Case, out: &Path) -> Option<String> {
    let _ = std::fs::remove_dir_all(out);
    let set = format!("{}={}", case.key, case.value);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_archsim"));
    cmd.arg("run")
        .arg(&case.config)
        .arg("--out")
        .arg(out)
        .arg("--json");
    for f in &case.fast {
        cmd.arg("--set").arg(f);
    }
    cmd.arg("--set").arg(&set);
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("archsim starts");
    let mut stderr_pipe = child.stderr.take().expect("stderr is piped");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr_pipe.read_to_string(&mut s);
        s
    });
    let limit = SLOW
        .iter()
        .find(|(n, _)| *n == case.name)
        .map_or(TIME_LIMIT, |&(_, s)| Duration::from_secs(s));
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break Some(s);
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stderr = reader.join().unwrap_or_default();
    let Some(status) = status else {
        return Some(format!("ran over {limit:?}"));
    };
    if stderr.contains("panicked") {
        let line = stderr
            .lines()
            .find(|l| l.contains("panicked"))
            .unwrap_or("");
        return Some(format!("panicked: {line}"));
    }
    match status.code() {
        None => Some(format!("killed by a signal ({status})")),
        Some(0) => bad_outputs(out),
        Some(2) => {
            let dotted = case.key.replace('[', ".").replace(']', "");
            // A file that cannot be read is named by its path, the value itself.
            let path_named = stderr.contains(&format!("/{}:", case.value));
            (!stderr.contains(&case.key) && !stderr.contains(&dotted) && !path_named).then(|| {
                format!(
                    "exit 2 without naming the key: {}",
                    stderr.lines().last().unwrap_or("")
                )
            })
        }
        Some(c) => Some(format!("exit {c}: {}", stderr.lines().last().unwrap_or(""))),
    }
}

/// A column or key that holds a time, an energy or a cost (never negative).
fn non_negative(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["_s", "_ms", "_us", "_j", "_mj", "_uj", "_mm2"]
        .iter()
        .any(|u| n.ends_with(u))
        || n.contains("energy")
        || n.contains("cost")
        || n.contains("latency")
}

/// What is wrong with the outputs of a run that exited 0.
fn bad_outputs(dir: &Path) -> Option<String> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return None;
    };
    let mut files: Vec<PathBuf> = rd.map(|e| e.unwrap().path()).collect();
    files.sort();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".json") {
            let Ok(v) = serde_json::from_slice::<Value>(&std::fs::read(&f).unwrap()) else {
                return Some(format!("{name} is not JSON"));
            };
            if let Some(w) = bad_json(&v, "") {
                return Some(format!("{name}: {w}"));
            }
        } else if name.ends_with(".csv") {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            let mut lines = text.lines();
            let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
            for (r, line) in lines.enumerate() {
                for (c, cell) in line.split(',').enumerate() {
                    let col = header.get(c).copied().unwrap_or("?");
                    let l = cell.trim().to_ascii_lowercase();
                    if ["nan", "inf", "-inf", "+inf", "infinity", "-infinity"].contains(&l.as_str())
                    {
                        return Some(format!("{name} row {r} {col} = {cell}"));
                    }
                    if non_negative(col) && cell.parse::<f64>().is_ok_and(|x| x < 0.0) {
                        return Some(format!("{name} row {r} {col} = {cell} (negative)"));
                    }
                }
            }
        }
    }
    None
}

/// True for a key that holds a metric (a simulation's, a serving run's or a co-design
/// design's): null there is a NaN or an infinity that JSON could not hold.
fn is_metric(key: &str) -> bool {
    archsim::gym::METRICS
        .iter()
        .chain(archsim::gym::SERVING_METRICS)
        .any(|m| *m == key)
        || [
            "mean",
            "p50",
            "p90",
            "p99",
            "total_cycles",
            "energy_mj",
            "weighted_accuracy",
        ]
        .contains(&key)
}

fn bad_json(v: &Value, path: &str) -> Option<String> {
    match v {
        Value::Null => {
            let last = path.rsplit('.').next().unwrap_or(path);
            is_metric(last).then(|| format!("{path} is null"))
        }
        Value::Number(n) => {
            let last = path.rsplit('.').next().unwrap_or(path);
            (non_negative(last) && n.as_f64().is_some_and(|x| x < 0.0))
                .then(|| format!("{path} = {n} (negative)"))
        }
        Value::Array(a) => a
            .iter()
            .enumerate()
            .find_map(|(i, x)| bad_json(x, &format!("{path}[{i}]"))),
        Value::Object(m) => m.iter().find_map(|(k, x)| {
            bad_json(
                x,
                &if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                },
            )
        }),
        _ => None,
    }
}

#[test]
fn every_shipped_config_survives_bad_values() {
    let cases = cases();
    assert!(cases.len() > 50, "the sample covers the configs");
    let scratch = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz");
    let workers = 2;
    let findings: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let cases = &cases;
                let dir = scratch.join(format!("w{w}"));
                s.spawn(move || {
                    cases
                        .iter()
                        .skip(w)
                        .step_by(workers)
                        .filter_map(|c| {
                            let found = check(c, &dir)?;
                            let excused = ALLOWED.iter().any(|(cfg, key, what, _)| {
                                c.name == *cfg && c.key.starts_with(key) && found.starts_with(what)
                            });
                            (!excused)
                                .then(|| format!("{} --set {}={}: {found}", c.name, c.key, c.value))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a worker ran"))
            .collect()
    });
    assert!(
        findings.is_empty(),
        "{} of {} runs failed:\n{}",
        findings.len(),
        cases.len(),
        findings.join("\n")
    );
}
