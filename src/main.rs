//! The `archsim` command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use archsim::files::OutDir;
use archsim::workloads::input::InputKind;
use archsim::{config, output, Error};

/// archsim — a cycle-approximate simulator of AI hardware.
///
/// Describe a workload and an accelerator in a YAML config, run it, and read the report:
///
///   archsim run configs/quickstart.yaml            # writes out/quickstart/
///   archsim run cfg.yaml --set accelerator.rows=64 --set accelerator.dataflow=ws
///   archsim run cfg.yaml --json | jq .total_cycles
///   archsim sweep configs/sweep/systolic_grid.yaml # many points, resumable
///   archsim list                                   # models, accelerator kinds, dataflows
///   archsim schema                                 # JSON schema of the config
#[derive(Parser)]
#[command(name = "archsim", version, verbatim_doc_comment)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Simulate a config and write config.yaml, report.json, ops.csv and plots.
    ///
    /// Without CONFIG, runs the embedded quickstart (ResNet-18 on a 128x128 output-stationary
    /// array). A config with a `search:` section runs that search (report.json, history.csv,
    /// plots); `codesign:` a co-design comparison; `serving:` a serving fleet; `study: {kind}`
    /// a registered study or reproduction (`archsim list` names them). Bad input exits with
    /// code 2 and a one-line error naming the file, line, column and key.
    Run {
        /// The config file (YAML). Omit to run the embedded quickstart.
        config: Option<PathBuf>,
        /// Print the report JSON on stdout (and nothing else); progress goes to stderr.
        #[arg(long)]
        json: bool,
        /// Override a config key, e.g. `--set accelerator.rows=64` (repeatable).
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<String>,
        /// Output folder (default: out/<config name>, or out/<config name>-<hash of the --set
        /// overrides> when there are any, so each variant keeps its own folder).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Stop after a stage and print it as JSON: workload, mapping or schedule.
        #[arg(long, value_parser = ["workload", "mapping", "schedule"])]
        stop_after: Option<String>,
    },
    /// Run a config at many points (the `sweep:` section), in parallel, resumable.
    ///
    /// Every finished point is appended to OUT/journal.jsonl, whose first line records the
    /// config; running the same command again (even after `kill -9`) skips the points already
    /// there. A changed config is refused, saying what changed, unless --fresh. OUT/results.csv
    /// and OUT/results.parquet hold the table (and OUT/heatmap.png when two parameters vary).
    /// When the config has a `search:` section, every point is a whole search and the sweep
    /// ends with a ranking of the optimizers (median evaluations to within 1% of the best).
    /// One command at a time per folder: a second one fails at once naming the first.
    Sweep {
        /// The config file, with a `sweep:` section.
        config: PathBuf,
        /// Output folder (default: out/<config name>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Start over: keep the folder's journal aside as journal.jsonl.N (never deleted) and
        /// start a new one (needed to rerun a changed config into the same folder).
        #[arg(long)]
        fresh: bool,
    },
    /// Redraw the plots of a finished run, search, co-design run or sweep from its folder.
    ///
    /// A run folder (or its report.json): cycles per op, or the Gantt chart of a SoC run. A
    /// search folder: best cost so far and, with two objectives, the Pareto front. A co-design
    /// folder: the Pareto front of both searches. A sweep folder (or its journal.jsonl): the
    /// heatmap of two swept parameters against a metric, e.g. `archsim plot out/systolic_grid
    /// --x accelerator.rows --y accelerator.dataflow --metric energy_j`.
    Plot {
        /// A run, search, co-design or sweep folder, a report.json or a journal.jsonl.
        path: PathBuf,
        /// Sweep: the parameter along x (default: the first swept one that varies).
        #[arg(long)]
        x: Option<String>,
        /// Sweep: the parameter along y (default: the next swept one that varies).
        #[arg(long)]
        y: Option<String>,
        /// Sweep: the metric the cells show (mean over the other parameters).
        #[arg(long, default_value = "latency_s")]
        metric: String,
        /// Output folder (default: the input's folder).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// List the zoo models, accelerator kinds and their options.
    List {
        /// What to list: `models`, `accelerators`, or everything when omitted.
        #[arg(value_parser = ["models", "accelerators"])]
        what: Option<String>,
    },
    /// Print the JSON schema of a config file: every form (a simulation, with a search,
    /// sweep, study or gym section; a co-design problem; the SN40L study).
    Schema,
    /// Hold archsim's GPU kernels for a config against a measured kernel list.
    ///
    /// MEASURED is a `kernels.csv`-format file (`case,idx,kernel,duration_us`; see
    /// tests/data/gpu/h100/kernels.csv) or a Chrome trace from `torch.profiler`
    /// (`prof.export_chrome_trace("trace.json")`, CUDA activity). Prints predicted vs measured
    /// time per kernel family (GEMM/conv, attention, norm, element-wise, copy, reduce/pool)
    /// and writes validate_families.csv, validate_kernels.csv and validate.png. Example:
    /// `archsim validate tests/data/gpu/h100/kernels.csv --case resnet50_b32 --config
    /// configs/resnet50_h100.yaml`.
    Validate {
        /// The measured kernels (CSV or Chrome trace JSON).
        measured: PathBuf,
        /// A config with `accelerator.kind: gpu` and the workload that was measured.
        #[arg(long)]
        config: PathBuf,
        /// The case to compare when MEASURED holds several (the `case` column).
        #[arg(long)]
        case: Option<String>,
        /// Only compare the kernels of ops whose name starts with this (e.g. `layer0.` for one
        /// decoder layer of an LLM step).
        #[arg(long, default_value = "")]
        ops: String,
        /// Output folder (default: out/validate).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    // Die quietly on a closed pipe (`archsim run --json | head`), as command-line tools do,
    // instead of panicking on the failed write.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of one signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            config,
            json,
            set,
            out,
            stop_after,
        } => match run(config.as_deref(), json, &set, out, stop_after.as_deref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(e.exit_code())
            }
        },
        Command::Sweep { config, out, fresh } => match sweep(&config, out, fresh) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(e.exit_code())
            }
        },
        Command::Plot {
            path,
            x,
            y,
            metric,
            out,
        } => match plot(&path, x.as_deref(), y.as_deref(), &metric, out) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(e.exit_code())
            }
        },
        Command::List { what } => {
            list(what.as_deref());
            ExitCode::SUCCESS
        }
        Command::Validate {
            measured,
            config,
            case,
            ops,
            out,
        } => {
            let out = out.unwrap_or_else(|| PathBuf::from("out/validate"));
            match archsim::validate::run_cli(&measured, &config, case.as_deref(), &ops, &out) {
                Ok(s) => {
                    print!("{s}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(e.exit_code())
                }
            }
        }
        Command::Schema => {
            let schema = archsim::schema::config_schema();
            println!(
                "{}",
                serde_json::to_string_pretty(&schema).expect("schema serializes")
            );
            ExitCode::SUCCESS
        }
    }
}

