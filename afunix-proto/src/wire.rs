//! The request and reply structs that cross between user mode and the driver.
//!
//! All are `#[repr(C)]`, native-endian (both sides are x86-64), with every field's offset and
//! every struct's size asserted below. Inputs start with `version` (= [`WIRE_VERSION`]) and a
//! reserved `u16` that must be zero; a later layout raises the version. Decoding and its
//! checks are in [`crate::decode`].

use core::mem::{offset_of, size_of};

use static_assertions::const_assert_eq;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// The layout version of every request struct. Version 2: [`AddressOut`] gained `msg_flags`
/// and `msg_len` and grew to 128 bytes, which moves RECVFROM's data; a caller of version 1
/// would read it from the wrong place, so the driver refuses it (EINVAL) instead.
pub const WIRE_VERSION: u16 = 2;

/// `sizeof(struct sockaddr_un)`: family + 108 bytes of `sun_path`.
pub const SOCKADDR_UN_LEN: usize = 110;

/// Room for a reported address: Linux reports up to 111 bytes for a 108-byte pathname (it
/// counts the NUL it writes past `sun_path`), so a reply carries 112.
pub const ADDRESS_OUT_BYTES: usize = 112;

/// The longest NT path BIND and CONNECT take, in bytes: `UNICODE_STRING` lengths are u16, so
/// 32767 UTF-16 units.
pub const MAX_NT_PATH_BYTES: usize = 32_766;

/// The most sockets one POLL may name.
pub const POLL_MAX_ENTRIES: usize = 1024;

/// `SECURITY_MAX_SID_SIZE`.
pub const MAX_SID_BYTES: usize = 68;

/// SOCKET's types, with Linux's values. `SOCK_RAW` (3) is taken as `SOCK_DGRAM`, as Linux's
/// `unix_create` takes it; every other type is ESOCKTNOSUPPORT.
pub const SOCK_STREAM: u32 = 1;
pub const SOCK_DGRAM: u32 = 2;
pub const SOCK_RAW: u32 = 3;
pub const SOCK_SEQPACKET: u32 = 5;

/// SOCKET's flags: start in non-blocking mode (`SOCK_NONBLOCK`).
pub const SOCKET_FLAG_NONBLOCK: u32 = 1;

/// Message flags, with Linux's values.
pub const MSG_OOB: u32 = 0x1;
pub const MSG_PEEK: u32 = 0x2;
/// In a receive's flags: return a message's whole length even when it was cut short. In
/// [`AddressOut::msg_flags`]: the message was cut short.
pub const MSG_TRUNC: u32 = 0x20;
/// In [`RecvMsgOut::addr`]'s `msg_flags`: some passed objects did not fit the receiver's room
/// and were closed (with MSG_PEEK: were not copied).
pub const MSG_CTRUNC: u32 = 0x8;
pub const MSG_DONTWAIT: u32 = 0x40;
pub const MSG_WAITALL: u32 = 0x100;
pub const MSG_NOSIGNAL: u32 = 0x4000;
/// Ours, not Linux's: the request waits even on a non-blocking socket, as Winsock's
/// overlapped requests do. Linux keeps this bit for the kernel's own use
/// (`MSG_CMSG_COMPAT`), so no Linux program passes it.
pub const MSG_AFUNIX_OVERLAPPED: u32 = 0x8000_0000;

/// A request that carries nothing but its version.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct EmptyIn {
    pub version: u16,
    pub reserved: u16,
}

/// SOCKET.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct SocketIn {
    pub version: u16,
    pub reserved: u16,
    /// Linux's `SOCK_*` number: [`SOCK_STREAM`], [`SOCK_DGRAM`] ([`SOCK_RAW`] taken as it),
    /// [`SOCK_SEQPACKET`].
    pub sock_type: u32,
    /// [`SOCKET_FLAG_NONBLOCK`].
    pub flags: u32,
}

/// BIND and CONNECT; followed by `path_len` bytes of UTF-16LE NT path.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct AddressIn {
    pub version: u16,
    pub reserved: u16,
    /// How many bytes of `addr` the caller passed as `addrlen` (at most 110).
    pub addr_len: u32,
    /// Bytes of NT path that follow this struct: the absolute path of a pathname socket's
    /// file (`\??\C:\...`), resolved in user mode where the current directory is known.
    /// Zero for abstract names and autobind.
    pub path_len: u32,
    /// The `sockaddr_un` exactly as the program gave it.
    pub addr: [u8; SOCKADDR_UN_LEN],
    pub reserved2: [u8; 2],
}

