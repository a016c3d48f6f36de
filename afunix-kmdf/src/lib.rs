//! `afunixkm.sys`, the afunix-rs kernel driver on KMDF 1.33: a second front end beside the
//! WDM driver (`afunixrs.sys`), serving the same device, protocol and sockets through the same
//! request path (`afunix-kernel`). Only the framework's edge is here:
//!
//! - [`wdf`]: our own bindings of the KMDF functions and structures it uses, every size,
//!   offset and table index asserted;
//! - `loader`: our own loader bootstrap (`FxDriverEntry`, `WdfVersionBind`), in place of
//!   Microsoft's proprietary `WdfDriverEntry.lib`;
//! - `driver`: `DriverEntry`, the control device, its queue and the framework's callbacks;
//! - `request`: a WDFREQUEST as the request path's `FrontRequest`, cancelable and completed
//!   exactly once.
//!
//! With the `wdk` feature it binds through Microsoft's crates instead (wdk-sys, wdk-alloc,
//! wdk-build), and `wdk_check` asserts at compile time that our bindings equal wdk-sys's.
//!
//! It has never run: Wine has no KMDF runtime, and no Windows machine is at hand. On any
//! target but `x86_64-pc-windows-msvc` the crate is empty.

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
mod driver;
#[cfg(all(target_os = "windows", target_env = "msvc", not(feature = "wdk")))]
mod loader;
#[cfg(all(target_os = "windows", target_env = "msvc"))]
mod request;
#[cfg(all(target_os = "windows", target_env = "msvc"))]
pub mod wdf;
#[cfg(all(target_os = "windows", target_env = "msvc", feature = "wdk"))]
mod wdk_check;

/// With the `wdk` feature, wdk-alloc is the global allocator, as Microsoft's crates intend.
#[cfg(all(target_os = "windows", target_env = "msvc", feature = "wdk"))]
#[global_allocator]
static GLOBAL_ALLOCATOR: wdk_alloc::WdkAllocator = wdk_alloc::WdkAllocator;
