//! The Mélange study (`study: {kind: melange}`): the cheapest mix of GPU types that serves a
//! load within an SLO, against the best single type, for short conversational requests, long
//! documents and a mix (T. Griggs et al., "Mélange: Cost Efficient Large Language Model
//! Serving by Exploiting GPU Heterogeneity", arXiv:2404.14527, 2024: up to 77% / 33% / 51%
//! cheaper).
//!
//! For each dataset and GPU type, the capacity search of `archsim_serving` gives the largest
//! rate one replica serves within the SLO. As in Mélange, capacities add up: a fleet of `n_g`
//! replicas of each type serves `Σ n_g · cap_g`; the cheapest single type needs
//! `ceil(rate / cap_g)` replicas; the cheapest mix is found by enumerating the counts (at most
//! `max_count` per type). Both fleets are then simulated at the rate, routed by least
//! outstanding tokens over each replica's speed, to check that they meet the SLO.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use archsim_serving::config::{Lengths, SchedulerConfig, SloConfig};
use archsim_serving::{capacity, evaluate_rate, Fleet, ServingConfig};
use archsim_workloads::WorkloadConfig;

use crate::{Error, Study, StudyOutput, StudyRun};

/// The registry entry.
pub const STUDY: Study = Study {
    kind: "melange",
    about: "Mélange (arXiv:2404.14527): the cheapest mix of GPU types serving LLaMA-2-7B within an SLO",
    run: run_study,
    schema: crate::file_schema::<MelangeFile>,
    section: None,
    replot: None,
};

/// A candidate GPU type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GpuType {
    /// Its name in the tables.
    pub name: String,
    /// Its accelerator config.
    #[schemars(with = "archsim_accelerators::AcceleratorConfig")]
    pub accelerator: Map<String, Value>,
    /// $ per hour (public on-demand price).
    #[schemars(range(min = archsim_accelerators::ranges::MIN_COST_PER_HOUR, max = archsim_accelerators::ranges::MAX_COST_PER_HOUR))]
    pub cost_per_hour: f64,
}

/// A request-length dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Dataset {
    /// Its name.
    pub name: String,
    /// Prompt lengths.
    pub prompt_tokens: Lengths,
    /// Output lengths.
    pub output_tokens: Lengths,
    /// The saving the paper reports for this kind of dataset, %, for the table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub paper_saving_pct: Option<f64>,
}

/// `study: {kind: melange, ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MelangeStudy {
    /// `melange`.
    pub kind: String,
    /// The load to serve, requests/s (Poisson); or give several as `rates_rps`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = archsim_accelerators::ranges::MIN_RATE_RPS, max = archsim_accelerators::ranges::MAX_RATE_RPS))]
    pub rate_rps: Option<f64>,
    /// Loads to serve, requests/s (Poisson): the study is repeated at each, and the largest
    /// saving reported (the paper's figures sweep the rate).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(range(min = archsim_accelerators::ranges::MIN_RATE_RPS, max = archsim_accelerators::ranges::MAX_RATE_RPS)))]
    pub rates_rps: Vec<f64>,
    /// Requests per simulation.
    #[schemars(range(min = 1, max = archsim_serving::MAX_REQUESTS), extend("x-bound" = "MAX_REQUESTS: a run keeps every request in memory, about 150 bytes each"))]
    pub requests: u64,
    /// Seed of the traffic.
    #[serde(default)]
    pub seed: u64,
    /// The SLO.
    pub slo: SloConfig,
    /// The replica scheduler.
    #[serde(default)]
    pub scheduler: SchedulerConfig,
    /// Candidate GPU types.
    #[schemars(length(min = 1))]
    pub gpus: Vec<GpuType>,
    /// Datasets.
    #[schemars(length(min = 1))]
    pub datasets: Vec<Dataset>,
    /// Most replicas of one type in a mix.
    #[schemars(range(min = 1, max = 4096))]
    pub max_count: u32,
}

