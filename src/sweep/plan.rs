//! A sweep's points: the `sweep:` section read and checked, its size bounded before any point
//! is built, the grid (lists and generators) and the random draws expanded in a deterministic
//! order.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use archsim_gym::DesignSpace;
use archsim_workloads::zoo::{Nb201Cell, Nb201Dataset, NB201_PREFIX};

use super::bad;
use crate::{config, ConfigError, Error};

fn one() -> usize {
    1
}

/// The most points one sweep may have (grid points × `samples` when there is a `random:`
/// part). A sweep lists its points before running them and keeps every result until it writes
/// the tables — measured at about 4.5 KB of memory a point (200,000 GEMM points: 0.9 GB peak)
/// — so the count is computed from the section, never by building the points, and bounded
/// first: a million points is about 4.5 GB and, at a few thousand points a second, minutes.
pub const MAX_SWEEP_POINTS: usize = 1_000_000;

/// The `sweep:` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SweepConfig {
    /// Config path → list of values; every combination is a point.
    #[serde(default)]
    #[schemars(with = "std::collections::BTreeMap<String, GridEntry>")]
    pub grid: Map<String, Value>,
    /// Config path → domain; sampled `samples` times per grid point.
    #[serde(default)]
    #[schemars(with = "std::collections::BTreeMap<String, archsim_gym::space::DomainSpec>")]
    pub random: Map<String, Value>,
    /// Random draws per grid point (default 1).
    #[serde(default = "one")]
    #[schemars(range(min = 1))]
    pub samples: usize,
    /// Seed of the random draws.
    #[serde(default)]
    pub seed: u64,
}

/// Reads the `sweep:` section of a config text; its errors name the key, located in the file.
pub fn parse(text: &str, file: &str) -> Result<SweepConfig, Error> {
    parse_unlocated(text, file).map_err(|e| match e {
        Error::Config(mut c) if c.location.is_none() => {
            if let Some(k) = &c.key {
                c.location = config::locate_dotted(text, k);
            }
            Error::Config(c)
        }
        other => other,
    })
}

/// The YAML document of a sweep file, or its syntax error at its line and column.
pub(super) fn yaml_value(text: &str, file: &str) -> Result<Value, Error> {
    serde_saphyr::from_str(text).map_err(|e| {
        Error::Config(
            ConfigError::new(file, crate::config::yaml_message(&e.to_string()))
                .with_location(e.location().map(|l| (l.line(), l.column()))),
        )
    })
}

fn parse_unlocated(text: &str, file: &str) -> Result<SweepConfig, Error> {
    let v = yaml_value(text, file)?;
    let s = v.get("sweep").cloned().ok_or_else(|| {
        bad(
            file,
            "sweep",
            "missing: `archsim sweep` needs a `sweep:` section",
        )
    })?;
    let cfg: SweepConfig = archsim_accelerators::config::typed(s, &["sweep"])
        .map_err(|e| bad(file, &e.key(), e.message))?;
    if cfg.grid.is_empty() && cfg.random.is_empty() {
        return Err(bad(file, "sweep", "give `grid:` and/or `random:`"));
    }
    for (part, map) in [("grid", &cfg.grid), ("random", &cfg.random)] {
        for k in map.keys() {
            archsim_gym::path::parse(k).map_err(|m| bad(file, &format!("sweep.{part}.{k}"), m))?;
        }
    }
    if cfg.samples == 0 {
        return Err(bad(file, "sweep.samples", "must be at least 1"));
    }
    count(&cfg, file)?;
    for (k, v) in &cfg.grid {
        grid_values(file, k, v)?;
    }
    Ok(cfg)
}

