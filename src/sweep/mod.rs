//! `archsim sweep CONFIG --out DIR`: run a config at many points — a grid and/or random samples
//! over any config paths — in parallel, journaling every finished point so a killed sweep
//! resumes where it stopped.
//!
//! ```yaml
//! sweep:
//!   grid:                                  # path -> list of values (cartesian product)
//!     accelerator.dataflow: [os, ws, is]
//!     accelerator.rows: [32, 64, 128]
//!   random:                                # path -> domain (as in a design space)
//!     accelerator.sram_kib.ifmap: {pow2: [64, 1024]}
//!   samples: 4                             # random draws per grid point (default 1)
//!   seed: 0
//! ```
//!
//! A grid entry may also be a generator instead of a list: `workload.model: {nb201: {dataset:
//! cifar10, cells: 5000, seed: 0}}` stands for the list of `nb201:<dataset>:<arch>` model names
//! of `cells` distinct NAS-Bench-201 cells drawn with `seed` (all 15,625 when `cells` is
//! absent), in the order of [`Nb201Cell::nth`](archsim_workloads::zoo::Nb201Cell::nth).
//!
//! The rest of the file is the base config; it may itself hold a `search:` section, in which
//! case every point is a whole search (e.g. a grid over `search.agent.kind` and `search.seed`
//! compares optimizers) and the sweep prints a ranking.
//!
//! Each finished point is one line of `DIR/journal.jsonl`, written and flushed as it finishes;
//! on start the journal is read back (a torn last line from a `kill -9` is dropped) and the
//! points already there are skipped. `DIR/results.csv` and `DIR/results.parquet` (the same
//! table, typed columns) are rewritten at the end from the journal, in point order, so a resumed
//! sweep gives the same table as an uninterrupted one.
//!
//! The stages are public so that another scheduler (the Python package's Ray sweep) spreads the
//! same points: [`plan`] gives the points, [`run_point`] evaluates one, [`finish`] writes the
//! tables.

mod journal;
mod plan;
mod plots;
mod rank;
mod run;
mod table;

pub use journal::{
    config_changes, journal_header, read_journal, scan_journal, Journal, JournalEntry,
    JournalHeader, JournalRead, JOURNAL_VERSION,
};
pub use plan::{count, parse, plan, points, SweepConfig, MAX_SWEEP_POINTS};
pub use plots::{convergence_plot, heatmap, heatmap_of, heatmap_stem};
pub use rank::{failure_summary, ranking};
pub use run::{finish, finish_into, run, run_in, run_point, run_with, Session};
pub use table::{table, write_csv, write_parquet};

use crate::{ConfigError, Error};

/// A bad-input error of the sweep file `file`, at `key` (located in the file by the caller).
fn bad(file: &str, key: &str, message: impl Into<String>) -> Error {
    Error::Config(ConfigError::new(file, message).with_key(key))
}
