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

use std::time::Instant;

use archsim::accelerators::systolic::{Dataflow, PoolMapping};
use archsim::studies::hwnasbench::{design, kendall_tau, latencies, read_hwnasbench, table};

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
    let cfg = design(&preset, dataflow, pool, bw)?;
    let rows = read_hwnasbench(std::path::Path::new(&data), &device)?;
    if rows.is_empty() {
        return Err(format!("no `{device}` rows in {data}").into());
    }
    let t0 = Instant::now();
    let ours = latencies(&rows, &cfg)?;
    let secs = t0.elapsed().as_secs_f64();
    let theirs: Vec<f64> = rows.iter().map(|r| r.latency_ms).collect();
    let tau = kendall_tau(&ours, &theirs);
    let csv = table(&rows, &ours);
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
