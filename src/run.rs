//! The one dispatcher: [`run_any`] runs a config of any kind — a simulation (an op graph,
//! several `tasks:` on one chip, or a `jobs:` stream), a search, a serving fleet (or a fleet
//! search), a training iteration, a collective, a study — and returns an [`Outcome`] that
//! carries what `archsim run` prints: the JSON of `--json`, the summary for people, and the
//! files it wrote. The command line (`src/main.rs`) and the Python package call it; neither
//! dispatches on its own.
//!
//! Which kind a config is follows from its sections ([`kind_of`]); a study is picked by the
//! registry of `archsim-studies` ([`archsim_studies::find`]), never by name here.

use std::path::{Path, PathBuf};

use serde_json::Value;

use archsim_agents::{SearchConfig, SearchResult};
use archsim_sim::Report;
use archsim_studies::StudyOutput;

use crate::files::OutDir;
use crate::{collective, config, output, search, serve, training, Config, ConfigError, Error};

/// The kind of a config document as `archsim run` reads it from its top-level sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigKind {
    /// A `study:` section: a registered study.
    Study,
    /// A `search:` section: a search over the rest of the file.
    Search,
    /// A `sweep:` section: many points, run by `archsim sweep`.
    Sweep,
}

impl ConfigKind {
    /// The section that makes a config this kind.
    pub fn section(self) -> &'static str {
        match self {
            ConfigKind::Study => "study",
            ConfigKind::Search => "search",
            ConfigKind::Sweep => "sweep",
        }
    }
}

/// The kind of a config document by its sections (`study:`, `search:`, `sweep:`, the first
/// present and not null), or `None` for one run (a simulation, a serving, training or
/// collective run, or a study picked by a section of its own, see [`archsim_studies::find`]).
pub fn kind_of(doc: &Value) -> Option<ConfigKind> {
    [ConfigKind::Study, ConfigKind::Search, ConfigKind::Sweep]
        .into_iter()
        .find(|k| doc.get(k.section()).is_some_and(|v| !v.is_null()))
}

/// One pipeline stage that `--stop-after` dumps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The op graph (or the job set of a `jobs:` workload).
    Workload,
    /// The per-op mapping.
    Mapping,
    /// The timed schedule.
    Schedule,
}

impl Stage {
    /// The stage by its name on the command line.
    pub fn parse(name: &str) -> Option<Stage> {
        match name {
            "workload" => Some(Stage::Workload),
            "mapping" => Some(Stage::Mapping),
            "schedule" => Some(Stage::Schedule),
            _ => None,
        }
    }

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Workload => "workload",
            Stage::Mapping => "mapping",
            Stage::Schedule => "schedule",
        }
    }
}

/// What [`run_any`] runs: a config's text and where its outputs go.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The config text.
    pub text: &'a str,
    /// Its file name, for errors.
    pub file: &'a str,
    /// The folder relative paths in it are resolved against.
    pub base: &'a Path,
    /// `--set PATH=VALUE` overrides.
    pub set: &'a [String],
    /// The output folder; `None` writes nothing (a study, which always writes files, then
    /// uses a scratch folder and removes it).
    pub dir: Option<&'a Path>,
    /// Stop after this stage of one simulation and return it ([`Ran::Stage`]).
    pub stop_after: Option<Stage>,
}

impl<'a> Request<'a> {
    /// A request for the whole run of `text`, writing into `dir` when given.
    pub fn new(
        text: &'a str,
        file: &'a str,
        base: &'a Path,
        set: &'a [String],
        dir: Option<&'a Path>,
    ) -> Request<'a> {
        Request {
            text,
            file,
            base,
            set,
            dir,
            stop_after: None,
        }
    }
}

/// What a run produced, by kind.
#[derive(Debug)]
#[non_exhaustive]
pub enum Ran {
    /// One simulation of an op graph.
    Simulation(Box<Report>),
    /// Several `tasks:` run together on one chip.
    Tasks(Box<Report>),
    /// A `jobs:` stream on a SoC.
    Jobs(Box<Report>),
    /// A serving fleet.
    Serving(Box<archsim_serving::Served>),
    /// One training iteration.
    Training(Box<training::TrainingRunReport>),
    /// A collective at every size.
    Collective(Box<collective::CollectiveReport>),
    /// A search (over a simulation config or a serving fleet).
    Search {
        /// The `search:` section.
        search: Box<SearchConfig>,
        /// Its result.
        result: Box<SearchResult>,
    },
    /// A registered study.
    Study(Box<StudyOutput>),
    /// A `--stop-after` dump of one pipeline stage, as pretty JSON.
    Stage(String),
}

