// Included by the build scripts of both driver images (afunix-drv, afunix-kmdf): the linker
// arguments of a kernel-mode image, for `x86_64-pc-windows-msvc` only.

/// Prints the link arguments of a kernel-mode image whose entry point is `entry`: native
/// subsystem, no C runtime, and the integrity-check bit that makes the kernel verify the
/// signature at load. On any other target the crate is an empty library, linked as usual.
fn link_kernel_image(entry: &str) {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../afunix-kernel/kernel-link.rs");
    if std::env::var("TARGET").unwrap_or_default() != "x86_64-pc-windows-msvc" {
        return;
    }
    for arg in [
        "/DRIVER",
        "/KERNEL",
        "/SUBSYSTEM:NATIVE",
        "/NODEFAULTLIB",
        "/INTEGRITYCHECK",
        "/MANIFEST:NO",
        "/OPT:REF,ICF",
        // Rust puts its metadata in .rustc; a driver has no use for a separate section.
        "/MERGE:.edata=.rdata",
    ] {
        println!("cargo:rustc-cdylib-link-arg={arg}");
    }
    println!("cargo:rustc-cdylib-link-arg=/ENTRY:{entry}");
}
