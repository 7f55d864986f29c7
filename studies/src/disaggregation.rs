//! The disaggregation study (`study: {kind: disaggregation}`): prefill/decode on separate
//! replicas (DistServe, Splitwise) against co-located replicas of the same GPUs at equal cost,
//! SLO attainment and goodput (requests/s meeting a TTFT + TPOT SLO) over a range of rates.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use archsim_serving::config::{Lengths, SchedulerConfig, SloConfig};
use archsim_serving::{evaluate_rate, Fleet, ServingConfig};
use archsim_workloads::WorkloadConfig;

use crate::{Error, Study, StudyOutput, StudyRun};

/// The registry entry.
pub const STUDY: Study = Study {
    kind: "disaggregation",
    about: "DistServe / Splitwise: prefill/decode disaggregated vs co-located replicas, SLO goodput over rates",
    run: run_study,
    schema: crate::file_schema::<DisaggFile>,
    section: None,
    replot: None,
};

/// `study: {kind: disaggregation, ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DisaggStudy {
    /// `disaggregation`.
    pub kind: String,
    /// One device of every replica.
    #[schemars(with = "archsim_accelerators::AcceleratorConfig")]
    pub accelerator: Map<String, Value>,
    /// Replicas co-located; the disaggregated fleet splits the same number.
    #[schemars(range(min = 2, max = 65536))]
    pub replicas: u32,
    /// Prefill replicas of the disaggregated fleet (the rest decode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub prefill_replicas: Option<u32>,
    /// Several splits to compare (prefill replicas of each disaggregated fleet; overrides
    /// `prefill_replicas`). Per rate the best of them is what DistServe's placement search
    /// would pick.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(range(min = 1, max = 65535)))]
    pub prefill_splits: Vec<u32>,
    /// The prefill → decode link, GB/s.
    #[schemars(range(min = archsim_accelerators::ranges::MIN_GB_S, max = archsim_accelerators::ranges::MAX_GB_S))]
    pub link_gb_s: f64,
    /// Arrival rates to evaluate, requests/s.
    #[schemars(length(min = 1), inner(range(min = archsim_accelerators::ranges::MIN_RATE_RPS, max = archsim_accelerators::ranges::MAX_RATE_RPS)))]
    pub rates_rps: Vec<f64>,
    /// Requests per rate.
    #[schemars(range(min = 1, max = archsim_serving::MAX_REQUESTS), extend("x-bound" = "MAX_REQUESTS: a run keeps every request in memory, about 150 bytes each"))]
    pub requests: u64,
    /// Seed.
    #[serde(default)]
    pub seed: u64,
    /// Prompt lengths.
    pub prompt_tokens: Lengths,
    /// Output lengths.
    pub output_tokens: Lengths,
    /// The SLO.
    pub slo: SloConfig,
    /// The replica scheduler (both fleets).
    #[serde(default)]
    pub scheduler: SchedulerConfig,
}

/// The study file.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DisaggFile {
    /// The study.
    pub study: DisaggStudy,
    /// The model: an `llm:` workload.
    pub workload: WorkloadConfig,
}

/// One rate on one fleet.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// `colocated` or `disaggregated`.
    pub fleet: String,
    /// Requests/s.
    pub rate_rps: f64,
    /// Fraction of requests meeting the SLO.
    pub slo_attainment: f64,
    /// Requests/s meeting the SLO.
    pub goodput_rps: f64,
    /// TTFT p90, s.
    pub ttft_p90_s: f64,
    /// TPOT p99, s.
    pub tpot_p99_s: f64,
}

fn cfg(s: &DisaggStudy, pools: Value) -> Result<ServingConfig, String> {
    let v = json!({
        "traffic": {"rate": s.rates_rps.first().copied().unwrap_or(1.0), "requests": s.requests,
                    "seed": s.seed, "prompt_tokens": s.prompt_tokens, "output_tokens": s.output_tokens},
        "pools": pools,
        "scheduler": s.scheduler,
        "slo": s.slo,
        "kv_transfer": {"link_gb_s": s.link_gb_s},
    });
    let c: ServingConfig = serde_json::from_value(v).map_err(|e| e.to_string())?;
    c.validate().map_err(|e| e.to_string())?;
    Ok(c)
}

/// Where the best disaggregated split's goodput crosses the co-located fleet's.
#[derive(Debug, Clone, Serialize)]
pub struct Crossover {
    /// The rate, requests/s, interpolated linearly between the two evaluated rates around it.
    pub rate_rps: f64,
    /// Which fleet has the higher goodput above this rate.
    pub above: String,
}

/// The study's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct DisaggResult {
    /// Every fleet at every rate (`best split` rows: per rate the split of highest goodput).
    pub rows: Vec<Row>,
    /// Crossovers of the best split's goodput with the co-located fleet's.
    pub crossovers: Vec<Crossover>,
    /// Per fleet, the highest evaluated rate with at least 90% of requests within the SLO
    /// (DistServe's goodput definition; 0 when none).
    pub rate_at_90pct_rps: Vec<(String, f64)>,
}

