//! # archsim-studies — every reproduction and study
//!
//! A config with `study: {kind: K, ...}` is a study: a reproduction of a published result, or a
//! sweep that `archsim run` performs and tabulates. `K` picks it from [`STUDIES`], the one place
//! that lists them; each study is one module here, whose entry point is `run_study` and whose
//! registry entry is its `STUDY` constant:
//!
//! | kind | module | what it runs |
//! |---|---|---|
//! | `a100_allreduce` | [`a100_allreduce`] | NCCL all-reduce on 2–8 A100, predicted vs measured |
//! | `latency_vs_rate` | [`ds3`] | DS3's scheduler study: job latency versus injection rate |
//! | `sn40l` | [`sn40l`] | SambaNova SN40L: fusion, expert switching, CoE serving |
//! | `neupims` | [`neupims`] | NeuPIMs: NPU-only, naive NPU+PIM, NeuPIMs and GPU decode throughput |
//! | `disaggregation` | [`disaggregation`] | prefill/decode disaggregation vs co-location at equal cost |
//! | `melange` | [`melange`] | Mélange: the cheapest mix of GPU types serving an LLM within an SLO |
//! | `kv_precision` | [`kv_precision`] | COMET / A²ATS: serving throughput with quantized weights, activations and KV cache |
//! | `dovetail` | [`dovetail`] | Dovetail: speculative decoding, draft on the CPU and target on the GPU, over α and k |
//! | (`codesign:`) | [`nasaic`] | NASAIC: network/accelerator co-exploration vs the successive flow |
//! | `hwnasbench` | [`hwnasbench`] | HW-NAS-Bench: archsim's NB201 latency ranked against the benchmark's |
//! | `holmes` | [`holmes`] | training across clusters with different NICs and devices: flat vs NIC-aware placement, uniform vs chosen layers |
//! | `training_best_layout` | [`training_layout`] | every valid layout of a training job ranked; where the config's own ranks |
//! | `training_zero` | [`training_zero`] | ZeRO stages 0–3: memory per device and throughput of one job |
//! | `training_megatron` | [`training_megatron`] | Megatron-LM Table 1 weak scaling: predicted vs implied iteration |
//!
//! [`gpu_validation`] (the GPU model against measured H100 kernels: `archsim validate` and
//! `results/gpu_validation/`) is study code that no config selects.
//!
//! A study owns its section and its output folder; `archsim run` hands it the parsed document
//! and the command line's options in a [`StudyRun`], and prints the [`StudyOutput`] it returns.
//!
//! ## Where it sits
//!
//! Above every library crate (sim, workloads, net, accelerators, serving, gym, agents) and
//! `archsim-io` (errors, files, plots); below the root crate `archsim` (the command line and its
//! dispatcher), which registers nothing itself. The two things a study needs from above — the
//! config loader, whose range check knows the schema of every config file, and the simulation
//! pipeline — are lent to it through [`Host`], so no import runs upward.
//!
//! ## Adding a study
//!
//! Write one file, `studies/src/NAME.rs`, with the study's types, its `run_study(&StudyRun)`
//! and `pub const STUDY: Study = Study { kind, about, run: run_study }`; then add `NAME` to the
//! `registry!` line of this crate's root. Its regression test goes in
//! `studies/tests/integration/NAME.rs` (with its `mod` line), where `common::archsim` runs it
//! as `archsim run` does.
//!
//! ```
//! let kinds: Vec<_> = archsim_studies::STUDIES.iter().map(|s| s.kind).collect();
//! assert!(kinds.contains(&"sn40l") && kinds.contains(&"latency_vs_rate"));
//! let doc: serde_json::Value = serde_saphyr::from_str("study: {kind: melange}").unwrap();
//! let st = archsim_studies::find(&doc, "study: {kind: melange}", "m.yaml", &[]).unwrap();
//! assert_eq!(st.unwrap().kind, "melange");
//! ```
#![warn(missing_docs, unreachable_pub)]

