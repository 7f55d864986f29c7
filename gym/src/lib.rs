//! # archsim-gym — design spaces and environments
//!
//! The stage that turns archsim into a gym: a design space declared once (config paths mapped
//! to typed domains), objectives and constraints on the report's metrics, a pluggable reward,
//! and environments with Gymnasium's `reset`/`step` semantics.
//!
//! ```text
//! action ──► config delta ──► Workload ──► Mapping ──► Schedule ──► Report ──► metrics ──► reward
//! (indices)  (space.apply)    (built once                                     (METRICS)  (Scorer)
//!                              when fixed)
//! ```
//!
//! [`SocEnv`] is the other kind of environment: a step assigns one ready task of a stream of job
//! DAGs to a PE of a heterogeneous SoC, the reward coming from job latency.
//!
//! An infeasible design (an invalid config, a violated constraint) is a step with
//! `info.feasible == false`, a reason and a penalty — never a panic. A malformed action (wrong
//! length, an index out of range) is an error.
//!
//! ```
//! use archsim_gym::{presets, DseEnv, Env};
//!
//! let mut env = DseEnv::from_yaml(presets::SYSTOLIC_GEMM, std::path::Path::new(".")).unwrap();
//! env.reset(Some(0));
//! let n = env.space().nvec();
//! let step = env.step(&vec![2; n.len()]).unwrap();
//! assert!(step.info.feasible);
//! assert!(step.obs[0] > 0.0); // latency_s
//! ```
#![warn(missing_docs, unreachable_pub)]

pub mod codesign;
pub mod codesign_env;
mod env;
pub mod evaluator;
pub mod objective;
pub mod path;
pub mod soc_env;
pub mod space;
pub mod training_env;
pub mod vec_env;

pub use env::{DseEnv, Env, Evaluation, GymSection, Problem, Step, StepInfo};
pub use evaluator::{
    Evaluator, EvaluatorKind, CODESIGN_METRICS, SERVING_METRICS, TRAINING_METRICS,
};
pub use objective::{metric_map, metric_map_named, Constraint, Goal, Objective, Reward, METRICS};
pub use soc_env::SocEnv;
pub use space::{DesignSpace, Domain, Param};
pub use vec_env::VecEnv;

/// The configs of the registered environments.
pub mod presets {
    /// `archsim/SystolicResNet18-v0`: size an array for ResNet-18 under an area budget.
    pub const SYSTOLIC_RESNET18: &str = include_str!("../envs/systolic_resnet18.yaml");
    /// `archsim/SystolicGemm-v0`: one GEMM layer, target-spec reward (fast).
    pub const SYSTOLIC_GEMM: &str = include_str!("../envs/systolic_gemm.yaml");
    /// `systolic_marl`: the ResNet-18 problem split between a compute and a memory agent.
    pub const SYSTOLIC_MARL: &str = include_str!("../envs/systolic_marl.yaml");

    /// `SocWifi`: schedule a stream of DS3 WiFi jobs (TX 80 %, RX 20 %) on DS3's 16-PE SoC
    /// under 30 % execution-time noise, one task per step ([`crate::SocEnv`]).
    pub const SOC_WIFI: &str = include_str!("../envs/soc_wifi.yaml");

    /// `CoDesign` / `codesign`: NASAIC's two-task network/hardware co-design problem on the
    /// built-in 101-cell NAS-Bench-201 sample ([`crate::codesign_env::CoDesignEnv`]).
    pub const CODESIGN_NB201: &str = include_str!("../envs/codesign_nb201.yaml");

    /// `archsim/Training-v0`: pick the layout of GPT-3 175B on 1,024 A100
    /// ([`crate::training_env::TrainingEnv`]).
    pub const TRAINING_GPT3: &str = include_str!("../envs/training_gpt3.yaml");

    /// The SoC scheduling environments ([`crate::SocEnv`]), by name.
    pub const SOC: &[(&str, &str)] = &[("SocWifi", SOC_WIFI)];

    /// Registered names and their configs (design-space environments, [`crate::DseEnv`]).
    pub const ALL: &[(&str, &str)] = &[
        ("SystolicResNet18", SYSTOLIC_RESNET18),
        ("SystolicGemm", SYSTOLIC_GEMM),
        ("SystolicMarl", SYSTOLIC_MARL),
    ];
}

/// Errors of environment construction and of malformed actions.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum GymError {
    /// The environment config is invalid (fatal for the env).
    #[error("{key}: {reason}")]
    InvalidConfig {
        /// Dotted key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// An action does not fit the action space (the step is refused; the env is unchanged).
    #[error("invalid action: {reason}")]
    InvalidAction {
        /// What is wrong.
        reason: String,
    },
    /// A design could not be evaluated for a reason outside the design (e.g. the accuracy
    /// oracle failed); the step is refused.
    #[error("evaluation failed: {reason}")]
    Evaluation {
        /// What failed.
        reason: String,
    },
}
