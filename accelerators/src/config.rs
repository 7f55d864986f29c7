//! The whole simulation config (`workload:` + `accelerator:` + `seed:`) and its typed,
//! key-tracked conversion from a generic JSON/YAML value.
//!
//! Every error names the dotted key path it concerns, so the CLI can point at the line and
//! column of the file, and the gym can name the design-space parameter at fault.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use archsim_workloads::{CellConfig, Form, WorkloadConfig, WorkloadError};

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
    /// A network × hardware co-design config: the NAS-Bench-201 cell whose network is the
    /// workload (`workload.model` is built from it) and its accuracy table. A search varies
    /// the cell's edges as `cell.ops[0]` … `cell.ops[5]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cell: Option<CellConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    workload: WorkloadConfig,
    accelerator: Map<String, Value>,
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    cell: Option<CellConfig>,
}

/// A conversion error: the key path (as segments, list indices as numbers) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError {
    /// The key path, outermost first (`["accelerator", "subs", "0", "rows"]`); empty for the
    /// document as a whole.
    pub path: Vec<String>,
    /// What is wrong with the value there.
    pub message: String,
}

impl KeyError {
    /// The error `message` about the value at `path`.
    pub fn new(path: Vec<String>, message: String) -> Self {
        Self { path, message }
    }

    /// The error `message` about the value at the dotted `key` (`workload.llm.batch`).
    pub fn at(key: &str, message: impl Into<String>) -> Self {
        Self::new(key.split('.').map(str::to_string).collect(), message.into())
    }

    /// The dotted key (`accelerator.subs.0.rows`).
    pub fn key(&self) -> String {
        self.path.join(".")
    }
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.key(), self.message)
        }
    }
}

impl std::error::Error for KeyError {}

