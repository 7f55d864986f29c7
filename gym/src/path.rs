//! Config paths: the one parser behind every place a path addresses a config key — `--set`,
//! `search.space`, `sweep.grid` / `sweep.random`, gym spaces and `evaluate_batch` points.
//!
//! A path is keys joined by `.`, each optionally followed by list indices in brackets:
//!
//! ```
//! use archsim_gym::path::{parse, set, Segment};
//! use serde_json::json;
//!
//! let p = parse("accelerator.subs[1].dataflow").unwrap();
//! assert_eq!(p[2], Segment::Index(1));
//! let mut cfg = json!({"accelerator": {"subs": [{"dataflow": "os"}, {"dataflow": "os"}]}});
//! set(&mut cfg, &p, json!("is")).unwrap();
//! assert_eq!(cfg["accelerator"]["subs"][1]["dataflow"], "is");
//! // An index must name an element that exists.
//! let e = set(&mut cfg, &parse("accelerator.subs[2].rows").unwrap(), json!(8)).unwrap_err();
//! assert_eq!(e, "index 2 is out of range: `accelerator.subs` has 2 elements");
//! ```
//!
//! Setting a key creates the mappings on the way (so a path may add a key the base config
//! leaves to its default); an index never creates a list element.

use std::fmt::Write as _;

use serde_json::{Map, Value};

/// One step of a config path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// A mapping key.
    Key(String),
    /// A list index (from 0).
    Index(usize),
}

/// Parses `a.b[0].c` into its segments. A path starts with a key; keys are non-empty and hold
/// no `.`, `[` or `]`; an index is a decimal number in brackets right after a key or an index.
pub fn parse(path: &str) -> Result<Vec<Segment>, String> {
    let bad = |what: &str| format!("bad config path `{path}`: {what}");
    let mut segs = Vec::new();
    let mut rest = path;
    loop {
        // A key, up to the next `.`, `[` or `]`.
        let end = rest.find(['.', '[', ']']).unwrap_or(rest.len());
        if end == 0 {
            return Err(bad(if rest.starts_with('[') {
                "an index must follow a key, as in `subs[0]`"
            } else {
                "a key is empty"
            }));
        }
        segs.push(Segment::Key(rest[..end].to_string()));
        rest = &rest[end..];
        // Indices after it.
        while let Some(r) = rest.strip_prefix('[') {
            let close = r.find(']').ok_or_else(|| bad("`[` without `]`"))?;
            let digits = &r[..close];
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(&format!(
                    "index `{digits}` is not a list index (0, 1, 2, …)"
                )));
            }
            let i = digits
                .parse::<usize>()
                .map_err(|_| bad(&format!("index `{digits}` is too large")))?;
            segs.push(Segment::Index(i));
            rest = &r[close + 1..];
        }
        match rest.chars().next() {
            None => return Ok(segs),
            Some('.') => rest = &rest[1..],
            Some(c) => return Err(bad(&format!("unexpected `{c}`"))),
        }
    }
}

/// The path as the config loader names keys in its errors: indices as plain segments
/// (`accelerator.subs[0].rows` → `["accelerator", "subs", "0", "rows"]`).
pub fn keys(segs: &[Segment]) -> Vec<String> {
    segs.iter()
        .map(|s| match s {
            Segment::Key(k) => k.clone(),
            Segment::Index(i) => i.to_string(),
        })
        .collect()
}

/// The path written back in its `a.b[0].c` form.
pub fn display(segs: &[Segment]) -> String {
    let mut out = String::new();
    for s in segs {
        match s {
            Segment::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Segment::Index(i) => {
                let _ = write!(out, "[{i}]");
            }
        }
    }
    out
}

/// Sets the value at `path` in `root`, creating the mappings on the way (a missing or null
/// key becomes a mapping). An index must address an existing element of a list; otherwise
/// (or when a key meets something that is not a mapping) the error names the path so far.
pub fn set(root: &mut Value, path: &[Segment], x: Value) -> Result<(), String> {
    let Some(last) = path.len().checked_sub(1) else {
        return Err("empty config path".into());
    };
    let mut cur = root;
    for (i, seg) in path.iter().enumerate() {
        let so_far = || display(&path[..i]);
        match seg {
            Segment::Key(k) => {
                if cur.is_null() {
                    *cur = Value::Object(Map::new());
                }
                let Value::Object(map) = cur else {
                    return Err(if i == 0 {
                        "the config is not a mapping".into()
                    } else {
                        format!("`{}` is not a mapping, so it has no key `{k}`", so_far())
                    });
                };
                if i == last {
                    // Replace in place: a new key only where the base leaves it out.
                    match map.get_mut(k) {
                        Some(slot) => *slot = x,
                        None => {
                            map.insert(k.clone(), x);
                        }
                    }
                    return Ok(());
                }
                if matches!(path[i + 1], Segment::Index(_)) && map.get(k).is_none_or(Value::is_null)
                {
                    return Err(format!(
                        "`{}` is not set, so it has no element {}",
                        display(&path[..=i]),
                        match path[i + 1] {
                            Segment::Index(n) => n,
                            Segment::Key(_) => unreachable!("checked above"),
                        }
                    ));
                }
                if !map.contains_key(k) {
                    map.insert(k.clone(), Value::Object(Map::new()));
                }
                cur = map.get_mut(k).expect("inserted above");
            }
            Segment::Index(n) => {
                let Value::Array(items) = cur else {
                    return Err(format!(
                        "`{}` is not a list, so it has no element {n}",
                        so_far()
                    ));
                };
                let len = items.len();
                let Some(item) = items.get_mut(*n) else {
                    return Err(format!(
                        "index {n} is out of range: `{}` has {len} element{}",
                        so_far(),
                        if len == 1 { "" } else { "s" }
                    ));
                };
                if i == last {
                    *item = x;
                    return Ok(());
                }
                cur = item;
            }
        }
    }
    unreachable!("the last segment returns")
}

