//! The melange study.

use crate::common::*;

/// The Mélange study on its committed config, the conversation and document datasets at the
/// lowest and highest committed load (results/melange/README.md): for conversation one L4 is
/// the cheapest single type at low load and the mix is that same fleet (equal cost); at the
/// top load the cheapest mix uses L4 beside a larger GPU and costs strictly less than the
/// cheapest single type; both fleets meet the SLO when simulated; for documents the largest
/// saving against the best single type is smaller than for conversation.
#[test]
fn melange_study_mixes_the_cheap_gpu_for_conversation_and_gains_less_on_documents() {
    let cfg = root().join("configs/repro/melange.yaml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let mut f: archsim_studies::melange::MelangeFile = serde_saphyr::from_str(&text).unwrap();
    let rates = f.study.rates();
    let (lo, hi) = (rates[0], rates[rates.len() - 1]);
    f.study.rates_rps = vec![lo, hi];
    f.study
        .datasets
        .retain(|d| d.name == "conversation" || d.name == "document");
    assert_eq!(f.study.datasets.len(), 2);
    let gpus: Vec<String> = f.study.gpus.iter().map(|g| g.name.clone()).collect();
    let cheapest = f
        .study
        .gpus
        .iter()
        .min_by(|a, b| a.cost_per_hour.total_cmp(&b.cost_per_hour))
        .unwrap()
        .name
        .clone();
    assert_eq!(cheapest, "l4");
    let r = archsim_studies::melange::run(&f, cfg.parent().unwrap()).unwrap();
    let ds = |n: &str| r.iter().find(|d| d.dataset == n).unwrap();
    let conv = ds("conversation");
    let at = |rate: f64| conv.rates.iter().find(|x| x.rate_rps == rate).unwrap();
    let uses = |x: &archsim_studies::melange::RateResult| -> Vec<&str> {
        let (counts, _) = x.mix.as_ref().unwrap();
        gpus.iter()
            .zip(counts)
            .filter(|(_, &n)| n > 0)
            .map(|(g, _)| g.as_str())
            .collect()
    };
    // Low load: L4 alone is cheapest, and the mix is that fleet at the same cost.
    let low = at(lo);
    let (best, cost) = low.best_single.clone().unwrap();
    assert_eq!(best, cheapest, "{low:?}");
    assert_eq!(uses(low), vec![cheapest.as_str()]);
    assert_eq!(low.mix.as_ref().unwrap().1, cost);
    assert_eq!(low.saving_pct, Some(0.0));
    // Top load: a mix with the L4 and another type, strictly cheaper than the best single type.
    let top = at(hi);
    let used = uses(top);
    assert!(
        used.contains(&cheapest.as_str()) && used.len() >= 2,
        "{top:?}"
    );
    let (_, single_cost) = top.best_single.clone().unwrap();
    assert!(top.mix.as_ref().unwrap().1 < single_cost, "{top:?}");
    assert!(top.saving_pct.unwrap() > 0.0);
    // The fleets compared meet the SLO when simulated at the load (>= 90% of requests within
    // both bounds).
    for d in &r {
        for x in &d.rates {
            let (s, m) = x.attainment;
            assert!(
                s.unwrap() >= 0.9 && m.unwrap() >= 0.9,
                "{}: {x:?}",
                d.dataset
            );
        }
    }
    // Documents: the advantage of mixing shrinks.
    let best_saving = |d: &archsim_studies::melange::DatasetResult| d.max_saving.unwrap().1;
    let doc = ds("document");
    assert!(
        best_saving(doc) < best_saving(conv),
        "document {} vs conversation {}",
        best_saving(doc),
        best_saving(conv)
    );
}
