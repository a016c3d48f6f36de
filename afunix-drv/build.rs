//! Link settings for the kernel driver.
//!
//! Only the `x86_64-pc-windows-msvc` build is a driver; on any other target the crate is an
//! empty library so that workspace-wide host commands (`cargo clippy --workspace`) still work.

include!("../afunix-kernel/kernel-link.rs");

fn main() {
    link_kernel_image("DriverEntry");
}
