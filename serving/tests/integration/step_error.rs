//! The iteration-cost shortcut against the full step model, on steps off the grid: decode
//! batches at contexts between the knots and prefills of lengths between them.

use std::path::Path;

use archsim_serving::Fleet;

use crate::common::{llm, serving};

fn checks(acc: serde_json::Value) -> (f64, f64) {
    let cfg = serving(serde_json::json!({
        "traffic": {"rate": 1.0, "requests": 1, "prompt_tokens": {"fixed": 1}, "output_tokens": {"fixed": 1}},
        "pools": [{"accelerator": acc, "count": 1}],
        "scheduler": {"max_batch": 256, "max_batch_tokens": 8192},
    }));
    let fleet = Fleet::build(&cfg, &llm("llama2_7b"), 0, Path::new("."), true).unwrap();
    let p = &fleet.pools[0];
    let mut worst: f64 = 0.0;
    let mut sum = 0.0;
    for c in &p.checks {
        eprintln!(
            "{:<40} {:<24} full {:.6} s  shortcut {:.6} s  error {:.2}%",
            p.accelerator,
            c.step,
            c.full_s,
            c.shortcut_s,
            c.rel_err * 100.0
        );
        worst = worst.max(c.rel_err);
        sum += c.rel_err;
    }
    (worst, sum / p.checks.len() as f64)
}

#[test]
fn shortcut_error_off_the_grid_is_bounded() {
    let (w, m) = checks(serde_json::json!({"kind": "gpu", "preset": "h100_sxm"}));
    eprintln!(
        "gpu h100_sxm: max {:.2}%, mean {:.2}%",
        w * 100.0,
        m * 100.0
    );
    assert!(w < 0.08, "GPU max error {w}");
    let (w, m) = checks(crate::common::roofline());
    eprintln!("roofline: max {:.2}%, mean {:.2}%", w * 100.0, m * 100.0);
    assert!(w < 0.03, "roofline max error {w}");
}