/// A finished run: what it produced, the folder it wrote and the files in it.
#[derive(Debug)]
pub struct Outcome {
    /// What ran and its result.
    pub ran: Ran,
    /// The output folder, when the run wrote one.
    pub dir: Option<PathBuf>,
    /// The files written in it.
    pub files: Vec<PathBuf>,
}

impl Outcome {
    /// The result as a JSON value (`archsim.run` in Python): a simulation's or a serving,
    /// training or collective run's report, a search's `{agent, seed, best, history,
    /// pareto}`, a study's results.
    pub fn value(&self) -> Value {
        let v = match &self.ran {
            Ran::Simulation(r) | Ran::Tasks(r) | Ran::Jobs(r) => serde_json::to_value(r),
            Ran::Serving(s) => serde_json::to_value(&s.report),
            Ran::Training(r) => serde_json::to_value(r),
            Ran::Collective(r) => serde_json::to_value(r),
            Ran::Search { result, .. } => serde_json::to_value(result),
            Ran::Study(o) => Ok(o.json.clone()),
            Ran::Stage(s) => serde_json::from_str(s),
        };
        v.unwrap_or_default()
    }

    /// What `archsim run --json` prints on stdout: the value as pretty JSON, newline-terminated.
    pub fn json(&self) -> String {
        match &self.ran {
            Ran::Simulation(r) | Ran::Tasks(r) | Ran::Jobs(r) => output::report_json(r),
            Ran::Serving(s) => serve::report_json(s),
            Ran::Training(r) => training::report_json(r),
            Ran::Collective(r) => collective::report_json(r),
            Ran::Search { result, .. } => pretty(result),
            Ran::Study(o) => pretty(&o.json),
            Ran::Stage(s) => format!("{s}\n"),
        }
    }

    /// What `archsim run` prints for people (without the list of files); `None` when it
    /// prints nothing (a job stream without job statistics).
    pub fn summary(&self) -> Option<String> {
        Some(match &self.ran {
            Ran::Simulation(r) => simulation_summary(r),
            Ran::Tasks(r) => tasks_summary(r),
            Ran::Jobs(r) => jobs_summary(r)?,
            Ran::Serving(s) => serve::summary(s),
            Ran::Training(r) => training::summary(r),
            Ran::Collective(r) => collective::summary(r),
            Ran::Search { search, result } => search::summary(search, result),
            Ran::Study(o) => o.text.clone(),
            Ran::Stage(s) => format!("{s}\n"),
        })
    }
}

/// What `archsim run` prints: its standard output and, after the run's own progress, the
/// last lines of its standard error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Printed {
    /// Standard output: the report JSON alone with `--json`, else the summary and the files.
    pub stdout: String,
    /// Standard error: where the files went, with `--json`.
    pub stderr: String,
}

/// `--out` must be a folder (or not exist yet); checked before the config is read. The folder
/// is created, checked writable and locked ([`OutDir::prepare`]) once the config has loaded,
/// before any work.
pub fn check_out(out: Option<&Path>) -> Result<(), Error> {
    match out {
        Some(o) if o.exists() && !o.is_dir() => Err(Error::Config(
            ConfigError::new(
                o.display().to_string(),
                "exists and is not a folder; give a folder for the outputs",
            )
            .with_key("--out"),
        )),
        _ => Ok(()),
    }
}

