//! driftwarden catches environment drift: differences between staging and production (or any
//! environments) in schema, migrations, row counts, settings, config and version.
//!
//! ```text
//! config ─► collectors ─► snapshot (canonical tree) ─► diff ─► rules ─► findings ─► report / sinks
//! ```
//!
//! # Layout
//! Stages in pipeline order: [`collectors`] read sources into [`snapshot`] trees, [`diff`]
//! compares two trees, [`rules`] decide which changes matter, [`findings`] give them identity,
//! [`report`] renders them. [`config`] describes what to audit; [`check`] wires one pass.

pub mod app;
pub mod check;
pub mod cli;
pub mod collectors;
pub mod compare;
pub mod config;
pub mod diff;
pub mod findings;
pub mod glob;
pub mod parity;
pub mod replicas;
pub mod report;
pub mod rules;
pub mod scheduler;
pub mod server;
pub mod shutdown;
pub mod signoff;
pub mod sinks;
pub mod snapshot;
pub mod store;
pub mod telemetry;
