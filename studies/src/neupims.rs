//! The NeuPIMs reproduction (Heo et al., ASPLOS 2024, doi:10.1145/3620666.3651380): decode
//! throughput of GPT-3-style models on an NPU beside HBM-PIM in NeuPIMs' four modes, on the
//! authors' simulator configuration (`configs/repro/neupims.yaml` cites each number).
//!
//! ```text
//! archsim run configs/repro/neupims.yaml --out results/neupims   # the whole study
//! archsim run configs/repro/neupims.yaml --set study=null        # its base design point alone
//! ```
//!
//! The file's `workload:` and `accelerator:` sections are the base design point; its
//! `study: {kind: neupims}` section names the grid: the models with the authors' tensor- and
//! pipeline-parallel degrees and the batches. Every mode runs every point. The study writes
//! `throughput.csv` (`model,tp,pp,batch,mode,tokens_per_s,memory_gb_per_device,capacity_gb`;
//! `tokens_per_s` is `infeasible` where the step does not fit a device), `throughput.{png,svg}`
//! and `README.md` (the paper's speedups beside archsim's, and how each moves with the two
//! assumptions it depends on most), with a copy of the config as `config.yaml`.

use std::fmt::Write as _;

use archsim_accelerators::npu_pim::{
    decode_tokens_per_s, step_memory, ArrayTiming, NpuPimConfig, PimMode,
};
use archsim_accelerators::systolic::Dataflow;
use archsim_accelerators::{AccelError, AcceleratorConfig};
use archsim_workloads::llm::{self, LlmConfig};
use archsim_workloads::DType;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::plot;
use crate::{Error, Study, StudyOutput, StudyRun};

/// The registry entry.
pub const STUDY: Study = Study {
    kind: "neupims",
    about: "NeuPIMs (ASPLOS 2024): NPU+PIM decode throughput in four modes, on the authors' simulator configuration",
    run: run_study,
    schema: crate::file_schema::<NeupimsFile>,
    section: None,
    replot: None,
};

/// One model of the grid and the parallelism it runs with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelPoint {
    /// A GPT-3 preset (`workload.llm.model`).
    pub model: String,
    /// Tensor-parallel devices.
    #[schemars(range(min = 1, max = 4096))]
    pub tp: u64,
    /// Pipeline stages (a stage holds layers/pp layers on tp devices).
    #[schemars(range(min = 1, max = 4096))]
    pub pp: u64,
}

/// The study's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// NeuPIMs (ASPLOS 2024).
    Neupims,
}

/// The `study:` section of a NeuPIMs study file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Grid {
    /// `neupims`.
    pub kind: Kind,
    /// The models, each with its parallelism.
    #[schemars(length(min = 1))]
    pub models: Vec<ModelPoint>,
    /// Decode batches; every model runs each.
    #[schemars(length(min = 1), inner(range(min = 1, max = archsim_workloads::MAX_SIZE)))]
    pub batches: Vec<u64>,
}

/// The paper's average speedups of NeuPIMs over each mode.
const PAPER: [(PimMode, f64); 3] = [
    (PimMode::GpuOnly, 3.0),
    (PimMode::NpuOnly, 2.4),
    (PimMode::NpuPimNaive, 1.6),
];
/// The acceptance band around the paper's speedups.
const BAND: f64 = 0.2;

/// One (model, batch) point: tokens/s of each mode in `PimMode::ALL` order (`None`: does not
/// fit), and each mode's memory per device, bytes.
pub struct Row {
    /// The model.
    pub model: String,
    /// Tensor-parallel devices.
    pub tp: u64,
    /// Pipeline stages.
    pub pp: u64,
    /// Decode batch.
    pub batch: u64,
    /// Tokens/s of the whole group per mode (`PimMode::ALL` order); `None`: does not fit.
    pub tps: [Option<f64>; 4],
    /// Bytes needed and bytes available per device, per mode.
    pub mem: [(u64, u64); 4],
}

