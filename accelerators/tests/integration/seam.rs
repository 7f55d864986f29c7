//! The seam between the generic pipeline and the hardware families is closed: the crate's
//! generic modules name no family. A shared type with one case per family (the closed
//! mapping `Plan` enum that the pipeline once matched for the GPU's kernel rows) or a generic
//! function reaching into one family's module fails this test, so adding a per-op family stays
//! one file plus one registry line.

use std::path::{Path, PathBuf};

use archsim_accelerators::KINDS;

/// The crate's modules that belong to no family.
const GENERIC: &[&str] = &[
    "lib.rs",
    "family.rs",
    "pipeline.rs",
    "llm_metrics.rs",
    "config.rs",
    "collective.rs",
    "energy.rs",
    "ranges.rs",
];

/// Modules that compare families by design: the SN40L composition-of-experts model prices an
/// RDU node against a DGX of GPUs.
const CROSS_FAMILY: &[&str] = &["coe.rs"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// `snake_case` → `CamelCase` (`npu_pim` → `NpuPim`): the registry's variant and the prefix of
/// the family's own type names (`NpuPimConfig`, `NpuPimPlan`).
fn camel(kind: &str) -> String {
    kind.split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The code of a file: test modules, comments and string literals removed (a message or a
/// doc may name a family; code may not).
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_str = false;
        let mut prev = ' ';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if !in_str && c == '/' && chars.peek() == Some(&'/') {
                break;
            }
            if c == '"' && prev != '\\' {
                in_str = !in_str;
                out.push(' ');
            } else if !in_str {
                out.push(c);
            }
            prev = c;
        }
        out.push('\n');
    }
    out
}

/// The identifiers of `code`, with their line numbers.
fn identifiers(code: &str) -> Vec<(usize, String)> {
    let mut ids = Vec::new();
    for (i, line) in code.lines().enumerate() {
        let mut cur = String::new();
        for c in line.chars().chain(std::iter::once(' ')) {
            if c.is_alphanumeric() || c == '_' {
                cur.push(c);
            } else if !cur.is_empty() {
                ids.push((i + 1, std::mem::take(&mut cur)));
            }
        }
    }
    ids
}

/// Lines of `file` (its code only) that name a family: its module (`gpu`, `npu_pim`) or a type
/// named after it (`Gpu`, `GpuPlan`, `NpuPimConfig`).
fn leaks(file: &str, text: &str) -> Vec<String> {
    let mut text = code(text);
    if file == "lib.rs" {
        // The registry's own lines: `kind => Variant(kind::Config),`.
        let start = text.find("families! {").expect("lib.rs holds the registry");
        let end = start + text[start..].find("\n}").expect("the registry ends");
        text.replace_range(start..end, "");
    }
    let camels: Vec<String> = KINDS.iter().map(|k| camel(k)).collect();
    identifiers(&text)
        .into_iter()
        .filter(|(_, id)| {
            KINDS.contains(&id.as_str())
                || camels.iter().any(|c| {
                    id.strip_prefix(c.as_str())
                        .is_some_and(|rest| rest.chars().next().is_none_or(char::is_uppercase))
                })
        })
        .map(|(line, id)| format!("{file}:{line}: `{id}`"))
        .collect()
}

#[test]
fn generic_modules_name_no_family() {
    let mut hits = Vec::new();
    for file in GENERIC {
        let text = std::fs::read_to_string(src().join(file)).unwrap();
        hits.extend(leaks(file, &text));
    }
    assert!(
        hits.is_empty(),
        "generic modules name a family (move the knowledge behind the family's trait):\n{}",
        hits.join("\n")
    );
}

/// Every module of the crate is a family's (listed in the registry), generic (scanned above)
/// or cross-family by design: a new module must say which.
#[test]
fn every_module_is_classified() {
    for e in std::fs::read_dir(src()).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let module = name.trim_end_matches(".rs");
        assert!(
            KINDS.contains(&module)
                || GENERIC.contains(&name.as_str())
                || CROSS_FAMILY.contains(&name.as_str()),
            "{name}: neither a registered family nor listed as generic in tests/integration/seam.rs"
        );
    }
}

/// The scan catches the leak it guards against: the pipeline's old GPU special case and a
/// closed per-family enum.
#[test]
fn the_scan_catches_a_plan_leak() {
    let pipeline = "fn row(p: &Plan) -> Vec<K> {\n    match p {\n        crate::Plan::Gpu { kernels, .. } => kernels.clone(),\n        _ => Vec::new(),\n    }\n}\n";
    assert_eq!(leaks("pipeline.rs", pipeline), ["pipeline.rs:3: `Gpu`"]);
    let lib = "pub enum Plan {\n    Systolic { folds: Vec<systolic::Fold> },\n    Pim { banks: u64 },\n}\nfamilies! {\n    gpu => Gpu(Box<gpu::GpuConfig>),\n}\n";
    assert_eq!(
        leaks("lib.rs", lib),
        ["lib.rs:2: `Systolic`", "lib.rs:2: `systolic`"]
    );
    // Comments and messages may name a family.
    assert!(leaks(
        "family.rs",
        "// the GPU's gpu::Gpu\nlet s = \"gpu::Gpu\";\n"
    )
    .is_empty());
}
