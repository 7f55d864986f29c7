//! The KV-precision study (`study: {kind: kv_precision}`): serving throughput of one device
//! with the weights, activations and KV cache at different widths (COMET's W4A4KV4 against
//! 16-bit serving; A²ATS's retrieval of a fraction of the KV cache), over offered rates.
//!
//! Every variant is one serving run per rate on the same traffic: the workload's `dtype`
//! (weights and activations), `serving.kv.dtype` and `serving.kv.read_fraction`
//! (`archsim_serving::kv`). The headline is each variant's throughput (output tokens/s, the
//! highest over the rates) over the baseline's, next to the paper's figure.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use archsim_serving::config::{Lengths, SchedulerConfig};
use archsim_serving::kv::KvDtype;
use archsim_serving::{Fleet, ServingConfig};
use archsim_workloads::{DType, WorkloadConfig};

use archsim_accelerators::config::KeyError;

use crate::{Error, Study, StudyOutput, StudyRun};

/// The registry entry.
pub const STUDY: Study = Study {
    kind: "kv_precision",
    about: "COMET / A²ATS: serving throughput with quantized weights, activations and KV cache, and partial KV reads",
    run: run_study,
    schema: crate::file_schema::<KvPrecisionFile>,
    section: None,
    replot: None,
};

/// One precision setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Its label (e.g. `W8A8KV4`).
    pub name: String,
    /// Weights and activations (the workload's `dtype`).
    pub dtype: DType,
    /// The KV cache (default: `dtype`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_dtype: Option<KvDtype>,
    /// Fraction of the KV cache a decode reads (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 1), extend("exclusiveMinimum" = 0))]
    pub read_fraction: Option<f64>,
}

/// A published figure to set the study's headline against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    /// What it is (e.g. `COMET W4A4KV4 vs TensorRT-LLM, throughput`).
    pub label: String,
    /// The ratio the paper reports.
    pub ratio: f64,
    /// The variant archsim compares with it (its throughput over the baseline's).
    pub variant: String,
}

/// `study: {kind: kv_precision, ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KvPrecisionStudy {
    /// `kv_precision`.
    pub kind: String,
    /// The device of the one replica.
    #[schemars(with = "archsim_accelerators::AcceleratorConfig")]
    pub accelerator: Map<String, Value>,
    /// The settings; the first is the baseline.
    #[schemars(length(min = 1))]
    pub variants: Vec<Variant>,
    /// Offered rates, requests/s (a variant's throughput is its highest over them).
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
    /// The replica scheduler.
    #[serde(default)]
    pub scheduler: SchedulerConfig,
    /// The paper's figure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<Claim>,
}

/// The study file.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KvPrecisionFile {
    /// The study.
    pub study: KvPrecisionStudy,
    /// The model: an `llm:` workload (its `dtype` is each variant's).
    pub workload: WorkloadConfig,
}

/// One variant at one rate.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The variant.
    pub variant: String,
    /// Offered rate, requests/s.
    pub rate_rps: f64,
    /// Output tokens/s.
    pub tokens_per_s: f64,
    /// KV blocks of the replica.
    pub kv_blocks: u32,
    /// Weights on the device, GB.
    pub weights_gb: f64,
    /// Mean decodes per iteration.
    pub mean_decode_batch: f64,
    /// TPOT p50, s.
    pub tpot_p50_s: f64,
    /// TTFT p90, s.
    pub ttft_p90_s: f64,
    /// Preemptions.
    pub preemptions: u64,
}

/// The study's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct KvPrecisionResult {
    /// Every variant at every rate.
    pub rows: Vec<Row>,
    /// Per variant, its throughput (the highest over the rates) over the baseline's.
    pub speedups: Vec<(String, f64)>,
    /// The paper's ratio and archsim's for the same comparison.
    pub claim: Option<(Claim, f64)>,
}

