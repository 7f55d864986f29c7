//! Golden tests against SCALE-Sim v3.0.0 runs of ResNet-18 (see `tests/data/scalesim/README.md`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use archsim_accelerators::pipeline;
use archsim_accelerators::systolic::{Dataflow, SramKib, Systolic, SystolicConfig};
use archsim_workloads::{scalesim, DType};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data/scalesim")
        .join(name)
}

#[derive(Debug, serde::Deserialize)]
struct Row {
    layer: String,
    array_rows: u32,
    array_cols: u32,
    dataflow: String,
    bw_mode: String,
    ifmap_sram_kb: u32,
    filter_sram_kb: u32,
    ofmap_sram_kb: u32,
    gemm_m_ofmap_px: u64,
    gemm_n_filters: u64,
    gemm_k_window: u64,
    macs: u64,
    compute_cycles_excl_stalls: u64,
    sram_ifmap_reads: u64,
    sram_filter_reads: u64,
}

fn reference() -> BTreeMap<(u32, u32, String), Vec<Row>> {
    let mut rdr = csv::ReaderBuilder::new()
        .from_path(data("resnet18_results.csv"))
        .unwrap();
    let headers = rdr.headers().unwrap().clone();
    let lower: csv::StringRecord = headers.iter().map(|h| h.to_ascii_lowercase()).collect();
    rdr.set_headers(lower);
    let mut runs: BTreeMap<(u32, u32, String), Vec<Row>> = BTreeMap::new();
    for r in rdr.deserialize::<Row>() {
        let r = r.unwrap();
        if r.bw_mode == "CALC" {
            runs.entry((r.array_rows, r.array_cols, r.dataflow.clone()))
                .or_default()
                .push(r);
        }
    }
    runs
}

fn dataflow(s: &str) -> Dataflow {
    match s {
        "os" => Dataflow::Os,
        "ws" => Dataflow::Ws,
        _ => Dataflow::Is,
    }
}

#[test]
fn resnet18_compute_cycles_match_scalesim_per_layer_and_in_total() {
    let runs = reference();
    assert_eq!(runs.len(), 6, "32x32 and 128x128 in three dataflows");
    let w = scalesim::read_topology(&data("resnet18_topology.csv"), 1, DType::Int8).unwrap();
    for ((rows, cols, df), layers) in &runs {
        let mut cfg = SystolicConfig::new(*rows, *cols, dataflow(df));
        cfg.sram_kib = SramKib {
            ifmap: layers[0].ifmap_sram_kb,
            filter: layers[0].filter_sram_kb,
            ofmap: layers[0].ofmap_sram_kb,
        };
        let acc = Systolic::new(cfg).unwrap();
        let report = pipeline::evaluate(&w, &acc, "golden", 0).unwrap();
        assert_eq!(report.ops.len(), layers.len());
        let (mut ours_total, mut ref_total) = (0u64, 0u64);
        for (op, r) in report.ops.iter().zip(layers) {
            assert_eq!(op.name, r.layer);
            assert_eq!(op.macs, r.macs, "{} {rows}x{cols} {df}: MACs", r.layer);
            let rel = (op.compute_cycles as f64 - r.compute_cycles_excl_stalls as f64).abs()
                / r.compute_cycles_excl_stalls as f64;
            assert!(
                rel <= 0.01,
                "{} {rows}x{cols} {df}: archsim {} vs SCALE-Sim {} cycles (M={} N={} K={})",
                r.layer,
                op.compute_cycles,
                r.compute_cycles_excl_stalls,
                r.gemm_m_ofmap_px,
                r.gemm_n_filters,
                r.gemm_k_window
            );
            assert_eq!(op.stall_cycles, 0, "unlimited bandwidth never stalls");
            ours_total += op.compute_cycles;
            ref_total += r.compute_cycles_excl_stalls;
        }
        let rel = (ours_total as f64 - ref_total as f64).abs() / ref_total as f64;
        assert!(
            rel <= 0.01,
            "{rows}x{cols} {df}: total {ours_total} vs {ref_total}"
        );
        assert_eq!(
            report.total_cycles, ours_total,
            "one array runs the layers back to back"
        );
    }
}

#[test]
fn sram_reads_of_the_streamed_operands_match_scalesim() {
    // SCALE-Sim's SRAM read counts for the operands that stream through the array follow the
    // same folding; check the ifmap reads (os, ws) and filter reads (os) exactly.
    let runs = reference();
    let w = scalesim::read_topology(&data("resnet18_topology.csv"), 1, DType::Int8).unwrap();
    for ((rows, cols, df), layers) in &runs {
        let acc = Systolic::new(SystolicConfig::new(*rows, *cols, dataflow(df))).unwrap();
        let report = pipeline::evaluate(&w, &acc, "golden", 0).unwrap();
        for (op, r) in report.ops.iter().zip(layers) {
            if df != "is" {
                assert_eq!(
                    op.bytes["sram_ifmap"], r.sram_ifmap_reads,
                    "{} {rows}x{cols} {df} ifmap",
                    r.layer
                );
            }
            if df == "os" {
                assert_eq!(
                    op.bytes["sram_filter"], r.sram_filter_reads,
                    "{} {rows}x{cols} {df} filter",
                    r.layer
                );
            }
        }
    }
}
