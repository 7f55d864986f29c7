//! The `archsim` command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use archsim::files::OutDir;
use archsim::workloads::input::InputKind;
use archsim::{config, Error};

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
    /// plots); `serving:` a serving fleet; `study: {kind}` (or a study's own section) a
    /// registered study or reproduction (`archsim list` names them). Bad input exits with
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
    /// sweep or gym section; a serving, training or collective run; every registered study).
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
    archsim::heap::retain_freed_memory();
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
        } => match archsim::run_command(
            config.as_deref(),
            json,
            &set,
            out,
            stop_after.as_deref().and_then(archsim::Stage::parse),
        ) {
            Ok(printed) => {
                print!("{}", printed.stdout);
                eprint!("{}", printed.stderr);
                ExitCode::SUCCESS
            }
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
            match archsim::studies::validate_kernels(
                &archsim::Runner,
                &measured,
                &config,
                case.as_deref(),
                &ops,
                &out,
            ) {
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

/// `archsim plot`: redraws a run's or a sweep's plots from its output files.
fn plot(
    path: &Path,
    x: Option<&str>,
    y: Option<&str>,
    metric: &str,
    out: Option<PathBuf>,
) -> Result<(), Error> {
    archsim::check_out(out.as_deref())?;
    let bad = |message: String| {
        Error::Config(archsim::ConfigError::new(
            path.display().to_string(),
            message,
        ))
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
    // A search folder, or that of a study that redraws its own plots, says so in the config
    // it wrote.
    let written = path
        .is_dir()
        .then(|| {
            archsim::files::read_text(&path.join("config.yaml"), InputKind::Config)
                .ok()
                .and_then(|t| serde_saphyr::from_str::<serde_json::Value>(&t).ok())
        })
        .flatten();
    let replot_study = written.as_ref().and_then(|v| {
        archsim::studies::STUDIES.iter().find(|st| {
            st.replot.is_some()
                && match st.section {
                    Some(k) => v.get(k).is_some_and(|x| !x.is_null()),
                    None => v.pointer("/study/kind").and_then(|k| k.as_str()) == Some(st.kind),
                }
        })
    });
    let search_folder = written
        .as_ref()
        .is_some_and(|v| archsim::kind_of(v) == Some(archsim::ConfigKind::Search));
    let held: OutDir;
    let written: Vec<PathBuf> = if replot_study.is_some() || search_folder {
        let name = replot_study.map_or("search", |st| st.section.unwrap_or(st.kind));
        if out.is_some() {
            return Err(bad(format!(
                "a {name} folder's plots are redrawn in place; leave out --out"
            )));
        }
        held = OutDir::prepare(path)?;
        match replot_study.and_then(|st| st.replot) {
            Some(replot) => replot(&archsim::Runner, path)?,
            None => archsim::search::replot(path)?,
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
    archsim::check_out(out.as_deref())?;
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
        println!("other config forms: search: (archsim run searches), sweep: (archsim sweep), study: {{kind: ...}}");
        println!("  or a study's own section (reproductions, below); see README and doc/");
        println!("studies (study.kind):");
        for st in archsim::studies::STUDIES {
            let key = st
                .section
                .map_or_else(|| st.kind.to_string(), |k| format!("{k}:"));
            println!("  {key:<16} {}", st.about);
        }
    }
}
