//! `archsim run` on a serving config (`workload: {llm: ...}` + `serving:`): loading with
//! errors located at their line and column, the run, and the output folder (`config.yaml`,
//! `report.json`, `requests.csv`, plots). The simulator itself is `archsim_serving`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use archsim_serving::{Served, ServingError};

use crate::config::{located, typed_at};
use crate::{ConfigError, Error};

pub use archsim_serving::ServingFile;

/// True when a parsed config document is a serving config.
pub fn is_serving(doc: &Value) -> bool {
    doc.get("serving").is_some()
}

/// A serving error as a config error located in the file.
pub fn config_error(text: &str, file: &str, overrides: &[String], e: ServingError) -> Error {
    match e {
        ServingError::Config { key, reason } => {
            Error::Config(located(text, file, overrides, key, reason))
        }
        ServingError::Cancelled => Error::Cancelled,
        other => Error::Io {
            path: file.to_string(),
            message: other.to_string(),
        },
    }
}

/// Parses a serving config (`--set` overrides applied) and checks its values. A `search:`
/// section is left out ([`load_search`] reads it).
pub fn load(text: &str, file: &str, overrides: &[String]) -> Result<ServingFile, ConfigError> {
    load_search(text, file, overrides).map(|(f, _)| f)
}

/// Parses a serving config and its `search:` section, if any: a fleet search whose space
/// varies the serving config (`serving.pools[0].count`, `serving.pools[1].tp`,
/// `serving.scheduler.max_batch`, `serving.pools[0].accelerator.preset`, ...) and whose
/// objectives and constraints name serving metrics
/// ([`SERVING_METRICS`](archsim_gym::SERVING_METRICS)). The section is checked whole, against
/// the config it varies, before anything runs.
pub fn load_search(
    text: &str,
    file: &str,
    overrides: &[String],
) -> Result<(ServingFile, Option<archsim_agents::SearchConfig>), ConfigError> {
    let mut value = crate::config::document(text, file, overrides)?;
    // A `sweep:` section is read by `archsim sweep` (each point is this config with overrides).
    let mut search = None;
    if let Some(m) = value.as_object_mut() {
        m.remove("sweep");
        search = m.remove("search").filter(|v| !v.is_null());
    }
    let f: ServingFile = typed_at(value, &[], text, file, overrides)?;
    f.serving.validate().map_err(|e| match e {
        ServingError::Config { key, reason } => located(text, file, overrides, key, reason),
        other => located(text, file, overrides, String::new(), other.to_string()),
    })?;
    if f.workload.llm.is_none() {
        return Err(located(
            text,
            file,
            overrides,
            "workload".into(),
            "a serving config serves an `llm:` model: give `workload: {llm: {model: ...}}`".into(),
        ));
    }
    let Some(search) = search else {
        return Ok((f, None));
    };
    let search: archsim_agents::SearchConfig =
        typed_at(search, &["search"], text, file, overrides)?;
    let base = serde_json::to_value(&f)
        .map_err(|e| located(text, file, overrides, String::new(), e.to_string()))?;
    search.validate(&base).map_err(|e| {
        let (key, message) = e.key_and_reason();
        located(text, file, overrides, key, message)
    })?;
    Ok((f, Some(search)))
}

/// Runs a loaded serving config.
pub fn run(f: &ServingFile, base: &Path) -> Result<Served, ServingError> {
    archsim_serving::serve(&f.serving, &f.workload, f.seed, base)
}

