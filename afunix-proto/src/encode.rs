//! Building requests in user mode: the inverse of [`crate::decode`].

use alloc::vec::Vec;

use zerocopy::IntoBytes;

use crate::wire::*;

/// Why a request could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The address is longer than `sizeof(struct sockaddr_un)` (110 bytes).
    AddressTooLong,
    /// The NT path is longer than a `UNICODE_STRING` can hold.
    PathTooLong,
    /// More sockets than one POLL takes.
    TooManyEntries,
    /// More handles than one message passes (`SCM_MAX_FD`).
    TooManyHandles,
    /// No memory for the request.
    NoMemory,
}

fn header() -> (u16, u16) {
    (WIRE_VERSION, 0)
}

/// Helpers for the fixed requests.
pub fn empty() -> EmptyIn {
    let (version, reserved) = header();
    EmptyIn { version, reserved }
}

pub fn socket(sock_type: u32, nonblocking: bool) -> SocketIn {
    let (version, reserved) = header();
    SocketIn {
        version,
        reserved,
        sock_type,
        flags: if nonblocking { SOCKET_FLAG_NONBLOCK } else { 0 },
    }
}

pub fn listen(backlog: i32) -> ListenIn {
    let (version, reserved) = header();
    ListenIn {
        version,
        reserved,
        backlog,
    }
}

pub fn handle(handle: u64) -> HandleIn {
    let (version, reserved) = header();
    HandleIn {
        version,
        reserved,
        reserved2: 0,
        handle,
    }
}

pub fn shutdown(how: i32) -> ShutdownIn {
    let (version, reserved) = header();
    ShutdownIn {
        version,
        reserved,
        how,
    }
}

/// GETSOCKOPT, or SETSOCKOPT of an integer option.
pub fn sockopt(level: i32, name: i32, value: i32) -> SockoptIn {
    sockopt_value(level, name, crate::decode::OptValue::int(value))
}

/// SETSOCKOPT of any option's value (`SO_LINGER`'s two fields).
pub fn sockopt_value(level: i32, name: i32, value: crate::decode::OptValue) -> SockoptIn {
    let (version, reserved) = header();
    SockoptIn {
        version,
        reserved,
        level,
        name,
        value: value.int,
        linger: value.linger,
    }
}

pub fn fionbio(nonblocking: bool) -> FionbioIn {
    let (version, reserved) = header();
    FionbioIn {
        version,
        reserved,
        enable: u32::from(nonblocking),
    }
}

pub fn data(flags: u32) -> DataIn {
    let (version, reserved) = header();
    DataIn {
        version,
        reserved,
        flags,
    }
}

/// The file name a pathname `sockaddr_un` names: the bytes of `sun_path` up to the first NUL,
/// as Linux's `unix_mkname_bsd` takes them. None for an abstract or unnamed address, whose
/// BIND and CONNECT carry no NT path.
#[must_use]
pub fn pathname(sockaddr: &[u8]) -> Option<&[u8]> {
    let sun_path = sockaddr.get(2..)?;
    if sun_path.first().is_none_or(|&b| b == 0) {
        return None;
    }
    let end = sun_path
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(sun_path.len());
    sun_path.get(..end)
}

/// BIND or CONNECT: the `sockaddr_un` as given, and for a pathname address its absolute NT
/// path as UTF-16 (no terminator).
pub fn address(sockaddr: &[u8], nt_path: &[u16]) -> Result<Vec<u8>, EncodeError> {
    if sockaddr.len() > SOCKADDR_UN_LEN {
        return Err(EncodeError::AddressTooLong);
    }
    let path_bytes = nt_path
        .len()
        .checked_mul(2)
        .filter(|&n| n <= MAX_NT_PATH_BYTES)
        .ok_or(EncodeError::PathTooLong)?;
    let mut addr = [0u8; SOCKADDR_UN_LEN];
    for (slot, byte) in addr.iter_mut().zip(sockaddr) {
        *slot = *byte;
    }
    let (version, reserved) = header();
    let fixed = AddressIn {
        version,
        reserved,
        addr_len: u32::try_from(sockaddr.len()).map_err(|_| EncodeError::AddressTooLong)?,
        path_len: u32::try_from(path_bytes).map_err(|_| EncodeError::PathTooLong)?,
        addr,
        reserved2: [0; 2],
    };
    let mut out = Vec::new();
    out.try_reserve_exact(core::mem::size_of::<AddressIn>().saturating_add(path_bytes))
        .map_err(|_| EncodeError::NoMemory)?;
    out.extend_from_slice(fixed.as_bytes());
    for unit in nt_path {
        out.extend_from_slice(&unit.to_le_bytes());
    }
    Ok(out)
}

