//! `afunixrs.sys`, the afunix-rs kernel driver.
//!
//! A WDM driver that imports ntoskrnl.exe directly (no WDK, no KMDF), built for
//! `x86_64-pc-windows-msvc` and linked by rustup's `rust-lld`. Only the WDM-specific part (IRPs
//! in, IRPs completed, the driver and device objects) is here, in the module `kernel` (built
//! for Windows only); the request path it serves is `afunix-kernel`'s, which the KMDF front end
//! (`afunix-kmdf`) serves too, over the portable crates.
//!
//! On any other target this crate is empty, so that workspace-wide host commands work.

#![cfg_attr(all(target_os = "windows", target_env = "msvc"), no_std)]
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

#[cfg(all(target_os = "windows", target_env = "msvc"))]
extern crate alloc;

#[cfg(all(target_os = "windows", target_env = "msvc"))]
mod kernel;
