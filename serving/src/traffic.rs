//! Request generation: seeded arrivals (Poisson, gamma, static) and lengths (fixed, uniform,
//! lognormal, Zipf, a CSV column, or the (prompt, output) pairs of a length trace), or a CSV
//! trace of arrivals and lengths; a count of requests or a duration.

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
    Lognormal {
        mu: f64,
        sigma: f64,
        max: u32,
    },
    /// `min` and the cumulative weights of `min`, `min + 1`, … (normalized to end at 1).
    Zipf {
        min: u32,
        cdf: Vec<f64>,
    },
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
            Lengths::Zipf { theta, min, max } => {
                let mut cdf = Vec::with_capacity((max - min + 1) as usize);
                let mut acc = 0.0f64;
                for k in 1..=(max - min + 1) {
                    acc += (k as f64).powf(-theta);
                    cdf.push(acc);
                }
                for c in &mut cdf {
                    *c /= acc;
                }
                Sampler::Zipf { min: *min, cdf }
            }
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
            Sampler::Zipf { min, cdf } => {
                let u: f64 = rng.random::<f64>();
                let k = cdf.partition_point(|&c| c <= u).min(cdf.len() - 1);
                min + k as u32
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
/// `rate` overrides `t.rate` (the capacity search), `requests` overrides the count (and then
/// `duration_s` does not apply).
pub fn generate(
    t: &TrafficConfig,
    seed: u64,
    base: &Path,
    rate: Option<f64>,
    requests: Option<u64>,
) -> Result<Vec<Request>, ServingError> {
    let mut rng = ChaCha8Rng::seed_from_u64(t.seed.unwrap_or(seed));
    let rate = rate.or(t.rate);
    let count = requests.or(t.requests);
    let duration = if requests.is_some() {
        None
    } else {
        t.duration_s
    };
    let trace = match &t.trace {
        Some(_) => Some(read_trace(t, base)?),
        None => None,
    };
    let arrival = t.arrival();
    if arrival == Arrival::Trace {
        let Some(Trace::Timed(mut v)) = trace else {
            return Err(bad(
                "arrival",
                "the trace has no `arrival_s` column (a length trace): give `arrival: poisson`, `gamma` or `static` to draw the arrivals",
            ));
        };
        if let Some(n) = count {
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
        if let Some(d) = duration {
            v.retain(|r| r.arrival_s <= d);
            if v.is_empty() {
                return Err(bad(
                    "duration_s",
                    format!("no request of the trace arrives within {d} s"),
                ));
            }
        }
        return Ok(v);
    }
    // Lengths: the pairs of a length trace, in order, or two independent distributions.
    let pairs = match trace {
        Some(Trace::Timed(_)) => {
            return Err(bad(
                "arrival",
                "the trace has an `arrival_s` column and gives its own arrival times: use `arrival: trace` or leave it out",
            ))
        }
        Some(Trace::Lengths(p)) => Some(p),
        None => None,
    };
    let n = match (count, duration, &pairs) {
        (Some(n), _, _) => Some(n as usize),
        (None, Some(_), _) => None,
        (None, None, Some(p)) => Some(p.len()),
        (None, None, None) => Some(1000),
    };
    let rate = match arrival {
        Arrival::Static => 0.0,
        _ => rate.ok_or_else(|| bad("rate", "give the arrival rate, requests per second"))?,
    };
    if let (None, Some(d)) = (n, duration) {
        // Requests expected in the window, with room for the Poisson spread: a run must stay
        // within MAX_REQUESTS.
        let expected = rate * d;
        if expected > crate::MAX_REQUESTS as f64 * 0.9 {
            return Err(bad(
                "duration_s",
                format!(
                    "{d} s at {rate} requests/s is about {expected:.0} requests, more than a run holds ({})",
                    crate::MAX_REQUESTS
                ),
            ));
        }
    }
    let missing = |k: &str| bad(k, "give a length distribution");
    let samplers = match &pairs {
        Some(_) => None,
        None => Some((
            Sampler::new(
                t.prompt_tokens
                    .as_ref()
                    .ok_or_else(|| missing("prompt_tokens"))?,
                "prompt_tokens",
                base,
            )?,
            Sampler::new(
                t.output_tokens
                    .as_ref()
                    .ok_or_else(|| missing("output_tokens"))?,
                "output_tokens",
                base,
            )?,
        )),
    };
    let cv = t.cv.unwrap_or(1.0);
    let shape = 1.0 / (cv * cv);
    let mut now = 0.0f64;
    let mut out = Vec::with_capacity(n.unwrap_or(0).min(1 << 24));
    loop {
        if n.is_some_and(|n| out.len() >= n) {
            break;
        }
        if out.len() as u64 >= crate::MAX_REQUESTS {
            return Err(bad(
                "duration_s",
                format!("more than {} requests arrive", crate::MAX_REQUESTS),
            ));
        }
        let gap = match arrival {
            Arrival::Static => 0.0,
            Arrival::Gamma => gamma(&mut rng, shape) / (shape * rate),
            _ => -(1.0 - rng.random::<f64>()).ln() / rate,
        };
        now += gap;
        if duration.is_some_and(|d| now > d) {
            break;
        }
        let (p, o) = match (&pairs, &samplers) {
            (Some(v), _) => v[out.len() % v.len()],
            (None, Some((p, o))) => (p.sample(&mut rng), o.sample(&mut rng)),
            (None, None) => return Err(ServingError::PotentialBug("no lengths".into())),
        };
        out.push(Request {
            arrival_s: now,
            prompt_tokens: p.max(1),
            output_tokens: o.max(1),
        });
    }
    if out.is_empty() {
        return Err(bad(
            "duration_s",
            "no request arrives within the duration: give a longer one or a higher rate",
        ));
    }
    Ok(out)
}

/// A CSV trace: arrivals and lengths, or (prompt, output) pairs only.
enum Trace {
    Timed(Vec<Request>),
    Lengths(Vec<(u32, u32)>),
}

fn read_trace(t: &TrafficConfig, base: &Path) -> Result<Trace, ServingError> {
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
                    "no column `{name}` (need prompt_tokens,output_tokens, and arrival_s for a trace of arrivals)"
                ))
            })
    };
    let ca = headers.iter().position(|h| h.trim() == "arrival_s");
    let (cp, co) = (col("prompt_tokens")?, col("output_tokens")?);
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
        let a = match ca {
            Some(ca) => num(ca, "arrival_s")?,
            None => 0.0,
        };
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
    Ok(match ca {
        Some(_) => Trace::Timed(v),
        None => Trace::Lengths(
            v.iter()
                .map(|r| (r.prompt_tokens, r.output_tokens))
                .collect(),
        ),
    })
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
            duration_s: None,
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

    #[test]
    fn zipf_lengths_follow_the_power_law_on_their_range() {
        let mut t = poisson(5.0, 200_000);
        t.prompt_tokens = Some(Lengths::Zipf {
            theta: 1.2,
            min: 100,
            max: 4000,
        });
        let v = generate(&t, 3, Path::new("."), None, None).unwrap();
        assert!(v.iter().all(|r| (100..=4000).contains(&r.prompt_tokens)));
        let count = |x: u32| v.iter().filter(|r| r.prompt_tokens == x).count() as f64;
        // P(min + k − 1) ∝ k^−θ: the first length is 2^1.2 = 2.30 times as frequent as the
        // second.
        let ratio = count(100) / count(101);
        assert!((ratio / 2f64.powf(1.2) - 1.0).abs() < 0.05, "{ratio}");
        // P(min) = 1 / H(3901, 1.2).
        let h: f64 = (1..=3901).map(|k| (k as f64).powf(-1.2)).sum();
        let p0 = count(100) / v.len() as f64;
        assert!((p0 * h - 1.0).abs() < 0.02, "{p0} vs {}", 1.0 / h);
        // theta 0 is uniform.
        t.prompt_tokens = Some(Lengths::Zipf {
            theta: 0.0,
            min: 1,
            max: 4,
        });
        let v = generate(&t, 3, Path::new("."), None, None).unwrap();
        for x in 1..=4u32 {
            let f = v.iter().filter(|r| r.prompt_tokens == x).count() as f64 / v.len() as f64;
            assert!((f - 0.25).abs() < 0.01, "{x}: {f}");
        }
    }

    #[test]
    fn static_arrivals_all_come_at_time_zero() {
        let mut t = poisson(5.0, 300);
        t.arrival = Some(Arrival::Static);
        t.rate = None;
        let v = generate(&t, 1, Path::new("."), None, None).unwrap();
        assert_eq!(v.len(), 300);
        assert!(v.iter().all(|r| r.arrival_s == 0.0));
    }

    #[test]
    fn a_duration_stops_the_arrivals() {
        let mut t = poisson(20.0, 1);
        t.requests = None;
        t.duration_s = Some(500.0);
        let v = generate(&t, 1, Path::new("."), None, None).unwrap();
        assert!(v.last().unwrap().arrival_s <= 500.0);
        // About rate × duration requests (Poisson: sd √10000 = 100).
        assert!((v.len() as f64 - 10_000.0).abs() < 400.0, "{}", v.len());
        // The same draws as a count-limited run: the first requests are the same.
        let mut c = poisson(20.0, v.len() as u64);
        c.duration_s = None;
        assert_eq!(generate(&c, 1, Path::new("."), None, None).unwrap(), v);
        // An explicit count (the capacity search) wins over the duration.
        let w = generate(&t, 1, Path::new("."), None, Some(10)).unwrap();
        assert_eq!(w.len(), 10);
    }

    fn write(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("archsim-traffic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn a_length_trace_gives_pairs_in_order_under_drawn_arrivals() {
        let p = write(
            "pairs.csv",
            "prompt_tokens,output_tokens\n100,7\n2000,300\n35,1\n",
        );
        let mut t = poisson(4.0, 7);
        t.prompt_tokens = None;
        t.output_tokens = None;
        t.trace = Some(p.clone());
        let v = generate(&t, 1, Path::new("."), None, None).unwrap();
        let pairs: Vec<(u32, u32)> = v
            .iter()
            .map(|r| (r.prompt_tokens, r.output_tokens))
            .collect();
        assert_eq!(
            pairs,
            [
                (100, 7),
                (2000, 300),
                (35, 1),
                (100, 7),
                (2000, 300),
                (35, 1),
                (100, 7)
            ]
        );
        // The arrivals are the Poisson process's, as with length distributions.
        let mut d = poisson(4.0, 7);
        d.prompt_tokens = Some(Lengths::Fixed(1));
        d.output_tokens = Some(Lengths::Fixed(1));
        let a: Vec<f64> = v.iter().map(|r| r.arrival_s).collect();
        let g = generate(&d, 1, Path::new("."), None, None).unwrap();
        // Fixed lengths draw nothing, so the gaps come from the same stream.
        assert_eq!(a, g.iter().map(|r| r.arrival_s).collect::<Vec<_>>());
        // Without a count: every row once.
        t.requests = None;
        assert_eq!(
            generate(&t, 1, Path::new("."), None, None).unwrap().len(),
            3
        );
        // A length trace under `arrival: trace` (or none) is refused, naming the key.
        t.arrival = None;
        let e = generate(&t, 1, Path::new("."), None, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("serving.traffic.arrival: the trace has no `arrival_s`"),
            "{e}"
        );
        // A timed trace under drawn arrivals too.
        let q = write(
            "timed.csv",
            "arrival_s,prompt_tokens,output_tokens\n0,5,5\n",
        );
        t.trace = Some(q);
        t.arrival = Some(Arrival::Poisson);
        let e = generate(&t, 1, Path::new("."), None, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("serving.traffic.arrival: the trace has an `arrival_s`"),
            "{e}"
        );
    }
}