fn io(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// The report as pretty JSON, newline-terminated.
pub fn report_json(s: &Served) -> String {
    let mut j = serde_json::to_string_pretty(&s.report).expect("a report always serializes");
    j.push('\n');
    j
}

/// Writes `config.yaml`, `report.json`, `requests.csv` and the plots into `dir`.
pub fn write(f: &ServingFile, s: &Served, dir: &Path) -> Result<Vec<PathBuf>, Error> {
    // A value that is not a number would read `null` in report.json: the run failed instead.
    crate::finite::check(&s.report, "the serving run")?;
    crate::files::create_dir(dir)?;
    let mut out = Vec::new();
    let p = dir.join("config.yaml");
    let yaml = serde_saphyr::to_string(f).map_err(|e| io(&p, e))?;
    crate::files::write(&p, yaml)?;
    out.push(p);
    let p = dir.join("report.json");
    crate::files::write(&p, report_json(s))?;
    out.push(p);
    let p = dir.join("requests.csv");
    let mut file = crate::files::AtomicFile::create(&p)?;
    s.requests
        .write_csv(&mut file)
        .map_err(|e| crate::files::csv_error(&p, &e))?;
    file.commit()?;
    out.push(p);
    if let Some(trace) = &s.trace {
        let p = dir.join("trace.json");
        crate::files::write(&p, trace)?;
        out.push(p);
    }
    for stem in crate::plot::serving_plots(&s.report, &s.requests, dir).map_err(Error::File)? {
        out.push(dir.join(format!("{stem}.png")));
        out.push(dir.join(format!("{stem}.svg")));
    }
    Ok(out)
}

/// `archsim plot` on a serving run's folder: redraws its plots from `report.json` and
/// `requests.csv` into `out`.
pub fn replot(dir: &Path, out: &Path) -> Result<Vec<PathBuf>, Error> {
    use archsim_workloads::input::InputKind;
    let rp = dir.join("report.json");
    let text = crate::files::read_text(&rp, InputKind::Json)?;
    let report: archsim_serving::ServingReport = serde_json::from_str(&text).map_err(|e| {
        Error::Config(crate::ConfigError::new(
            rp.display().to_string(),
            format!("not a serving report: {e}"),
        ))
    })?;
    let tp = dir.join("requests.csv");
    let text = crate::files::read_text(&tp, InputKind::Table)?;
    let table = archsim_serving::RequestTable::read_csv(text.as_bytes()).map_err(|e| io(&tp, e))?;
    let mut files = Vec::new();
    for stem in crate::plot::serving_plots(&report, &table, out).map_err(Error::File)? {
        files.push(out.join(format!("{stem}.png")));
        files.push(out.join(format!("{stem}.svg")));
    }
    Ok(files)
}

/// A one-screen summary.
pub fn summary(s: &Served) -> String {
    let r = &s.report;
    let mut o = format!(
        "{} requests of {} in {:.1} s: {:.2} req/s, {:.0} output tokens/s\n",
        r.requests, r.model, r.duration_s, r.throughput_rps, r.tokens_per_s
    );
    for (name, st) in [("TTFT", &r.ttft_s), ("TPOT", &r.tpot_s), ("e2e", &r.e2e_s)] {
        o += &format!(
            "  {name:<5} mean {:.4} s  p50 {:.4} s  p90 {:.4} s  p99 {:.4} s\n",
            st.mean, st.p50, st.p90, st.p99
        );
    }
    o += &format!(
        "  SLO attainment {:.1}% (fleet {}), goodput {:.2} req/s, ${:.2}/h, ${:.3} per M output tokens, {} preemptions\n",
        r.slo_attainment * 100.0,
        if r.slo_met { "meets the SLO" } else { "misses the SLO" },
        r.goodput_rps,
        r.cost_per_hour,
        r.cost_per_mtok,
        r.preemptions
    );
    for p in &r.pools {
        let worst = p.step_checks.iter().map(|c| c.rel_err).fold(0.0, f64::max);
        o += &format!(
            "  pool {} ({} x {} tp {}): busy {:.1}% of the time, KV peak {:.1}% / mean {:.1}% of {} blocks, step shortcut max error {:.1}%\n",
            p.name,
            p.count,
            p.accelerator,
            p.tp,
            p.busy_fraction * 100.0,
            p.kv_peak_occupancy * 100.0,
            p.kv_mean_occupancy * 100.0,
            p.kv_blocks,
            worst * 100.0
        );
    }
    if let Some(l) = &r.load {
        o += &format!(
            "  load: {} of the {:.2} req/s the fleet serves saturated; replicas busy {:.1}% of the time\n",
            l.offered_load.map_or("all requests at once".into(), |x| format!(
                "{:.1}%",
                x * 100.0
            )),
            l.saturated_rps,
            l.busy_fraction * 100.0
        );
    }
    o += &format!(
        "  per iteration: batch mean {:.1} p99 {:.0} sequences, {:.0} tokens mean; time between tokens mean {:.4} s p99 {:.4} s\n",
        r.batch_size.mean, r.batch_size.p99, r.batch_tokens.mean, r.tbt_s.mean, r.tbt_s.p99
    );
    if let Some(c) = &r.capacity {
        o += &match &c.reason {
            Some(why) if !c.feasible => format!("  capacity: infeasible: {why}\n"),
            _ => format!(
                "  capacity: {:.3} req/s within the SLO ({} evaluations of {} requests)\n",
                c.rate_rps,
                c.evaluations.len(),
                c.requests
            ),
        };
    }
    o
}

/// The flat metrics of a serving run, as sweeps tabulate them.
pub fn metrics(s: &Served) -> serde_json::Map<String, Value> {
    let r = &s.report;
    let mut m = serde_json::Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    for (name, st) in [("ttft", &r.ttft_s), ("tpot", &r.tpot_s), ("e2e", &r.e2e_s)] {
        put(&format!("{name}_mean_s"), st.mean.into());
        put(&format!("{name}_p50_s"), st.p50.into());
        put(&format!("{name}_p90_s"), st.p90.into());
        put(&format!("{name}_p99_s"), st.p99.into());
    }
    put("throughput_rps", r.throughput_rps.into());
    put("tokens_per_s", r.tokens_per_s.into());
    put("slo_attainment", r.slo_attainment.into());
    put("slo_met", r.slo_met.into());
    put("goodput_rps", r.goodput_rps.into());
    put("cost_per_hour", r.cost_per_hour.into());
    put("cost_per_mtok", r.cost_per_mtok.into());
    put("preemptions", r.preemptions.into());
    if let Some(e) = r.energy_j {
        put("energy_j", e.into());
    }
    if let Some(c) = &r.capacity {
        put("capacity_rps", c.rate_rps.into());
    }
    m
}
