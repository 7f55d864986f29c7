//! The range check of a config: every number of a parsed config document held against the
//! bounds its JSON schema states (`minimum`, `maximum`, `exclusiveMinimum`,
//! `exclusiveMaximum`) and every list against its `minItems`/`maxItems`, with the key path of
//! the first value out of range.
//!
//! The bounds are declared once, on the config structs (`#[schemars(range(min = 1))]`,
//! `#[schemars(extend("exclusiveMinimum" = 0))]`), so the schema users read (`archsim
//! schema`) states exactly what the loader enforces. Types, names and required keys are the
//! deserializer's business: this walker only follows the parts of the schema that the value
//! has the shape of (a tagged variant by its `kind`, an untagged one by its keys and types),
//! and leaves anything else to the loader's own error.
//!
//! Every number in a document is finite already (the YAML reader rejects `.nan` and `.inf`,
//! and JSON has no such numbers), so a bound is all that is left to check.
//!
//! ```
//! use serde_json::json;
//! let schema = json!({
//!     "type": "object",
//!     "properties": {
//!         "rates": {"type": "array", "minItems": 1,
//!                   "items": {"type": "number", "exclusiveMinimum": 0}},
//!     },
//! });
//! let ok = archsim_accelerators::ranges::check(&json!({"rates": [1.0, 2.0]}), &schema);
//! assert!(ok.is_ok());
//! let (path, why) =
//!     archsim_accelerators::ranges::check(&json!({"rates": [2.0, -1.0]}), &schema).unwrap_err();
//! assert_eq!(path, ["rates", "1"]);
//! assert_eq!(why, "must be greater than 0, got -1");
//! ```

use serde_json::{Map, Number, Value};

use crate::config::KeyError;

// The bounds shared by many keys, as the config types declare them
// (`#[schemars(range(min = ranges::MIN_FREQ_MHZ, max = ranges::MAX_FREQ_MHZ))]`). Upper
// bounds sit far above any real design and where a larger value would overflow a counter, make
// a time or energy infinite or zero, or allocate without limit; lower bounds keep cycles and
// seconds (bytes or cycles divided by a rate) finite and within a `u64`: a whole LLM step moves
// well under 1e15 bytes, so 1e15 / MIN_BYTES_PER_CYCLE cycles fit with room to spare.

/// Clock frequencies, MHz: from 1 MHz (below it a step's cycles take ~30 years) to 100 GHz.
pub const MIN_FREQ_MHZ: f64 = 1.0;
/// See [`MIN_FREQ_MHZ`].
pub const MAX_FREQ_MHZ: f64 = crate::MAX_FREQ_MHZ;
/// Bandwidths in bytes per cycle: 1 byte per 1,000 cycles to 1 MB per cycle.
pub const MIN_BYTES_PER_CYCLE: f64 = 1e-3;
/// See [`MIN_BYTES_PER_CYCLE`].
pub const MAX_BYTES_PER_CYCLE: f64 = 1e6;
/// Bandwidths in GB/s: 1 MB/s to 10 PB/s.
pub const MIN_GB_S: f64 = 1e-3;
/// See [`MIN_GB_S`].
pub const MAX_GB_S: f64 = 1e7;
/// Bandwidths in bytes per µs (the SoC's units: 1 byte/µs = 1 MB/s): 1 kB/s to 10 PB/s.
pub const MIN_BYTES_PER_US: f64 = 1e-3;
/// See [`MIN_BYTES_PER_US`].
pub const MAX_BYTES_PER_US: f64 = 1e10;
/// Peak compute, TFLOP/s: 1 MFLOP/s to 1 EFLOP/s.
pub const MIN_TFLOPS: f64 = 1e-6;
/// See [`MIN_TFLOPS`].
pub const MAX_TFLOPS: f64 = 1e6;
/// Memory capacities, GB (above 0): up to 1 PB.
pub const MAX_GB: f64 = 1e6;
/// Memory capacities, MB or MiB (above 0): up to 1 TB.
pub const MAX_MB: f64 = 1e6;
/// Fixed delays, µs (launch, latency, overhead): up to ~17 minutes.
pub const MAX_US: f64 = 1e9;
/// Power, W: up to 1 MW.
pub const MAX_W: f64 = 1e6;
/// Energy per event, pJ: up to 1 µJ.
pub const MAX_PJ: f64 = 1e6;
/// Area, mm²: up to 1 m².
pub const MAX_MM2: f64 = 1e6;
/// Prices, $ per device-hour: from 1e-6 (a price of 0 makes every fleet free) to $1M.
pub const MIN_COST_PER_HOUR: f64 = 1e-6;
/// See [`MIN_COST_PER_HOUR`].
pub const MAX_COST_PER_HOUR: f64 = 1e6;
/// Request rates, requests/s: one a ~12 days to a million a second.
pub const MIN_RATE_RPS: f64 = 1e-6;
/// See [`MIN_RATE_RPS`].
pub const MAX_RATE_RPS: f64 = 1e6;
/// Time limits in seconds (SLOs, simulated latencies): up to ~12 days (above 0).
pub const MAX_SECONDS: f64 = 1e6;
/// Weights of objectives and tasks (at least 0): up to 1e6.
pub const MAX_WEIGHT: f64 = 1e6;

