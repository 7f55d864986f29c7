//! End-to-end tests of how archsim treats files: outputs complete or absent, links never
//! followed, one command per output folder, journals recognized by their header and keyed by
//! the config, inputs checked before they are read.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_archsim"));
    c.current_dir(root());
    c
}

fn archsim(args: &[&str]) -> Output {
    bin().args(args).output().expect("archsim runs")
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn tmp(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("files_{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The names in a folder, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Waits for a child with a guard against hangs: a command that blocks (a FIFO opened for
/// reading waits for a writer forever) is killed and the test fails naming it.
fn wait_guarded(mut child: Child, what: &str) -> Output {
    let t0 = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if t0.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("{what}: still running after 20 s (blocked on its input?)");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length.
    assert_eq!(
        unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) },
        0
    );
    let end = buf.iter().position(|&b| b == 0).unwrap();
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(s(p)).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(
        unsafe { libc::mkfifo(c.as_ptr(), 0o600) },
        0,
        "mkfifo {p:?}"
    );
}

/// A text file with a few JSON-looking lines, as a user's own `.jsonl` might be.
const FOREIGN: &str =
    "root:x:0:0:root:/root:/bin/bash\n{\"index\": 0, \"note\": \"mine\"}\n{\"a\": 1}\n{\"half\": ";

const GRID: &str = "configs/sweep/systolic_grid.yaml";

/// A small sweep (4 points) over two axes.
const SMALL: &str = "workload:\n  gemm: {m: 64, n: 64, k: 64}\naccelerator:\n  kind: systolic\n  rows: 16\n  cols: 16\n  dataflow: os\nsweep:\n  grid:\n    accelerator.rows: [8, 16]\n    accelerator.cols: [8, 16]\n";

#[test]
fn a_foreign_jsonl_is_never_modified() {
    let d = tmp("foreign");
    let f = d.join("notes.jsonl");
    std::fs::write(&f, FOREIGN).unwrap();
    // `archsim plot` only reads: refused, naming the file, quoting none of it.
    let o = archsim(&["plot", s(&f)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("notes.jsonl: not an archsim sweep journal"),
        "{e}"
    );
    assert!(!e.contains("root:x") && !e.contains("mine"), "{e}");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), FOREIGN);
    // `archsim sweep --out DIR` with that file as DIR/journal.jsonl: refused, untouched.
    let out = d.join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("journal.jsonl"), FOREIGN).unwrap();
    let o = archsim(&["sweep", GRID, "--out", s(&out)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("journal.jsonl: not an archsim sweep journal"));
    assert_eq!(
        std::fs::read_to_string(out.join("journal.jsonl")).unwrap(),
        FOREIGN
    );
    assert_eq!(names(&out), ["journal.jsonl"], "no table, no lock left");
    // A journal of an older archsim (entries, no header) is refused with the way out; --fresh
    // keeps it aside, byte for byte, and starts over.
    let old = d.join("old");
    std::fs::create_dir(&old).unwrap();
    let entry = "{\"index\":0,\"point\":{\"accelerator.rows\":8},\"metrics\":{}}\n";
    std::fs::write(old.join("journal.jsonl"), entry).unwrap();
    let o = archsim(&["sweep", GRID, "--out", s(&old)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("without the header line"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("--fresh"), "{}", stderr(&o));
    let o = archsim(&["sweep", GRID, "--out", s(&old), "--fresh"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(old.join("journal.jsonl.1")).unwrap(),
        entry
    );
}

#[cfg(unix)]
#[test]
fn planted_links_are_refused_and_their_targets_untouched() {
    let d = tmp("links");
    let target = d.join("precious.txt");
    std::fs::write(&target, "keep me").unwrap();
    let out = d.join("out");
    std::fs::create_dir(&out).unwrap();
    std::os::unix::fs::symlink(&target, out.join("report.json")).unwrap();
    let o = archsim(&["run", "--out", s(&out)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("report.json: is a symbolic link"), "{e}");
    assert_eq!(e.matches(s(&out)).count(), 1, "the path once: {e}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
    // Nothing of the failed run is left under a final name (the outputs land together).
    assert_eq!(names(&out), ["report.json"]);
    assert!(std::fs::symlink_metadata(out.join("report.json"))
        .unwrap()
        .file_type()
        .is_symlink());

    // A journal that is a link is refused (never read, never appended to, never cut).
    let sw = d.join("sweep");
    std::fs::create_dir(&sw).unwrap();
    std::os::unix::fs::symlink(&target, sw.join("journal.jsonl")).unwrap();
    for extra in [&[][..], &["--fresh"][..]] {
        let mut args = vec!["sweep", GRID, "--out", s(&sw)];
        args.extend(extra);
        let o = archsim(&args);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains("journal.jsonl: is a symbolic link"));
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
    }
    // A link to the output folder itself, given explicitly, is followed.
    let real = d.join("real");
    std::fs::create_dir(&real).unwrap();
    std::os::unix::fs::symlink(&real, d.join("via")).unwrap();
    let o = archsim(&["run", "--out", s(&d.join("via"))]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(real.join("report.json").is_file());
}

#[test]
fn a_locked_folder_refuses_a_second_command_naming_the_holder() {
    let d = tmp("lock");
    let lock = d.join(".archsim.lock");
    let holder = |pid: u32| {
        format!(
            "{{\"pid\":{pid},\"host\":\"{}\",\"command\":\"archsim sweep other.yaml\",\"started\":\"2025-01-01T00:00:00Z\"}}\n",
            hostname()
        )
    };
    // A live holder: this test process.
    let held = holder(std::process::id());
    std::fs::write(&lock, &held).unwrap();
    for args in [
        vec!["run", "--out", s(&d)],
        vec!["sweep", GRID, "--out", s(&d)],
    ] {
        let o = archsim(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(e.contains("in use by another archsim"), "{e}");
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        assert!(e.contains("archsim sweep other.yaml"), "{e}");
    }
    assert_eq!(std::fs::read_to_string(&lock).unwrap(), held);
    assert_eq!(names(&d), [".archsim.lock"], "nothing written");

    // A holder that is gone (a child that has exited): taken over with a warning, and the lock
    // is removed when the run ends.
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    std::fs::write(&lock, holder(dead)).unwrap();
    let o = archsim(&["run", "--out", s(&d)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("taking over a stale lock"),
        "{}",
        stderr(&o)
    );
    assert!(!lock.exists());
    assert!(d.join("report.json").is_file());
    // A command that fails after taking the lock removes it too.
    std::fs::write(d.join("journal.jsonl"), FOREIGN).unwrap();
    let o = archsim(&["sweep", GRID, "--out", s(&d)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!lock.exists());
}

#[test]
fn two_identical_sweeps_into_one_folder_never_double_the_journal() {
    let d = tmp("two_sweeps");
    let start = || {
        bin()
            .args(["sweep", GRID, "--out", s(&d)])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (start(), start());
    let outs = [wait_guarded(a, "sweep a"), wait_guarded(b, "sweep b")];
    for o in &outs {
        // Each one either ran (or resumed a finished journal) or was refused by the lock.
        match o.status.code() {
            Some(0) => {}
            Some(2) => assert!(
                stderr(o).contains("in use by another archsim"),
                "{}",
                stderr(o)
            ),
            c => panic!("exit {c:?}: {}", stderr(o)),
        }
    }
    assert!(outs.iter().any(|o| o.status.success()));
    let journal = std::fs::read_to_string(d.join("journal.jsonl")).unwrap();
    assert_eq!(
        journal.lines().count(),
        1 + 96,
        "the header and each point once"
    );
    assert!(!d.join(".archsim.lock").exists());
}

/// Runs `args` with the file size limit set to `limit` bytes and SIGXFSZ ignored, so every
/// write past the limit fails with EFBIG, as on a full disk.
#[cfg(unix)]
fn with_file_limit(args: &[&str], limit: u64) -> Output {
    use std::os::unix::process::CommandExt;
    let mut c = bin();
    c.args(args);
    // SAFETY: only async-signal-safe calls (signal, setrlimit) between fork and exec.
    unsafe {
        c.pre_exec(move || {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let r = libc::rlimit {
                rlim_cur: limit as libc::rlim_t,
                rlim_max: limit as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &r) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    c.output().unwrap()
}

#[cfg(unix)]
#[test]
fn a_full_disk_leaves_no_file_under_a_final_name() {
    let d = tmp("full");
    // report.json is about 23 KB and the PNG over 100 KB: config.yaml fits, they do not.
    let o = with_file_limit(&["run", "--out", s(&d)], 16 * 1024);
    assert_ne!(o.status.code(), Some(0));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("File too large"), "{}", stderr(&o));
    assert_eq!(
        names(&d),
        Vec::<String>::new(),
        "no output, no temporary, no lock"
    );
    // Over a finished run, a failed one leaves the finished outputs as they were.
    let o = archsim(&["run", "--out", s(&d)]);
    assert!(o.status.success());
    let before: Vec<(String, Vec<u8>)> = names(&d)
        .into_iter()
        .map(|n| (n.clone(), std::fs::read(d.join(&n)).unwrap()))
        .collect();
    let o = with_file_limit(
        &["run", "--out", s(&d), "--set", "accelerator.rows=64"],
        16 * 1024,
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let after: Vec<(String, Vec<u8>)> = names(&d)
        .into_iter()
        .map(|n| (n.clone(), std::fs::read(d.join(&n)).unwrap()))
        .collect();
    assert!(before == after, "the finished run's files changed");
    // A sweep's tables likewise: the journal keeps every point, no table is half written.
    let sw = tmp("full_sweep");
    let o = with_file_limit(&["sweep", GRID, "--out", s(&sw)], 24 * 1024);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    for n in names(&sw) {
        assert!(n.starts_with("journal.jsonl"), "{n} left behind");
    }
}

#[cfg(unix)]
#[test]
fn a_read_only_out_fails_before_any_work() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let d = tmp("read_only");
    let ro = d.join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    // Root writes anywhere: run the command as `nobody` then (set in the child only).
    // SAFETY: geteuid has no preconditions.
    let root_user = unsafe { libc::geteuid() } == 0;
    let run = |args: &[&str]| -> std::io::Result<Output> {
        let mut c = bin();
        c.args(args);
        if root_user {
            // SAFETY: only setgid/setuid between fork and exec.
            unsafe {
                c.pre_exec(|| {
                    if libc::setgid(65534) != 0 || libc::setuid(65534) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        c.output()
    };
    if root_user && !run(&["list", "models"]).is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: running as root, and `nobody` cannot run the binary from here");
        return;
    }
    for args in [
        vec!["run", "configs/search/resnet18_bo.yaml", "--out", s(&ro)],
        vec!["sweep", GRID, "--out", s(&ro)],
    ] {
        let o = run(&args).unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let e = stderr(&o);
        // One line, the folder named once, before any work (no progress, no sweep plan).
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(e.contains("cannot write in the output folder"), "{e}");
        assert_eq!(e.matches(s(&ro)).count(), 1, "{e}");
        assert!(!e.contains("points"), "{e}");
    }
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(names(&ro), Vec::<String>::new());
}

#[test]
fn a_changed_sweep_config_is_refused_on_resume_and_fresh_starts_over() {
    let d = tmp("changed");
    let cfg = d.join("s.yaml");
    std::fs::write(&cfg, SMALL).unwrap();
    let out = d.join("out");
    let o = archsim(&["sweep", s(&cfg), "--out", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let journal = std::fs::read(out.join("journal.jsonl")).unwrap();
    let table = std::fs::read(out.join("results.csv")).unwrap();
    // The same config with its keys in another order and other comments resumes.
    let reordered = "# same sweep\naccelerator: {dataflow: os, cols: 16, rows: 16, kind: systolic}\nsweep:\n  grid:\n    accelerator.rows: [8, 16]\n    accelerator.cols: [8, 16]\nworkload:\n  gemm: {k: 64, n: 64, m: 64}\n";
    std::fs::write(&cfg, reordered).unwrap();
    let o = archsim(&["sweep", s(&cfg), "--out", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("4 already in the journal, 0 to run"));
    assert_eq!(std::fs::read(out.join("journal.jsonl")).unwrap(), journal);
    // Another axis value and another base section: refused, saying what changed.
    let changed = SMALL
        .replace("accelerator.rows: [8, 16]", "accelerator.rows: [8, 32]")
        .replace("k: 64", "k: 128");
    std::fs::write(&cfg, &changed).unwrap();
    let o = archsim(&["sweep", s(&cfg), "--out", s(&out)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("sweep.grid.accelerator.rows changed, workload changed"),
        "{e}"
    );
    assert!(e.contains("--fresh"), "{e}");
    assert!(!e.contains("accelerator.cols"), "{e}");
    assert_eq!(std::fs::read(out.join("journal.jsonl")).unwrap(), journal);
    assert_eq!(std::fs::read(out.join("results.csv")).unwrap(), table);
    // An axis added is named too.
    std::fs::write(
        &cfg,
        SMALL.replace(
            "    accelerator.cols: [8, 16]\n",
            "    accelerator.cols: [8, 16]\n    accelerator.dataflow: [os, ws]\n",
        ),
    )
    .unwrap();
    let o = archsim(&["sweep", s(&cfg), "--out", s(&out)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("sweep.grid.accelerator.dataflow added"));
    // --fresh keeps the old journal aside and runs the changed config from the start.
    std::fs::write(&cfg, &changed).unwrap();
    let o = archsim(&["sweep", s(&cfg), "--out", s(&out), "--fresh"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("0 already in the journal, 4 to run"));
    assert_eq!(std::fs::read(out.join("journal.jsonl.1")).unwrap(), journal);
    let rows = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert!(rows.lines().any(|l| l.starts_with("2,32,8,")), "{rows}");
}

#[cfg(unix)]
#[test]
fn fifos_devices_and_folders_as_inputs_fail_at_once_without_echoing_them() {
    let d = tmp("inputs");
    let fifo = d.join("pipe.csv");
    mkfifo(&fifo);
    let secret = d.join("env.csv");
    std::fs::write(&secret, "SECRET_TOKEN=hunter2\nHOME=/root\n").unwrap();
    let srv = "configs/serving_llama7b_h100.yaml";
    let topo = |p: &Path| format!("workload.scalesim_topology={}", s(p));
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["run".into(), s(&fifo).into()], "FIFO"),
        (vec!["run".into(), "/dev/zero".into()], "device"),
        (vec!["run".into(), s(&d).into()], "folder"),
        (vec!["sweep".into(), s(&fifo).into()], "FIFO"),
        (
            vec![
                "run".into(),
                "configs/quickstart.yaml".into(),
                "--set".into(),
                "workload.model=null".into(),
                "--set".into(),
                topo(&fifo),
            ],
            "FIFO",
        ),
        (
            vec![
                "run".into(),
                "configs/quickstart.yaml".into(),
                "--set".into(),
                "workload.model=null".into(),
                "--set".into(),
                topo(Path::new("/dev/zero")),
            ],
            "device",
        ),
        (
            vec![
                "run".into(),
                srv.into(),
                "--set".into(),
                "serving.traffic.arrival=trace".into(),
                "--set".into(),
                format!("serving.traffic.trace={}", s(&fifo)),
            ],
            "FIFO",
        ),
        (
            vec![
                "run".into(),
                srv.into(),
                "--set".into(),
                "serving.traffic.arrival=trace".into(),
                "--set".into(),
                "serving.traffic.trace=/dev/zero".into(),
            ],
            "device",
        ),
        (
            vec![
                "run".into(),
                srv.into(),
                "--set".into(),
                "serving.traffic.prompt_tokens={csv: {path: /dev/zero, column: tokens}}".into(),
            ],
            "device",
        ),
        (
            vec![
                "validate".into(),
                s(&fifo).into(),
                "--config".into(),
                "configs/resnet50_h100.yaml".into(),
            ],
            "FIFO",
        ),
        // Content never echoed: a file of secrets given as a trace and as a length column.
        (
            vec![
                "run".into(),
                srv.into(),
                "--set".into(),
                "serving.traffic.arrival=trace".into(),
                "--set".into(),
                format!("serving.traffic.trace={}", s(&secret)),
            ],
            // Without `arrival_s` a trace is one of lengths; this one has neither column.
            "no column `prompt_tokens`",
        ),
        (
            vec![
                "run".into(),
                srv.into(),
                "--set".into(),
                format!(
                    "serving.traffic.prompt_tokens={{csv: {{path: {}, column: SECRET_TOKEN=hunter2}}}}",
                    s(&secret)
                ),
            ],
            "line 2, column `SECRET_TOKEN=hunter2`: not a number",
        ),
    ];
    for (args, want) in cases {
        let out = d.join("out");
        let mut full = args.clone();
        full.extend(["--out".into(), s(&out).into()]);
        let child = bin()
            .args(&full)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let o = wait_guarded(child, &format!("{args:?}"));
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(e.contains(want), "{args:?}: {e}");
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(!e.contains("/root") && !e.contains("HOME"), "{e}");
        let _ = std::fs::remove_dir_all(&out);
    }
}

#[test]
fn io_errors_exit_2_naming_the_path_once() {
    let d = tmp("io_errors");
    let garbage = d.join("garbage.csv");
    std::fs::write(&garbage, b"\x00\xff\xfebinary\n").unwrap();
    let missing = d.join("missing.csv");
    for (args, path) in [
        (
            vec![
                "validate",
                s(&missing),
                "--config",
                "configs/resnet50_h100.yaml",
            ],
            s(&missing).to_string(),
        ),
        (
            vec![
                "validate",
                s(&garbage),
                "--config",
                "configs/resnet50_h100.yaml",
            ],
            s(&garbage).to_string(),
        ),
        (
            vec![
                "run",
                "configs/repro/nasaic.yaml",
                "--set",
                "codesign.oracle=no_such_oracle.csv",
            ],
            "no_such_oracle.csv".to_string(),
        ),
    ] {
        let mut full = args.clone();
        let out = d.join("out");
        full.extend(["--out", s(&out)]);
        let o = archsim(&full);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let e = stderr(&o);
        assert_eq!(e.matches(&path).count(), 1, "{e}");
        assert_eq!(e.lines().count(), 1, "{e}");
    }
}
