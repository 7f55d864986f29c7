//! A sweep's journal: one JSON line per finished point after a header that records the sweep's
//! config, read back (a torn last line dropped) to resume, appended to as points finish.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::plan::yaml_value;
use crate::{ConfigError, Error};

/// A search's best-so-far trace as the journal holds it: `null` (how JSON writes an infinite
/// cost, before any feasible design) reads back as infinity.
fn trace_from_json<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    let v: Vec<Option<f64>> = Deserialize::deserialize(d)?;
    Ok(v.into_iter().map(|c| c.unwrap_or(f64::INFINITY)).collect())
}

/// One line of the journal: a point and what it gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// Index of the point in the sweep's deterministic order.
    pub index: usize,
    /// The point: config path → value.
    pub point: Map<String, Value>,
    /// Metrics of a simulation, or of the best design of a search (empty on failure).
    pub metrics: Map<String, Value>,
    /// Search only: best cost and the evaluation that found it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_cost: Option<f64>,
    /// Search only: evaluation number of the best design.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_eval: Option<usize>,
    /// Search only: the best cost after each evaluation (for evaluations-to-target figures);
    /// infinite (`null` in the journal) until the first feasible design.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "trace_from_json"
    )]
    pub trace: Vec<f64>,
    /// Why the point failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The format version of a journal, the `archsim_journal` of its header line.
pub const JOURNAL_VERSION: u64 = 1;

/// The first line of a journal: which sweep it records. A `.jsonl` file whose first line is not
/// a header is not an archsim journal, and archsim never modifies it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalHeader {
    /// The format version ([`JOURNAL_VERSION`]).
    pub archsim_journal: u64,
    /// The archsim that started the journal.
    pub archsim_version: String,
    /// FNV-1a hash of the sweep definition and the base config together: a journal resumes only
    /// with the config it was started with.
    pub config_hash: String,
    /// Hash of the base config (the file without its `sweep:` section).
    pub base_hash: String,
    /// Hash of each top-level section of the base config, to say which one changed.
    pub base_keys: BTreeMap<String, String>,
    /// The `sweep:` section (key order normalized).
    pub sweep: Value,
    /// The number of points.
    pub points: usize,
}

/// A JSON value with the keys of every object sorted, so that hashes do not depend on the
/// order a file writes its keys in.
fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), canonical(&m[k])))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

fn hash_of(v: &Value) -> String {
    archsim_sim::fnv1a_hex(v.to_string().as_bytes())
}

/// The header of the journal of the sweep config `text` with `points` points.
pub fn journal_header(text: &str, file: &str, points: usize) -> Result<JournalHeader, Error> {
    let doc = yaml_value(text, file)?;
    let doc = canonical(&doc);
    let mut base = doc.as_object().cloned().unwrap_or_default();
    let sweep = base.remove("sweep").unwrap_or(Value::Null);
    let base_keys = base.iter().map(|(k, v)| (k.clone(), hash_of(v))).collect();
    let base = Value::Object(base);
    Ok(JournalHeader {
        archsim_journal: JOURNAL_VERSION,
        archsim_version: env!("CARGO_PKG_VERSION").into(),
        config_hash: hash_of(&serde_json::json!({"sweep": sweep, "base": base})),
        base_hash: hash_of(&base),
        base_keys,
        sweep,
        points,
    })
}

/// What differs between the config a journal was started with (`old`) and this one (`new`),
/// in words: the sweep axes and settings, and the base config's top-level sections.
pub fn config_changes(old: &JournalHeader, new: &JournalHeader) -> Vec<String> {
    let mut out = Vec::new();
    let empty = Map::new();
    let section = |h: &JournalHeader, part: &str| -> Map<String, Value> {
        h.sweep
            .get(part)
            .and_then(Value::as_object)
            .unwrap_or(&empty)
            .clone()
    };
    for part in ["grid", "random"] {
        let (a, b) = (section(old, part), section(new, part));
        for (k, v) in &b {
            match a.get(k) {
                None => out.push(format!("sweep.{part}.{k} added")),
                Some(w) if w != v => out.push(format!("sweep.{part}.{k} changed")),
                Some(_) => {}
            }
        }
        for k in a.keys().filter(|k| !b.contains_key(*k)) {
            out.push(format!("sweep.{part}.{k} removed"));
        }
    }
    if let (Some(a), Some(b)) = (old.sweep.as_object(), new.sweep.as_object()) {
        let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
        keys.sort();
        keys.dedup();
        for k in keys.into_iter().filter(|k| *k != "grid" && *k != "random") {
            if a.get(k) != b.get(k) {
                out.push(format!("sweep.{k} changed"));
            }
        }
    }
    let mut keys: Vec<&String> = old.base_keys.keys().chain(new.base_keys.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        match (old.base_keys.get(k), new.base_keys.get(k)) {
            (None, Some(_)) => out.push(format!("{k} added")),
            (Some(_), None) => out.push(format!("{k} removed")),
            (Some(a), Some(b)) if a != b => out.push(format!("{k} changed")),
            _ => {}
        }
    }
    if out.is_empty() && old.config_hash != new.config_hash {
        out.push("the config changed".into());
    }
    out
}

