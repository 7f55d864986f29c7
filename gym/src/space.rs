//! Design spaces: config paths mapped to typed domains.
//!
//! ```yaml
//! space:
//!   accelerator.rows: {pow2: [8, 256]}                 # 8, 16, …, 256
//!   accelerator.dataflow: {choice: [os, ws, is]}        # categorical
//!   accelerator.sram_kib.ifmap: {int: [64, 1024], step: 64}
//!   accelerator.word_bytes: {ordinal: [1, 2, 4]}        # ordered list
//!   accelerator.freq_mhz: {float: [500, 1500], bins: 11}
//!   accelerator.dram_bw_bytes_per_cycle: {logfloat: [1, 64], bins: 7}
//! ```
//!
//! Every domain is finite (floats are discretized into `bins` values, endpoints included,
//! evenly or log-evenly spaced), so a point is a vector of indices — a gymnasium
//! `MultiDiscrete` action — and any optimizer can walk the same space.

use archsim_accelerators::config::KeyError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::evaluator::EvaluatorKind;

use crate::GymError;

/// A typed, finite domain of one parameter.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Domain {
    /// Integers `lo, lo+step, …` up to `hi`.
    Int {
        /// Lowest value.
        lo: i64,
        /// Highest value (included when on the step grid).
        hi: i64,
        /// Step.
        step: i64,
    },
    /// Powers of two from `lo` to `hi`.
    Pow2 {
        /// Lowest power of two.
        lo: u64,
        /// Highest power of two.
        hi: u64,
    },
    /// Unordered choices.
    Choice(Vec<Value>),
    /// Ordered choices.
    Ordinal(Vec<Value>),
    /// `bins` evenly spaced floats from `lo` to `hi`.
    Float {
        /// Lowest value.
        lo: f64,
        /// Highest value.
        hi: f64,
        /// Number of values.
        bins: u64,
    },
    /// `bins` log-evenly spaced floats from `lo` to `hi`.
    LogFloat {
        /// Lowest value (> 0).
        lo: f64,
        /// Highest value.
        hi: f64,
        /// Number of values.
        bins: u64,
    },
}

/// A domain as a config writes it (`search.space`, `sweep.random`, `gym.space` entries):
/// exactly one of `int` (with `step`), `pow2`, `choice`, `ordinal`, `float` or `logfloat`
/// (with `bins`). [`Domain::from_value`] reads it and checks the combination.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DomainSpec {
    /// Integers `[lo, hi]`, every `step`-th.
    int: Option<[i64; 2]>,
    /// Step of an `int` domain (default 1).
    #[schemars(range(min = 1))]
    step: Option<i64>,
    /// Powers of two `[lo, hi]`.
    pow2: Option<[u64; 2]>,
    /// Unordered choices.
    #[schemars(length(min = 1))]
    choice: Option<Vec<Value>>,
    /// Ordered choices.
    #[schemars(length(min = 1))]
    ordinal: Option<Vec<Value>>,
    /// `bins` evenly spaced floats from `lo` to `hi`.
    float: Option<[f64; 2]>,
    /// `bins` log-evenly spaced floats from `lo` to `hi` (`lo` > 0).
    logfloat: Option<[f64; 2]>,
    /// Values of a `float` or `logfloat` domain (default 16).
    #[schemars(range(min = 2, max = 1048576))]
    bins: Option<u64>,
}

/// Default number of values of a float domain.
pub const DEFAULT_BINS: u64 = 16;

