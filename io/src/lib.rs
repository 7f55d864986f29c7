//! # archsim-io — what every run shares on its way in and out
//!
//! The command line, the studies and the Python package read config files and write output
//! folders the same way; this crate holds that shared part, below all of them:
//!
//! * [`Error`], the error of any run, and its exit code;
//! * [`located`]: [`located::ConfigError`] (file, line, column and key, or the `--set`
//!   override that gave the value), `--set` overrides, and the lookup of a key's place in the
//!   YAML text;
//! * [`files`]: atomic writes, output folders locked one command at a time;
//! * [`finite`]: no NaN or infinity written silently;
//! * [`plot`]: every figure (PNG and SVG) drawn by plotters with an embedded font.
//!
//! It sits above the library crates (sim, workloads, accelerators, serving, gym) and below
//! `archsim-studies` and the root crate `archsim`, which re-exports it (`archsim::files`,
//! `archsim::plot`, `archsim::Error`, `archsim::config::ConfigError`).
//!
//! ```
//! let e = archsim_io::Error::Config(
//!     archsim_io::located::ConfigError::new("c.yaml", "must be at least 1")
//!         .with_key("accelerator.rows")
//!         .with_location(Some((5, 9))),
//! );
//! assert_eq!(e.to_string(), "c.yaml:5:9: accelerator.rows: must be at least 1");
//! assert_eq!(e.exit_code(), 2);
//! ```
#![warn(missing_docs, unreachable_pub)]

pub mod files;
pub mod finite;
pub mod heap;
pub mod located;
pub mod plot;

use thiserror::Error;

use located::ConfigError;

/// Any error of a run.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The config file is malformed or has a bad value (bad input).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The workload cannot be built (bad input).
    #[error(transparent)]
    Workload(#[from] archsim_workloads::WorkloadError),
    /// The design point is infeasible or the model failed.
    #[error(transparent)]
    Accelerator(#[from] archsim_accelerators::AccelError),
    /// The caller asked the run to stop (Ctrl-C from Python, see
    /// [`archsim_sim::cancel`]).
    #[error("interrupted")]
    Cancelled,
    /// Reading or writing a file failed, or a file was refused (a link where an output goes,
    /// a FIFO given as an input, a folder another archsim holds).
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The run finished without a result: a metric could not be computed (not a finite
    /// number, see [`finite`]), or every point of a sweep failed. Exit code 1.
    #[error("{0}")]
    Failed(String),
    /// A file could not be read, written or drawn (a plot, an accuracy table); the message names
    /// the file.
    #[error("{0}")]
    File(String),
}

impl From<archsim_workloads::input::InputError> for Error {
    fn from(e: archsim_workloads::input::InputError) -> Error {
        Error::Io {
            path: e.path,
            message: e.message,
        }
    }
}

impl Error {
    /// True when the error comes from the user's input (config, workload, design point),
    /// as opposed to the environment (I/O).
    pub fn is_bad_input(&self) -> bool {
        !matches!(
            self,
            Error::Io { .. } | Error::File(_) | Error::Failed(_) | Error::Cancelled
        )
    }

    /// The exit code of the command line for this error: 2 for bad input and for I/O errors
    /// alike (a missing, unreadable or unwritable file, a full disk, a locked output folder) —
    /// the user has something to fix either way; 1 for a run that finished without a result
    /// ([`Error::Failed`]).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) | Error::Workload(_) | Error::Accelerator(_) => 2,
            Error::Io { .. } | Error::File(_) => 2,
            Error::Failed(_) | Error::Cancelled => 1,
        }
    }
}
