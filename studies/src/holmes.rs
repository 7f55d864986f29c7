//! Holmes-style heterogeneous training (`study: {kind: holmes}`): one job on two clusters
//! whose NICs (and devices) differ, joined by a slower link, run four ways — the stages
//! placed `flat` (every inter-node collective at the slowest NIC, as a NIC-oblivious
//! launcher gets) or `nic_aware` (data-parallel groups inside one NIC kind, the pipeline
//! across the boundary), each with the uniform layer partition or the chosen one (faster
//! devices get more layers). Writes `variants.csv`, `throughput.png` and a README.
//!
//! Holmes (Yang et al., 2024) reports its cross-cluster pipeline and self-adapting
//! partition against Megatron-LM on mixed InfiniBand / RoCE clusters; this study prints the
//! same comparison from archsim's model (no measured numbers are fitted or compared).

use std::fmt::Write as _;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use archsim_accelerators::AcceleratorConfig;
use archsim_net::config::ClusterConfig;
use archsim_net::NetModel;
use archsim_training::{
    device_caps, partition, prepare_hetero, split_groups, Calibration, GroupDevice,
    ParallelConfig, Placement, PlacementRule, TrainingConfig, TrainingReport,
};
use archsim_workloads::DType;

use crate::{Error, Study, StudyOutput, StudyRun};

/// The registry entry.
pub const STUDY: Study = Study {
    kind: "holmes",
    about: "Holmes-style training across clusters with different NICs: flat vs NIC-aware placement, uniform vs chosen layer partition",
    run: run_study,
    schema: crate::file_schema::<HolmesFile>,
    section: None,
    replot: None,
};

/// One cluster of the study: a name and a `cluster:` section with `groups`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NamedCluster {
    /// Label in the table and the plot.
    pub name: String,
    /// The cluster (`groups` with each group's `accelerator` and NICs, `between_groups`).
    pub cluster: Value,
}

/// `study:` of the Holmes study.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HolmesStudy {
    /// `holmes`.
    pub kind: String,
    /// The heterogeneous clusters to run the job on.
    pub clusters: Vec<NamedCluster>,
}

/// `workload:` of the study: the training job.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HolmesWorkload {
    /// The job.
    pub training: TrainingConfig,
    /// Element type (default fp16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtype: Option<DType>,
}

/// The Holmes study file.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HolmesFile {
    /// The study.
    pub study: HolmesStudy,
    /// The job.
    pub workload: HolmesWorkload,
    /// The layout (its `placement` and `layers_per_stage` are set by the study).
    pub parallel: ParallelConfig,
    /// Seed (nothing is random).
    #[serde(default)]
    pub seed: u64,
}

const VARIANTS: [(&str, bool, bool); 4] = [
    ("flat, uniform layers", true, false),
    ("flat, chosen layers", true, true),
    ("NIC-aware, uniform layers", false, false),
    ("NIC-aware, chosen layers", false, true),
];

