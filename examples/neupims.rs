//! Regenerates `results/neupims/`: decode throughput of GPT-3-style models on an NPU beside
//! HBM-PIM in NeuPIMs' four modes (Heo et al., ASPLOS 2024, doi:10.1145/3620666.3651380).
//!
//! ```text
//! cargo run --release --example neupims [-- --out DIR]
//! ```
//!
//! The base design point is `configs/repro/neupims.yaml`; the study varies the model (with its
//! tensor-parallel degree), the batch and the mode, and writes `throughput.csv`
//! (`model,batch,mode,tokens_per_s`), `throughput.{png,svg}` and `README.md` (the paper's
//! speedups beside archsim's).

use std::fmt::Write as _;
use std::path::PathBuf;

use archsim::accelerators::npu_pim::{decode_tokens_per_s, PimMode};
use archsim::accelerators::AcceleratorConfig;
use archsim::plot;
use archsim::workloads::llm::LlmConfig;

/// Models and their tensor-parallel degree (one device's share of the weights fits 80 GB).
const MODELS: [(&str, u64); 4] = [
    ("gpt3_7b", 1),
    ("gpt3_13b", 2),
    ("gpt3_30b", 4),
    ("gpt3_175b", 8),
];
const BATCHES: [u64; 2] = [256, 512];
/// The context mix: a quarter of the sequences at each length; lowered at its mean.
const CONTEXTS: [u64; 4] = [256, 512, 1024, 2048];
/// The paper's average speedups of NeuPIMs over each mode.
const PAPER: [(PimMode, f64); 3] = [
    (PimMode::GpuOnly, 3.0),
    (PimMode::NpuOnly, 2.4),
    (PimMode::NpuPimNaive, 1.6),
];

