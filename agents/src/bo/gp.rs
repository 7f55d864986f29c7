//! The Gaussian process behind [`super::Bayesian`]: the mixed Matérn 5/2 × overlap kernel, its
//! hyperparameters and their coordinate moves, and the Cholesky fit with its log marginal
//! likelihood (Rasmussen & Williams, Algorithm 2.1).

/// Matérn 5/2 correlation at scaled distance `s = √5 · r / l`.
pub(super) fn matern52(s: f64) -> f64 {
    (1.0 + s + s * s / 3.0) * (-s).exp()
}

pub(super) fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            acc[k] += x[k] * y[k];
        }
    }
    let tail: f64 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc[0] + acc[1] + acc[2] + acc[3] + tail
}

/// Lower Cholesky factor of a symmetric positive-definite matrix (row-major `n×n`).
pub(super) fn cholesky(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s = dot(&l[i * n..i * n + j], &l[j * n..j * n + j]);
            if i == j {
                let d = a[i * n + i] - s;
                if d <= 0.0 || !d.is_finite() {
                    return None;
                }
                l[i * n + i] = d.sqrt();
            } else {
                l[i * n + j] = (a[i * n + j] - s) / l[j * n + j];
            }
        }
    }
    Some(l)
}

/// Solves `L x = b` (forward substitution).
pub(super) fn forward(l: &[f64], n: usize, b: &[f64]) -> Vec<f64> {
    let mut x = vec![0.0; n];
    for i in 0..n {
        let s = dot(&l[i * n..i * n + i], &x[..i]);
        x[i] = (b[i] - s) / l[i * n + i];
    }
    x
}

/// Solves `Lᵀ x = b` (backward substitution).
pub(super) fn backward(l: &[f64], n: usize, b: &[f64]) -> Vec<f64> {
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let s: f64 = (i + 1..n).map(|k| l[k * n + i] * x[k]).sum();
        x[i] = (b[i] - s) / l[i * n + i];
    }
    x
}

/// Kernel hyperparameters.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Hyper {
    /// Length-scale of each ordered parameter, in normalized position units.
    pub(super) ls: Vec<f64>,
    /// Weight of each categorical parameter in the overlap kernel.
    pub(super) theta: Vec<f64>,
    /// λ: share of the product in the mixed kernel.
    pub(super) mix: f64,
    /// Noise variance (targets are standardized).
    pub(super) noise: f64,
}

pub(super) const LS_RANGE: (f64, f64) = (0.02, 20.0);
pub(super) const THETA_RANGE: (f64, f64) = (0.01, 20.0);
pub(super) const NOISE_RANGE: (f64, f64) = (1e-6, 0.5);

impl Hyper {
    pub(super) fn new(n_ord: usize, n_cat: usize, scale: f64, noise: f64) -> Hyper {
        Hyper {
            ls: vec![scale; n_ord],
            theta: vec![(0.5 / scale).clamp(THETA_RANGE.0, THETA_RANGE.1); n_cat],
            mix: 0.5,
            noise,
        }
    }

    /// How many hyperparameters a coordinate move chooses among.
    pub(super) fn count(&self) -> usize {
        let mix = usize::from(!self.ls.is_empty() && !self.theta.is_empty());
        self.ls.len() + self.theta.len() + mix + 1
    }

    /// Hyperparameter `i` moved up (`up`) or down; `None` at a bound.
    pub(super) fn moved(&self, i: usize, up: bool) -> Option<Hyper> {
        let mut h = self.clone();
        let f = if up { 2.0 } else { 0.5 };
        let scale = |v: &mut f64, (lo, hi): (f64, f64)| {
            let nv = (*v * f).clamp(lo, hi);
            let moved = nv != *v;
            *v = nv;
            moved
        };
        let (no, nc) = (self.ls.len(), self.theta.len());
        let moved = if i < no {
            scale(&mut h.ls[i], LS_RANGE)
        } else if i < no + nc {
            scale(&mut h.theta[i - no], THETA_RANGE)
        } else if i == self.count() - 1 {
            scale(&mut h.noise, NOISE_RANGE)
        } else {
            let nv = (h.mix + if up { 0.25 } else { -0.25 }).clamp(0.0, 1.0);
            let moved = nv != h.mix;
            h.mix = nv;
            moved
        };
        moved.then_some(h)
    }
}

/// The mixed kernel between two encoded points (`n_ord` normalized positions, then category
/// indices).
pub(super) fn kernel(a: &[f64], b: &[f64], h: &Hyper) -> f64 {
    let n_ord = h.ls.len();
    let kx = if n_ord == 0 {
        1.0
    } else {
        let r2: f64 = (0..n_ord)
            .map(|i| {
                let t = (a[i] - b[i]) / h.ls[i];
                t * t
            })
            .sum();
        matern52((5.0 * r2).sqrt())
    };
    let n_cat = h.theta.len();
    if n_cat == 0 {
        return kx;
    }
    let diff: f64 = (0..n_cat)
        .filter(|&j| a[n_ord + j] != b[n_ord + j])
        .map(|j| h.theta[j])
        .sum();
    let kh = (-diff / n_cat as f64).exp();
    if n_ord == 0 {
        kh
    } else {
        h.mix * kx * kh + (1.0 - h.mix) * 0.5 * (kx + kh)
    }
}

/// A GP fit: Cholesky factor of `K + noise·I`, `α = (K + noise·I)⁻¹ y`, log marginal likelihood.
pub(super) struct Fit {
    pub(super) l: Vec<f64>,
    pub(super) alpha: Vec<f64>,
    pub(super) lml: f64,
}

pub(super) fn fit(x: &[Vec<f64>], y: &[f64], h: &Hyper) -> Option<Fit> {
    let n = x.len();
    let mut k = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..i {
            let v = kernel(&x[i], &x[j], h);
            k[i * n + j] = v;
            k[j * n + i] = v;
        }
        k[i * n + i] = 1.0 + h.noise;
    }
    let l = cholesky(&k, n)?;
    let alpha = backward(&l, n, &forward(&l, n, y));
    let data: f64 = dot(y, &alpha);
    let logdet: f64 = (0..n).map(|i| l[i * n + i].ln()).sum();
    let lml = -0.5 * data - logdet;
    lml.is_finite().then_some(Fit { l, alpha, lml })
}
