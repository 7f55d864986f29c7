//! The HBM command simulator of the NPU+PIM family: ACT / PRE / RD (or PIM MAC column
//! command) per bank, with tRCD, tRP, tRAS, tRTP, tCCD, tRRD and a tFAW window per channel and,
//! for ordinary reads, a shared data bus. Refresh is ignored (it costs a few percent of every
//! mode alike).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// DRAM command timings in DRAM clock cycles (HBM2, at a 1 GHz command clock).
///
/// The defaults are the HBM2 timings of the NeuPIMs authors' simulator
/// (`extern/NewtonSim/configs/HBM2_8Gb_x128_dualpim.ini`, `[timing]`, tCK = 1 ns): tRCD = tRP
/// = tCL = 14, tRAS = 34, tRTP = 4 (tRTP_S), tCCD = 2 (tCCD_L, one bank), tRRD = 4 (tRRD_S),
/// tFAW = 30 with four ACTs per window. `t_bl` = 2: a 64-byte burst (128-bit channel × burst
/// length 4) holds a double-data-rate bus for BL/2 cycles, so a channel carries 32 B/cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DramTiming {
    /// ACT to column command.
    #[schemars(range(min = 1, max = 1000))]
    pub t_rcd: u64,
    /// PRE to ACT.
    #[schemars(range(min = 1, max = 1000))]
    pub t_rp: u64,
    /// ACT to PRE (minimum row open time).
    #[schemars(range(min = 1, max = 1000))]
    pub t_ras: u64,
    /// Column read to data.
    #[schemars(range(min = 1, max = 1000))]
    pub t_cl: u64,
    /// Column read to PRE.
    #[schemars(range(min = 1, max = 1000))]
    pub t_rtp: u64,
    /// Column to column in the same bank.
    #[schemars(range(min = 1, max = 1000))]
    pub t_ccd: u64,
    /// Data-bus cycles of one burst (ordinary reads only; PIM MACs stay in the bank).
    #[schemars(range(min = 1, max = 1000))]
    pub t_bl: u64,
    /// ACT to ACT in one channel.
    #[schemars(range(min = 1, max = 1000))]
    pub t_rrd: u64,
    /// Window in which at most `faw_acts` ACTs may issue in one channel.
    #[schemars(range(min = 1, max = 1000))]
    pub t_faw: u64,
    /// ACTs allowed in one `t_faw` window (default 4, the JEDEC rule).
    #[schemars(range(min = 1, max = 65536))]
    pub faw_acts: u64,
}

impl Default for DramTiming {
    fn default() -> Self {
        DramTiming {
            t_rcd: 14,
            t_rp: 14,
            t_ras: 34,
            t_cl: 14,
            t_rtp: 4,
            t_ccd: 2,
            t_bl: 2,
            t_rrd: 4,
            t_faw: 30,
            faw_acts: 4,
        }
    }
}

/// How column commands use the channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ColumnMode {
    /// Reads that cross the channel's shared data bus (one burst per `t_bl`).
    External,
    /// PIM MAC commands: each bank consumes its burst in place; no bus.
    Pim,
}

/// One access of a bank: `cols` column commands to `row`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Access {
    /// Bank index in the channel.
    pub bank: usize,
    /// Row.
    pub row: u64,
    /// Column commands (bursts).
    pub cols: u64,
}

/// What a channel simulation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct ChannelTrace {
    /// Cycle at which the last burst's data is out (or consumed by the bank's MAC unit).
    pub cycles: u64,
    /// ACT commands issued.
    pub acts: u64,
    /// PRE commands issued.
    pub pres: u64,
    /// Column commands issued.
    pub cols: u64,
}

#[derive(Clone, Copy, Default)]
struct BankState {
    open: Option<u64>,
    act_at: u64,
    last_col: Option<u64>,
    next_col: u64,
}