/// The study file.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MelangeFile {
    /// The study.
    pub study: MelangeStudy,
    /// The model: an `llm:` workload.
    pub workload: WorkloadConfig,
}

impl MelangeStudy {
    /// The loads the study serves: `rates_rps`, else `rate_rps`.
    pub fn rates(&self) -> Vec<f64> {
        if self.rates_rps.is_empty() {
            self.rate_rps.into_iter().collect()
        } else {
            self.rates_rps.clone()
        }
    }
}

fn serving_cfg(
    s: &MelangeStudy,
    d: &Dataset,
    pools: Vec<Value>,
    rate: f64,
) -> Result<ServingConfig, String> {
    let v = json!({
        "traffic": {"arrival": "poisson", "rate": rate, "requests": s.requests, "seed": s.seed,
                    "prompt_tokens": d.prompt_tokens, "output_tokens": d.output_tokens},
        "pools": pools,
        "scheduler": s.scheduler,
        "slo": s.slo,
        "capacity": {"requests": s.requests, "rel_tol": 0.02},
    });
    let c: ServingConfig = serde_json::from_value(v).map_err(|e| e.to_string())?;
    c.validate().map_err(|e| e.to_string())?;
    Ok(c)
}

fn pool(g: &GpuType, count: u32) -> Value {
    json!({"accelerator": g.accelerator, "count": count, "cost_per_hour": g.cost_per_hour, "name": g.name})
}

/// One load of one dataset.
#[derive(Debug, Clone, Serialize)]
pub struct RateResult {
    /// The load, requests/s.
    pub rate_rps: f64,
    /// Replicas and $/h of each single-type fleet (`None`: cannot meet the SLO).
    pub single: Vec<(String, Option<(u32, f64)>)>,
    /// The cheapest single type and its $/h.
    pub best_single: Option<(String, f64)>,
    /// The cheapest mix: replicas per type, and its $/h.
    pub mix: Option<(Vec<u32>, f64)>,
    /// 1 − mix / best single, %.
    pub saving_pct: Option<f64>,
    /// 1 − mix / each single type, % (`None`: the type cannot meet the SLO).
    pub saving_vs_each_pct: Vec<(String, Option<f64>)>,
    /// Simulated check at the rate: SLO attainment of the best single-type fleet and the mix.
    pub attainment: (Option<f64>, Option<f64>),
}

/// One dataset's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetResult {
    /// The dataset.
    pub dataset: String,
    /// Capacity of one replica of each type within the SLO, requests/s.
    pub capacity_rps: Vec<(String, f64)>,
    /// Each load.
    pub rates: Vec<RateResult>,
    /// The largest saving over the loads against the best single type: (rate, %).
    pub max_saving: Option<(f64, f64)>,
    /// The largest saving over the loads against any single type (how "up to" reads when
    /// every single-type fleet is a baseline): (rate, type, %).
    pub max_saving_any_single: Option<(f64, String, f64)>,
    /// The paper's figure ("up to"), %.
    pub paper_saving_pct: Option<f64>,
}