/// `archsim run [CONFIG] [--json] [--set PATH=VALUE]... [--out DIR] [--stop-after STAGE]`:
/// reads the config (or takes the embedded quickstart), runs it through [`run_any`] into its
/// output folder (`--out`, or [`output::default_dir`]) and returns what the command prints.
pub fn run_command(
    path: Option<&Path>,
    json: bool,
    set: &[String],
    out: Option<PathBuf>,
    stop_after: Option<Stage>,
) -> Result<Printed, Error> {
    use std::fmt::Write as _;
    check_out(out.as_deref())?;
    let (text, name, base) = match path {
        Some(p) => {
            let text = config::read_file(p)?;
            let base = p
                .parent()
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
            let stem = p
                .file_stem()
                .map_or_else(|| "run".into(), |s| s.to_string_lossy().into_owned());
            (text, stem, base)
        }
        None => (
            crate::QUICKSTART.to_string(),
            "quickstart".to_string(),
            PathBuf::from("."),
        ),
    };
    let file = path.map_or_else(
        || "<embedded quickstart>".to_string(),
        |p| p.display().to_string(),
    );
    let dir = out.unwrap_or_else(|| output::default_dir(&name, set));
    let request = Request {
        stop_after,
        ..Request::new(&text, &file, &base, set, Some(&dir))
    };
    let outcome = run_any(&request)?;
    let mut printed = Printed::default();
    if matches!(outcome.ran, Ran::Stage(_)) {
        printed.stdout = outcome.json();
        return Ok(printed);
    }
    if json {
        printed.stdout = outcome.json();
        printed.stderr = format!("wrote {}\n", dir.display());
        return Ok(printed);
    }
    let Some(summary) = outcome.summary() else {
        return Ok(printed);
    };
    printed.stdout = summary;
    if outcome.files.is_empty() {
        let _ = writeln!(printed.stdout, "wrote {}", dir.display());
    } else {
        printed.stdout.push_str("wrote:\n");
        for f in &outcome.files {
            let _ = writeln!(printed.stdout, "  {}", f.display());
        }
    }
    Ok(printed)
}

fn pretty<T: serde::Serialize + ?Sized>(v: &T) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

/// Runs any config as `archsim run` does and returns its [`Outcome`]. The output folder
/// (`req.dir`) is created, checked writable and locked ([`OutDir`]) once the config has
/// loaded, before any work; its files are renamed into place together once the run has
/// succeeded (none if it failed). A key's error found after the config loaded (building the
/// workload, running the model) is located at the key like the loader's own
/// ([`crate::locate_error`]).
pub fn run_any(req: &Request<'_>) -> Result<Outcome, Error> {
    let mut held = None;
    let outcome = dispatch(req, &mut held)
        .map_err(|e| crate::locate_error(req.text, req.file, req.set, e))?;
    if let Some(h) = held {
        h.commit()?;
    }
    Ok(outcome)
}

/// An outcome that wrote `files` into `dir`.
fn done(ran: Ran, dir: Option<&Path>, files: Vec<PathBuf>) -> Outcome {
    Outcome {
        ran,
        dir: dir.map(Path::to_path_buf),
        files,
    }
}

fn io(file: &str, e: impl std::fmt::Display) -> Error {
    Error::Io {
        path: file.to_string(),
        message: e.to_string(),
    }
}

/// Locks `dir` when there is one.
fn hold(dir: Option<&Path>, held: &mut Option<OutDir>) -> Result<(), Error> {
    *held = dir.map(OutDir::prepare).transpose()?;
    Ok(())
}

