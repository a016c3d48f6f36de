//! The device object's access control: who may open `\\.\AfUnixRs`, and who may read the
//! driver's STATS.
//!
//! The driver builds its DACL from [`DEVICE_DACL`] and its mandatory label from
//! [`DEVICE_LABEL`]; user mode reads the device's security back and compares it with
//! [`DEVICE_SDDL`]. Tests below keep the three in step.
//!
//! # Who may open the device
//!
//! - **Medium integrity and above** (every ordinary program): read and write through the
//!   DACL: full control for LocalSystem and administrators, read and write for Everyone.
//! - **Below Medium** (Low and Untrusted integrity: browser renderers, Protected Mode and
//!   other sandboxes): nothing. The device carries the mandatory label
//!   `S:(ML;;NWNRNX;;;ME)`: Medium, with No-Write-Up, No-Read-Up and No-Execute-Up. When a
//!   token's integrity level is below an object's label, Windows' access check takes the
//!   rights the label's policy names out of what the DACL could grant, before the DACL is
//!   read: No-Read-Up removes the generic read rights (FILE_READ_DATA among them), No-Write-Up
//!   the generic write rights (FILE_WRITE_DATA), No-Execute-Up the execute rights. A socket
//!   needs read and write data, so a Low-IL open of `\\.\AfUnixRs` fails with access denied
//!   whatever the DACL says. Without a label, an object counts as Medium with No-Write-Up
//!   only, which would still let a Low-IL process open the device for reading; hence the
//!   explicit label with all three bits. The device is created with
//!   FILE_DEVICE_SECURE_OPEN, so the I/O manager checks every open against this descriptor.
//! - **AppContainers**: nothing. An AppContainer token passes an access check only if the
//!   DACL also grants the access to its package SID, to ALL APPLICATION PACKAGES
//!   (S-1-15-2-1) or to a capability it holds; Everyone does not count for it. The DACL names
//!   none of these (a test checks that no entry is an S-1-15 SID). AppContainers also run at
//!   Low integrity, so the label refuses them too.
//! - **The supported way in for a sandbox** is a broker: a process at Medium or above opens
//!   the socket (or connects it) and hands the sandboxed process the handle with
//!   DuplicateHandle. Sockets are real handles; a handle already open is not checked again.
//!
//! Wine (the only kernel these tests run on) does not enforce integrity levels: every token
//! is High under Wine 8. So the refusal of a Low-IL open is argued above, not shown; what
//! the tests show is that the label is built as documented (host tests, byte for byte) and
//! that the driver sets it and reads it back equal at load (under Wine, its log line).
//! Measured under Wine 8: `ZwSetSecurityObject(LABEL_SECURITY_INFORMATION)` stores the label
//! and `ZwQuerySecurityObject` returns it; a second call setting only the label rebuilt the
//! control word without SE_DACL_PROTECTED (so the driver sets DACL and label in one call);
//! Wine's SDDL renderer leaves the label out and spells FRFW as `0x12019f`, and a device
//! handle shows no descriptor at all, so user mode can compare nothing there.
//!
//! # Who may read STATS
//!
//! STATS shows every socket's traffic (sockets, buffered bytes, pending requests), so only
//! an administrator may read it: the token the caller acts with (its thread's impersonation
//! token, else its process's) must be LocalSystem or hold BUILTIN\Administrators enabled
//! and not deny-only (see [`token_groups_hold_enabled`]). An administrator's filtered token
//! under UAC has the group deny-only, so an unelevated administrator is refused too.
//! Everyone else gets EACCES.

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
    /// S-1-16-8192, `ME`: the Medium mandatory integrity level.
    MediumMandatoryLevel,
}

impl WellKnownSid {
    /// The identifier authority, as the six big-endian bytes of `SID_IDENTIFIER_AUTHORITY`.
    pub const fn authority(self) -> [u8; 6] {
        match self {
            WellKnownSid::LocalSystem | WellKnownSid::BuiltinAdministrators => [0, 0, 0, 0, 0, 5],
            WellKnownSid::Everyone => [0, 0, 0, 0, 0, 1],
            WellKnownSid::MediumMandatoryLevel => [0, 0, 0, 0, 0, 16],
        }
    }