/// `--out` must be a folder (or not exist yet); checked before the config is read. The folder
/// is created, checked writable and locked ([`OutDir::prepare`]) once the config has loaded,
/// before any work.
fn check_out(out: Option<&Path>) -> Result<(), Error> {
    match out {
        Some(o) if o.exists() && !o.is_dir() => Err(Error::Config(archsim::ConfigError {
            file: o.display().to_string(),
            location: None,
            key: Some("--out".into()),
            from_override: None,
            message: "exists and is not a folder; give a folder for the outputs".into(),
        })),
        _ => Ok(()),
    }
}

/// `archsim plot`: redraws a run's or a sweep's plots from its output files.
fn plot(
    path: &Path,
    x: Option<&str>,
    y: Option<&str>,
    metric: &str,
    out: Option<PathBuf>,
) -> Result<(), Error> {
    check_out(out.as_deref())?;
    let bad = |message: String| {
        Error::Config(archsim::ConfigError {
            file: path.display().to_string(),
            location: None,
            key: None,
            from_override: None,
            message,
        })
    };
    let (report, journal) = if path.is_dir() {
        (path.join("report.json"), path.join("journal.jsonl"))
    } else {
        (path.to_path_buf(), path.to_path_buf())
    };
    let folder = |f: &Path| {
        f.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    };
    // A search or co-design folder says so in the config it wrote.
    let written_form = path.is_dir().then(|| {
        archsim::files::read_text(&path.join("config.yaml"), InputKind::Config)
            .ok()
            .and_then(|t| serde_saphyr::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| archsim::config_form(&v))
            .filter(|form| matches!(*form, "search" | "codesign"))
    });
    let held: OutDir;
    let written: Vec<PathBuf> = if let Some(Some(form)) = written_form {
        if out.is_some() {
            return Err(bad(format!(
                "a {form} folder's plots are redrawn in place; leave out --out"
            )));
        }
        held = OutDir::prepare(path)?;
        if form == "search" {
            archsim::search::replot(path)?
        } else {
            archsim::codesign::replot(path)?
        }
    } else if report.is_file() && report.extension().is_some_and(|e| e == "json") {
        let text = archsim::files::read_text(&report, InputKind::Json)?;
        let r: archsim::sim::Report =
            serde_json::from_str(&text).map_err(|e| bad(format!("not an archsim report: {e}")))?;
        let dir = out.unwrap_or_else(|| folder(&report));
        held = OutDir::prepare(&dir)?;
        let stem = if let Some(jobs) = &r.jobs {
            archsim::plot::gantt(&r, &dir, "gantt", jobs.gantt_jobs).map_err(Error::File)?;
            "gantt"
        } else {
            archsim::plot::per_op_cycles(&r, &dir, "cycles_per_op").map_err(Error::File)?;
            "cycles_per_op"
        };
        vec![
            dir.join(format!("{stem}.png")),
            dir.join(format!("{stem}.svg")),
        ]
    } else if journal.is_file() && journal.extension().is_some_and(|e| e == "jsonl") {
        // Read only: a file without archsim's journal header is refused, naming it.
        let entries: Vec<_> = archsim::sweep::read_journal(&journal)?
            .into_values()
            .collect();
        let dir = out.unwrap_or_else(|| folder(&journal));
        held = OutDir::prepare(&dir)?;
        archsim::sweep::heatmap_of(&entries, &dir, x, y, metric)?
    } else {
        return Err(bad(
            "expected a run folder or report.json, or a sweep folder or journal.jsonl".into(),
        ));
    };
    held.commit()?;
    println!("wrote:");
    for f in written {
        println!("  {}", f.display());
    }
    Ok(())
}