fn dispatch(req: &Request<'_>, held: &mut Option<OutDir>) -> Result<Outcome, Error> {
    let Request {
        text,
        file,
        base,
        set,
        dir,
        stop_after,
    } = *req;
    if let Some(stage) = stop_after {
        stop_after_applies(text, file, set, stage)?;
    }
    let doc = serde_saphyr::from_str::<Value>(text).ok();
    if let Some(v) = &doc {
        // A sweep file runs many points: `run` refuses it rather than run its base point and
        // ignore the `sweep:` section (`--set sweep=null` runs the base point alone).
        let section = ConfigKind::Sweep.section();
        let has_sweep = |d: &Value| d.get(section).is_some_and(|s| !s.is_null());
        let swept = if set.is_empty() {
            has_sweep(v)
        } else {
            let mut d = v.clone();
            config::apply_overrides(&mut d, file, set).is_ok() && has_sweep(&d)
        };
        if swept {
            return Err(Error::Config(config::located_key_error(
                text,
                file,
                set,
                section,
                "this file is a sweep, which runs many points: run it with `archsim sweep FILE` \
                 (from Python, `archsim.sweep(config)`)"
                    .into(),
            )));
        }
        // A study picked by a section of its own runs before the other kinds look at the file.
        let by_section = archsim_studies::STUDIES
            .iter()
            .find(|s| s.section.is_some_and(|k| v.get(k).is_some()));
        if let Some(study) = by_section {
            return run_study(study, v, req, held);
        }
        if serve::is_serving(v) {
            let (f, search) = serve::load_search(text, file, set)?;
            if let Some(search) = search {
                // A fleet search: the serving config is the base the search varies.
                let doc = serde_json::to_value(&f).map_err(|e| io(file, e))?;
                hold(dir, held)?;
                let result = search::run_value(doc.clone(), &search, base)?;
                let files = match dir {
                    Some(d) => search::write_value(&doc, &search, &result, d)?,
                    None => Vec::new(),
                };
                let ran = Ran::Search {
                    search: Box::new(search),
                    result: Box::new(result),
                };
                return Ok(done(ran, dir, files));
            }
            hold(dir, held)?;
            let served =
                serve::run(&f, base).map_err(|e| serve::config_error(text, file, set, e))?;
            crate::finite::check(&served.report, "the serving run")?;
            let files = match dir {
                Some(d) => serve::write(&f, &served, d)?,
                None => Vec::new(),
            };
            return Ok(done(Ran::Serving(Box::new(served)), dir, files));
        }
        if training::is_training(v) && v.get("sweep").is_none() && training::has_search(v) {
            // A layout search: the training config is the base the search varies.
            let (doc, search) = training::load_search(text, file, set)?;
            hold(dir, held)?;
            let result = search::run_value(doc.clone(), &search, base)?;
            let files = match dir {
                Some(d) => search::write_value(&doc, &search, &result, d)?,
                None => Vec::new(),
            };
            let ran = Ran::Search {
                search: Box::new(search),
                result: Box::new(result),
            };
            return Ok(done(ran, dir, files));
        }
        if training::is_training(v) && v.get("sweep").is_none() {
            hold(dir, held)?;
            let (report, files) = training::run_file(text, file, set, dir)?;
            return Ok(done(Ran::Training(Box::new(report)), dir, files));
        }
        if collective::is_collective(v) && v.get("sweep").is_none() {
            let loaded = collective::load(text, file, set)?;
            hold(dir, held)?;
            let (report, files) = collective::run_loaded(text, file, set, &loaded, dir)?;
            return Ok(done(Ran::Collective(Box::new(report)), dir, files));
        }
        if let Some(study) = archsim_studies::find(v, text, file, set)? {
            return run_study(study, v, req, held);
        }
    }
    let (cfg, _, search) = config::load_full(text, file, set)?;
    // Every kind below writes into `dir` except a `--stop-after` dump of a graph or job
    // workload: create, check and lock it before any work.
    let writes = stop_after.is_none() || search.is_some() || cfg.workload.is_tasks();
    if writes {
        hold(dir, held)?;
    }
    if let Some(search) = search {
        let result = search::run(&cfg, &search, base)?;
        let files = match dir {
            Some(d) => search::write(&cfg, &search, &result, d)?,
            None => Vec::new(),
        };
        let ran = Ran::Search {
            search: Box::new(search),
            result: Box::new(result),
        };
        return Ok(done(ran, dir, files));
    }
    if cfg.workload.is_jobs() {
        return run_jobs(&cfg, base, dir, stop_after);
    }
    if cfg.workload.is_tasks() {
        if let Some(stage) = stop_after {
            return Err(stop_after_error(
                file,
                stage,
                "several `tasks:` run together on one chip; each task's graph is its own \
                 simulation config (`--stop-after workload` on it)",
            ));
        }
        let report = crate::simulate(&cfg, base)?;
        let files = match dir {
            Some(d) => output::write_run(&cfg, &report, d)?,
            None => Vec::new(),
        };
        return Ok(done(Ran::Tasks(Box::new(report)), dir, files));
    }
    if let Some(stage) = stop_after {
        return dump_stage(&cfg, base, stage).map(|s| done(Ran::Stage(s), None, Vec::new()));
    }
    let (w, warnings) = cfg.workload.build_with_warnings(base)?;
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    let report = crate::evaluate(&cfg, &w)?;
    let files = match dir {
        Some(d) => {
            let mut files = output::write_run(&cfg, &report, d)?;
            let wpath = d.join("workload.csv");
            output::write_workload_csv(&w, &wpath)?;
            files.push(wpath);
            files
        }
        None => Vec::new(),
    };
    Ok(done(Ran::Simulation(Box::new(report)), dir, files))
}

