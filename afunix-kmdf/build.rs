//! Link settings for the KMDF driver.
//!
//! Only the `x86_64-pc-windows-msvc` build is a driver; on any other target the crate is an
//! empty library so that workspace-wide host commands still work. With the `wdk` feature,
//! Microsoft's wdk-build configures the build instead (it needs the WDK).

#[cfg(feature = "wdk")]
fn main() -> Result<(), wdk_build::ConfigError> {
    wdk_build::configure_wdk_binary_build()
}

#[cfg(not(feature = "wdk"))]
include!("../afunix-kernel/kernel-link.rs");

/// The entry point is our own loader bootstrap, which binds to KMDF and calls DriverEntry.
#[cfg(not(feature = "wdk"))]
fn main() {
    link_kernel_image("FxDriverEntry");
}
