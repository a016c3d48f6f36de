//! The device object's access control: who may open `\\.\AfUnixRs`.
//!
//! The driver builds its DACL from [`DEVICE_DACL`]; user mode reads the device's security
//! back and compares it with [`DEVICE_SDDL`]. A test below keeps the two in step.

/// `FILE_ALL_ACCESS`.
pub const FILE_ALL_ACCESS: u32 = 0x001F_01FF;
/// `FILE_GENERIC_READ`: read data, attributes and EAs, READ_CONTROL, SYNCHRONIZE.
pub const FILE_GENERIC_READ: u32 = 0x0012_0089;
/// `FILE_GENERIC_WRITE`: write and append data, write attributes and EAs, READ_CONTROL,
/// SYNCHRONIZE. It grants neither WRITE_DAC, WRITE_OWNER nor DELETE.
pub const FILE_GENERIC_WRITE: u32 = 0x0012_0116;

/// The security identifiers the device's DACL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WellKnownSid {
    /// S-1-5-18, `SY`.
    LocalSystem,
    /// S-1-5-32-544, `BA`.
    BuiltinAdministrators,
    /// S-1-1-0, `WD`.
    Everyone,
}

impl WellKnownSid {
    /// The identifier authority, as the six big-endian bytes of `SID_IDENTIFIER_AUTHORITY`.
    pub const fn authority(self) -> [u8; 6] {
        match self {
            WellKnownSid::LocalSystem | WellKnownSid::BuiltinAdministrators => [0, 0, 0, 0, 0, 5],
            WellKnownSid::Everyone => [0, 0, 0, 0, 0, 1],
        }
    }

    /// The sub-authorities, in order.
    pub const fn sub_authorities(self) -> &'static [u32] {
        match self {
            WellKnownSid::LocalSystem => &[18],
            WellKnownSid::BuiltinAdministrators => &[32, 544],
            WellKnownSid::Everyone => &[0],
        }
    }

    /// The SDDL abbreviation.
    pub const fn sddl(self) -> &'static str {
        match self {
            WellKnownSid::LocalSystem => "SY",
            WellKnownSid::BuiltinAdministrators => "BA",
            WellKnownSid::Everyone => "WD",
        }
    }
}

/// One access-allowed entry of the device's DACL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllowEntry {
    pub sid: WellKnownSid,
    pub access_mask: u32,
}

/// The device's DACL: full control for the system and administrators; read and write (all
/// that using a socket needs) for everyone else, who may not change the device's security.
pub const DEVICE_DACL: [AllowEntry; 3] = [
    AllowEntry {
        sid: WellKnownSid::LocalSystem,
        access_mask: FILE_ALL_ACCESS,
    },
    AllowEntry {
        sid: WellKnownSid::BuiltinAdministrators,
        access_mask: FILE_ALL_ACCESS,
    },
    AllowEntry {
        sid: WellKnownSid::Everyone,
        access_mask: FILE_GENERIC_READ | FILE_GENERIC_WRITE,
    },
];

/// [`DEVICE_DACL`] in SDDL, protected from inheritance (`P`). This is the specific-rights
/// form of `D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GRGW;;;WD)`: generic rights are mapped to file
/// rights when a DACL is set on an object, so the driver sets the mapped rights directly and
/// user mode can compare what it reads back.
pub const DEVICE_SDDL: &str = "D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FRFW;;;WD)";

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders an access mask the way SDDL spells the file rights we use.
    fn sddl_rights(mask: u32) -> &'static str {
        match mask {
            FILE_ALL_ACCESS => "FA",
            m if m == FILE_GENERIC_READ | FILE_GENERIC_WRITE => "FRFW",
            _ => "?",
        }
    }

    #[test]
    fn dacl_and_sddl_say_the_same() {
        let mut rendered = [0u8; 128];
        let mut len = 0;
        let mut push = |s: &str| {
            rendered[len..len + s.len()].copy_from_slice(s.as_bytes());
            len += s.len();
        };
        push("D:P");
        for entry in DEVICE_DACL {
            push("(A;;");
            push(sddl_rights(entry.access_mask));
            push(";;;");
            push(entry.sid.sddl());
            push(")");
        }
        assert_eq!(core::str::from_utf8(&rendered[..len]).unwrap(), DEVICE_SDDL);
    }

    #[test]
    fn everyone_cannot_change_security_or_delete() {
        const WRITE_DAC: u32 = 0x0004_0000;
        const WRITE_OWNER: u32 = 0x0008_0000;
        const DELETE: u32 = 0x0001_0000;
        let everyone = DEVICE_DACL
            .iter()
            .find(|e| e.sid == WellKnownSid::Everyone)
            .unwrap();
        assert_eq!(everyone.access_mask & (WRITE_DAC | WRITE_OWNER | DELETE), 0);
        const FILE_READ_DATA: u32 = 1;
        const FILE_WRITE_DATA: u32 = 2;
        assert_ne!(everyone.access_mask & FILE_READ_DATA, 0);
        assert_ne!(everyone.access_mask & FILE_WRITE_DATA, 0);
    }
}

