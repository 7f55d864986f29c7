//! Results never hold NaN or infinity silently.
//!
//! JSON has no NaN or infinity: `serde_json` writes them as `null`, indistinguishable from an
//! absent value, and a CSV writes `inf` or `NaN`. So before a result is written, it is walked
//! with [`first_non_finite`], which serializes it into nothing and stops at the first float
//! that is not a finite number, naming where it sits (`ops[3].utilization`,
//! `llm.tpot_s`). A simulation with such a value fails with that name
//! ([`check`]); a point of a search or sweep with one is infeasible with it as the reason.
//!
//! ```
//! use archsim_io::finite::first_non_finite;
//! #[derive(serde::Serialize)]
//! struct Row { name: &'static str, latency_s: f64, energy_j: Option<f64> }
//! let rows = vec![
//!     Row { name: "a", latency_s: 1e-3, energy_j: None },
//!     Row { name: "b", latency_s: f64::INFINITY, energy_j: Some(1.0) },
//! ];
//! assert_eq!(first_non_finite(&rows), Some(("[1].latency_s".to_string(), f64::INFINITY)));
//! assert_eq!(first_non_finite(&rows[0]), None);
//! ```

use serde::ser::{self, Serialize};

use crate::Error;

/// Where the first float that is not a finite number sits in `value` (a dotted path with list
/// indices in brackets) and what it is; `None` when every float is finite.
pub fn first_non_finite<T: Serialize + ?Sized>(value: &T) -> Option<(String, f64)> {
    let mut walker = Walker {
        path: Vec::new(),
        found: None,
    };
    let _ = value.serialize(&mut walker);
    walker.found.map(|(path, v)| (text(&path), v))
}

/// A path as errors write it: `ops[3].utilization`, `bytes.dram`.
fn text(path: &[Seg]) -> String {
    let mut p = String::new();
    for seg in path {
        match seg {
            Seg::Index(i) | Seg::Entry(i) => p.push_str(&format!("[{i}]")),
            Seg::Name(n) => {
                if !p.is_empty() {
                    p.push('.');
                }
                p.push_str(n);
            }
            Seg::Key(k) => {
                if !k.starts_with('[') && !p.is_empty() {
                    p.push('.');
                }
                p.push_str(k);
            }
        }
    }
    p
}

/// `Ok` when every float of `value` is a finite number; otherwise the run failed: an error
/// naming `what` (`the simulation`, `the serving run`) and the value's path.
pub fn check<T: Serialize + ?Sized>(value: &T, what: &str) -> Result<(), Error> {
    match first_non_finite(value) {
        None => Ok(()),
        Some((path, v)) => Err(Error::Failed(format!(
            "{what} could not compute {path} (the model gives {v}): no result is written for a \
             value that is not a number"
        ))),
    }
}

/// A serializer that writes nothing and records the path of the first non-finite float.
struct Walker {
    /// The segments down to the value being walked; only turned into text when a value is found,
    /// so the walk allocates nothing for field names and indices (a report has thousands).
    path: Vec<Seg>,
    /// The path of the first non-finite float (its map keys written in as the walk unwinds
    /// through their entries) and the float.
    found: Option<(Vec<Seg>, f64)>,
}

/// One segment of a path: a field or variant name, a list index, a map key, or a map entry
/// whose key is turned into text only if a value is found under it.
#[derive(Clone)]
enum Seg {
    Name(&'static str),
    Index(usize),
    Key(String),
    Entry(usize),
}

/// Stops the walk once a value is found.
#[derive(Debug)]
struct Stop;

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stop")
    }
}

impl std::error::Error for Stop {}

impl ser::Error for Stop {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Stop
    }
}

impl Walker {
    fn float(&mut self, v: f64) -> Result<(), Stop> {
        if v.is_finite() {
            return Ok(());
        }
        self.found = Some((self.path.clone(), v));
        Err(Stop)
    }

    fn at<T: Serialize + ?Sized>(&mut self, seg: Seg, value: &T) -> Result<(), Stop> {
        self.path.push(seg);
        let r = value.serialize(&mut *self);
        self.path.pop();
        r
    }
}

/// A compound value: its elements (indexed) or fields (named).
struct Compound<'a> {
    walker: &'a mut Walker,
    index: usize,
    key: Option<String>,
}

macro_rules! ignore {
    ($($name:ident($ty:ty)),* $(,)?) => {
        $(fn $name(self, _: $ty) -> Result<(), Stop> { Ok(()) })*
    };
}

