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
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    if target != "x86_64-pc-windows-msvc" {
        return;
    }
    // As the WDM driver's, with our own loader bootstrap as the entry point.
    for arg in [
        "/DRIVER",
        "/KERNEL",
        "/SUBSYSTEM:NATIVE",
        "/ENTRY:FxDriverEntry",
        "/NODEFAULTLIB",
        "/INTEGRITYCHECK",
        "/MANIFEST:NO",
        "/OPT:REF,ICF",
        "/MERGE:.edata=.rdata",
    ] {
        println!("cargo:rustc-cdylib-link-arg={arg}");
    }
}