/// Runs the study.
pub fn run(f: &MelangeFile, base: &Path) -> Result<Vec<DatasetResult>, String> {
    let s = &f.study;
    let rates = s.rates();
    let first = rates.first().copied().unwrap_or(1.0);
    let cache = archsim_serving::PoolCache::default();
    let mut out = Vec::new();
    for d in &s.datasets {
        let mut caps = Vec::new();
        for g in &s.gpus {
            let cfg = serving_cfg(s, d, vec![pool(g, 1)], first)?;
            let fleet = Fleet::build_cached(&cfg, &f.workload, s.seed, base, false, Some(&cache))
                .map_err(|e| format!("{} on {}: {e}", d.name, g.name))?;
            let c = capacity(&fleet, &cfg, s.seed, base).map_err(|e| e.to_string())?;
            eprintln!(
                "{:<14} {:<6} one replica serves {:.3} requests/s within the SLO",
                d.name, g.name, c.rate_rps
            );
            caps.push(if c.feasible { c.rate_rps } else { 0.0 });
        }
        let mut per_rate = Vec::new();
        for (i, &rate) in rates.iter().enumerate() {
            let key = if s.rates_rps.is_empty() {
                "study.rate_rps".to_string()
            } else {
                format!("study.rates_rps[{i}]")
            };
            per_rate.push(at_rate(f, d, &caps, rate, &key, base, &cache)?);
        }
        let max_saving = per_rate
            .iter()
            .filter_map(|r| r.saving_pct.map(|p| (r.rate_rps, p)))
            .fold(None::<(f64, f64)>, |acc, x| match acc {
                Some(a) if a.1 >= x.1 => Some(a),
                _ => Some(x),
            });
        let max_saving_any_single = per_rate
            .iter()
            .flat_map(|r| {
                r.saving_vs_each_pct
                    .iter()
                    .filter_map(move |(g, p)| Some((r.rate_rps, g.clone(), (*p)?)))
            })
            .fold(None::<(f64, String, f64)>, |acc, x| match acc {
                Some(a) if a.2 >= x.2 => Some(a),
                _ => Some(x),
            });
        out.push(DatasetResult {
            dataset: d.name.clone(),
            capacity_rps: s.gpus.iter().map(|g| g.name.clone()).zip(caps).collect(),
            rates: per_rate,
            max_saving,
            max_saving_any_single,
            paper_saving_pct: d.paper_saving_pct,
        });
    }
    Ok(out)
}

/// The most mixes the study enumerates at one load: `(max_count + 1)` counts of each GPU type,
/// each mix priced in a few nanoseconds.
pub const MAX_MIXES: u64 = 10_000_000;

/// Checks what the study's sizes make it enumerate and simulate, before it runs: the mixes of
/// `max_count` replicas of every GPU type ([`MAX_MIXES`]).
pub fn check_sizes(s: &MelangeStudy) -> Result<(), String> {
    let mixes =
        (0..s.gpus.len()).try_fold(1u64, |acc, _| acc.checked_mul(u64::from(s.max_count) + 1));
    match mixes {
        Some(m) if m <= MAX_MIXES => Ok(()),
        _ => Err(format!(
            "study.max_count: up to {} replicas of each of {} GPU types is {} mixes to price, \
             more than the limit of {MAX_MIXES}: lower max_count or give fewer types",
            s.max_count,
            s.gpus.len(),
            mixes.map_or("more than 2^64".into(), |m| m.to_string()),
        )),
    }
}