fn sweep(path: &Path, out: Option<PathBuf>, fresh: bool) -> Result<(), Error> {
    check_out(out.as_deref())?;
    let text = config::read_file(path)?;
    let base = path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let stem = path
        .file_stem()
        .map_or_else(|| "sweep".into(), |s| s.to_string_lossy().into_owned());
    let dir = out.unwrap_or_else(|| PathBuf::from("out").join(stem));
    let file = path.display().to_string();
    let pts = archsim::sweep::plan(&text, &file)?;
    // The folder is created, checked writable and locked before any point runs; the lock is
    // held until the last plot is written.
    let held = OutDir::prepare(&dir)?;
    let (entries, mut files) = archsim::sweep::run_in(&text, &file, &base, &pts, &held, fresh)?;
    if entries.iter().any(|e| !e.trace.is_empty()) {
        files.extend(archsim::sweep::convergence_plot(&entries, &dir)?);
    }
    held.commit()?;
    let failed = entries.iter().filter(|e| e.error.is_some()).count();
    println!("{} points, {} failed", entries.len(), failed);
    if !entries.is_empty() && failed == entries.len() {
        println!("wrote:");
        for f in &files {
            println!("  {}", f.display());
        }
        return Err(Error::Failed(format!(
            "every point of the sweep failed; the reasons, by count:\n{}",
            archsim::sweep::failure_summary(&entries, 10)
        )));
    }
    if entries.iter().any(|e| !e.trace.is_empty()) {
        println!(
            "{:<60} {:>5} {:>14} {:>22}",
            "configuration", "runs", "median best", "median evals to 1%"
        );
        for (label, n, cost, evals) in archsim::sweep::ranking(&entries) {
            println!("{label:<60} {n:>5} {cost:>14.6e} {evals:>22}");
        }
    }
    println!("wrote:");
    for f in files {
        println!("  {}", f.display());
    }
    Ok(())
}