/// `SE_DACL_PROTECTED` in a security descriptor's control word.
pub const SE_DACL_PROTECTED: u16 = 0x1000;
/// `SE_DACL_PRESENT`.
pub const SE_DACL_PRESENT: u16 = 0x0004;
/// `SE_SELF_RELATIVE`.
pub const SE_SELF_RELATIVE: u16 = 0x8000;

const ACL_HEADER_LEN: usize = 8;
const ACCESS_ALLOWED_ACE_TYPE: u8 = 0;

/// Writes the ACEs of [`DEVICE_DACL`] as the kernel stores them (ACCESS_ALLOWED_ACE with its
/// SID inline, no flags) into `out`, returning the length written, or `None` if `out` is too
/// small. This is an encoder independent of the kernel's `Rtl*` functions, so that the driver
/// can check what the kernel recorded against what we meant.
pub fn encode_device_aces(out: &mut [u8]) -> Option<usize> {
    let mut len = 0usize;
    for entry in DEVICE_DACL {
        let subs = entry.sid.sub_authorities();
        let sid_len = 8usize.checked_add(subs.len().checked_mul(4)?)?;
        let ace_len = 8usize.checked_add(sid_len)?;
        let ace = out.get_mut(len..len.checked_add(ace_len)?)?;
        let (header, rest) = ace.split_at_mut(4);
        header.copy_from_slice(&[ACCESS_ALLOWED_ACE_TYPE, 0, 0, 0]);
        let size = u16::try_from(ace_len).ok()?.to_le_bytes();
        header.get_mut(2..4)?.copy_from_slice(&size);
        let (mask, sid) = rest.split_at_mut(4);
        mask.copy_from_slice(&entry.access_mask.to_le_bytes());
        let (sid_header, sid_subs) = sid.split_at_mut(8);
        sid_header.copy_from_slice(&[1, u8::try_from(subs.len()).ok()?, 0, 0, 0, 0, 0, 0]);
        sid_header
            .get_mut(2..8)?
            .copy_from_slice(&entry.sid.authority());
        for (chunk, value) in sid_subs.chunks_exact_mut(4).zip(subs) {
            chunk.copy_from_slice(&value.to_le_bytes());
        }
        len = len.checked_add(ace_len)?;
    }
    Some(len)
}

/// What a self-relative security descriptor says about its DACL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DaclView<'a> {
    pub control: u16,
    pub ace_count: u16,
    /// The ACEs, `ace_count` of them, back to back.
    pub aces: &'a [u8],
}

/// Finds the DACL in a self-relative security descriptor (as `ZwQuerySecurityObject`
/// returns it), checking every offset and length. `None` for anything malformed or when the
/// descriptor carries no DACL.
pub fn dacl_of_self_relative(descriptor: &[u8]) -> Option<DaclView<'_>> {
    let control = u16::from_le_bytes([*descriptor.get(2)?, *descriptor.get(3)?]);
    if control & SE_SELF_RELATIVE == 0 || control & SE_DACL_PRESENT == 0 {
        return None;
    }
    let offset = u32::from_le_bytes(descriptor.get(16..20)?.try_into().ok()?) as usize;
    if offset == 0 {
        return None;
    }
    let header = descriptor.get(offset..offset.checked_add(ACL_HEADER_LEN)?)?;
    let acl_size = usize::from(u16::from_le_bytes([*header.get(2)?, *header.get(3)?]));
    let ace_count = u16::from_le_bytes([*header.get(4)?, *header.get(5)?]);
    let acl = descriptor.get(offset..offset.checked_add(acl_size)?)?;
    // Walk the ACEs to find where the last one ends.
    let mut end = ACL_HEADER_LEN;
    for _ in 0..ace_count {
        let size = usize::from(u16::from_le_bytes([
            *acl.get(end.checked_add(2)?)?,
            *acl.get(end.checked_add(3)?)?,
        ]));
        if size < 4 {
            return None;
        }
        end = end.checked_add(size)?;
        if end > acl.len() {
            return None;
        }
    }
    Some(DaclView {
        control,
        ace_count,
        aces: acl.get(ACL_HEADER_LEN..end)?,
    })
}

