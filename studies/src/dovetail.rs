//! The speculative-decoding study (`study: {kind: dovetail}`): where drafting on the CPU pays
//! (Dovetail: the draft model on the CPU, the target on the GPU) and where it does not, over
//! the acceptance rate α and the draft length k, against plain decoding and against the same
//! draft on the target's own device.
//!
//! Every point is one serving run of the same traffic on one replica of the target
//! (`archsim_serving::speculative`); the speedup is plain decoding's mean TPOT over the
//! speculative run's.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use archsim_serving::config::{Lengths, SchedulerConfig};
use archsim_serving::{evaluate_rate, Fleet, ServingConfig};
use archsim_workloads::WorkloadConfig;


use crate::{Error, Study, StudyOutput, StudyRun};

/// The registry entry.
pub const STUDY: Study = Study {
    kind: "dovetail",
    about: "Dovetail: speculative decoding with the draft on the CPU and the target on the GPU, over acceptance and draft length",
    run: run_study,
    schema: crate::file_schema::<DovetailFile>,
    section: None,
    replot: None,
};

/// A device the draft runs on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    /// Its label (e.g. `CPU`).
    pub name: String,
    /// The device.
    #[schemars(with = "archsim_accelerators::AcceleratorConfig")]
    pub accelerator: Map<String, Value>,
}

/// `study: {kind: dovetail, ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DovetailStudy {
    /// `dovetail`.
    pub kind: String,
    /// The target's device (one replica).
    #[schemars(with = "archsim_accelerators::AcceleratorConfig")]
    pub accelerator: Map<String, Value>,
    /// The draft model (a zoo name).
    pub draft_model: String,
    /// Its layers (default: the model's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 4096))]
    pub draft_layers: Option<u64>,
    /// Where the draft runs.
    #[schemars(length(min = 1))]
    pub placements: Vec<Placement>,
    /// Acceptance rates.
    #[schemars(length(min = 1), inner(range(min = 0, max = 1)))]
    pub acceptance: Vec<f64>,
    /// Draft lengths.
    #[schemars(length(min = 1), inner(range(min = 1, max = 64)))]
    pub tokens: Vec<u32>,
    /// Offered rate, requests/s.
    #[schemars(range(min = archsim_accelerators::ranges::MIN_RATE_RPS, max = archsim_accelerators::ranges::MAX_RATE_RPS))]
    pub rate_rps: f64,
    /// Requests per point.
    #[schemars(range(min = 1, max = archsim_serving::MAX_REQUESTS))]
    pub requests: u64,
    /// Seed.
    #[serde(default)]
    pub seed: u64,
    /// Prompt lengths.
    pub prompt_tokens: Lengths,
    /// Output lengths.
    pub output_tokens: Lengths,
    /// The replica scheduler.
    #[serde(default)]
    pub scheduler: SchedulerConfig,
}

/// The study file.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DovetailFile {
    /// The study.
    pub study: DovetailStudy,
    /// The target model: an `llm:` workload.
    pub workload: WorkloadConfig,
}

/// One point.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Where the draft ran.
    pub placement: String,
    /// Draft length.
    pub k: u32,
    /// Acceptance rate.
    pub alpha: f64,
    /// Mean TPOT, s.
    pub tpot_mean_s: f64,
    /// Plain decoding's mean TPOT over this one's.
    pub speedup: f64,
    /// Tokens per verification round.
    pub tokens_per_round: f64,
    /// Output tokens/s.
    pub tokens_per_s: f64,
}

/// The study's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct DovetailResult {
    /// Plain decoding's mean TPOT, s.
    pub plain_tpot_mean_s: f64,
    /// Every point.
    pub rows: Vec<Row>,
    /// Per placement and k, the lowest evaluated α at which drafting pays (speedup > 1), if
    /// any.
    pub pays_from: Vec<(String, u32, Option<f64>)>,
}

fn cfg(s: &DovetailStudy, spec: Option<Value>) -> Result<ServingConfig, String> {
    let mut v = json!({
        "traffic": {"rate": s.rate_rps, "requests": s.requests, "seed": s.seed,
                    "prompt_tokens": s.prompt_tokens, "output_tokens": s.output_tokens},
        "pools": [{"accelerator": Value::Object(s.accelerator.clone()), "count": 1}],
        "scheduler": s.scheduler,
    });
    if let Some(sp) = spec {
        v["speculative"] = sp;
    }
    let c: ServingConfig = serde_json::from_value(v).map_err(|e| e.to_string())?;
    c.validate().map_err(|e| e.to_string())?;
    Ok(c)
}

