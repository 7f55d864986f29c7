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

use crate::studies::StudyRun;
use crate::Error;

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
    pub replicas: u32,
    /// Prefill replicas of the disaggregated fleet (the rest decode).
    pub prefill_replicas: u32,
    /// The prefill → decode link, GB/s.
    pub link_gb_s: f64,
    /// Arrival rates to evaluate, requests/s.
    pub rates_rps: Vec<f64>,
    /// Requests per rate.
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

/// Runs the study.
pub fn run(f: &DisaggFile, base: &Path) -> Result<Vec<Row>, String> {
    let s = &f.study;
    if s.prefill_replicas == 0 || s.prefill_replicas >= s.replicas {
        return Err("study.prefill_replicas: must be between 1 and replicas - 1".into());
    }
    let acc = Value::Object(s.accelerator.clone());
    let fleets = [
        (
            "colocated",
            json!([{"accelerator": acc, "count": s.replicas, "name": "colocated"}]),
        ),
        (
            "disaggregated",
            json!([
                {"accelerator": acc, "count": s.prefill_replicas, "role": "prefill", "name": "prefill"},
                {"accelerator": acc, "count": s.replicas - s.prefill_replicas, "role": "decode", "name": "decode"}
            ]),
        ),
    ];
    let mut rows = Vec::new();
    for (name, pools) in fleets {
        let c = cfg(s, pools)?;
        let fleet =
            Fleet::build(&c, &f.workload, s.seed, base, false).map_err(|e| e.to_string())?;
        for &rate in &s.rates_rps {
            let r = evaluate_rate(&fleet, &c, s.seed, base, Some(rate), None)
                .map_err(|e| e.to_string())?;
            rows.push(Row {
                fleet: name.into(),
                rate_rps: rate,
                slo_attainment: r.slo_attainment,
                goodput_rps: r.goodput_rps,
                ttft_p90_s: r.ttft_s.p90,
                tpot_p99_s: r.tpot_s.p99,
            });
        }
    }
    Ok(rows)
}

fn write(rows: &[Row], dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let mut csv = String::from("fleet,rate_rps,slo_attainment,goodput_rps,ttft_p90_s,tpot_p99_s\n");
    for r in rows {
        csv += &format!(
            "{},{},{:.4},{:.4},{:.6},{:.6}\n",
            r.fleet, r.rate_rps, r.slo_attainment, r.goodput_rps, r.ttft_p90_s, r.tpot_p99_s
        );
    }
    std::fs::write(dir.join("results.csv"), csv).map_err(|e| e.to_string())?;
    let curves = |f: &dyn Fn(&Row) -> f64| -> Vec<crate::plot::Curve> {
        ["colocated", "disaggregated"]
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
            .collect()
    };
    crate::plot::lines(
        &curves(&|r| r.slo_attainment * 100.0),
        "SLO attainment: prefill/decode disaggregated vs co-located, same GPUs",
        "arrival rate (requests/s)",
        "requests meeting the TTFT and TPOT SLO (%)",
        dir,
        "attainment_vs_rate",
    )?;
    crate::plot::lines(
        &curves(&|r| r.goodput_rps),
        "goodput: prefill/decode disaggregated vs co-located, same GPUs",
        "arrival rate (requests/s)",
        "goodput (requests/s meeting the SLO)",
        dir,
        "goodput_vs_rate",
    )
}

/// `archsim run` on a disaggregation study file.
pub fn run_cli(inv: &StudyRun<'_>) -> Result<crate::studies::StudyOutput, Error> {
    let bad = |message: String| inv.error(message);
    let f: DisaggFile = inv.typed()?;
    let rows = run(&f, inv.base).map_err(bad)?;
    write(&rows, &inv.dir).map_err(|message| Error::Io {
        path: inv.dir.display().to_string(),
        message,
    })?;
    let mut text = String::new();
    for r in &rows {
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
    Ok(crate::studies::StudyOutput {
        json: serde_json::to_value(&rows).unwrap_or_default(),
        text,
        files: [
            "results.csv",
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