    /// The sub-authorities, in order.
    pub const fn sub_authorities(self) -> &'static [u32] {
        match self {
            WellKnownSid::LocalSystem => &[18],
            WellKnownSid::BuiltinAdministrators => &[32, 544],
            WellKnownSid::Everyone => &[0],
            WellKnownSid::MediumMandatoryLevel => &[0x2000],
        }
    }

    /// The SDDL abbreviation.
    pub const fn sddl(self) -> &'static str {
        match self {
            WellKnownSid::LocalSystem => "SY",
            WellKnownSid::BuiltinAdministrators => "BA",
            WellKnownSid::Everyone => "WD",
            WellKnownSid::MediumMandatoryLevel => "ME",
        }
    }

    /// The SID's length in bytes: 8, and 4 per sub-authority.
    pub const fn encoded_len(self) -> usize {
        match self {
            WellKnownSid::BuiltinAdministrators => 16,
            WellKnownSid::LocalSystem
            | WellKnownSid::Everyone
            | WellKnownSid::MediumMandatoryLevel => 12,
        }
    }

    /// Writes the SID in its binary form at the start of `out`; `None` if `out` is too short.
    pub fn encode(self, out: &mut [u8]) -> Option<usize> {
        let subs = self.sub_authorities();
        let sid = out.get_mut(..self.encoded_len())?;
        let (header, sid_subs) = sid.split_at_mut(8);
        header.copy_from_slice(&[1, u8::try_from(subs.len()).ok()?, 0, 0, 0, 0, 0, 0]);
        header.get_mut(2..8)?.copy_from_slice(&self.authority());
        for (chunk, value) in sid_subs.chunks_exact_mut(4).zip(subs) {
            chunk.copy_from_slice(&value.to_le_bytes());
        }
        Some(self.encoded_len())
    }

    /// Whether `sid` (a binary SID, exactly its length) is this one.
    pub fn matches(self, sid: &[u8]) -> bool {
        let mut mine = [0u8; 16];
        match self.encode(&mut mine) {
            Some(len) => mine.get(..len) == Some(sid),
            None => false,
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

/// `SYSTEM_MANDATORY_LABEL_NO_WRITE_UP`.
pub const LABEL_NO_WRITE_UP: u32 = 0x1;
/// `SYSTEM_MANDATORY_LABEL_NO_READ_UP`.
pub const LABEL_NO_READ_UP: u32 = 0x2;
/// `SYSTEM_MANDATORY_LABEL_NO_EXECUTE_UP`.
pub const LABEL_NO_EXECUTE_UP: u32 = 0x4;

/// The device's mandatory label (module comment): its level and its policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LabelEntry {
    pub level: WellKnownSid,
    pub policy: u32,
}

/// Medium, with No-Write-Up, No-Read-Up and No-Execute-Up: nothing below Medium gets in.
pub const DEVICE_LABEL: LabelEntry = LabelEntry {
    level: WellKnownSid::MediumMandatoryLevel,
    policy: LABEL_NO_WRITE_UP | LABEL_NO_READ_UP | LABEL_NO_EXECUTE_UP,
};

/// [`DEVICE_DACL`] in SDDL, protected from inheritance (`P`). This is the specific-rights
/// form of `D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GRGW;;;WD)`: generic rights are mapped to file
/// rights when a DACL is set on an object, so the driver sets the mapped rights directly and
/// user mode can compare what it reads back.
pub const DEVICE_DACL_SDDL: &str = "D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FRFW;;;WD)";

/// [`DEVICE_DACL`] in the subset of SDDL that `IoCreateDeviceSecure` reads (and so KMDF's
/// `WdfControlDeviceInitAllocate`): `D:P` and allow ACEs whose rights are generic codes or a
/// hex mask, never the file-rights codes `FA`, `FR`, `FW`. The same ACEs as
/// [`DEVICE_DACL_SDDL`].
pub const DEVICE_DACL_SDDL_DEVOBJ: &str =
    "D:P(A;;0x1f01ff;;;SY)(A;;0x1f01ff;;;BA)(A;;0x12019f;;;WD)";

/// [`DEVICE_DACL_SDDL_DEVOBJ`] in UTF-16, for a counted string.
pub const DEVICE_DACL_SDDL_DEVOBJ_UTF16: [u16; DEVICE_DACL_SDDL_DEVOBJ.len()] =
    crate::names::ascii_to_utf16(DEVICE_DACL_SDDL_DEVOBJ);

/// [`DEVICE_LABEL`] in SDDL: a SACL holding one mandatory-label ACE.
pub const DEVICE_LABEL_SDDL: &str = "S:(ML;;NWNRNX;;;ME)";

/// The device's whole security as SDDL: [`DEVICE_DACL_SDDL`] then [`DEVICE_LABEL_SDDL`], as
/// Windows renders DACL and label together.
pub const DEVICE_SDDL: &str = "D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FRFW;;;WD)S:(ML;;NWNRNX;;;ME)";

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
        assert_eq!(
            core::str::from_utf8(&rendered[..len]).unwrap(),
            DEVICE_DACL_SDDL
        );
    }

    /// The device-object form names the same SIDs with the same masks, in hex.
    #[test]
    fn dacl_and_device_object_sddl_say_the_same() {
        let body = DEVICE_DACL_SDDL_DEVOBJ.strip_prefix("D:P").unwrap();
        let aces = body
            .strip_prefix('(')
            .and_then(|b| b.strip_suffix(')'))
            .unwrap()
            .split(")(");
        assert_eq!(aces.clone().count(), DEVICE_DACL.len());
        for (ace, entry) in aces.zip(DEVICE_DACL) {
            let mut fields = ace.split(';');
            let mut next = || fields.next().unwrap();
            let (kind, _, mask, _, _, sid) = (next(), next(), next(), next(), next(), next());
            assert_eq!(kind, "A");
            let mask = u32::from_str_radix(mask.strip_prefix("0x").unwrap(), 16).unwrap();
            assert_eq!(mask, entry.access_mask, "{ace}");
            assert_eq!(sid, entry.sid.sddl(), "{ace}");
            assert!(fields.next().is_none(), "{ace}");
        }
    }

    #[test]
    fn label_and_sddl_say_the_same() {
        let mut policy = [0u8; 8];
        let mut len = 0;
        for (bit, name) in [
            (LABEL_NO_WRITE_UP, "NW"),
            (LABEL_NO_READ_UP, "NR"),
            (LABEL_NO_EXECUTE_UP, "NX"),
        ] {
            if DEVICE_LABEL.policy & bit != 0 {
                policy[len..len + 2].copy_from_slice(name.as_bytes());
                len += 2;
            }
        }
        let policy = core::str::from_utf8(&policy[..len]).unwrap();
        let level = DEVICE_LABEL.level.sddl();
        let rendered = ["S:(ML;;", policy, ";;;", level, ")"].concat();
        assert_eq!(rendered, DEVICE_LABEL_SDDL);
        assert_eq!([DEVICE_DACL_SDDL, DEVICE_LABEL_SDDL].concat(), DEVICE_SDDL);
    }

    #[test]
    fn nothing_below_medium_integrity_gets_any_right() {
        // Medium is 0x2000; Low (0x1000) and Untrusted (0) are below it.
        assert_eq!(DEVICE_LABEL.level.sub_authorities(), &[0x2000]);
        assert_eq!(DEVICE_LABEL.level.authority(), [0, 0, 0, 0, 0, 16]);
        // Reading, writing and executing up are all refused: a socket needs read and write.
        assert_eq!(DEVICE_LABEL.policy, 7);
    }

    #[test]
    fn app_containers_are_granted_nothing() {
        // An AppContainer's access check needs an ACE for its package SID, ALL APPLICATION
        // PACKAGES or a capability: all S-1-15-... SIDs. The DACL has none.
        const SECURITY_APP_PACKAGE_AUTHORITY: [u8; 6] = [0, 0, 0, 0, 0, 15];
        for entry in DEVICE_DACL {
            assert_ne!(entry.sid.authority(), SECURITY_APP_PACKAGE_AUTHORITY);
        }
        assert!(!DEVICE_DACL_SDDL.contains("AC"));
        assert!(!DEVICE_DACL_SDDL.contains("S-1-15"));
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

/// `SE_SACL_PRESENT`.
pub const SE_SACL_PRESENT: u16 = 0x0010;

const ACL_HEADER_LEN: usize = 8;
const ACCESS_ALLOWED_ACE_TYPE: u8 = 0;
/// `SYSTEM_MANDATORY_LABEL_ACE_TYPE`.
pub const SYSTEM_MANDATORY_LABEL_ACE_TYPE: u8 = 0x11;
/// `ACL_REVISION`.
pub const ACL_REVISION: u8 = 2;

/// Writes one ACE (header, mask, SID inline, no flags) at the start of `out`.
fn encode_ace(out: &mut [u8], ace_type: u8, mask: u32, sid: WellKnownSid) -> Option<usize> {
    let ace_len = 8usize.checked_add(sid.encoded_len())?;
    let ace = out.get_mut(..ace_len)?;
    let (header, rest) = ace.split_at_mut(4);
    header.copy_from_slice(&[ace_type, 0, 0, 0]);
    header
        .get_mut(2..4)?
        .copy_from_slice(&u16::try_from(ace_len).ok()?.to_le_bytes());
    let (mask_bytes, sid_bytes) = rest.split_at_mut(4);
    mask_bytes.copy_from_slice(&mask.to_le_bytes());
    sid.encode(sid_bytes)?;
    Some(ace_len)
}

/// Writes the ACEs of [`DEVICE_DACL`] as the kernel stores them (ACCESS_ALLOWED_ACE with its
/// SID inline, no flags) into `out`, returning the length written, or `None` if `out` is too
/// small. This is an encoder independent of the kernel's `Rtl*` functions, so that the driver
/// can check what the kernel recorded against what we meant.
pub fn encode_device_aces(out: &mut [u8]) -> Option<usize> {
    let mut len = 0usize;
    for entry in DEVICE_DACL {
        let written = encode_ace(
            out.get_mut(len..)?,
            ACCESS_ALLOWED_ACE_TYPE,
            entry.access_mask,
            entry.sid,
        )?;
        len = len.checked_add(written)?;
    }
    Some(len)
}

/// Writes [`DEVICE_LABEL`] as a SYSTEM_MANDATORY_LABEL_ACE (type 0x11, no flags, the policy
/// as its mask, the level's SID inline): 20 bytes. The driver appends these bytes to its
/// SACL with `RtlAddAce` and compares what it reads back with them.
pub fn encode_device_label_ace(out: &mut [u8]) -> Option<usize> {
    encode_ace(
        out,
        SYSTEM_MANDATORY_LABEL_ACE_TYPE,
        DEVICE_LABEL.policy,
        DEVICE_LABEL.level,
    )
}

/// Writes the device's whole SACL: an ACL header (revision 2, its size, one ACE) and the
/// label ACE of [`encode_device_label_ace`]: 28 bytes.
pub fn encode_device_sacl(out: &mut [u8]) -> Option<usize> {
    let ace_len = encode_device_label_ace(out.get_mut(ACL_HEADER_LEN..)?)?;
    let size = ACL_HEADER_LEN.checked_add(ace_len)?;
    let header = out.get_mut(..ACL_HEADER_LEN)?;
    header.copy_from_slice(&[ACL_REVISION, 0, 0, 0, 1, 0, 0, 0]);
    header
        .get_mut(2..4)?
        .copy_from_slice(&u16::try_from(size).ok()?.to_le_bytes());
    Some(size)
}

/// What a self-relative security descriptor says about one of its ACLs (DACL or SACL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AclView<'a> {
    pub control: u16,
    pub ace_count: u16,
    /// The ACEs, `ace_count` of them, back to back.
    pub aces: &'a [u8],
}

