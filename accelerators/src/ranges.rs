//! The range check of a config: every number of a parsed config document held against the
//! bounds its JSON schema states (`minimum`, `maximum`, `exclusiveMinimum`,
//! `exclusiveMaximum`), every list against its `minItems`/`maxItems` and every string against
//! its `minLength` (an empty path), with the key path of the first value out of range.
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
//! let e = archsim_accelerators::ranges::check(&json!({"rates": [2.0, -1.0]}), &schema).unwrap_err();
//! assert_eq!(e.path, ["rates", "1"]);
//! assert_eq!(e.message, "must be greater than 0, got -1");
//! assert_eq!(e.to_string(), "rates.1: must be greater than 0, got -1");
//! ```

use std::collections::HashMap;

use serde_json::{Number, Value};

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
///
/// This prepares the schema for every call; a caller that checks many values against one
/// schema keeps a [`Checker`].
pub fn check(value: &Value, schema: &Value) -> Result<(), KeyError> {
    Checker::new(schema).check(value)
}

/// A schema prepared for checking many values: compiled into nodes that hold what the check
/// reads (references resolved, bounds parsed, variants' `kind` tags found), each knowing
/// whether anything below it is bounded at all, so that most of a config (names, kinds,
/// flags, paths) is skipped. Checking a simulation config takes a few microseconds.
#[derive(Debug)]
pub struct Checker {
    nodes: Vec<Node>,
}

/// The JSON types a node accepts, as bits (0: any).
const NULL: u8 = 1;
const BOOL: u8 = 2;
const INT: u8 = 4;
const NUM: u8 = 8;
const STR: u8 = 16;
const ARR: u8 = 32;
const OBJ: u8 = 64;

#[derive(Debug, Default)]
struct Node {
    /// A bound in this node or below.
    bounded: bool,
    /// `$ref`.
    target: Option<usize>,
    all_of: Vec<usize>,
    /// `anyOf` and `oneOf`, each a union.
    unions: Vec<Vec<usize>>,
    types: u8,
    minimum: Option<Number>,
    maximum: Option<Number>,
    exclusive_minimum: Option<Number>,
    exclusive_maximum: Option<Number>,
    /// `x-bound`: why the bound is there.
    why: Option<String>,
    /// The integer range of the type's `format` (`uint32`, `int64`, ...): a value outside it
    /// is the deserializer's type error, not a bound's.
    format_range: Option<(i128, i128)>,
    min_items: Option<u64>,
    max_items: Option<u64>,
    /// `minLength` of a string (a path or a name that must not be empty).
    min_length: Option<u64>,
    properties: HashMap<String, usize, Fnv>,
    additional: Option<usize>,
    closed: bool,
    items: Option<usize>,
    prefix: Vec<usize>,
    required: Vec<String>,
    konst: Option<Value>,
    one_of_values: Option<Vec<Value>>,
    /// `properties.kind.const`: the tag of a `kind`-tagged variant.
    tag: Option<Value>,
}

/// FNV-1a for the property maps (short keys, looked up for every key of a config).
#[derive(Debug, Default, Clone, Copy)]
struct Fnv;

#[derive(Debug)]
struct FnvHasher(u64);

