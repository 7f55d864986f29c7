//! Regenerates `results/sn40l/`: fused vs unfused execution of LLaMA-2-7B on an SN40L-like
//! RDU, and expert switching from DDR vs from a DGX's host memory (Prabhakar et al., MICRO 2024,
//! doi:10.1109/MICRO61859.2024.00100).
//!
//! ```text
//! cargo run --release --example sn40l [-- --out DIR]
//! ```
//!
//! Reads `configs/repro/sn40l.yaml`; writes `fusion.csv` (`workload,unfused_s,fused_s`),
//! `switching.csv` (`platform,switch_s`), `fusion.{png,svg}`, `switching.{png,svg}` and
//! `README.md`. The paper's Composition-of-Experts serving comparison (`coe_serving.csv`) is not
//! modelled.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Deserialize;

use archsim::accelerators::rdu::{self, RduConfig, SwitchSource};
use archsim::plot;
use archsim::workloads::llm::{lower, LlmConfig, Phase};
use archsim::workloads::DType;

#[derive(Deserialize)]
struct FusionCase {
    name: String,
    phase: Phase,
    batch: u64,
    prompt_len: u64,
}

#[derive(Deserialize)]
struct Switching {
    expert: String,
    dgx_gpus: u64,
    dgx_pcie_gbps: f64,
}

#[derive(Deserialize)]
struct Study {
    rdu: RduConfig,
    fusion: Vec<FusionCase>,
    switching: Switching,
}

fn main() -> Result<(), String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let args: Vec<String> = std::env::args().collect();
    let out = match args.iter().position(|a| a == "--out") {
        Some(i) => PathBuf::from(args.get(i + 1).ok_or("--out needs a folder")?),
        None => root.join("results/sn40l"),
    };
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let path = root.join("configs/repro/sn40l.yaml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let study: Study =
        serde_saphyr::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let cfg = &study.rdu;
    cfg.validate().map_err(|e| e.to_string())?;
    let write = |name: &str, body: &str| {
        let p = out.join(name);
        std::fs::write(&p, body).map_err(|e| format!("{}: {e}", p.display()))
    };

    let mut csv = String::from("workload,unfused_s,fused_s\n");
    let mut bars = Vec::new();
    let mut speedups = Vec::new();
    for c in &study.fusion {
        let step = LlmConfig {
            model: "llama2_7b".into(),
            phase: c.phase,
            batch: c.batch,
            prompt_len: c.prompt_len,
            context_len: None,
            layers: None,
            tp: 1,
            moe_skew: 0.0,
        };
        let w = lower(&step, DType::Bf16).map_err(|e| e.to_string())?;
        let fused = rdu::seconds(cfg, &rdu::fused_sections(cfg, &w));
        let unfused = rdu::seconds(cfg, &rdu::unfused_sections(cfg, &w));
        eprintln!("{}: unfused {unfused:.6} s, fused {fused:.6} s", c.name);
        writeln!(csv, "{},{unfused:.6},{fused:.6}", c.name).ok();
        bars.push((
            c.name.clone(),
            vec![
                ("unfused".to_string(), unfused),
                ("fused".to_string(), fused),
            ],
        ));
        speedups.push((c.name.clone(), unfused / fused));
    }
    write("fusion.csv", &csv)?;
    plot::grouped_bars(
        &bars,
        "LLaMA-2-7B on one SN40L-like socket",
        "seconds",
        &out,
        "fusion",
    )?;

    let spec = archsim::workloads::llm::spec(&study.switching.expert)
        .ok_or_else(|| format!("unknown expert model `{}`", study.switching.expert))?;
    let bytes = spec.params() * 2;
    let platforms = [
        ("rdu_ddr", SwitchSource::RduDdr),
        ("rdu_hbm", SwitchSource::RduHbm),
        (
            "dgx_h100_host",
            SwitchSource::DgxHost {
                gpus: study.switching.dgx_gpus,
                pcie_gbps: study.switching.dgx_pcie_gbps,
            },
        ),
    ];
    let mut csv = String::from("platform,switch_s\n");
    let mut sw = Vec::new();
    for (name, src) in platforms {
        let s = rdu::switch_seconds(cfg, bytes, src);
        writeln!(csv, "{name},{s:.6}").ok();
        sw.push((name.to_string(), s));
    }
    write("switching.csv", &csv)?;
    plot::grouped_bars(
        &[(format!("switch to {}", study.switching.expert), sw.clone())],
        "Expert switch time",
        "seconds",
        &out,
        "switching",
    )?;

    let ddr_vs_host = sw[2].1 / sw[0].1;
    let mut md = String::from(
        "# SN40L reproduction\n\nRegenerate with `cargo run --release --example sn40l` \
         (parameters and cases: `configs/repro/sn40l.yaml`).\n\n\
         | comparison | paper (Prabhakar et al., MICRO'24) | archsim | note |\n|---|---|---|---|\n",
    );
    for (name, s) in &speedups {
        let note = if *s < 2.0 * 0.7 && name.contains("prefill") {
            "below the paper's range: an unfused kernel here still uses every PCU at full \
             efficiency and only pays its launch and its intermediates' HBM round trip; \
             compute-bound prefill gains little from that"
        } else if *s < 2.0 * 0.7 {
            "below the paper's range: decode streams the weights (and KV cache) from HBM once \
             whether fused or not, so fusion saves only the launches (5 us each, assumed) and \
             the small activations' round trips"
        } else if *s > 13.0 * 1.3 {
            "above the paper's range: the launch overhead (5 us, assumed) dominates tiny decode \
             kernels"
        } else {
            "within the paper's range (±30%)"
        };
        writeln!(
            md,
            "| fused vs unfused, {name} | 2x-13x | {s:.2}x | {note} |"
        )
        .ok();
    }
    let note = if ddr_vs_host < 15.0 * 0.7 {
        "below the paper's 15x-31x: archsim prices both copies at peak link rates (8 x 200 GB/s \
         DDR, assumed, vs 8 x 64 GB/s PCIe Gen5); matching the paper would take an effective \
         host-to-GPU rate 5-10x below PCIe's peak, which this model does not assume"
    } else {
        "within or above the paper's range"
    };
    writeln!(
        md,
        "| expert switch, DGX host over PCIe vs RDU DDR | 15x-31x | {ddr_vs_host:.2}x | {note} |"
    )
    .ok();
    md.push_str(
        "| 8-socket node vs DGX H100, CoE serving | 3.7x | not modelled | skipped (no \
         coe_serving.csv) |\n\n\
         A fused section is a pipeline whose period is its slowest stage (PCUs split in \
         proportion to the stages' FLOPs), plus fill and drain; sections are cut at the PCU and \
         PMU counts, the SRAM that double-buffers tiles, and a quarter as many stages as tiles. \
         Weights stream from HBM once per section; unfused, every op is its own section.\n",
    );
    write("README.md", &md)?;
    eprintln!("wrote {}", out.display());
    Ok(())
}
