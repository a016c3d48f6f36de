//! Control messages (`WSACMSGHDR`, Linux's `cmsghdr`) as programs lay them out in
//! `msg_control`, for SCM_RIGHTS: the library's ancillary API and the provider's
//! `WSASendMsg`/`WSARecvMsg` read and write them here, the driver never sees them (SENDMSG
//! and RECVMSG carry handle values, [`crate::wire::SendMsgIn`]).
//!
//! The layout is Winsock's on x64, which is also Linux's on x86-64: a header of `cmsg_len`
//! (a `SIZE_T`: header plus data), `cmsg_level` and `cmsg_type` (`INT`s), 16 bytes; the data
//! follows it; each message starts at a multiple of 8 (`WSA_CMSG_ALIGN`). SCM_RIGHTS data is
//! an array of handle values, 8 bytes each (a `HANDLE`), where Linux's is of 4-byte `int`
//! descriptors.

use core::mem::size_of;

/// `SOL_SOCKET` as Winsock numbers it, the level of SCM_RIGHTS here.
pub const SOL_SOCKET_WINSOCK: i32 = 0xFFFF;
/// `SCM_RIGHTS`, Linux's number: the data is the handles passed.
pub const SCM_RIGHTS: i32 = 1;

/// The header's size (`WSA_CMSG_DATA`'s offset).
pub const HEADER: usize = 16;
/// One handle's size in SCM_RIGHTS data.
pub const HANDLE_BYTES: usize = size_of::<u64>();

/// `WSA_CMSG_ALIGN`: up to a multiple of 8.
pub const fn align(len: usize) -> usize {
    len.saturating_add(7) & !7
}

/// `WSA_CMSG_LEN`: a message with `data` bytes of data, without trailing padding.
pub const fn len(data: usize) -> usize {
    HEADER.saturating_add(data)
}

/// `WSA_CMSG_SPACE`: the room a message with `data` bytes of data takes, padding included.
pub const fn space(data: usize) -> usize {
    HEADER.saturating_add(align(data))
}

/// How many handles an SCM_RIGHTS message fits in a control buffer of `control_len` bytes.
pub const fn rights_room(control_len: usize) -> usize {
    match control_len.checked_sub(HEADER) {
        Some(data) => data / HANDLE_BYTES,
        None => 0,
    }
}

/// One control message read from a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cmsg<'a> {
    pub level: i32,
    pub ty: i32,
    pub data: &'a [u8],
}

/// Why a control buffer could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmsgError {
    /// A header whose `cmsg_len` is shorter than a header or runs past the buffer (EINVAL,
    /// as Linux's `__scm_send` gives).
    Malformed,
}

/// The control messages in `control`, in order; an error ends the iteration.
pub fn parse(control: &[u8]) -> impl Iterator<Item = Result<Cmsg<'_>, CmsgError>> + '_ {
    let mut rest = Some(control);
    core::iter::from_fn(move || {
        let buf = rest?;
        if buf.len() < HEADER {
            // Fewer bytes than a header are ignored, as `CMSG_NXTHDR` stops there.
            rest = None;
            return None;
        }
        let field = |at: usize, n: usize| buf.get(at..at.saturating_add(n));
        let read8 = field(0, 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_ne_bytes);
        let read4 = |at| {
            field(at, 4)
                .and_then(|b| b.try_into().ok())
                .map(i32::from_ne_bytes)
        };
        let (Some(cmsg_len), Some(level), Some(ty)) = (read8, read4(8), read4(12)) else {
            rest = None;
            return Some(Err(CmsgError::Malformed));
        };
        let cmsg_len = usize::try_from(cmsg_len).unwrap_or(usize::MAX);
        let (Some(data), true) = (buf.get(HEADER..cmsg_len), cmsg_len >= HEADER) else {
            rest = None;
            return Some(Err(CmsgError::Malformed));
        };
        rest = buf.get(align(cmsg_len)..).filter(|r| !r.is_empty());
        Some(Ok(Cmsg { level, ty, data }))
    })
}

/// The handle values of an SCM_RIGHTS message's data (whole 8-byte values only).
pub fn handles(data: &[u8]) -> impl Iterator<Item = u64> + '_ {
    data.chunks_exact(HANDLE_BYTES)
        .filter_map(|c| c.try_into().ok().map(u64::from_ne_bytes))
}

/// Writes an SCM_RIGHTS message of `handles` at the start of `out`; returns the bytes it
/// takes there (its space, or what is left of `out` for the last one, as Linux's
/// `put_cmsg` counts), or None if the header and the handles do not fit.
pub fn write_rights(out: &mut [u8], handles: &[u64]) -> Option<usize> {
    let data = handles.len().checked_mul(HANDLE_BYTES)?;
    let cmsg_len = len(data);
    let head = out.get_mut(..cmsg_len)?;
    let (header, body) = head.split_at_mut_checked(HEADER)?;
    header
        .get_mut(..8)?
        .copy_from_slice(&(cmsg_len as u64).to_ne_bytes());
    header
        .get_mut(8..12)?
        .copy_from_slice(&SOL_SOCKET_WINSOCK.to_ne_bytes());
    header
        .get_mut(12..16)?
        .copy_from_slice(&SCM_RIGHTS.to_ne_bytes());
    for (slot, h) in body.chunks_exact_mut(HANDLE_BYTES).zip(handles) {
        slot.copy_from_slice(&h.to_ne_bytes());
    }
    Some(space(data).min(out.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rights_message_reads_back_and_sizes_follow_winsock() {
        assert_eq!(space(8), 24);
        assert_eq!(space(12), 32);
        assert_eq!(len(12), 28);
        assert_eq!(rights_room(space(3 * 8)), 3);
        assert_eq!(rights_room(15), 0);
        let mut buf = [0u8; 64];
        assert_eq!(write_rights(&mut buf, &[0x44, 0x48]), Some(32));
        let all: alloc::vec::Vec<_> = parse(&buf[..32]).collect();
        assert_eq!(all.len(), 1);
        let m = all[0].unwrap();
        assert_eq!((m.level, m.ty), (SOL_SOCKET_WINSOCK, SCM_RIGHTS));
        assert_eq!(
            handles(m.data).collect::<alloc::vec::Vec<_>>(),
            [0x44, 0x48]
        );
        assert_eq!(write_rights(&mut buf[..20], &[1]), None);
    }

    #[test]
    fn malformed_lengths_are_refused_and_two_messages_are_walked() {
        let mut buf = [0u8; 64];
        buf[..8].copy_from_slice(&8u64.to_ne_bytes());
        assert_eq!(parse(&buf).next(), Some(Err(CmsgError::Malformed)));
        buf[..8].copy_from_slice(&100u64.to_ne_bytes());
        assert_eq!(parse(&buf).next(), Some(Err(CmsgError::Malformed)));
        let used = write_rights(&mut buf, &[7]).unwrap();
        assert_eq!(used, 24);
        write_rights(&mut buf[used..], &[8, 9]).unwrap();
        let got: alloc::vec::Vec<u64> = parse(&buf[..used + 32])
            .map(|m| m.unwrap())
            .flat_map(|m| handles(m.data))
            .collect();
        assert_eq!(got, [7, 8, 9]);
    }
}