/// POLL over `entries` (handle, events), waiting `timeout_ms` (negative: for ever).
pub fn poll(entries: &[(u64, u32)], timeout_ms: i64) -> Result<Vec<u8>, EncodeError> {
    if entries.is_empty() || entries.len() > POLL_MAX_ENTRIES {
        return Err(EncodeError::TooManyEntries);
    }
    let (version, reserved) = header();
    let fixed = PollIn {
        version,
        reserved,
        count: u32::try_from(entries.len()).map_err(|_| EncodeError::TooManyEntries)?,
        timeout_ms,
    };
    let mut out = Vec::new();
    let len = core::mem::size_of::<PollEntry>()
        .saturating_mul(entries.len())
        .saturating_add(core::mem::size_of::<PollIn>());
    out.try_reserve_exact(len)
        .map_err(|_| EncodeError::NoMemory)?;
    out.extend_from_slice(fixed.as_bytes());
    for &(handle, events) in entries {
        out.extend_from_slice(
            PollEntry {
                handle,
                events,
                revents: 0,
            }
            .as_bytes(),
        );
    }
    Ok(out)
}

/// SENDTO: the flags, then the destination as [`address`] encodes it. A destination longer
/// than a `sockaddr_un` (up to a `sockaddr_storage`) travels as its length alone.
pub fn send_to(flags: u32, sockaddr: &[u8], nt_path: &[u16]) -> Result<Vec<u8>, EncodeError> {
    let to = destination(sockaddr, nt_path)?;
    let head = data(flags);
    let mut out = Vec::new();
    out.try_reserve_exact(core::mem::size_of::<DataIn>().saturating_add(to.len()))
        .map_err(|_| EncodeError::NoMemory)?;
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(&to);
    Ok(out)
}

/// SENDMSG's input: `handles` passed (at most `SCM_MAX_FD`), and optionally a destination
/// `(sockaddr, nt_path)` as [`send_to`] takes one.
pub fn send_msg(
    flags: u32,
    handles: &[u64],
    to: Option<(&[u8], &[u16])>,
) -> Result<Vec<u8>, EncodeError> {
    let count = u32::try_from(handles.len()).map_err(|_| EncodeError::TooManyHandles)?;
    if handles.len() > crate::wire::SCM_MAX_FD {
        return Err(EncodeError::TooManyHandles);
    }
    let to = match to {
        Some((sockaddr, nt_path)) if !sockaddr.is_empty() => destination(sockaddr, nt_path)?,
        _ => Vec::new(),
    };
    let head = SendMsgIn {
        version: WIRE_VERSION,
        reserved: 0,
        flags,
        count,
        reserved2: 0,
    };
    let len = core::mem::size_of::<SendMsgIn>()
        .saturating_add(handles.len().saturating_mul(8))
        .saturating_add(to.len());
    let mut out = Vec::new();
    out.try_reserve_exact(len)
        .map_err(|_| EncodeError::NoMemory)?;
    out.extend_from_slice(head.as_bytes());
    for h in handles {
        out.extend_from_slice(&h.to_ne_bytes());
    }
    out.extend_from_slice(&to);
    Ok(out)
}

/// RECVMSG's input: room for `room` handles (at most `SCM_MAX_FD`).
pub fn recv_msg(flags: u32, room: u32) -> RecvMsgIn {
    RecvMsgIn {
        version: WIRE_VERSION,
        reserved: 0,
        flags,
        room,
        reserved2: 0,
    }
}

/// A destination as SENDTO and SENDMSG carry it: an [`AddressIn`] and its NT path, or for an
/// address longer than a `sockaddr_un` (up to a `sockaddr_storage`) its length alone.
fn destination(sockaddr: &[u8], nt_path: &[u16]) -> Result<Vec<u8>, EncodeError> {
    Ok(if sockaddr.len() > SOCKADDR_UN_LEN {
        if sockaddr.len() > crate::decode::SOCKADDR_STORAGE_LEN {
            return Err(EncodeError::AddressTooLong);
        }
        let mut to = address(sockaddr.get(..SOCKADDR_UN_LEN).unwrap_or(&[]), &[])?;
        let len = u32::try_from(sockaddr.len()).map_err(|_| EncodeError::AddressTooLong)?;
        let at = core::mem::offset_of!(AddressIn, addr_len);
        if let Some(field) = to.get_mut(at..at.saturating_add(4)) {
            field.copy_from_slice(&len.to_ne_bytes());
        }
        to
    } else {
        address(sockaddr, nt_path)?
    })
}