use std::path::{Path, PathBuf};

use serde_json::Value;

use archsim_io::located::{self, ConfigError};
use archsim_io::Error;

pub use archsim_io::{files, plot};

/// What the program that runs a study lends it: the parts of `archsim` that sit above this
/// crate. The root crate implements it (`archsim::Runner`); a test or another front end may
/// implement it with the same functions.
pub trait Host: Sync + std::fmt::Debug {
    /// The range check of a whole config document (`--set` overrides applied) against the
    /// bounds of every config file's schema, located at the key.
    fn check_values(
        &self,
        doc: &Value,
        text: &str,
        file: &str,
        set: &[String],
    ) -> Result<(), ConfigError>;
    /// The design point of a study file: its config with the top-level `study:` (and
    /// `search:`) sections taken out unread, `--set` overrides applied, typed and validated.
    fn load_base(&self, text: &str, file: &str, set: &[String]) -> Result<Config, ConfigError>;
    /// A plain simulation config, `--set` overrides applied, typed and validated.
    fn load_str(&self, text: &str, file: &str, set: &[String]) -> Result<Config, ConfigError>;
    /// The whole pipeline for `cfg` (relative paths resolved against `base`): the report, or
    /// an error naming a value that is not a finite number.
    fn simulate(&self, cfg: &Config, base: &Path) -> Result<Report, Error>;
    /// A `collective:` config (its `study:` section taken out), `--set` overrides applied,
    /// checked as `archsim run` checks it.
    fn load_collective(
        &self,
        text: &str,
        file: &str,
        set: &[String],
    ) -> Result<Collective, ConfigError>;
}

/// A checked `collective:` config, as [`Host::load_collective`] reads it.
#[derive(Debug, Clone)]
pub struct Collective {
    /// The file as read.
    pub file: archsim_net::workload::CollectiveFile,
    /// Its cluster.
    pub spec: archsim_net::ClusterSpec,
    /// The algorithm it names (`None`: the NCCL-like choice).
    pub algorithm: Option<archsim_net::Algorithm>,
}

/// The simulation config (defined in `archsim-accelerators`).
pub type Config = archsim_accelerators::config::SimConfig;
pub use archsim_sim::Report;

/// What `archsim run` passes to a study.
#[derive(Debug)]
pub struct StudyRun<'a> {
    /// The parsed config document (before `--set` overrides).
    pub doc: Value,
    /// Its text, for locating errors.
    pub text: &'a str,
    /// Its file name, for errors.
    pub file: &'a str,
    /// The folder relative paths in it are resolved against.
    pub base: &'a Path,
    /// `--set PATH=VALUE` overrides.
    pub set: &'a [String],
    /// Output folder.
    pub dir: PathBuf,
    /// What the program running the study lends it (the config loader, the simulator).
    pub host: &'a dyn Host,
}

