//! Identifiers of an afunix-rs socket file on disk: its reparse tag and GUID.
//!
//! The payload format lives in the `reparse` crate; these two values are shared with the
//! driver and user mode, so they live here, once.

/// Our reparse tag.
///
/// A tag's low 16 bits are its value; bits 16-27 must be zero, and the high bits are flags:
/// M (bit 31, Microsoft-owned), R (30, reserved), N (29, name surrogate), D (28, directory).
/// A non-Microsoft tag has M clear and must be set with a `REPARSE_GUID_DATA_BUFFER` (tag plus
/// GUID). We set no flag: the file is not a name surrogate (it points nowhere else), so
/// `CreateFile` without `FILE_OPEN_REPARSE_POINT` fails (no filter handles the tag), much as
/// opening a socket file on Linux fails with ENXIO, while `DeleteFile`, `dir` and the driver
/// (which opens with `FILE_OPEN_REPARSE_POINT`) work.
///
/// 0xAF05 is our own pick, not a value Microsoft assigned; before a release we should ask
/// Microsoft for an assigned third-party tag and change it here (the only place it is written).
pub const IO_REPARSE_TAG_AFUNIXRS: u32 = 0x0000_AF05;

/// Microsoft's own AF_UNIX tag, `IO_REPARSE_TAG_AF_UNIX`, which we deliberately do not use:
/// see the `reparse` crate's documentation.
pub const IO_REPARSE_TAG_AF_UNIX: u32 = 0x8000_0023;

/// A GUID in its Windows memory layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Guid {
    pub data1: u32,
    pub data2: u16,
    pub data3: u16,
    pub data4: [u8; 8],
}

impl Guid {
    /// The 16 bytes as Windows stores a GUID (first three fields little-endian).
    pub const fn to_bytes(&self) -> [u8; 16] {
        let a = self.data1.to_le_bytes();
        let b = self.data2.to_le_bytes();
        let c = self.data3.to_le_bytes();
        let d = self.data4;
        [
            a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d[0], d[1], d[2], d[3], d[4], d[5],
            d[6], d[7],
        ]
    }
}

/// The GUID in our reparse buffers: {c0964d1a-fdd7-4d40-b9c6-6f242cf56a18}.
pub const AFUNIXRS_REPARSE_GUID: Guid = Guid {
    data1: 0xc096_4d1a,
    data2: 0xfdd7,
    data3: 0x4d40,
    data4: [0xb9, 0xc6, 0x6f, 0x24, 0x2c, 0xf5, 0x6a, 0x18],
};

/// `MAXIMUM_REPARSE_DATA_BUFFER_SIZE`: no reparse buffer is larger.
pub const MAXIMUM_REPARSE_DATA_BUFFER_SIZE: usize = 16 * 1024;

/// `IsReparseTagValid`: only the value and flag bits may be set, and the value must be above
/// the reserved range.
pub const fn is_valid_reparse_tag(tag: u32) -> bool {
    const IO_REPARSE_TAG_VALID_VALUES: u32 = 0xF000_FFFF;
    const IO_REPARSE_TAG_RESERVED_RANGE: u32 = 2;
    tag & !IO_REPARSE_TAG_VALID_VALUES == 0 && tag > IO_REPARSE_TAG_RESERVED_RANGE
}

/// `IsReparseTagMicrosoft`.
pub const fn is_microsoft_tag(tag: u32) -> bool {
    tag & 0x8000_0000 != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_tag_is_a_valid_non_microsoft_tag_without_flags() {
        assert!(is_valid_reparse_tag(IO_REPARSE_TAG_AFUNIXRS));
        assert!(!is_microsoft_tag(IO_REPARSE_TAG_AFUNIXRS));
        assert_eq!(IO_REPARSE_TAG_AFUNIXRS & 0xF000_0000, 0);
        assert_ne!(IO_REPARSE_TAG_AFUNIXRS, IO_REPARSE_TAG_AF_UNIX);
        assert!(is_microsoft_tag(IO_REPARSE_TAG_AF_UNIX));
        assert!(!is_valid_reparse_tag(0x0001_0000 | IO_REPARSE_TAG_AFUNIXRS));
        assert!(!is_valid_reparse_tag(1));
    }

    #[test]
    fn guid_bytes_are_in_windows_order() {
        assert_eq!(
            AFUNIXRS_REPARSE_GUID.to_bytes(),
            [
                0x1a, 0x4d, 0x96, 0xc0, 0xd7, 0xfd, 0x40, 0x4d, 0xb9, 0xc6, 0x6f, 0x24, 0x2c, 0xf5,
                0x6a, 0x18
            ]
        );
    }
}
