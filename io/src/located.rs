//! Errors located in a config file: [`ConfigError`] (file, line, column, key, or the `--set`
//! override that gave the value), the `--set PATH=VALUE` overrides themselves, and the lookup of
//! a key's line and column in a span-annotated parse of the YAML text.
//!
//! Every reader of a config file — the simulation loader, the serving, training and collective
//! forms, the studies — locates its errors with these, so that one bad key reads the same
//! wherever it is found.
//!
//! ```
//! let text = "study:\n  rates_rps: [1, 2,\n    -1]\n";
//! let e = archsim_io::located::located_key_error(text, "s.yaml", &[], "study.rates_rps.2", "must be positive".into());
//! assert_eq!(e.to_string(), "s.yaml:3:5: study.rates_rps[2]: must be positive");
//! ```

use std::fmt;

use archsim_accelerators::config::KeyError;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_saphyr::Spanned;

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

impl ConfigError {
    /// An error about the file `file` as a whole: no line, no key, no override (add them with
    /// [`Self::with_key`], [`Self::with_location`], [`Self::with_override`]).
    pub fn new(file: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            location: None,
            key: None,
            from_override: None,
            message: message.into(),
        }
    }

    /// The same error, about the key `key` (dotted or bracketed path).
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// The same error, at a one-based line and column of the file (`None`: not located).
    pub fn with_location(mut self, location: Option<(u64, u64)>) -> Self {
        self.location = location;
        self
    }

    /// The same error, given by the `--set` override `o` (`None`: by the file).
    pub fn with_override(mut self, o: Option<String>) -> Self {
        self.from_override = o;
        self
    }
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
    let location = match from_override {
        Some(_) => None,
        None => locate(text, path, at_key),
    };
    ConfigError {
        key: (!path.is_empty()).then_some(key),
        ..ConfigError::new(file, message)
    }
    .with_location(location)
    .with_override(from_override)
}

/// [`located_error`] for a library's [`KeyError`] (its path and message).
pub fn located_key(text: &str, file: &str, overrides: &[String], e: KeyError) -> ConfigError {
    located_error(text, file, overrides, &e.path, e.message)
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
    let location = match from_override {
        Some(_) => None,
        None => locate_dotted(text, key),
    };
    ConfigError {
        key: (!key.is_empty()).then(|| key.to_string()),
        ..ConfigError::new(file, message)
    }
    .with_location(location)
    .with_override(from_override)
}

impl std::error::Error for ConfigError {}

/// The text of a config file, checked as every input is ([`archsim_workloads::input`]: a
/// regular file of at most 16 MiB, never a FIFO or a device); an error names the file, exit 2.
pub fn read_file(path: &std::path::Path) -> Result<String, crate::Error> {
    archsim_workloads::input::read_to_string(path, archsim_workloads::input::InputKind::Config)
        .map_err(|e| {
            crate::Error::Config(ConfigError::new(
                e.path,
                e.message
                    .replacen("cannot read file", "cannot read config", 1),
            ))
        })
}

/// Applies `--set PATH=VALUE` overrides to a parsed config document, returning each override's
/// key path (for locating errors later).
pub fn apply_overrides(
    value: &mut Value,
    file: &str,
    overrides: &[String],
) -> Result<Vec<(Vec<String>, String)>, ConfigError> {
    let mut applied: Vec<(Vec<String>, String)> = Vec::new();
    for o in overrides {
        let err = |message: String| ConfigError::new(file, message).with_override(Some(o.clone()));
        let (path, raw) = o
            .split_once('=')
            .ok_or_else(|| err("expected PATH=VALUE, e.g. accelerator.rows=64".into()))?;
        let segments = archsim_gym::path::parse(path).map_err(err)?;
        let v: Value = if raw.trim().is_empty() {
            Value::String(String::new())
        } else {
            serde_saphyr::from_str(raw).map_err(|e| {
                let message = yaml_message(&e.to_string());
                // A number that is not finite is a value of the key, not bad syntax.
                if message.starts_with("non-finite number") {
                    err(message).with_key(archsim_gym::path::display(&segments))
                } else {
                    err(format!("value is not valid YAML: {message}"))
                }
            })?
        };
        archsim_gym::path::set(value, &segments, v).map_err(err)?;
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
        key,
        ..ConfigError::new(file, message)
    }
    .with_location(e.location().map(|l| (l.line(), l.column())))
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
pub fn locate(text: &str, path: &[String], at_key: bool) -> Option<(u64, u64)> {
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
