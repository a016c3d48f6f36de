//! The kernel side of the request path, shared by both driver front ends: the WDM driver
//! (`afunix-drv`, `afunixrs.sys`) and the KMDF one (`afunix-kmdf`, `afunixkm.sys`).
//!
//! A front end only turns its framework's requests into [`front::FrontRequest`]s (tokens,
//! buffers, completion, a cancellation that reaches [`sockets::cancel`]) and its device's
//! creation into [`security::secure`] and [`load`]. Everything else is here or in the portable
//! crates under it: decoding and routing ([`requests`]), the engine behind its spin lock and the
//! pending table ([`sockets`]), and what only the kernel can do for the request path: socket
//! files with the caller's access check ([`fs`]), the caller's handles ([`handles`]) and
//! identity ([`caller`]). The pool allocator and the panic handler live here too, so either
//! image gets exactly one of each.
//!
//! On any target but `x86_64-pc-windows-msvc` the crate is empty, so that workspace-wide host
//! commands work.

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

/// The modules, each built for the driver's target only.
macro_rules! kernel_modules {
    ($($name:ident),* $(,)?) => {
        $(
            #[cfg(all(target_os = "windows", target_env = "msvc"))]
            pub mod $name;
        )*
    };
}

kernel_modules!(
    caller, debug, front, fs, handles, lock, objects, pool, requests, runtime, security, settings,
    sockets,
);