/// [`parse`] then [`set`].
pub fn set_str(root: &mut Value, path: &str, x: Value) -> Result<(), String> {
    set(root, &parse(path)?, x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn k(s: &str) -> Segment {
        Segment::Key(s.into())
    }

    #[test]
    fn paths_parse_keys_and_indices() {
        assert_eq!(
            parse("accelerator.rows").unwrap(),
            [k("accelerator"), k("rows")]
        );
        assert_eq!(
            parse("workload.tasks[1].model").unwrap(),
            [k("workload"), k("tasks"), Segment::Index(1), k("model")]
        );
        assert_eq!(
            parse("a[0][12]").unwrap(),
            [k("a"), Segment::Index(0), Segment::Index(12)]
        );
        for p in ["a.b[0].c", "a[0][12]", "x", "accelerator.sram_kib.ifmap"] {
            assert_eq!(display(&parse(p).unwrap()), p);
        }
        assert_eq!(
            keys(&parse("accelerator.subs[0].rows").unwrap()),
            ["accelerator", "subs", "0", "rows"]
        );
    }

    #[test]
    fn bad_paths_are_errors_naming_the_path() {
        for (p, want) in [
            ("", "a key is empty"),
            ("a..b", "a key is empty"),
            ("a.", "a key is empty"),
            (".a", "a key is empty"),
            ("[0].a", "an index must follow a key"),
            ("a.[0]", "an index must follow a key"),
            ("a[0", "`[` without `]`"),
            ("a[]", "index `` is not a list index"),
            ("a[-1]", "index `-1` is not a list index"),
            ("a[x]", "index `x` is not a list index"),
            ("a[99999999999999999999999]", "is too large"),
            ("a]", "unexpected `]`"),
            ("a[0]b", "unexpected `b`"),
        ] {
            let e = parse(p).unwrap_err();
            assert!(e.starts_with(&format!("bad config path `{p}`: ")), "{e}");
            assert!(e.contains(want), "{p}: {e}");
        }
    }

    #[test]
    fn set_walks_mappings_and_lists() {
        let mut v = json!({"accelerator": {"subs": [{"rows": 8}, {"rows": 16}]}});
        set_str(&mut v, "accelerator.subs[1].rows", json!(64)).unwrap();
        set_str(&mut v, "accelerator.subs[0].sram_kib.ifmap", json!(128)).unwrap();
        set_str(&mut v, "accelerator.new.key", json!(1)).unwrap();
        assert_eq!(
            v,
            json!({"accelerator": {
                "subs": [{"rows": 8, "sram_kib": {"ifmap": 128}}, {"rows": 64}],
                "new": {"key": 1}
            }})
        );
        set_str(&mut v, "accelerator.subs[0]", json!({"rows": 4})).unwrap();
        assert_eq!(v["accelerator"]["subs"][0], json!({"rows": 4}));
        let mut n = Value::Null;
        set_str(&mut n, "a.b", json!(1)).unwrap();
        assert_eq!(n, json!({"a": {"b": 1}}));
    }

    #[test]
    fn set_errors_name_the_path() {
        let base = json!({"accelerator": {"rows": 8, "subs": [{"rows": 8}]}, "workload": {}});
        for (p, want) in [
            (
                "accelerator.subs[1].rows",
                "index 1 is out of range: `accelerator.subs` has 1 element",
            ),
            (
                "accelerator.rows[0]",
                "`accelerator.rows` is not a list, so it has no element 0",
            ),
            (
                "accelerator.rows.x",
                "`accelerator.rows` is not a mapping, so it has no key `x`",
            ),
            (
                "workload.tasks[0].model",
                "`workload.tasks` is not set, so it has no element 0",
            ),
            (
                "accelerator.subs[0][0]",
                "`accelerator.subs[0]` is not a list, so it has no element 0",
            ),
        ] {
            let mut v = base.clone();
            assert_eq!(set_str(&mut v, p, json!(1)).unwrap_err(), want, "{p}");
        }
        assert!(set_str(&mut json!([1]), "a", json!(1))
            .unwrap_err()
            .contains("not a mapping"));
    }
}
