//! The best-layout study (`study: {kind: training_best_layout}`): every valid layout of a
//! training job on its cluster — tensor, pipeline and data parallelism, interleaving, the
//! micro-batch and the recompute policy, all that divide — ranked by tokens per second, and
//! where the config's own layout (e.g. Megatron-LM's published one) ranks.
//!
//! The whole space is scored in the analytic mode (`archsim_training::analytic`, checked
//! against the event DAG in that crate's tests); the best `verify` layouts and the config's
//! own are then simulated in the event mode, and every fitting layout is ranked by its
//! iteration, the simulated one where there is one. Layouts that do not fit in the device's memory are listed unranked, with their
//! memory.

use std::fmt::Write as _;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use archsim_accelerators::AcceleratorConfig;
use archsim_net::NetModel;
use archsim_training::file::TrainingFile;
use archsim_training::lower::Pricer;
use archsim_training::space::{recompute_name, Layout, LayoutSearch, Mode, Scored};
use archsim_training::{device_caps, Calibration};
use archsim_workloads::DType;

use crate::{Error, Study, StudyOutput, StudyRun};

/// The registry entry.
pub const STUDY: Study = Study {
    kind: "training_best_layout",
    about: "the best parallel layout of a training job on a cluster, its whole valid space ranked",
    run: run_study,
    schema: crate::file_schema::<BestLayoutFile>,
    section: None,
    replot: None,
};

fn fifty() -> usize {
    50
}

/// `study:` of the best-layout study.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BestLayoutStudy {
    /// `training_best_layout`.
    pub kind: String,
    /// How many of the analytic mode's best layouts are simulated in the event mode
    /// (default 50).
    #[serde(default = "fifty")]
    #[schemars(range(min = 1, max = 100000))]
    pub verify: usize,
    /// Name of the config's own layout in the tables (e.g. `Megatron-LM`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// The best-layout study file: a training config plus its `study:` section (the schema; the
/// file is read as the section and the training config apart).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct BestLayoutFile {
    /// The study.
    pub study: BestLayoutStudy,
    /// The job, the device, the cluster and the reference layout, as a training config.
    #[serde(flatten)]
    pub training: TrainingFile,
}

fn cfg_err(run: &StudyRun<'_>, key: String, m: String) -> Error {
    if key.is_empty() {
        run.error(m)
    } else {
        run.key_error(key.split(", ").next().unwrap_or(""), m)
    }
}

/// One row of the ranked table.
struct Row {
    scored: Scored,
    /// Event-mode iteration, when simulated.
    event_s: Option<f64>,
}

impl Row {
    /// The iteration the ranking uses: simulated where it was, else the analytic one.
    fn iteration_s(&self) -> f64 {
        self.event_s.unwrap_or(self.scored.iteration_s)
    }
}

