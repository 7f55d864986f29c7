//! DRAM bandwidth stalls of the double-buffered prefetch model, against hand-computed cases.

use archsim_accelerators::pipeline;
use archsim_accelerators::systolic::{Dataflow, Systolic, SystolicConfig};
use archsim_workloads::{scalesim, single_gemm, zoo, DType};

fn array(rows: u32, cols: u32, df: Dataflow, bw: Option<f64>) -> Systolic {
    let mut c = SystolicConfig::new(rows, cols, df);
    c.dram_bw_bytes_per_cycle = bw; // 1-byte words: bytes = words
    Systolic::new(c).unwrap()
}

#[test]
fn one_fold_waits_for_its_operands_and_its_drain() {
    // 4x8 · 8x4 on a 4x4 output-stationary array: one fold of 4 + 4 + 8 − 2 = 14 cycles,
    // 13 compute cycles counted from 0. At 1 word/cycle the 32 + 32 operand words arrive
    // before the fold starts (64 cycles) and the 16 outputs drain after it (16 cycles).
    let w = single_gemm(4, 4, 8, DType::Int8).unwrap();
    let r = pipeline::evaluate(&w, &array(4, 4, Dataflow::Os, Some(1.0)), "t", 0).unwrap();
    assert_eq!(r.ops[0].compute_cycles, 13);
    assert_eq!(r.ops[0].stall_cycles, 64 + 16);
    assert_eq!(r.total_cycles, 13 + 80);
}

#[test]
fn prefetch_hides_traffic_that_fits_in_a_fold() {
    // 8x4 · 4x4 on 4x4 os at 2 words/cycle: two row folds of 4 + 4 + 4 − 2 = 10 cycles.
    // Fold 0 waits (16 ifmap + 16 filter) / 2 = 16 cycles. During fold 0 the second ifmap
    // block (16 words, the filter stays resident) takes 8 ≤ 10 cycles: hidden. During fold 1
    // fold 0's 16 outputs drain in 8 ≤ 10 cycles: hidden. Fold 1's outputs drain after: 8.
    let w = single_gemm(8, 4, 4, DType::Int8).unwrap();
    let r = pipeline::evaluate(&w, &array(4, 4, Dataflow::Os, Some(2.0)), "t", 0).unwrap();
    assert_eq!(r.ops[0].compute_cycles, 2 * 10 - 1);
    assert_eq!(r.ops[0].stall_cycles, 16 + 8);
}

#[test]
fn low_bandwidth_raises_total_cycles_and_reports_stalls_per_layer() {
    let topo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data/scalesim/resnet18_topology.csv");
    let w = scalesim::read_topology(&topo, 1, DType::Int8).unwrap();
    for df in [Dataflow::Os, Dataflow::Ws, Dataflow::Is] {
        let free = pipeline::evaluate(&w, &array(32, 32, df, None), "t", 0).unwrap();
        let slow = pipeline::evaluate(&w, &array(32, 32, df, Some(0.5)), "t", 0).unwrap();
        assert!(slow.total_cycles > free.total_cycles, "{df:?}");
        assert!(
            slow.ops.iter().all(|o| o.stall_cycles > 0),
            "{df:?}: every layer stalls at 0.5 words/cycle"
        );
        for (a, b) in slow.ops.iter().zip(&free.ops) {
            assert_eq!(a.compute_cycles, b.compute_cycles);
            assert_eq!(a.cycles, a.compute_cycles + a.stall_cycles);
        }
        assert_eq!(slow.total_cycles, slow.compute_cycles + slow.stall_cycles);
    }
}

#[test]
fn more_bandwidth_never_stalls_more() {
    let w = zoo::resnet18(1, DType::Int8).unwrap();
    let mut last = u64::MAX;
    for bw in [0.25, 1.0, 4.0, 16.0, 64.0, 1024.0] {
        let r = pipeline::evaluate(&w, &array(64, 64, Dataflow::Ws, Some(bw)), "t", 0).unwrap();
        assert!(
            r.stall_cycles <= last,
            "bw {bw}: {} > {last}",
            r.stall_cycles
        );
        last = r.stall_cycles;
    }
}

#[test]
fn dram_traffic_falls_as_sram_grows_until_the_filter_fits() {
    // Output stationary re-fetches the filter once per row fold unless it fits its SRAM.
    let w = single_gemm(1024, 512, 512, DType::Int8).unwrap();
    let traffic = |kib: u32| {
        let mut c = SystolicConfig::new(32, 32, Dataflow::Os);
        c.sram_kib.filter = kib;
        let r = pipeline::evaluate(&w, &Systolic::new(c).unwrap(), "t", 0).unwrap();
        r.bytes["dram"]
    };
    let (small, big, bigger) = (traffic(64), traffic(256), traffic(1024));
    assert!(small > big, "{small} vs {big}");
    assert_eq!(
        big, bigger,
        "once the 256 KiB filter fits, more SRAM changes nothing"
    );
    assert_eq!(big, 1024 * 512 + 512 * 512 + 1024 * 512);
}
