//! The reparse-point payload of an afunix-rs socket file: parse and emit.
//!
//! The format arrives with the contract issue; until then this crate only holds its place in
//! the workspace and its rules: `no_std`, no `unsafe`, no panics (the driver links it).

#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]
