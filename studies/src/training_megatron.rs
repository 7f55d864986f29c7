//! Megatron-LM weak scaling (`study: {kind: training_megatron}`): the ten rows of Table 1 of
//! Narayanan et al., "Efficient Large-Scale Language Model Training on GPU Clusters Using
//! Megatron-LM" (SC 2021) — 1.7B to 1T parameters on 32 to 3,072 A100 — each simulated on
//! the study's cluster and device, against the iteration time its measured TFLOP/s per GPU
//! implies (the paper's FLOP count, its eq. 3: `96·B·s·l·h²·(1 + s/6h + V/16lh)` with
//! activation recomputation).
//!
//! The paper's setup as the study reads it: sequences of 2,048 tokens, a 51,200-token
//! vocabulary, full recompute, micro-batch 1, and interleaved 1F1B where the pipeline has
//! more than one stage (the smallest number of chunks above one that divides the stage's
//! layers); nothing is fitted on the table.

use std::fmt::Write as _;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use archsim_training::file::TrainingFile;
use archsim_training::{ModelRef, ModelShape, Schedule};

use crate::{Error, Study, StudyOutput, StudyRun};

/// The registry entry.
pub const STUDY: Study = Study {
    kind: "training_megatron",
    about: "Megatron-LM weak scaling (SC 2021 Table 1): predicted vs implied iteration, 32-3,072 A100",
    run: run_study,
    schema: crate::file_schema::<MegatronFile>,
    section: None,
    replot: None,
};

/// `study:` of the Megatron weak-scaling study.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MegatronStudy {
    /// `training_megatron`.
    pub kind: String,
    /// The table (`megatron_2021_table1.csv`, relative to the config file).
    pub table: String,
}

/// The study file: a training config whose model, batch, layout and node count each row
/// replaces (its accelerator, node shape, network and recompute are kept), plus `study:`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct MegatronFile {
    /// The study.
    pub study: MegatronStudy,
    /// The base config.
    #[serde(flatten)]
    pub training: TrainingFile,
}

/// One row of the table, simulated.
#[derive(Debug, Clone, Serialize)]
pub struct RowResult {
    /// Parameters, billions (the paper's label).
    pub params_b: f64,
    /// The layout.
    pub tp: usize,
    /// Pipeline stages.
    pub pp: usize,
    /// Chunks per device.
    pub vpp: usize,
    /// Data-parallel replicas.
    pub dp: usize,
    /// GPUs.
    pub gpus: usize,
    /// The paper's TFLOP/s per GPU.
    pub measured_tflops: f64,
    /// The iteration time that implies, seconds.
    pub implied_s: f64,
    /// archsim's iteration, seconds.
    pub predicted_s: f64,
    /// `predicted / implied − 1`.
    pub error: f64,
    /// The layout fits in the device's memory.
    pub fits: bool,
}

fn read_table(path: &Path) -> Result<Vec<Vec<f64>>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let row: Result<Vec<f64>, _> = line.split(',').map(|x| x.trim().parse::<f64>()).collect();
        let row = row.map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))?;
        if row.len() < 10 {
            return Err(format!(
                "{}:{}: expected 11 columns (params_b, heads, hidden, layers, tp, pp, dp, gpus, global_batch, tflops_per_gpu, percent_of_peak)",
                path.display(),
                i + 1
            ));
        }
        rows.push(row);
    }
    Ok(rows)
}

/// Simulates every row of the table on the base config `t`.
pub fn simulate_rows(t: &TrainingFile, table: &Path) -> Result<Vec<RowResult>, String> {
    let mut out = Vec::new();
    for r in read_table(table)? {
        let (heads, hidden, layers) = (r[1] as u64, r[2] as u64, r[3] as u64);
        let (tp, pp, dp, gpus) = (r[4] as usize, r[5] as usize, r[6] as usize, r[7] as usize);
        let (batch, tflops) = (r[8] as u64, r[9]);
        let (s, v) = (2048.0, 51200.0);
        let (l, h) = (layers as f64, hidden as f64);
        let flops =
            96.0 * batch as f64 * s * l * h * h * (1.0 + s / (6.0 * h) + v / (16.0 * l * h));
        let implied_s = flops / (gpus as f64 * tflops * 1e12);
        let mut f = t.clone();
        let w = &mut f.workload.training;
        w.model = ModelRef::Shape(
            serde_json::from_value::<ModelShape>(json!({
                "layers": layers, "hidden": hidden, "heads": heads, "vocab": 51200
            }))
            .map_err(|e| e.to_string())?,
        );
        w.layers = None;
        w.seq_len = 2048;
        w.global_batch = batch;
        w.micro_batch = 1;
        let per_stage = layers / pp as u64;
        let vpp = if pp > 1 {
            (2..=per_stage).find(|v| per_stage % v == 0).unwrap_or(1) as usize
        } else {
            1
        };
        f.parallel.tp = tp;
        f.parallel.pp = pp;
        f.parallel.dp = dp;
        f.parallel.vpp = vpp;
        f.parallel.schedule = if vpp > 1 {
            Schedule::Interleaved
        } else {
            Schedule::OneFOneB
        };
        let per_node = f.cluster.devices_per_node.max(1);
        f.cluster.nodes = gpus.div_ceil(per_node);
        let rep = f
            .simulate()
            .map_err(|(k, m)| format!("row {}B: {k}: {m}", r[0]))?
            .report;
        out.push(RowResult {
            params_b: r[0],
            tp,
            pp,
            vpp,
            dp,
            gpus,
            measured_tflops: tflops,
            implied_s,
            predicted_s: rep.iteration_s,
            error: rep.iteration_s / implied_s - 1.0,
            fits: rep.fits,
        });
    }
    Ok(out)
}