/// `archsim run`: [`run_held`], then the outputs it wrote are renamed into place together
/// (none if it failed).
fn run(
    path: Option<&Path>,
    json: bool,
    set: &[String],
    out: Option<PathBuf>,
    stop_after: Option<&str>,
) -> Result<(), Error> {
    let mut held = None;
    run_held(path, json, set, out, stop_after, &mut held)?;
    match held {
        Some(h) => h.commit(),
        None => Ok(()),
    }
}

/// Runs a config; `held` receives the output folder once it is prepared (after the config
/// has loaded, before any work).
fn run_held(
    path: Option<&Path>,
    json: bool,
    set: &[String],
    out: Option<PathBuf>,
    stop_after: Option<&str>,
    held: &mut Option<OutDir>,
) -> Result<(), Error> {
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
            archsim::QUICKSTART.to_string(),
            "quickstart".to_string(),
            PathBuf::from("."),
        ),
    };
    let file = path.map_or_else(
        || "<embedded quickstart>".to_string(),
        |p| p.display().to_string(),
    );
    // A key's error found after the config loaded (building the workload, running the
    // model) is located at the key like the loader's own.
    run_loaded(&text, &name, &base, &file, json, set, out, stop_after, held)
        .map_err(|e| archsim::locate_error(&text, &file, set, e))
}