/// Runs the study.
pub fn run(f: &KvPrecisionFile, base: &Path) -> Result<KvPrecisionResult, String> {
    let s = &f.study;
    let top = s.rates_rps.iter().copied().fold(f64::MIN, f64::max);
    let mut rows = Vec::new();
    for v in &s.variants {
        let mut kv = Map::new();
        if let Some(d) = v.kv_dtype {
            kv.insert("dtype".into(), json!(d));
        }
        if let Some(r) = v.read_fraction {
            kv.insert("read_fraction".into(), json!(r));
        }
        let c: ServingConfig = serde_json::from_value(json!({
            "traffic": {"rate": top, "requests": s.requests, "seed": s.seed,
                        "prompt_tokens": s.prompt_tokens, "output_tokens": s.output_tokens},
            "pools": [{"accelerator": Value::Object(s.accelerator.clone()), "count": 1}],
            "scheduler": s.scheduler,
            "kv": kv,
        }))
        .map_err(|e| format!("study.variants ({}): {e}", v.name))?;
        c.validate().map_err(|e| e.to_string())?;
        let mut wl = f.workload.clone();
        wl.dtype = Some(v.dtype);
        let fleet = Fleet::build(&c, &wl, s.seed, base, false)
            .map_err(|e| format!("study.variants ({}): {e}", v.name))?;
        let pool = &fleet.pools[0];
        for &rate in &s.rates_rps {
            let reqs = archsim_serving::traffic::generate(&c.traffic, s.seed, base, Some(rate), None)
                .map_err(|e| e.to_string())?;
            let out = archsim_serving::engine::run(&fleet, &c, &reqs, s.seed)
                .map_err(|e| e.to_string())?;
            let r = archsim_serving::report::summarize(&fleet, &c, &out, s.seed, false).0;
            let st = &out.pools[0];
            rows.push(Row {
                variant: v.name.clone(),
                rate_rps: rate,
                tokens_per_s: r.tokens_per_s,
                kv_blocks: pool.kv_blocks,
                weights_gb: pool.memory.weights_bytes as f64 / 1e9,
                mean_decode_batch: st.decode_tokens as f64 / st.steps.max(1) as f64,
                tpot_p50_s: r.tpot_s.p50,
                ttft_p90_s: r.ttft_s.p90,
                preemptions: r.preemptions,
            });
        }
    }
    // A variant's throughput: the highest over the offered rates (in overload, recomputing
    // preempted sequences costs some of it).
    let at_top = |name: &str| {
        rows.iter()
            .filter(|r| r.variant == name)
            .map(|r| r.tokens_per_s)
            .fold(None, |m: Option<f64>, t| Some(m.map_or(t, |m| m.max(t))))
    };
    let base_tps = at_top(&s.variants[0].name).unwrap_or(0.0);
    let ratio = |name: &str| at_top(name).map(|t| if base_tps > 0.0 { t / base_tps } else { 0.0 });
    let speedups = s
        .variants
        .iter()
        .map(|v| (v.name.clone(), ratio(&v.name).unwrap_or(0.0)))
        .collect();
    let claim = match &s.claim {
        Some(c) => Some((
            c.clone(),
            ratio(&c.variant).ok_or_else(|| {
                format!("study.claim.variant: no variant named `{}`", c.variant)
            })?,
        )),
        None => None,
    };
    Ok(KvPrecisionResult {
        rows,
        speedups,
        claim,
    })
}

fn write(res: &KvPrecisionResult, dir: &Path) -> Result<(), String> {
    crate::files::create_dir(dir).map_err(|e| e.to_string())?;
    let mut csv = String::from(
        "variant,rate_rps,tokens_per_s,kv_blocks,weights_gb,mean_decode_batch,tpot_p50_s,ttft_p90_s,preemptions\n",
    );
    for r in &res.rows {
        csv += &format!(
            "{},{},{:.2},{},{:.3},{:.2},{:.6},{:.6},{}\n",
            r.variant,
            r.rate_rps,
            r.tokens_per_s,
            r.kv_blocks,
            r.weights_gb,
            r.mean_decode_batch,
            r.tpot_p50_s,
            r.ttft_p90_s,
            r.preemptions
        );
    }
    crate::files::write(&dir.join("results.csv"), csv).map_err(|e| e.to_string())?;
    let mut csv = String::from("variant,speedup_vs_baseline\n");
    for (n, s) in &res.speedups {
        csv += &format!("{n},{s:.4}\n");
    }
    if let Some((c, a)) = &res.claim {
        csv += &format!("paper: {},{:.4}\narchsim: {},{a:.4}\n", c.label, c.ratio, c.variant);
    }
    crate::files::write(&dir.join("speedups.csv"), csv).map_err(|e| e.to_string())?;
    let mut names: Vec<&str> = Vec::new();
    for r in &res.rows {
        if !names.contains(&r.variant.as_str()) {
            names.push(&r.variant);
        }
    }
    let curves: Vec<crate::plot::Curve> = names
        .iter()
        .map(|n| {
            (
                n.to_string(),
                res.rows
                    .iter()
                    .filter(|r| r.variant == *n)
                    .map(|r| (r.rate_rps, r.tokens_per_s))
                    .collect(),
            )
        })
        .collect();
    crate::plot::lines(
        &curves,
        "serving throughput by weight, activation and KV precision",
        "offered rate (requests/s)",
        "output tokens/s",
        dir,
        "throughput_vs_rate",
    )
}

/// `archsim run` on a KV-precision study file.
pub fn run_study(inv: &StudyRun<'_>) -> Result<StudyOutput, Error> {
    let f: KvPrecisionFile = inv.typed()?;
    archsim_accelerators::AcceleratorConfig::from_map(f.study.accelerator.clone())
        .map_err(|KeyError { path: p, message: m }| inv.key_error(&format!("study.{}", p.join(".")), m))?;
    let res = run(&f, inv.base).map_err(|m| inv.error(m))?;
    write(&res, &inv.dir).map_err(Error::File)?;
    let mut text = String::new();
    for r in &res.rows {
        text += &format!(
            "{:<22} {:>7.1} req/s  {:>8.0} tok/s  KV blocks {:>6}  decode batch {:>6.1}  TPOT p50 {:.4} s  preemptions {}\n",
            r.variant, r.rate_rps, r.tokens_per_s, r.kv_blocks, r.mean_decode_batch, r.tpot_p50_s, r.preemptions
        );
    }
    for (n, s) in &res.speedups {
        text += &format!("{n:<22} {s:.2}x the baseline's throughput (highest over the rates)\n");
    }
    if let Some((c, a)) = &res.claim {
        text += &format!(
            "{}: paper {:.2}x, archsim ({}) {a:.2}x\n",
            c.label, c.ratio, c.variant
        );
    }
    Ok(StudyOutput {
        json: serde_json::to_value(&res).unwrap_or_default(),
        text,
        files: [
            "results.csv",
            "speedups.csv",
            "throughput_vs_rate.png",
            "throughput_vs_rate.svg",
        ]
        .iter()
        .map(|f| inv.dir.join(f))
        .collect(),
    })
}