/// The whole grid at context `ctx` on `base` (with `gpu_preset` for the GPU baseline).
fn study(
    grid: &Grid,
    base: &NpuPimConfig,
    step0: &LlmConfig,
    dtype: DType,
    ctx: u64,
    modes: &[PimMode],
) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for ModelPoint { model, tp, pp } in &grid.models {
        let (model, tp, pp) = (model.as_str(), *tp, *pp);
        let layers = llm::spec(model)
            .ok_or_else(|| format!("study.models: unknown model `{model}`"))?
            .layers;
        for &batch in &grid.batches {
            let step = LlmConfig {
                model: model.into(),
                batch,
                tp,
                prompt_len: ctx - 1,
                context_len: Some(ctx),
                layers: Some(layers / pp),
                ..step0.clone()
            };
            let mut row = Row {
                model: model.to_string(),
                tp,
                pp,
                batch,
                tps: [None; 4],
                mem: [(0, 0); 4],
            };
            for (k, mode) in PimMode::ALL.into_iter().enumerate() {
                if !modes.contains(&mode) {
                    continue;
                }
                let c = NpuPimConfig {
                    mode,
                    ..base.clone()
                };
                let m = step_memory(&c, &step, dtype).map_err(|e| e.to_string())?;
                row.mem[k] = (m.total_bytes, m.capacity_bytes);
                // One batch in flight through the pp stages: the group's tokens/s is the
                // batch over pp stage latencies.
                row.tps[k] = match decode_tokens_per_s(&c, &step, dtype) {
                    Ok(tps) => Some(tps / pp as f64),
                    Err(AccelError::OutOfMemory { .. }) => None,
                    Err(e) => return Err(e.to_string()),
                };
            }
            rows.push(row);
        }
    }
    Ok(rows)
}

/// Geometric mean of NeuPIMs over mode `k` on the points where both fit, and their count.
fn geomean(rows: &[Row], k: usize) -> (f64, usize) {
    let ratios: Vec<f64> = rows
        .iter()
        .filter_map(|r| Some(r.tps[3]? / r.tps[k]?))
        .collect();
    if ratios.is_empty() {
        return (f64::NAN, 0);
    }
    let logs: f64 = ratios.iter().map(|x| x.ln()).sum();
    ((logs / ratios.len() as f64).exp(), ratios.len())
}

/// Whether a geometric mean over `n` points (`(ratio, n)`, as [`geomean`] gives it) lies
/// within [`BAND`] of the paper's `paper`.
fn within_band((ratio, n): (f64, usize), paper: f64) -> bool {
    n > 0 && (ratio / paper - 1.0).abs() <= BAND
}