/// Runs a registered study into `req.dir`, or into a scratch folder removed afterwards when
/// there is none.
fn run_study(
    study: &archsim_studies::Study,
    doc: &Value,
    req: &Request<'_>,
    held: &mut Option<OutDir>,
) -> Result<Outcome, Error> {
    static SCRATCH: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let scratch = req.dir.is_none().then(|| {
        std::env::temp_dir().join(format!(
            "archsim-run-{}-{}",
            std::process::id(),
            SCRATCH.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ))
    });
    // Every value of the file is range-checked before the folder is locked (a bad value
    // leaves no folder held; the study reads its sections itself afterwards).
    let mut checked = doc.clone();
    config::apply_overrides(&mut checked, req.file, req.set)?;
    config::check_values(&checked, req.text, req.file, req.set)?;
    if let Some(s) = &scratch {
        // A fresh folder of this process (never one planted under the same name).
        std::fs::create_dir(s).map_err(|e| crate::files::io_error(s, &e))?;
    }
    hold(req.dir, held)?;
    let out = req
        .dir
        .map_or_else(|| scratch.clone().unwrap_or_default(), Path::to_path_buf);
    let result = (study.run)(&archsim_studies::StudyRun {
        doc: doc.clone(),
        text: req.text,
        file: req.file,
        base: req.base,
        set: req.set,
        dir: out,
        host: &crate::Runner,
    });
    if let Some(s) = scratch {
        let _ = std::fs::remove_dir_all(s);
    }
    let output = result?;
    let files = if req.dir.is_some() {
        output.files.clone()
    } else {
        Vec::new()
    };
    Ok(done(Ran::Study(Box::new(output)), req.dir, files))
}

/// The op graph, mapping or schedule of one simulation, as pretty JSON.
fn dump_stage(cfg: &Config, base: &Path, stage: Stage) -> Result<String, Error> {
    let w = cfg.workload.build(base)?;
    let dump = if stage == Stage::Workload {
        serde_json::to_string_pretty(&w)
    } else {
        let family = cfg.accelerator.family()?;
        let Some(acc) = family.per_op() else {
            return Err(Error::Accelerator(
                archsim_accelerators::AccelError::InvalidConfig {
                    key: "kind".into(),
                    reason: format!(
                        "`{}` prices larger units than single ops and has no per-op {} to \
                         dump; `--stop-after workload` works on every kind",
                        cfg.accelerator.kind(),
                        stage.name()
                    ),
                },
            ));
        };
        if stage == Stage::Mapping {
            serde_json::to_string_pretty(&acc.mapping_json(&w)?)
        } else {
            serde_json::to_string_pretty(&acc.schedule_json(&w)?)
        }
    };
    dump.map_err(|e| io("stage", e))
}

fn run_jobs(
    cfg: &Config,
    base: &Path,
    dir: Option<&Path>,
    stop_after: Option<Stage>,
) -> Result<Outcome, Error> {
    match stop_after {
        Some(Stage::Workload) => {
            let set = cfg.workload.build_jobs(base, cfg.seed)?;
            let dump = serde_json::to_string_pretty(&set).map_err(|e| io("jobs", e))?;
            return Ok(done(Ran::Stage(dump), None, Vec::new()));
        }
        Some(stage) => {
            return Err(Error::Accelerator(
                archsim_accelerators::AccelError::InvalidConfig {
                    key: "kind".into(),
                    reason: format!(
                        "--stop-after {} applies to op-graph workloads; a job stream stops after `workload`",
                        stage.name()
                    ),
                },
            ))
        }
        None => {}
    }
    let report = crate::simulate(cfg, base)?;
    let files = match dir {
        Some(d) => output::write_run(cfg, &report, d)?,
        None => Vec::new(),
    };
    Ok(done(Ran::Jobs(Box::new(report)), dir, files))
}

