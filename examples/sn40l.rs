//! Regenerates `results/sn40l/`: fused vs unfused kernels on an SN40L-like RDU, expert
//! switching from the node's DDR vs a DGX's host memory, and Composition-of-Experts serving on
//! an 8-socket node vs DGX H100/A100 (Prabhakar et al., MICRO 2024,
//! doi:10.1109/MICRO61859.2024.00100).
//!
//! ```text
//! cargo run --release --example sn40l [-- --out DIR]
//! ```
//!
//! Reads `configs/repro/sn40l.yaml`; writes `fusion.csv` (`workload,unfused_s,fused_s`),
//! `switching.csv` (`platform,switch_s`), `coe_serving.csv` (`platform,requests_per_s`),
//! `coe_scaling.csv` (`experts,platform,requests_per_s`), their plots and `README.md`
//! ([`archsim::studies::sn40l`]).

use std::path::PathBuf;

fn main() -> Result<(), String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let args: Vec<String> = std::env::args().collect();
    let out = match args.iter().position(|a| a == "--out") {
        Some(i) => PathBuf::from(args.get(i + 1).ok_or("--out needs a folder")?),
        None => root.join("results/sn40l"),
    };
    let study = archsim::studies::sn40l::load(&root.join("configs/repro/sn40l.yaml"))?;
    let r = archsim::studies::sn40l::run(&study)?;
    eprint!("{}", archsim::studies::sn40l::summary(&r));
    archsim::studies::sn40l::write(&study, &r, &out)?;
    eprintln!("wrote {}", out.display());
    Ok(())
}
