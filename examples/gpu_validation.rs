//! Regenerates `results/gpu_validation/` ([`archsim::studies::gpu_validation::regenerate`]): the GPU model against every measured H100 kernel and
//! step, the cross-validation of its calibration, the predicted-vs-measured plot and a roofline
//! of LLaMA-2-7B's kernels.
//!
//! ```text
//! cargo run --release --example gpu_validation [-- --out DIR]
//! ```
//!
//! Files: `kernels.csv` (every row of gemm/attn/conv/ops.csv with the preset's prediction, the
//! kernel and tile chosen), `cross_validation.csv` (per fold: rows fitted and held out, held-out
//! MAPE of bf16 GEMMs, of the never-fitted fp16 and fp32 GEMMs, of attention and convolution),
//! `steps.csv` (llm.csv and models.csv: check only, never fitted), `summary.md`, and the plots
//! `predicted_vs_measured.{png,svg}` and `roofline.{png,svg}`.

use std::path::PathBuf;

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let args: Vec<String> = std::env::args().collect();
    let out = match args.iter().position(|a| a == "--out") {
        Some(i) => match args.get(i + 1) {
            Some(o) => PathBuf::from(o),
            None => {
                eprintln!("error: --out needs a folder");
                std::process::exit(1);
            }
        },
        None => root.join("results/gpu_validation"),
    };
    let data = root.join("tests/data/gpu/h100");
    if let Err(e) = archsim::studies::gpu_validation::regenerate(&data, &out) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
