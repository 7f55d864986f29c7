//! Times the flow simulator on the bench's 10,000-flow mix (a quick check outside criterion).
use archsim_net::{flow, Algorithm, ClusterSpec, Op, ScaleOutKind, ScaleUpKind};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
fn main() -> Result<(), archsim_net::NetError> {
    let topo = ClusterSpec::node(ScaleUpKind::Nvswitch, 8, 300.0, 1.0)
        .scale_out(128, ScaleOutKind::Rail, 25.0, 8, 5.0, 1.0)
        .build()?;
    let mut flows =
        flow::collective_flows(&topo, Op::AllToAll, Algorithm::Direct, 268435456.0, 88, 0.0)?;
    flows.extend(flow::collective_flows(
        &topo,
        Op::AllReduce,
        Algorithm::Hierarchical,
        1073741824.0,
        1024,
        0.0,
    )?);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    while flows.len() < 10_000 {
        let (a, b) = (rng.random_range(0..1024), rng.random_range(0..1024));
        if a != b {
            let bytes = rng.random_range(1.0..64.0) * 1048576.0;
            flows.push(flow::device_flow(&topo, a, b, bytes, 0.0)?);
        }
    }
    let t = std::time::Instant::now();
    let r = flow::simulate(&topo, &flows)?;
    println!(
        "{} flows, {} events, {:?}, makespan {:.6} s",
        flows.len(),
        r.events,
        t.elapsed(),
        r.makespan_s
    );
    Ok(())
}
