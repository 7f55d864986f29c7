//! Regenerates `results/neupims/`: decode throughput of GPT-3-style models on an NPU beside
//! HBM-PIM in NeuPIMs' four modes (Heo et al., ASPLOS 2024, doi:10.1145/3620666.3651380), on
//! the authors' simulator configuration. The same as
//! `archsim run configs/repro/neupims.yaml --out results/neupims` ([`archsim::studies::neupims`]).
//!
//! ```text
//! cargo run --release --example neupims [-- --out DIR]
//! ```

use std::path::PathBuf;

fn main() -> Result<(), String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let args: Vec<String> = std::env::args().collect();
    let out = match args.iter().position(|a| a == "--out") {
        Some(i) => PathBuf::from(args.get(i + 1).ok_or("--out needs a folder")?),
        None => root.join("results/neupims"),
    };
    let path = root.join("configs/repro/neupims.yaml");
    let text = archsim::config::read_file(&path).map_err(|e| e.to_string())?;
    let file = "configs/repro/neupims.yaml";
    let base = root.join("configs/repro");
    let r = archsim::run_any(&archsim::Request::new(&text, file, &base, &[], Some(&out)))
        .map_err(|e| e.to_string())?
        .value();
    eprintln!(
        "{}",
        serde_json::to_string_pretty(&r["speedups"]).unwrap_or_default()
    );
    eprintln!("wrote {}", out.display());
    Ok(())
}