impl StudyRun<'_> {
    /// An error of the study file (bad input). A message that starts with the key it is about
    /// (`study.prefill_splits: ...`, `coe.dgx_h100.gpus: ...`, as the studies' checks word
    /// them) is located at that key; any other is named by the `study` section.
    pub fn error(&self, message: String) -> Error {
        if let Some((key, rest)) = message.split_once(": ") {
            let top = key.split(['.', '[']).next().unwrap_or("");
            let is_key = !key.is_empty()
                && !key.contains(char::is_whitespace)
                && self.doc.get(top).is_some();
            if is_key {
                return self.key_error(key, rest.to_string());
            }
        }
        Error::Config(ConfigError::new(self.file, message).with_key("study"))
    }

    /// An error about the value at the dotted `key` (`study.rates_rps.1` or
    /// `study.rates_rps[1]`), located at its line and column, or named by the `--set`
    /// override that gave it.
    pub fn key_error(&self, key: &str, message: String) -> Error {
        Error::Config(located::located_key_error(
            self.text, self.file, self.set, key, message,
        ))
    }

    /// The study file with its `--set` overrides applied, its numbers range-checked against
    /// the schema ([`Host::check_values`]).
    fn overridden(&self) -> Result<Value, Error> {
        let mut doc = self.doc.clone();
        located::apply_overrides(&mut doc, self.file, self.set)?;
        self.host
            .check_values(&doc, self.text, self.file, self.set)?;
        Ok(doc)
    }

    /// The study file with its `--set` overrides applied, read as `T` (an error names the key,
    /// at its line and column).
    pub fn typed<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        self.typed_without(&[])
    }

    /// [`typed`](Self::typed) with the top-level sections `drop` taken out first (the
    /// `study: {kind: ...}` that picked a study whose type has no such field).
    pub fn typed_without<T: serde::de::DeserializeOwned>(&self, drop: &[&str]) -> Result<T, Error> {
        let mut doc = self.overridden()?;
        if let Some(m) = doc.as_object_mut() {
            for k in drop {
                m.remove(*k);
            }
        }
        archsim_accelerators::config::typed(doc, &[])
            .map_err(|e| Error::Config(located::located_key(self.text, self.file, self.set, e)))
    }

    /// The `study:` section with the `--set` overrides applied, read as `T` (an error names
    /// the key under `study`).
    pub fn typed_section<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        let mut doc = self.overridden()?;
        let section = doc.get_mut("study").map(Value::take).unwrap_or(Value::Null);
        archsim_accelerators::config::typed(section, &["study"])
            .map_err(|e| Error::Config(located::located_key(self.text, self.file, self.set, e)))
    }
}

/// What a study returns: its results as JSON (what `archsim run --json` prints and
/// `archsim.run` returns), its summary for people, and the files it wrote.
#[derive(Debug)]
pub struct StudyOutput {
    /// The results.
    pub json: Value,
    /// The terminal summary.
    pub text: String,
    /// Files written in the output folder.
    pub files: Vec<PathBuf>,
}

