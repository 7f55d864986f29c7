//! The analytic mode: one iteration's time from the same per-stage task times the event DAG
//! is built from ([`Prepared::stage_times`]), with the pipeline's closed form instead of the
//! simulated streams — what a search over thousands of layouts can afford.
//!
//! With `W_v` the forward + recompute + backward of virtual stage `v` for one micro-batch,
//! `W_d` its device's sum over its chunks, `s` one pipeline send and `m` micro-batches:
//!
//! * GPipe and 1F1B: the first micro-batch runs through every stage and back (`Σ_v W_v` and
//!   `2(pp − 1)` sends), the other `m − 1` follow at the pace of the slowest stage
//!   (`(m − 1)·max_v W_v`);
//! * interleaved 1F1B over `vpp` chunks: the slowest device runs `m` micro-batches of all
//!   its chunks (`m·max_d W_d`), and the pipeline fills and drains over `pp − 1` chunk
//!   steps (`(pp − 1)·max_v W_v`) and `2(pp − 1)` sends (Narayanan et al. 2021: the bubble
//!   is `1/vpp` of 1F1B's).
//!
//! Device `d` ends its last backward `Σ_{u<d} (B_u + s)` before device 0 (its backward
//! leaves it for the stages before it), then reduces its gradients (only the last layer's
//! reduction is left with `dp_overlap`) and steps its optimizer; the iteration is the last
//! device's end. Offloaded jobs (host transfers and CPU steps pipelined per layer) have no
//! closed form here: they are simulated.
//!
//! How close it is: `analytic_mode_tracks_the_event_mode` in this crate's tests checks it
//! against the simulated DAG over a layout space (the tolerance is stated there).

use crate::config::Schedule;
use crate::model::{Calibration, Prepared};

/// One iteration of `job` under `cal`, seconds, in closed form (simulated when offloading).
pub fn iteration_s(job: &Prepared, cal: &Calibration) -> f64 {
    let p = job.parallel();
    if !p.offload.is_none() {
        return job.iteration_s(cal);
    }
    let times = job.stage_times(cal);
    let pp = p.pp.max(1);
    let m = job.micro_batches() as f64;
    let nv = times.len();
    let vpp = (nv / pp).max(1);
    let per = |v: usize| {
        let t = &times[v];
        let f = t.fwd.0 + t.fwd.1 + t.fwd.2;
        let r = t.recompute.0 + t.recompute.1;
        let b = t.bwd.0 + t.bwd.1 + t.bwd.2;
        (f, r, b)
    };
    let w = |v: usize| {
        let (f, r, b) = per(v);
        f + r + b
    };
    let send = times.first().map_or(0.0, |t| t.send_s);
    let w_max = (0..nv).map(w).fold(0.0, f64::max);
    let fill = 2.0 * (pp as f64 - 1.0) * send;
    let pipe = if p.schedule == Schedule::Interleaved && vpp > 1 {
        let dev_max = (0..pp)
            .map(|d| (0..vpp).map(|c| w(c * pp + d)).sum::<f64>())
            .fold(0.0, f64::max);
        m * dev_max + (pp as f64 - 1.0) * w_max + fill
    } else {
        (0..nv).map(w).sum::<f64>() + (m - 1.0) * w_max + fill
    };
    let overlap = p.dp_overlap && p.zero < 3 && p.dp > 1;
    let mut end: f64 = 0.0;
    let mut lead = 0.0;
    for d in 0..pp {
        let chunks = (0..vpp).map(|c| &times[c * pp + d]);
        let (mut dp_s, mut opt_s, mut layers) = (0.0, 0.0, 0u64);
        let mut dp_layer_s = 0.0;
        for t in chunks {
            dp_s += t.dp_s;
            opt_s += t.optimizer_s;
            layers += t.layers;
            dp_layer_s = t.dp_layer_s;
        }
        let reduce = if overlap && layers > 0 {
            // Every layer's reduction but the last hides behind the backward of the layers
            // before it, unless the channel is the slower of the two.
            let (_, r, b) = (0..vpp)
                .map(|c| per(c * pp + d))
                .fold((0.0, 0.0, 0.0), |a, x| (a.0 + x.0, a.1 + x.1, a.2 + x.2));
            (dp_s - (b + r) * (layers as f64 - 1.0) / layers as f64).max(dp_layer_s)
        } else {
            dp_s
        };
        end = end.max(pipe - lead + reduce + opt_s);
        let (_, r, b) = per(d);
        lead += b + r + send;
    }
    end
}
