//! Names of the driver's objects, in one place.
//!
//! Windows already ships a driver called `afunix`, so ours is `afunixrs` everywhere.

/// The service name, the driver file's stem and the INF's name.
pub const SERVICE_NAME: &str = "afunixrs";

/// The driver file as installed: `%SystemRoot%\System32\drivers\afunixrs.sys`.
pub const DRIVER_FILE: &str = "afunixrs.sys";

/// The KMDF build of the driver, installed instead of [`DRIVER_FILE`] by
/// `afunixctl install --kmdf`: `%SystemRoot%\System32\drivers\afunixkm.sys`. It serves the
/// same service, device and protocol, so only one of the two runs at a time.
pub const KMDF_DRIVER_FILE: &str = "afunixkm.sys";

/// The KMDF version the KMDF build binds to (`WdfVersionBind`), and what its INF and
/// `afunixctl install --kmdf` write as the service's `Parameters\Wdf\KmdfLibraryVersion`.
pub const KMDF_LIBRARY_VERSION: &str = "1.33";

/// The Winsock base service provider DLL, as installed in `%SystemRoot%\System32`.
pub const PROVIDER_FILE: &str = "afunixwsp.dll";

/// The path registered in the Winsock catalog (ws2_32 expands the variable).
pub const PROVIDER_CATALOG_PATH: &str = r"%SystemRoot%\System32\afunixwsp.dll";

/// The provider's GUID in the Winsock catalog: `d521fb18-0098-4226-9325-2e4ebcc87f39`.
pub const PROVIDER_GUID: (u32, u16, u16, [u8; 8]) = (
    0xd521_fb18,
    0x0098,
    0x4226,
    [0x93, 0x25, 0x2e, 0x4e, 0xbc, 0xc8, 0x7f, 0x39],
);

/// The protocol name the catalog shows (`WSAPROTOCOL_INFOW.szProtocol`).
pub const PROVIDER_PROTOCOL_NAME: &str = "afunix-rs AF_UNIX stream (afunixrs.sys)";

/// The kernel name of the device object.
pub const DEVICE_NAME: &str = r"\Device\AfUnixRs";

/// The symbolic link that makes the device reachable from user mode.
pub const DOS_DEVICE_NAME: &str = r"\DosDevices\AfUnixRs";

/// The path user mode passes to `CreateFileW`.
pub const USER_DEVICE_PATH: &str = r"\\.\AfUnixRs";

/// The pool tag of every allocation the driver makes: `AfUx` as seen in a pool dump.
///
/// Pool tags are stored little-endian, so the first character is the lowest byte.
pub const POOL_TAG: u32 = u32::from_le_bytes(*b"AfUx");

/// The bug-check code the driver stops the machine with if it ever panics (parameter 1 is
/// the source line). A panic is always a bug: no input may cause one.
pub const PANIC_BUGCHECK_CODE: u32 = 0xAF05_0001;

/// Encodes an ASCII string as UTF-16 at compile time, for kernel `UNICODE_STRING`s.
///
/// `N` must be the string's length; anything else, or a non-ASCII byte, fails the build
/// (the function is only ever evaluated in a `const`).
#[allow(
    clippy::indexing_slicing,
    clippy::panic,
    clippy::arithmetic_side_effects
)]
pub const fn ascii_to_utf16<const N: usize>(s: &str) -> [u16; N] {
    let bytes = s.as_bytes();
    if bytes.len() != N {
        panic!("ascii_to_utf16: N must equal the string length");
    }
    let mut out = [0u16; N];
    let mut i = 0;
    while i < N {
        if !bytes[i].is_ascii() {
            panic!("ascii_to_utf16: the string must be ASCII");
        }
        out[i] = bytes[i] as u16;
        i += 1;
    }
    out
}

/// `DEVICE_NAME` as UTF-16, without a terminator.
pub const DEVICE_NAME_UTF16: [u16; DEVICE_NAME.len()] = ascii_to_utf16(DEVICE_NAME);

/// `DOS_DEVICE_NAME` as UTF-16, without a terminator.
pub const DOS_DEVICE_NAME_UTF16: [u16; DOS_DEVICE_NAME.len()] = ascii_to_utf16(DOS_DEVICE_NAME);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_names_match_their_strings() {
        let decoded: alloc_free::Buf = alloc_free::decode(&DEVICE_NAME_UTF16);
        assert_eq!(decoded.as_str(), DEVICE_NAME);
        let decoded: alloc_free::Buf = alloc_free::decode(&DOS_DEVICE_NAME_UTF16);
        assert_eq!(decoded.as_str(), DOS_DEVICE_NAME);
    }

    #[test]
    fn pool_tag_reads_afux_in_memory_order() {
        assert_eq!(POOL_TAG.to_le_bytes(), *b"AfUx");
    }

    /// A tiny fixed buffer so the test needs neither `std` nor `alloc`.
    mod alloc_free {
        pub struct Buf {
            bytes: [u8; 64],
            len: usize,
        }
        impl Buf {
            pub fn as_str(&self) -> &str {
                core::str::from_utf8(&self.bytes[..self.len]).unwrap()
            }
        }
        pub fn decode(units: &[u16]) -> Buf {
            let mut buf = Buf {
                bytes: [0; 64],
                len: 0,
            };
            for c in char::decode_utf16(units.iter().copied()) {
                let c = c.unwrap();
                buf.len += c.encode_utf8(&mut buf.bytes[buf.len..]).len();
            }
            buf
        }
    }
}
