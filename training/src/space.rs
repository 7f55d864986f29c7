//! The layout space of a job and a search over it.
//!
//! A [`Layout`] is what a search varies: the tensor-, pipeline- and data-parallel degrees,
//! the virtual stages per device (interleaved 1F1B when `vpp > 1`), the micro-batch and the
//! recompute policy; everything else (the model, the global batch, sequence parallelism,
//! ZeRO, offload, overlap) is the base config's. [`layouts`] lists every layout that
//! divides — exactly those [`validate`](crate::validate) accepts — and a [`LayoutSearch`]
//! evaluates them on one [`Pricer`], so each distinct graph (per tensor-parallel degree,
//! micro-batch and sequence parallelism) is priced once for the whole space. A layout whose
//! memory does not fit is scored without simulating its iteration.
//!
//! Two modes score a layout: [`Mode::Event`] simulates the iteration's event DAG (what
//! `archsim run` reports), [`Mode::Analytic`] prices the same per-stage task times with the
//! pipeline's closed form ([`crate::analytic`]); a test bounds how far the two differ.

use archsim_net::{ClusterSpec, NetModel};

use crate::analytic;
use crate::config::{validate, CheckpointConfig, HostConfig, ParallelConfig, Schedule};
use crate::config::{Recompute, TrainingConfig};
use crate::error::TrainingError;
use crate::lower::Pricer;
use crate::model::{prepare_priced, Calibration, DeviceCaps, Prepared};

/// One point of the layout space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Tensor-parallel degree.
    pub tp: usize,
    /// Pipeline stages.
    pub pp: usize,
    /// Data-parallel replicas.
    pub dp: usize,
    /// Model chunks per device (`> 1`: interleaved 1F1B).
    pub vpp: usize,
    /// Sequences per micro-batch.
    pub micro_batch: u64,
    /// Activation recomputation.
    pub recompute: Recompute,
}

impl Layout {
    /// The layout of a config.
    pub fn of(train: &TrainingConfig, parallel: &ParallelConfig) -> Layout {
        Layout {
            tp: parallel.tp,
            pp: parallel.pp,
            dp: parallel.dp,
            vpp: parallel.vpp,
            micro_batch: train.micro_batch,
            recompute: train.recompute,
        }
    }

    /// The base config with this layout: `vpp > 1` selects the interleaved schedule,
    /// `vpp = 1` keeps the base's schedule unless it is interleaved (then 1F1B).
    pub fn apply(
        &self,
        train: &TrainingConfig,
        base: &ParallelConfig,
    ) -> (TrainingConfig, ParallelConfig) {
        let mut t = train.clone();
        t.micro_batch = self.micro_batch;
        t.recompute = self.recompute;
        let mut p = base.clone();
        p.tp = self.tp;
        p.pp = self.pp;
        p.dp = self.dp;
        p.vpp = self.vpp;
        p.schedule = if self.vpp > 1 {
            Schedule::Interleaved
        } else if base.schedule == Schedule::Interleaved {
            Schedule::OneFOneB
        } else {
            base.schedule
        };
        (t, p)
    }

    /// `tp 8, pp 8, dp 16, vpp 1, micro_batch 1, recompute full`.
    pub fn label(&self) -> String {
        format!(
            "tp {}, pp {}, dp {}, vpp {}, micro_batch {}, recompute {}",
            self.tp,
            self.pp,
            self.dp,
            self.vpp,
            self.micro_batch,
            recompute_name(self.recompute)
        )
    }
}

/// Config name of a recompute policy.
pub fn recompute_name(r: Recompute) -> &'static str {
    match r {
        Recompute::None => "none",
        Recompute::Selective => "selective",
        Recompute::Full => "full",
    }
}

fn divisors(n: u64) -> Vec<u64> {
    let mut small = Vec::new();
    let mut large = Vec::new();
    let mut i = 1u64;
    while i * i <= n {
        if n % i == 0 {
            small.push(i);
            if i * i != n {
                large.push(n / i);
            }
        }
        i += 1;
    }
    small.extend(large.into_iter().rev());
    small
}