/// One registered study.
#[derive(Debug)]
pub struct Study {
    /// The `study.kind` that selects it.
    pub kind: &'static str,
    /// One line on what it reproduces.
    pub about: &'static str,
    /// Runs it and writes its folder; prints nothing but progress on stderr.
    pub run: fn(&StudyRun<'_>) -> Result<StudyOutput, Error>,
    /// The JSON schema of its whole config file (`archsim schema` lists it among the forms),
    /// usually [`file_schema`] of the file's type.
    pub schema: fn(&mut schemars::SchemaGenerator) -> schemars::Schema,
    /// The top-level section that selects it instead of `study.kind` (the co-design problem's
    /// `codesign:`); `None` for a study picked by its kind.
    pub section: Option<&'static str>,
    /// Redraws its plots from a finished output folder (`archsim plot DIR`), when it can.
    pub replot: Option<Replot>,
}

/// Redraws a study's plots from its finished output folder; returns the files written.
pub type Replot = fn(&dyn Host, &Path) -> Result<Vec<PathBuf>, Error>;

/// The schema of a study file of type `T`, its definitions kept in `generator`.
pub fn file_schema<T: schemars::JsonSchema>(
    generator: &mut schemars::SchemaGenerator,
) -> schemars::Schema {
    generator.subschema_for::<T>()
}

/// Declares the study modules and lists their `STUDY` entries in [`STUDIES`], in this order
/// (the order `archsim list` shows them and an unknown kind's error names them).
macro_rules! registry {
    ($($m:ident),* $(,)?) => {
        $(pub mod $m;)*
        /// Every study, by `study.kind`.
        pub const STUDIES: &[Study] = &[$($m::STUDY),*];
    };
}

registry!(
    a100_allreduce,
    ds3,
    sn40l,
    neupims,
    disaggregation,
    melange,
    kv_precision,
    dovetail,
    nasaic,
    hwnasbench,
    holmes,
    training_layout,
    training_zero,
    training_megatron,
);

/// Studies that no config selects: the GPU model against measured kernels (`archsim validate`
/// and `results/gpu_validation/`).
pub mod gpu_validation;

pub use gpu_validation::run_cli as validate_kernels;

/// The study a config document asks for with its `study.kind` (or with a study's own section,
/// such as `codesign:`), `None` when it asks for none; an unknown or missing kind is an error
/// located in the file.
///
/// `set` are the `--set` overrides: `--set study=null` takes the section out, so a study file
/// whose other sections form a design point runs as that one simulation.
pub fn find(
    doc: &Value,
    text: &str,
    file: &str,
    set: &[String],
) -> Result<Option<&'static Study>, ConfigError> {
    let overridden;
    let doc = if !set.is_empty() {
        let mut d = doc.clone();
        located::apply_overrides(&mut d, file, set)?;
        overridden = d;
        &overridden
    } else {
        doc
    };
    let section = match doc.get("study") {
        None | Some(Value::Null) => {
            // A study picked by a section of its own (`codesign:`).
            return Ok(STUDIES.iter().find(|s| {
                s.section
                    .is_some_and(|k| doc.get(k).is_some_and(|v| !v.is_null()))
            }));
        }
        Some(s) => s,
    };
    // A study runs its own sweep: a `search:` beside it would be ignored.
    if doc.get("search").is_some_and(|s| !s.is_null()) {
        return Err(ConfigError::new(
            file,
            "a config has either a `study:` or a `search:` section, not both (the study would \
             ignore the search)",
        )
        .with_key("search")
        .with_location(located::locate_key(text, &["search".to_string()]))
        .with_override(located::override_of(set, "search")));
    }
    let known = || {
        STUDIES
            .iter()
            .filter(|s| s.section.is_none())
            .map(|s| s.kind)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let err = |key: &str, message: String| {
        let path: Vec<String> = key.split('.').map(str::to_string).collect();
        ConfigError::new(file, message)
            .with_key(key)
            .with_location(located::locate_key(text, &path))
    };
    match section.get("kind") {
        Some(Value::String(k)) => STUDIES
            .iter()
            .find(|s| s.kind == k && s.section.is_none())
            .map(Some)
            .ok_or_else(|| {
                err(
                    "study.kind",
                    format!("unknown study `{k}`; known: {}", known()),
                )
            }),
        Some(_) => Err(err("study.kind", "must be a string".into())),
        None => Err(err(
            "study",
            format!("give the study's `kind`, one of: {}", known()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_unique_and_unknown_ones_are_named() {
        let mut k: Vec<_> = STUDIES.iter().map(|s| s.kind).collect();
        k.sort_unstable();
        k.dedup();
        assert_eq!(k.len(), STUDIES.len());
        let text = "study:\n  kind: nope\n";
        let doc: Value = serde_saphyr::from_str(text).unwrap();
        let e = find(&doc, text, "s.yaml", &[]).unwrap_err().to_string();
        // Every study picked by its kind, in registry order (not the co-design study, which
        // its `codesign:` section picks).
        let known: Vec<&str> = STUDIES
            .iter()
            .filter(|s| s.section.is_none())
            .map(|s| s.kind)
            .collect();
        assert_eq!(
            known[..6],
            [
                "a100_allreduce",
                "latency_vs_rate",
                "sn40l",
                "neupims",
                "disaggregation",
                "melange"
            ]
        );
        assert_eq!(
            e,
            format!(
                "s.yaml:2:9: study.kind: unknown study `nope`; known: {}",
                known.join(", ")
            )
        );
        let doc: Value = serde_saphyr::from_str("workload: {model: resnet18}").unwrap();
        assert!(find(&doc, "", "s.yaml", &[]).unwrap().is_none());
    }
}