/// LISTEN.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct ListenIn {
    pub version: u16,
    pub reserved: u16,
    pub backlog: i32,
}

/// ACCEPT (the accepting socket) and SOCKETPAIR (the second socket).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct HandleIn {
    pub version: u16,
    pub reserved: u16,
    pub reserved2: u32,
    /// A handle, in the caller's process, to another socket opened on the device.
    pub handle: u64,
}

/// SHUTDOWN.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct ShutdownIn {
    pub version: u16,
    pub reserved: u16,
    /// `SHUT_RD` 0, `SHUT_WR` 1, `SHUT_RDWR` 2.
    pub how: i32,
}

/// GETSOCKOPT and SETSOCKOPT (`value` and `linger` are ignored by GETSOCKOPT).
///
/// The option's value is laid out as Linux reads `optval`: an `int` in `value`, or for
/// `SO_LINGER` a `struct linger { int l_onoff; int l_linger; }` in `value` and `linger`.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct SockoptIn {
    pub version: u16,
    pub reserved: u16,
    pub level: i32,
    pub name: i32,
    /// An integer option's value; `l_onoff` for `SO_LINGER`.
    pub value: i32,
    /// `l_linger` (seconds) for `SO_LINGER`; zero for every other option.
    pub linger: i32,
}

/// FIONBIO.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct FionbioIn {
    pub version: u16,
    pub reserved: u16,
    /// Non-zero: non-blocking.
    pub enable: u32,
}

/// SEND and RECV.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct DataIn {
    pub version: u16,
    pub reserved: u16,
    /// `MSG_*` flags.
    pub flags: u32,
}

/// SENDMSG: a send that passes objects (SCM_RIGHTS). Followed by `count` handle values
/// (u64, the sender's own handles), then, optionally, the destination as SENDTO gives it
/// (an [`AddressIn`] and its NT path); none means the connected peer.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct SendMsgIn {
    pub version: u16,
    pub reserved: u16,
    /// `MSG_*` flags.
    pub flags: u32,
    /// Handles that follow, at most [`SCM_MAX_FD`].
    pub count: u32,
    pub reserved2: u32,
}

/// RECVMSG: a receive that takes passed objects as new handles of the caller's.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct RecvMsgIn {
    pub version: u16,
    pub reserved: u16,
    /// `MSG_*` flags.
    pub flags: u32,
    /// Room for handles in the reply, at most [`SCM_MAX_FD`].
    pub room: u32,
    pub reserved2: u32,
}

/// The head of RECVMSG's reply, at the start of its data buffer: the sender and the message's
/// flags and length as RECVFROM reports them ([`MSG_CTRUNC`] among the flags), and how many
/// handles follow. `room` u64 slots follow it (the first `count` filled), then the data:
/// [`recvmsg_header_len`] bytes in all before the data.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct RecvMsgOut {
    pub addr: AddressOut,
    /// Handles received: new handles of the receiver's, with the access the sender's had.
    pub count: u32,
    pub reserved: u32,
}

/// The most objects one message may pass (Linux's `SCM_MAX_FD`).
pub const SCM_MAX_FD: usize = 253;

/// Where RECVMSG's data starts in its data buffer, for room for `room` handles.
pub const fn recvmsg_header_len(room: usize) -> usize {
    size_of::<RecvMsgOut>().saturating_add(room.saturating_mul(size_of::<u64>()))
}

/// POLL; followed by `count` [`PollEntry`]s.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct PollIn {
    pub version: u16,
    pub reserved: u16,
    pub count: u32,
    /// Milliseconds; negative waits for ever, zero does not wait.
    pub timeout_ms: i64,
}

/// One socket of a POLL.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct PollEntry {
    pub handle: u64,
    /// `POLL*` bits asked for (Linux values).
    pub events: u32,
    /// Bits that are true, filled in by the driver.
    pub revents: u32,
}

/// A reported address: `getsockname`, `getpeername`, `accept`, and the head of RECVFROM's
/// reply, where it also says what `recvmsg` reports of the message.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct AddressOut {
    /// The length Linux reports (may be 111 for a 108-byte path).
    pub addr_len: u32,
    /// RECVFROM: `msghdr.msg_flags`, [`MSG_TRUNC`] when the message was longer than the
    /// buffer (the rest of it is gone unless the receive peeked). Zero in every other reply.
    pub msg_flags: u32,
    /// The `sockaddr_un`, `min(addr_len, 112)` bytes of it meaningful.
    pub addr: [u8; ADDRESS_OUT_BYTES],
    /// RECVFROM: the whole length of the message received (of a datagram or seqpacket
    /// record, however much of it was copied; of a stream, the bytes copied). Zero in every
    /// other reply.
    pub msg_len: u64,
}