/// Runs the grid and its sensitivity tables on the base point and writes the study's files
/// into `out` (`text` is the study file, copied as `config.yaml`); returns the base grid.
fn write_study(
    inv: &StudyRun<'_>,
    grid: &Grid,
    base: &NpuPimConfig,
    step0: &LlmConfig,
    dtype: DType,
) -> Result<Vec<Row>, Error> {
    let (text, out) = (inv.text, inv.dir.as_path());
    crate::files::create_dir(out)?;
    let ctx = step0.context_len.ok_or_else(|| {
        inv.error(
            "the base point's workload.llm.context_len is needed (the requests' mean context)"
                .into(),
        )
    })?;
    let study = |b: &NpuPimConfig, c: u64, modes: &[PimMode]| {
        study(grid, b, step0, dtype, c, modes).map_err(|m| inv.error(m))
    };
    let rows = study(base, ctx, &PimMode::ALL)?;
    let gb = |b: u64| b as f64 / 1e9;
    let mut csv =
        String::from("model,tp,pp,batch,mode,tokens_per_s,memory_gb_per_device,capacity_gb\n");
    let mut groups: Vec<plot::BarGroup> = Vec::new();
    for r in &rows {
        for (k, mode) in PimMode::ALL.into_iter().enumerate() {
            let tps = r.tps[k].map_or("infeasible".to_string(), |t| format!("{t:.1}"));
            writeln!(
                csv,
                "{},{},{},{},{},{tps},{:.2},{:.1}",
                r.model,
                r.tp,
                r.pp,
                r.batch,
                mode.name(),
                gb(r.mem[k].0),
                gb(r.mem[k].1)
            )
            .ok();
        }
        if r.tps.iter().all(Option::is_some) {
            let bars = PimMode::ALL
                .into_iter()
                .zip(r.tps)
                .map(|(m, t)| (m.name().to_string(), t.unwrap_or(0.0)))
                .collect();
            groups.push((format!("{} b{}", r.model, r.batch), bars));
        }
    }
    let write = |name: &str, body: &str| crate::files::write(&out.join(name), body);
    write("throughput.csv", &csv)?;
    // The design point the study started from, beside its results.
    write("config.yaml", text)?;
    plot::grouped_bars(
        &groups,
        "Decode throughput, GPT-3 models (NeuPIMs modes, points that fit)",
        "tokens/s",
        out,
        "throughput",
    )
    .map_err(Error::File)?;

    // Sensitivity: the context (the traces' mean, halved and doubled) against how the arrays
    // time the FC layers, and against the GPU baseline.
    let ctxs = [ctx / 2, ctx, ctx * 2];
    let flows = [
        (
            "authors' pipelined ws",
            ArrayTiming::Pipelined,
            Dataflow::Os,
        ),
        ("os folds", ArrayTiming::Fold, Dataflow::Os),
        ("ws folds", ArrayTiming::Fold, Dataflow::Ws),
    ];
    let mut faw_grid: Vec<Vec<[(f64, usize); 3]>> = Vec::new();
    for &c in &ctxs {
        let mut line = Vec::new();
        for &(_, t, f) in &flows {
            let b = NpuPimConfig {
                array_timing: t,
                dataflow: f,
                ..base.clone()
            };
            let rs = study(&b, c, &PimMode::ALL)?;
            line.push([geomean(&rs, 0), geomean(&rs, 1), geomean(&rs, 2)]);
        }
        faw_grid.push(line);
    }
    let presets = ["a100_80gb", "h100_sxm"];
    let mut gpu_grid: Vec<Vec<(f64, usize)>> = Vec::new();
    for &c in &ctxs {
        let mut line = Vec::new();
        for p in presets {
            let b = NpuPimConfig {
                gpu_preset: p.into(),
                ..base.clone()
            };
            let rs = study(&b, c, &[PimMode::GpuOnly, PimMode::Neupims])?;
            line.push(geomean(&rs, 0));
        }
        gpu_grid.push(line);
    }

    let models: Vec<&str> = grid.models.iter().map(|m| m.model.as_str()).collect();
    let par: Vec<String> = grid
        .models
        .iter()
        .map(|m| format!("{}x{}", m.tp, m.pp))
        .collect();
    let batches: Vec<String> = grid.batches.iter().map(u64::to_string).collect();
    let (models, par, batches) = (models.join(", "), par.join(", "), batches.join(" and "));
    let mut md = String::new();
    writeln!(
        md,
        "# NeuPIMs reproduction\n\n\
         Regenerate with `archsim run configs/repro/neupims.yaml --out results/neupims` (the \
         study file: its base design point cites every number to a file and line of the \
         authors' simulator, github.com/casys-kaist/NeuPIMs; `--set study=null` runs that \
         point alone, with its per-op report). Decode of {models} with the authors' \
         parallelism (tensor x pipeline: {par} devices, the same count in every mode) at batch \
         {batches}, at the mean context of the authors' ShareGPT request traces ({ctx} \
         tokens).\n\n\
         ## NeuPIMs' speedup over each mode (geometric mean over the points where both fit)\n\n\
         | NeuPIMs over | paper (Heo et al., ASPLOS'24) | archsim | points | within {:.0}% |\n\
         |---|---|---|---|---|",
        BAND * 100.0
    )
    .ok();
    for (i, (mode, paper)) in PAPER.iter().enumerate() {
        let (ours, n) = geomean(&rows, i);
        let ok = within_band((ours, n), *paper);
        writeln!(
            md,
            "| {} | {paper:.1}x | {ours:.2}x | {n} | {} |",
            mode.name(),
            if ok { "yes" } else { "no" }
        )
        .ok();
    }
    md.push_str(
        "\n## Tokens/s per model and batch (the whole parallel group)\n\n\
         `infeasible`: the step's weights, KV cache and activations exceed one device's memory \
         (32 GB per NPU, `accelerator.hbm_gb`; 80 GB per A100). Such a batch is reported, not \
         priced: the authors' scheduler does not cap the batch (it sizes its KV allocator for \
         one layer), so no smaller batch is substituted.\n\n\
         | model | tp x pp | batch | gpu_only | npu_only | npu_pim_naive | neupims | GB per NPU / GPU | order |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for r in &rows {
        let cell = |k: usize| r.tps[k].map_or("infeasible".to_string(), |t| format!("{t:.0}"));
        let order = match r.tps {
            [Some(g), Some(n), Some(v), Some(p)] => {
                if p > v && v > n && n > g {
                    "neupims > naive > npu > gpu"
                } else if p > v && v > n {
                    "neupims > naive > npu"
                } else {
                    "differs"
                }
            }
            _ => "-",
        };
        writeln!(
            md,
            "| {} | {}x{} | {} | {} | {} | {} | {} | {:.1} / {:.1} | {order} |",
            r.model,
            r.tp,
            r.pp,
            r.batch,
            cell(0),
            cell(1),
            cell(2),
            cell(3),
            gb(r.mem[3].0),
            gb(r.mem[0].0)
        )
        .ok();
    }
    md.push_str(
        "\n## Sensitivity\n\n\
         Each cell is the geometric-mean speedup (and the number of points that fit) with one \
         or two assumptions moved; the middle row is the base. The context stands in for the \
         request mix (attention's share of a step grows with it); the array timing sets how \
         the FC layers are priced: the authors' pipelined weight-stationary core (the base: a \
         128 x 128 activation tile preloaded in 128 cycles, then a weight tile streamed \
         through it every 128/8 = 16 cycles; src/NeuPIMSystolicWS.cc:437-459, \
         src/operations/MatMul.cc:316-329), SCALE-Sim `os` folds of one array (one fill per \
         output tile, K streamed) or `ws` folds (2 x 128 + 128 cycles of fill on every 128 x \
         128 weight tile). (The PIM activation rate, 1 to 4 G_ACTs per tFAW, moves no ratio \
         by more than 0.1x.)\n\n",
    );
    for (i, (mode, paper)) in PAPER.iter().enumerate().skip(1) {
        writeln!(
            md,
            "### NeuPIMs over {} (paper {paper:.1}x): context x NPU array timing\n\n\
             | context | {} |\n|---|---|---|---|",
            mode.name(),
            flows.map(|f| f.0.to_string()).join(" | ")
        )
        .ok();
        for (c, line) in ctxs.iter().zip(&faw_grid) {
            let cells: Vec<String> = line
                .iter()
                .map(|g| format!("{:.2}x ({})", g[i].0, g[i].1))
                .collect();
            writeln!(md, "| {c} | {} |", cells.join(" | ")).ok();
        }
        md.push('\n');
    }
    writeln!(
        md,
        "### NeuPIMs over gpu_only (paper {:.1}x): context x GPU baseline\n\n\
         | context | {} |\n|---|---|---|",
        PAPER[0].1,
        presets.join(" | ")
    )
    .ok();
    for (c, line) in ctxs.iter().zip(&gpu_grid) {
        let cells: Vec<String> = line
            .iter()
            .map(|g| format!("{:.2}x ({})", g.0, g.1))
            .collect();
        writeln!(md, "| {c} | {} |", cells.join(" | ")).ok();
    }
    let (g_ratio, _) = geomean(&rows, 0);
    let (n_ratio, _) = geomean(&rows, 1);
    let (v_ratio, _) = geomean(&rows, 2);
    let acc = archsim_accelerators::npu_pim::NpuPim::new(base)?;
    let bus_tb_s = acc.external_bytes_per_cycle() * base.freq_mhz * 1e6 / 1e12;
    let above: Vec<String> = rows
        .iter()
        .filter(|r| matches!((r.tps[2], r.tps[3]), (Some(v), Some(p)) if p > v))
        .map(|r| format!("{} batch {}", r.model, r.batch))
        .collect();
    let above = if above.is_empty() {
        "no point".to_string()
    } else {
        above.join(", ")
    };
    let pim_rows = 64;
    let pim_x = (pim_rows * base.banks * base.row_bytes * base.channels) as f64
        / acc.pim_stream_cycles(pim_rows) as f64
        / acc.external_bytes_per_cycle();
    writeln!(
        md,
        "\nPIM streams the KV cache at {pim_x:.1}x the external bus's rate ({bus_tb_s:.2} TB/s \
         per device), from the command-level simulation of the authors' timings."
    )
    .ok();
    let missed: Vec<&str> = PAPER
        .iter()
        .enumerate()
        .filter(|&(k, &(_, paper))| !within_band(geomean(&rows, k), paper))
        .map(|(_, (m, _))| m.name())
        .collect();
    let outside = match missed.len() {
        0 => "Every ratio is within 20% of the paper's; the notes below are where it came from.".to_string(),
        n if n == PAPER.len() => "With the authors' configuration every ratio is outside 20% of the paper's, so none is claimed reproduced:".to_string(),
        _ => format!("Outside 20% of the paper's, and not claimed reproduced: NeuPIMs over {}.", missed.join(", ")),
    };
    writeln!(
        md,
        "\n## Why the figures stay outside the paper's (causes found, not tuned away)\n\n\
         {outside}\n\n\
         * **over gpu_only: {g_ratio:.2}x (paper 3.0x).** The authors' NPU device streams \
         {bus_tb_s:.2} TB/s from its 32 HBM2 channels (ini: 32 channels x 128 bits at 1 GHz \
         DDR), half the A100-80GB's 2.0 TB/s, and archsim's GPU model is calibrated on \
         measured A100/H100 kernels, so the GPU serves the FC layers and the attention faster \
         than the NPU does. The paper has NPU-only 1.25x above the GPU; the authors' \
         repository has no GPU configuration or GPU measurements to take that baseline from.\n\
         * **over npu_only: {n_ratio:.2}x (paper 2.4x).** archsim's NPU-only reads the KV \
         cache over the bus at its full rate (vector unit), so NeuPIMs gains attention's share \
         only; at the traces' mean context of {ctx} tokens the FC layers, whose weights stream \
         over the same 1 TB/s bus in every NPU mode, are most of an NPU-only step, and the \
         ratio rises with the context (sensitivity table). The authors' `npu-only` branch \
         instead runs attention on the systolic array: per request and head one GEMV preload \
         for q.K and one per 128 tokens for p.V (src/operations/FusedMHA.cc:177-216), each \
         preload issued only when the previous instruction has finished \
         (src/SystolicWS.cc:358-366) and taking 128 + 128 + size - 1 cycles (:265-266), about \
         1,400 cycles per request and head at 308 tokens, 9x the bus time of its K and V. \
         Pricing that would put NPU-only an order of magnitude below NeuPIMs, far above the \
         paper's 2.4x, so archsim keeps the bus-bound attention and states the difference.\n\
         * **over npu_pim_naive: {v_ratio:.2}x (paper 1.6x).** The authors' code has the \
         structure archsim models: per layer, naive runs QKV, then attention, then projection \
         and FFNs on the whole batch (the `npu+pim` branch puts every request in one \
         sub-batch, src/scheduler/Scheduler.cc:251-263 there), while NeuPIMs alternates two \
         sub-batches in stages that end when both the NPU and the PIM program finish \
         (src/scheduler/Scheduler.cc:244-265, 596-624; src/StageProgram.cc:27-31), and every \
         sub-batch reads the layer's weights from HBM again (each stage builds its own \
         MatMuls, src/StageProgram.cc:64-100, and every tile load is a DRAM read, \
         src/NeuPIMSystolicWS.cc:98-129). At batch 256 a 128-row sub-batch's FC layers are \
         bound by that weight stream (1 TB/s) while the whole batch's are near compute-bound, \
         so two sub-batch passes cost more than the attention they hide: NeuPIMs is above \
         naive only at {above}. The authors' own attention estimate agrees on attention's \
         size (src/scheduler/Scheduler.cc:83-84, 267-285: ~8,600 cycles per request for GPT-3 \
         7B at tp 4 and 308 tokens, ~69,000 per layer for 8 requests per channel; archsim's \
         PIM streams that KV cache in ~61,000), so the paper's 1.6x needs a longer context or batch 512 (the traces \
         are `bs512`), which does not fit 32 GB for 13B, 30B and 175B.\n\
         * **Per-model ordering.** The paper orders neupims > naive > npu_only > gpu_only for \
         every model; here that order holds only where marked in the table above.\n"
    )
    .ok();
    md.push_str(
        "\n## How each mode runs (after the authors' simulator)\n\n\
         * **npu_only** (their `npu-only` branch, `src/operations/FusedMHA.cc`): decode \
         attention runs on the NPU, each request's K and V moved in from HBM over the external \
         bus; archsim runs it on the vector unit at the bus's bandwidth (the systolic array \
         would use one column in 128).\n\
         * **npu_pim_naive** (their `npu+pim` branch: single-row-buffer PIM, \
         `HBM2_8Gb_x128_singlepim.ini`, every request in one batch): QKV, attention on PIM, \
         then projection and FFNs, one after the other, so NPU and PIM never overlap.\n\
         * **neupims**: dual row buffers (NPU reads proceed beside PIM commands) and two \
         sub-batches interleaved from batch 256 on, so one sub-batch's FC layers overlap the \
         other's attention; each sub-batch reads the FC weights from HBM (archsim schedules \
         the two sub-batch graphs together with its list scheduler, without the authors' \
         stage barriers).\n\
         * **PIM GEMV**: command-level per channel; a G_ACT opens a bank group's 4 banks, two \
         G_ACTs per tFAW (30 cycles) per channel, then COMPs of 32 B per bank every 2 cycles. \
         The activation window, not the MAC rate, bounds PIM (its rate over the bus's is given above).\n\
         * **gpu_only**: archsim's calibrated GPU model (A100-80GB preset, CUDA graphs) on the \
         same number of GPUs; its 2.0 TB/s per device is twice the NPU's 1.0 TB/s (32 channels \
         x 32 GB/s).\n\n\
         ## What the model assumes\n\n\
         * DRAM is timed at command level (ACT/PRE/RD with tRCD, tRP, tRAS, tRTP, tCCD, tRRD, \
         tFAW; refresh ignored); a long PIM GEMV extrapolates the simulated steady state.\n\
         * Memory capacity is enforced in every mode: a step whose weights, KV cache and peak \
         activations exceed one device is out of memory (typed error naming \
         `accelerator.hbm_gb`), never priced; the GPU baseline is held to the same rule (no \
         KV-cache swapping).\n\
         * A pipeline stage holds layers/pp layers; one batch is in flight, so a group's \
         tokens/s is the batch over pp stage latencies (every mode alike).\n\
         * Tensor-parallel all-reduces (two per layer) are priced by archsim-net as NCCL on a \
         switch of `link_gbps` per device (300 GB/s, as the A100 baseline's NVLink) in every \
         mode and on the GPU: NCCL's launch latency, protocols and ~80% of the wire, fitted \
         on measured A100 all-reduce. NeuPIMs' two sub-batches overlap one's all-reduce with \
         the other's work; the naive and NPU-only modes wait for theirs.\n\
         * The request mix is lowered at its mean context; per-channel imbalance between long \
         and short requests is ignored (the authors balance channels greedily).\n",
    );
    write("README.md", &md)?;
    Ok(rows)
}