/// `study: {kind: training_best_layout}`.
pub fn run_study(run: &StudyRun<'_>) -> Result<StudyOutput, Error> {
    let st: BestLayoutStudy = run.typed_section()?;
    let t: TrainingFile = run.typed_without(&["study"])?;
    let st = &st;
    let t = &t;
    let acc = AcceleratorConfig::from_map(t.accelerator.clone())
        .map_err(|e| cfg_err(run, e.key(), e.message))?;
    let spec = t.cluster.spec().map_err(|e| {
        let (k, m) = archsim_training::file::net_key(&e);
        cfg_err(run, k, m)
    })?;
    let dtype = t.workload.dtype.unwrap_or(DType::Fp16);
    let family = acc
        .family()
        .map_err(|e| cfg_err(run, "accelerator".into(), e.to_string()))?;
    let caps = device_caps(&acc, dtype).map_err(|e| {
        let (k, m) = archsim_training::file::error_key(&e);
        cfg_err(run, k, m)
    })?;
    let net = NetModel::nccl();
    let train = &t.workload.training;
    let mut search = LayoutSearch::new(
        Pricer::new(family.as_ref(), dtype),
        train,
        &t.parallel,
        caps,
        &spec,
        &net,
        t.cluster.host.as_ref(),
        t.checkpoint.as_ref(),
        Calibration::A100_VTRAIN,
    );
    let model_err = |e: archsim_training::TrainingError| {
        let (k, m) = archsim_training::file::error_key(&e);
        cfg_err(run, k, m)
    };
    let all = search.all(Mode::Analytic).map_err(model_err)?;
    let own = Layout::of(train, &t.parallel);
    let valid = all.len();
    if !all.iter().any(|s| s.layout == own) {
        // The config's own layout must itself be valid: say why not.
        search.score(&own, Mode::Event).map_err(model_err)?;
    }
    let mut rows: Vec<Row> = all
        .into_iter()
        .map(|s| Row {
            scored: s,
            event_s: None,
        })
        .collect();
    let fitting = rows.iter().filter(|r| r.scored.fits).count();
    for (i, r) in rows.iter_mut().enumerate() {
        if r.scored.fits && (i < st.verify || r.scored.layout == own) {
            let e = search
                .score(&r.scored.layout, Mode::Event)
                .map_err(model_err)?;
            r.event_s = Some(e.iteration_s);
        }
    }
    // Rank the fitting layouts by their iteration: the simulated one where there is one,
    // else the analytic one; the unfit ones after them, by memory (a stable sort).
    rows.sort_by(|a, b| match (a.scored.fits, b.scored.fits) {
        (true, true) => a.iteration_s().total_cmp(&b.iteration_s()),
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        (false, false) => std::cmp::Ordering::Equal,
    });
    let tokens = (train.global_batch * train.seq_len) as f64;
    let reference = st.reference.clone().unwrap_or_else(|| "the config".into());
    let own_rank = rows.iter().position(|r| r.scored.layout == own).map(|i| i + 1);
    let own_row = own_rank.map(|r| &rows[r - 1]);
    let best = rows.first().filter(|r| r.scored.fits);

    let dir = &run.dir;
    crate::files::create_dir(dir)?;
    let mut csv = String::from(
        "rank,tp,pp,dp,vpp,micro_batch,recompute,fits,memory_gb,analytic_iteration_s,event_iteration_s,tokens_per_s,mfu\n",
    );
    for (i, r) in rows.iter().enumerate() {
        let s = &r.scored;
        let l = &s.layout;
        let it = r.iteration_s();
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{},{},{},{}",
            if s.fits { (i + 1).to_string() } else { String::new() },
            l.tp,
            l.pp,
            l.dp,
            l.vpp,
            l.micro_batch,
            recompute_name(l.recompute),
            s.fits,
            // A layer the device refuses outright has no memory figure: the cell is empty.
            if s.memory_gb.is_finite() { format!("{:.2}", s.memory_gb) } else { String::new() },
            if s.fits { format!("{:.6}", s.iteration_s) } else { String::new() },
            r.event_s.map_or(String::new(), |e| format!("{e:.6}")),
            if s.fits { format!("{:.1}", tokens / it) } else { String::new() },
            if s.fits { format!("{:.4}", s.mfu * s.iteration_s / it) } else { String::new() },
        );
    }
    let p = dir.join("layouts.csv");
    crate::files::write(&p, csv)?;
    let mut files = vec![p];

    // The plot: tokens/s of every fitting layout by rank, the simulated ones marked, the
    // config's own layout alone.
    let ranked: Vec<(f64, f64)> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r.scored.fits)
        .map(|(i, r)| ((i + 1) as f64, tokens / r.iteration_s()))
        .collect();
    let simulated: Vec<(f64, f64)> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r.event_s.is_some())
        .map(|(i, r)| ((i + 1) as f64, tokens / r.iteration_s()))
        .collect();
    let mut curves = vec![
        ("every fitting layout (analytic mode)".to_string(), ranked),
        ("simulated (event mode)".to_string(), simulated),
    ];
    if let (Some(rank), Some(r)) = (own_rank, own_row) {
        curves.push((
            format!("{reference} (rank {rank})"),
            vec![(rank as f64, tokens / r.iteration_s())],
        ));
    }
    let model = match &train.model {
        archsim_training::ModelRef::Zoo(n) => n.clone(),
        _ => format!("{}-layer GPT", search_layers(train)),
    };
    let title = format!(
        "{model} on {} x {}: every valid layout by tokens/s",
        spec.devices(),
        family.name()
    );
    crate::plot::lines(&curves, &title, "rank", "tokens per second", dir, "layouts")
        .map_err(|e| Error::File(e.to_string()))?;
    files.push(dir.join("layouts.png"));
    files.push(dir.join("layouts.svg"));

    let mut md = String::new();
    let _ = writeln!(md, "# The best layout of {model} on {} devices\n", spec.devices());
    let _ = writeln!(
        md,
        "Regenerate with `archsim run configs/repro/training_best_layout.yaml --out results/training_best_layout`.\n"
    );
    let _ = writeln!(
        md,
        "Every layout that divides — tp · pp · dp = {} with tp dividing the heads, pp at most the layers, the micro-batch dividing the per-replica batch, interleaved 1F1B over vpp chunks where pp · vpp divides the layers — with each recompute policy: **{valid} valid layouts, {fitting} fit** in the device's {:.0} GB. \
         All are scored in the analytic mode (the closed form on the event DAG's own task times; against the event mode mean error 0.7%, Kendall τ 0.98, `archsim-training`'s `analytic_mode_tracks_the_event_mode`); the best {} and {reference}'s layout are simulated in the event mode, and every layout is ranked by its simulated iteration where it has one, else its analytic one.\n",
        spec.devices(),
        caps.mem_bytes / 1e9,
        st.verify
    );
    if let Some(b) = best {
        let it = b.iteration_s();
        let _ = writeln!(
            md,
            "Best: **{}** — {:.3} s per iteration, {:.0} tokens/s, MFU {:.1}%, {:.1} GB per device.\n",
            b.scored.layout.label(),
            it,
            tokens / it,
            b.scored.mfu * b.scored.iteration_s / it * 100.0,
            b.scored.memory_gb
        );
    }
    if let (Some(rank), Some(r), Some(b)) = (own_rank, own_row, best) {
        let _ = writeln!(
            md,
            "{reference}'s layout ({}) ranks **{rank}** of {fitting}: {:.3} s per iteration, {:.0} tokens/s, {:.1}% below the best.\n",
            r.scored.layout.label(),
            r.iteration_s(),
            tokens / r.iteration_s(),
            (1.0 - b.iteration_s() / r.iteration_s()) * 100.0
        );
    }
    let _ = writeln!(
        md,
        "| rank | tp | pp | dp | vpp | micro-batch | recompute | iteration (s) | tokens/s | memory (GB) |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    let mut shown: Vec<usize> = (0..rows.len().min(15))
        .filter(|&i| rows[i].scored.fits)
        .collect();
    if let Some(r) = own_rank.filter(|&r| r > 15) {
        shown.push(r - 1);
    }
    for i in shown {
        let r = &rows[i];
        let l = &r.scored.layout;
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {:.3} | {:.0} | {:.1} |",
            i + 1,
            l.tp,
            l.pp,
            l.dp,
            l.vpp,
            l.micro_batch,
            recompute_name(l.recompute),
            r.iteration_s(),
            tokens / r.iteration_s(),
            r.scored.memory_gb
        );
    }
    let _ = writeln!(
        md,
        "\n`layouts.csv`: every valid layout (rank empty where it does not fit), its memory, the analytic and (where simulated) the event-mode iteration. `layouts.png`: tokens/s by rank."
    );
    let p = dir.join("README.md");
    crate::files::write(&p, md)?;
    files.push(p);
    let p = dir.join("config.yaml");
    crate::files::write(&p, run.text)?;
    files.push(p);

    let layout_json = |r: &Row| {
        let l = &r.scored.layout;
        json!({"tp": l.tp, "pp": l.pp, "dp": l.dp, "vpp": l.vpp, "micro_batch": l.micro_batch,
               "recompute": recompute_name(l.recompute), "iteration_s": r.iteration_s(),
               "tokens_per_s": tokens / r.iteration_s(), "memory_gb": r.scored.memory_gb})
    };
    let json = json!({
        "study": "training_best_layout",
        "valid_layouts": valid,
        "fitting_layouts": fitting,
        "best": best.map(layout_json),
        "reference": own_row.map(layout_json),
        "reference_rank": own_rank,
    });
    let text = match (best, own_rank) {
        (Some(b), Some(rank)) => format!(
            "{valid} valid layouts, {fitting} fit; best {} at {:.0} tokens/s; {reference}'s layout ranks {rank}; wrote {}\n",
            b.scored.layout.label(),
            tokens / b.iteration_s(),
            dir.display()
        ),
        _ => format!("{valid} valid layouts, {fitting} fit; wrote {}\n", dir.display()),
    };
    Ok(StudyOutput { json, text, files })
}

fn search_layers(t: &archsim_training::TrainingConfig) -> u64 {
    t.spec().map_or(0, |s| s.layers)
}