/// Checks every number and list of `value` against the bounds of `schema` (a whole schema
/// document: its `$ref`s point into its own `$defs`). The error is the key path of the first
/// value out of range (list indices as numbers) and what is wrong with it.
pub fn check(value: &Value, schema: &Value) -> Result<(), KeyError> {
    let w = Walker { root: schema };
    let mut path = Vec::new();
    w.check(value, schema, &mut path)
}

struct Walker<'a> {
    root: &'a Value,
}

impl<'a> Walker<'a> {
    /// The schema a `$ref` points at (`#/$defs/Name`); `None` for a reference this walker
    /// cannot follow (which it then ignores).
    fn deref(&self, s: &Map<String, Value>) -> Option<&'a Value> {
        let r = s.get("$ref")?.as_str()?;
        let pointer = r.strip_prefix('#')?;
        self.root.pointer(pointer)
    }

    fn check(&self, v: &Value, s: &'a Value, path: &mut Vec<String>) -> Result<(), KeyError> {
        let Value::Object(s) = s else {
            return Ok(());
        };
        if let Some(target) = self.deref(s) {
            self.check(v, target, path)?;
        }
        if let Some(Value::Array(all)) = s.get("allOf") {
            for b in all {
                self.check(v, b, path)?;
            }
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = s.get(key) {
                self.check_union(v, branches, path)?;
            }
        }
        if !self.type_fits(v, s) {
            return Ok(());
        }
        match v {
            Value::Number(n) => bounds(n, s).map_err(|m| (path.clone(), m)),
            Value::Array(items) => {
                let n = items.len() as u64;
                if let Some(min) = s.get("minItems").and_then(Value::as_u64) {
                    if n < min {
                        let what = if min == 1 { "value" } else { "values" };
                        return Err((path.clone(), format!("give at least {min} {what}")));
                    }
                }
                if let Some(max) = s.get("maxItems").and_then(Value::as_u64) {
                    if n > max {
                        return Err((path.clone(), format!("give at most {max} values, got {n}")));
                    }
                }
                let prefix = s.get("prefixItems").and_then(Value::as_array);
                for (i, x) in items.iter().enumerate() {
                    let item = prefix.and_then(|p| p.get(i)).or_else(|| s.get("items"));
                    if let Some(item) = item {
                        path.push(i.to_string());
                        self.check(x, item, path)?;
                        path.pop();
                    }
                }
                Ok(())
            }
            Value::Object(m) => {
                let props = s.get("properties").and_then(Value::as_object);
                for (k, x) in m {
                    let sub = props
                        .and_then(|p| p.get(k))
                        .or_else(|| s.get("additionalProperties").filter(|a| a.is_object()));
                    if let Some(sub) = sub {
                        path.push(k.clone());
                        self.check(x, sub, path)?;
                        path.pop();
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// A union: the value is held against the branches it has the shape of; it is in range
    /// when one of them takes it, and otherwise the first such branch names what is wrong.
    fn check_union(
        &self,
        v: &Value,
        branches: &'a [Value],
        path: &mut Vec<String>,
    ) -> Result<(), KeyError> {
        let mut first = None;
        for b in branches.iter().filter(|b| self.fits(v, b)) {
            match self.check(v, b, path) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// True when `v` has the JSON type `s` asks for (or `s` names none).
    fn type_fits(&self, v: &Value, s: &Map<String, Value>) -> bool {
        let is = |t: &str| match t {
            "null" => v.is_null(),
            "boolean" => v.is_boolean(),
            "integer" => v.is_u64() || v.is_i64(),
            "number" => v.is_number(),
            "string" => v.is_string(),
            "array" => v.is_array(),
            "object" => v.is_object(),
            _ => true,
        };
        match s.get("type") {
            Some(Value::String(t)) => is(t),
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).any(is),
            _ => true,
        }
    }

    /// True when `v` has the shape of `s`, bounds aside: its types, constants, enumerated
    /// values, required keys and known keys (what picks a variant of a union).
    fn fits(&self, v: &Value, s: &'a Value) -> bool {
        let Value::Object(m) = s else {
            return s.as_bool().unwrap_or(true);
        };
        if let Some(target) = self.deref(m) {
            if !self.fits(v, target) {
                return false;
            }
        }
        if let Some(Value::Array(all)) = m.get("allOf") {
            if !all.iter().all(|b| self.fits(v, b)) {
                return false;
            }
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = m.get(key) {
                if !branches.iter().any(|b| self.fits(v, b)) {
                    return false;
                }
            }
        }
        if !self.type_fits(v, m) {
            return false;
        }
        if m.get("const").is_some_and(|c| !same(c, v)) {
            return false;
        }
        if let Some(Value::Array(e)) = m.get("enum") {
            if !e.iter().any(|c| same(c, v)) {
                return false;
            }
        }
        match v {
            Value::Object(o) => {
                if let Some(Value::Array(req)) = m.get("required") {
                    if !req
                        .iter()
                        .filter_map(Value::as_str)
                        .all(|k| o.contains_key(k))
                    {
                        return false;
                    }
                }
                let props = m.get("properties").and_then(Value::as_object);
                let extra = m.get("additionalProperties");
                o.iter().all(|(k, x)| match props.and_then(|p| p.get(k)) {
                    Some(sub) => self.fits(x, sub),
                    None => match extra {
                        Some(Value::Bool(false)) => false,
                        Some(sub @ Value::Object(_)) => self.fits(x, sub),
                        _ => true,
                    },
                })
            }
            Value::Array(items) => {
                let prefix = m.get("prefixItems").and_then(Value::as_array);
                items.iter().enumerate().all(|(i, x)| {
                    match prefix.and_then(|p| p.get(i)).or_else(|| m.get("items")) {
                        Some(item) => self.fits(x, item),
                        None => true,
                    }
                })
            }
            _ => true,
        }
    }
}

/// Equal as config values: numbers by value (`2` and `2.0` alike).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// A number as a config would write it: integers in full, very large or small magnitudes in
/// exponent form (`1e308`, `1e-6`), others as they are (`0.001`, `2.5`).
fn show(n: &Number) -> String {
    if n.is_u64() || n.is_i64() {
        return n.to_string();
    }
    let x = n.as_f64().unwrap_or(f64::NAN);
    let a = x.abs();
    if x == x.trunc() && a < 1e15 {
        format!("{x:.0}")
    } else if a >= 1e15 || (a != 0.0 && a < 1e-4) {
        format!("{x:e}")
    } else {
        x.to_string()
    }
}

/// The bounds of `s` on the number `n`.
fn bounds(n: &Number, s: &Map<String, Value>) -> Result<(), String> {
    let x = n.as_f64().unwrap_or(f64::NAN);
    if !x.is_finite() {
        return Err(format!("must be a finite number, got {}", show(n)));
    }
    let bound = |k: &str| s.get(k).and_then(Value::as_f64);
    let shown = |k: &str| match s.get(k) {
        Some(Value::Number(b)) => show(b),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    // An integer is compared exactly (u64 beyond 2^53 does not round onto its bound).
    let cmp = |k: &str| -> Option<std::cmp::Ordering> {
        let b = s.get(k)?;
        match (n.as_u64(), b.as_u64(), n.as_i64(), b.as_i64()) {
            (Some(a), Some(b), _, _) => Some(a.cmp(&b)),
            (_, _, Some(a), Some(b)) => Some(a.cmp(&b)),
            _ => x.partial_cmp(&b.as_f64()?),
        }
    };
    use std::cmp::Ordering::{Greater, Less};
    let why = s
        .get("x-bound")
        .and_then(Value::as_str)
        .map(|w| format!(" ({w})"))
        .unwrap_or_default();
    if bound("minimum").is_some() && cmp("minimum") == Some(Less) {
        return Err(format!(
            "must be at least {}, got {}{why}",
            shown("minimum"),
            show(n)
        ));
    }
    if bound("exclusiveMinimum").is_some() && cmp("exclusiveMinimum") != Some(Greater) {
        return Err(format!(
            "must be greater than {}, got {}{why}",
            shown("exclusiveMinimum"),
            show(n)
        ));
    }
    if bound("maximum").is_some() && cmp("maximum") == Some(Greater) {
        return Err(format!(
            "must be at most {}, got {}{why}",
            shown("maximum"),
            show(n)
        ));
    }
    if bound("exclusiveMaximum").is_some() && cmp("exclusiveMaximum") != Some(Less) {
        return Err(format!(
            "must be less than {}, got {}{why}",
            shown("exclusiveMaximum"),
            show(n)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "$defs": {
                "Sys": {"type": "object", "properties": {
                    "kind": {"const": "sys"},
                    "freq_mhz": {"type": "number", "exclusiveMinimum": 0, "maximum": 100000},
                }, "additionalProperties": false, "required": ["kind"]},
                "Gpu": {"type": "object", "properties": {
                    "kind": {"const": "gpu"},
                    "count": {"type": "integer", "minimum": 1},
                }, "additionalProperties": false, "required": ["kind"]},
            },
            "type": "object",
            "properties": {
                "acc": {"oneOf": [{"$ref": "#/$defs/Sys"}, {"$ref": "#/$defs/Gpu"}]},
                "rates": {"type": "array", "minItems": 1, "items": {"type": "number", "minimum": 0}},
                "max": {"type": ["number", "null"], "exclusiveMinimum": 0, "x-bound": "a reason"},
            },
        })
    }

    #[test]
    fn bounds_name_the_key_and_the_variant_is_picked_by_its_shape() {
        let s = schema();
        let err = |v: Value| check(&v, &s).unwrap_err();
        assert!(check(&json!({"acc": {"kind": "sys", "freq_mhz": 1000}}), &s).is_ok());
        assert_eq!(
            err(json!({"acc": {"kind": "sys", "freq_mhz": 1e308}})),
            (
                vec!["acc".into(), "freq_mhz".into()],
                "must be at most 100000, got 1e308".into()
            )
        );
        assert_eq!(
            err(json!({"acc": {"kind": "gpu", "count": 0}})).1,
            "must be at least 1, got 0"
        );
        assert_eq!(
            err(json!({"rates": [1, 2, -1]})),
            (
                vec!["rates".into(), "2".into()],
                "must be at least 0, got -1".into()
            )
        );
        assert_eq!(err(json!({"rates": []})).1, "give at least 1 value");
        assert_eq!(
            err(json!({"max": 0})).1,
            "must be greater than 0, got 0 (a reason)"
        );
        assert!(check(&json!({"max": null}), &s).is_ok());
        // A value of the wrong shape is the loader's to report.
        assert!(check(&json!({"acc": {"kind": "tpu", "count": 0}}), &s).is_ok());
        assert!(check(&json!({"rates": "x"}), &s).is_ok());
    }

    #[test]
    fn large_integers_compare_exactly() {
        let s = json!({"type": "integer", "maximum": 9007199254740993_u64});
        assert!(check(&json!(9007199254740993_u64), &s).is_ok());
        assert!(check(&json!(9007199254740994_u64), &s).is_err());
    }
}
