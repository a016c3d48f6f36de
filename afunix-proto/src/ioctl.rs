//! IOCTL codes.
//!
//! Codes are built exactly as the WDK's `CTL_CODE` macro builds them, from a device type in
//! the vendor range (0x8000 and up) and function numbers in the vendor range (0x800 and up).

/// Our device type. Vendor device types are 0x8000..=0xFFFF; `0xAF05` reads as "AF_UNIX".
pub const FILE_DEVICE_AFUNIX: u32 = 0xAF05;

/// Transfer methods (`METHOD_*` in the WDK).
pub const METHOD_BUFFERED: u32 = 0;
pub const METHOD_IN_DIRECT: u32 = 1;
pub const METHOD_OUT_DIRECT: u32 = 2;
pub const METHOD_NEITHER: u32 = 3;

/// Required access (`FILE_*_ACCESS` in the WDK).
pub const FILE_ANY_ACCESS: u32 = 0;
pub const FILE_READ_ACCESS: u32 = 1;
pub const FILE_WRITE_ACCESS: u32 = 2;

/// The WDK's `CTL_CODE(DeviceType, Function, Method, Access)`.
pub const fn ctl_code(device_type: u32, function: u32, method: u32, access: u32) -> u32 {
    (device_type << 16) | (access << 14) | (function << 2) | method
}

/// The transfer method encoded in an IOCTL code.
pub const fn method_of(code: u32) -> u32 {
    code & 3
}

/// The first function number available to vendors.
const FUNCTION_BASE: u32 = 0x800;

/// Driver statistics: output is a [`crate::DriverStats`]; no input. Anyone who can open the
/// device may ask, so it needs no particular access.
pub const IOCTL_AFUNIX_STATS: u32 = ctl_code(
    FILE_DEVICE_AFUNIX,
    FUNCTION_BASE,
    METHOD_BUFFERED,
    FILE_ANY_ACCESS,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctl_code_matches_the_wdk_macro() {
        // FSCTL_SET_REPARSE_POINT = CTL_CODE(FILE_DEVICE_FILE_SYSTEM, 41, METHOD_BUFFERED,
        // FILE_SPECIAL_ACCESS) = 0x000900A4, a value every Windows header agrees on.
        assert_eq!(ctl_code(0x9, 41, METHOD_BUFFERED, 0), 0x0009_00A4);
        // IOCTL_DISK_GET_DRIVE_GEOMETRY = CTL_CODE(FILE_DEVICE_DISK, 0, METHOD_BUFFERED,
        // FILE_ANY_ACCESS) = 0x00070000.
        assert_eq!(
            ctl_code(0x7, 0, METHOD_BUFFERED, FILE_ANY_ACCESS),
            0x0007_0000
        );
    }

    #[test]
    fn stats_is_buffered_and_in_our_device_type() {
        assert_eq!(method_of(IOCTL_AFUNIX_STATS), METHOD_BUFFERED);
        assert_eq!(IOCTL_AFUNIX_STATS >> 16, FILE_DEVICE_AFUNIX);
        assert_eq!(IOCTL_AFUNIX_STATS, 0xAF05_2000);
    }
}
