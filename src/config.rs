//! Loading a config: YAML text → overrides → typed, validated [`Config`], with errors that name
//! the file, line, column and key.
//!
//! The loader works in three steps so that every error can point at its source:
//!
//! 1. the YAML is parsed into a generic value (syntax errors carry their line and column);
//! 2. `--set a.b.c=VALUE` overrides are applied to that value (each VALUE is parsed as YAML, so
//!    `64` is a number and `ws` a string);
//! 3. the value is deserialized into typed sections with the key path tracked, then validated;
//!    a failing key is looked up in a span-annotated parse of the text to get its line and
//!    column (or reported as coming from `--set`).

use archsim_accelerators::config::KeyError;
use serde_json::{Map, Value};

pub use archsim_accelerators::config::SimConfig;
pub use archsim_io::located::*;

/// The whole simulation config (defined in `archsim-accelerators`).
pub type Config = SimConfig;

/// The bounds of every config file's schema (`archsim schema`), prepared once.
fn bounds() -> &'static archsim_accelerators::ranges::Checker {
    static CHECKER: std::sync::OnceLock<archsim_accelerators::ranges::Checker> =
        std::sync::OnceLock::new();
    CHECKER.get_or_init(|| {
        archsim_accelerators::ranges::Checker::new(
            &serde_json::to_value(crate::schema::config_schema()).unwrap_or_default(),
        )
    })
}

/// The range check of a whole config document (`--set` overrides applied): every number
/// against the bounds the schema states for its key (positive bandwidths, frequencies, rates,
/// counts; upper bounds where a larger value would overflow a cycle counter or allocate
/// without limit) and every list against its least length, each element of a list checked.
/// The error names the key, list index included, at its line and column in `text` (or the
/// `--set` override that gave the value).
///
/// The bounds are declared once on the config types (`#[schemars(range(...))]`), so `archsim
/// schema` states what this enforces; see [`archsim_accelerators::ranges`].
pub fn check_values(
    doc: &Value,
    text: &str,
    file: &str,
    overrides: &[String],
) -> Result<(), ConfigError> {
    // `--set study=null` takes a section out: a null top-level section is no section.
    let stripped;
    let doc = match doc.as_object() {
        Some(m) if m.values().any(Value::is_null) => {
            stripped = Value::Object(
                m.iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            );
            &stripped
        }
        _ => doc,
    };
    bounds()
        .check(doc)
        .map_err(|e| located_key(text, file, overrides, e))
}

/// The YAML document of a config file's text with its `--set` overrides applied and every
/// value checked against the schema's bounds — the first step of every config form's loader.
pub fn document(text: &str, file: &str, overrides: &[String]) -> Result<Value, ConfigError> {
    let mut value: Value = serde_saphyr::from_str(text).map_err(|e| yaml_error(text, file, &e))?;
    apply_overrides(&mut value, file, overrides)?;
    check_values(&value, text, file, overrides)?;
    Ok(value)
}

/// `value` (at `prefix` in the document of `text`) as the section type `T`; an error names the
/// key and its line (the key's own line for an unknown field).
pub fn typed_at<T: serde::de::DeserializeOwned>(
    value: Value,
    prefix: &[&str],
    text: &str,
    file: &str,
    overrides: &[String],
) -> Result<T, ConfigError> {
    archsim_accelerators::config::typed(value, prefix)
        .map_err(|e| located_key(text, file, overrides, e))
}

/// [`located_key_error`] for a key handed over as an owned string, as library errors name them.
pub(crate) fn located(
    text: &str,
    file: &str,
    overrides: &[String],
    key: String,
    message: String,
) -> ConfigError {
    located_key_error(text, file, overrides, &key, message)
}

/// Parses `text` (the contents of `file`) with `overrides` (`path=value` strings) applied.
pub fn load_str(text: &str, file: &str, overrides: &[String]) -> Result<Config, ConfigError> {
    load_inner(text, file, overrides, false).map(|(c, _)| c)
}

/// The design point of a study file: the config with its top-level `study:` (and `search:`)
/// sections taken out unread (the study reads its own section).
pub fn load_base(text: &str, file: &str, overrides: &[String]) -> Result<Config, ConfigError> {
    load_inner(text, file, overrides, true).map(|(c, _)| c)
}