/// The number of points of a sweep, from the lengths of its grid lists (and generators) and
/// its `samples`, without building them; more than [`MAX_SWEEP_POINTS`] is an error naming
/// `sweep.grid` (or `sweep.samples`) and the limit.
pub fn count(cfg: &SweepConfig, file: &str) -> Result<usize, Error> {
    let too_many = |key: &str, what: String| {
        bad(
            file,
            key,
            format!("{what}, more than the limit of {MAX_SWEEP_POINTS} points (MAX_SWEEP_POINTS)"),
        )
    };
    let mut lens = Vec::with_capacity(cfg.grid.len());
    for (k, v) in &cfg.grid {
        lens.push(grid_len(file, k, v)?);
    }
    let factors = || {
        lens.iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(" × ")
    };
    let grid = lens
        .iter()
        .try_fold(1usize, |acc, &n| acc.checked_mul(n))
        .filter(|&n| n <= MAX_SWEEP_POINTS)
        .ok_or_else(|| {
            let n = lens.iter().fold(1u128, |a, &n| a.saturating_mul(n as u128));
            let n = if n == u128::MAX {
                "more than 10^38".to_string()
            } else {
                n.to_string()
            };
            too_many(
                "sweep.grid",
                format!("the grid has {n} points ({})", factors()),
            )
        })?;
    if cfg.random.is_empty() {
        return Ok(grid);
    }
    grid.checked_mul(cfg.samples)
        .filter(|&n| n <= MAX_SWEEP_POINTS)
        .ok_or_else(|| {
            let n = (grid as u128) * (cfg.samples as u128);
            too_many(
                "sweep.samples",
                format!(
                    "{grid} grid point{} × {} samples is {n} points",
                    if grid == 1 { "" } else { "s" },
                    cfg.samples
                ),
            )
        })
}

/// The number of values of one grid entry, without generating them.
fn grid_len(file: &str, key: &str, v: &Value) -> Result<usize, Error> {
    match v {
        Value::Array(a) if !a.is_empty() => Ok(a.len()),
        Value::Object(m) if m.len() == 1 && m.contains_key("nb201") => Ok(m["nb201"]
            .get("cells")
            .and_then(Value::as_u64)
            .map_or(Nb201Cell::COUNT, |n| n as usize)
            .min(Nb201Cell::COUNT)),
        // Malformed entries are reported by `grid_values`, which names what is wrong.
        _ => grid_values(file, key, v).map(|vals| vals.len()),
    }
}

/// A `sweep.grid` entry as a config writes it (the schema of what [`grid_values`] reads): a
/// non-empty list of values, or a generator that stands for one.
#[derive(schemars::JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)] // read by `grid_values` from the generic value; this type is its schema
enum GridEntry {
    /// The values, in order.
    Values(#[schemars(length(min = 1))] Vec<Value>),
    /// `{nb201: {dataset, cells, seed}}`: NAS-Bench-201 cells as `nb201:` model names.
    Generator(Nb201Generator),
}

/// `{nb201: {...}}` in a grid entry.
#[derive(schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // a schema only, as `GridEntry`
struct Nb201Generator {
    nb201: Nb201Cells,
}

/// The `nb201:` generator of a grid entry.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Nb201Cells {
    /// `cifar10` (default), `cifar100` or `imagenet16-120`.
    #[serde(default)]
    dataset: Option<String>,
    /// How many distinct cells; all of them when absent.
    #[serde(default)]
    cells: Option<usize>,
    /// Seed of the draw.
    #[serde(default)]
    seed: u64,
}

