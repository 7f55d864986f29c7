//! The ZeRO study (`study: {kind: training_zero}`): one training job under ZeRO stages 0–3
//! (Rajbhandari et al., "ZeRO: Memory Optimizations Toward Training Trillion Parameter
//! Models", SC 2020) — the memory of the most loaded device by kind, whether it fits, and the
//! simulated iteration and throughput.
//!
//! Model states per device follow the paper's §5 with Ψ the device's parameters, K the
//! optimizer's bytes per parameter and N_d the data-parallel degree: stage 0 holds
//! 2Ψ + 2Ψ + KΨ, stage 1 2Ψ + 2Ψ + KΨ/N_d, stage 2 2Ψ + (2 + K)Ψ/N_d, stage 3
//! (2 + 2 + K)Ψ/N_d (`states_follow_the_zero_paper` in this crate's tests checks the
//! study's numbers against them exactly). The iteration is the event DAG's: stages 1–2
//! reduce-scatter the gradients and all-gather the updated weights, stage 3 also gathers every
//! layer's weights in each forward and backward.

use std::fmt::Write as _;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use archsim_training::file::TrainingFile;
use archsim_training::TrainingReport;

use crate::{Error, Study, StudyOutput, StudyRun};

/// The registry entry.
pub const STUDY: Study = Study {
    kind: "training_zero",
    about: "ZeRO stages 0-3 (SC 2020): memory per device and throughput of one training job",
    run: run_study,
    schema: crate::file_schema::<ZeroFile>,
    section: None,
    replot: None,
};

/// `study:` of the ZeRO study.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ZeroStudy {
    /// `training_zero`.
    pub kind: String,
}

/// The ZeRO study file: a training config (its `parallel.zero` is replaced by each stage)
/// plus its `study:` section (the schema; the file is read as the two apart).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ZeroFile {
    /// The study.
    pub study: ZeroStudy,
    /// The job.
    #[serde(flatten)]
    pub training: TrainingFile,
}

/// The job's report under each ZeRO stage, 0 to 3.
pub fn stages(t: &TrainingFile) -> Result<Vec<TrainingReport>, (String, String)> {
    (0..=3u8)
        .map(|z| {
            let mut f = t.clone();
            f.parallel.zero = z;
            f.simulate().map(|s| s.report)
        })
        .collect()
}