/// A journal read back: its header, its entries by point index, and where its last complete
/// line ends (a torn last line, from a writer killed mid-line, is not among the entries).
#[derive(Debug, Clone)]
pub struct JournalRead {
    /// The header line.
    pub header: JournalHeader,
    /// The entries, by point index.
    pub entries: BTreeMap<usize, JournalEntry>,
    /// Bytes up to the end of the last complete entry.
    pub good_len: u64,
    /// True when the file ends with a torn line (skipped).
    pub torn: bool,
}

fn journal_io(path: &Path, message: impl Into<String>) -> Error {
    Error::Io {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// Reads a journal without modifying it: the header first (a file without one is refused,
/// naming it, and left untouched), then one entry per line; a torn last line is skipped. A
/// missing file is `None`. Errors never quote the file's content.
pub fn scan_journal(path: &Path) -> Result<Option<JournalRead>, Error> {
    use archsim_workloads::input::{self, InputKind};
    let (f, _) = match input::open(path, InputKind::Journal) {
        Ok(x) => x,
        Err(e) if e.not_found => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut r = std::io::BufReader::new(f);
    let mut buf = Vec::new();
    let mut read_line = |buf: &mut Vec<u8>| -> Result<usize, Error> {
        buf.clear();
        r.read_until(b'\n', buf)
            .map_err(|e| crate::files::io_error(path, &e))
    };
    let foreign = |why: &str| {
        journal_io(
            path,
            format!("not an archsim sweep journal ({why}); archsim never modifies such a file"),
        )
    };
    let n = read_line(&mut buf)?;
    if n == 0 {
        return Err(foreign("it is empty"));
    }
    let first: Option<Value> = buf
        .strip_suffix(b"\n")
        .and_then(|l| serde_json::from_slice(l).ok());
    let header = match first {
        Some(v) if v.get("archsim_journal").is_some() => {
            let version = v.get("archsim_journal").and_then(Value::as_u64);
            if version != Some(JOURNAL_VERSION) {
                return Err(journal_io(
                    path,
                    format!(
                        "a journal of format {} (this archsim reads format {JOURNAL_VERSION}); \
                         it is left untouched",
                        version.map_or_else(|| "?".into(), |v| v.to_string())
                    ),
                ));
            }
            serde_json::from_value::<JournalHeader>(v)
                .map_err(|_| foreign("its header line is malformed"))?
        }
        Some(v) if JournalEntry::deserialize(&v).is_ok() => {
            return Err(journal_io(
                path,
                "a journal of an older archsim, without the header line that records its \
                 config; it is left untouched — rerun with --fresh to keep it aside as \
                 journal.jsonl.N and start over",
            ))
        }
        _ => return Err(foreign("its first line is not a journal header")),
    };
    let mut good_len = n as u64;
    let mut entries = BTreeMap::new();
    let mut line_no = 1usize;
    let mut torn = false;
    loop {
        let n = read_line(&mut buf)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let entry = buf
            .strip_suffix(b"\n")
            .and_then(|l| serde_json::from_slice::<JournalEntry>(l).ok());
        match entry {
            Some(e) => {
                good_len += n as u64;
                entries.insert(e.index, e);
            }
            None => {
                // Only the last line may be torn (a writer killed mid-line); anything else is
                // damage archsim did not do.
                if read_line(&mut buf)? == 0 {
                    torn = true;
                    break;
                }
                return Err(journal_io(
                    path,
                    format!(
                        "line {line_no} is not a journal entry; the journal is left untouched \
                         (rerun with --fresh to keep it aside and start over)"
                    ),
                ));
            }
        }
    }
    Ok(Some(JournalRead {
        header,
        entries,
        good_len,
        torn,
    }))
}

/// The entries of a journal, by point index, read without modifying the file (a torn last
/// line is skipped). A missing file has no entries; a file without a journal header is
/// refused, naming it.
pub fn read_journal(path: &Path) -> Result<BTreeMap<usize, JournalEntry>, Error> {
    Ok(scan_journal(path)?.map(|j| j.entries).unwrap_or_default())
}

/// A sweep's journal open for appending, in a locked output folder.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: std::fs::File,
}

/// Opens `path` for writing without following a link (`O_NOFOLLOW`).
fn open_nofollow(path: &Path, append: bool) -> Result<std::fs::File, Error> {
    let mut o = std::fs::OpenOptions::new();
    if append {
        o.append(true);
    } else {
        o.write(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(libc::O_NOFOLLOW);
    }
    o.open(path).map_err(|e| crate::files::io_error(path, &e))
}

/// The first free `journal.jsonl.N` beside `path`.
fn aside_name(path: &Path) -> PathBuf {
    let name = path.file_name().map_or_else(
        || "journal.jsonl".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    (1..)
        .map(|n| path.with_file_name(format!("{name}.{n}")))
        .find(|p| std::fs::symlink_metadata(p).is_err())
        .unwrap_or_else(|| path.with_file_name(format!("{name}.old")))
}

/// Puts the complete file `tmp` in place as `dest`, which must not exist (a hard link, which
/// never replaces; a plain rename where the file system has no hard links — the folder is
/// locked, so nothing else creates `dest` meanwhile).
fn place_new(tmp: &Path, dest: &Path) -> Result<(), Error> {
    let placed = match std::fs::hard_link(tmp, dest) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(crate::files::io_error(dest, &e))
        }
        Err(_) if std::fs::symlink_metadata(dest).is_err() => {
            std::fs::rename(tmp, dest).map_err(|e| crate::files::io_error(dest, &e))
        }
        Err(e) => Err(crate::files::io_error(dest, &e)),
    };
    let _ = std::fs::remove_file(tmp);
    placed
}

impl Journal {
    /// Opens (or starts) the journal `DIR/journal.jsonl` of the sweep with `header`, in the
    /// locked folder `out`; returns it with the entries already there.
    ///
    /// A journal of another config is refused with what changed, unless `fresh`, which moves
    /// it aside (`journal.jsonl.N`, never deleted) and starts a new one. A file without a
    /// journal header is refused and left untouched (with `fresh`, moved aside). A link or
    /// any non-regular file named `journal.jsonl` is always refused. Only archsim's own
    /// journal has a torn last line cut.
    pub fn open(
        out: &crate::files::OutDir,
        header: &JournalHeader,
        fresh: bool,
    ) -> Result<(Journal, BTreeMap<usize, JournalEntry>), Error> {
        let path = out.path().join("journal.jsonl");
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(journal_io(
                    &path,
                    "is a symbolic link; archsim never reads or writes a journal through a \
                     link (remove it, or give another --out folder)",
                ))
            }
            Ok(m) if !m.is_file() => {
                return Err(journal_io(
                    &path,
                    "exists and is not a regular file; archsim leaves it alone",
                ))
            }
            Ok(_) if fresh => {
                let aside = aside_name(&path);
                std::fs::rename(&path, &aside).map_err(|e| crate::files::io_error(&path, &e))?;
                eprintln!(
                    "sweep: --fresh: the previous journal is kept as {}",
                    aside.display()
                );
            }
            Ok(_) => {
                let read = scan_journal(&path)
                    .map_err(|e| match e {
                        Error::Io { path, message } if message.starts_with("not an archsim") => {
                            Error::Io {
                                path,
                                message: format!(
                                    "{message}: give the sweep another --out folder, or move \
                                     the file away"
                                ),
                            }
                        }
                        other => other,
                    })?
                    .ok_or_else(|| journal_io(&path, "disappeared while the folder was locked"))?;
                if read.header.config_hash != header.config_hash {
                    let changes = config_changes(&read.header, header);
                    return Err(Error::Config(ConfigError::new(
                        path.display().to_string(),
                        format!(
                            "the journal records another config ({}); a sweep resumes only with \
                             the config it started with — rerun with --fresh to keep this \
                             journal aside and start over, or give another --out folder",
                            changes.join(", ")
                        ),
                    )));
                }
                let file = open_nofollow(&path, true)?;
                if read.torn {
                    file.set_len(read.good_len)
                        .map_err(|e| crate::files::io_error(&path, &e))?;
                }
                return Ok((Journal { path, file }, read.entries));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(crate::files::io_error(&path, &e)),
        }
        // A new journal: its header written completely under a temporary name, then put in
        // place, so a journal.jsonl always starts with a whole header.
        let mut line =
            serde_json::to_string(header).map_err(|e| journal_io(&path, e.to_string()))?;
        line.push('\n');
        let tmp = path.with_file_name(format!(".journal.jsonl.{}.new", std::process::id()));
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .and_then(|mut f| {
                f.write_all(line.as_bytes())?;
                f.sync_all()
            });
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(crate::files::io_error(&path, &e));
        }
        place_new(&tmp, &path)?;
        let file = open_nofollow(&path, true)?;
        Ok((Journal { path, file }, BTreeMap::new()))
    }

    /// Appends one entry as one line, flushed before returning.
    pub fn append(&mut self, e: &JournalEntry) -> Result<(), Error> {
        let mut line =
            serde_json::to_string(e).map_err(|x| journal_io(&self.path, x.to_string()))?;
        line.push('\n');
        self.append_line(&line)
    }

    /// Appends one line (a serialized [`JournalEntry`] with its newline), flushed.
    pub fn append_line(&mut self, line: &str) -> Result<(), Error> {
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.flush())
            .map_err(|x| crate::files::io_error(&self.path, &x))
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