/// The cheapest single type and the cheapest mix at one load, both simulated at the load.
/// `key` names the load in errors (`study.rates_rps[1]`).
fn at_rate(
    f: &MelangeFile,
    d: &Dataset,
    caps: &[f64],
    rate: f64,
    key: &str,
    base: &Path,
    cache: &archsim_serving::PoolCache,
) -> Result<RateResult, String> {
    let s = &f.study;
    let single: Vec<(String, Option<(u32, f64)>)> = s
        .gpus
        .iter()
        .zip(caps)
        .map(|(g, &c)| {
            // Past u32::MAX replicas the count saturates (such a fleet is refused below,
            // before anything is simulated).
            let n = (c > 0.0).then(|| u32::try_from((rate / c).ceil() as u64).unwrap_or(u32::MAX));
            (g.name.clone(), n.map(|n| (n, n as f64 * g.cost_per_hour)))
        })
        .collect();
    let best_single = single
        .iter()
        .filter_map(|(n, c)| c.map(|(_, cost)| (n.clone(), cost)))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    // Enumerate the mixes.
    let k = s.gpus.len();
    let mut best: Option<(Vec<u32>, f64)> = None;
    let mut counts = vec![0u32; k];
    loop {
        let cap: f64 = counts.iter().zip(caps).map(|(&n, &c)| n as f64 * c).sum();
        let cost: f64 = counts
            .iter()
            .zip(&s.gpus)
            .map(|(&n, g)| n as f64 * g.cost_per_hour)
            .sum();
        if cap >= rate && best.as_ref().is_none_or(|b| cost < b.1 - 1e-9) {
            best = Some((counts.clone(), cost));
        }
        let mut i = 0;
        while i < k {
            counts[i] += 1;
            if counts[i] <= s.max_count {
                break;
            }
            counts[i] = 0;
            i += 1;
        }
        if i == k {
            break;
        }
    }
    // A single type beyond `max_count` replicas is cheaper than any mix found: it is the mix.
    // The replica counts of the cheapest single type: its count, 0 for every other type.
    let single_counts: Option<Vec<u32>> = best_single.as_ref().map(|(name, _)| {
        s.gpus
            .iter()
            .zip(&single)
            .map(|(g, (_, c))| {
                if &g.name == name {
                    c.map_or(0, |c| c.0)
                } else {
                    0
                }
            })
            .collect()
    });
    if let (Some((_, cost)), Some(counts), mix) = (&best_single, &single_counts, &best) {
        if mix.as_ref().is_none_or(|m| *cost < m.1 - 1e-9) {
            best = Some((counts.clone(), *cost));
        }
    }
    let simulate = |counts: &[u32]| -> Result<Option<f64>, String> {
        let pools: Vec<Value> = s
            .gpus
            .iter()
            .zip(counts)
            .filter(|(_, &n)| n > 0)
            .map(|(g, &n)| pool(g, n))
            .collect();
        if pools.is_empty() {
            return Ok(None);
        }
        let cfg = serving_cfg(s, d, pools, rate)?;
        let fleet = Fleet::build_cached(&cfg, &f.workload, s.seed, base, false, Some(cache))
            .map_err(|e| e.to_string())?;
        let r = evaluate_rate(&fleet, &cfg, s.seed, base, None, None).map_err(|e| e.to_string())?;
        Ok(Some(r.slo_attainment))
    };
    if let (Some((name, _)), Some(counts)) = (&best_single, &single_counts) {
        let n: u64 = counts.iter().map(|&c| u64::from(c)).sum();
        if n > u64::from(archsim_serving::MAX_REPLICAS) {
            return Err(format!(
                "{key}: {rate} requests/s takes {n} replicas of {name} (the cheapest type), more \
                 than the {} one simulated fleet may have: lower the rate",
                archsim_serving::MAX_REPLICAS
            ));
        }
    }
    let att_single = match &single_counts {
        Some(c) => simulate(c)?,
        None => None,
    };
    let att_mix = match &best {
        Some((c, _)) if Some(c) == single_counts.as_ref() => att_single,
        Some((c, _)) => simulate(c)?,
        None => None,
    };
    let saving = match (&best_single, &best) {
        (Some((_, a)), Some((_, b))) if *a > 0.0 => Some((1.0 - b / a) * 100.0),
        _ => None,
    };
    let saving_vs_each_pct = single
        .iter()
        .map(|(g, c)| {
            let p = match (c, &best) {
                (Some((_, a)), Some((_, b))) if *a > 0.0 => Some((1.0 - b / a) * 100.0),
                _ => None,
            };
            (g.clone(), p)
        })
        .collect();
    Ok(RateResult {
        rate_rps: rate,
        saving_vs_each_pct,
        single,
        best_single,
        mix: best,
        saving_pct: saving,
        attainment: (att_single, att_mix),
    })
}