/// `--stop-after STAGE` dumps a stage of one simulation's pipeline: a config of another kind
/// (a search, a serving run, a study) has no such stage, and running it whole instead would
/// ignore the option.
fn stop_after_applies(text: &str, file: &str, set: &[String], stage: Stage) -> Result<(), Error> {
    let Ok(mut doc) = serde_saphyr::from_str::<Value>(text) else {
        // A malformed file: the loader reports it.
        return Ok(());
    };
    if config::apply_overrides(&mut doc, file, set).is_err() {
        return Ok(());
    }
    let section_study = archsim_studies::STUDIES.iter().find(|s| {
        s.section
            .is_some_and(|k| doc.get(k).is_some_and(|v| !v.is_null()))
    });
    let what = if let Some(st) = section_study {
        format!(
            "a study runs many simulations and tabulates them ({})",
            st.about
        )
    } else if serve::is_serving(&doc) {
        "a serving config simulates requests over time on a fleet".into()
    } else {
        match kind_of(&doc) {
            Some(ConfigKind::Study) => "a study runs many simulations and tabulates them".into(),
            Some(ConfigKind::Search) => "a search config runs many simulations".into(),
            Some(ConfigKind::Sweep) => {
                "a sweep runs many simulations (with `archsim sweep`)".into()
            }
            None => return Ok(()),
        }
    };
    Err(stop_after_error(
        file,
        stage,
        &format!(
            "{what}, not one pipeline; `--stop-after` dumps a stage of one simulation: leave \
             it out, or run a simulation config"
        ),
    ))
}

fn stop_after_error(file: &str, stage: Stage, why: &str) -> Error {
    Error::Config(ConfigError::new(file, why).with_key(format!("--stop-after {}", stage.name())))
}

/// The summary of one simulation.
fn simulation_summary(report: &Report) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let _ = writeln!(o, "{} on {}", report.workload, report.accelerator);
    let _ = writeln!(
        o,
        "  total cycles   {:>14}  ({} compute + {} stall, summed over ops that may overlap)",
        report.total_cycles, report.compute_cycles, report.stall_cycles
    );
    let _ = writeln!(o, "  latency        {:>14.6} ms", report.latency_s * 1e3);
    let _ = writeln!(o, "  utilization    {:>14.2} %", report.utilization * 100.0);
    // With tensor parallelism the op graph is one device's share: say so where it matters.
    let per_device = match &report.llm {
        Some(l) if l.ep > 1 => format!(
            "  (the busiest of the {} x {} tensor- x expert-parallel devices)",
            l.tp, l.ep
        ),
        Some(l) if l.tp > 1 => format!("  (one of the {} tensor-parallel devices)", l.tp),
        _ => String::new(),
    };
    let _ = writeln!(
        o,
        "  energy         {:>14.6} mJ{per_device}",
        report.energy_j * 1e3
    );
    let _ = writeln!(
        o,
        "  area           {:>14.3} mm2{per_device}",
        report.area_mm2
    );
    let _ = writeln!(o, "  MACs           {:>14}{per_device}", report.macs);
    let _ = writeln!(
        o,
        "  DRAM traffic   {:>14} bytes",
        report
            .bytes
            .get("dram")
            .or_else(|| report.bytes.get("hbm"))
            .copied()
            .unwrap_or(0)
    );
    if !report.fits {
        for why in &report.why_not {
            let _ = writeln!(o, "  DOES NOT FIT   {why}");
        }
    }
    if let Some(l) = &report.llm {
        let ep = if l.ep > 1 {
            format!(", ep {}", l.ep)
        } else {
            String::new()
        };
        let _ = writeln!(
            o,
            "  LLM ({}, batch {}, prompt {}, context {}, tp {}{ep}, {}):",
            l.model, l.batch, l.prompt_len, l.context_len, l.tp, l.launch
        );
        let _ = writeln!(o, "    TTFT         {:>14.3} ms", l.ttft_s * 1e3);
        let _ = writeln!(o, "    TPOT         {:>14.3} ms", l.tpot_s * 1e3);
        if let Some(a) = &l.all_to_all {
            let _ = writeln!(
                o,
                "    all-to-all   {:>14.3} ms per decode step exposed ({:.1} % of TPOT, {:.2} MB out of each device), {:.3} ms in the prefill",
                a.tpot_s * 1e3,
                a.tpot_share * 100.0,
                a.tpot_bytes / 1e6,
                a.ttft_s * 1e3
            );
        }
        let _ = writeln!(
            o,
            "    decode       {:>14.1} tokens/s",
            l.decode_tokens_per_s
        );
        let _ = writeln!(
            o,
            "    memory       {:>14.2} GB of {:.2} GB (weights {:.2}, KV cache {:.2}, activations {:.2})",
            l.memory.total_bytes as f64 / 1e9,
            l.memory.capacity_bytes as f64 / 1e9,
            l.memory.weights_bytes as f64 / 1e9,
            l.memory.kv_cache_bytes as f64 / 1e9,
            l.memory.activation_bytes as f64 / 1e9
        );
        let _ = writeln!(
            o,
            "    max batch    {:>14} at context {}",
            l.max_batch, l.context_len
        );
        if let Some(s) = &l.kv_swap {
            let _ = writeln!(
                o,
                "    KV swap      {:>14.2} GB over the host link: {:.3} s per token",
                s.overflow_bytes as f64 / 1e9,
                s.decode_swap_s
            );
        }
    }
    let mut top: Vec<_> = report.ops.iter().collect();
    top.sort_by(|a, b| b.cycles.cmp(&a.cycles).then(a.name.cmp(&b.name)));
    let _ = writeln!(o, "  slowest ops:");
    for op in top.iter().take(5) {
        let _ = writeln!(
            o,
            "    {:<24} {:>10} cycles  {:>6.1} % util  {}",
            op.name,
            op.cycles,
            op.utilization * 100.0,
            op.mapping
        );
    }
    o
}

