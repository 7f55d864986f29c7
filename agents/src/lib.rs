//! # archsim-agents — optimizers behind one ask/tell interface (not yet implemented)
//!
//! This crate's job, once its issue lands: random, grid, simulated annealing, GA / NSGA-II,
//! ant colony, Bayesian optimization, policy-gradient RL and multi-agent RL, each a small type
//! with `ask(n)` / `tell(points, results)` and an injected seeded RNG; and the sweep journal
//! that lets a killed sweep resume.
//!
//! Today it holds [`reinforce`], a policy-gradient scheduler trained through the SoC
//! environment of the gym (`archsim_gym::SocEnv`), and re-exports the gym it drives, fixing
//! the dependency direction (`gym → agents`).
#![warn(missing_docs, unreachable_pub)]

pub mod reinforce;

pub use archsim_gym as gym;