/// The tables' rows as JSON (what `archsim run --json` prints): each speedup beside the
/// paper's, and tokens/s per point and mode (`null`: does not fit).
fn results_json(rows: &[Row]) -> serde_json::Value {
    let speedups: Vec<serde_json::Value> = PAPER
        .iter()
        .enumerate()
        .map(|(k, (mode, paper))| {
            let (g, n) = geomean(rows, k);
            serde_json::json!({
                "over": mode.name(), "paper": paper,
                "archsim": if n > 0 { Some(g) } else { None }, "points": n,
            })
        })
        .collect();
    let points: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let modes: serde_json::Map<String, serde_json::Value> = PimMode::ALL
                .into_iter()
                .zip(r.tps)
                .map(|(m, t)| (m.name().to_string(), serde_json::json!(t)))
                .collect();
            serde_json::json!({
                "model": r.model, "tp": r.tp, "pp": r.pp, "batch": r.batch,
                "tokens_per_s": modes,
            })
        })
        .collect();
    serde_json::json!({"speedups": speedups, "points": points})
}

/// What the terminal shows: each speedup beside the paper's.
fn summary(rows: &[Row]) -> String {
    let mut s = String::from("NeuPIMs speedup (geometric mean over the points that fit):\n");
    for (k, (mode, paper)) in PAPER.iter().enumerate() {
        let (g, n) = geomean(rows, k);
        let within = within_band((g, n), *paper);
        writeln!(
            s,
            "  over {:<14} {g:>6.2}x  (paper {paper:.1}x, {n} points{})",
            mode.name(),
            if within { ", within 20%" } else { "" }
        )
        .ok();
    }
    let oom = rows
        .iter()
        .flat_map(|r| r.tps)
        .filter(Option::is_none)
        .count();
    writeln!(
        s,
        "  {} points x {} modes, {oom} out of device memory (not priced)",
        rows.len(),
        PimMode::ALL.len()
    )
    .ok();
    s
}

