//! Request generation: seeded arrivals (Poisson, gamma) and lengths, or a CSV trace.

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use archsim_workloads::input::InputKind;

use crate::config::{Arrival, Lengths, TrafficConfig};
use crate::ServingError;

/// One request: when it arrives and how long it is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Request {
    /// Arrival time, s.
    pub arrival_s: f64,
    /// Prompt tokens (at least 1).
    pub prompt_tokens: u32,
    /// Output tokens (at least 1; the first comes out of the prefill).
    pub output_tokens: u32,
}

fn bad(key: &str, reason: impl Into<String>) -> ServingError {
    ServingError::Config {
        key: format!("serving.traffic.{key}"),
        reason: reason.into(),
    }
}

/// A length distribution ready to sample (CSV columns read).
enum Sampler {
    Fixed(u32),
    Uniform(u32, u32),
    Lognormal { mu: f64, sigma: f64, max: u32 },
    Column(Vec<u32>),
}

impl Sampler {
    fn new(l: &Lengths, key: &str, base: &Path) -> Result<Sampler, ServingError> {
        Ok(match l {
            Lengths::Fixed(n) => Sampler::Fixed(*n),
            Lengths::Uniform([a, b]) => Sampler::Uniform(*a, *b),
            Lengths::Lognormal { mean, sigma, max } => Sampler::Lognormal {
                // The mean of a lognormal is exp(mu + sigma²/2).
                mu: mean.ln() - sigma * sigma / 2.0,
                sigma: *sigma,
                max: max.unwrap_or(32768),
            },
            Lengths::Csv { path, column } => {
                let key = format!("{key}.csv");
                let full = base.join(path);
                let bytes = archsim_workloads::input::read(&full, InputKind::Table)
                    .map_err(|e| bad(&key, e.to_string()))?;
                let mut r = csv::Reader::from_reader(bytes.as_slice());
                let headers = r
                    .headers()
                    .map_err(|e| bad(&key, format!("{}: {e}", full.display())))?
                    .clone();
                let col = headers
                    .iter()
                    .position(|h| h.trim() == column)
                    .ok_or_else(|| {
                        bad(
                            &format!("{key}.column"),
                            format!(
                                "{}: no column `{column}` in the header line",
                                full.display()
                            ),
                        )
                    })?;
                let mut v = Vec::new();
                for (i, rec) in r.records().enumerate() {
                    let rec = rec.map_err(|e| bad(&key, format!("{}: {e}", full.display())))?;
                    let cell = rec.get(col).unwrap_or("").trim();
                    let n: f64 = cell.parse().map_err(|_| {
                        bad(
                            &key,
                            format!(
                                "{} line {}, column `{column}`: not a number",
                                full.display(),
                                i + 2
                            ),
                        )
                    })?;
                    if !(n >= 1.0 && n.is_finite()) {
                        return Err(bad(
                            &key,
                            format!(
                                "{} line {}, column `{column}`: a length must be at least 1",
                                full.display(),
                                i + 2
                            ),
                        ));
                    }
                    v.push(n.round() as u32);
                }
                if v.is_empty() {
                    return Err(bad(&key, format!("{} has no rows", full.display())));
                }
                Sampler::Column(v)
            }
        })
    }

