//! ⑥ Sinks: where findings and state go. They consume state, never collectors.

pub mod alertmanager;
pub mod metrics;
pub mod webhook;