impl Domain {
    /// Parses one domain from its YAML/JSON form; `key` names it in errors.
    pub fn from_value(key: &str, v: &Value) -> Result<Domain, GymError> {
        let bad = |reason: String| GymError::InvalidConfig {
            key: key.to_string(),
            reason,
        };
        let raw: DomainSpec = serde_json::from_value(v.clone()).map_err(|e| bad(e.to_string()))?;
        let given = [
            raw.int.is_some(),
            raw.pow2.is_some(),
            raw.choice.is_some(),
            raw.ordinal.is_some(),
            raw.float.is_some(),
            raw.logfloat.is_some(),
        ];
        if given.iter().filter(|&&g| g).count() != 1 {
            return Err(bad(
                "give exactly one of int, pow2, choice, ordinal, float, logfloat".into(),
            ));
        }
        if raw.step.is_some() && raw.int.is_none() {
            return Err(bad("`step` applies to `int` only".into()));
        }
        if raw.bins.is_some() && raw.float.is_none() && raw.logfloat.is_none() {
            return Err(bad("`bins` applies to `float` and `logfloat` only".into()));
        }
        let bins = raw.bins.unwrap_or(DEFAULT_BINS);
        if !(2..=1 << 20).contains(&bins) {
            return Err(bad("`bins` must be between 2 and 1048576".into()));
        }
        let d = if let Some([lo, hi]) = raw.int {
            let step = raw.step.unwrap_or(1);
            if step <= 0 || lo > hi {
                return Err(bad(format!(
                    "int range [{lo}, {hi}] with step {step} is empty"
                )));
            }
            Domain::Int { lo, hi, step }
        } else if let Some([lo, hi]) = raw.pow2 {
            if !lo.is_power_of_two() || !hi.is_power_of_two() || lo > hi {
                return Err(bad(format!(
                    "pow2 bounds [{lo}, {hi}] must be powers of two, low first"
                )));
            }
            Domain::Pow2 { lo, hi }
        } else if let Some(c) = raw.choice {
            if c.is_empty() {
                return Err(bad("`choice` needs at least one value".into()));
            }
            Domain::Choice(c)
        } else if let Some(c) = raw.ordinal {
            if c.is_empty() {
                return Err(bad("`ordinal` needs at least one value".into()));
            }
            Domain::Ordinal(c)
        } else if let Some([lo, hi]) = raw.float {
            if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                return Err(bad(format!(
                    "float range [{lo}, {hi}] must be finite, low first"
                )));
            }
            Domain::Float { lo, hi, bins }
        } else if let Some([lo, hi]) = raw.logfloat {
            if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && lo < hi) {
                return Err(bad(format!(
                    "logfloat range [{lo}, {hi}] must be positive, low first"
                )));
            }
            Domain::LogFloat { lo, hi, bins }
        } else {
            unreachable!("exactly one domain form was checked above")
        };
        if d.len() > 1 << 24 {
            return Err(bad(format!(
                "{} values is too many for one parameter (max 16777216)",
                d.len()
            )));
        }
        Ok(d)
    }

    /// Number of values.
    pub fn len(&self) -> u64 {
        match self {
            Domain::Int { lo, hi, step } => ((hi - lo) / step) as u64 + 1,
            Domain::Pow2 { lo, hi } => u64::from(hi.trailing_zeros() - lo.trailing_zeros()) + 1,
            Domain::Choice(c) | Domain::Ordinal(c) => c.len() as u64,
            Domain::Float { bins, .. } | Domain::LogFloat { bins, .. } => *bins,
        }
    }

    /// True if the domain has no value (never, once parsed).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`-th value (`i < len()`).
    pub fn value(&self, i: u64) -> Value {
        let t = |bins: u64| i as f64 / (bins - 1) as f64;
        match self {
            Domain::Int { lo, step, .. } => Value::from(lo + i as i64 * step),
            Domain::Pow2 { lo, .. } => Value::from(lo << i),
            Domain::Choice(c) | Domain::Ordinal(c) => c[i as usize].clone(),
            Domain::Float { lo, hi, bins } => Value::from(lo + (hi - lo) * t(*bins)),
            Domain::LogFloat { lo, hi, bins } => {
                Value::from((lo.ln() + (hi.ln() - lo.ln()) * t(*bins)).exp())
            }
        }
    }

    /// True when `v` lies in the domain: an integer of an `int` range on its step, a power of
    /// two in a `pow2` range, one of the `choice`/`ordinal` values, or a finite number within a
    /// `float`/`logfloat` range (any such number, not only the bins: outside optimizers
    /// propose continuous values). NaN is in no domain.
    pub fn contains(&self, v: &Value) -> bool {
        match self {
            Domain::Int { lo, hi, step } => v
                .as_i64()
                .is_some_and(|x| (*lo..=*hi).contains(&x) && (x - lo) % step == 0),
            Domain::Pow2 { lo, hi } => v
                .as_u64()
                .is_some_and(|x| x.is_power_of_two() && (*lo..=*hi).contains(&x)),
            Domain::Choice(c) | Domain::Ordinal(c) => c.contains(v),
            Domain::Float { lo, hi, .. } | Domain::LogFloat { lo, hi, .. } => v
                .as_f64()
                .is_some_and(|x| x.is_finite() && (*lo..=*hi).contains(&x)),
        }
    }

    /// The domain as a config writes it, for messages (`pow2 [8, 256]`).
    pub fn describe(&self) -> String {
        match self {
            Domain::Int { lo, hi, step } if *step == 1 => format!("int [{lo}, {hi}]"),
            Domain::Int { lo, hi, step } => format!("int [{lo}, {hi}] step {step}"),
            Domain::Pow2 { lo, hi } => format!("pow2 [{lo}, {hi}]"),
            Domain::Choice(c) => format!("choice {}", Value::from(c.clone())),
            Domain::Ordinal(c) => format!("ordinal {}", Value::from(c.clone())),
            Domain::Float { lo, hi, .. } => format!("float [{lo}, {hi}]"),
            Domain::LogFloat { lo, hi, .. } => format!("logfloat [{lo}, {hi}]"),
        }
    }

    /// True for unordered (categorical) domains.
    pub fn is_categorical(&self) -> bool {
        matches!(self, Domain::Choice(_))
    }
}