#[allow(clippy::too_many_arguments)]
fn run_loaded(
    text: &str,
    name: &str,
    base: &Path,
    file: &str,
    json: bool,
    set: &[String],
    out: Option<PathBuf>,
    stop_after: Option<&str>,
    held: &mut Option<OutDir>,
) -> Result<(), Error> {
    let (text, name, base, file) = (
        text.to_string(),
        name.to_string(),
        base.to_path_buf(),
        file.to_string(),
    );
    if let Some(stage) = stop_after {
        stop_after_applies(&text, &file, set, stage)?;
    }
    if let Ok(v) = serde_saphyr::from_str::<serde_json::Value>(&text) {
        if v.get("codesign").is_some() {
            let cc = archsim::codesign::parse(&v, &text, &file, set)?;
            let dir = out.unwrap_or_else(|| output::default_dir(&name, set));
            *held = Some(OutDir::prepare(&dir)?);
            let [co, succ] = archsim::codesign::run(&cc, &base, &dir)?;
            if json {
                let j = serde_json::json!({"co_exploration": co, "successive": succ});
                println!("{}", serde_json::to_string_pretty(&j).unwrap_or_default());
                return Ok(());
            }
            for (m, r) in [("co-exploration", &co), ("successive", &succ)] {
                println!(
                    "{m:<15} acc {:.2}%  latency {} ms  energy {:.4} mJ  area {:.3} mm2  violations: {}",
                    r.eval.weighted_accuracy,
                    r.eval
                        .latency_ms
                        .iter()
                        .map(|l| format!("{l:.4}"))
                        .collect::<Vec<_>>()
                        .join(" / "),
                    r.eval.energy_mj,
                    r.eval.area_mm2,
                    if r.eval.violations.is_empty() { "none".into() } else { r.eval.violations.join("; ") }
                );
            }
            println!("wrote {}", dir.display());
            return Ok(());
        }
    }
    if let Ok(v) = serde_saphyr::from_str::<serde_json::Value>(&text) {
        if archsim::serving::is_serving(&v) {
            if v.get("sweep").is_some() {
                return Err(Error::Config(archsim::ConfigError {
                    file: file.clone(),
                    location: None,
                    key: Some("sweep".into()),
                    from_override: None,
                    message: "this file is a sweep: run it with `archsim sweep FILE`".into(),
                }));
            }
            let (f, search) = archsim::serving::load_search(&text, &file, set)?;
            if let Some(search) = search {
                // A fleet search: the serving config is the base the search varies.
                let doc = serde_json::to_value(&f).expect("a serving config serializes");
                let dir = out.unwrap_or_else(|| output::default_dir(&name, set));
                *held = Some(OutDir::prepare(&dir)?);
                let result = archsim::search::run_value(doc.clone(), &search, &base)?;
                let files = archsim::search::write_value(&doc, &search, &result, &dir)?;
                return print_search(&search, &result, &files, &dir, json);
            }
            let dir = out.unwrap_or_else(|| output::default_dir(&name, set));
            *held = Some(OutDir::prepare(&dir)?);
            let served = archsim::serving::run(&f, &base)
                .map_err(|e| archsim::serving::config_error(&text, &file, set, e))?;
            let files = archsim::serving::write(&f, &served, &dir)?;
            print_done(
                json,
                &archsim::serving::report_json(&served),
                &archsim::serving::summary(&served),
                &files,
                &dir,
            );
            return Ok(());
        }
    }
    if let Ok(v) = serde_saphyr::from_str::<serde_json::Value>(&text) {
        if archsim::training::is_training(&v) && v.get("sweep").is_none() {
            let dir = out
                .clone()
                .unwrap_or_else(|| output::default_dir(&name, set));
            *held = Some(OutDir::prepare(&dir)?);
            let (report, files) = archsim::training::run_file(&text, &file, set, Some(&dir))?;
            print_done(
                json,
                &archsim::training::report_json(&report),
                &archsim::training::summary(&report),
                &files,
                &dir,
            );
            return Ok(());
        }
        if archsim::collective::is_collective(&v) && v.get("sweep").is_none() {
            let dir = out
                .clone()
                .unwrap_or_else(|| output::default_dir(&name, set));
            let loaded = archsim::collective::load(&text, &file, set)?;
            *held = Some(OutDir::prepare(&dir)?);
            let (report, files) =
                archsim::collective::run_loaded(&text, &file, set, &loaded, Some(&dir))?;
            print_done(
                json,
                &archsim::collective::report_json(&report),
                &archsim::collective::summary(&report),
                &files,
                &dir,
            );
            return Ok(());
        }
    }
    if let Ok(v) = serde_saphyr::from_str::<serde_json::Value>(&text) {
        if let Some(study) = archsim::studies::find(&v, &text, &file, set)? {
            let dir = out.unwrap_or_else(|| output::default_dir(&name, set));
            *held = Some(OutDir::prepare(&dir)?);
            let done = (study.run)(&archsim::studies::StudyRun {
                doc: v,
                text: &text,
                file: &file,
                base: &base,
                set,
                dir: dir.clone(),
            })?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&done.json).unwrap_or_default()
                );
                eprintln!("wrote {}", dir.display());
            } else if done.files.is_empty() {
                print!("{}", done.text);
                println!("wrote {}", dir.display());
            } else {
                print!("{}", done.text);
                println!("wrote:");
                for f in done.files {
                    println!("  {}", f.display());
                }
            }
            return Ok(());
        }
    }
    let (cfg, _, search) = config::load_full(&text, &file, set).map_err(|mut e| {
        // A sweep's base config may leave swept keys out: point at the command that runs it.
        let is_sweep = serde_saphyr::from_str::<serde_json::Value>(&text)
            .is_ok_and(|v| v.get("sweep").is_some());
        if is_sweep {
            e.message
                .push_str(" (this file is a sweep: run it with `archsim sweep FILE`)");
        }
        e
    })?;
    let dir = out.unwrap_or_else(|| output::default_dir(&name, set));
    // Every form below writes into `dir` except a `--stop-after` dump of a graph or job
    // workload: create, check and lock it before any work.
    let writes = stop_after.is_none() || search.is_some() || cfg.workload.is_tasks();
    *held = writes.then(|| OutDir::prepare(&dir)).transpose()?;

    if let Some(search) = search {
        let result = archsim::search::run(&cfg, &search, &base)?;
        let files = archsim::search::write(&cfg, &search, &result, &dir)?;
        return print_search(&search, &result, &files, &dir, json);
    }

    if cfg.workload.is_jobs() {
        return run_jobs(&cfg, &base, json, &dir, stop_after);
    }

    if cfg.workload.is_tasks() {
        if let Some(stage) = stop_after {
            return Err(stop_after_error(
                &file,
                stage,
                "several `tasks:` run together on one chip; each task's graph is its own \
                 simulation config (`--stop-after workload` on it)",
            ));
        }
        let report = archsim::simulate(&cfg, &base)?;
        let files = output::write_run(&cfg, &report, &dir)?;
        if json {
            print!("{}", output::report_json(&report));
            eprintln!("wrote {}", dir.display());
            return Ok(());
        }
        println!("{} on {}", report.workload, report.accelerator);
        for t in report.tasks.iter().flatten() {
            println!(
                "  {:<40} on {:<12} {:>12.6} ms  {:>10.6} mJ",
                t.workload,
                t.sub_accelerator,
                t.latency_s * 1e3,
                t.energy_j * 1e3
            );
        }
        println!(
            "  latency        {:>14.6} ms  (all tasks done: the slowest task)",
            report.latency_s * 1e3
        );
        println!("  energy         {:>14.6} mJ", report.energy_j * 1e3);
        println!("  area           {:>14.3} mm2", report.area_mm2);
        println!("wrote:");
        for f in files {
            println!("  {}", f.display());
        }
        return Ok(());
    }

    if let Some(stage) = stop_after {
        let w = cfg.workload.build(&base)?;
        let dump = if stage == "workload" {
            serde_json::to_string_pretty(&w)
        } else {
            let family = cfg.accelerator.family()?;
            let Some(acc) = family.per_op() else {
                return Err(Error::Accelerator(
                    archsim::accelerators::AccelError::InvalidConfig {
                        key: "kind".into(),
                        reason: format!(
                            "`{}` prices larger units than single ops and has no per-op {stage} to \
                             dump; `--stop-after workload` works on every kind",
                            cfg.accelerator.kind()
                        ),
                    },
                ));
            };
            if stage == "mapping" {
                serde_json::to_string_pretty(&acc.mapping_json(&w)?)
            } else {
                serde_json::to_string_pretty(&acc.schedule_json(&w)?)
            }
        }
        .expect("stages serialize");
        println!("{dump}");
        return Ok(());
    }

    let (w, warnings) = cfg.workload.build_with_warnings(&base)?;
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    let report = archsim::evaluate(&cfg, &w)?;
    let files = output::write_run(&cfg, &report, &dir)?;
    let wpath = dir.join("workload.csv");
    output::write_workload_csv(&w, &wpath)?;
    let files: Vec<PathBuf> = files.into_iter().chain([wpath]).collect();
    if json {
        print!("{}", output::report_json(&report));
        eprintln!("wrote {}", dir.display());
        return Ok(());
    }
    println!("{} on {}", report.workload, report.accelerator);
    println!(
        "  total cycles   {:>14}  ({} compute + {} stall, summed over ops that may overlap)",
        report.total_cycles, report.compute_cycles, report.stall_cycles
    );
    println!("  latency        {:>14.6} ms", report.latency_s * 1e3);
    println!("  utilization    {:>14.2} %", report.utilization * 100.0);
    // With tensor parallelism the op graph is one device's share: say so where it matters.
    let per_device = match &report.llm {
        Some(l) if l.ep > 1 => format!(
            "  (the busiest of the {} x {} tensor- x expert-parallel devices)",
            l.tp, l.ep
        ),
        Some(l) if l.tp > 1 => format!("  (one of the {} tensor-parallel devices)", l.tp),
        _ => String::new(),
    };
    println!(
        "  energy         {:>14.6} mJ{per_device}",
        report.energy_j * 1e3
    );
    println!("  area           {:>14.3} mm2{per_device}", report.area_mm2);
    println!("  MACs           {:>14}{per_device}", report.macs);
    println!(
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
            println!("  DOES NOT FIT   {why}");
        }
    }
    if let Some(l) = &report.llm {
        let ep = if l.ep > 1 {
            format!(", ep {}", l.ep)
        } else {
            String::new()
        };
        println!(
            "  LLM ({}, batch {}, prompt {}, context {}, tp {}{ep}, {}):",
            l.model, l.batch, l.prompt_len, l.context_len, l.tp, l.launch
        );
        println!("    TTFT         {:>14.3} ms", l.ttft_s * 1e3);
        println!("    TPOT         {:>14.3} ms", l.tpot_s * 1e3);
        if let Some(a) = &l.all_to_all {
            println!(
                "    all-to-all   {:>14.3} ms per decode step exposed ({:.1} % of TPOT, {:.2} MB out of each device), {:.3} ms in the prefill",
                a.tpot_s * 1e3,
                a.tpot_share * 100.0,
                a.tpot_bytes / 1e6,
                a.ttft_s * 1e3
            );
        }
        println!("    decode       {:>14.1} tokens/s", l.decode_tokens_per_s);
        println!(
            "    memory       {:>14.2} GB of {:.2} GB (weights {:.2}, KV cache {:.2}, activations {:.2})",
            l.memory.total_bytes as f64 / 1e9,
            l.memory.capacity_bytes as f64 / 1e9,
            l.memory.weights_bytes as f64 / 1e9,
            l.memory.kv_cache_bytes as f64 / 1e9,
            l.memory.activation_bytes as f64 / 1e9
        );
        println!(
            "    max batch    {:>14} at context {}",
            l.max_batch, l.context_len
        );
        if let Some(s) = &l.kv_swap {
            println!(
                "    KV swap      {:>14.2} GB over the host link: {:.3} s per token",
                s.overflow_bytes as f64 / 1e9,
                s.decode_swap_s
            );
        }
    }
    let mut top: Vec<_> = report.ops.iter().collect();
    top.sort_by(|a, b| b.cycles.cmp(&a.cycles).then(a.name.cmp(&b.name)));
    println!("  slowest ops:");
    for o in top.iter().take(5) {
        println!(
            "    {:<24} {:>10} cycles  {:>6.1} % util  {}",
            o.name,
            o.cycles,
            o.utilization * 100.0,
            o.mapping
        );
    }
    println!("wrote:");
    for f in files {
        println!("  {}", f.display());
    }
    Ok(())
}