/// Deserializes `v` into `T`, reporting the failing key path prefixed with `prefix`.
///
/// The value is read in place first; only a value that fails is read again with its path
/// tracked for the message (the same deserializer, so the same result: tracking every key's
/// path cost most of a design point's conversion in a search).
pub fn typed<T: serde::de::DeserializeOwned>(v: Value, prefix: &[&str]) -> Result<T, KeyError> {
    if let Ok(t) = T::deserialize(&v) {
        return Ok(t);
    }
    let doc = v.clone();
    serde_path_to_error::deserialize(v).map_err(|e| {
        let mut path: Vec<String> = prefix.iter().map(|s| s.to_string()).collect();
        // The document alongside, to tell an externally tagged variant (`{lognormal: {...}}`,
        // whose name is a key of the file) from an internally tagged one (`kind: ga`).
        let mut at = Some(&doc);
        for seg in e.path().iter() {
            match seg {
                serde_path_to_error::Segment::Map { key } => {
                    path.push(key.clone());
                    at = at.and_then(|a| a.get(key));
                }
                serde_path_to_error::Segment::Seq { index } => {
                    path.push(index.to_string());
                    at = at.and_then(|a| a.get(index));
                }
                serde_path_to_error::Segment::Enum { variant } => {
                    if let Some(inner) = at.and_then(|a| a.get(variant)) {
                        path.push(variant.clone());
                        at = Some(inner);
                    }
                }
                serde_path_to_error::Segment::Unknown => at = None,
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
        KeyError::new(path, msg)
    })
}

/// The bounds of a simulation config's JSON schema, prepared once (what
/// [`SimConfig::from_value`] holds every number against).
pub fn bounds() -> &'static crate::ranges::Checker {
    static CHECKER: std::sync::OnceLock<crate::ranges::Checker> = std::sync::OnceLock::new();
    CHECKER.get_or_init(|| {
        crate::ranges::Checker::new(
            &serde_json::to_value(schemars::schema_for!(SimConfig)).unwrap_or(Value::Bool(true)),
        )
    })
}

impl SimConfig {
    /// The context a family runs this config in: `config_hash` and the seed for the report's
    /// provenance, the workload's dtype and its `llm:` step.
    pub fn context<'a>(&'a self, config_hash: &'a str) -> crate::family::Context<'a> {
        crate::family::Context {
            config_hash,
            seed: self.seed,
            dtype: self.workload.dtype(),
            llm: self.workload.llm.as_ref(),
            ops: true,
        }
    }

    /// Converts and validates a generic value (parsed YAML or JSON, overrides applied): every
    /// number within the bounds of its key ([`crate::ranges`]), then the types, then the rules
    /// across keys.
    pub fn from_value(value: Value) -> Result<SimConfig, KeyError> {
        if !value.is_object() {
            return Err(KeyError::new(
                vec![],
                "the config must be a mapping with `workload` and `accelerator`".into(),
            ));
        }
        // Every number within the bounds the schema states for its key.
        bounds().check(&value)?;
        let value = llm_batch(value)?;
        // The `llm:` keys the user wrote (before defaults fill the others in).
        let raw_llm: Vec<String> = value
            .pointer("/workload/llm")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let mut raw: RawConfig = typed(value, &[])?;
        if let Some(cell) = &raw.cell {
            // The cell is the network: it names the workload's model (replacing the model of
            // an earlier cell, as a config written out by a search holds).
            let w = &raw.workload;
            let other = w.scalesim_topology.is_some()
                || w.gemm.is_some()
                || w.onnx.is_some()
                || w.llm.is_some()
                || w.jobs.is_some()
                || w.tasks.is_some()
                || w.model
                    .as_deref()
                    .is_some_and(|m| !m.starts_with(archsim_workloads::zoo::NB201_PREFIX));
            if other {
                return Err(KeyError::new(
                    vec!["cell".into()],
                    "the cell is the workload's network: give `workload:` without a source \
                     (only `batch`, `dtype`)"
                        .into(),
                ));
            }
            raw.workload.model = Some(cell.model().map_err(|e| workload_key_error(&e))?);
        }
        raw.workload.fill_framework();
        raw.workload
            .validate()
            .map_err(|e| workload_key_error(&e))?;
        check_llm_lengths(&raw.workload, &raw_llm)?;
        // A config's step must fit its model: its window, and no expert skew on a dense model.
        // (Only a config's: the serving engine prices a grid of steps past any one prompt.)
        if let Some(l) = &raw.workload.llm {
            l.check_model_fit().map_err(|e| workload_key_error(&e))?;
        }
        let given: Vec<String> = raw.accelerator.keys().cloned().collect();
        let mut accelerator = AcceleratorConfig::from_map(raw.accelerator)?;
        accelerator.reconcile(&given, &raw.workload)?;
        let form = raw.workload.form();
        if !accelerator.forms().contains(&form) {
            let runs = AcceleratorConfig::kinds_for(form)
                .iter()
                .map(|k| format!("`accelerator.kind: {k}`"))
                .collect::<Vec<_>>()
                .join(" or ");
            return Err(match form {
                // A job-stream family given an op graph: point at the kind.
                Form::Graph => KeyError::new(
                    vec!["accelerator".into(), "kind".into()],
                    format!(
                        "`{}` runs {}: give `{}: ...`",
                        accelerator.kind(),
                        accelerator
                            .forms()
                            .iter()
                            .map(|f| f.describe())
                            .collect::<Vec<_>>()
                            .join(" or "),
                        accelerator.forms()[0].key()
                    ),
                ),
                _ => KeyError::at(
                    form.key(),
                    format!("a {} workload runs on {runs}", form.describe()),
                ),
            });
        }
        Ok(SimConfig {
            workload: raw.workload,
            accelerator,
            seed: raw.seed,
            cell: raw.cell,
        })
    }
}

impl AcceleratorConfig {
    /// Converts and validates the `accelerator:` mapping (dispatching on `kind`).
    pub fn from_map(mut acc: Map<String, Value>) -> Result<AcceleratorConfig, KeyError> {
        let kind = match acc.remove("kind") {
            Some(Value::String(k)) => k,
            Some(_) => {
                return Err(KeyError::new(
                    vec!["accelerator".into(), "kind".into()],
                    "must be a string".into(),
                ))
            }
            None => {
                return Err(KeyError::new(
                    vec!["accelerator".into(), "kind".into()],
                    format!("missing; one of: {}", KINDS.join(", ")),
                ))
            }
        };
        let accelerator = AcceleratorConfig::from_kind(&kind, acc).unwrap_or_else(|| {
            Err(KeyError::new(
                vec!["accelerator".into(), "kind".into()],
                format!("unknown kind `{kind}`; known kinds: {}", KINDS.join(", ")),
            ))
        })?;
        accelerator.validate().map_err(|e| match e {
            AccelError::InvalidConfig { key, reason } => {
                let mut p = vec!["accelerator".to_string()];
                p.extend(key.split('.').map(str::to_string));
                KeyError::new(p, reason)
            }
            other => KeyError::at("accelerator", other.to_string()),
        })?;
        Ok(accelerator)
    }
}

fn workload_key_error(e: &WorkloadError) -> KeyError {
    match e {
        WorkloadError::InvalidParameter { key, reason } => KeyError::at(key, reason.clone()),
        other => KeyError::at("workload", other.to_string()),
    }
}

/// Merges a preset under the keys given beside it: `preset: NAME` starts from a built-in
/// design and the other keys replace the preset's. `lookup` turns the name into the preset's
/// mapping or says why it cannot.
pub fn merge_preset(
    mut acc: Map<String, Value>,
    keep_key: bool,
    lookup: impl FnOnce(&str) -> Result<Map<String, Value>, String>,
) -> Result<Map<String, Value>, KeyError> {
    let preset_key = || vec!["accelerator".to_string(), "preset".to_string()];
    let name = match acc.get("preset") {
        None => return Ok(acc),
        Some(Value::String(name)) => name.clone(),
        Some(_) => return Err(KeyError::new(preset_key(), "must be a string".into())),
    };
    if !keep_key {
        acc.remove("preset");
    }
    let mut base = lookup(&name).map_err(|m| KeyError::new(preset_key(), m))?;
    for (k, v) in acc {
        base.insert(k, v);
    }
    Ok(base)
}

/// A decode step's KV cache holds the prompt and the tokens generated since: `context_len` no
/// longer than `prompt_len` cannot follow that prompt. When both are written this is an error
/// naming both keys (when `prompt_len` is left out, the step's TTFT prices a prompt of
/// `context_len − 1` tokens, as documented).
/// `workload.batch`, the key every workload form shares, is the batch of an `llm:` step too:
/// given without `workload.llm.batch` it becomes the step's batch (and `workload.batch` goes
/// back to its default, 1, so that a written-out config states the batch once, in `llm:`);
/// given with a different `workload.llm.batch` it is an error naming both, since one of them
/// would be ignored. A `workload.batch` of 1 is the default that every written-out config
/// carries, never a conflict. Values that are not positive integers are left to the typed
/// reading, whose error names the key.
pub fn llm_batch(mut value: Value) -> Result<Value, KeyError> {
    let Some(w) = value.get_mut("workload").and_then(Value::as_object_mut) else {
        return Ok(value);
    };
    let Some(wb) = w.get("batch").and_then(Value::as_u64).filter(|&b| b > 1) else {
        return Ok(value);
    };
    let Some(llm) = w.get_mut("llm").and_then(Value::as_object_mut) else {
        return Ok(value);
    };
    match llm.get("batch") {
        None | Some(Value::Null) => {
            llm.insert("batch".into(), Value::from(wb));
        }
        Some(lb) if lb.as_u64() == Some(wb) => {}
        Some(lb) if lb.as_u64().is_some() => {
            return Err(KeyError::new(
                vec!["workload".into(), "batch".into()],
                format!(
                    "the `llm:` step's batch is workload.llm.batch ({lb}), so {wb} would be \
                     ignored: give the batch once, as workload.llm.batch (or as workload.batch \
                     without workload.llm.batch)"
                ),
            ));
        }
        // A malformed `llm.batch`: the typed reading names it.
        Some(_) => return Ok(value),
    }
    w.insert("batch".into(), Value::from(1));
    Ok(value)
}

fn check_llm_lengths(w: &WorkloadConfig, written: &[String]) -> Result<(), KeyError> {
    let Some(l) = &w.llm else { return Ok(()) };
    let both = ["prompt_len", "context_len"]
        .iter()
        .all(|k| written.iter().any(|w| w == k));
    match (l.phase, l.context_len) {
        (archsim_workloads::llm::Phase::Decode, Some(c)) if both && c <= l.prompt_len => {
            Err(KeyError::new(
                vec!["workload".into(), "llm".into(), "context_len".into()],
                format!(
                    "a decode with {c} tokens in the KV cache cannot follow a {}-token prompt \
                 (workload.llm.prompt_len); give context_len > prompt_len, or leave prompt_len \
                 out to price a {}-token prompt",
                    l.prompt_len,
                    c.saturating_sub(1).max(1)
                ),
            ))
        }
        _ => Ok(()),
    }
}