/// One dimension of a design space.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Param {
    /// Dotted config path, e.g. `accelerator.rows`.
    pub path: String,
    /// Its values.
    pub domain: Domain,
}

/// A design space: parameters in declaration order.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct DesignSpace {
    /// The parameters.
    pub params: Vec<Param>,
}

impl DesignSpace {
    /// Parses a `space:` mapping (path → domain); `key` is the mapping's own path for errors.
    pub fn from_map(key: &str, map: &Map<String, Value>) -> Result<DesignSpace, GymError> {
        if map.is_empty() {
            return Err(GymError::InvalidConfig {
                key: key.into(),
                reason: "the space has no parameter".into(),
            });
        }
        let params = map
            .iter()
            .map(|(path, v)| {
                crate::path::parse(path).map_err(|reason| GymError::InvalidConfig {
                    key: format!("{key}.{path}"),
                    reason,
                })?;
                Ok(Param {
                    path: path.clone(),
                    domain: Domain::from_value(&format!("{key}.{path}"), v)?,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(DesignSpace { params })
    }

    /// Values per parameter (a gymnasium `MultiDiscrete` nvec).
    pub fn nvec(&self) -> Vec<u64> {
        self.params.iter().map(|p| p.domain.len()).collect()
    }

    /// Number of points (saturating).
    pub fn size(&self) -> u128 {
        self.params.iter().fold(1u128, |acc, p| {
            acc.saturating_mul(u128::from(p.domain.len()))
        })
    }

    /// The values of a point given as one index per parameter.
    pub fn decode(&self, action: &[i64]) -> Result<Vec<Value>, GymError> {
        self.check(action)?;
        Ok(self
            .params
            .iter()
            .zip(action)
            .map(|(p, &i)| p.domain.value(i as u64))
            .collect())
    }

    /// Whether `action` is a point of the space: one index per parameter, each in range.
    pub fn check(&self, action: &[i64]) -> Result<(), GymError> {
        if action.len() != self.params.len() {
            return Err(GymError::InvalidAction {
                reason: format!(
                    "expected {} indices (one per parameter), got {}",
                    self.params.len(),
                    action.len()
                ),
            });
        }
        for (p, &i) in self.params.iter().zip(action) {
            let n = p.domain.len();
            if i < 0 || i as u64 >= n {
                return Err(GymError::InvalidAction {
                    reason: format!("index {i} for `{}` is outside 0..{n}", p.path),
                });
            }
        }
        Ok(())
    }

    /// `base` with each parameter's path set to its value, or why a path does not fit `base`
    /// (an index out of range, a key under something that is not a mapping).
    pub fn apply(&self, base: &Value, values: &[Value]) -> Result<Value, GymError> {
        let mut v = base.clone();
        for (p, x) in self.params.iter().zip(values) {
            set_path(&mut v, &p.path, x.clone())?;
        }
        Ok(v)
    }

    /// True if some parameter changes the workload (so it cannot be built once and reused).
    pub fn touches_workload(&self) -> bool {
        self.params.iter().any(|p| {
            crate::path::parse(&p.path)
                .ok()
                .and_then(|s| s.into_iter().next())
                .is_none_or(|s| s == crate::path::Segment::Key("workload".into()))
        })
    }

    /// Checks, before any evaluation, that every parameter addresses a key that the config
    /// schema accepts, with values of the key's type: each parameter's first and last value
    /// (every value of a `choice` or `ordinal` list) is set alone in `base` (a valid
    /// simulation config) and the result loaded. An unknown key, a path that does not fit
    /// `base`, or a value of the wrong type (a string for a number, an unknown enum variant or
    /// name, an integer out of the key's range) is an error keyed `<key>.<path>`. A well-typed
    /// value that the config rejects on its merits (`rows: 0`) is left to the evaluation,
    /// where it is an infeasible point with its reason.
    ///
    /// `base` is read as its kind of config ([`EvaluatorKind::of`]): a simulation config, or a serving
    /// config, whose `serving.slo` is the requirement every design must meet and no
    /// parameter.
    pub fn check_schema(&self, key: &str, base: &Value) -> Result<(), GymError> {
        let kind = EvaluatorKind::of(base);
        for p in &self.params {
            let bad = |reason: String| GymError::InvalidConfig {
                key: format!("{key}.{}", p.path),
                reason,
            };
            let segs = crate::path::parse(&p.path).map_err(bad)?;
            let own = crate::path::keys(&segs);
            if kind == EvaluatorKind::Serving && own.starts_with(&["serving".into(), "slo".into()])
            {
                return Err(bad(
                    "the SLO is the requirement every fleet must meet, not a design parameter: set it in serving.slo (sweep it with `archsim sweep`)".into(),
                ));
            }
            let n = p.domain.len();
            let indices: Vec<u64> = match &p.domain {
                Domain::Choice(_) | Domain::Ordinal(_) => (0..n).collect(),
                _ if n > 1 => vec![0, n - 1],
                _ => vec![0],
            };
            for i in indices {
                let mut v = base.clone();
                crate::path::set(&mut v, &segs, p.domain.value(i)).map_err(bad)?;
                let Err(KeyError { path: at, message }) = kind.check(v) else {
                    continue;
                };
                // Only errors about this parameter's key (or a key on its way, or under it).
                let related = at.starts_with(&own) || (own.starts_with(&at) && !at.is_empty());
                if related && is_schema_error(&message) {
                    return Err(bad(if at == own {
                        message
                    } else {
                        format!("{}: {message}", at.join("."))
                    }));
                }
            }
        }
        Ok(())
    }
}

/// True for the config loader's messages about what the schema cannot take at all — an
/// unknown key, an unknown enum variant or name (`unknown kind`, `unknown model`, …), a value
/// of the wrong type or outside its type's range, a missing field — as opposed to a
/// well-typed value rejected by validation (`must be at least 1`).
fn is_schema_error(message: &str) -> bool {
    ["unknown ", "invalid type", "invalid value", "missing field"]
        .iter()
        .any(|p| message.starts_with(p))
}

/// Sets a config path (`a.b`, `a.list[0].c`, see [`crate::path`]) in a JSON value, creating
/// mappings on the way.
pub fn set_path(root: &mut Value, path: &str, x: Value) -> Result<(), GymError> {
    crate::path::set_str(root, path, x).map_err(|reason| GymError::InvalidConfig {
        key: path.to_string(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn space(v: Value) -> Result<DesignSpace, GymError> {
        DesignSpace::from_map("space", v.as_object().unwrap())
    }

    #[test]
    fn domains_enumerate_their_values() {
        let s = space(json!({
            "a": {"int": [64, 1024], "step": 64},
            "b": {"pow2": [8, 256]},
            "c": {"choice": ["os", "ws", "is"]},
            "d": {"float": [0.0, 1.0], "bins": 5},
            "e": {"logfloat": [1.0, 64.0], "bins": 7},
        }))
        .unwrap();
        assert_eq!(s.nvec(), vec![16, 6, 3, 5, 7]);
        assert_eq!(s.size(), 16 * 6 * 3 * 5 * 7);
        let v = s.decode(&[15, 5, 1, 4, 6]).unwrap();
        assert_eq!(v[0], json!(1024));
        assert_eq!(v[1], json!(256));
        assert_eq!(v[2], json!("ws"));
        assert_eq!(v[3], json!(1.0));
        assert!((v[4].as_f64().unwrap() - 64.0).abs() < 1e-9);
        assert_eq!(
            s.params.iter().map(|p| p.path.as_str()).collect::<Vec<_>>(),
            ["a", "b", "c", "d", "e"]
        );
    }

    #[test]
    fn bad_domains_and_actions_are_errors() {
        for (v, want) in [
            (json!({"a": {"pow2": [8, 100]}}), "space.a: pow2 bounds"),
            (json!({"a": {"int": [5, 1]}}), "space.a: int range"),
            (json!({"a": {"int": [1, 5], "pow2": [1, 4]}}), "exactly one"),
            (json!({"a": {"choice": []}}), "at least one"),
            (json!({"a": {"range": [1, 2]}}), "unknown field `range`"),
            (json!({}), "no parameter"),
        ] {
            let e = space(v).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
        let s = space(json!({"a": {"pow2": [8, 64]}})).unwrap();
        assert!(s
            .decode(&[4])
            .unwrap_err()
            .to_string()
            .contains("outside 0..4"));
        assert!(s.decode(&[-1]).is_err());
        assert!(s
            .decode(&[0, 0])
            .unwrap_err()
            .to_string()
            .contains("expected 1"));
    }

    #[test]
    fn apply_sets_nested_paths() {
        let s =
            space(json!({"accelerator.sram_kib.ifmap": {"int": [64, 128], "step": 64}})).unwrap();
        let base =
            json!({"accelerator": {"rows": 8, "sram_kib": {"ifmap": 1, "filter": 2, "ofmap": 3}}});
        let v = s.apply(&base, &s.decode(&[1]).unwrap()).unwrap();
        assert_eq!(
            v["accelerator"]["sram_kib"],
            json!({"ifmap": 128, "filter": 2, "ofmap": 3})
        );
    }

    #[test]
    fn membership_follows_the_domain_form() {
        let d = |v: Value| Domain::from_value("d", &v).unwrap();
        let int = d(json!({"int": [2, 10], "step": 2}));
        assert!(int.contains(&json!(4)) && !int.contains(&json!(5)) && !int.contains(&json!(12)));
        let p = d(json!({"pow2": [8, 256]}));
        assert!(p.contains(&json!(64)) && !p.contains(&json!(48)) && !p.contains(&json!(512)));
        let c = d(json!({"choice": ["os", "ws"]}));
        assert!(c.contains(&json!("ws")) && !c.contains(&json!("rs")));
        let f = d(json!({"float": [0.5, 2.0]}));
        assert!(f.contains(&json!(1.23)) && !f.contains(&json!(2.5)));
        assert!(!f.contains(&json!(f64::NAN)) && !f.contains(&json!("1.0")));
        assert_eq!(p.describe(), "pow2 [8, 256]");
    }

    #[test]
    fn paths_address_list_elements_and_bad_ones_are_errors() {
        let s = space(json!({"accelerator.subs[1].rows": {"ordinal": [8, 16]}})).unwrap();
        let base = json!({"accelerator": {"subs": [{"rows": 4}, {"rows": 4}]}});
        let v = s.apply(&base, &s.decode(&[1]).unwrap()).unwrap();
        assert_eq!(v["accelerator"]["subs"], json!([{"rows": 4}, {"rows": 16}]));
        let short = json!({"accelerator": {"subs": [{"rows": 4}]}});
        assert_eq!(
            s.apply(&short, &s.decode(&[0]).unwrap())
                .unwrap_err()
                .to_string(),
            "accelerator.subs[1].rows: index 1 is out of range: `accelerator.subs` has 1 element"
        );
        let e = space(json!({"accelerator.subs[x]": {"pow2": [8, 16]}})).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("space.accelerator.subs[x]: bad config path"));
        assert!(space(json!({"workload.batch": {"pow2": [1, 2]}}))
            .unwrap()
            .touches_workload());
        assert!(!space(json!({"accelerator.rows": {"pow2": [1, 2]}}))
            .unwrap()
            .touches_workload());
    }

    #[test]
    fn check_schema_rejects_unknown_keys_and_mistyped_values_only() {
        let base = json!({
            "workload": {"gemm": {"m": 64, "n": 64, "k": 64}},
            "accelerator": {"kind": "systolic", "rows": 8, "cols": 8, "dataflow": "os"}
        });
        let check = |v: Value| space(v).unwrap().check_schema("search.space", &base);
        check(json!({
            "accelerator.rows": {"pow2": [4, 256]},
            "accelerator.dataflow": {"choice": ["os", "ws", "is"]},
            "accelerator.sram_kib.ifmap": {"int": [64, 1024], "step": 64},
            "workload.gemm.m": {"ordinal": [16, 32]},
        }))
        .unwrap();
        // A well-typed value the config rejects is an infeasible point, not an error.
        check(json!({"accelerator.rows": {"ordinal": [0, 8]}})).unwrap();
        for (v, want) in [
            (
                json!({"accelerator.rowz": {"pow2": [4, 256]}}),
                "search.space.accelerator.rowz: unknown field `rowz`",
            ),
            (
                json!({"accelerator.sram_kib.ifmapp": {"pow2": [64, 128]}}),
                "search.space.accelerator.sram_kib.ifmapp: unknown field `ifmapp`",
            ),
            (
                json!({"accelerator.extra.rows": {"pow2": [4, 8]}}),
                "search.space.accelerator.extra.rows: accelerator.extra: unknown field `extra`",
            ),
            (
                json!({"accelerator.dataflow": {"choice": ["os", "xs"]}}),
                "search.space.accelerator.dataflow: unknown variant `xs`",
            ),
            (
                json!({"accelerator.rows": {"choice": [8, "eight"]}}),
                "search.space.accelerator.rows: invalid type: string \"eight\"",
            ),
            (
                json!({"accelerator.rows": {"float": [1.5, 8.0]}}),
                "search.space.accelerator.rows: invalid type: floating point `1.5`",
            ),
            (
                json!({"accelerator.rows[0]": {"pow2": [4, 8]}}),
                "search.space.accelerator.rows[0]: `accelerator.rows` is not a list",
            ),
            (
                json!({"accelerator.rows": {"pow2": [8, 1_099_511_627_776_u64]}}),
                "search.space.accelerator.rows: invalid value: integer `1099511627776`",
            ),
        ] {
            let e = check(v).unwrap_err().to_string();
            assert!(e.starts_with(want), "{e}");
        }
    }
}