fn write(f: &MelangeFile, r: &[DatasetResult], dir: &Path) -> Result<(), String> {
    crate::files::create_dir(dir).map_err(|e| e.to_string())?;
    let names: Vec<&str> = f.study.gpus.iter().map(|g| g.name.as_str()).collect();
    let mut csv = String::from("dataset,gpu,capacity_rps_per_replica\n");
    for d in r {
        for (g, c) in &d.capacity_rps {
            csv += &format!("{},{g},{c:.4}\n", d.dataset);
        }
    }
    crate::files::write(&dir.join("capacity.csv"), csv).map_err(|e| e.to_string())?;
    let o = |v: Option<f64>, p: usize| v.map_or(String::new(), |v| format!("{v:.p$}"));
    let mix_text = |m: &Option<(Vec<u32>, f64)>| {
        m.as_ref().map_or(String::new(), |(c, _)| {
            names
                .iter()
                .zip(c)
                .filter(|(_, &n)| n > 0)
                .map(|(g, n)| format!("{n}x{g}"))
                .collect::<Vec<_>>()
                .join(" + ")
        })
    };
    let mut sum = String::from(
        "dataset,rate_rps,best_single,best_single_cost_per_hour,mix,mix_cost_per_hour,saving_pct,slo_attainment_single,slo_attainment_mix\n",
    );
    for d in r {
        for x in &d.rates {
            let best = x.best_single.as_ref().map(|b| {
                let n = x
                    .single
                    .iter()
                    .find(|(g, _)| *g == b.0)
                    .and_then(|(_, c)| c.map(|c| c.0))
                    .unwrap_or(0);
                format!("{n}x{}", b.0)
            });
            sum += &format!(
                "{},{},{},{},{},{},{},{},{}\n",
                d.dataset,
                x.rate_rps,
                best.unwrap_or_default(),
                o(x.best_single.as_ref().map(|b| b.1), 3),
                mix_text(&x.mix),
                o(x.mix.as_ref().map(|m| m.1), 3),
                o(x.saving_pct, 1),
                o(x.attainment.0, 4),
                o(x.attainment.1, 4),
            );
        }
    }
    crate::files::write(&dir.join("summary.csv"), sum).map_err(|e| e.to_string())?;
    let mut max = String::from(
        "dataset,rate_rps,max_saving_vs_best_single_pct,rate_rps_any,vs_single_type,max_saving_vs_any_single_pct,paper_saving_pct\n",
    );
    for d in r {
        let any = d.max_saving_any_single.as_ref();
        max += &format!(
            "{},{},{},{},{},{},{}\n",
            d.dataset,
            d.max_saving.map_or(String::new(), |m| m.0.to_string()),
            o(d.max_saving.map(|m| m.1), 1),
            any.map_or(String::new(), |m| m.0.to_string()),
            any.map_or("", |m| m.1.as_str()),
            o(any.map(|m| m.2), 1),
            o(d.paper_saving_pct, 0),
        );
    }
    crate::files::write(&dir.join("max_saving.csv"), max).map_err(|e| e.to_string())?;
    let j = serde_json::to_string_pretty(r).map_err(|e| e.to_string())?;
    crate::files::write(&dir.join("summary.json"), j + "\n").map_err(|e| e.to_string())?;
    let model = f.workload.llm.as_ref().map_or("", |l| l.model.as_str());
    // Bars at each dataset's load of largest saving (the first load when none).
    let groups: Vec<crate::plot::BarGroup> = r
        .iter()
        .filter_map(|d| {
            let x = d
                .rates
                .iter()
                .find(|x| d.max_saving.is_some_and(|m| m.0 == x.rate_rps))
                .or(d.rates.first())?;
            let mut bars = Vec::new();
            for (g, s) in &x.single {
                if let Some((_, c)) = s {
                    bars.push((format!("{g} only"), *c));
                }
            }
            if let Some((_, c)) = &x.mix {
                bars.push(("cheapest mix".into(), *c));
            }
            Some((format!("{} @ {} req/s", d.dataset, x.rate_rps), bars))
        })
        .collect();
    // One load: the bars are at it; several: at each dataset's load of largest saving.
    let title = if f.study.rates().len() > 1 {
        format!("{model} within the SLO, each dataset at its load of largest saving: fleet cost")
    } else {
        format!("{model} within the SLO: fleet cost per dataset")
    };
    crate::plot::grouped_bars(&groups, &title, "fleet cost ($/h)", dir, "cost")?;
    if f.study.rates().len() > 1 {
        let curves: Vec<crate::plot::Curve> = r
            .iter()
            .map(|d| {
                (
                    d.dataset.clone(),
                    d.rates
                        .iter()
                        .filter_map(|x| Some((x.rate_rps, x.saving_pct?)))
                        .collect(),
                )
            })
            .collect();
        crate::plot::lines(
            &curves,
            &format!("{model}: cheapest mix vs best single GPU type, by load"),
            "load (requests/s)",
            "saving of the mix (%)",
            dir,
            "saving_vs_rate",
        )?;
    }
    Ok(())
}