/// `study: {kind: training_zero}`.
pub fn run_study(run: &StudyRun<'_>) -> Result<StudyOutput, Error> {
    let _: ZeroStudy = run.typed_section()?;
    let t: TrainingFile = run.typed_without(&["study"])?;
    let reports = stages(&t).map_err(|(k, m)| {
        if k.is_empty() {
            run.error(m)
        } else {
            run.key_error(k.split(", ").next().unwrap_or(""), m)
        }
    })?;
    let dir = &run.dir;
    crate::files::create_dir(dir)?;
    let mut csv = String::from(
        "zero,parameters_gb,gradients_gb,optimizer_gb,activations_gb,temporary_gb,total_gb,fits,iteration_s,tokens_per_s,mfu,dp_comm_s\n",
    );
    for (z, r) in reports.iter().enumerate() {
        let m = &r.memory_gb;
        let _ = writeln!(
            csv,
            "{z},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{},{:.6},{:.1},{:.4},{:.6}",
            m.parameters,
            m.gradients,
            m.optimizer,
            m.activations,
            m.temporary,
            m.total,
            r.fits,
            r.iteration_s,
            r.tokens_per_s,
            r.mfu,
            r.breakdown.dp_comm_s
        );
    }
    let p = dir.join("zero_stages.csv");
    crate::files::write(&p, csv)?;
    let mut files = vec![p];
    let groups: Vec<crate::plot::BarGroup> = reports
        .iter()
        .enumerate()
        .map(|(z, r)| {
            let m = &r.memory_gb;
            (
                format!("ZeRO-{z}"),
                vec![
                    ("parameters".to_string(), m.parameters),
                    ("gradients".to_string(), m.gradients),
                    ("optimizer states".to_string(), m.optimizer),
                    ("activations".to_string(), m.activations),
                    ("total".to_string(), m.total),
                ],
            )
        })
        .collect();
    let p = &t.parallel;
    let params = reports.first().map_or(0, |r| r.params);
    let title = format!(
        "{:.1}B parameters, tp {} pp {} dp {}: memory per device by ZeRO stage",
        params as f64 / 1e9,
        p.tp,
        p.pp,
        p.dp
    );
    crate::plot::grouped_bars(&groups, &title, "GB per device", dir, "memory")
        .map_err(|e| Error::File(e.to_string()))?;
    files.push(dir.join("memory.png"));
    files.push(dir.join("memory.svg"));

    let mut md = String::new();
    let _ = writeln!(
        md,
        "# ZeRO stages 0–3: memory per device and throughput\n\nRegenerate with `archsim run configs/repro/training_zero.yaml --out results/training_zero`.\n"
    );
    let _ = writeln!(
        md,
        "A {:.2}B-parameter GPT on {} devices (tp {}, pp {}, dp {}), {} sequences of {} tokens per iteration, micro-batch {}. \
         Model states per device follow the ZeRO paper (SC 2020, §5): 2Ψ + 2Ψ + KΨ at stage 0, KΨ/N_d of optimizer states from stage 1, (2 + K)Ψ/N_d from stage 2, (2 + 2 + K)Ψ/N_d at stage 3 (Ψ the device's parameters, K = 12 for mixed-precision Adam, N_d = {}), checked exactly by `archsim-studies`' `states_follow_the_zero_paper`. \
         The iteration is simulated: stages 1–2 reduce-scatter the gradients and all-gather the weights after the step, stage 3 gathers each layer's weights before every forward and backward.\n",
        params as f64 / 1e9,
        reports.first().map_or(0, |r| r.devices),
        p.tp,
        p.pp,
        p.dp,
        t.workload.training.global_batch,
        t.workload.training.seq_len,
        t.workload.training.micro_batch,
        p.dp
    );
    let _ = writeln!(
        md,
        "| stage | parameters | gradients | optimizer | activations | total (GB) | fits | iteration (s) | tokens/s | MFU | exposed DP (s) |\n|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for (z, r) in reports.iter().enumerate() {
        let m = &r.memory_gb;
        let _ = writeln!(
            md,
            "| ZeRO-{z} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {:.3} | {:.0} | {:.1}% | {:.3} |",
            m.parameters,
            m.gradients,
            m.optimizer,
            m.activations,
            m.total,
            if r.fits { "yes" } else { "no" },
            r.iteration_s,
            r.tokens_per_s,
            r.mfu * 100.0,
            r.breakdown.dp_comm_s
        );
    }
    let _ = writeln!(
        md,
        "\n`zero_stages.csv`: the table. `memory.png`: memory per device by kind and stage (log scale)."
    );
    let p = dir.join("README.md");
    crate::files::write(&p, md)?;
    files.push(p);
    let p = dir.join("config.yaml");
    crate::files::write(&p, run.text)?;
    files.push(p);
    let rows: Vec<serde_json::Value> = reports
        .iter()
        .enumerate()
        .map(|(z, r)| {
            json!({"zero": z, "memory_gb": r.memory_gb, "fits": r.fits,
                   "iteration_s": r.iteration_s, "tokens_per_s": r.tokens_per_s, "mfu": r.mfu})
        })
        .collect();
    let summary: Vec<String> = reports
        .iter()
        .enumerate()
        .map(|(z, r)| format!("ZeRO-{z} {:.1} GB", r.memory_gb.total))
        .collect();
    let json = json!({"study": "training_zero", "params": params, "stages": rows});
    let text = format!(
        "ZeRO stages: {}; wrote {}\n",
        summary.join(", "),
        dir.display()
    );
    Ok(StudyOutput { json, text, files })
}
