//! A SoC run as a [`Report`]: one op row per executed task, job statistics, PE usage, energy.

use std::collections::BTreeMap;

use archsim_sim::{AppStats, JobStats, OpReport, PeUsage, Provenance, Report};

use super::{BoundJobs, Soc, SocRun};

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// Builds the report of a finished run.
pub(super) fn to_report(
    soc: &Soc,
    work: &BoundJobs,
    run: &SocRun,
    scheduler: &str,
    config_hash: &str,
    seed: u64,
) -> Report {
    let f = soc.config().freq_mhz;
    let us = |c: u64| c as f64 / f;
    let makespan_s = us(run.makespan) * 1e-6;
    let apps = &work.set.apps;

    let mut ops: Vec<OpReport> = run
        .tasks
        .iter()
        .map(|t| {
            let (app, _, _) = run.jobs[t.job];
            let g = &apps[app];
            let pe = &soc.pes()[t.pe];
            let cycles = t.end - t.start;
            let energy = pe.active_w * us(cycles) * 1e-6;
            OpReport {
                name: OpReport::task_name(&g.name, t.job, &g.tasks[t.local].name),
                kind: g.tasks[t.local].kind.clone(),
                engine: pe.name.clone(),
                mapping: format!("job {} ({})", t.job, g.name),
                start_cycle: t.start,
                end_cycle: t.end,
                cycles,
                compute_cycles: cycles,
                stall_cycles: 0,
                utilization: 1.0,
                macs: 0,
                bytes: BTreeMap::new(),
                energy_j: energy,
                latency_s: us(cycles) * 1e-6,
                kernels: Vec::new(),
            }
        })
        .collect();
    ops.sort_by_key(|o| o.start_cycle);

    let mut pe_usage = Vec::with_capacity(soc.pes().len());
    let mut energy = 0.0;
    for (i, pe) in soc.pes().iter().enumerate() {
        let (busy, tasks) = run.pes[i];
        let busy_s = us(busy) * 1e-6;
        let e = pe.active_w * busy_s + pe.idle_w * (makespan_s - busy_s).max(0.0);
        energy += e;
        pe_usage.push(PeUsage {
            name: pe.name.clone(),
            kind: pe.kind.clone(),
            tasks,
            busy_us: us(busy),
            utilization: if run.makespan > 0 {
                busy as f64 / run.makespan as f64
            } else {
                0.0
            },
            energy_j: e,
        });
    }
    energy += soc.config().interconnect.energy_pj_per_byte * run.interconnect_bytes as f64 * 1e-12;

    let mut lat: Vec<f64> = run.jobs.iter().map(|&(_, a, e)| us(e - a)).collect();
    let n = lat.len().max(1) as f64;
    let avg = lat.iter().sum::<f64>() / n;
    let mut per_app = vec![(0u64, 0.0f64); apps.len()];
    for &(app, a, e) in &run.jobs {
        per_app[app].0 += 1;
        per_app[app].1 += us(e - a);
    }
    lat.sort_by(f64::total_cmp);
    let busy_total: u64 = run.pes.iter().map(|p| p.0).sum();
    let stats = JobStats {
        scheduler: scheduler.to_string(),
        jobs_completed: run.jobs.len() as u64,
        makespan: us(run.makespan),
        makespan_cycles: run.makespan,
        avg_job_latency_us: avg,
        p50_job_latency_us: percentile(&lat, 50.0),
        p95_job_latency_us: percentile(&lat, 95.0),
        p99_job_latency_us: percentile(&lat, 99.0),
        max_job_latency_us: lat.last().copied().unwrap_or(0.0),
        throughput_jobs_per_ms: if run.makespan > 0 {
            run.jobs.len() as f64 / (us(run.makespan) / 1000.0)
        } else {
            0.0
        },
        energy_per_job_uj: energy * 1e6 / n,
        interconnect_bytes: run.interconnect_bytes,
        apps: apps
            .iter()
            .zip(&per_app)
            .map(|(g, &(c, sum))| AppStats {
                name: g.name.clone(),
                jobs: c,
                avg_job_latency_us: if c > 0 { sum / c as f64 } else { 0.0 },
            })
            .collect(),
        pe_utilization: pe_usage,
        gantt_jobs: soc.config().gantt_jobs,
    };
    let p = soc.pes().len().max(1) as f64;
    Report {
        total_cycles: run.makespan,
        compute_cycles: busy_total,
        stall_cycles: 0,
        latency_s: makespan_s,
        energy_j: energy,
        area_mm2: soc.pes().iter().map(|p| p.area_mm2).sum(),
        utilization: if run.makespan > 0 {
            busy_total as f64 / (p * run.makespan as f64)
        } else {
            0.0
        },
        macs: 0,
        peak_memory_bytes: 0,
        bytes: BTreeMap::from([("interconnect".to_string(), run.interconnect_bytes)]),
        ops,
        jobs: Some(stats),
        ..Report::new(
            work.set.describe(),
            format!("{}, {scheduler}", soc.describe()),
            Provenance::new(config_hash, seed),
        )
    }
}