/// `archsim run` on a NeuPIMs study file (`study: {kind: neupims}`): the grid on the file's
/// base design point (with `--set` overrides applied to it), written into the output folder.
pub fn run_study(inv: &StudyRun<'_>) -> Result<StudyOutput, Error> {
    let cfg = inv.host.load_base(inv.text, inv.file, inv.set)?;
    let grid: Grid = inv.typed_section()?;
    if grid.models.is_empty() {
        return Err(inv.error("`models` is empty: give at least one model".into()));
    }
    if grid.batches.is_empty() || grid.batches.contains(&0) {
        return Err(inv.error("`batches`: give at least one batch, each at least 1".into()));
    }
    if let Some(m) = grid.models.iter().find(|m| m.tp == 0 || m.pp == 0) {
        return Err(inv.error(format!(
            "models: `{}` needs tp and pp of at least 1",
            m.model
        )));
    }
    let AcceleratorConfig::NpuPim(base) = &cfg.accelerator else {
        return Err(inv.error("the base design point's accelerator.kind must be npu_pim".into()));
    };
    let Some(step0) = cfg.workload.llm.clone() else {
        return Err(inv.error("the base design point needs an `llm:` decode workload".into()));
    };
    let rows = write_study(inv, &grid, base, &step0, cfg.workload.dtype())?;
    let files = [
        "throughput.csv",
        "throughput.png",
        "throughput.svg",
        "README.md",
        "config.yaml",
    ]
    .into_iter()
    .map(|f| inv.dir.join(f))
    .collect();
    Ok(StudyOutput {
        json: results_json(&rows),
        text: summary(&rows),
        files,
    })
}

/// The NeuPIMs study file (`configs/repro/neupims.yaml`).
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // a schema only: the study reads its sections itself
pub struct NeupimsFile {
    /// `{kind: neupims, models, batches}`: the grid.
    study: Grid,
    /// The base design point's workload (an `llm:` decode step).
    workload: archsim_workloads::WorkloadConfig,
    /// The base design point's NPU+PIM device.
    accelerator: archsim_accelerators::AcceleratorConfig,
    /// Seed of every random choice (default 0).
    #[serde(default)]
    seed: u64,
}

