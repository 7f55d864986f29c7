//! Helpers: `archsim run` and `archsim plot` of a study folder as the binary runs them, the
//! repository root, scratch folders.

use std::path::{Path, PathBuf};

/// The exit status of a run: 0 on success, else the command line's exit code.
#[derive(Debug, Clone, Copy)]
pub struct Status(i32);

impl Status {
    pub fn success(self) -> bool {
        self.0 == 0
    }

    pub fn code(self) -> Option<i32> {
        Some(self.0)
    }
}

/// What a command printed, as `std::process::Output` holds it.
#[derive(Debug)]
pub struct Output {
    pub status: Status,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

fn failed(e: &archsim::Error) -> Output {
    Output {
        status: Status(i32::from(e.exit_code())),
        stdout: Vec::new(),
        stderr: format!("error: {e}\n").into_bytes(),
    }
}

/// `archsim run CONFIG [--json] [--set P=V]... [--out DIR]`, or `archsim plot DIR` of a study
/// folder (the study's own replot), run in this process through the library the binary calls.
pub fn archsim(args: &[&str]) -> Output {
    match args.first() {
        Some(&"run") => {}
        Some(&"plot") => {
            let dir = Path::new(args[1]);
            let text = std::fs::read_to_string(dir.join("config.yaml")).unwrap();
            let doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
            let study = archsim_studies::STUDIES
                .iter()
                .find(|s| s.section.is_some_and(|k| doc.get(k).is_some()))
                .expect("a study folder");
            let replot = study.replot.expect("a study that redraws its plots");
            return match replot(&archsim::Runner, dir) {
                Ok(_) => Output {
                    status: Status(0),
                    stdout: Vec::new(),
                    stderr: Vec::new(),
                },
                Err(e) => failed(&e),
            };
        }
        other => panic!("unsupported command {other:?}"),
    }
    let (mut config, mut json, mut set, mut out) = (None, false, Vec::new(), None);
    let mut it = args[1..].iter();
    while let Some(&a) = it.next() {
        match a {
            "--json" => json = true,
            "--set" => set.push(it.next().unwrap().to_string()),
            "--out" => out = Some(PathBuf::from(it.next().unwrap())),
            c => config = Some(PathBuf::from(c)),
        }
    }
    match archsim::run_command(config.as_deref(), json, &set, out, None) {
        Ok(p) => Output {
            status: Status(0),
            stdout: p.stdout.into_bytes(),
            stderr: p.stderr.into_bytes(),
        },
        Err(e) => failed(&e),
    }
}

/// A fresh scratch folder.
pub fn tmp(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("studies")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The repository root.
pub fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// Text for people has every number rounded, never a float's full expansion.
pub fn assert_no_raw_floats(text: &str) {
    assert!(!text.contains("[0.") && !text.contains(".0]"), "{text}");
    for word in text.split(|c: char| !(c.is_ascii_digit() || c == '.')) {
        if let Some((_, frac)) = word.split_once('.') {
            assert!(frac.len() <= 6, "unrounded number `{word}` in:\n{text}");
        }
    }
}