/// The summary of several tasks on one chip.
fn tasks_summary(report: &Report) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let _ = writeln!(o, "{} on {}", report.workload, report.accelerator);
    for t in report.tasks.iter().flatten() {
        let _ = writeln!(
            o,
            "  {:<40} on {:<12} {:>12.6} ms  {:>10.6} mJ",
            t.workload,
            t.sub_accelerator,
            t.latency_s * 1e3,
            t.energy_j * 1e3
        );
    }
    let _ = writeln!(
        o,
        "  latency        {:>14.6} ms  (all tasks done: the slowest task)",
        report.latency_s * 1e3
    );
    let _ = writeln!(o, "  energy         {:>14.6} mJ", report.energy_j * 1e3);
    let _ = writeln!(o, "  area           {:>14.3} mm2", report.area_mm2);
    o
}

/// The summary of a job stream; `None` without job statistics.
fn jobs_summary(report: &Report) -> Option<String> {
    use std::fmt::Write as _;
    let s = report.jobs.as_ref()?;
    let mut o = String::new();
    let _ = writeln!(o, "{} on {}", report.workload, report.accelerator);
    let _ = writeln!(o, "  jobs           {:>14}", s.jobs_completed);
    let _ = writeln!(o, "  makespan       {:>14.3} us", s.makespan);
    let _ = writeln!(
        o,
        "  job latency    {:>14.3} us avg, {:.3} p95, {:.3} p99",
        s.avg_job_latency_us, s.p95_job_latency_us, s.p99_job_latency_us
    );
    let _ = writeln!(
        o,
        "  throughput     {:>14.4} jobs/ms",
        s.throughput_jobs_per_ms
    );
    let _ = writeln!(
        o,
        "  energy         {:>14.6} mJ ({:.3} uJ/job)",
        report.energy_j * 1e3,
        s.energy_per_job_uj
    );
    let _ = writeln!(o, "  PE utilization:");
    for p in &s.pe_utilization {
        let _ = writeln!(
            o,
            "    {:<12} {:>6.1} %  {:>6} tasks",
            p.name,
            p.utilization * 100.0,
            p.tasks
        );
    }
    Some(o)
}
