//! Unit tests, grouped by state, with fixture builders (`Fx::pair`, `Fx::listening`,
//! `Fx::connected`) and `#[track_caller]` helpers.

mod addr;
mod closing;
mod connected;
mod fixtures;
mod listening;
mod memory;
mod messages;
mod model;
mod options;
mod pending;
mod rights;
mod unconnected;
