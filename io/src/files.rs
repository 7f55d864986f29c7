//! Every file archsim writes goes through this module: outputs are complete or absent, never
//! written through a link, and one output folder serves one command at a time.
//!
//! * **Atomic writes.** [`write`], [`AtomicFile`] (any writer: CSV, Parquet, JSON) and
//!   [`render_to`] (a plotting backend that writes to a path) write to a temporary name in the
//!   destination's folder (`.NAME.PID-N.tmp`, created with `O_EXCL`), flush it to disk, and
//!   rename it over the final name only when complete. On any error the temporary file is
//!   removed: a full disk leaves neither a truncated `report.json` nor a half PNG under its
//!   final name.
//! * **No links followed.** A final name that exists as a symbolic link (or as anything but a
//!   regular file) is refused, naming it; the link and its target are left alone. (A link to
//!   the output folder itself, given explicitly, is followed: it is the files inside that are
//!   never written through.)
//! * **One command per folder.** [`OutDir::prepare`] creates the output folder if missing,
//!   checks that it is a folder and writable before any work starts, and takes the lock file
//!   [`LOCK_NAME`] in it (created with `O_EXCL`, holding the pid, host, command line and start
//!   time). A second `archsim run` or `archsim sweep` on the folder fails at once naming the
//!   holder; a lock left by a process that is gone (same host, pid not alive) is taken over
//!   with a warning; the lock is removed when the [`OutDir`] is dropped, on success or error.
//!
//! Every error is an [`Error::Io`] naming the path once (exit code 2).

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::Error;

/// The lock file of an output folder.
pub const LOCK_NAME: &str = ".archsim.lock";

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// An I/O error on `path`, in words without the `(os error N)` suffix.
pub fn io_error(path: &Path, e: &std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        message: archsim_workloads::input::io_message(e),
    }
}

fn refused(path: &Path, message: impl Into<String>) -> Error {
    Error::Io {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// Checks that `path` may be written: it does not exist, or it is a regular file. A symbolic
/// link (even one to a regular file), a folder, a FIFO or a device is refused, naming it.
pub fn check_target(path: &Path) -> Result<(), Error> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(refused(
            path,
            "is a symbolic link; archsim never writes through a link (remove it, or give \
             another output folder)",
        )),
        Ok(m) if !m.is_file() => Err(refused(
            path,
            "exists and is not a regular file; archsim does not replace it",
        )),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error(path, &e)),
    }
}

/// Creates a fresh temporary file beside `dest` (same folder, hidden, `O_EXCL`), ending in
/// `suffix`.
fn create_temp(dest: &Path, suffix: &str) -> Result<(File, PathBuf), Error> {
    create_temp_io(dest, suffix).map_err(|e| io_error(dest, &e))
}

