//! Checked reads of input files: every file archsim reads (a config, an ONNX model, a
//! SCALE-Sim topology, a serving trace, an accuracy table, a measured kernel list, a sweep
//! journal) is opened here first.
//!
//! A path must name a regular file (following symbolic links: an input is only read) no larger
//! than the cap of its [`InputKind`]. A FIFO, a device such as `/dev/zero`, a socket or a
//! folder is refused at once — the file is opened non-blocking and checked on the open handle,
//! so a FIFO never blocks the reader — and so is a file over its cap, before any byte is read.
//! Errors name the path and say what is wrong; they never quote the file's content.
//!
//! ```
//! use archsim_workloads::input::{read_to_string, InputKind};
//! let err = read_to_string(std::path::Path::new("/"), InputKind::Config).unwrap_err();
//! assert_eq!(err.to_string(), "/: is a folder, not a file");
//! ```

use std::fs::File;
use std::io::Read;
use std::path::Path;

use thiserror::Error;

const MIB: u64 = 1 << 20;

/// What an input file holds; each kind has its own size cap ([`InputKind::cap`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InputKind {
    /// A YAML config, a job DAG file, an output folder's `config.yaml`: 16 MiB.
    Config,
    /// A CSV table (SCALE-Sim topology, serving trace, `prompt_tokens: {csv}`, accuracy
    /// oracle, measured kernels): 512 MiB.
    Table,
    /// A JSON document (a report, a `torch.profiler` Chrome trace): 1 GiB.
    Json,
    /// An ONNX model (weights included): 2 GiB.
    Onnx,
    /// A sweep journal (read line by line): 4 GiB.
    Journal,
}

impl InputKind {
    /// The largest file of this kind archsim reads, in bytes.
    pub const fn cap(self) -> u64 {
        match self {
            InputKind::Config => 16 * MIB,
            InputKind::Table => 512 * MIB,
            InputKind::Json => 1024 * MIB,
            InputKind::Onnx => 2048 * MIB,
            InputKind::Journal => 4096 * MIB,
        }
    }

    /// The kind in words, for messages.
    pub const fn name(self) -> &'static str {
        match self {
            InputKind::Config => "config",
            InputKind::Table => "CSV",
            InputKind::Json => "JSON",
            InputKind::Onnx => "ONNX",
            InputKind::Journal => "journal",
        }
    }
}

/// An input file that cannot be read: its path and what is wrong (never its content).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{path}: {message}")]
pub struct InputError {
    /// The file as it was given.
    pub path: String,
    /// What is wrong, in words.
    pub message: String,
    /// True when the file does not exist.
    pub not_found: bool,
}

impl InputError {
    fn new(path: &Path, message: impl Into<String>) -> InputError {
        InputError {
            path: path.display().to_string(),
            message: message.into(),
            not_found: false,
        }
    }

    fn io(path: &Path, e: &std::io::Error) -> InputError {
        InputError {
            path: path.display().to_string(),
            message: format!("cannot read file: {}", io_message(e)),
            not_found: e.kind() == std::io::ErrorKind::NotFound,
        }
    }
}

/// An I/O error in words, without the `(os error N)` suffix.
pub fn io_message(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// What a path that is not a regular file is, in words.
fn what_it_is(ft: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "is a FIFO (named pipe), not a regular file";
        }
        if ft.is_char_device() || ft.is_block_device() {
            return "is a device, not a regular file";
        }
        if ft.is_socket() {
            return "is a socket, not a regular file";
        }
    }
    if ft.is_dir() {
        "is a folder, not a file"
    } else {
        "is not a regular file"
    }
}

/// Opens `path` for reading after checking that it is a regular file within the cap of
/// `kind`; returns the open file and its size. Never blocks on a FIFO.
pub fn open(path: &Path, kind: InputKind) -> Result<(File, u64), InputError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Opening a FIFO for reading waits for a writer unless non-blocking; on a regular file
        // the flag changes nothing.
        opts.custom_flags(libc::O_NONBLOCK);
    }
    let file = opts.open(path).map_err(|e| InputError::io(path, &e))?;
    let meta = file.metadata().map_err(|e| InputError::io(path, &e))?;
    if !meta.file_type().is_file() {
        return Err(InputError::new(path, what_it_is(meta.file_type())));
    }
    let cap = kind.cap();
    if meta.len() > cap {
        return Err(InputError::new(
            path,
            format!(
                "is {} MiB, more than the {} MiB archsim reads from a {} file",
                meta.len().div_ceil(MIB),
                cap / MIB,
                kind.name()
            ),
        ));
    }
    Ok((file, meta.len()))
}

/// The bytes of a checked input file (see [`open`]); a file that grows past its cap while
/// being read is refused too.
pub fn read(path: &Path, kind: InputKind) -> Result<Vec<u8>, InputError> {
    let (file, len) = open(path, kind)?;
    let cap = kind.cap();
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| InputError::io(path, &e))?;
    if bytes.len() as u64 > cap {
        return Err(InputError::new(
            path,
            format!(
                "grew past the {} MiB archsim reads from a {} file while being read",
                cap / MIB,
                kind.name()
            ),
        ));
    }
    Ok(bytes)
}

/// The text of a checked input file (see [`open`]); a file that is not UTF-8 is refused with
/// the line of its first bad byte, not the bytes.
pub fn read_to_string(path: &Path, kind: InputKind) -> Result<String, InputError> {
    let bytes = read(path, kind)?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count();
        InputError::new(path, format!("line {line}: not UTF-8 text"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn devices_folders_and_missing_files_are_refused_by_name() {
        let e = read(Path::new("/dev/zero"), InputKind::Table).unwrap_err();
        assert_eq!(e.to_string(), "/dev/zero: is a device, not a regular file");
        let dir = std::env::temp_dir();
        let e = read(&dir, InputKind::Config).unwrap_err();
        assert!(e.message.contains("folder"), "{e}");
        let missing = dir.join("archsim-input-test-missing.yaml");
        let e = read(&missing, InputKind::Config).unwrap_err();
        assert!(e.not_found);
        assert!(!e.to_string().contains("os error"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let p = std::env::temp_dir().join(format!("archsim-input-fifo-{}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read_to_string(&p, InputKind::Config).unwrap_err();
        std::fs::remove_file(&p).unwrap();
        assert!(e.message.contains("FIFO"), "{e}");
    }

    #[test]
    fn oversized_and_binary_files_are_refused_without_quoting_them() {
        let p = std::env::temp_dir().join(format!("archsim-input-bin-{}", std::process::id()));
        std::fs::write(&p, b"secret=1\nsecret=2\n\xff\xfe").unwrap();
        let e = read_to_string(&p, InputKind::Config).unwrap_err();
        assert_eq!(e.message, "line 3: not UTF-8 text");
        assert!(!e.to_string().contains("secret"));
        // The cap is checked on the size, before reading.
        let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
        f.set_len(InputKind::Config.cap() + 1).unwrap();
        let e = read(&p, InputKind::Config).unwrap_err();
        assert!(e.message.contains("more than the 16 MiB"), "{e}");
        std::fs::remove_file(&p).unwrap();
    }
}
