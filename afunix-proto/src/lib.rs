//! The contract between afunix-rs user mode and the `afunixrs.sys` driver.
//!
//! Everything that kernel and user mode must agree on lives here and nowhere else: object
//! names, IOCTL codes, the layout of every request and reply, and the limits. The driver and
//! the user-mode programs both depend on this crate, so a constant can never drift between
//! them.
//!
//! Wire structs are `#[repr(C)]`, derive `zerocopy`'s layout traits (no `unsafe` needed to
//! read or write them), and have their size and field offsets asserted at compile time.

#![no_std]
#![forbid(unsafe_code)]
// The driver links this crate: nothing here may panic on any input.
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

extern crate alloc;

pub mod cmsg;
pub mod decode;
pub mod encode;
pub mod handle;
pub mod ioctl;
pub mod names;
pub mod security;
pub mod socketfile;
pub mod sockopt;
pub mod stats;
pub mod status;
pub mod wire;

pub use ioctl::{IOCTL_AFUNIX_STATS, ctl_code};
pub use stats::{
    DriverStats, DriverVersion, FRONT_END_KMDF, FRONT_END_WDM, STATS_VERSION, SocketCounters,
};
pub use status::{ErrnoCodes, errno_from_ntstatus};