/// An integer reply: GETSOCKOPT, FIONREAD.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct IntOut {
    pub value: i32,
    pub reserved: u32,
}

/// PEERCRED: who the peer was when the connection was made. Everything but the process id
/// comes from the one token the peer acted with: its thread's impersonation token if it was
/// impersonating (at SecurityImpersonation or above), else its process's token.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct PeerCredOut {
    pub pid: u32,
    pub sid_len: u32,
    pub sid: [u8; MAX_SID_BYTES],
    /// The token's mandatory integrity level: the last sub-authority of its label SID
    /// (0x1000 Low, 0x2000 Medium, 0x3000 High, 0x4000 System; 0 Untrusted).
    pub integrity: u32,
    /// `PEERCRED_*` bits.
    pub flags: u32,
}

/// [`PeerCredOut::flags`]: the token is an AppContainer's.
pub const PEERCRED_APP_CONTAINER: u32 = 0x1;
/// [`PeerCredOut::flags`]: the token is restricted (it has restricting SIDs), or the system
/// could not say whether it is (the driver never reports an unknown token as unrestricted).
pub const PEERCRED_RESTRICTED: u32 = 0x2;
/// [`PeerCredOut::flags`]: the credentials are those of a token the peer's thread was
/// impersonating, not its process's own.
pub const PEERCRED_IMPERSONATING: u32 = 0x4;

const_assert_eq!(size_of::<EmptyIn>(), 4);
const_assert_eq!(size_of::<SocketIn>(), 12);
const_assert_eq!(offset_of!(SocketIn, sock_type), 4);
const_assert_eq!(offset_of!(SocketIn, flags), 8);
const_assert_eq!(size_of::<AddressIn>(), 124);
const_assert_eq!(offset_of!(AddressIn, addr_len), 4);
const_assert_eq!(offset_of!(AddressIn, path_len), 8);
const_assert_eq!(offset_of!(AddressIn, addr), 12);
const_assert_eq!(offset_of!(AddressIn, reserved2), 122);
const_assert_eq!(size_of::<ListenIn>(), 8);
const_assert_eq!(size_of::<HandleIn>(), 16);
const_assert_eq!(offset_of!(HandleIn, handle), 8);
const_assert_eq!(size_of::<ShutdownIn>(), 8);
const_assert_eq!(size_of::<SockoptIn>(), 20);
const_assert_eq!(offset_of!(SockoptIn, level), 4);
const_assert_eq!(offset_of!(SockoptIn, name), 8);
const_assert_eq!(offset_of!(SockoptIn, value), 12);
const_assert_eq!(offset_of!(SockoptIn, linger), 16);
const_assert_eq!(size_of::<FionbioIn>(), 8);
const_assert_eq!(size_of::<DataIn>(), 8);
const_assert_eq!(size_of::<PollIn>(), 16);
const_assert_eq!(offset_of!(PollIn, timeout_ms), 8);
const_assert_eq!(size_of::<PollEntry>(), 16);
const_assert_eq!(offset_of!(PollEntry, revents), 12);
const_assert_eq!(size_of::<AddressOut>(), 128);
const_assert_eq!(offset_of!(AddressOut, msg_flags), 4);
const_assert_eq!(offset_of!(AddressOut, addr), 8);
const_assert_eq!(offset_of!(AddressOut, msg_len), 120);
const_assert_eq!(size_of::<IntOut>(), 8);
const_assert_eq!(size_of::<SendMsgIn>(), 16);
const_assert_eq!(offset_of!(SendMsgIn, count), 8);
const_assert_eq!(size_of::<RecvMsgIn>(), 16);
const_assert_eq!(offset_of!(RecvMsgIn, room), 8);
const_assert_eq!(size_of::<RecvMsgOut>(), 136);
const_assert_eq!(offset_of!(RecvMsgOut, count), 128);
const_assert_eq!(recvmsg_header_len(SCM_MAX_FD), 136 + 253 * 8);
const_assert_eq!(size_of::<PeerCredOut>(), 84);
const_assert_eq!(offset_of!(PeerCredOut, sid), 8);
const_assert_eq!(offset_of!(PeerCredOut, integrity), 76);
const_assert_eq!(offset_of!(PeerCredOut, flags), 80);

