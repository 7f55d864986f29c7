//! This demonstrates a learned SoC scheduler: REINFORCE trained through the gym's `SocWifi`
//! environment (DS3 WiFi TX 80 % / RX 20 %, 8 jobs/ms, 30 % execution-time noise on DS3's
//! 16-PE SoC), then compared with every built-in scheduler on held-out job sequences (the same
//! arrivals and the same noise for every scheduler). Latencies are average job latencies in µs.
//!
//!   cargo run --release -p archsim-agents --example reinforce_soc [-- BATCHES]

use archsim_accelerators::soc::Policy;
use archsim_agents::reinforce::{Reinforce, ReinforceConfig};
use archsim_gym::{presets, SocEnv};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let batches: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(60);
    for noise in ["0.3", "0.0"] {
        println!("== exec_noise {noise}");
        let text = presets::SOC_WIFI.replace("exec_noise: 0.3", &format!("exec_noise: {noise}"));
        compare(&text, batches)?;
    }
    Ok(())
}

fn compare(text: &str, batches: usize) -> Result<(), Box<dyn std::error::Error>> {
    let mut env = SocEnv::from_yaml(text, std::path::Path::new("."))?;
    let held_out: Vec<u64> = (1000..1020).collect();
    println!("held-out episodes: {} (seeds 1000..1020)", held_out.len());
    let mut rows = Vec::new();
    for kind in Policy::ALL {
        let mut sum = 0.0;
        for &s in &held_out {
            sum += env.scheduler_latency_us(kind, s, 0)?;
        }
        rows.push((kind.name().to_string(), sum / held_out.len() as f64));
    }
    let mut agent = Reinforce::new(ReinforceConfig {
        batches,
        ..Default::default()
    });
    let before = agent.evaluate(&mut env, &held_out, false)?;
    let log = agent.train(&mut env)?;
    for l in log.iter().step_by((batches / 10).max(1)) {
        println!(
            "batch {:>4}: training avg job latency {:>10.1} us",
            l.batch, l.avg_job_latency_us
        );
    }
    println!("weights: {:?}", agent.weights);
    let greedy = agent.evaluate(&mut env, &held_out, true)?;
    let sampled = agent.evaluate(&mut env, &held_out, false)?;
    rows.push(("reinforce (untrained, sampled)".into(), before));
    rows.push(("reinforce (greedy)".into(), greedy));
    rows.push(("reinforce (sampled)".into(), sampled));
    println!("{:<32} {:>16}", "scheduler", "avg latency (us)");
    for (n, v) in &rows {
        println!("{n:<32} {v:>16.2}");
    }
    let heft = rows
        .iter()
        .find(|r| r.0 == "heft")
        .map_or(f64::NAN, |r| r.1);
    println!(
        "learned (greedy) vs HEFT: {:+.2} % ({:.2} vs {:.2} us)",
        100.0 * (greedy - heft) / heft,
        greedy,
        heft
    );
    Ok(())
}
