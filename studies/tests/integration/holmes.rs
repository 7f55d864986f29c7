//! The Holmes-style heterogeneous-cluster study.

use crate::common::*;

/// `archsim run configs/repro/holmes.yaml` regenerates `results/holmes/` byte for byte; on
/// every cluster the NIC-aware placement beats the flat one, and where an H100 group sits
/// beside an A100 group the chosen partition gives it more layers and beats the uniform one.
#[test]
fn holmes_regenerates_its_results_and_orders_the_variants() {
    let cfg = root().join("configs/repro/holmes.yaml");
    let dir = root().join("results/holmes");
    let out = tmp("holmes");
    let o = archsim(&[
        "run",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = j["rows"].as_array().unwrap();
    let get = |c: &str, v: &str| {
        rows.iter()
            .find(|r| r["cluster"] == c && r["variant"] == v)
            .unwrap_or_else(|| panic!("{c} / {v}"))
    };
    let t = |c: &str, v: &str| get(c, v)["iteration_s"].as_f64().unwrap();
    for c in [
        "A100 IB + A100 RoCE",
        "A100 IB + A100 Ethernet",
        "H100 IB + A100 RoCE",
    ] {
        assert!(
            t(c, "NIC-aware, chosen layers") < t(c, "flat, chosen layers"),
            "{c}"
        );
        assert!(
            t(c, "NIC-aware, uniform layers") < t(c, "flat, uniform layers"),
            "{c}"
        );
    }
    let h = "H100 IB + A100 RoCE";
    assert!(t(h, "NIC-aware, chosen layers") < t(h, "NIC-aware, uniform layers"));
    let layers = get(h, "NIC-aware, chosen layers")["layers_per_stage"]
        .as_str()
        .unwrap()
        .split(' ')
        .map(|x| x.parse::<u64>().unwrap())
        .collect::<Vec<_>>();
    assert!(layers[0] > layers[1], "{layers:?}");
    for f in [
        "README.md",
        "variants.csv",
        "throughput.png",
        "throughput.svg",
        "config.yaml",
    ] {
        let a = std::fs::read(out.join(f)).unwrap();
        let b = std::fs::read(dir.join(f)).unwrap();
        assert!(a == b, "{f} differs from results/holmes/{f}");
    }
}