impl AddressOut {
    /// A reply for a `sockaddr_un` of `reported_len` bytes (of which up to 112 are kept).
    pub fn new(sockaddr: &[u8], reported_len: usize) -> AddressOut {
        let mut addr = [0u8; ADDRESS_OUT_BYTES];
        for (slot, byte) in addr.iter_mut().zip(sockaddr) {
            *slot = *byte;
        }
        AddressOut {
            addr_len: u32::try_from(reported_len).unwrap_or(u32::MAX),
            msg_flags: 0,
            addr,
            msg_len: 0,
        }
    }

    /// No address (`addr_len` 0): an unnamed sender, or nothing received.
    pub const fn none() -> AddressOut {
        AddressOut {
            addr_len: 0,
            msg_flags: 0,
            addr: [0; ADDRESS_OUT_BYTES],
            msg_len: 0,
        }
    }

    /// Whether a RECVFROM's message was cut short ([`MSG_TRUNC`] in `msg_flags`).
    pub const fn truncated(&self) -> bool {
        self.msg_flags & MSG_TRUNC != 0
    }

    /// The address bytes a caller with an unbounded buffer would receive.
    pub fn sockaddr(&self) -> &[u8] {
        let len = usize::try_from(self.addr_len)
            .unwrap_or(usize::MAX)
            .min(ADDRESS_OUT_BYTES);
        self.addr.get(..len).unwrap_or(&self.addr)
    }
}

impl PeerCredOut {
    /// The reply for a peer; None if the SID is longer than any SID can be.
    pub fn new(pid: u32, sid: &[u8], integrity: u32, flags: u32) -> Option<PeerCredOut> {
        let mut out = [0u8; MAX_SID_BYTES];
        out.get_mut(..sid.len())?.copy_from_slice(sid);
        Some(PeerCredOut {
            pid,
            sid_len: u32::try_from(sid.len()).ok()?,
            sid: out,
            integrity,
            flags,
        })
    }

    pub fn sid(&self) -> &[u8] {
        let len = usize::try_from(self.sid_len)
            .unwrap_or(usize::MAX)
            .min(MAX_SID_BYTES);
        self.sid.get(..len).unwrap_or(&self.sid)
    }
}

/// Writes a POLL reply in place: `buffer` holds the request (a [`PollIn`] and its entries),
/// and each entry's `revents` is set from `revents`, in order. Returns the reply's length
/// (the request's), or None if `buffer` is not a whole request.
pub fn fill_revents(buffer: &mut [u8], revents: &[u32]) -> Option<usize> {
    let entries = buffer.get_mut(size_of::<PollIn>()..)?;
    if !entries.len().is_multiple_of(size_of::<PollEntry>()) {
        return None;
    }
    for (chunk, &value) in entries
        .chunks_exact_mut(size_of::<PollEntry>())
        .zip(revents)
    {
        let mut entry = PollEntry::read_from_bytes(chunk).ok()?;
        entry.revents = value;
        chunk.copy_from_slice(entry.as_bytes());
    }
    Some(buffer.len())
}

/// The `revents` of each entry of a POLL reply, in order.
pub fn revents(reply: &[u8]) -> impl Iterator<Item = u32> + '_ {
    reply
        .get(size_of::<PollIn>()..)
        .unwrap_or(&[])
        .chunks_exact(size_of::<PollEntry>())
        .filter_map(|chunk| PollEntry::read_from_bytes(chunk).ok())
        .map(|entry| entry.revents)
}

#[cfg(test)]
mod poll_reply_tests {
    use super::*;

    #[test]
    fn revents_are_filled_in_place_and_read_back() {
        let mut request = [0u8; 16 + 2 * 16];
        request[16..24].copy_from_slice(&7u64.to_ne_bytes());
        assert_eq!(fill_revents(&mut request, &[0x4, 0x20]), Some(48));
        assert_eq!(request[16..24], 7u64.to_ne_bytes(), "the handle is kept");
        let mut got = [0u32; 2];
        for (slot, value) in got.iter_mut().zip(revents(&request)) {
            *slot = value;
        }
        assert_eq!(got, [0x4, 0x20]);
        assert_eq!(fill_revents(&mut request[..40], &[1]), None);
        assert_eq!(fill_revents(&mut [0u8; 8], &[]), None);
    }
}