/// Whether `descriptor` (self-relative) carries exactly [`DEVICE_DACL`], protected.
pub fn is_device_dacl(descriptor: &[u8]) -> bool {
    let mut expected = [0u8; 128];
    let (Some(len), Some(view)) = (
        encode_device_aces(&mut expected),
        dacl_of_self_relative(descriptor),
    ) else {
        return false;
    };
    view.control & SE_DACL_PROTECTED != 0
        && usize::from(view.ace_count) == DEVICE_DACL.len()
        && expected.get(..len) == Some(view.aces)
}

#[cfg(test)]
mod encoding_tests {
    use super::*;

    /// A self-relative descriptor with only a DACL, laid out by hand as Windows documents it.
    fn descriptor_with(aces: &[u8], count: u16, control: u16) -> [u8; 160] {
        let mut sd = [0u8; 160];
        sd[0] = 1;
        sd[2..4].copy_from_slice(&control.to_le_bytes());
        sd[16..20].copy_from_slice(&20u32.to_le_bytes());
        let acl_size = (8 + aces.len()) as u16;
        sd[20] = 2;
        sd[22..24].copy_from_slice(&acl_size.to_le_bytes());
        sd[24..26].copy_from_slice(&count.to_le_bytes());
        sd[28..28 + aces.len()].copy_from_slice(aces);
        sd
    }

    #[test]
    fn encodes_the_well_known_sids_as_windows_does() {
        let mut out = [0u8; 128];
        let len = encode_device_aces(&mut out).unwrap();
        assert_eq!(len, 20 + 24 + 20);
        // ACE 1: allowed, size 20, FILE_ALL_ACCESS, S-1-5-18.
        assert_eq!(
            out[..20],
            [
                0, 0, 20, 0, 0xff, 0x01, 0x1f, 0x00, 1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0
            ]
        );
        // ACE 2's SID: S-1-5-32-544.
        assert_eq!(
            out[28..44],
            [1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x20, 0x02, 0, 0]
        );
        // ACE 3: S-1-1-0 with read and write.
        assert_eq!(out[44..52], [0, 0, 20, 0, 0x9f, 0x01, 0x12, 0x00]);
        assert_eq!(out[52..64], [1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
        assert_eq!(encode_device_aces(&mut [0u8; 63]), None);
    }

    #[test]
    fn recognises_the_device_dacl_and_nothing_else() {
        let mut aces = [0u8; 128];
        let len = encode_device_aces(&mut aces).unwrap();
        let control = SE_SELF_RELATIVE | SE_DACL_PRESENT | SE_DACL_PROTECTED;
        assert!(is_device_dacl(&descriptor_with(&aces[..len], 3, control)));
        // Not protected: inherited ACEs could widen it.
        assert!(!is_device_dacl(&descriptor_with(
            &aces[..len],
            3,
            control & !SE_DACL_PROTECTED
        )));
        // Everyone granted full access instead of read/write.
        let mut wider = aces;
        wider[48..52].copy_from_slice(&FILE_ALL_ACCESS.to_le_bytes());
        assert!(!is_device_dacl(&descriptor_with(&wider[..len], 3, control)));
        // One ACE missing.
        assert!(!is_device_dacl(&descriptor_with(&aces[..44], 2, control)));
        // No DACL at all (what Wine returns for a device file handle).
        assert!(!is_device_dacl(&[
            1, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
        ]));
    }

    #[test]
    fn malformed_descriptors_are_refused_without_panicking() {
        let mut aces = [0u8; 128];
        let len = encode_device_aces(&mut aces).unwrap();
        let control = SE_SELF_RELATIVE | SE_DACL_PRESENT | SE_DACL_PROTECTED;
        let good = descriptor_with(&aces[..len], 3, control);
        for cut in 0..good.len() {
            let _ = dacl_of_self_relative(&good[..cut]);
        }
        let mut bad_offset = good;
        bad_offset[16..20].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        assert_eq!(dacl_of_self_relative(&bad_offset), None);
        let mut too_many = good;
        too_many[24] = 200;
        assert_eq!(dacl_of_self_relative(&too_many), None);
        let mut zero_size_ace = good;
        zero_size_ace[30] = 0;
        assert_eq!(dacl_of_self_relative(&zero_size_ace), None);
    }
}