/// Every layout of `devices` devices for the job `train` on top of `base` that divides: `tp ·
/// pp · dp = devices`, `tp` dividing the heads and the FFN, `pp` at most the layers, the
/// micro-batch dividing the per-replica batch, `vpp > 1` only where `pp · vpp` divides the
/// layers (Megatron-LM's interleaving needs equal chunks) and the micro-batches are a multiple
/// of `pp`; each with the three recompute policies. Every one passes
/// [`validate`](crate::validate). In order: tp, pp, micro-batch, vpp, recompute, ascending.
pub fn layouts(
    train: &TrainingConfig,
    base: &ParallelConfig,
    devices: usize,
) -> Result<Vec<Layout>, TrainingError> {
    let spec = train.spec()?;
    let mut out = Vec::new();
    for tp in divisors(devices as u64) {
        let rest = devices as u64 / tp;
        for pp in divisors(rest) {
            let dp = rest / pp;
            if train.global_batch % dp != 0 {
                continue;
            }
            for mb in divisors(train.global_batch / dp) {
                let mut vpps = vec![1u64];
                if pp > 1 {
                    vpps.extend(
                        divisors(spec.layers / pp.min(spec.layers))
                            .into_iter()
                            .filter(|&v| v > 1 && spec.layers % (pp * v) == 0),
                    );
                }
                for vpp in vpps {
                    for recompute in [Recompute::None, Recompute::Selective, Recompute::Full] {
                        let l = Layout {
                            tp: tp as usize,
                            pp: pp as usize,
                            dp: dp as usize,
                            vpp: vpp as usize,
                            micro_batch: mb,
                            recompute,
                        };
                        let (t, p) = l.apply(train, base);
                        if validate(&t, &spec, &p, devices).is_ok() {
                            out.push(l);
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

/// How a [`LayoutSearch`] scores a layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// The iteration's event DAG, simulated ([`Prepared::iteration_s`]).
    #[default]
    Event,
    /// The pipeline's closed form on the same task times ([`crate::analytic`]).
    Analytic,
}

/// A scored layout.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// The layout.
    pub layout: Layout,
    /// One iteration, seconds (`NaN` when the layout does not fit: it is not simulated).
    pub iteration_s: f64,
    /// Tokens trained per second (0 when it does not fit).
    pub tokens_per_s: f64,
    /// Model FLOPs utilization (0 when it does not fit).
    pub mfu: f64,
    /// Memory of the most loaded device, GB (`NaN` when the device's family refuses one of
    /// the layout's graphs for its working set).
    pub memory_gb: f64,
    /// The most loaded device fits.
    pub fits: bool,
}

/// A search over the layouts of one job on one cluster: the base config, the cluster, and
/// a [`Pricer`] shared by every layout it evaluates.
pub struct LayoutSearch<'a> {
    pricer: Pricer<'a>,
    train: TrainingConfig,
    base: ParallelConfig,
    caps: DeviceCaps,
    cluster: &'a ClusterSpec,
    net: &'a NetModel,
    host: Option<&'a HostConfig>,
    checkpoint: Option<&'a CheckpointConfig>,
    cal: Calibration,
}

impl<'a> LayoutSearch<'a> {
    /// A search of `train` on `cluster` (layouts replace the base's degrees, micro-batch and
    /// recompute), pricing on `pricer` under `cal`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        pricer: Pricer<'a>,
        train: &TrainingConfig,
        base: &ParallelConfig,
        caps: DeviceCaps,
        cluster: &'a ClusterSpec,
        net: &'a NetModel,
        host: Option<&'a HostConfig>,
        checkpoint: Option<&'a CheckpointConfig>,
        cal: Calibration,
    ) -> Self {
        LayoutSearch {
            pricer,
            train: train.clone(),
            base: base.clone(),
            caps,
            cluster,
            net,
            host,
            checkpoint,
            cal,
        }
    }

    /// Every layout of the cluster's devices ([`layouts`]).
    pub fn layouts(&self) -> Result<Vec<Layout>, TrainingError> {
        layouts(&self.train, &self.base, self.cluster.devices())
    }

    /// The job of layout `l`, priced (graphs from the shared pricer).
    pub fn prepare(&mut self, l: &Layout) -> Result<Prepared, TrainingError> {
        let (t, p) = l.apply(&self.train, &self.base);
        prepare_priced(
            &mut self.pricer,
            &t,
            &p,
            self.caps,
            self.cluster,
            self.net,
            self.host,
            self.checkpoint,
        )
    }

    /// Scores layout `l` in `mode`: an invalid layout is an error naming its keys; one that
    /// does not fit is scored unsimulated (`fits: false`).
    pub fn score(&mut self, l: &Layout, mode: Mode) -> Result<Scored, TrainingError> {
        let job = match self.prepare(l) {
            Ok(job) => job,
            // The device cannot hold one of the layer's graphs (its family refuses the
            // working set): the layout does not fit.
            Err(TrainingError::Accelerator { .. }) => {
                return Ok(Scored {
                    layout: *l,
                    iteration_s: f64::NAN,
                    tokens_per_s: 0.0,
                    mfu: 0.0,
                    memory_gb: f64::NAN,
                    fits: false,
                });
            }
            Err(e) => return Err(e),
        };
        let memory_gb = job.memory().total() / 1e9;
        if !job.fits() {
            return Ok(Scored {
                layout: *l,
                iteration_s: f64::NAN,
                tokens_per_s: 0.0,
                mfu: 0.0,
                memory_gb,
                fits: false,
            });
        }
        let iteration_s = match mode {
            Mode::Event => job.iteration_s(&self.cal),
            Mode::Analytic => analytic::iteration_s(&job, &self.cal),
        };
        Ok(Scored {
            layout: *l,
            iteration_s,
            tokens_per_s: job.tokens() / iteration_s,
            mfu: job.model_flops() / (job.peak_flops() * iteration_s),
            memory_gb,
            fits: true,
        })
    }

    /// Scores every layout in `mode` (invalid ones cannot occur: [`layouts`] lists only
    /// valid ones), best (shortest fitting iteration) first; ties keep the space's order.
    pub fn all(&mut self, mode: Mode) -> Result<Vec<Scored>, TrainingError> {
        let ls = self.layouts()?;
        let mut out = Vec::with_capacity(ls.len());
        for l in &ls {
            out.push(self.score(l, mode)?);
        }
        out.sort_by(|a, b| match (a.fits, b.fits) {
            (true, true) => a.iteration_s.total_cmp(&b.iteration_s),
            (true, false) => std::cmp::Ordering::Less,
            (false, true) => std::cmp::Ordering::Greater,
            (false, false) => a.memory_gb.total_cmp(&b.memory_gb),
        });
        Ok(out)
    }
}
