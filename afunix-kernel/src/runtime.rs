//! What a `no_std` kernel image needs from us: the panic handler and two symbols the
//! prebuilt `core` refers to.

use core::panic::PanicInfo;

use afunix_proto::names::PANIC_BUGCHECK_CODE;

use crate::debug::kprint;
use afunix_ntos::KeBugCheckEx;

/// A panic in the kernel is a bug in the driver: say where, then stop the machine loudly
/// rather than run on in an unknown state. No input may reach here (clippy denies the
/// constructs that panic in the crates the driver links).
#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    let line = info.location().map_or(0, |l| l.line());
    match info.location() {
        Some(location) => kprint!("PANIC at {}:{}: {}", location.file(), line, info.message()),
        None => kprint!("PANIC: {}", info.message()),
    }
    // SAFETY:
    // 1. KeBugCheckEx may be called at any IRQL and never returns.
    unsafe { KeBugCheckEx(PANIC_BUGCHECK_CODE, line as usize, 0, 0, 0) }
}

/// Marks the image as using floating point; `core`'s formatting code refers to it. (With the
/// KMDF build's `wdk` feature, wdk-sys defines it instead.)
#[cfg(feature = "standalone")]
#[unsafe(no_mangle)]
#[used]
static _fltused: i32 = 0;

/// The C++ exception personality that the prebuilt `core` for msvc names. The driver is built
/// with `panic = "abort"` and never unwinds, so this is never called. (With the KMDF build's
/// `wdk` feature, wdk-sys defines it instead.)
#[cfg(feature = "standalone")]
#[unsafe(no_mangle)]
extern "system" fn __CxxFrameHandler3() -> i32 {
    // EXCEPTION_CONTINUE_SEARCH: not ours.
    1
}
