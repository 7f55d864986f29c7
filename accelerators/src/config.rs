//! The whole simulation config (`workload:` + `accelerator:` + `seed:`) and its typed,
//! key-tracked conversion from a generic JSON/YAML value.
//!
//! Every error names the dotted key path it concerns, so the CLI can point at the line and
//! column of the file, and the gym can name the design-space parameter at fault.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use archsim_workloads::{WorkloadConfig, WorkloadError};

use crate::{AccelError, AcceleratorConfig, KINDS};

/// A whole simulation config.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    /// What runs.
    pub workload: WorkloadConfig,
    /// What it runs on.
    pub accelerator: AcceleratorConfig,
    /// Seed of every random choice (default 0).
    #[serde(default)]
    pub seed: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    workload: WorkloadConfig,
    accelerator: Map<String, Value>,
    #[serde(default)]
    seed: u64,
}

/// A conversion error: the dotted key path (as segments) and what is wrong.
pub type KeyError = (Vec<String>, String);

/// Deserializes `v` into `T`, reporting the failing key path prefixed with `prefix`.
pub fn typed<T: serde::de::DeserializeOwned>(v: Value, prefix: &[&str]) -> Result<T, KeyError> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let mut path: Vec<String> = prefix.iter().map(|s| s.to_string()).collect();
        for seg in e.path().iter() {
            match seg {
                serde_path_to_error::Segment::Map { key } => path.push(key.clone()),
                serde_path_to_error::Segment::Seq { index } => path.push(index.to_string()),
                _ => {}
            }
        }
        let msg = e.inner().to_string();
        // Make sure an unknown field's path ends with the field itself.
        if let Some(field) = msg
            .strip_prefix("unknown field `")
            .and_then(|r| r.split('`').next())
        {
            if path.last().map(String::as_str) != Some(field) {
                path.push(field.to_string());
            }
        }
        (path, msg)
    })
}

impl SimConfig {
    /// Converts and validates a generic value (parsed YAML or JSON, overrides applied).
    pub fn from_value(value: Value) -> Result<SimConfig, KeyError> {
        if !value.is_object() {
            return Err((
                vec![],
                "the config must be a mapping with `workload` and `accelerator`".into(),
            ));
        }
        let raw: RawConfig = typed(value, &[])?;
        raw.workload
            .validate()
            .map_err(|e| workload_key_error(&e))?;
        let accelerator = AcceleratorConfig::from_map(raw.accelerator)?;
        match (&accelerator, raw.workload.is_jobs()) {
            (AcceleratorConfig::Soc(_), false) => {
                return Err((
                    vec!["accelerator".into(), "kind".into()],
                    "`soc` runs a job stream: give `workload: {jobs: ...}`".into(),
                ))
            }
            (AcceleratorConfig::Soc(_), true) => {}
            (_, true) => {
                return Err((
                    vec!["workload".into(), "jobs".into()],
                    "a job stream runs on `accelerator.kind: soc`".into(),
                ))
            }
            _ => {}
        }
        if raw.workload.is_tasks() && !matches!(accelerator, AcceleratorConfig::Hetero(_)) {
            return Err((
                vec!["workload".into(), "tasks".into()],
                "several tasks run on `accelerator.kind: hetero`".into(),
            ));
        }
        Ok(SimConfig {
            workload: raw.workload,
            accelerator,
            seed: raw.seed,
        })
    }
}

impl AcceleratorConfig {
    /// Converts and validates the `accelerator:` mapping (dispatching on `kind`).
    pub fn from_map(mut acc: Map<String, Value>) -> Result<AcceleratorConfig, KeyError> {
        let kind = match acc.remove("kind") {
            Some(Value::String(k)) => k,
            Some(_) => {
                return Err((
                    vec!["accelerator".into(), "kind".into()],
                    "must be a string".into(),
                ))
            }
            None => {
                return Err((
                    vec!["accelerator".into(), "kind".into()],
                    format!("missing; one of: {}", KINDS.join(", ")),
                ))
            }
        };
        let accelerator = match kind.as_str() {
            "systolic" => {
                // `preset: NAME` (e.g. `eyeriss`) starts from a built-in design; the keys given
                // beside it replace the preset's.
                let merged = match acc.remove("preset") {
                    None => acc,
                    Some(Value::String(name)) => {
                        let base =
                            crate::systolic::SystolicConfig::preset(&name).ok_or_else(|| {
                                (
                                    vec!["accelerator".into(), "preset".into()],
                                    format!(
                                        "unknown systolic preset `{name}`; known: {}",
                                        crate::systolic::SystolicConfig::PRESETS.join(", ")
                                    ),
                                )
                            })?;
                        let Ok(Value::Object(mut base)) = serde_json::to_value(base) else {
                            return Err((
                                vec!["accelerator".into()],
                                "preset does not serialize".into(),
                            ));
                        };
                        for (k, v) in acc {
                            base.insert(k, v);
                        }
                        base
                    }
                    Some(_) => {
                        return Err((
                            vec!["accelerator".into(), "preset".into()],
                            "must be a string".into(),
                        ))
                    }
                };
                AcceleratorConfig::Systolic(typed(Value::Object(merged), &["accelerator"])?)
            }
            "hetero" => AcceleratorConfig::Hetero(typed(Value::Object(acc), &["accelerator"])?),
            "gpu" => AcceleratorConfig::Gpu(typed(Value::Object(acc), &["accelerator"])?),
            "rdu" => AcceleratorConfig::Rdu(typed(Value::Object(acc), &["accelerator"])?),
            "npu_pim" => AcceleratorConfig::NpuPim(typed(Value::Object(acc), &["accelerator"])?),
            "soc" => {
                // `preset: NAME` starts from a built-in SoC; the keys given beside it replace
                // the preset's.
                let merged = match acc.get("preset") {
                    None => acc,
                    Some(Value::String(name)) => {
                        let mut base = crate::soc::SocConfig::preset_map(name).map_err(|e| {
                            (
                                vec!["accelerator".into(), "preset".into()],
                                match e {
                                    AccelError::InvalidConfig { reason, .. } => reason,
                                    other => other.to_string(),
                                },
                            )
                        })?;
                        for (k, v) in acc {
                            base.insert(k, v);
                        }
                        base
                    }
                    Some(_) => {
                        return Err((
                            vec!["accelerator".into(), "preset".into()],
                            "must be a string".into(),
                        ))
                    }
                };
                AcceleratorConfig::Soc(typed(Value::Object(merged), &["accelerator"])?)
            }
            other => {
                return Err((
                    vec!["accelerator".into(), "kind".into()],
                    format!("unknown kind `{other}`; known kinds: {}", KINDS.join(", ")),
                ))
            }
        };
        accelerator.validate().map_err(|e| match e {
            AccelError::InvalidConfig { key, reason } => {
                let mut p = vec!["accelerator".to_string()];
                p.extend(key.split('.').map(str::to_string));
                (p, reason)
            }
            other => (vec!["accelerator".into()], other.to_string()),
        })?;
        Ok(accelerator)
    }
}

fn workload_key_error(e: &WorkloadError) -> KeyError {
    match e {
        WorkloadError::InvalidParameter { key, reason } => {
            (key.split('.').map(str::to_string).collect(), reason.clone())
        }
        other => (vec!["workload".into()], other.to_string()),
    }
}