    fn sample(&self, rng: &mut ChaCha8Rng) -> u32 {
        match self {
            Sampler::Fixed(n) => *n,
            Sampler::Uniform(a, b) => rng.random_range(*a..=*b),
            Sampler::Lognormal { mu, sigma, max } => {
                let x = (mu + sigma * normal(rng)).exp().round();
                x.clamp(1.0, *max as f64) as u32
            }
            Sampler::Column(v) => v[rng.random_range(0..v.len())],
        }
    }
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A Gamma(shape, 1) draw (Marsaglia and Tsang, ACM TOMS 26(3), 2000,
/// doi:10.1145/358407.358414; shape < 1 boosted by U^(1/shape)).
fn gamma(rng: &mut ChaCha8Rng, shape: f64) -> f64 {
    if shape < 1.0 {
        let u: f64 = 1.0 - rng.random::<f64>();
        return gamma(rng, shape + 1.0) * u.powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = normal(rng);
        let v = 1.0 + c * x;
        if v <= 0.0 {
            continue;
        }
        let v = v * v * v;
        let u: f64 = 1.0 - rng.random::<f64>();
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

/// The requests of `t` (relative paths against `base`), seeded by `t.seed` or `seed`;
/// `rate` overrides `t.rate` (the capacity search), `requests` overrides the count.
pub fn generate(
    t: &TrafficConfig,
    seed: u64,
    base: &Path,
    rate: Option<f64>,
    requests: Option<u64>,
) -> Result<Vec<Request>, ServingError> {
    let mut rng = ChaCha8Rng::seed_from_u64(t.seed.unwrap_or(seed));
    let rate = rate.or(t.rate);
    if t.arrival() == Arrival::Trace {
        let mut v = read_trace(t, base)?;
        if let Some(n) = requests.or(t.requests) {
            v.truncate(n as usize);
        }
        if let (Some(rate), Some(last)) = (rate, v.last()) {
            // Scale the times to the asked mean rate.
            let span = last.arrival_s - v[0].arrival_s;
            if span > 0.0 && v.len() > 1 {
                let now = (v.len() - 1) as f64 / span;
                let k = now / rate;
                let t0 = v[0].arrival_s;
                for r in &mut v {
                    r.arrival_s = t0 + (r.arrival_s - t0) * k;
                }
            }
        }
        return Ok(v);
    }
    let n = requests.or(t.requests).unwrap_or(1000) as usize;
    let rate = rate.ok_or_else(|| bad("rate", "give the arrival rate, requests per second"))?;
    let missing = |k: &str| bad(k, "give a length distribution");
    let prompt = Sampler::new(
        t.prompt_tokens
            .as_ref()
            .ok_or_else(|| missing("prompt_tokens"))?,
        "prompt_tokens",
        base,
    )?;
    let output = Sampler::new(
        t.output_tokens
            .as_ref()
            .ok_or_else(|| missing("output_tokens"))?,
        "output_tokens",
        base,
    )?;
    let cv = t.cv.unwrap_or(1.0);
    let shape = 1.0 / (cv * cv);
    let mut now = 0.0f64;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let gap = match t.arrival() {
            Arrival::Gamma => gamma(&mut rng, shape) / (shape * rate),
            _ => -(1.0 - rng.random::<f64>()).ln() / rate,
        };
        now += gap;
        let p = prompt.sample(&mut rng);
        let o = output.sample(&mut rng);
        out.push(Request {
            arrival_s: now,
            prompt_tokens: p.max(1),
            output_tokens: o.max(1),
        });
    }
    Ok(out)
}

fn read_trace(t: &TrafficConfig, base: &Path) -> Result<Vec<Request>, ServingError> {
    let Some(path) = &t.trace else {
        return Err(bad("trace", "`arrival: trace` needs a `trace:` file"));
    };
    let full = base.join(path);
    let err = |m: String| bad("trace", format!("{}: {m}", full.display()));
    let bytes = archsim_workloads::input::read(&full, InputKind::Table)
        .map_err(|e| bad("trace", e.to_string()))?;
    let mut r = csv::Reader::from_reader(bytes.as_slice());
    let headers = r.headers().map_err(|e| err(e.to_string()))?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| {
                err(format!(
                    "no column `{name}` (need arrival_s,prompt_tokens,output_tokens)"
                ))
            })
    };
    let (ca, cp, co) = (
        col("arrival_s")?,
        col("prompt_tokens")?,
        col("output_tokens")?,
    );
    let mut v: Vec<Request> = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let line = i + 2;
        let rec = rec.map_err(|e| err(e.to_string()))?;
        let num = |c: usize, name: &str| -> Result<f64, ServingError> {
            let cell = rec.get(c).unwrap_or("").trim();
            cell.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| err(format!("line {line}, column `{name}`: not a number")))
        };
        let a = num(ca, "arrival_s")?;
        let p = num(cp, "prompt_tokens")?;
        let o = num(co, "output_tokens")?;
        if a < 0.0 {
            return Err(err(format!("line {line}: arrival_s {a} is negative")));
        }
        if let Some(prev) = v.last() {
            if a < prev.arrival_s {
                return Err(err(format!(
                    "line {line}: arrival_s {a} is before the previous row's {}; sort the trace by time",
                    prev.arrival_s
                )));
            }
        }
        if p < 1.0 || o < 1.0 {
            return Err(err(format!(
                "line {line}: prompt_tokens and output_tokens must be at least 1"
            )));
        }
        v.push(Request {
            arrival_s: a,
            prompt_tokens: p.round() as u32,
            output_tokens: o.round() as u32,
        });
    }
    if v.is_empty() {
        return Err(err("the trace has no requests".into()));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poisson(rate: f64, n: u64) -> TrafficConfig {
        TrafficConfig {
            arrival: Some(Arrival::Poisson),
            rate: Some(rate),
            cv: None,
            requests: Some(n),
            seed: None,
            prompt_tokens: Some(Lengths::Uniform([10, 20])),
            output_tokens: Some(Lengths::Lognormal {
                mean: 100.0,
                sigma: 0.5,
                max: None,
            }),
            trace: None,
        }
    }

    #[test]
    fn poisson_and_gamma_have_the_asked_rate_and_burstiness() {
        let v = generate(&poisson(5.0, 50_000), 1, Path::new("."), None, None).unwrap();
        let rate = v.len() as f64 / v.last().unwrap().arrival_s;
        assert!((rate / 5.0 - 1.0).abs() < 0.02, "{rate}");
        assert!(v.iter().all(|r| (10..=20).contains(&r.prompt_tokens)));
        let mean_out = v.iter().map(|r| r.output_tokens as f64).sum::<f64>() / v.len() as f64;
        assert!((mean_out / 100.0 - 1.0).abs() < 0.02, "{mean_out}");
        let mut g = poisson(5.0, 50_000);
        g.arrival = Some(Arrival::Gamma);
        g.cv = Some(3.0);
        let v = generate(&g, 1, Path::new("."), None, None).unwrap();
        let gaps: Vec<f64> = v
            .windows(2)
            .map(|w| w[1].arrival_s - w[0].arrival_s)
            .collect();
        let m = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let var = gaps.iter().map(|g| (g - m).powi(2)).sum::<f64>() / gaps.len() as f64;
        assert!((m * 5.0 - 1.0).abs() < 0.05, "{m}");
        assert!(
            (var.sqrt() / m / 3.0 - 1.0).abs() < 0.1,
            "cv {}",
            var.sqrt() / m
        );
    }

    #[test]
    fn same_seed_same_requests() {
        let a = generate(&poisson(5.0, 100), 7, Path::new("."), None, None).unwrap();
        let b = generate(&poisson(5.0, 100), 7, Path::new("."), None, None).unwrap();
        let c = generate(&poisson(5.0, 100), 8, Path::new("."), None, None).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
