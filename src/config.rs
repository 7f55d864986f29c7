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

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use serde_saphyr::Spanned;

pub use archsim_accelerators::config::SimConfig;

/// The whole simulation config (defined in `archsim-accelerators`).
pub type Config = SimConfig;

/// A config error, located in the file (or in a `--set` override).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Config file name.
    pub file: String,
    /// One-based line and column, when the error is in the file.
    pub location: Option<(u64, u64)>,
    /// Dotted key path, when the error concerns a key.
    pub key: Option<String>,
    /// The `--set` override that introduced the bad value, if any.
    pub from_override: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.from_override, self.location) {
            (Some(o), _) => write!(f, "--set {o}: ")?,
            (None, Some((l, c))) => write!(f, "{}:{l}:{c}: ", self.file)?,
            (None, None) => write!(f, "{}: ", self.file)?,
        }
        if let Some(k) = &self.key {
            write!(f, "{}: ", display_key(k))?;
        }
        f.write_str(&self.message)
    }
}

/// A key path as errors name it: list indices in brackets, as `--set` takes them
/// (`study.rates_rps[1]`, `accelerator.subs[0].rows`), whether the path was written with dots
/// (`study.rates_rps.1`, as a deserializer tracks it) or brackets.
pub fn display_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 2);
    for (i, seg) in key.split('.').enumerate() {
        if i > 0 && !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(seg);
            out.push(']');
        } else {
            if i > 0 {
                out.push('.');
            }
            out.push_str(seg);
        }
    }
    out
}

/// A key path in the dotted form (`a.b.0.c`) that both `--set` paths (`a.b[0].c`) and
/// tracked paths reduce to, for comparing them.
fn canonical_key(key: &str) -> String {
    archsim_gym::path::parse(key)
        .map(|s| archsim_gym::path::keys(&s).join("."))
        .unwrap_or_else(|_| key.to_string())
}

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
        .map_err(|(path, message)| located_error(text, file, overrides, &path, message))
}

/// An error about the value at `path` (segments, list indices as numbers), located at its
/// line and column in `text`, or named by the `--set` override that gave it.
pub fn located_error(
    text: &str,
    file: &str,
    overrides: &[String],
    path: &[String],
    message: String,
) -> ConfigError {
    let key = path.join(".");
    let from_override = override_of(overrides, &key);
    let at_key = message.starts_with("unknown field");
    ConfigError {
        file: file.to_string(),
        location: if from_override.is_some() {
            None
        } else {
            locate(text, path, at_key)
        },
        key: (!path.is_empty()).then_some(key),
        from_override,
        message,
    }
}

/// The same as [`located_error`] for a dotted key (`a.b.0.c` or `a.b[0].c`), as library
/// errors name keys.
pub fn located_key_error(
    text: &str,
    file: &str,
    overrides: &[String],
    key: &str,
    message: String,
) -> ConfigError {
    let from_override = override_of(overrides, key);
    ConfigError {
        file: file.to_string(),
        location: if from_override.is_some() {
            None
        } else {
            locate_dotted(text, key)
        },
        key: (!key.is_empty()).then(|| key.to_string()),
        from_override,
        message,
    }
}

impl std::error::Error for ConfigError {}

