//! The afunix-rs socket engine.
//!
//! Sans-IO AF_UNIX semantics (addresses, namespace, states, buffers, pending operations),
//! shared by the driver and by user-mode tests. The engine itself arrives with the engine
//! issue; this crate holds its place in the workspace and its rules: `no_std` + `alloc`, no
//! `unsafe`, no panics.

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