fn run_one(
    run: &StudyRun<'_>,
    f: &HolmesFile,
    i: usize,
    flat: bool,
    chosen: bool,
) -> Result<TrainingReport, Error> {
    let key = format!("study.clusters.{i}.cluster");
    let mut doc = serde_json::json!({ "cluster": f.study.clusters[i].cluster.clone() });
    let (_, groups, between) = split_groups(&mut doc)
        .map_err(|(k, m)| run.key_error(&k.replacen("cluster", &key, 1), m))?
        .ok_or_else(|| run.key_error(&key, "needs `groups` (a heterogeneous cluster)".into()))?;
    let c: ClusterConfig =
        archsim_accelerators::config::typed(doc["cluster"].take(), &[]).map_err(|archsim_accelerators::config::KeyError { path: p, message: m }| {
            run.key_error(&format!("{key}.{}", p.join(".")), m)
        })?;
    let spec = c.spec().map_err(|e| run.key_error(&key, e.to_string()))?;
    let dtype = f.workload.dtype.unwrap_or(DType::Fp16);
    let mut fams = Vec::new();
    let mut caps = Vec::new();
    for (g, grp) in groups.iter().enumerate() {
        let k = format!("{key}.groups.{g}.accelerator");
        let acc = AcceleratorConfig::from_map(grp.accelerator.clone())
            .map_err(|e| run.key_error(&k, e.to_string()))?;
        fams.push(acc.family().map_err(|e| run.key_error(&k, e.to_string()))?);
        caps.push(device_caps(&acc, dtype).map_err(|e| run.key_error(&k, e.to_string()))?);
    }
    let devices: Vec<GroupDevice<'_>> = fams
        .iter()
        .zip(&caps)
        .map(|(fam, &c)| GroupDevice {
            family: fam.as_ref(),
            caps: c,
        })
        .collect();
    let link = between.map(|b| b.node_group());
    let mut p = f.parallel.clone();
    p.placement = Some(Placement::Rule(if flat {
        PlacementRule::Flat
    } else {
        PlacementRule::NicAware
    }));
    p.layers_per_stage = if chosen {
        Vec::new()
    } else {
        let spec = f
            .workload
            .training
            .spec()
            .map_err(|e| run.key_error("workload.training", e.to_string()))?;
        partition(spec.layers, p.pp)
    };
    let cal = Calibration::A100_VTRAIN;
    prepare_hetero(
        &f.workload.training,
        &p,
        dtype,
        &devices,
        &spec,
        link.as_ref(),
        &NetModel::nccl(),
        &cal,
    )
    .and_then(|j| j.evaluate(&cal))
    .map_err(|e| run.error(e.to_string()))
}

