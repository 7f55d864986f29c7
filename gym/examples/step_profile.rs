//! Steps a design-space environment as the vector environment does with `cache_size=0`
//! (every step evaluates its design), for profiling the step path:
//!
//! ```text
//! cargo build --release -p archsim-gym --example step_profile
//! valgrind --tool=callgrind target/release/examples/step_profile 20000
//! ```
//!
//! Arguments: steps (default 200,000), then an environment name of `presets::ALL`
//! (default `SystolicGemm`).

use archsim_gym::{presets, DseEnv, Env};

fn main() {
    let mut args = std::env::args().skip(1);
    let steps: u64 = args
        .next()
        .map_or(200_000, |s| s.parse().expect("a step count"));
    let name = args.next().unwrap_or_else(|| "SystolicGemm".into());
    let yaml = presets::ALL
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, y)| *y)
        .expect("an environment of presets::ALL");
    let mut env = DseEnv::from_yaml(yaml, std::path::Path::new(".")).expect("a valid preset");
    env.reset(Some(0));
    let nvec = env.space().nvec();
    // A fixed pseudo-random walk over the space (SplitMix64).
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let t0 = std::time::Instant::now();
    let (mut feasible, mut reward) = (0u64, 0.0);
    // A digest of every step's output (obs, reward, flags, reason), to compare builds.
    let mut digest = 0xCBF2_9CE4_8422_2325u64;
    let mut mix = |x: u64| digest = (digest ^ x).wrapping_mul(0x0100_0000_01B3);
    for _ in 0..steps {
        let a: Vec<i64> = nvec.iter().map(|&n| (next() % n) as i64).collect();
        let eval = env.problem().evaluate(&a).expect("a valid action");
        let s = env.step_evaluated(&a, eval).expect("a valid action");
        feasible += u64::from(s.info.feasible);
        reward += s.reward;
        for x in s.obs.iter().chain(&s.info.metrics).chain([&s.reward]) {
            mix(x.to_bits());
        }
        mix(u64::from(s.terminated)
            | (u64::from(s.truncated) << 1)
            | (u64::from(s.info.feasible) << 2));
        for b in s.info.reason.as_deref().unwrap_or("").bytes() {
            mix(u64::from(b));
        }
        if s.terminated || s.truncated {
            env.reset(None);
        }
    }
    let dt = t0.elapsed().as_secs_f64();
    println!(
        "{name}: {steps} steps in {dt:.3} s: {:.0} steps/s on one thread ({feasible} feasible, reward sum {reward:.6e}, digest {digest:016x})",
        steps as f64 / dt
    );
}
