//! Integration tests of archsim-training.

use std::path::Path;

use archsim_training::calibrate::{
    cross_validate, mape, predict, prepare_rows, read_vtrain, tau_per_shape, Row,
};
use archsim_training::Calibration;

fn rows() -> Vec<Row> {
    read_vtrain(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/vtrain_single_node.csv"))
        .unwrap()
}

#[test]
fn vtrain_uncalibrated_probe() {
    let rows = rows();
    let jobs = prepare_rows(&rows).unwrap();
    let pred = predict(&jobs, &Calibration::NONE);
    eprintln!("uncalibrated MAPE {:.3}", mape(&pred, &rows));
    for (p, r) in pred.iter().zip(&rows).take(20) {
        eprintln!("{:?} pred {:.4} meas {:.4}", (r.gpus, r.global_batch, r.micro_batch, r.hidden, r.layers, r.tp, r.dp, r.pp), p, r.measured_s);
    }
    let (folds, held) = cross_validate(&jobs, &rows, 5);
    eprintln!("{folds:?}");
    eprintln!("held-out MAPE {:.4}", mape(&held, &rows));
    for (sh, t) in tau_per_shape(&held, &rows) {
        eprintln!("{sh:?} tau {t:.3}");
    }
}