/// `study: {kind: holmes}`.
pub fn run_study(run: &StudyRun<'_>) -> Result<StudyOutput, Error> {
    let f: HolmesFile = run.typed()?;
    if f.study.clusters.is_empty() {
        return Err(run.key_error("study.clusters", "needs at least one cluster".into()));
    }
    let dir = &run.dir;
    crate::files::create_dir(dir)?;
    let mut csv = String::from(
        "cluster,variant,iteration_s,tflops_per_gpu,mfu,tokens_per_s,compute_s,tp_comm_s,pp_comm_s,dp_comm_s,bubble_s,optimizer_s,layers_per_stage,fits\n",
    );
    let mut groups = Vec::new();
    let mut rows = Vec::new();
    for (i, nc) in f.study.clusters.iter().enumerate() {
        let mut bars = Vec::new();
        for (name, flat, chosen) in VARIANTS {
            let r = run_one(run, &f, i, flat, chosen)?;
            let b = &r.breakdown;
            let layers = r
                .placement
                .as_ref()
                .map(|p| {
                    p.layers_per_stage
                        .iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            let _ = writeln!(
                csv,
                "{},{name},{:.6},{:.2},{:.4},{:.0},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{layers},{}",
                nc.name,
                r.iteration_s,
                r.tflops_per_gpu,
                r.mfu,
                r.tokens_per_s,
                b.compute_s,
                b.tp_comm_s,
                b.pp_comm_s,
                b.dp_comm_s,
                b.bubble_s,
                b.optimizer_s,
                r.fits
            );
            bars.push((name.to_string(), r.tflops_per_gpu));
            rows.push((nc.name.clone(), name, r, layers));
        }
        groups.push((nc.name.clone(), bars));
    }
    let p = dir.join("variants.csv");
    crate::files::write(&p, csv)?;
    let mut files = vec![p];
    crate::plot::grouped_bars(
        &groups,
        &format!(
            "{} on heterogeneous clusters: model TFLOP/s per device",
            model_name(&f.workload.training)
        ),
        "TFLOP/s per device (model FLOPs)",
        dir,
        "throughput",
    )
    .map_err(|e| Error::Io {
        path: dir.display().to_string(),
        message: e,
    })?;
    files.push(dir.join("throughput.png"));
    files.push(dir.join("throughput.svg"));
    let mut md = String::new();
    let _ = writeln!(md, "# Holmes-style training across clusters with different NICs\n");
    let _ = writeln!(
        md,
        "Regenerate with `archsim run configs/repro/holmes.yaml --out results/holmes`.\n"
    );
    let pl = &f.parallel;
    let _ = writeln!(
        md,
        "Job: {} (seq {}, global batch {}, micro-batch {}, recompute {}), tp {} · pp {} · dp {}, {}. \
         Each cluster is two node groups with their own device and NICs and a link between them (`cluster.groups`, `cluster.between_groups`). \
         `flat`: Megatron-LM's rank order over all devices as one cluster, every inter-node collective at the slowest NIC (what a launcher that ignores the NIC kinds gets: NCCL cannot join InfiniBand and RoCE, so they meet over Ethernet). \
         `NIC-aware` (Holmes' cross-cluster pipeline): each stage inside one group, data-parallel all-reduces on the group's own NICs, only the pipeline sends at the boundary on the link. \
         `uniform layers`: `layers / pp` per stage; `chosen layers`: one layer at a time to the stage that would end lowest (Holmes' self-adapting partition; the first and last stages also carry the embedding and the LM head). \
         Numbers are archsim's (A100-calibrated iteration model, NCCL-calibrated network); nothing here is fitted to Holmes' measurements.\n",
        model_name(&f.workload.training),
        f.workload.training.seq_len,
        f.workload.training.global_batch,
        f.workload.training.micro_batch,
        format!("{:?}", f.workload.training.recompute).to_lowercase(),
        pl.tp,
        pl.pp,
        pl.dp,
        pl.schedule.name()
    );
    let _ = writeln!(
        md,
        "| cluster | variant | iteration (s) | TFLOP/s per device | vs flat uniform | DP exposed (s) | PP exposed (s) | bubble (s) | layers per stage |\n|---|---|---|---|---|---|---|---|---|"
    );
    for (cname, vname, r, layers) in &rows {
        let base = rows
            .iter()
            .find(|(c, v, _, _)| c == cname && *v == VARIANTS[0].0)
            .map_or(r.iteration_s, |x| x.2.iteration_s);
        let b = &r.breakdown;
        let _ = writeln!(
            md,
            "| {cname} | {vname} | {:.3} | {:.1} | {:.2}× | {:.3} | {:.3} | {:.3} | {layers} |",
            r.iteration_s,
            r.tflops_per_gpu,
            base / r.iteration_s,
            b.dp_comm_s,
            b.pp_comm_s,
            b.bubble_s
        );
    }
    let _ = writeln!(
        md,
        "\n`throughput.png`: model TFLOP/s per device of each variant, per cluster. `variants.csv`: every variant's breakdown."
    );
    let p = dir.join("README.md");
    crate::files::write(&p, md)?;
    files.push(p);
    let p = dir.join("config.yaml");
    crate::files::write(&p, run.text)?;
    files.push(p);
    let json_rows: Vec<Value> = rows
        .iter()
        .map(|(c, v, r, l)| {
            serde_json::json!({"cluster": c, "variant": v, "iteration_s": r.iteration_s,
                "tflops_per_gpu": r.tflops_per_gpu, "mfu": r.mfu, "layers_per_stage": l,
                "dp_comm_s": r.breakdown.dp_comm_s, "fits": r.fits})
        })
        .collect();
    let mut text = String::from("Holmes study (TFLOP/s per device):\n");
    for (c, v, r, _) in &rows {
        let _ = writeln!(text, "  {c:<28} {v:<28} {:.1}", r.tflops_per_gpu);
    }
    let _ = writeln!(text, "wrote {}", dir.display());
    Ok(StudyOutput {
        json: serde_json::json!({"study": "holmes", "rows": json_rows}),
        text,
        files,
    })
}

fn model_name(t: &TrainingConfig) -> String {
    match &t.model {
        archsim_training::ModelRef::Zoo(n) => n.clone(),
        archsim_training::ModelRef::Shape(s) => format!("a {}-layer, {}-hidden GPT", s.layers, s.hidden),
    }
}
