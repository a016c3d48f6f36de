//! Link settings for the kernel driver.
//!
//! Only the `x86_64-pc-windows-msvc` build is a driver; on any other target the crate is an
//! empty library so that workspace-wide host commands (`cargo clippy --workspace`) still work.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    if target != "x86_64-pc-windows-msvc" {
        return;
    }
    // A kernel-mode image: native subsystem, our own entry point, no C runtime, and the
    // integrity-check bit that makes the kernel verify the signature at load.
    for arg in [
        "/DRIVER",
        "/KERNEL",
        "/SUBSYSTEM:NATIVE",
        "/ENTRY:DriverEntry",
        "/NODEFAULTLIB",
        "/INTEGRITYCHECK",
        "/MANIFEST:NO",
        "/OPT:REF,ICF",
        // Rust puts its metadata in .rustc; a driver has no use for a separate section.
        "/MERGE:.edata=.rdata",
    ] {
        println!("cargo:rustc-cdylib-link-arg={arg}");
    }
}
