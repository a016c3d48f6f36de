//! `afunixrs.sys`, the afunix-rs kernel driver.
//!
//! A WDM driver that imports ntoskrnl.exe directly (no WDK, no KMDF), built for
//! `x86_64-pc-windows-msvc` and linked by rustup's `rust-lld`. The WDM-specific part (IRPs in,
//! IRPs completed) stays in the module `kernel` (built for Windows only) so that a KMDF front
//! end can later sit beside it; the logic it serves lives in the portable crates.
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