/// `study: {kind: training_megatron}`.
pub fn run_study(run: &StudyRun<'_>) -> Result<StudyOutput, Error> {
    let st: MegatronStudy = run.typed_section()?;
    let t: TrainingFile = run.typed_without(&["study"])?;
    let rows = simulate_rows(&t, &run.base.join(&st.table))
        .map_err(|m| run.key_error("study.table", m))?;
    let dir = &run.dir;
    crate::files::create_dir(dir)?;
    let mut csv = String::from(
        "params_b,tp,pp,vpp,dp,gpus,measured_tflops_per_gpu,implied_s,predicted_s,error_pct,fits\n",
    );
    for r in &rows {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{:.4},{:.4},{:.2},{}",
            r.params_b,
            r.tp,
            r.pp,
            r.vpp,
            r.dp,
            r.gpus,
            r.measured_tflops,
            r.implied_s,
            r.predicted_s,
            r.error * 100.0,
            r.fits
        );
    }
    let p = dir.join("weak_scaling.csv");
    crate::files::write(&p, csv)?;
    let mut files = vec![p];
    let points: Vec<crate::plot::Comparison> = rows
        .iter()
        .map(|r| crate::plot::Comparison {
            series: format!("{}B on {} GPUs", r.params_b, r.gpus),
            measured: r.implied_s,
            predicted: r.predicted_s,
        })
        .collect();
    crate::plot::predicted_vs_measured(
        &points,
        "iteration (s)",
        "Megatron-LM Table 1 (SC 2021): archsim vs the implied iteration",
        dir,
        "weak_scaling",
    )
    .map_err(|e| Error::File(e.to_string()))?;
    files.push(dir.join("weak_scaling.png"));
    files.push(dir.join("weak_scaling.svg"));
    let n = rows.len().max(1) as f64;
    let mape = rows.iter().map(|r| r.error.abs()).sum::<f64>() / n * 100.0;
    let worst = rows
        .iter()
        .max_by(|a, b| a.error.abs().total_cmp(&b.error.abs()));
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Megatron-LM weak scaling: archsim against Table 1 (SC 2021)\n\nRegenerate with `archsim run configs/repro/training_megatron.yaml --out results/training_megatron`.\n"
    );
    let _ = writeln!(
        md,
        "Each row of Table 1 (1.7B to 1T parameters, 32 to 3,072 A100) simulated on {}-GPU NVSwitch nodes with the config's network: sequences of 2,048, vocabulary 51,200, micro-batch 1, full recompute, interleaved 1F1B with the fewest chunks above one that divide each stage's layers. \
         The implied iteration is the paper's FLOPs (eq. 3) over its measured TFLOP/s per GPU. Nothing is fitted on this table (the calibration is vTrain's single-node data).\n",
        t.cluster.devices_per_node
    );
    let _ = writeln!(
        md,
        "MAPE **{mape:.1}%** over {} rows (acceptance: ≤ 10%, every row within 15%); worst {}.\n",
        rows.len(),
        worst.map_or(String::new(), |w| format!(
            "{}B (tp {}, pp {}) {:+.1}%",
            w.params_b,
            w.tp,
            w.pp,
            w.error * 100.0
        ))
    );
    let _ = writeln!(
        md,
        "| params | GPUs | tp | pp | vpp | dp | TFLOP/s per GPU (paper) | implied (s) | archsim (s) | error |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    for r in &rows {
        let _ = writeln!(
            md,
            "| {}B | {} | {} | {} | {} | {} | {} | {:.2} | {:.2} | {:+.1}% |",
            r.params_b,
            r.gpus,
            r.tp,
            r.pp,
            r.vpp,
            r.dp,
            r.measured_tflops,
            r.implied_s,
            r.predicted_s,
            r.error * 100.0
        );
    }
    let _ = writeln!(
        md,
        "\n`weak_scaling.csv`: the table. `weak_scaling.png`: archsim's iteration against the implied one (identity and ±10% lines)."
    );
    let p = dir.join("README.md");
    crate::files::write(&p, md)?;
    files.push(p);
    let p = dir.join("config.yaml");
    crate::files::write(&p, run.text)?;
    files.push(p);
    let json = json!({"study": "training_megatron", "mape_pct": mape, "rows": rows});
    let text = format!(
        "Megatron-LM Table 1: MAPE {mape:.1}% over {} rows; wrote {}\n",
        rows.len(),
        dir.display()
    );
    Ok(StudyOutput { json, text, files })
}
