//! Debug output through `DbgPrint`, formatted without allocating.

use core::fmt::{self, Write};

use afunix_ntos::DbgPrint;

/// Longest line printed; longer ones are cut.
const LINE_MAX: usize = 240;

/// A fixed buffer that formats into itself and truncates instead of failing.
struct Line {
    bytes: [u8; LINE_MAX + 1],
    len: usize,
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            // Keep the terminator slot free, and never let a NUL end the line early.
            if self.len >= LINE_MAX {
                break;
            }
            if let Some(slot) = self.bytes.get_mut(self.len) {
                *slot = if b == 0 { b'?' } else { b };
                self.len = self.len.saturating_add(1);
            }
        }
        Ok(())
    }
}

/// Prints one line, prefixed with the driver's name, to the kernel debugger (and, under Wine
/// with `WINEDEBUG=+debugstr`, to winedevice's stderr).
pub fn print(args: fmt::Arguments<'_>) {
    let mut line = Line {
        bytes: [0; LINE_MAX + 1],
        len: 0,
    };
    let _ = line.write_str("afunixrs: ");
    let _ = line.write_fmt(args);
    let _ = line.write_str("\n");
    // `bytes` started zeroed and `len <= LINE_MAX`, so the line is NUL-terminated.
    // SAFETY:
    // 1. Both strings are NUL-terminated: the format literal has its `\0`, and `line.bytes`
    //    keeps its last byte zero (write_str stops at LINE_MAX).
    // 2. "%s" consumes exactly the one pointer argument passed.
    unsafe {
        DbgPrint(c"%s".as_ptr().cast(), line.bytes.as_ptr());
    }
}

/// `kprint!("fmt", args...)`: one line of debug output.
#[macro_export]
macro_rules! kprint {
    ($($arg:tt)*) => {
        $crate::debug::print(format_args!($($arg)*))
    };
}
pub use kprint;
