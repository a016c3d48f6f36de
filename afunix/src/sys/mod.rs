//! The Windows side: talking to the driver and to the Service Control Manager.

pub mod device;
pub mod scm;

/// A NUL-terminated UTF-16 copy of `s`, for the `W` functions.
pub(crate) fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}