impl<'a> ser::Serializer for &'a mut Walker {
    type Ok = ();
    type Error = Stop;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    ignore!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_unit_struct(&'static str),
    );

    fn serialize_f32(self, v: f32) -> Result<(), Stop> {
        self.float(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<(), Stop> {
        self.float(v)
    }
    fn serialize_none(self) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Stop> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<(), Stop> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<(), Stop> {
        self.at(Seg::Name(variant), v)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'a>, Stop> {
        Ok(Compound {
            walker: self,
            index: 0,
            key: None,
        })
    }
    fn serialize_tuple(self, n: usize) -> Result<Compound<'a>, Stop> {
        self.serialize_seq(Some(n))
    }
    fn serialize_tuple_struct(self, _: &'static str, n: usize) -> Result<Compound<'a>, Stop> {
        self.serialize_seq(Some(n))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        n: usize,
    ) -> Result<Compound<'a>, Stop> {
        self.serialize_seq(Some(n))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'a>, Stop> {
        self.serialize_seq(None)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, Stop> {
        self.serialize_seq(None)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, Stop> {
        self.serialize_seq(None)
    }
}

impl Compound<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Stop> {
        let seg = Seg::Index(self.index);
        self.index += 1;
        self.walker.at(seg, v)
    }
    fn field<T: Serialize + ?Sized>(&mut self, name: &'static str, v: &T) -> Result<(), Stop> {
        self.walker.at(Seg::Name(name), v)
    }
}

macro_rules! sequence {
    ($($trait:ident :: $method:ident),*) => {
        $(impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = Stop;
            fn $method<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Stop> {
                self.element(v)
            }
            fn end(self) -> Result<(), Stop> {
                Ok(())
            }
        })*
    };
}
sequence!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

macro_rules! fields {
    ($($trait:ident),*) => {
        $(impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = Stop;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                name: &'static str,
                v: &T,
            ) -> Result<(), Stop> {
                self.field(name, v)
            }
            fn end(self) -> Result<(), Stop> {
                Ok(())
            }
        })*
    };
}
fields!(SerializeStruct, SerializeStructVariant);

/// A map key as a path names it: a string key is itself, any other is the entry's index.
fn key_text<T: Serialize + ?Sized>(k: &T, index: usize) -> String {
    match serde_json::to_value(k) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("[{index}]"),
    }
}

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), Stop> {
        self.key = Some(key_text(k, self.index));
        self.index += 1;
        Ok(())
    }
    fn serialize_entry<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &mut self,
        k: &K,
        v: &V,
    ) -> Result<(), Stop> {
        // The value is walked first; the key is written only when the walk stopped under it.
        let (depth, index) = (self.walker.path.len(), self.index);
        self.index += 1;
        let r = self.walker.at(Seg::Entry(index), v);
        if let (Err(_), Some((path, _))) = (&r, &mut self.walker.found) {
            if let Some(seg) = path.get_mut(depth) {
                *seg = Seg::Key(key_text(k, index));
            }
        }
        r
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Stop> {
        let key = self.key.take().unwrap_or_default();
        self.walker.at(Seg::Key(key), v)
    }
    fn end(self) -> Result<(), Stop> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(serde::Serialize)]
    enum Kind {
        Tagged { x: f64 },
    }

    #[test]
    fn paths_name_fields_indices_keys_and_variants() {
        let mut m = BTreeMap::new();
        m.insert("dram", vec![1.0, f64::NAN]);
        let (p, v) = first_non_finite(&m).unwrap();
        assert_eq!(p, "dram[1]");
        let mut nested = BTreeMap::new();
        nested.insert(3u32, m);
        assert_eq!(first_non_finite(&nested).unwrap().0, "[0].dram[1]");
        assert!(v.is_nan());
        assert_eq!(
            first_non_finite(&Kind::Tagged {
                x: f64::NEG_INFINITY
            }),
            Some(("x".into(), f64::NEG_INFINITY))
        );
        assert_eq!(first_non_finite(&(1u64, "a", Some(2.5f32))), None);
        let json = serde_json::json!({"a": [{"b": 1.0}]});
        assert_eq!(first_non_finite(&json), None);
        let e = check(&vec![(0.0, f64::INFINITY)], "the run")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("the run could not compute [0][1] (the model gives inf)"),
            "{e}"
        );
    }
}