/// `--stop-after STAGE` dumps a stage of one simulation's pipeline: a config of another form
/// (a search, a serving run, a co-design comparison, a study) has no such stage, and running it
/// whole instead would ignore the option.
fn stop_after_applies(text: &str, file: &str, set: &[String], stage: &str) -> Result<(), Error> {
    let Ok(mut doc) = serde_saphyr::from_str::<serde_json::Value>(text) else {
        // A malformed file: the loader reports it.
        return Ok(());
    };
    if config::apply_overrides(&mut doc, file, set).is_err() {
        return Ok(());
    }
    let what = if doc.get("codesign").is_some_and(|v| !v.is_null()) {
        "a co-design config runs two searches"
    } else if archsim::serving::is_serving(&doc) {
        "a serving config simulates requests over time on a fleet"
    } else {
        match archsim::config_form(&doc) {
            Some("study") => "a study runs many simulations and tabulates them",
            Some("search") => "a search config runs many simulations",
            Some("sweep") => "a sweep runs many simulations (with `archsim sweep`)",
            _ => return Ok(()),
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

fn stop_after_error(file: &str, stage: &str, why: &str) -> Error {
    Error::Config(archsim::ConfigError {
        file: file.to_string(),
        location: None,
        key: Some(format!("--stop-after {stage}")),
        from_override: None,
        message: why.to_string(),
    })
}

fn run_jobs(
    cfg: &archsim::Config,
    base: &Path,
    json: bool,
    dir: &Path,
    stop_after: Option<&str>,
) -> Result<(), Error> {
    match stop_after {
        Some("workload") => {
            let set = cfg.workload.build_jobs(base, cfg.seed)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&set).expect("job sets serialize")
            );
            return Ok(());
        }
        Some(stage) => {
            return Err(Error::Accelerator(
                archsim::accelerators::AccelError::InvalidConfig {
                    key: "kind".into(),
                    reason: format!(
                        "--stop-after {stage} applies to op-graph workloads; a job stream stops after `workload`"
                    ),
                },
            ))
        }
        None => {}
    }
    let report = archsim::simulate(cfg, base)?;
    let files = output::write_run(cfg, &report, dir)?;
    if json {
        print!("{}", output::report_json(&report));
        eprintln!("wrote {}", dir.display());
        return Ok(());
    }
    let Some(s) = &report.jobs else {
        return Ok(());
    };
    println!("{} on {}", report.workload, report.accelerator);
    println!("  jobs           {:>14}", s.jobs_completed);
    println!("  makespan       {:>14.3} us", s.makespan);
    println!(
        "  job latency    {:>14.3} us avg, {:.3} p95, {:.3} p99",
        s.avg_job_latency_us, s.p95_job_latency_us, s.p99_job_latency_us
    );
    println!(
        "  throughput     {:>14.4} jobs/ms",
        s.throughput_jobs_per_ms
    );
    println!(
        "  energy         {:>14.6} mJ ({:.3} uJ/job)",
        report.energy_j * 1e3,
        s.energy_per_job_uj
    );
    println!("  PE utilization:");
    for p in &s.pe_utilization {
        println!(
            "    {:<12} {:>6.1} %  {:>6} tasks",
            p.name,
            p.utilization * 100.0,
            p.tasks
        );
    }
    println!("wrote:");
    for f in files {
        println!("  {}", f.display());
    }
    Ok(())
}

fn list(what: Option<&str>) {
    if what != Some("accelerators") {
        println!("models (workload.model; sequence models also take workload.seq_len):");
        for m in archsim::workloads::zoo::all_models() {
            println!("  {m}");
        }
        println!("LLM steps (workload.llm): {{model, phase: prefill|decode, batch, prompt_len, context_len, layers, tp, moe_skew}}");
        println!("  models: {}", archsim::workloads::llm::MODELS.join(", "));
        println!("network spaces (workload.model): nb201:[cifar10|cifar100|imagenet16-120:]|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|... (NAS-Bench-201 cells),");
        println!("  mnasnet:e6k3l1se0-... (Accel-NASBench MnasNet space: 7 stages of expansion, kernel, layers, squeeze-excite)");
        println!("other workload sources: scalesim_topology: PATH (SCALE-Sim conv or GEMM CSV), gemm: {{m, n, k}},");
        println!("  onnx: PATH (allow_unsupported_ops: true imports unknown ops at zero cost), tasks: [workload, ...] (kind: hetero)");
        println!("job streams (workload.jobs, for kind: soc): {{apps: [{{name | file, weight}}], arrival: {{process: poisson|periodic|batch, rate_per_ms}}, count}}");
        println!(
            "  built-in applications: {}",
            archsim::workloads::jobs::BUILTIN
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!("dtypes (workload.dtype): int8, fp8, bf16, fp16, fp32 (default: bf16 for llm:, int8 otherwise)");
    }
    if what != Some("models") {
        println!("accelerator kinds (accelerator.kind) and their keys:");
        for k in archsim::accelerators::describe_kinds() {
            println!("  {:<9} {}", k.kind, k.about);
            let mut line = String::from("            keys:");
            for (i, key) in k.keys.iter().enumerate() {
                if line.len() + key.len() > 100 {
                    println!("{line}");
                    line = String::from("                 ");
                }
                line.push(' ');
                line.push_str(key);
                if i + 1 < k.keys.len() {
                    line.push(',');
                }
            }
            println!("{line}");
            if !k.presets.is_empty() {
                println!("            presets: {}", k.presets.join(", "));
            }
        }
        println!("other config forms: search: (archsim run searches), sweep: (archsim sweep), codesign: (NASAIC-style");
        println!(
            "  co-exploration), study: {{kind: ...}} (reproductions, below); see README and doc/"
        );
        println!("studies (study.kind):");
        for st in archsim::studies::STUDIES {
            println!("  {:<16} {}", st.kind, st.about);
        }
    }
}

/// What `archsim run` prints of a finished search: the result JSON (`--json`), or the summary
/// and the files written.
fn print_search(
    search: &archsim::agents::SearchConfig,
    result: &archsim::agents::SearchResult,
    files: &[PathBuf],
    dir: &Path,
    json: bool,
) -> Result<(), Error> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(result).expect("results serialize")
        );
        eprintln!("wrote {}", dir.display());
        return Ok(());
    }
    print!("{}", archsim::search::summary(search, result));
    println!("wrote:");
    for f in files {
        println!("  {}", f.display());
    }
    Ok(())
}

/// Prints a finished run: with `--json` its report alone on stdout (the folder on stderr),
/// otherwise its summary and the files it wrote.
fn print_done(json: bool, report_json: &str, summary: &str, files: &[PathBuf], dir: &Path) {
    if json {
        print!("{report_json}");
        eprintln!("wrote {}", dir.display());
        return;
    }
    print!("{summary}");
    println!("wrote:");
    for f in files {
        println!("  {}", f.display());
    }
}
