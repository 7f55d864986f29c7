//! The typed patch behind the simulation evaluator's shortcut: the base `accelerator:` config
//! read once, each dimension's values decoded once into the family's typed setters, so a point
//! clones a typed config and sets its values instead of reading a mapping.

use serde_json::Value;

use archsim_accelerators::family::Setter;
use archsim_accelerators::AcceleratorConfig;

use crate::path::Segment;
use crate::space::DesignSpace;

/// The accelerator-only shortcut without the mapping: the base `accelerator:` config read once,
/// and each dimension's values decoded once into typed setters
/// ([`FamilyConfig::setter`](archsim_accelerators::family::FamilyConfig::setter)). A point
/// clones the typed config, applies its setters, and validates and reconciles it as
/// [`AcceleratorConfig::from_map`] and [`SimConfig::from_value`] do: what reading the mapping
/// with the point's values set gives. A point it cannot set takes the mapping.
pub(super) struct TypedPatch {
    /// The base `accelerator:` config as read from its mapping (not yet reconciled with the
    /// workload).
    base: AcceleratorConfig,
    /// The keys of the mapping with every dimension set (what `reconcile` is told was given).
    given: Vec<String>,
    /// Each dimension's keys below `accelerator`.
    pub(super) keys: Vec<Vec<String>>,
    /// Each dimension's setters, or its domain where it is too large to decode up front.
    setters: Vec<DimSetters>,
}

/// How a dimension's value of a given domain index is set.
enum DimSetters {
    /// The setter of each domain index (`None` for a value without one).
    ByIndex(Vec<Option<Setter<AcceleratorConfig>>>),
    /// A domain too large to decode up front: its values are decoded per point.
    Decode(crate::space::Domain),
}

impl std::fmt::Debug for TypedPatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedPatch")
            .field("base", &self.base)
            .field("given", &self.given)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

/// Most values of a dimension whose setters are made up front (a larger domain's values are
/// decoded point by point).
const SETTERS_UP_FRONT: u64 = 4096;

impl TypedPatch {
    /// The patch of `space` (whose paths below `accelerator` are `paths`) over the base
    /// `accelerator:` mapping `acc`, or `None` where the family lacks a setter for some
    /// dimension or a path is not plain keys through mappings of `acc`.
    pub(super) fn new(
        acc: &Value,
        paths: &[Vec<Segment>],
        space: &DesignSpace,
        workload: &archsim_workloads::WorkloadConfig,
    ) -> Option<TypedPatch> {
        let mut map = acc.as_object()?.clone();
        let mut keys = Vec::with_capacity(paths.len());
        for p in paths {
            let k = p
                .iter()
                .map(|s| match s {
                    Segment::Key(k) => Some(k.clone()),
                    Segment::Index(_) => None,
                })
                .collect::<Option<Vec<String>>>()?;
            // Setting a key below others creates the mappings on the way where they are
            // missing or null (`path::set`), and every point sets it: the typed base is read
            // with those mappings created empty, so their other keys read as the point's do.
            let mut at = &mut map;
            for k in &k[..k.len() - 1] {
                let v = at.entry(k.clone()).or_insert(Value::Null);
                if v.is_null() {
                    *v = Value::Object(serde_json::Map::new());
                }
                at = v.as_object_mut()?;
            }
            keys.push(k);
        }
        let mut given: Vec<String> = map.keys().cloned().collect();
        for k in &keys {
            if !given.contains(&k[0]) {
                given.push(k[0].clone());
            }
        }
        let base = AcceleratorConfig::from_map(map).ok()?;
        if !base.forms().contains(&workload.form()) {
            return None;
        }
        let mut setters = Vec::with_capacity(keys.len());
        for (param, k) in space.params.iter().zip(&keys) {
            let k: Vec<&str> = k.iter().map(String::as_str).collect();
            let n = param.domain.len();
            let first = base.setter(&k, &param.domain.value(0));
            // The family has no setter for this key at all.
            first.as_ref()?;
            setters.push(if n <= SETTERS_UP_FRONT {
                DimSetters::ByIndex(
                    std::iter::once(first)
                        .chain((1..n).map(|i| base.setter(&k, &param.domain.value(i))))
                        .collect(),
                )
            } else {
                DimSetters::Decode(param.domain.clone())
            });
        }
        Some(TypedPatch {
            base,
            given,
            keys,
            setters,
        })
    }

    /// The accelerator config of the point whose values `set` applies (one call per
    /// dimension), validated and reconciled with the workload; `None` where a value has no
    /// setter or the config is invalid (the mapping then says why).
    pub(super) fn config(
        &self,
        workload: &archsim_workloads::WorkloadConfig,
        mut set: impl FnMut(usize, &mut AcceleratorConfig) -> Option<()>,
    ) -> Option<AcceleratorConfig> {
        let mut acc = self.base.clone();
        for d in 0..self.keys.len() {
            set(d, &mut acc)?;
        }
        acc.validate().ok()?;
        acc.reconcile(&self.given, workload).ok()?;
        Some(acc)
    }

    /// Applies dimension `d`'s value `value` to `acc` (decoding it now).
    pub(super) fn set_value(
        &self,
        d: usize,
        value: &Value,
        acc: &mut AcceleratorConfig,
    ) -> Option<()> {
        let k: Vec<&str> = self.keys[d].iter().map(String::as_str).collect();
        self.base.setter(&k, value)?(acc);
        Some(())
    }

    /// Applies dimension `d`'s value of domain index `i` to `acc`.
    pub(super) fn set_index(&self, d: usize, i: u64, acc: &mut AcceleratorConfig) -> Option<()> {
        match &self.setters[d] {
            DimSetters::ByIndex(by_index) => by_index.get(usize::try_from(i).ok()?)?.as_ref()?(acc),
            DimSetters::Decode(domain) => self.set_value(d, &domain.value(i), acc)?,
        }
        Some(())
    }
}