impl std::hash::BuildHasher for Fnv {
    type Hasher = FnvHasher;
    fn build_hasher(&self) -> FnvHasher {
        FnvHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for FnvHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

impl Checker {
    /// Prepares `schema` (a whole schema document with its `$defs`).
    pub fn new(schema: &Value) -> Checker {
        let mut c = Checker { nodes: Vec::new() };
        let mut seen: HashMap<usize, usize> = HashMap::new();
        c.compile(schema, schema, &mut seen);
        // Bounded: a bound in a node, or in a node it refers to, contains or may be;
        // propagated to a fixed point (references may form cycles).
        loop {
            let mut changed = false;
            for i in 0..c.nodes.len() {
                if c.nodes[i].bounded {
                    continue;
                }
                let n = &c.nodes[i];
                let below = n
                    .target
                    .iter()
                    .chain(&n.all_of)
                    .chain(n.unions.iter().flatten())
                    .chain(n.properties.values())
                    .chain(&n.additional)
                    .chain(&n.items)
                    .chain(&n.prefix)
                    .any(|&j| c.nodes[j].bounded);
                if below {
                    c.nodes[i].bounded = true;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        c
    }

    /// The node of the schema `s` (compiled once per schema node; `root` resolves `$ref`s).
    fn compile(&mut self, root: &Value, s: &Value, seen: &mut HashMap<usize, usize>) -> usize {
        let key = s as *const Value as usize;
        if let Some(&i) = seen.get(&key) {
            return i;
        }
        let i = self.nodes.len();
        self.nodes.push(Node::default());
        seen.insert(key, i);
        let Value::Object(m) = s else {
            return i;
        };
        let mut n = Node::default();
        let number = |k: &str| match m.get(k) {
            Some(Value::Number(x)) => Some(x.clone()),
            _ => None,
        };
        n.minimum = number("minimum");
        n.maximum = number("maximum");
        n.exclusive_minimum = number("exclusiveMinimum");
        n.exclusive_maximum = number("exclusiveMaximum");
        n.min_items = m.get("minItems").and_then(Value::as_u64);
        n.max_items = m.get("maxItems").and_then(Value::as_u64);
        n.min_length = m.get("minLength").and_then(Value::as_u64);
        n.why = m.get("x-bound").and_then(Value::as_str).map(str::to_string);
        n.format_range = match m.get("format").and_then(Value::as_str) {
            Some("uint8") => Some((0, i128::from(u8::MAX))),
            Some("uint16") => Some((0, i128::from(u16::MAX))),
            Some("uint32") => Some((0, i128::from(u32::MAX))),
            Some("uint64" | "uint") => Some((0, i128::from(u64::MAX))),
            Some("int8") => Some((i128::from(i8::MIN), i128::from(i8::MAX))),
            Some("int16") => Some((i128::from(i16::MIN), i128::from(i16::MAX))),
            Some("int32") => Some((i128::from(i32::MIN), i128::from(i32::MAX))),
            Some("int64" | "int") => Some((i128::from(i64::MIN), i128::from(i64::MAX))),
            _ => None,
        };
        n.bounded = n.minimum.is_some()
            || n.maximum.is_some()
            || n.exclusive_minimum.is_some()
            || n.exclusive_maximum.is_some()
            || n.min_items.is_some()
            || n.max_items.is_some()
            || n.min_length.is_some();
        let bit = |t: &str| match t {
            "null" => NULL,
            "boolean" => BOOL,
            "integer" => INT,
            "number" => NUM | INT,
            "string" => STR,
            "array" => ARR,
            "object" => OBJ,
            _ => 0,
        };
        n.types = match m.get("type") {
            Some(Value::String(t)) => bit(t),
            Some(Value::Array(ts)) => ts
                .iter()
                .filter_map(Value::as_str)
                .map(bit)
                .fold(0, |a, b| a | b),
            _ => 0,
        };
        n.konst = m.get("const").cloned();
        n.one_of_values = m.get("enum").and_then(Value::as_array).cloned();
        n.required = m
            .get("required")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        n.closed = m.get("additionalProperties") == Some(&Value::Bool(false));
        n.tag = m
            .get("properties")
            .and_then(|p| p.get("kind"))
            .and_then(|k| k.get("const"))
            .cloned();
        if let Some(target) = m
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
            .and_then(|p| root.pointer(p))
        {
            n.target = Some(self.compile(root, target, seen));
        }
        if let Some(Value::Array(all)) = m.get("allOf") {
            n.all_of = all.iter().map(|b| self.compile(root, b, seen)).collect();
        }
        for k in ["anyOf", "oneOf"] {
            if let Some(Value::Array(bs)) = m.get(k) {
                let u = bs.iter().map(|b| self.compile(root, b, seen)).collect();
                n.unions.push(u);
            }
        }
        if let Some(Value::Object(props)) = m.get("properties") {
            for (k, x) in props {
                let j = self.compile(root, x, seen);
                n.properties.insert(k.clone(), j);
            }
        }
        if let Some(a @ Value::Object(_)) = m.get("additionalProperties") {
            n.additional = Some(self.compile(root, a, seen));
        }
        if let Some(it @ Value::Object(_)) = m.get("items") {
            n.items = Some(self.compile(root, it, seen));
        }
        if let Some(Value::Array(p)) = m.get("prefixItems") {
            n.prefix = p.iter().map(|x| self.compile(root, x, seen)).collect();
        }
        self.nodes[i] = n;
        i
    }

    /// Checks `value` (see [`check`]).
    pub fn check(&self, value: &Value) -> Result<(), KeyError> {
        let mut path = Vec::new();
        if self.nodes.is_empty() {
            return Ok(());
        }
        self.walk(value, 0, &mut path)
    }

    fn walk(&self, v: &Value, s: usize, path: &mut Vec<String>) -> Result<(), KeyError> {
        let n = &self.nodes[s];
        // Nothing below this part of the schema bounds anything.
        if !n.bounded {
            return Ok(());
        }
        if let Some(t) = n.target {
            self.walk(v, t, path)?;
        }
        for &b in &n.all_of {
            self.walk(v, b, path)?;
        }
        for u in &n.unions {
            self.walk_union(v, u, path)?;
        }
        if !type_fits(v, n.types) {
            return Ok(());
        }
        match v {
            Value::Number(x) => {
                let int = x
                    .as_u64()
                    .map(i128::from)
                    .or_else(|| x.as_i64().map(i128::from));
                let outside = |(lo, hi): (i128, i128)| int.is_some_and(|i| i < lo || i > hi);
                if n.format_range.is_some_and(outside) {
                    return Ok(());
                }
                bounds(x, n).map_err(|m| KeyError::new(path.clone(), m))
            }
            Value::Array(items) => {
                let len = items.len() as u64;
                if let Some(min) = n.min_items.filter(|&m| len < m) {
                    let what = if min == 1 { "value" } else { "values" };
                    return Err(KeyError::new(
                        path.clone(),
                        format!("give at least {min} {what}"),
                    ));
                }
                if let Some(max) = n.max_items.filter(|&m| len > m) {
                    return Err(KeyError::new(
                        path.clone(),
                        format!("give at most {max} values, got {len}"),
                    ));
                }
                for (i, x) in items.iter().enumerate() {
                    if let Some(item) = n.prefix.get(i).copied().or(n.items) {
                        if self.nodes[item].bounded {
                            path.push(i.to_string());
                            self.walk(x, item, path)?;
                            path.pop();
                        }
                    }
                }
                Ok(())
            }
            Value::String(x) => match n.min_length {
                Some(1) if x.is_empty() => {
                    Err(KeyError::new(path.clone(), "must not be empty".into()))
                }
                Some(min) if (x.chars().count() as u64) < min => Err(KeyError::new(
                    path.clone(),
                    format!("give at least {min} characters"),
                )),
                _ => Ok(()),
            },
            Value::Object(m) => {
                for (k, x) in m {
                    if let Some(sub) = n.properties.get(k).copied().or(n.additional) {
                        if self.nodes[sub].bounded {
                            path.push(k.clone());
                            self.walk(x, sub, path)?;
                            path.pop();
                        }
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// A node with its `$ref` followed (a reference alone stands for what it names).
    fn resolved(&self, s: usize) -> &Node {
        let n = &self.nodes[s];
        match n.target {
            Some(t) if n.types == 0 && n.tag.is_none() => &self.nodes[t],
            _ => n,
        }
    }

    /// The branches of a union that `v` may be: a `kind`-tagged variant by its tag, a
    /// nullable value by being null or not, any other by its shape ([`Checker::fits`]).
    fn candidates(&self, v: &Value, branches: &[usize]) -> Vec<usize> {
        if v.is_null() {
            return Vec::new();
        }
        let not_null: Vec<usize> = branches
            .iter()
            .copied()
            .filter(|&b| self.resolved(b).types != NULL)
            .collect();
        if let Some(kind) = v.get("kind") {
            if !not_null.is_empty() && not_null.iter().all(|&b| self.resolved(b).tag.is_some()) {
                return not_null
                    .into_iter()
                    .filter(|&b| self.resolved(b).tag.as_ref() == Some(kind))
                    .collect();
            }
        }
        if not_null.len() == 1 {
            return not_null;
        }
        not_null.into_iter().filter(|&b| self.fits(v, b)).collect()
    }

    /// A union: the value is held against the branches it may be; it is in range when one of
    /// them takes it, and otherwise the first names what is wrong.
    fn walk_union(
        &self,
        v: &Value,
        branches: &[usize],
        path: &mut Vec<String>,
    ) -> Result<(), KeyError> {
        let mut first = None;
        for b in self.candidates(v, branches) {
            match self.walk(v, b, path) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// True when `v` has the shape of node `s`, bounds aside: its types, constants,
    /// enumerated values, required keys and known keys (what picks a variant of a union).
    fn fits(&self, v: &Value, s: usize) -> bool {
        let n = &self.nodes[s];
        if n.target.is_some_and(|t| !self.fits(v, t)) {
            return false;
        }
        if !n.all_of.iter().all(|&b| self.fits(v, b)) {
            return false;
        }
        if !n.unions.iter().all(|u| u.iter().any(|&b| self.fits(v, b))) {
            return false;
        }
        if !type_fits(v, n.types) {
            return false;
        }
        if n.konst.as_ref().is_some_and(|c| !same(c, v)) {
            return false;
        }
        if let Some(e) = &n.one_of_values {
            if !e.iter().any(|c| same(c, v)) {
                return false;
            }
        }
        match v {
            Value::Object(o) => {
                n.required.iter().all(|k| o.contains_key(k))
                    && o.iter().all(|(k, x)| match n.properties.get(k) {
                        Some(&sub) => self.fits(x, sub),
                        None if n.closed => false,
                        None => n.additional.is_none_or(|a| self.fits(x, a)),
                    })
            }
            Value::Array(items) => items.iter().enumerate().all(|(i, x)| {
                n.prefix
                    .get(i)
                    .copied()
                    .or(n.items)
                    .is_none_or(|item| self.fits(x, item))
            }),
            _ => true,
        }
    }
}

/// True when `v` has one of the JSON `types` (bits; 0: any).
fn type_fits(v: &Value, types: u8) -> bool {
    if types == 0 {
        return true;
    }
    let bit = match v {
        Value::Null => NULL,
        Value::Bool(_) => BOOL,
        Value::Number(x) if x.is_u64() || x.is_i64() => INT,
        Value::Number(_) => NUM,
        Value::String(_) => STR,
        Value::Array(_) => ARR,
        Value::Object(_) => OBJ,
    };
    types & bit != 0
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

/// The bounds of node `s` on the number `n`.
fn bounds(n: &Number, s: &Node) -> Result<(), String> {
    use std::cmp::Ordering::{self, Greater, Less};
    let x = n.as_f64().unwrap_or(f64::NAN);
    if !x.is_finite() {
        return Err(format!("must be a finite number, got {}", show(n)));
    }
    // An integer is compared exactly (u64 beyond 2^53 does not round onto its bound).
    let cmp = |b: &Number| -> Option<Ordering> {
        match (n.as_u64(), b.as_u64(), n.as_i64(), b.as_i64()) {
            (Some(a), Some(b), _, _) => Some(a.cmp(&b)),
            (_, _, Some(a), Some(b)) => Some(a.cmp(&b)),
            _ => x.partial_cmp(&b.as_f64()?),
        }
    };
    let why = s
        .why
        .as_ref()
        .map(|w| format!(" ({w})"))
        .unwrap_or_default();
    let got = show(n);
    if let Some(b) = s.minimum.as_ref().filter(|b| cmp(b) == Some(Less)) {
        return Err(format!("must be at least {}, got {got}{why}", show(b)));
    }
    if let Some(b) = s
        .exclusive_minimum
        .as_ref()
        .filter(|b| cmp(b) != Some(Greater))
    {
        return Err(format!("must be greater than {}, got {got}{why}", show(b)));
    }
    if let Some(b) = s.maximum.as_ref().filter(|b| cmp(b) == Some(Greater)) {
        return Err(format!("must be at most {}, got {got}{why}", show(b)));
    }
    if let Some(b) = s
        .exclusive_maximum
        .as_ref()
        .filter(|b| cmp(b) != Some(Less))
    {
        return Err(format!("must be less than {}, got {got}{why}", show(b)));
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
            KeyError::at("acc.freq_mhz", "must be at most 100000, got 1e308")
        );
        assert_eq!(
            err(json!({"acc": {"kind": "gpu", "count": 0}})).message,
            "must be at least 1, got 0"
        );
        assert_eq!(
            err(json!({"rates": [1, 2, -1]})),
            KeyError::at("rates.2", "must be at least 0, got -1")
        );
        assert_eq!(err(json!({"rates": []})).message, "give at least 1 value");
        assert_eq!(
            err(json!({"max": 0})).message,
            "must be greater than 0, got 0 (a reason)"
        );
        assert!(check(&json!({"max": null}), &s).is_ok());
        let path = json!({"properties": {"oracle": {"type": ["string", "null"], "minLength": 1}}});
        assert_eq!(
            check(&json!({"oracle": ""}), &path).unwrap_err().message,
            "must not be empty"
        );
        assert!(check(&json!({"oracle": "a.csv"}), &path).is_ok());
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
