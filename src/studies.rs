//! The study registry: a config with `study: {kind: K, ...}` is a study (a reproduction or a
//! sweep that `archsim run` performs and tabulates), and `K` picks it here — the one place
//! that lists them. A study owns its section and output folder; `archsim run` hands it the
//! parsed document and the command line's options.
//!
//! | kind | what it runs |
//! |---|---|
//! | `latency_vs_rate` | DS3's scheduler study: job latency versus injection rate ([`crate::study`]) |
//! | `sn40l` | SambaNova SN40L: fusion, expert switching, CoE serving ([`crate::sn40l`]) |
//! | `neupims` | NeuPIMs: NPU-only, naive NPU+PIM, NeuPIMs and GPU decode throughput ([`crate::neupims`]) |
//! | `disaggregation` | prefill/decode disaggregation vs co-location at equal cost ([`crate::disagg`]) |
//! | `a100_allreduce` | NCCL all-reduce on 2–8 A100, predicted vs measured ([`crate::collective`]) |
//! | `melange` | Mélange: the cheapest mix of GPU types serving an LLM within an SLO ([`crate::melange`]) |

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{ConfigError, Error};

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
}

impl StudyRun<'_> {
    /// An error of the study file (bad input), named by its `study` section.
    pub fn error(&self, message: String) -> Error {
        Error::Config(ConfigError {
            file: self.file.to_string(),
            location: None,
            key: Some("study".into()),
            from_override: None,
            message,
        })
    }

    /// The study file with its `--set` overrides applied.
    fn overridden(&self) -> Result<Value, Error> {
        let mut doc = self.doc.clone();
        crate::config::apply_overrides(&mut doc, self.file, self.set)?;
        Ok(doc)
    }

    /// The study file with its `--set` overrides applied, read as `T` (an error names the key).
    pub fn typed<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        archsim_accelerators::config::typed(self.overridden()?, &[])
            .map_err(|(p, m)| self.error(format!("{}: {m}", p.join("."))))
    }

    /// The `study:` section with the `--set` overrides applied, read as `T` (an error names
    /// the key under `study`).
    pub fn typed_section<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        let mut doc = self.overridden()?;
        let section = doc.get_mut("study").map(Value::take).unwrap_or(Value::Null);
        archsim_accelerators::config::typed(section, &["study"]).map_err(|(p, m)| {
            let key = p.join(".");
            Error::Config(ConfigError {
                file: self.file.to_string(),
                location: crate::config::locate_key(self.text, &p),
                key: Some(key),
                from_override: None,
                message: m,
            })
        })
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
}

/// Every study, by `study.kind`.
pub const STUDIES: &[Study] = &[
    Study {
        kind: "a100_allreduce",
        about: "measured NCCL all-reduce on 2-8 A100 of one NVSwitch node vs archsim-net",
        run: crate::collective::run_study,
    },
    Study {
        kind: "latency_vs_rate",
        about:
            "DS3 (IEEE TC 2020, Fig. 12): job latency of each scheduler versus the injection rate",
        run: crate::study::run_study,
    },
    Study {
        kind: "sn40l",
        about:
            "SambaNova SN40L (MICRO 2024): fused vs unfused kernels, expert switching, CoE serving",
        run: crate::sn40l::run_study,
    },
    Study {
        kind: "neupims",
        about: "NeuPIMs (ASPLOS 2024): NPU+PIM decode throughput in four modes, on the authors' simulator configuration",
        run: crate::neupims::run_study,
    },
    Study {
        kind: "disaggregation",
        about: "DistServe / Splitwise: prefill/decode disaggregated vs co-located replicas, SLO goodput over rates",
        run: crate::disagg::run_cli,
    },
    Study {
        kind: "melange",
        about: "Mélange (arXiv:2404.14527): the cheapest mix of GPU types serving LLaMA-2-7B within an SLO",
        run: crate::melange::run_cli,
    },
];

/// The study a config document asks for with its `study.kind`, `None` when it has no
/// `study:` section; an unknown or missing kind is an error located in the file.
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
        crate::config::apply_overrides(&mut d, file, set)?;
        overridden = d;
        &overridden
    } else {
        doc
    };
    let section = match doc.get("study") {
        None | Some(Value::Null) => return Ok(None),
        Some(s) => s,
    };
    // A study runs its own sweep: a `search:` beside it would be ignored.
    if doc.get("search").is_some_and(|s| !s.is_null()) {
        return Err(ConfigError {
            file: file.to_string(),
            location: crate::config::locate_key(text, &["search".to_string()]),
            key: Some("search".into()),
            from_override: crate::config::override_of(set, "search"),
            message: "a config has either a `study:` or a `search:` section, not both (the \
                      study would ignore the search)"
                .into(),
        });
    }
    let known = || {
        STUDIES
            .iter()
            .map(|s| s.kind)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let err = |key: &str, message: String| {
        let path: Vec<String> = key.split('.').map(str::to_string).collect();
        ConfigError {
            file: file.to_string(),
            location: crate::config::locate_key(text, &path),
            key: Some(key.to_string()),
            from_override: None,
            message,
        }
    };
    match section.get("kind") {
        Some(Value::String(k)) => STUDIES
            .iter()
            .find(|s| s.kind == k)
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
        assert_eq!(
            e,
            "s.yaml:2:9: study.kind: unknown study `nope`; known: a100_allreduce, latency_vs_rate, sn40l, neupims, disaggregation, melange"
        );
        let doc: Value = serde_saphyr::from_str("workload: {model: resnet18}").unwrap();
        assert!(find(&doc, "", "s.yaml", &[]).unwrap().is_none());
    }
}
