//! Property tests of invariants every evaluation must hold.

use archsim_accelerators::pipeline;
use archsim_accelerators::systolic::{Dataflow, Systolic, SystolicConfig};
use archsim_workloads::{scalesim, zoo, DType};
use proptest::prelude::*;

fn dataflow() -> impl Strategy<Value = Dataflow> {
    prop_oneof![Just(Dataflow::Os), Just(Dataflow::Ws), Just(Dataflow::Is)]
}

fn check(w: &archsim_workloads::Workload, acc: &Systolic) {
    let m = pipeline::mapping(w, acc).unwrap();
    let s = pipeline::schedule(&m, acc).unwrap();
    let r = pipeline::report(&m, &s, acc, "p", 0);
    assert_eq!(r.macs, w.total_macs(), "MACs preserved");
    assert!(r.utilization <= 1.0 && r.utilization >= 0.0);
    assert!(r.energy_j >= 0.0 && r.area_mm2 > 0.0);
    for o in &r.ops {
        assert!(
            o.utilization <= 1.0 + 1e-12,
            "{}: utilization {}",
            o.name,
            o.utilization
        );
        assert!(o.energy_j >= 0.0);
    }
    for (i, op) in m.ops.iter().enumerate() {
        for &p in &op.preds {
            assert!(
                s.slots[i].start >= s.slots[p].end,
                "{} starts before its input {} ends",
                op.name,
                m.ops[p].name
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn zoo_models_hold_invariants(
        rows in 1u32..=256, cols in 1u32..=256, df in dataflow(),
        model in prop_oneof![Just("resnet18"), Just("mobilenet_v1")],
        batch in 1u64..=3,
        bw in proptest::option::of(0.1f64..64.0),
    ) {
        let w = zoo::build(model, batch, DType::Int8).unwrap();
        let mut c = SystolicConfig::new(rows, cols, df);
        c.dram_bw_bytes_per_cycle = bw; // 1-byte words: bytes = words
        check(&w, &Systolic::new(c).unwrap());
    }

    #[test]
    fn random_topologies_import_and_hold_invariants(
        layers in proptest::collection::vec((1u64..64, 1u64..64, 1u64..8, 1u64..8, 1u64..64, 1u64..64, 1u64..4), 1..6),
        rows in 1u32..=64, cols in 1u32..=64, df in dataflow(),
    ) {
        let mut text = String::from("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n");
        let mut expect_ok = true;
        for (i, (ih, iw, fh, fw, ch, nf, s)) in layers.iter().enumerate() {
            text.push_str(&format!("L{i},{ih},{iw},{fh},{fw},{ch},{nf},{s},\n"));
            if fh > ih || fw > iw { expect_ok = false; }
        }
        match scalesim::parse_topology(&text, "p", "p.csv", 1, DType::Int8) {
            Ok(w) => {
                prop_assert!(expect_ok);
                prop_assert_eq!(w.len(), layers.len());
                check(&w, &Systolic::new(SystolicConfig::new(rows, cols, df)).unwrap());
            }
            Err(e) => {
                prop_assert!(!expect_ok, "unexpected error {}", e);
                prop_assert!(e.to_string().starts_with("p.csv:"));
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_topology_reader(text in ".{0,400}") {
        let _ = scalesim::parse_topology(&text, "p", "p.csv", 1, DType::Int8);
    }
}

/// The `eyeriss` preset has no vector unit for pooling and sums: its pools run on the array
/// as depthwise convolutions and its sums cost only the DRAM read of their extra addends.
#[test]
fn eyeriss_pools_on_the_array_and_sums_into_partial_sums() {
    use archsim_accelerators::systolic::PoolMapping;
    use archsim_accelerators::Accelerator;
    use archsim_workloads::{EltFunc, OpKind};
    let arch = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|";
    let w = zoo::nb201(arch, zoo::Nb201Dataset::Cifar10, 1, DType::Fp16).unwrap();
    let cfg = SystolicConfig::preset("eyeriss").unwrap();
    assert_eq!(cfg.pool_mapping, PoolMapping::Depthwise);
    assert!(cfg.sum_as_psum);
    let eyeriss = Systolic::new(cfg.clone()).unwrap();
    check(&w, &eyeriss);
    let mut dense_cfg = cfg.clone();
    dense_cfg.pool_mapping = PoolMapping::Dense;
    let dense = Systolic::new(dense_cfg).unwrap();
    check(&w, &dense);
    let mut vector_cfg = cfg;
    vector_cfg.pool_mapping = PoolMapping::Vector;
    let vector = Systolic::new(vector_cfg).unwrap();
    let (mut pools, mut sums) = (0, 0);
    for op in w.ops() {
        match &op.kind {
            OpKind::Pool(p) => {
                pools += 1;
                let (ch, window) = (op.output[1], p.kernel[0] * p.kernel[1]);
                let v = eyeriss.array_views(op);
                assert_eq!(v.len(), 1, "{}", op.name);
                assert_eq!(
                    (v[0].groups, v[0].n, v[0].k),
                    (ch, 1, window),
                    "{}",
                    op.name
                );
                assert_eq!(
                    eyeriss.map(op).unwrap().engine,
                    0,
                    "{} on the array",
                    op.name
                );
                let d = dense.array_views(op);
                assert_eq!((d[0].groups, d[0].n, d[0].k), (1, ch, window * ch));
                assert!(vector.array_views(op).is_empty());
                assert_eq!(
                    vector.map(op).unwrap().engine,
                    1,
                    "{} on the vector unit",
                    op.name
                );
            }
            OpKind::Elementwise { func: EltFunc::Add } => {
                sums += 1;
                let c = eyeriss.cost(op, &eyeriss.map(op).unwrap());
                let extra: u64 = op
                    .inputs
                    .iter()
                    .skip(1)
                    .map(|s| s.iter().product::<u64>())
                    .sum();
                assert_eq!(c.compute_cycles, 0, "{}", op.name);
                assert_eq!(c.dram_bytes, extra * 2, "{}", op.name);
                assert_eq!(
                    c.stall_cycles,
                    extra.div_ceil(4),
                    "{} at 4 words/cycle",
                    op.name
                );
            }
            _ => {}
        }
    }
    assert!(pools >= 5 && sums >= 10, "{pools} pools, {sums} sums");
}