/// The values of one grid entry: its list, or what its generator stands for.
fn grid_values(file: &str, key: &str, v: &Value) -> Result<Vec<Value>, Error> {
    let path = format!("sweep.grid.{key}");
    match v {
        Value::Array(a) if !a.is_empty() => Ok(a.clone()),
        Value::Object(m) if m.len() == 1 && m.contains_key("nb201") => {
            let g: Nb201Cells = archsim_accelerators::config::typed(
                m["nb201"].clone(),
                &["sweep", "grid", key, "nb201"],
            )
            .map_err(|e| bad(file, &e.key(), e.message))?;
            let ds: Nb201Dataset = g.dataset.as_deref().unwrap_or("cifar10").parse().map_err(
                |e: archsim_workloads::WorkloadError| {
                    bad(file, &format!("{path}.nb201.dataset"), e.to_string())
                },
            )?;
            let n = g.cells.unwrap_or(Nb201Cell::COUNT);
            if n == 0 || n > Nb201Cell::COUNT {
                return Err(bad(
                    file,
                    &format!("{path}.nb201.cells"),
                    format!(
                        "must be 1..={} (the number of cells), not {n}",
                        Nb201Cell::COUNT
                    ),
                ));
            }
            let mut ids: Vec<usize> = (0..Nb201Cell::COUNT).collect();
            if n < Nb201Cell::COUNT {
                // A partial Fisher-Yates shuffle: n distinct cells, then in enumeration order.
                let mut rng = ChaCha8Rng::seed_from_u64(g.seed);
                for i in 0..n {
                    let j = rng.random_range(i..ids.len());
                    ids.swap(i, j);
                }
                ids.truncate(n);
                ids.sort_unstable();
            }
            Ok(ids
                .into_iter()
                .map(|i| {
                    let cell = Nb201Cell::nth(i).expect("index below COUNT");
                    Value::from(format!("{NB201_PREFIX}{}:{cell}", ds.name()))
                })
                .collect())
        }
        _ => Err(bad(
            file,
            &path,
            "must be a non-empty list of values, or a generator `{nb201: {dataset, cells, seed}}`",
        )),
    }
}

