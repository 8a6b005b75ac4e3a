//! The measurement scenarios, one module each.

use std::time::Duration;

mod disconnect;
mod many;
mod memory;
mod subscribe;

pub(crate) use disconnect::scenario_disconnect;
pub(crate) use many::scenario_many;
pub(crate) use memory::scenario_memory;
pub(crate) use subscribe::scenario_subscribe;

/// Quiet period over which the probe's baseline is measured.
const BASELINE: Duration = Duration::from_secs(2);