fn main() -> Result<(), String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let args: Vec<String> = std::env::args().collect();
    let out = match args.iter().position(|a| a == "--out") {
        Some(i) => PathBuf::from(args.get(i + 1).ok_or("--out needs a folder")?),
        None => root.join("results/neupims"),
    };
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let cfg_path = root.join("configs/repro/neupims.yaml");
    let text =
        std::fs::read_to_string(&cfg_path).map_err(|e| format!("{}: {e}", cfg_path.display()))?;
    let cfg = archsim::config::load_str(&text, "configs/repro/neupims.yaml", &[])
        .map_err(|e| e.to_string())?;
    let AcceleratorConfig::NpuPim(base) = &cfg.accelerator else {
        return Err("configs/repro/neupims.yaml: accelerator.kind must be npu_pim".into());
    };
    let step0 = cfg
        .workload
        .llm
        .clone()
        .ok_or("the config needs an llm: workload")?;
    let dtype = cfg.workload.dtype();
    let mean_ctx = CONTEXTS.iter().sum::<u64>() / CONTEXTS.len() as u64;

    let mut csv = String::from("model,batch,mode,tokens_per_s\n");
    let mut groups: Vec<plot::BarGroup> = Vec::new();
    // Per (model, batch): tokens/s of each mode, in PimMode::ALL order.
    let mut table: Vec<(String, u64, [f64; 4])> = Vec::new();
    for (model, tp) in MODELS {
        for batch in BATCHES {
            let step = LlmConfig {
                model: model.into(),
                batch,
                tp,
                prompt_len: mean_ctx - 1,
                context_len: Some(mean_ctx),
                layers: None,
                ..step0.clone()
            };
            let mut row = [0.0; 4];
            let mut bars = Vec::new();
            for (k, mode) in PimMode::ALL.into_iter().enumerate() {
                let mut c = (**base).clone();
                c.mode = mode;
                let tps = decode_tokens_per_s(&c, &step, dtype).map_err(|e| e.to_string())?;
                eprintln!("{model} batch {batch} {}: {tps:.0} tokens/s", mode.name());
                writeln!(csv, "{model},{batch},{},{tps:.1}", mode.name()).ok();
                row[k] = tps;
                bars.push((mode.name().to_string(), tps));
            }
            groups.push((format!("{model} b{batch}"), bars));
            table.push((model.to_string(), batch, row));
        }
    }
    let write = |name: &str, body: &str| {
        let p = out.join(name);
        std::fs::write(&p, body).map_err(|e| format!("{}: {e}", p.display()))
    };
    write("throughput.csv", &csv)?;
    plot::grouped_bars(
        &groups,
        "Decode throughput, GPT-3-style models (NeuPIMs modes)",
        "tokens/s",
        &out,
        "throughput",
    )?;

    let geomean = |k: usize| {
        let logs: f64 = table.iter().map(|(_, _, r)| (r[3] / r[k]).ln()).sum();
        (logs / table.len() as f64).exp()
    };
    let mut md = String::new();
    md.push_str(
        "# NeuPIMs reproduction\n\n\
         Regenerate with `cargo run --release --example neupims` (base design point: \
         `configs/repro/neupims.yaml`). Decode of GPT-3-style 7B/13B/30B/175B models (tensor \
         parallel over 1/2/4/8 devices, the same count in every mode) at batch 256 and 512, \
         with a context mix of 256/512/1024/2048 tokens lowered at its mean (960).\n\n\
         ## NeuPIMs' speedup over each mode (geometric mean over the models and batches)\n\n\
         | NeuPIMs over | paper (Heo et al., ASPLOS'24) | archsim | note |\n|---|---|---|---|\n",
    );
    for (i, (mode, paper)) in PAPER.iter().enumerate() {
        let ours = geomean(i);
        let note = if (ours / paper - 1.0).abs() > 0.3 {
            match mode {
                PimMode::GpuOnly => {
                    "differs by >30%, following the npu_only gap: archsim's GPU-only (the \
                     calibrated GPU model, A100-80GB preset) is 5-15% below NPU-only (paper: \
                     1.25x), both bound by the same ~2 TB/s of external bandwidth"
                }
                PimMode::NpuOnly => {
                    "differs by >30%: archsim's NPU-only runs decode attention on the vector \
                     unit at the external bus's bandwidth, so NPU-only is as fast as its HBM; \
                     PIM's gain is the ratio of internal bank to bus bandwidth (the DRAM \
                     timing's, ~5x here)"
                }
                _ => {
                    "differs by >30%: sub-batch interleaving can at best hide the shorter of \
                     the GEMM and attention phases; their balance depends on the batch and \
                     context mix"
                }
            }
        } else {
            "within 30%"
        };
        writeln!(
            md,
            "| {} | {paper:.1}x | {ours:.2}x | {note} |",
            mode.name()
        )
        .ok();
    }
    md.push_str("\n## Tokens/s per model and batch\n\n| model | batch | gpu_only | npu_only | npu_pim_naive | neupims |\n|---|---|---|---|---|---|\n");
    for (m, b, r) in &table {
        writeln!(
            md,
            "| {m} | {b} | {:.0} | {:.0} | {:.0} | {:.0} |",
            r[0], r[1], r[2], r[3]
        )
        .ok();
    }
    md.push_str(
        "\n## What the model assumes\n\n\
         * DRAM is timed at command level (ACT/PRE/RD with tRCD, tRP, tRAS, tRTP, tCCD, tRRD, \
         tFAW; refresh ignored); a long PIM GEMV extrapolates the simulated steady state.\n\
         * The NPU's external bandwidth (64 channels x 32 B/cycle at 1 GHz, ~1.9 TB/s after row \
         switches) is matched to the A100-80GB GPU baseline; parameters the paper does not \
         state are named, with reasons, in `configs/repro/neupims.yaml`.\n\
         * Memory capacity is reported, not enforced, in every mode (the GPU baseline is timed \
         without KV-cache swapping).\n\
         * Throughput counts the whole tensor-parallel group.\n",
    );
    write("README.md", &md)?;
    eprintln!("wrote {}", out.display());
    Ok(())
}