/// Every point of the sweep, in a deterministic order (at most [`MAX_SWEEP_POINTS`], checked
/// before any is built).
pub fn points(cfg: &SweepConfig, file: &str) -> Result<Vec<Map<String, Value>>, Error> {
    count(cfg, file)?;
    let mut out: Vec<Map<String, Value>> = vec![Map::new()];
    for (k, v) in &cfg.grid {
        let vals = grid_values(file, k, v)?;
        out = out
            .into_iter()
            .flat_map(|p| {
                vals.iter().map(move |x| {
                    let mut q = p.clone();
                    q.insert(k.clone(), x.clone());
                    q
                })
            })
            .collect();
    }
    if !cfg.random.is_empty() {
        let space = DesignSpace::from_map("sweep.random", &cfg.random)
            .map_err(|e| bad(file, "sweep.random", e.to_string()))?;
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        out = out
            .into_iter()
            .flat_map(|p| {
                (0..cfg.samples)
                    .map(|_| {
                        let mut q = p.clone();
                        for prm in &space.params {
                            q.insert(
                                prm.path.clone(),
                                prm.domain.value(rng.random_range(0..prm.domain.len())),
                            );
                        }
                        q
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
    }
    Ok(out)
}

/// True when the sweep's base is a serving config (`serving:` section).
pub(super) fn is_serving_text(text: &str) -> bool {
    serde_saphyr::from_str::<Value>(text).is_ok_and(|v| crate::serve::is_serving(&v))
}

pub(super) fn overrides(point: &Map<String, Value>) -> Vec<String> {
    point.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// The points of a sweep config, in order, after checking that the first one loads (so a typo
/// in a path fails before any work is spread).
pub fn plan(text: &str, file: &str) -> Result<Vec<Map<String, Value>>, Error> {
    let cfg = parse(text, file)?;
    check_ranges(text, file, &cfg)?;
    let pts = points(&cfg, file)?;
    if let Some(p) = pts.first() {
        if is_serving_text(text) {
            crate::serve::load(text, file, &overrides(p))?;
        } else {
            config::load_full(text, file, &overrides(p))?;
        }
    }
    Ok(pts)
}

/// Every value a sweep sets within the range of its key ([`config::check_values`]), before any
/// point runs: each grid value, and each random domain's extremes (every value of a choice), set
/// alone on the base config. An error names the value in the sweep (`sweep.grid.<path>[i]`).
fn check_ranges(text: &str, file: &str, cfg: &SweepConfig) -> Result<(), Error> {
    let Ok(base) = serde_saphyr::from_str::<Value>(text) else {
        return Ok(());
    };
    config::check_values(&base, text, file, &[])?;
    let mut sets: Vec<(String, String, Value)> = Vec::new();
    for (k, v) in &cfg.grid {
        for (i, x) in grid_values(file, k, v)?.into_iter().enumerate() {
            // A grid given as a list names its element; a generated one (`{nb201: ...}`) its key.
            let at = if v.is_array() {
                format!("sweep.grid.{k}.{i}")
            } else {
                format!("sweep.grid.{k}")
            };
            sets.push((k.clone(), at, x));
        }
    }
    if !cfg.random.is_empty() {
        let space = DesignSpace::from_map("sweep.random", &cfg.random)
            .map_err(|e| bad(file, "sweep.random", e.to_string()))?;
        for p in &space.params {
            let n = p.domain.len();
            let ends: Vec<u64> = if p.domain.is_categorical() || n <= 2 {
                (0..n.min(1 << 16)).collect()
            } else {
                vec![0, n - 1]
            };
            for i in ends {
                let at = format!("sweep.random.{}", p.path);
                sets.push((p.path.clone(), at, p.domain.value(i)));
            }
        }
    }
    for (path, at, x) in sets {
        let Ok(segs) = archsim_gym::path::parse(&path) else {
            continue;
        };
        let mut doc = base.clone();
        if archsim_gym::path::set(&mut doc, &segs, x).is_err() {
            continue;
        }
        if let Err(e) = config::check_values(&doc, text, file, &[]) {
            return Err(Error::Config(config::located_key_error(
                text,
                file,
                &[],
                &at,
                match e.key {
                    Some(k) if k != path => format!("{}: {}", config::display_key(&k), e.message),
                    _ => e.message,
                },
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const NB201_SWEEP: &str = "workload:\n  model: resnet18\naccelerator:\n  kind: systolic\nsweep:\n  grid:\n    workload.model: {nb201: {dataset: cifar100, cells: 40, seed: 3}}\n    accelerator.preset: [eyeriss, nvdla_small]\n";

    #[test]
    fn nb201_generator_draws_distinct_cells_reproducibly() {
        let cfg = parse(NB201_SWEEP, "s.yaml").unwrap();
        let pts = points(&cfg, "s.yaml").unwrap();
        assert_eq!(pts.len(), 80);
        let models: Vec<&str> = pts
            .iter()
            .step_by(2)
            .map(|p| p["workload.model"].as_str().unwrap())
            .collect();
        let ordinals: Vec<usize> = models
            .iter()
            .map(|m| {
                archsim_workloads::zoo::check_name(m).unwrap();
                let arch = m.strip_prefix("nb201:cifar100:").unwrap();
                Nb201Cell::parse(arch).unwrap().ordinal()
            })
            .collect();
        // Distinct and in enumeration order.
        assert!(ordinals.windows(2).all(|w| w[0] < w[1]), "{ordinals:?}");
        // Each cell is paired with both presets.
        assert_eq!(pts[0]["workload.model"], pts[1]["workload.model"]);
        assert_eq!(pts[0]["accelerator.preset"], "eyeriss");
        assert_eq!(pts[1]["accelerator.preset"], "nvdla_small");
        // The same seed gives the same cells; another seed other cells.
        assert_eq!(points(&cfg, "s.yaml").unwrap(), pts);
        let other = parse(&NB201_SWEEP.replace("seed: 3", "seed: 4"), "s.yaml").unwrap();
        assert_ne!(points(&other, "s.yaml").unwrap(), pts);
        // Without `cells`, every cell once; the dataset defaults to CIFAR-10.
        let all = parse(
            &NB201_SWEEP.replace("{dataset: cifar100, cells: 40, seed: 3}", "{}"),
            "s.yaml",
        )
        .unwrap();
        let all = points(&all, "s.yaml").unwrap();
        assert_eq!(all.len(), 2 * Nb201Cell::COUNT);
        assert!(all[0]["workload.model"]
            .as_str()
            .unwrap()
            .starts_with("nb201:cifar10:|none~0|"));
        // The points load as configs.
        assert_eq!(plan(NB201_SWEEP, "s.yaml").unwrap(), pts);
    }

    #[test]
    fn the_bench_config_has_ten_thousand_points() {
        let text = include_str!("../../configs/sweep/nb201_presets.yaml");
        let pts = plan(text, "nb201_presets.yaml").unwrap();
        assert_eq!(pts.len(), 10_000);
        let cells: std::collections::BTreeSet<&str> = pts
            .iter()
            .map(|p| p["workload.model"].as_str().unwrap())
            .collect();
        assert_eq!(cells.len(), 5_000);
    }

    #[test]
    fn nb201_sweep_points_simulate() {
        let text = NB201_SWEEP.replace("cells: 40", "cells: 2");
        let pts = plan(&text, "s.yaml").unwrap();
        for (i, p) in pts.iter().enumerate() {
            let e = super::super::run_point(&text, "s.yaml", Path::new("."), i, p);
            assert_eq!(e.error, None);
            assert!(e.metrics["latency_s"].as_f64().unwrap() > 0.0);
        }
    }

    #[test]
    fn huge_sweeps_are_refused_before_any_point_is_built() {
        let axis = (0..1000)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let text = format!(
            "workload: {{gemm: {{m: 8, n: 8, k: 8}}}}\naccelerator: {{kind: systolic, rows: 8, cols: 8, dataflow: os}}\nsweep:\n  grid:\n    workload.gemm.m: [{axis}]\n    workload.gemm.n: [{axis}]\n    workload.gemm.k: [{axis}]\n"
        );
        let err = plan(&text, "s.yaml").unwrap_err().to_string();
        assert_eq!(
            err,
            "s.yaml:4:3: sweep.grid: the grid has 1000000000 points (1000 × 1000 × 1000), more \
             than the limit of 1000000 points (MAX_SWEEP_POINTS)"
        );
        // So many axes that the product overflows any integer.
        let many: String = (0..14)
            .map(|i| format!("    workload.x{i}: [{axis}]\n"))
            .collect();
        let text2 = text.replace("    workload.gemm.m", &format!("{many}    workload.gemm.m"));
        let err = plan(&text2, "s.yaml").unwrap_err().to_string();
        assert!(err.contains("the grid has more than 10^38 points"), "{err}");
        // A small grid times many random samples.
        let text3 = format!(
            "{}  random: {{accelerator.rows: {{pow2: [8, 64]}}}}\n  samples: 20000\n",
            text.replace(&format!("    workload.gemm.k: [{axis}]\n"), "")
                .replace(&format!("[{axis}]"), "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]")
        );
        let err = plan(&text3, "s.yaml").unwrap_err().to_string();
        assert_eq!(
            err,
            "s.yaml:8:12: sweep.samples: 100 grid points × 20000 samples is 2000000 points, \
             more than the limit of 1000000 points (MAX_SWEEP_POINTS)"
        );
        let fits = parse(&text3.replace("20000", "1000"), "s.yaml").unwrap();
        assert_eq!(count(&fits, "s.yaml").unwrap(), 100_000);
        // A bad path in a grid is named and located.
        let err = parse(
            &text.replace("workload.gemm.m:", "workload.gemm[m]:"),
            "s.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("s.yaml:5:5: sweep.grid.workload.gemm[m]: bad config path"),
            "{err}"
        );
    }

    #[test]
    fn bad_generators_name_their_key() {
        for (from, to, want) in [
            (
                "cells: 40",
                "cells: 0",
                "sweep.grid.workload.model.nb201.cells: must be 1..=15625",
            ),
            ("cells: 40", "cells: 15626", "not 15626"),
            (
                "dataset: cifar100",
                "dataset: mnist",
                "sweep.grid.workload.model.nb201.dataset",
            ),
            (
                "seed: 3",
                "sed: 3",
                "sweep.grid.workload.model.nb201.sed: unknown field",
            ),
            (
                "{nb201: {",
                "{nb202: {",
                "sweep.grid.workload.model: must be a non-empty list",
            ),
            (
                "[eyeriss, nvdla_small]",
                "[]",
                "sweep.grid.accelerator.preset: must be",
            ),
        ] {
            let text = NB201_SWEEP.replace(from, to);
            let err = parse(&text, "s.yaml").unwrap_err().to_string();
            assert!(err.contains(want), "{err:?} lacks {want:?}");
        }
    }
}