/// The splits the study compares.
fn splits(s: &DisaggStudy) -> Result<Vec<u32>, String> {
    let v = if s.prefill_splits.is_empty() {
        s.prefill_replicas.into_iter().collect::<Vec<_>>()
    } else {
        s.prefill_splits.clone()
    };
    if v.is_empty() {
        return Err("study.prefill_splits: give the prefill replicas of the disaggregated fleet (prefill_replicas or prefill_splits)".into());
    }
    if let Some(p) = v.iter().find(|&&p| p == 0 || p >= s.replicas) {
        return Err(format!(
            "study.prefill_splits: {p} prefill replicas of {}: must be between 1 and replicas - 1",
            s.replicas
        ));
    }
    Ok(v)
}

/// The name of a disaggregated fleet with `p` prefill replicas of `n`.
fn split_name(p: u32, n: u32) -> String {
    format!("disaggregated {p}P+{}D", n - p)
}

/// Runs the study.
pub fn run(f: &DisaggFile, base: &Path) -> Result<DisaggResult, String> {
    let s = &f.study;
    let splits = splits(s)?;
    let acc = Value::Object(s.accelerator.clone());
    let mut fleets = vec![(
        "colocated".to_string(),
        json!([{"accelerator": acc, "count": s.replicas, "name": "colocated"}]),
    )];
    for &p in &splits {
        fleets.push((
            split_name(p, s.replicas),
            json!([
                {"accelerator": acc, "count": p, "role": "prefill", "name": "prefill"},
                {"accelerator": acc, "count": s.replicas - p, "role": "decode", "name": "decode"}
            ]),
        ));
    }
    let cache = archsim_serving::PoolCache::default();
    let mut rows = Vec::new();
    for (name, pools) in fleets {
        let c = cfg(s, pools)?;
        let fleet = Fleet::build_cached(&c, &f.workload, s.seed, base, false, Some(&cache))
            .map_err(|e| e.to_string())?;
        for &rate in &s.rates_rps {
            let r = evaluate_rate(&fleet, &c, s.seed, base, Some(rate), None)
                .map_err(|e| e.to_string())?;
            rows.push(Row {
                fleet: name.clone(),
                rate_rps: rate,
                slo_attainment: r.slo_attainment,
                goodput_rps: r.goodput_rps,
                ttft_p90_s: r.ttft_s.p90,
                tpot_p99_s: r.tpot_s.p99,
            });
        }
    }
    // Per rate, the split of highest goodput (the first of equals).
    let mut best = Vec::new();
    for &rate in &s.rates_rps {
        let b = rows
            .iter()
            .filter(|r| r.fleet != "colocated" && r.rate_rps == rate)
            .fold(None::<&Row>, |acc, r| match acc {
                Some(a) if a.goodput_rps >= r.goodput_rps => Some(a),
                _ => Some(r),
            });
        if let Some(b) = b {
            best.push(Row {
                fleet: format!(
                    "best split ({})",
                    b.fleet.trim_start_matches("disaggregated ")
                ),
                ..b.clone()
            });
        }
    }
    let coloc: Vec<&Row> = rows.iter().filter(|r| r.fleet == "colocated").collect();
    let mut crossovers = Vec::new();
    let diff: Vec<(f64, f64)> = coloc
        .iter()
        .zip(&best)
        .map(|(c, b)| (c.rate_rps, b.goodput_rps - c.goodput_rps))
        .collect();
    for w in diff.windows(2) {
        let ((r0, d0), (r1, d1)) = (w[0], w[1]);
        if d0 != 0.0 && d1 != 0.0 && (d0 > 0.0) != (d1 > 0.0) {
            crossovers.push(Crossover {
                rate_rps: r0 + (r1 - r0) * d0.abs() / (d0.abs() + d1.abs()),
                above: if d1 > 0.0 {
                    "disaggregated".into()
                } else {
                    "colocated".into()
                },
            });
        }
    }
    rows.extend(best);
    let mut names: Vec<String> = Vec::new();
    for r in &rows {
        let n = if r.fleet.starts_with("best split") {
            "best split".to_string()
        } else {
            r.fleet.clone()
        };
        if !names.contains(&n) {
            names.push(n);
        }
    }
    let rate_at_90pct_rps = names
        .into_iter()
        .map(|n| {
            let top = rows
                .iter()
                .filter(|r| r.fleet.starts_with(&n) && r.slo_attainment >= 0.9)
                .map(|r| r.rate_rps)
                .fold(0.0, f64::max);
            (n, top)
        })
        .collect();
    Ok(DisaggResult {
        rows,
        crossovers,
        rate_at_90pct_rps,
    })
}