/// Runs the study.
pub fn run(f: &DovetailFile, base: &Path) -> Result<DovetailResult, String> {
    let s = &f.study;
    let plain_cfg = cfg(s, None)?;
    let cache = archsim_serving::PoolCache::default();
    let fleet = Fleet::build_cached(&plain_cfg, &f.workload, s.seed, base, false, Some(&cache))
        .map_err(|e| e.to_string())?;
    let plain = evaluate_rate(&fleet, &plain_cfg, s.seed, base, None, None)
        .map_err(|e| e.to_string())?;
    let base_tpot = plain.tpot_s.mean;
    let mut rows = Vec::new();
    for p in &s.placements {
        // The draft's price does not depend on k or α: build the fleet once per placement.
        let spec = |k: u32, a: f64| {
            json!({"draft": {"model": s.draft_model, "layers": s.draft_layers,
                             "accelerator": Value::Object(p.accelerator.clone())},
                   "tokens": k, "acceptance": a})
        };
        let c0 = cfg(s, Some(spec(s.tokens[0], s.acceptance[0])))?;
        let fleet = Fleet::build_cached(&c0, &f.workload, s.seed, base, false, Some(&cache))
            .map_err(|e| format!("study.placements ({}): {e}", p.name))?;
        for &k in &s.tokens {
            for &a in &s.acceptance {
                let c = cfg(s, Some(spec(k, a)))?;
                let r = evaluate_rate(&fleet, &c, s.seed, base, None, None)
                    .map_err(|e| e.to_string())?;
                let sp = r.pools[0].speculative.as_ref();
                rows.push(Row {
                    placement: p.name.clone(),
                    k,
                    alpha: a,
                    tpot_mean_s: r.tpot_s.mean,
                    speedup: if r.tpot_s.mean > 0.0 {
                        base_tpot / r.tpot_s.mean
                    } else {
                        0.0
                    },
                    tokens_per_round: sp.map_or(0.0, |x| x.tokens_per_round),
                    tokens_per_s: r.tokens_per_s,
                });
            }
        }
    }
    let mut pays_from = Vec::new();
    for p in &s.placements {
        for &k in &s.tokens {
            let first = rows
                .iter()
                .filter(|r| r.placement == p.name && r.k == k && r.speedup > 1.0)
                .map(|r| r.alpha)
                .fold(None, |m: Option<f64>, a| Some(m.map_or(a, |m| m.min(a))));
            pays_from.push((p.name.clone(), k, first));
        }
    }
    Ok(DovetailResult {
        plain_tpot_mean_s: base_tpot,
        rows,
        pays_from,
    })
}

fn write(res: &DovetailResult, dir: &Path) -> Result<(), String> {
    crate::files::create_dir(dir).map_err(|e| e.to_string())?;
    let mut csv = String::from("placement,k,alpha,tpot_mean_s,speedup,tokens_per_round,tokens_per_s\n");
    for r in &res.rows {
        csv += &format!(
            "{},{},{},{:.6},{:.4},{:.4},{:.2}\n",
            r.placement, r.k, r.alpha, r.tpot_mean_s, r.speedup, r.tokens_per_round, r.tokens_per_s
        );
    }
    crate::files::write(&dir.join("results.csv"), csv).map_err(|e| e.to_string())?;
    let mut csv = String::from("placement,k,pays_from_alpha,plain_tpot_mean_s\n");
    for (p, k, a) in &res.pays_from {
        csv += &format!(
            "{p},{k},{},{:.6}\n",
            a.map_or("never".to_string(), |a| a.to_string()),
            res.plain_tpot_mean_s
        );
    }
    crate::files::write(&dir.join("pays_from.csv"), csv).map_err(|e| e.to_string())?;
    let mut curves: Vec<crate::plot::Curve> = Vec::new();
    for r in &res.rows {
        let name = format!("{} k={}", r.placement, r.k);
        match curves.iter_mut().find(|c| c.0 == name) {
            Some(c) => c.1.push((r.alpha, r.speedup)),
            None => curves.push((name, vec![(r.alpha, r.speedup)])),
        }
    }
    // Plain decoding: speedup 1 across the α range.
    let (lo, hi) = res
        .rows
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), r| (lo.min(r.alpha), hi.max(r.alpha)));
    if lo <= hi {
        curves.push(("plain decoding".into(), vec![(lo, 1.0), (hi, 1.0)]));
    }
    crate::plot::lines(
        &curves,
        "speculative decoding: TPOT speedup over plain decoding",
        "acceptance rate α",
        "plain TPOT / speculative TPOT",
        dir,
        "speedup_vs_acceptance",
    )
}

/// `archsim run` on a Dovetail study file.
pub fn run_study(inv: &StudyRun<'_>) -> Result<StudyOutput, Error> {
    let f: DovetailFile = inv.typed()?;
    if archsim_workloads::llm::spec(&f.study.draft_model).is_none() {
        return Err(inv.key_error(
            "study.draft_model",
            format!(
                "unknown model `{}`; known: {}",
                f.study.draft_model,
                archsim_workloads::llm::MODELS.join(", ")
            ),
        ));
    }
    archsim_accelerators::AcceleratorConfig::from_map(f.study.accelerator.clone())
        .map_err(|e| inv.key_error(&format!("study.{}", e.key()), e.message))?;
    for (i, p) in f.study.placements.iter().enumerate() {
        archsim_accelerators::AcceleratorConfig::from_map(p.accelerator.clone()).map_err(|e| {
            inv.key_error(&format!("study.placements.{i}.accelerator.{}", e.key()), e.message)
        })?;
    }
    let res = run(&f, inv.base).map_err(|m| inv.error(m))?;
    write(&res, &inv.dir).map_err(Error::File)?;
    let mut text = format!("plain decoding: TPOT mean {:.5} s\n", res.plain_tpot_mean_s);
    for r in &res.rows {
        text += &format!(
            "{:<6} k={:<2} α={:<4} TPOT {:.5} s  speedup {:>5.2}x  {:.2} tokens/round\n",
            r.placement, r.k, r.alpha, r.tpot_mean_s, r.speedup, r.tokens_per_round
        );
    }
    for (p, k, a) in &res.pays_from {
        text += &match a {
            Some(a) => format!("{p} k={k}: pays from α = {a}\n"),
            None => format!("{p} k={k}: never pays in the range\n"),
        };
    }
    Ok(StudyOutput {
        json: serde_json::to_value(&res).unwrap_or_default(),
        text,
        files: [
            "results.csv",
            "pays_from.csv",
            "speedup_vs_acceptance.png",
            "speedup_vs_acceptance.svg",
        ]
        .iter()
        .map(|f| inv.dir.join(f))
        .collect(),
    })
}