/// Simulates one channel command by command. `open_rows[b]` is the row open in bank `b` at
/// cycle 0 (activated at cycle 0), `None` for a precharged bank. Each bank serves its accesses
/// in the given order; among banks, the command that can issue earliest goes first (ties: the
/// lowest bank), so banks interleave as an FR-FCFS controller would interleave them.
pub(super) fn simulate_channel(
    t: &DramTiming,
    open_rows: &[Option<u64>],
    accesses: &[Access],
    mode: ColumnMode,
) -> ChannelTrace {
    let n = open_rows.len();
    let mut banks: Vec<BankState> = open_rows
        .iter()
        .map(|&open| BankState {
            open,
            ..BankState::default()
        })
        .collect();
    let mut queues: Vec<Vec<Access>> = vec![Vec::new(); n];
    for a in accesses {
        if a.bank < n && a.cols > 0 {
            queues[a.bank].push(*a);
        }
    }
    let mut head = vec![0usize; n];
    let mut left: Vec<u64> = queues
        .iter()
        .map(|q| q.first().map_or(0, |a| a.cols))
        .collect();
    let mut acts: Vec<u64> = Vec::new();
    let mut bus_free = 0u64;
    let mut trace = ChannelTrace::default();
    loop {
        // The earliest command of every bank with work left.
        let mut best: Option<(u64, usize, bool)> = None;
        for b in 0..n {
            let Some(a) = queues[b].get(head[b]) else {
                continue;
            };
            let s = &banks[b];
            let (time, is_act) = if s.open == Some(a.row) {
                let mut c = s.next_col;
                if mode == ColumnMode::External {
                    c = c.max(bus_free);
                }
                (c, false)
            } else {
                let ready = match s.open {
                    Some(_) => {
                        let pre = (s.act_at + t.t_ras)
                            .max(s.last_col.map_or(0, |c| c + t.t_rtp))
                            .max(s.next_col.saturating_sub(t.t_ccd));
                        pre + t.t_rp
                    }
                    None => s.next_col,
                };
                let mut act = ready;
                if let Some(&last) = acts.last() {
                    act = act.max(last + t.t_rrd);
                }
                let window = t.faw_acts.max(1) as usize;
                if acts.len() >= window {
                    act = act.max(acts[acts.len() - window] + t.t_faw);
                }
                (act, true)
            };
            if best.is_none_or(|(bt, _, _)| time < bt) {
                best = Some((time, b, is_act));
            }
        }
        let Some((time, b, is_act)) = best else {
            break;
        };
        let s = &mut banks[b];
        if is_act {
            if s.open.is_some() {
                trace.pres += 1;
            }
            trace.acts += 1;
            acts.push(time);
            s.open = Some(queues[b][head[b]].row);
            s.act_at = time;
            s.last_col = None;
            s.next_col = time + t.t_rcd;
        } else {
            trace.cols += 1;
            s.last_col = Some(time);
            s.next_col = time + t.t_ccd;
            if mode == ColumnMode::External {
                bus_free = time + t.t_bl;
            }
            trace.cycles = trace.cycles.max(time + t.t_cl + t.t_bl);
            left[b] -= 1;
            if left[b] == 0 {
                head[b] += 1;
                left[b] = queues[b].get(head[b]).map_or(0, |a| a.cols);
            }
        }
    }
    trace
}

/// A channel's time to stream `rows` rows per bank (each bank its own rows, every column of
/// each) through all `banks` banks, all precharged at the start.
pub(crate) fn stream_rows(t: &DramTiming, banks: usize, cols: u64, rows: u64, mode: ColumnMode) -> u64 {
    let accesses: Vec<Access> = (0..rows)
        .flat_map(|r| {
            (0..banks).map(move |b| Access {
                bank: b,
                row: r,
                cols,
            })
        })
        .collect();
    simulate_channel(t, &vec![None; banks], &accesses, mode).cycles
}

/// Rows per bank simulated before extrapolating the steady-state period.
pub(crate) const SIM_ROWS: u64 = 12;
/// Rows over which the steady-state period is measured (activation windows and row cycles
/// may settle into a pattern longer than one row).
pub(crate) const PERIOD_ROWS: u64 = 4;