/// `archsim run` on a Mélange study file.
pub fn run_study(inv: &StudyRun<'_>) -> Result<StudyOutput, Error> {
    let bad = |message: String| inv.error(message);
    let f: MelangeFile = inv.typed()?;
    // Each GPU type's device, checked as its own section (the fleets' pools are built from it).
    for (i, g) in f.study.gpus.iter().enumerate() {
        archsim_accelerators::AcceleratorConfig::from_map(g.accelerator.clone())
            .map_err(|e| inv.key_error(&format!("study.gpus.{i}.{}", e.key()), e.message))?;
    }
    check_sizes(&f.study).map_err(bad)?;
    if f.study.gpus.is_empty() || f.study.datasets.is_empty() {
        return Err(bad("give at least one GPU type and one dataset".into()));
    }
    if f.study.rates().is_empty() {
        return Err(bad(
            "study.rates_rps: give the load(s) to serve (rates_rps or rate_rps)".into(),
        ));
    }
    if let Some(r) = f
        .study
        .rates()
        .iter()
        .find(|r| !(r.is_finite() && **r > 0.0))
    {
        return Err(bad(format!("study.rates_rps: {r} is not a positive rate")));
    }
    let r = run(&f, inv.base).map_err(bad)?;
    // The messages name the file.
    write(&f, &r, &inv.dir).map_err(Error::File)?;
    let mut text = String::new();
    for d in &r {
        for x in &d.rates {
            text += &format!(
                "{:<14} {:>6} req/s  best single {:<20} cheapest mix ${:>8.2}/h  saving {:>5.1}%\n",
                d.dataset,
                x.rate_rps,
                x.best_single
                    .as_ref()
                    .map_or("none".into(), |b| format!("{} ${:.2}/h", b.0, b.1)),
                x.mix.as_ref().map_or(f64::NAN, |m| m.1),
                x.saving_pct.unwrap_or(f64::NAN),
            );
        }
        text += &format!(
            "{:<14} largest saving vs the best single type {}, vs any single type {} (paper: up to {}%)\n",
            d.dataset,
            d.max_saving
                .map_or("none".into(), |m| format!("{:.1}% at {} req/s", m.1, m.0)),
            d.max_saving_any_single
                .as_ref()
                .map_or("none".into(), |m| format!("{:.1}% ({} only, {} req/s)", m.2, m.1, m.0)),
            d.paper_saving_pct.map_or("?".into(), |p| p.to_string()),
        );
    }
    let mut files = vec![
        "capacity.csv",
        "summary.csv",
        "max_saving.csv",
        "summary.json",
        "cost.png",
        "cost.svg",
    ];
    if f.study.rates().len() > 1 {
        files.extend(["saving_vs_rate.png", "saving_vs_rate.svg"]);
    }
    Ok(StudyOutput {
        json: serde_json::to_value(&r).unwrap_or_default(),
        text,
        files: files.iter().map(|f| inv.dir.join(f)).collect(),
    })
}
