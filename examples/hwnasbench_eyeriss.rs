//! External check against HW-NAS-Bench (Li et al., ICLR 2021): archsim's latency of every
//! NAS-Bench-201 CIFAR-10 network on the `eyeriss` systolic preset against the benchmark's
//! Eyeriss latency, ranked with Kendall's τ. Doubles as the many-point bench: it prints points
//! per second of the simulation loop (rayon over the cores).
//!
//! ```text
//! cargo run --release --example hwnasbench_eyeriss -- \
//!     [--data /work/shared/data/nas/hwnasbench_nb201.csv] [--device eyeriss] [--preset eyeriss] \
//!     [--dataflow is] [--bw WORDS_PER_CYCLE (of the preset's word_bytes)] [--pool vector|depthwise|dense] \
//!     [--out results/nasaic/hwnasbench_eyeriss.csv]
//! ```
//!
//! Writes `arch,archsim_latency,hwnasbench_latency` (both in ms) and prints τ. The committed
//! `results/nasaic/hwnasbench_eyeriss.csv` is `--pool dense`: pools lowered as HW-NAS-Bench's
//! reference model lowers them (see results/nasaic/README.md).

use std::fmt::Write as _;
use std::time::Instant;

use archsim::accelerators::systolic::{Dataflow, PoolMapping, SystolicConfig};
use archsim::nasbench::{kendall_tau, nb201_latency_ms, read_hwnasbench};
use rayon::prelude::*;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut data = "/work/shared/data/nas/hwnasbench_nb201.csv".to_string();
    let mut device = "eyeriss".to_string();
    let mut preset = "eyeriss".to_string();
    let mut out = "results/nasaic/hwnasbench_eyeriss.csv".to_string();
    let mut dataflow: Option<Dataflow> = None;
    let mut bw: Option<f64> = None;
    let mut pool: Option<PoolMapping> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--data" => data = val()?,
            "--device" => device = val()?,
            "--preset" => preset = val()?,
            "--out" => out = val()?,
            "--bw" => bw = Some(val()?.parse::<f64>()?),
            "--pool" => {
                pool = Some(match val()?.as_str() {
                    "vector" => PoolMapping::Vector,
                    "depthwise" => PoolMapping::Depthwise,
                    "dense" => PoolMapping::Dense,
                    p => return Err(format!("unknown pool mapping `{p}`").into()),
                })
            }
            "--dataflow" => {
                dataflow = Some(match val()?.as_str() {
                    "os" => Dataflow::Os,
                    "ws" => Dataflow::Ws,
                    "is" => Dataflow::Is,
                    d => return Err(format!("unknown dataflow `{d}`").into()),
                })
            }
            other => return Err(format!("unknown argument `{other}`").into()),
        }
    }
    let mut cfg = SystolicConfig::preset(&preset).ok_or(format!("unknown preset `{preset}`"))?;
    if let Some(d) = dataflow {
        cfg.dataflow = d;
    }
    if let Some(p) = pool {
        cfg.pool_mapping = p;
    }
    if let Some(b) = bw {
        cfg.dram_bw_bytes_per_cycle = Some(b * f64::from(cfg.word_bytes));
    }
    let rows = read_hwnasbench(std::path::Path::new(&data), &device)?;
    if rows.is_empty() {
        return Err(format!("no `{device}` rows in {data}").into());
    }
    let t0 = Instant::now();
    let ours: Vec<f64> = rows
        .par_iter()
        .map(|r| nb201_latency_ms(&r.arch, &cfg))
        .collect::<Result<_, _>>()?;
    let secs = t0.elapsed().as_secs_f64();
    let theirs: Vec<f64> = rows.iter().map(|r| r.latency_ms).collect();
    let tau = kendall_tau(&ours, &theirs);
    let mut csv = String::from("arch,archsim_latency,hwnasbench_latency\n");
    for (r, l) in rows.iter().zip(&ours) {
        writeln!(csv, "{},{l:.6},{:.6}", r.arch, r.latency_ms)?;
    }
    if let Some(dir) = std::path::Path::new(&out).parent() {
        archsim::files::create_dir(dir)?;
    }
    archsim::files::write(std::path::Path::new(&out), csv)?;
    println!(
        "{} NB201 cells on `{preset}` ({} {}x{}, pooling on {}) vs HW-NAS-Bench `{device}`: Kendall tau = {tau:.4}",
        rows.len(),
        cfg.dataflow.name(),
        cfg.rows,
        cfg.cols,
        cfg.pool_mapping.name()
    );
    println!(
        "simulated {} points in {secs:.2} s: {:.0} points/s ({} threads)",
        rows.len(),
        rows.len() as f64 / secs,
        rayon::current_num_threads()
    );
    println!("wrote {out}");
    Ok(())
}