/// The text of a config file, checked as every input is ([`archsim_workloads::input`]: a
/// regular file of at most 16 MiB, never a FIFO or a device); an error names the file, exit 2.
pub fn read_file(path: &std::path::Path) -> Result<String, crate::Error> {
    archsim_workloads::input::read_to_string(path, archsim_workloads::input::InputKind::Config)
        .map_err(|e| {
            crate::Error::Config(ConfigError {
                file: e.path,
                location: None,
                key: None,
                from_override: None,
                message: e
                    .message
                    .replacen("cannot read file", "cannot read config", 1),
            })
        })
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

/// Like [`load_str`], but top-level `study:` and `search:` sections are taken out, typed and
/// validated, and returned beside the config (`study: null`, as `--set study=null` leaves it,
/// is no study).
pub fn load_full(
    text: &str,
    file: &str,
    overrides: &[String],
) -> Result<
    (
        Config,
        Option<crate::study::StudyConfig>,
        Option<archsim_agents::SearchConfig>,
    ),
    ConfigError,
> {
    let (cfg, extra) = load_inner(text, file, overrides, true)?;
    let located = |path: Vec<String>, message: String| {
        let at_key = message.starts_with("unknown field");
        let key = path.join(".");
        let from_override = override_of(overrides, &key);
        ConfigError {
            file: file.to_string(),
            location: if from_override.is_some() {
                None
            } else {
                locate(text, &path, at_key)
            },
            key: (!path.is_empty()).then_some(key),
            from_override,
            message,
        }
    };
    let mut extra = match extra {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let study = match extra.remove("study") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let st: crate::study::StudyConfig = archsim_accelerators::config::typed(v, &["study"])
                .map_err(|(p, m)| located(p, m))?;
            st.validate(&cfg).map_err(|(p, m)| located(p, m))?;
            Some(st)
        }
    };
    let search = match extra.remove("search") {
        None => None,
        Some(v) => {
            let search =
                archsim_accelerators::config::typed::<archsim_agents::SearchConfig>(v, &["search"])
                    .map_err(|(p, m)| located(p, m))?;
            // Every part of the section is checked before the first evaluation, the space
            // against the config it varies.
            let base = serde_json::to_value(&cfg).map_err(|e| ConfigError {
                file: file.to_string(),
                location: None,
                key: None,
                from_override: None,
                message: e.to_string(),
            })?;
            search.validate(&base).map_err(|e| {
                let (key, message) = e.key_and_reason();
                let from_override = override_of(overrides, &key);
                ConfigError {
                    file: file.to_string(),
                    location: if from_override.is_some() {
                        None
                    } else {
                        locate_dotted(text, &key)
                    },
                    key: Some(key),
                    from_override,
                    message,
                }
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

/// Like [`load_str`], but a top-level `study:` section (a sweep that `archsim run` performs,
/// see [`crate::study`]) is taken out, typed and validated, and returned beside the config.
pub fn load_with_study(
    text: &str,
    file: &str,
    overrides: &[String],
) -> Result<(Config, Option<crate::study::StudyConfig>), ConfigError> {
    let (cfg, study, _) = load_full(text, file, overrides)?;
    Ok((cfg, study))
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
    let cfg = SimConfig::from_value(value).map_err(|(path, message)| {
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
            file: file.to_string(),
            location,
            key: (!path.is_empty()).then(|| path.join(".")),
            from_override,
            message,
        }
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

/// Applies `--set PATH=VALUE` overrides to a parsed config document, returning each override's
/// key path (for locating errors later).
pub fn apply_overrides(
    value: &mut Value,
    file: &str,
    overrides: &[String],
) -> Result<Vec<(Vec<String>, String)>, ConfigError> {
    let err = |location: Option<(u64, u64)>, message: String| ConfigError {
        file: file.to_string(),
        location,
        key: None,
        from_override: None,
        message,
    };
    let mut applied: Vec<(Vec<String>, String)> = Vec::new();
    for o in overrides {
        let (path, raw) = o.split_once('=').ok_or_else(|| ConfigError {
            from_override: Some(o.clone()),
            ..err(None, "expected PATH=VALUE, e.g. accelerator.rows=64".into())
        })?;
        let segments = archsim_gym::path::parse(path).map_err(|m| ConfigError {
            from_override: Some(o.clone()),
            ..err(None, m)
        })?;
        let v: Value = if raw.trim().is_empty() {
            Value::String(String::new())
        } else {
            serde_saphyr::from_str(raw).map_err(|e| {
                let message = yaml_message(&e.to_string());
                ConfigError {
                    from_override: Some(o.clone()),
                    // A number that is not finite is a value of the key, not bad syntax.
                    key: message
                        .starts_with("non-finite number")
                        .then(|| archsim_gym::path::display(&segments)),
                    ..err(
                        None,
                        if message.starts_with("non-finite number") {
                            message
                        } else {
                            format!("value is not valid YAML: {message}")
                        },
                    )
                }
            })?
        };
        archsim_gym::path::set(value, &segments, v).map_err(|m| ConfigError {
            from_override: Some(o.clone()),
            ..err(None, m)
        })?;
        applied.push((archsim_gym::path::keys(&segments), o.clone()));
    }
    Ok(applied)
}

/// The one-line message of a YAML parse error, without the parser's location prefix (reported
/// separately) and without its hints about parser options.
pub fn yaml_message(s: &str) -> String {
    let m = first_line(s);
    if let Some(v) = m
        .strip_prefix("non-finite float ")
        .and_then(|r| r.strip_suffix(" rejected by the configured policy"))
    {
        return format!("non-finite number {v}: numbers must be finite");
    }
    match m.split_once(", set DuplicateKeyPolicy") {
        Some((head, _)) => head.to_string(),
        None => m,
    }
}

fn first_line(s: &str) -> String {
    let l = s.lines().next().unwrap_or("").trim();
    // serde-saphyr prefixes "error: line L column C: " — the location is reported separately.
    match l.strip_prefix("error: ") {
        Some(rest) => match rest.find(": ") {
            Some(i) if rest.starts_with("line ") => rest[i + 2..].to_string(),
            _ => rest.to_string(),
        },
        None => l.to_string(),
    }
}

/// The last `--set` override whose path is `key` (dotted, as errors name keys), a key above it
/// or a key under it: the source of a bad value at `key`.
pub fn override_of(overrides: &[String], key: &str) -> Option<String> {
    let dotted = canonical_key;
    let key = &canonical_key(key);
    let under = |a: &str, b: &str| a == b || (a.starts_with(b) && a[b.len()..].starts_with('.'));
    overrides
        .iter()
        .rev()
        .find(|o| {
            let p = dotted(o.split_once('=').map_or(o.as_str(), |(p, _)| p));
            under(key, &p) || under(&p, key)
        })
        .cloned()
}

/// A YAML node with the spans of its keys and values.
enum Node {
    Map(Vec<(Spanned<String>, Spanned<Node>)>),
    Seq(Vec<Spanned<Node>>),
    /// A scalar; `true` for a number that is not finite (`.nan`, `.inf`, `1e999`).
    Scalar(bool),
}

/// The span-annotated parse of `text` (non-finite numbers read, to be found and named).
fn nodes(text: &str) -> Option<Spanned<Node>> {
    let mut options = serde_saphyr::Options::default();
    options.non_finite_float_policy = serde_saphyr::NonFiniteFloatPolicy::PassThrough;
    serde_saphyr::from_str_with_options(text, options).ok()
}

/// The key path of the first number in `text` that is not finite, which the YAML reader
/// rejects with its line and column only.
fn non_finite_key(text: &str) -> Option<Vec<String>> {
    fn find(n: &Node, path: &mut Vec<String>) -> bool {
        match n {
            Node::Scalar(bad) => *bad,
            Node::Map(entries) => entries.iter().any(|(k, v)| {
                path.push(k.value.clone());
                let found = find(&v.value, path);
                if !found {
                    path.pop();
                }
                found
            }),
            Node::Seq(items) => items.iter().enumerate().any(|(i, v)| {
                path.push(i.to_string());
                let found = find(&v.value, path);
                if !found {
                    path.pop();
                }
                found
            }),
        }
    }
    let root = nodes(text)?;
    let mut path = Vec::new();
    find(&root.value, &mut path).then_some(path)
}

/// A YAML syntax error of `text` (the contents of `file`) as a config error at its line and
/// column; a number that is not finite is named by its key as well.
pub fn yaml_error(text: &str, file: &str, e: &serde_saphyr::Error) -> ConfigError {
    let message = yaml_message(&e.to_string());
    let key = message
        .starts_with("non-finite number")
        .then(|| non_finite_key(text))
        .flatten()
        .filter(|p| !p.is_empty())
        .map(|p| p.join("."));
    ConfigError {
        file: file.to_string(),
        location: e.location().map(|l| (l.line(), l.column())),
        key,
        from_override: None,
        message,
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Node;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any YAML node")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
                let mut v = Vec::new();
                while let Some(k) = a.next_key::<Spanned<String>>()? {
                    v.push((k, a.next_value::<Spanned<Node>>()?));
                }
                Ok(Node::Map(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = a.next_element::<Spanned<Node>>()? {
                    v.push(x);
                }
                Ok(Node::Seq(v))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
                Ok(Node::Scalar(false))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
                Ok(Node::Scalar(false))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
                Ok(Node::Scalar(false))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
                Ok(Node::Scalar(!v.is_finite()))
            }
            fn visit_str<E>(self, _: &str) -> Result<Node, E> {
                Ok(Node::Scalar(false))
            }
            fn visit_unit<E>(self) -> Result<Node, E> {
                Ok(Node::Scalar(false))
            }
            fn visit_none<E>(self) -> Result<Node, E> {
                Ok(Node::Scalar(false))
            }
        }
        d.deserialize_any(V)
    }
}

/// Line and column of the value at the dotted `path` in the YAML `text` (of the key, when the
/// value is a mapping), for errors found outside the config loader.
pub fn locate_key(text: &str, path: &[String]) -> Option<(u64, u64)> {
    locate(text, path, false)
}

/// Line and column of the key at the end of `path` (where an unknown field is named).
pub fn locate_field(text: &str, path: &[String]) -> Option<(u64, u64)> {
    locate(text, path, true)
}

/// Line and column of the value at the dotted `key` of an error (of the key, when the value is a
/// mapping or a list). Mapping keys may themselves hold dots — `search.space.accelerator.rows` names the
/// entry `accelerator.rows` of `search.space` — so each step takes the longest key that
/// matches; a number steps into a list.
pub fn locate_dotted(text: &str, key: &str) -> Option<(u64, u64)> {
    let root = nodes(text)?;
    let mut loc = (root.referenced.line(), root.referenced.column());
    let mut cur = &root.value;
    let mut rest = key;
    while !rest.is_empty() {
        match cur {
            Node::Map(entries) => {
                let (k, v) = entries
                    .iter()
                    .filter(|(k, _)| {
                        rest.strip_prefix(k.value.as_str()).is_some_and(|r| {
                            r.is_empty() || r.starts_with('.') || r.starts_with('[')
                        })
                    })
                    .max_by_key(|(k, _)| k.value.len())?;
                rest = rest[k.value.len()..]
                    .strip_prefix('.')
                    .unwrap_or(&rest[k.value.len()..]);
                loc = if rest.is_empty() && matches!(v.value, Node::Map(_) | Node::Seq(_)) {
                    (k.referenced.line(), k.referenced.column())
                } else {
                    (v.referenced.line(), v.referenced.column())
                };
                cur = &v.value;
            }
            Node::Seq(items) => {
                // `0.c` or `[0].c` (or `[0][1]`).
                let (index, r) = match rest.strip_prefix('[') {
                    Some(b) => {
                        let (i, r) = b.split_once(']')?;
                        (i, r.strip_prefix('.').unwrap_or(r))
                    }
                    None => rest.split_once('.').unwrap_or((rest, "")),
                };
                let item = items.get(index.parse::<usize>().ok()?)?;
                loc = (item.referenced.line(), item.referenced.column());
                rest = r;
                cur = &item.value;
            }
            Node::Scalar(_) => break,
        }
    }
    Some(loc)
}

/// Line and column of the deepest node along `path`: the value of the last key found, or the
/// key itself when `at_key` (an unknown field) or when the value is a whole mapping.
fn locate(text: &str, path: &[String], at_key: bool) -> Option<(u64, u64)> {
    let root = nodes(text)?;
    let mut loc = (root.referenced.line(), root.referenced.column());
    let mut cur = &root.value;
    for (i, k) in path.iter().enumerate() {
        let last = i + 1 == path.len();
        match cur {
            Node::Map(entries) => {
                let (key, val) = entries.iter().find(|(key, _)| &key.value == k)?;
                // Point at the value for type errors, at the key when the key itself is the issue.
                loc = if last && (at_key || matches!(val.value, Node::Map(_))) {
                    (key.referenced.line(), key.referenced.column())
                } else {
                    (val.referenced.line(), val.referenced.column())
                };
                cur = &val.value;
            }
            Node::Seq(items) => {
                let item = items.get(k.parse::<usize>().ok()?)?;
                loc = (item.referenced.line(), item.referenced.column());
                cur = &item.value;
            }
            Node::Scalar(_) => break,
        }
    }
    Some(loc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use archsim_accelerators::AcceleratorConfig;

    const GOOD: &str = "workload:\n  model: resnet18\naccelerator:\n  kind: systolic\n  rows: 8\n  cols: 8\n  dataflow: os\n";

    fn error(text: &str, overrides: &[&str]) -> String {
        let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        load_str(text, "c.yaml", &o).unwrap_err().to_string()
    }

    #[test]
    fn good_config_loads_with_defaults() {
        let c = load_str(GOOD, "c.yaml", &[]).unwrap();
        let AcceleratorConfig::Systolic(s) = &c.accelerator else {
            panic!()
        };
        assert_eq!((s.rows, s.sram_kib.ifmap, s.word_bytes), (8, 512, 1));
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
        let AcceleratorConfig::Systolic(s) = &c.accelerator else {
            panic!()
        };
        assert_eq!((s.rows, s.dataflow.name()), (64, "ws"));
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