/// [`create_temp`] with the file system's error as it is.
fn create_temp_io(dest: &Path, suffix: &str) -> std::io::Result<(File, PathBuf)> {
    let name = dest
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    loop {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = folder_of(dest).join(format!(".{name}.{}-{n}.tmp{suffix}", std::process::id()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(f) => return Ok((f, tmp)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The folder of `path` (`.` for a bare name).
fn folder_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Flushes a folder's entries to disk (the renames in it become durable); a folder that cannot
/// be synced (some network file systems) still holds the complete files.
fn sync_folder(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// The finished files of the output folders held by this process ([`OutDir`]), waiting for
/// [`OutDir::commit`]: (folder id, temporary file, final name).
type Staged = Vec<(u64, PathBuf, PathBuf)>;

static STAGED: Mutex<Staged> = Mutex::new(Vec::new());
/// The held output folders: (folder id, canonical folder).
static HELD: Mutex<Vec<(u64, PathBuf)>> = Mutex::new(Vec::new());
static HELD_COUNTER: AtomicU64 = AtomicU64::new(0);

fn lock_ignoring_poison<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Puts the finished temporary file `tmp` in place as `dest` (refusing a link or non-file
/// there): at once, or — when `dest` is in an output folder this process holds — when the
/// folder's outputs are committed together. Removes `tmp` on failure.
fn install(tmp: &Path, dest: &Path) -> Result<(), Error> {
    if let Err(e) = check_target(dest) {
        let _ = std::fs::remove_file(tmp);
        return Err(e);
    }
    let held = lock_ignoring_poison(&HELD).clone();
    if !held.is_empty() {
        if let Ok(canon) = folder_of(dest).canonicalize() {
            if let Some((id, _)) = held.iter().find(|(_, d)| *d == canon) {
                let mut staged = lock_ignoring_poison(&STAGED);
                // The same file written twice in one command: the later one wins.
                if let Some(k) = staged.iter().position(|s| s.0 == *id && s.2 == dest) {
                    let (_, old, _) = staged.remove(k);
                    let _ = std::fs::remove_file(old);
                }
                staged.push((*id, tmp.to_path_buf(), dest.to_path_buf()));
                return Ok(());
            }
        }
    }
    if let Err(e) = std::fs::rename(tmp, dest) {
        let _ = std::fs::remove_file(tmp);
        return Err(io_error(dest, &e));
    }
    sync_folder(folder_of(dest));
    Ok(())
}

/// A file being written under a temporary name; [`AtomicFile::commit`] puts it in place.
/// Dropped without a commit (an error on the way), it removes its temporary file.
#[derive(Debug)]
pub struct AtomicFile {
    file: Option<BufWriter<File>>,
    tmp: PathBuf,
    dest: PathBuf,
}

impl AtomicFile {
    /// Starts writing `dest`: refuses a link or non-file there, creates the temporary file.
    pub fn create(dest: &Path) -> Result<AtomicFile, Error> {
        check_target(dest)?;
        let (f, tmp) = create_temp(dest, "")?;
        Ok(AtomicFile {
            file: Some(BufWriter::new(f)),
            tmp,
            dest: dest.to_path_buf(),
        })
    }

    /// The final name.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Flushes the content to disk and renames it over the final name.
    pub fn commit(mut self) -> Result<(), Error> {
        let Some(w) = self.file.take() else {
            return Err(refused(&self.dest, "already committed"));
        };
        let f = w
            .into_inner()
            .map_err(|e| io_error(&self.dest, e.error()))?;
        f.sync_all().map_err(|e| io_error(&self.dest, &e))?;
        drop(f);
        install(&self.tmp, &self.dest)?;
        // Installed: nothing left to clean up.
        self.tmp = PathBuf::new();
        Ok(())
    }

    fn writer(&mut self) -> std::io::Result<&mut BufWriter<File>> {
        self.file
            .as_mut()
            .ok_or_else(|| std::io::Error::other("the file is already committed"))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writer()?.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.writer()?.write_all(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.writer()?.flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        // Close before removing (the order does not matter on Unix, it does elsewhere).
        drop(self.file.take());
        if !self.tmp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `bytes` to `dest` atomically (see the module docs).
pub fn write(dest: &Path, bytes: impl AsRef<[u8]>) -> Result<(), Error> {
    let mut f = AtomicFile::create(dest)?;
    f.write_all(bytes.as_ref())
        .map_err(|e| io_error(dest, &e))?;
    f.commit()
}

/// A CSV writer on an [`AtomicFile`]; finish it with [`commit_csv`].
pub fn csv_writer(dest: &Path) -> Result<csv::Writer<AtomicFile>, Error> {
    Ok(csv::Writer::from_writer(AtomicFile::create(dest)?))
}

/// Flushes a CSV writer from [`csv_writer`] and puts its file in place.
pub fn commit_csv(w: csv::Writer<AtomicFile>) -> Result<(), Error> {
    match w.into_inner() {
        Ok(f) => f.commit(),
        Err(e) => {
            let message = archsim_workloads::input::io_message(e.error());
            let w = e.into_inner();
            Err(refused(w.get_ref().dest(), message))
        }
    }
}

/// A CSV error on `dest` as an [`Error`] (the csv crate's I/O errors in words).
pub fn csv_error(dest: &Path, e: &csv::Error) -> Error {
    match e.kind() {
        csv::ErrorKind::Io(io) => io_error(dest, io),
        _ => refused(dest, e.to_string()),
    }
}

/// Has `draw` write `dest` through a temporary path (for a backend that writes to a path
/// itself, as plotters' bitmap backend does; the temporary name keeps `dest`'s extension so the
/// backend picks the same format), then puts the file in place. A drawing error is returned as
/// an error naming `dest`; the temporary file is removed.
pub fn render_to(dest: &Path, draw: impl FnOnce(&Path) -> Result<(), String>) -> Result<(), Error> {
    check_target(dest)?;
    let ext = dest
        .extension()
        .map_or_else(String::new, |e| format!(".{}", e.to_string_lossy()));
    let (f, tmp) = create_temp(dest, &ext)?;
    drop(f);
    let done = draw(&tmp).map_err(|m| refused(dest, m)).and_then(|()| {
        File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| io_error(dest, &e))
    });
    if let Err(e) = done {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    install(&tmp, dest)
}

/// The text of an input file, checked as [`archsim_workloads::input`] checks every input (a
/// regular file within the cap of `kind`).
pub fn read_text(path: &Path, kind: archsim_workloads::input::InputKind) -> Result<String, Error> {
    Ok(archsim_workloads::input::read_to_string(path, kind)?)
}

/// Creates the folder `dir` (and its parents) if missing; an existing `dir` must be a folder
/// (a link to a folder is followed).
pub fn create_dir(dir: &Path) -> Result<(), Error> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(refused(dir, "exists and is not a folder")),
        Err(_) => std::fs::create_dir_all(dir).map_err(|e| {
            refused(
                dir,
                format!(
                    "cannot create the output folder: {}",
                    archsim_workloads::input::io_message(&e)
                ),
            )
        }),
    }
}

/// Who holds an output folder: the content of its lock file.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LockHolder {
    /// Process id.
    pub pid: u32,
    /// Host name of the machine the process runs on.
    pub host: String,
    /// Its command line.
    pub command: String,
    /// When it started (UTC, ISO 8601).
    pub started: String,
}

impl LockHolder {
    /// This process.
    pub fn this_process() -> LockHolder {
        let command = std::env::args()
            .map(|a| {
                if a.is_empty() || a.contains([' ', '\'', '"']) {
                    format!("'{}'", a.replace('\'', "'\\''"))
                } else {
                    a
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        LockHolder {
            pid: std::process::id(),
            host: hostname(),
            command,
            started: utc_now(),
        }
    }

    fn describe(&self) -> String {
        format!(
            "pid {} on {} since {}: {}",
            self.pid, self.host, self.started, self.command
        )
    }
}

/// The host name (empty when unknown).
fn hostname() -> String {
    #[cfg(unix)]
    {
        let mut buf = [0u8; 256];
        // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it
        // (or truncates, which the position search below handles).
        let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        if rc == 0 {
            let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            return String::from_utf8_lossy(&buf[..end]).into_owned();
        }
    }
    std::env::var("COMPUTERNAME").unwrap_or_default()
}

/// Whether process `pid` is alive on this host: `Some(false)` only when it certainly is not.
fn alive(pid: u32) -> Option<bool> {
    #[cfg(unix)]
    {
        let Ok(p) = libc::pid_t::try_from(pid) else {
            return Some(false);
        };
        if p <= 0 {
            return Some(false);
        }
        // SAFETY: signal 0 checks that the process exists and sends nothing.
        let rc = unsafe { libc::kill(p, 0) };
        if rc == 0 {
            return Some(true);
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::ESRCH) => Some(false),
            // EPERM: it exists, owned by someone else.
            _ => Some(true),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        None
    }
}

/// Now, UTC, as `YYYY-MM-DDTHH:MM:SSZ`.
fn utc_now() -> String {
    utc(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()))
}

/// Seconds since 1970 (UTC) as `YYYY-MM-DDTHH:MM:SSZ`.
fn utc(secs: u64) -> String {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// An output folder held by this process: created, checked writable, locked. The files written
/// into it are staged under temporary names until [`OutDir::commit`] renames them into place
/// together, so a command that fails on the way (a full disk, a refused link) leaves no new
/// file under a final name and the previous outputs as they were. Dropped, it removes the
/// uncommitted temporary files and the lock file.
#[derive(Debug)]
pub struct OutDir {
    dir: PathBuf,
    lock: PathBuf,
    id: u64,
}

/// The pid in the name of a temporary file archsim writes (`.NAME.PID-N.tmp[.EXT]`,
/// `.journal.jsonl.PID.new`, `.archsim.lock.stale-PID`), if it is one.
fn leftover_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    if let Some(pid) = rest.strip_prefix(&format!("{LOCK_NAME}.stale-")[1..]) {
        return pid.parse().ok();
    }
    if let Some(stem) = rest
        .strip_prefix("journal.jsonl.")
        .and_then(|r| r.strip_suffix(".new"))
    {
        return stem.parse().ok();
    }
    let (before, _) = rest.rsplit_once(".tmp")?;
    let (_, tail) = before.rsplit_once('.')?;
    let (pid, n) = tail.split_once('-')?;
    n.parse::<u64>().ok()?;
    pid.parse().ok()
}

/// Removes the temporary files that processes now gone left in `dir` (killed before they could
/// clean up), once this process holds the folder.
fn remove_leftovers(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = leftover_pid(&name) else {
            continue;
        };
        if pid != std::process::id()
            && alive(pid) == Some(false)
            && e.file_type().is_ok_and(|t| t.is_file())
        {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Why a lock file could not be created.
enum LockCreate {
    /// Another lock file is there.
    Exists,
    /// Anything else: the folder cannot be written.
    Failed(Error),
}

/// Creates the lock file `lock` holding `line`, whole: the line is written and synced into a
/// temporary file of this process ([`create_temp`]'s name, cleaned up like any other if the
/// process dies) and then hard-linked to the lock's name, so that no other process ever reads a
/// lock file that exists but is still empty. A file system without hard links gets
/// `create_new` and a write instead (readers then retry an unreadable lock for a moment).
fn create_lock(lock: &Path, line: &str) -> Result<(), LockCreate> {
    let failed = |e: &std::io::Error| {
        LockCreate::Failed(refused(
            folder_of(lock),
            format!(
                "cannot write in the output folder: {}",
                archsim_workloads::input::io_message(e)
            ),
        ))
    };
    let fill = |mut f: File, path: &Path| -> std::io::Result<()> {
        let written = f.write_all(line.as_bytes()).and_then(|()| f.sync_all());
        if written.is_err() {
            drop(f);
            let _ = std::fs::remove_file(path);
        }
        written
    };
    let (f, candidate) = create_temp_io(lock, "").map_err(|e| failed(&e))?;
    fill(f, &candidate).map_err(|e| failed(&e))?;
    let linked = std::fs::hard_link(&candidate, lock);
    let _ = std::fs::remove_file(&candidate);
    let exists = |e: &std::io::Error| e.kind() == std::io::ErrorKind::AlreadyExists;
    match linked {
        Ok(()) => Ok(()),
        Err(e) if exists(&e) => Err(LockCreate::Exists),
        // No hard links here (some network and FUSE file systems): create it in place.
        Err(_) => match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(lock)
            .and_then(|f| fill(f, lock))
        {
            Ok(()) => Ok(()),
            Err(e) if exists(&e) => Err(LockCreate::Exists),
            Err(e) => Err(failed(&e)),
        },
    }
}

/// What an existing lock file says.
enum Existing {
    Holder(LockHolder, String),
    Unreadable,
}

fn read_lock(lock: &Path) -> Result<Existing, Error> {
    let m = std::fs::symlink_metadata(lock).map_err(|e| io_error(lock, &e))?;
    if !m.is_file() {
        return Err(refused(
            lock,
            "the output folder's lock is not a regular file; archsim does not touch it (remove \
             it if no archsim uses the folder)",
        ));
    }
    let mut text = String::new();
    File::open(lock)
        .and_then(|f| f.take(64 * 1024).read_to_string(&mut text))
        .map_err(|e| io_error(lock, &e))?;
    Ok(match serde_json::from_str::<LockHolder>(text.trim()) {
        Ok(h) => Existing::Holder(h, text),
        Err(_) => Existing::Unreadable,
    })
}

impl OutDir {
    /// Creates `dir` if missing, checks it is a folder archsim can write in, and locks it
    /// (see the module docs). Call it before any work.
    pub fn prepare(dir: &Path) -> Result<OutDir, Error> {
        create_dir(dir)?;
        let lock = dir.join(LOCK_NAME);
        let me = LockHolder::this_process();
        let mut line = serde_json::to_string(&me).map_err(|e| refused(&lock, e.to_string()))?;
        line.push('\n');
        for _ in 0..3 {
            match create_lock(&lock, &line) {
                Ok(()) => {
                    remove_leftovers(dir);
                    let id = HELD_COUNTER.fetch_add(1, Ordering::Relaxed);
                    let canon = dir.canonicalize().map_err(|e| io_error(dir, &e))?;
                    lock_ignoring_poison(&HELD).push((id, canon));
                    return Ok(OutDir {
                        dir: dir.to_path_buf(),
                        lock,
                        id,
                    });
                }
                Err(LockCreate::Exists) => Self::take_over_if_stale(&lock, &me)?,
                Err(LockCreate::Failed(e)) => return Err(e),
            }
        }
        Err(refused(
            &lock,
            "the output folder's lock keeps changing hands",
        ))
    }

    /// Refuses a lock held by a live process (or one that cannot be checked); removes a stale
    /// one with a warning.
    fn take_over_if_stale(lock: &Path, me: &LockHolder) -> Result<(), Error> {
        // A lock is created whole (written under another name, then linked), except on a file
        // system without hard links, where its holder may still be writing it: look again for a
        // moment before calling it unreadable.
        let mut tries = 0;
        let (holder, text) = loop {
            match read_lock(lock)? {
                Existing::Holder(h, t) => break (h, t),
                Existing::Unreadable if tries < 20 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(25));
                }
                Existing::Unreadable => {
                    return Err(refused(
                        lock,
                        "the output folder is locked by an archsim whose lock file cannot be \
                         read; if no archsim uses the folder, remove the lock file",
                    ))
                }
            }
        };
        let stale = holder.host == me.host && alive(holder.pid) == Some(false);
        if !stale {
            return Err(refused(
                lock,
                format!(
                    "the output folder is in use by another archsim ({}); wait for it to \
                     finish or give another output folder",
                    holder.describe()
                ),
            ));
        }
        // Move the stale lock aside under a name of our own, and check that what moved is the
        // lock judged stale (another process may have taken over in between).
        let aside = lock.with_file_name(format!("{LOCK_NAME}.stale-{}", me.pid));
        std::fs::rename(lock, &aside).map_err(|e| io_error(lock, &e))?;
        let moved = std::fs::read_to_string(&aside).unwrap_or_default();
        if moved != text {
            // Not the stale one: put it back (unless yet another appeared) and let the caller
            // retry, which reports the new holder.
            let _ = std::fs::hard_link(&aside, lock);
            let _ = std::fs::remove_file(&aside);
            return Ok(());
        }
        let _ = std::fs::remove_file(&aside);
        eprintln!(
            "warning: {}: taking over a stale lock ({}; that process is gone)",
            lock.display(),
            holder.describe()
        );
        Ok(())
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Renames the files written into the folder so far into place (each checked again: a
    /// link planted meanwhile is refused, and the files not yet renamed are removed).
    pub fn commit(&self) -> Result<(), Error> {
        let mine: Vec<(PathBuf, PathBuf)> = {
            let mut staged = lock_ignoring_poison(&STAGED);
            let (mine, rest): (Staged, Staged) = staged.drain(..).partition(|s| s.0 == self.id);
            *staged = rest;
            mine.into_iter().map(|(_, t, d)| (t, d)).collect()
        };
        let mut result = Ok(());
        for (tmp, dest) in &mine {
            if result.is_err() {
                let _ = std::fs::remove_file(tmp);
                continue;
            }
            result = check_target(dest)
                .and_then(|()| std::fs::rename(tmp, dest).map_err(|e| io_error(dest, &e)));
            if result.is_err() {
                let _ = std::fs::remove_file(tmp);
            }
        }
        if !mine.is_empty() {
            sync_folder(&self.dir);
        }
        result
    }
}

impl Drop for OutDir {
    fn drop(&mut self) {
        // Uncommitted outputs (the command failed) are removed, never renamed into place.
        {
            let mut staged = lock_ignoring_poison(&STAGED);
            staged.retain(|s| {
                if s.0 == self.id {
                    let _ = std::fs::remove_file(&s.1);
                    false
                } else {
                    true
                }
            });
        }
        lock_ignoring_poison(&HELD).retain(|(id, _)| *id != self.id);
        // Remove the lock only if it is still this process's.
        if let Ok(Existing::Holder(h, _)) = read_lock(&self.lock) {
            if h.pid == std::process::id() && h.host == hostname() {
                let _ = std::fs::remove_file(&self.lock);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("archsim-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn writes_are_atomic_and_leave_no_temporary_file() {
        let d = scratch("atomic");
        write(&d.join("a.txt"), "one").unwrap();
        write(&d.join("a.txt"), "two").unwrap();
        assert_eq!(std::fs::read_to_string(d.join("a.txt")).unwrap(), "two");
        // An abandoned file leaves nothing behind.
        let mut f = AtomicFile::create(&d.join("b.txt")).unwrap();
        f.write_all(b"half").unwrap();
        drop(f);
        // A failed drawing neither.
        let e = render_to(&d.join("c.png"), |_| Err("no ink".into())).unwrap_err();
        assert!(e.to_string().ends_with("c.png: no ink"), "{e}");
        let mut w = csv_writer(&d.join("t.csv")).unwrap();
        w.write_record(["x", "y"]).unwrap();
        commit_csv(w).unwrap();
        assert_eq!(names(&d), ["a.txt", "t.csv"]);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn links_are_refused_and_their_targets_untouched() {
        let d = scratch("links");
        let target = d.join("target.txt");
        std::fs::write(&target, "keep").unwrap();
        std::os::unix::fs::symlink(&target, d.join("report.json")).unwrap();
        let e = write(&d.join("report.json"), "new").unwrap_err();
        assert!(
            e.to_string().contains("report.json: is a symbolic link"),
            "{e}"
        );
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        std::fs::create_dir(d.join("sub.csv")).unwrap();
        let e = write(&d.join("sub.csv"), "x").unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        assert_eq!(names(&d), ["report.json", "sub.csv", "target.txt"]);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_folder_is_locked_once_and_a_stale_lock_taken_over() {
        let d = scratch("lock");
        let held = OutDir::prepare(&d).unwrap();
        let e = OutDir::prepare(&d).unwrap_err().to_string();
        assert!(e.contains("in use by another archsim"), "{e}");
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        drop(held);
        assert!(!d.join(LOCK_NAME).exists());
        // A lock of a process that is gone (a pid above the kernel's maximum).
        let gone = LockHolder {
            pid: 999_999_999,
            ..LockHolder::this_process()
        };
        std::fs::write(d.join(LOCK_NAME), serde_json::to_string(&gone).unwrap()).unwrap();
        let held = OutDir::prepare(&d).unwrap();
        let now: LockHolder =
            serde_json::from_str(&std::fs::read_to_string(d.join(LOCK_NAME)).unwrap()).unwrap();
        assert_eq!(now.pid, std::process::id());
        drop(held);
        assert_eq!(names(&d), Vec::<String>::new());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn leftovers_of_dead_processes_are_recognized_and_removed() {
        assert_eq!(leftover_pid(".report.json.123-4.tmp"), Some(123));
        assert_eq!(leftover_pid(".heatmap.png.77-0.tmp.png"), Some(77));
        assert_eq!(leftover_pid(".journal.jsonl.9.new"), Some(9));
        assert_eq!(leftover_pid(".archsim.lock.stale-5"), Some(5));
        assert_eq!(leftover_pid("report.json"), None);
        assert_eq!(leftover_pid(".hidden.tmp"), None);
        assert_eq!(leftover_pid(".archsim.lock"), None);
        let d = scratch("leftovers");
        std::fs::write(d.join(".ops.csv.999999999-3.tmp"), "half").unwrap();
        std::fs::write(d.join(".mine.txt"), "keep").unwrap();
        drop(OutDir::prepare(&d).unwrap());
        assert_eq!(names(&d), [".mine.txt"]);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn utc_dates_are_civil() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_735_689_599), "2024-12-31T23:59:59Z");
    }
}