/// Like [`load_str`], but top-level `study:` and `search:` sections are taken out and returned
/// beside the config, the search typed and validated, the study as written (the study the
/// registry picks reads it) (`study: null`, as `--set study=null` leaves it,
/// is no study).
pub fn load_full(
    text: &str,
    file: &str,
    overrides: &[String],
) -> Result<(Config, Option<Value>, Option<archsim_agents::SearchConfig>), ConfigError> {
    let (cfg, extra) = load_inner(text, file, overrides, true)?;
    let located =
        |path: Vec<String>, message: String| located_error(text, file, overrides, &path, message);
    let mut extra = match extra {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    // The study that the registry picks reads its own section (`archsim_studies::find`).
    let study = extra.remove("study").filter(|v| !v.is_null());
    let search = match extra.remove("search") {
        None => None,
        Some(v) => {
            let search =
                archsim_accelerators::config::typed::<archsim_agents::SearchConfig>(v, &["search"])
                    .map_err(|e| located(e.path, e.message))?;
            // Every part of the section is checked before the first evaluation, the space
            // against the config it varies.
            let base =
                serde_json::to_value(&cfg).map_err(|e| ConfigError::new(file, e.to_string()))?;
            search.validate(&base).map_err(|e| {
                let (key, message) = e.key_and_reason();
                located_key_error(text, file, overrides, &key, message)
            })?;
            Some(search)
        }
    };
    if study.is_some() && search.is_some() {
        return Err(located(
            vec!["search".into()],
            "a config has either a `study:` or a `search:` section, not both".into(),
        ));
    }
    Ok((cfg, study, search))
}

fn load_inner(
    text: &str,
    file: &str,
    overrides: &[String],
    take_study: bool,
) -> Result<(Config, Option<Value>), ConfigError> {
    let mut value: Value = serde_saphyr::from_str(text).map_err(|e| yaml_error(text, file, &e))?;
    if value.is_null() {
        value = Value::Object(Map::new());
    }
    let applied = apply_overrides(&mut value, file, overrides)?;
    batch_override_wins(&mut value, &applied);
    check_values(&value, text, file, overrides)?;
    let study = if take_study {
        let m = value.as_object_mut();
        m.and_then(|m| {
            // A `search:` section travels with the study slot; `load_full` separates them.
            // A `sweep:` section is read by `archsim sweep` (see `crate::sweep`), never here.
            m.remove("sweep");
            let search = m.remove("search").map(|s| ("search", s));
            let study = m.remove("study").map(|s| ("study", s));
            match (study, search) {
                (None, None) => None,
                (a, b) => Some(Value::Object(
                    a.into_iter()
                        .chain(b)
                        .map(|(k, v)| (k.to_string(), v))
                        .collect(),
                )),
            }
        })
    } else {
        None
    };
    let cfg = SimConfig::from_value(value).map_err(|KeyError { path, message }| {
        let from_override = applied
            .iter()
            .rev()
            .find(|(keys, _)| {
                path.starts_with(keys.as_slice())
                    || keys.starts_with(path.as_slice()) && !path.is_empty()
            })
            .map(|(_, o)| o.clone());
        let at_key = message.starts_with("unknown field");
        let location = if from_override.is_some() {
            None
        } else {
            locate(text, &path, at_key)
        };
        ConfigError {
            key: (!path.is_empty()).then(|| path.join(".")),
            ..ConfigError::new(file, message)
        }
        .with_location(location)
        .with_override(from_override)
    })?;
    Ok((cfg, study))
}

/// An `llm:` step's batch given on the command line replaces the file's, whichever of the two
/// keys each names: the last `--set workload.batch=B` sets `workload.llm.batch` to B (so
/// `archsim run configs/llama2_7b_h100.yaml --set workload.batch=64` runs batch 64), and the
/// last `--set workload.llm.batch=B` drops a `workload.batch` of the file. Within the file
/// alone, two different batches are an error ([`archsim_accelerators::config::llm_batch`]).
fn batch_override_wins(value: &mut Value, applied: &[(Vec<String>, String)]) {
    let last = applied.iter().rev().find_map(|(keys, _)| {
        let k: Vec<&str> = keys.iter().map(String::as_str).collect();
        match k.as_slice() {
            ["workload", "batch"] => Some(true),
            ["workload", "llm", "batch"] => Some(false),
            _ => None,
        }
    });
    let Some(w) = value.get_mut("workload").and_then(Value::as_object_mut) else {
        return;
    };
    if !w.get("llm").is_some_and(Value::is_object) {
        return;
    }
    match last {
        Some(true) => {
            // Only a well-formed batch moves; a bad one keeps its key for the error.
            if let Some(b) = w.get("batch").and_then(Value::as_u64).filter(|&b| b >= 1) {
                if let Some(llm) = w.get_mut("llm").and_then(Value::as_object_mut) {
                    llm.insert("batch".into(), Value::from(b));
                }
                w.insert("batch".into(), Value::from(1));
            }
        }
        Some(false) => {
            w.remove("batch");
        }
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "workload:\n  model: resnet18\naccelerator:\n  kind: systolic\n  rows: 8\n  cols: 8\n  dataflow: os\n";

    fn error(text: &str, overrides: &[&str]) -> String {
        let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        load_str(text, "c.yaml", &o).unwrap_err().to_string()
    }

    #[test]
    fn good_config_loads_with_defaults() {
        let c = load_str(GOOD, "c.yaml", &[]).unwrap();
        // The loaded design as it is written out (the loader knows no family's fields).
        let a = serde_json::to_value(&c.accelerator).unwrap();
        assert_eq!(
            (&a["rows"], &a["sram_kib"]["ifmap"], &a["word_bytes"]),
            (&8.into(), &512.into(), &1.into())
        );
        assert_eq!(c.workload.batch, 1);
    }

    #[test]
    fn errors_name_file_line_column_and_key() {
        let cases = [
            (
                GOOD.replace("cols: 8", "colz: 8"),
                "c.yaml:6:3: accelerator.colz: unknown field `colz`",
            ),
            (
                GOOD.replace("rows: 8", "rows: eight"),
                "c.yaml:5:9: accelerator.rows: invalid type",
            ),
            (
                GOOD.replace("rows: 8", "rows: 0"),
                "c.yaml:5:9: accelerator.rows: must be at least 1",
            ),
            (
                GOOD.replace("dataflow: os", "dataflow: xs"),
                "c.yaml:7:13: accelerator.dataflow: unknown variant `xs`",
            ),
            (
                GOOD.replace("kind: systolic", "kind: tpu"),
                "c.yaml:4:9: accelerator.kind: unknown kind `tpu`",
            ),
            (
                GOOD.replace("model: resnet18", "model: resnet19"),
                "c.yaml:2:10: workload.model: unknown model `resnet19`",
            ),
            (
                GOOD.replace("  model: resnet18\n", "  model: resnet18\n  batch: -1\n"),
                "c.yaml:3:10: workload.batch: invalid value",
            ),
            (
                format!("{GOOD}extra: 1\n"),
                "c.yaml:8:1: extra: unknown field `extra`",
            ),
            ("workload: [1\n".to_string(), "c.yaml:1:"),
            (
                "- 1\n".to_string(),
                "c.yaml:1:1: the config must be a mapping",
            ),
        ];
        for (text, want) in cases {
            let e = error(&text, &[]);
            assert!(e.starts_with(want), "{e:?} does not start with {want:?}");
            assert!(!e.contains('\n'), "one line: {e:?}");
        }
    }

    #[test]
    fn overrides_apply_and_their_errors_name_the_override() {
        let o = vec![
            "accelerator.rows=64".to_string(),
            "accelerator.dataflow=ws".to_string(),
        ];
        let c = load_str(GOOD, "c.yaml", &o).unwrap();
        let a = serde_json::to_value(&c.accelerator).unwrap();
        assert_eq!((&a["rows"], &a["dataflow"]), (&64.into(), &"ws".into()));
        assert_eq!(
            error(GOOD, &["accelerator.rows=0"]),
            "--set accelerator.rows=0: accelerator.rows: must be at least 1, got 0"
        );
        assert!(error(GOOD, &["accelerator.rows"])
            .starts_with("--set accelerator.rows: expected PATH=VALUE"));
        assert!(error(GOOD, &["accelerator.bogus=1"]).contains("accelerator.bogus: unknown field"));
    }

    const HETERO: &str = "workload:\n  tasks:\n    - {gemm: {m: 64, n: 64, k: 64}}\n    - {gemm: {m: 32, n: 32, k: 32}}\naccelerator:\n  kind: hetero\n  subs:\n    - {name: a, rows: 8, cols: 8, dataflow: os}\n    - {name: b, rows: 16, cols: 16, dataflow: ws}\n  assignment: [0, 1]\n";

    #[test]
    fn overrides_address_list_elements() {
        let o = vec![
            "accelerator.subs[0].dataflow=is".to_string(),
            "accelerator.subs[1].rows=32".to_string(),
            "workload.tasks[1].model=resnet18".to_string(),
            "workload.tasks[1].gemm=null".to_string(),
        ];
        let c = load_str(HETERO, "c.yaml", &o).unwrap();
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["accelerator"]["subs"][0]["dataflow"], "is");
        assert_eq!(v["accelerator"]["subs"][1]["rows"], 32);
        assert_eq!(v["workload"]["tasks"][1]["model"], "resnet18");
        for (o, want) in [
            (
                "accelerator.subs[2].rows=8",
                "--set accelerator.subs[2].rows=8: index 2 is out of range: `accelerator.subs` has 2 elements",
            ),
            (
                "accelerator.kind[0]=x",
                "--set accelerator.kind[0]=x: `accelerator.kind` is not a list, so it has no element 0",
            ),
            (
                "workload.layers[0]=x",
                "--set workload.layers[0]=x: `workload.layers` is not set, so it has no element 0",
            ),
            (
                "accelerator.subs[x].rows=8",
                "--set accelerator.subs[x].rows=8: bad config path `accelerator.subs[x].rows`: index `x` is not a list index",
            ),
            (
                "accelerator..rows=8",
                "--set accelerator..rows=8: bad config path `accelerator..rows`: a key is empty",
            ),
            (
                "accelerator.subs[0].dataflow=xs",
                "--set accelerator.subs[0].dataflow=xs: accelerator.subs[0].dataflow: unknown variant `xs`",
            ),
        ] {
            let e = error(HETERO, &[o]);
            assert!(e.starts_with(want), "{e:?} does not start with {want:?}");
        }
    }

    #[test]
    fn values_out_of_range_or_not_finite_name_their_key_and_place() {
        assert_eq!(
            error(&GOOD.replace("rows: 8", "rows: .nan"), &[]),
            "c.yaml:5:9: accelerator.rows: non-finite number `.nan`: numbers must be finite"
        );
        assert_eq!(
            error(GOOD, &["accelerator.freq_mhz=-.inf"]),
            "--set accelerator.freq_mhz=-.inf: accelerator.freq_mhz: non-finite number `-.inf`: numbers must be finite"
        );
        assert_eq!(
            error(&GOOD.replace("cols: 8", "cols: 8\n  freq_mhz: 1e308"), &[]),
            "c.yaml:7:13: accelerator.freq_mhz: must be at most 100000, got 1e308"
        );
        let hetero = HETERO.replace("rows: 16", "rows: 0");
        assert_eq!(
            error(&hetero, &[]),
            "c.yaml:9:23: accelerator.subs[1].rows: must be at least 1, got 0"
        );
        assert_eq!(display_key("study.rates_rps.1"), "study.rates_rps[1]");
        assert_eq!(display_key("a.subs[0].rows"), "a.subs[0].rows");
        assert_eq!(display_key("a.b.0.1"), "a.b[0][1]");
        let text = "study:\n  rates_rps: [1, 2,\n    -1]\n";
        assert_eq!(locate_dotted(text, "study.rates_rps[2]"), Some((3, 5)));
        assert_eq!(locate_dotted(text, "study.rates_rps.2"), Some((3, 5)));
    }

    #[test]
    fn dotted_keys_locate_entries_whose_names_hold_dots() {
        let text = "search:\n  budget: 9\n  space:\n    accelerator.rows: {pow2: [8, 64]}\n    accelerator.subs[0].rows: {pow2: [8, 64]}\n  objectives: [{metric: x}]\n";
        let at = |k: &str| locate_dotted(text, k);
        assert_eq!(at("search.budget"), Some((2, 11)));
        assert_eq!(at("search.space.accelerator.rows"), Some((4, 5)));
        assert_eq!(at("search.space.accelerator.subs[0].rows"), Some((5, 5)));
        assert_eq!(at("search.objectives.0.metric"), Some((6, 25)));
        assert_eq!(at("search"), Some((1, 1)));
    }
}