fn write(res: &DisaggResult, dir: &Path) -> Result<(), String> {
    let rows = &res.rows;
    crate::files::create_dir(dir).map_err(|e| e.to_string())?;
    let mut csv = String::from("fleet,rate_rps,slo_attainment,goodput_rps,ttft_p90_s,tpot_p99_s\n");
    for r in rows {
        csv += &format!(
            "{},{},{:.4},{:.4},{:.6},{:.6}\n",
            r.fleet, r.rate_rps, r.slo_attainment, r.goodput_rps, r.ttft_p90_s, r.tpot_p99_s
        );
    }
    crate::files::write(&dir.join("results.csv"), csv).map_err(|e| e.to_string())?;
    let mut csv = String::from("crossover_rate_rps,higher_goodput_above\n");
    for c in &res.crossovers {
        csv += &format!("{:.3},{}\n", c.rate_rps, c.above);
    }
    crate::files::write(&dir.join("crossover.csv"), csv).map_err(|e| e.to_string())?;
    // The fleets themselves (the best-split rows repeat one of them per rate).
    let mut names: Vec<&str> = Vec::new();
    for r in rows.iter().filter(|r| !r.fleet.starts_with("best split")) {
        if !names.contains(&r.fleet.as_str()) {
            names.push(&r.fleet);
        }
    }
    let curves = |f: &dyn Fn(&Row) -> f64| -> Vec<crate::plot::Curve> {
        let mut c: Vec<crate::plot::Curve> = names
            .iter()
            .map(|n| {
                (
                    n.to_string(),
                    rows.iter()
                        .filter(|r| r.fleet == *n)
                        .map(|r| (r.rate_rps, f(r)))
                        .collect(),
                )
            })
            .collect();
        // Each crossover as a vertical line over the curves' positive range.
        let ys = c.iter().flat_map(|c| c.1.iter().map(|p| p.1));
        let (lo, hi) = ys.fold((f64::MAX, 0.0f64), |(lo, hi), y| {
            (if y > 0.0 { lo.min(y) } else { lo }, hi.max(y))
        });
        if lo < f64::MAX {
            for x in &res.crossovers {
                c.push((
                    format!("crossover {:.1} req/s", x.rate_rps),
                    vec![(x.rate_rps, lo), (x.rate_rps, hi)],
                ));
            }
        }
        c
    };
    let title = |what: &str| {
        if res.crossovers.is_empty() {
            format!("{what}: disaggregated splits vs co-located, same GPUs (no crossover)")
        } else {
            format!("{what}: disaggregated splits vs co-located, same GPUs")
        }
    };
    crate::plot::lines(
        &curves(&|r| r.slo_attainment * 100.0),
        &title("SLO attainment"),
        "arrival rate (requests/s)",
        "requests meeting the TTFT and TPOT SLO (%)",
        dir,
        "attainment_vs_rate",
    )?;
    crate::plot::lines(
        &curves(&|r| r.goodput_rps),
        &title("goodput"),
        "arrival rate (requests/s)",
        "goodput (requests/s meeting the SLO)",
        dir,
        "goodput_vs_rate",
    )
}

/// `archsim run` on a disaggregation study file.
pub fn run_study(inv: &StudyRun<'_>) -> Result<StudyOutput, Error> {
    let bad = |message: String| inv.error(message);
    let f: DisaggFile = inv.typed()?;
    // The replicas' device, checked as its own section (each fleet's pools are built from it).
    archsim_accelerators::AcceleratorConfig::from_map(f.study.accelerator.clone())
        .map_err(|e| inv.key_error(&format!("study.{}", e.key()), e.message))?;
    let res = run(&f, inv.base).map_err(bad)?;
    // The messages name the file.
    write(&res, &inv.dir).map_err(Error::File)?;
    let mut text = String::new();
    for r in &res.rows {
        text += &format!(
            "{:<14} {:>6.2} req/s  attainment {:>5.1}%  goodput {:>6.2} req/s  TTFT p90 {:.3} s  TPOT p99 {:.4} s\n",
            r.fleet,
            r.rate_rps,
            r.slo_attainment * 100.0,
            r.goodput_rps,
            r.ttft_p90_s,
            r.tpot_p99_s
        );
    }
    for (n, r) in &res.rate_at_90pct_rps {
        text += &format!("{n:<24} highest rate with >= 90% within the SLO: {r} req/s\n");
    }
    if res.crossovers.is_empty() {
        text += "no crossover: one fleet has the higher goodput at every rate (or they tie)\n";
    }
    for c in &res.crossovers {
        text += &format!(
            "crossover at {:.2} req/s: {} has the higher goodput above it\n",
            c.rate_rps, c.above
        );
    }
    Ok(StudyOutput {
        json: serde_json::to_value(&res).unwrap_or_default(),
        text,
        files: [
            "results.csv",
            "crossover.csv",
            "attainment_vs_rate.png",
            "attainment_vs_rate.svg",
            "goodput_vs_rate.png",
            "goodput_vs_rate.svg",
        ]
        .iter()
        .map(|f| inv.dir.join(f))
        .collect(),
    })
}