/// Finds the DACL in a self-relative security descriptor (as `ZwQuerySecurityObject`
/// returns it), checking every offset and length. `None` for anything malformed or when the
/// descriptor carries no DACL.
pub fn dacl_of_self_relative(descriptor: &[u8]) -> Option<AclView<'_>> {
    acl_of_self_relative(descriptor, SE_DACL_PRESENT, 16)
}

/// Finds the SACL (where a mandatory label lives) in a self-relative security descriptor,
/// as [`dacl_of_self_relative`] finds the DACL.
pub fn sacl_of_self_relative(descriptor: &[u8]) -> Option<AclView<'_>> {
    acl_of_self_relative(descriptor, SE_SACL_PRESENT, 12)
}

/// The ACL whose presence `present` flags and whose offset is the u32 at `offset_at`.
fn acl_of_self_relative(descriptor: &[u8], present: u16, offset_at: usize) -> Option<AclView<'_>> {
    let control = u16::from_le_bytes([*descriptor.get(2)?, *descriptor.get(3)?]);
    if control & SE_SELF_RELATIVE == 0 || control & present == 0 {
        return None;
    }
    let offset_bytes = descriptor.get(offset_at..offset_at.checked_add(4)?)?;
    let offset = u32::from_le_bytes(offset_bytes.try_into().ok()?) as usize;
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
    Some(AclView {
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

/// Whether `descriptor` (self-relative) carries exactly [`DEVICE_LABEL`]: a SACL whose one
/// ACE is the label ACE.
pub fn is_device_label(descriptor: &[u8]) -> bool {
    let mut expected = [0u8; 32];
    let (Some(len), Some(view)) = (
        encode_device_label_ace(&mut expected),
        sacl_of_self_relative(descriptor),
    ) else {
        return false;
    };
    view.ace_count == 1 && expected.get(..len) == Some(view.aces)
}

/// `SE_GROUP_ENABLED`.
pub const SE_GROUP_ENABLED: u32 = 0x4;
/// `SE_GROUP_USE_FOR_DENY_ONLY`: the group only ever denies (a restricted or filtered token).
pub const SE_GROUP_USE_FOR_DENY_ONLY: u32 = 0x10;

/// The x64 layout of TOKEN_GROUPS: a u32 count, padding to 8, then SID_AND_ATTRIBUTES of 16
/// bytes each (a SID pointer, u32 attributes, padding).
const GROUPS_FIRST: usize = 8;
const GROUP_ENTRY: usize = 16;

/// Whether a TOKEN_GROUPS (x64) holds `sid` enabled and not deny-only: `buffer` is what
/// `ZwQueryInformationToken(TokenGroups)` wrote, and `base` the address of its first byte,
/// since each entry's SID is a pointer into the buffer. `None` if the buffer is malformed
/// (a pointer outside it, a count beyond it): the caller then refuses. A group listed twice
/// counts only if every listing is enabled and none deny-only.
pub fn token_groups_hold_enabled(buffer: &[u8], base: usize, sid: WellKnownSid) -> Option<bool> {
    let count = u32::from_le_bytes(buffer.get(..4)?.try_into().ok()?);
    let count = usize::try_from(count).ok()?;
    let table_len = count.checked_mul(GROUP_ENTRY)?;
    let table = buffer.get(GROUPS_FIRST..GROUPS_FIRST.checked_add(table_len)?)?;
    let mut found = false;
    for entry in table.chunks_exact(GROUP_ENTRY) {
        let pointer = usize::try_from(u64::from_le_bytes(entry.get(..8)?.try_into().ok()?)).ok()?;
        let attributes = u32::from_le_bytes(entry.get(8..12)?.try_into().ok()?);
        let at = pointer.checked_sub(base)?;
        let head = buffer.get(at..at.checked_add(8)?)?;
        let subs = usize::from(*head.get(1)?);
        let len = 8usize.checked_add(subs.checked_mul(4)?)?;
        let group = buffer.get(at..at.checked_add(len)?)?;
        if sid.matches(group) {
            if attributes & SE_GROUP_ENABLED == 0 || attributes & SE_GROUP_USE_FOR_DENY_ONLY != 0 {
                return Some(false);
            }
            found = true;
        }
    }
    Some(found)
}

/// Whether a caller may read STATS (module comment): its token's user is LocalSystem, or its
/// groups ([`token_groups_hold_enabled`] on BUILTIN\Administrators) say yes. `user` is the
/// token's user SID, `administrators` that answer (`None` when the groups could not be read).
pub fn may_read_stats(user: &[u8], administrators: Option<bool>) -> bool {
    WellKnownSid::LocalSystem.matches(user) || administrators == Some(true)
}

#[cfg(test)]
mod encoding_tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

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

    #[test]
    fn the_label_ace_is_laid_out_as_windows_documents_it() {
        let mut out = [0u8; 32];
        assert_eq!(encode_device_label_ace(&mut out), Some(20));
        assert_eq!(
            out[..20],
            [
                // ACE_HEADER: SYSTEM_MANDATORY_LABEL_ACE_TYPE, no flags, size 20.
                0x11, 0, 20, 0, //
                // Mask: NO_WRITE_UP | NO_READ_UP | NO_EXECUTE_UP.
                7, 0, 0, 0, //
                // SID S-1-16-8192: revision 1, one sub-authority, authority 16, RID 0x2000.
                1, 1, 0, 0, 0, 0, 0, 16, 0x00, 0x20, 0, 0,
            ]
        );
        assert_eq!(encode_device_label_ace(&mut [0u8; 19]), None);
    }

    #[test]
    fn the_sacl_holds_the_label_ace_alone() {
        let mut out = [0u8; 32];
        assert_eq!(encode_device_sacl(&mut out), Some(28));
        // ACL header: revision 2, Sbz1, AclSize 28, AceCount 1, Sbz2.
        assert_eq!(out[..8], [2, 0, 28, 0, 1, 0, 0, 0]);
        let mut ace = [0u8; 20];
        encode_device_label_ace(&mut ace).unwrap();
        assert_eq!(out[8..28], ace);
        assert_eq!(encode_device_sacl(&mut [0u8; 27]), None);
    }

    /// A self-relative descriptor with a SACL at 20 and a DACL after it, as
    /// ZwQuerySecurityObject(DACL | LABEL) returns it.
    fn descriptor_with_both(sacl: &[u8], dacl_aces: &[u8], dacl_count: u16) -> Vec<u8> {
        let control = SE_SELF_RELATIVE | SE_DACL_PRESENT | SE_DACL_PROTECTED | SE_SACL_PRESENT;
        let mut sd = vec![1u8, 0];
        sd.extend_from_slice(&control.to_le_bytes());
        let dacl_at = 20 + sacl.len();
        for offset in [0u32, 0, 20, dacl_at as u32] {
            sd.extend_from_slice(&offset.to_le_bytes());
        }
        sd.extend_from_slice(sacl);
        sd.extend_from_slice(&[2, 0]);
        sd.extend_from_slice(&((8 + dacl_aces.len()) as u16).to_le_bytes());
        sd.extend_from_slice(&dacl_count.to_le_bytes());
        sd.extend_from_slice(&[0, 0]);
        sd.extend_from_slice(dacl_aces);
        sd
    }

    #[test]
    fn recognises_the_device_label_and_nothing_else() {
        let mut sacl = [0u8; 28];
        encode_device_sacl(&mut sacl).unwrap();
        let mut aces = [0u8; 128];
        let len = encode_device_aces(&mut aces).unwrap();
        let both = descriptor_with_both(&sacl, &aces[..len], 3);
        assert!(is_device_label(&both));
        assert!(is_device_dacl(&both));
        // Low instead of Medium: a Low-IL process would get in.
        let mut low = sacl;
        low[8 + 16..8 + 20].copy_from_slice(&0x1000u32.to_le_bytes());
        assert!(!is_device_label(&descriptor_with_both(
            &low,
            &aces[..len],
            3
        )));
        // No-Write-Up alone (the default for an unlabelled object): Low could still read.
        let mut write_only = sacl;
        write_only[12] = 1;
        assert!(!is_device_label(&descriptor_with_both(
            &write_only,
            &aces[..len],
            3
        )));
        // An empty SACL, and no SACL at all.
        let empty = [2u8, 0, 8, 0, 0, 0, 0, 0];
        assert!(!is_device_label(&descriptor_with_both(
            &empty,
            &aces[..len],
            3
        )));
        let mut absent = both.clone();
        absent[2] &= !(SE_SACL_PRESENT as u8);
        assert!(!is_device_label(&absent));
        // The DACL-only descriptor of the older tests has no label.
        let control = SE_SELF_RELATIVE | SE_DACL_PRESENT | SE_DACL_PROTECTED;
        assert!(!is_device_label(&descriptor_with(&aces[..len], 3, control)));
        for cut in 0..both.len() {
            assert!(!is_device_label(&both[..cut]) || cut >= 48);
        }
    }

    /// A TOKEN_GROUPS as the kernel writes it at address `base`: the table, then the SIDs.
    fn token_groups(base: usize, groups: &[(&[u8], u32)]) -> Vec<u8> {
        let mut out = vec![0u8; 8 + 16 * groups.len()];
        out[..4].copy_from_slice(&(groups.len() as u32).to_le_bytes());
        for (i, (sid, attributes)) in groups.iter().enumerate() {
            let at = base + out.len();
            out[8 + 16 * i..16 + 16 * i].copy_from_slice(&(at as u64).to_le_bytes());
            out[16 + 16 * i..20 + 16 * i].copy_from_slice(&attributes.to_le_bytes());
            out.extend_from_slice(sid);
        }
        out
    }

    const ADMINISTRATORS: &[u8] = &[1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x20, 0x02, 0, 0];
    const USERS: &[u8] = &[1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x21, 0x02, 0, 0];
    const EVERYONE: &[u8] = &[1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0];
    const LOCAL_SYSTEM: &[u8] = &[1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0];
    /// SE_GROUP_MANDATORY | SE_GROUP_ENABLED_BY_DEFAULT | SE_GROUP_ENABLED.
    const ENABLED: u32 = 0x7;
    const BASE: usize = 0xFFFF_8000_1234_0000;

    fn administrators_enabled(groups: &[(&[u8], u32)]) -> Option<bool> {
        let buffer = token_groups(BASE, groups);
        token_groups_hold_enabled(&buffer, BASE, WellKnownSid::BuiltinAdministrators)
    }

    #[test]
    fn an_enabled_administrators_group_grants_stats() {
        let groups = [
            (EVERYONE, ENABLED),
            (ADMINISTRATORS, ENABLED),
            (USERS, ENABLED),
        ];
        assert_eq!(administrators_enabled(&groups), Some(true));
        assert!(may_read_stats(USERS, administrators_enabled(&groups)));
    }

    #[test]
    fn deny_only_or_disabled_administrators_do_not() {
        // CreateRestrictedToken's SidsToDisable, and UAC's filtered token, make it deny-only.
        let deny_only = [
            (EVERYONE, ENABLED),
            (ADMINISTRATORS, SE_GROUP_USE_FOR_DENY_ONLY),
        ];
        assert_eq!(administrators_enabled(&deny_only), Some(false));
        let both_bits = [(ADMINISTRATORS, ENABLED | SE_GROUP_USE_FOR_DENY_ONLY)];
        assert_eq!(administrators_enabled(&both_bits), Some(false));
        let disabled = [(ADMINISTRATORS, 0x1)];
        assert_eq!(administrators_enabled(&disabled), Some(false));
        let twice = [
            (ADMINISTRATORS, ENABLED),
            (ADMINISTRATORS, SE_GROUP_USE_FOR_DENY_ONLY),
        ];
        assert_eq!(administrators_enabled(&twice), Some(false));
        let absent = [(EVERYONE, ENABLED), (USERS, ENABLED)];
        assert_eq!(administrators_enabled(&absent), Some(false));
        assert_eq!(administrators_enabled(&[]), Some(false));
        assert!(!may_read_stats(USERS, administrators_enabled(&deny_only)));
        assert!(!may_read_stats(USERS, None));
    }

    #[test]
    fn local_system_may_read_stats_whatever_its_groups() {
        assert!(may_read_stats(LOCAL_SYSTEM, Some(false)));
        assert!(may_read_stats(LOCAL_SYSTEM, None));
        // A longer SID that starts like LocalSystem's is not it.
        assert!(!may_read_stats(
            &[1, 2, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0, 0, 0, 0, 0],
            None
        ));
    }

    #[test]
    fn malformed_token_groups_are_refused_without_panicking() {
        let good = token_groups(BASE, &[(EVERYONE, ENABLED), (ADMINISTRATORS, ENABLED)]);
        let check = |b: &[u8], base| {
            token_groups_hold_enabled(b, base, WellKnownSid::BuiltinAdministrators)
        };
        assert_eq!(check(&good, BASE), Some(true));
        for cut in 0..good.len() {
            assert_eq!(check(&good[..cut], BASE), None, "cut at {cut}");
        }
        // Pointers that lead outside the buffer: another base, or one past the end.
        assert_eq!(check(&good, BASE + 1_000), None);
        assert_eq!(check(&good, 0), None);
        let mut outside = good.clone();
        outside[24..32].copy_from_slice(&((BASE + good.len()) as u64).to_le_bytes());
        assert_eq!(check(&outside, BASE), None);
        // A count far beyond the buffer.
        let mut huge = good.clone();
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(check(&huge, BASE), None);
        // A SID claiming 255 sub-authorities.
        let mut long_sid = good;
        long_sid[8 + 32 + 1] = 255;
        assert_eq!(check(&long_sid, BASE), None);
    }
}
