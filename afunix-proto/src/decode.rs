//! Validation of untrusted requests: every byte user mode sends is checked here, once, and
//! the driver sees only a [`Request`].
//!
//! The rules: the input is exactly as long as its struct (plus, where a struct announces
//! trailing data, exactly that much more); the version is [`WIRE_VERSION`]; reserved fields
//! are zero; lengths are in range; NT paths are well-formed UTF-16 without NULs; a pathname's
//! `sun_path` is UTF-8 (Windows programs pass UTF-8, as with Microsoft's afunix); the output
//! buffer can hold the reply. Anything else is a [`DecodeError`], which maps to an errno.

use core::mem::size_of;

use zerocopy::{FromBytes, Immutable, KnownLayout};

use crate::ioctl::*;
use crate::wire::*;

/// Why a request was refused before it reached the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Not an IOCTL this driver defines.
    UnknownIoctl(u32),
    /// Shorter than its struct (or than the trailing data it announces).
    Truncated,
    /// Longer than its struct plus the trailing data it announces.
    Oversized,
    /// A layout version this driver does not speak.
    Version(u16),
    /// A reserved field is not zero.
    Reserved,
    /// A length field out of range (`addr_len`, `path_len`, `count`).
    Length,
    /// An NT path that is odd-sized, empty when required, present when not allowed, or not
    /// well-formed UTF-16 without NULs.
    NtPath,
    /// A pathname `sun_path` that is not UTF-8.
    PathUtf8,
    /// The output buffer cannot hold the reply.
    OutputTooSmall,
}

/// Linux errno numbers the decode errors map to.
const EINVAL: u16 = 22;
const ENOTTY: u16 = 25;

impl DecodeError {
    /// The errno the caller gets: ENOTTY for an unknown request (as Linux's `ioctl` gives),
    /// EINVAL for every malformed one.
    pub const fn errno(self) -> u16 {
        match self {
            DecodeError::UnknownIoctl(_) => ENOTTY,
            _ => EINVAL,
        }
    }
}

/// A validated NT path: UTF-16LE bytes, even-sized, non-empty, no NUL, no unpaired surrogate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NtPath<'a>(&'a [u8]);

impl<'a> NtPath<'a> {
    /// The path's UTF-16 code units.
    pub fn units(&self) -> impl Iterator<Item = u16> + 'a {
        self.0.chunks_exact(2).map(|c| {
            u16::from_le_bytes([
                c.first().copied().unwrap_or(0),
                c.get(1).copied().unwrap_or(0),
            ])
        })
    }

    /// The path's length in bytes (what a `UNICODE_STRING` calls `Length`).
    pub fn byte_len(&self) -> usize {
        self.0.len()
    }

    /// The raw UTF-16LE bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }
}

/// The address of a BIND or CONNECT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Address<'a> {
    /// The `sockaddr_un` bytes the program passed (`addrlen` of them).
    pub sockaddr: &'a [u8],
    /// For a pathname address, its file's absolute NT path.
    pub nt_path: Option<NtPath<'a>>,
}

/// The entries of a POLL, validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollRequest<'a> {
    pub timeout_ms: i64,
    entries: &'a [u8],
}

impl<'a> PollRequest<'a> {
    pub fn entries(&self) -> impl Iterator<Item = PollEntry> + 'a {
        self.entries
            .chunks_exact(size_of::<PollEntry>())
            .filter_map(|c| PollEntry::read_from_bytes(c).ok())
    }

    pub fn len(&self) -> usize {
        self.entries
            .len()
            .checked_div(size_of::<PollEntry>())
            .unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// `MSG_*` flags of a SEND or RECV. Unknown bits are ignored, as Linux's AF_UNIX ignores them;
/// `MSG_OOB` is kept so the engine can refuse it (EOPNOTSUPP).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MsgFlags(pub u32);

impl MsgFlags {
    pub const fn oob(self) -> bool {
        self.0 & MSG_OOB != 0
    }
    pub const fn peek(self) -> bool {
        self.0 & MSG_PEEK != 0
    }
    /// A receive returns a message's whole length even when it was cut short.
    pub const fn trunc(self) -> bool {
        self.0 & MSG_TRUNC != 0
    }
    pub const fn dontwait(self) -> bool {
        self.0 & MSG_DONTWAIT != 0
    }
    pub const fn waitall(self) -> bool {
        self.0 & MSG_WAITALL != 0
    }
    pub const fn overlapped(self) -> bool {
        self.0 & MSG_AFUNIX_OVERLAPPED != 0
    }
}

/// A SETSOCKOPT value, as Linux reads `optval`: an `int`, or for `SO_LINGER` a
/// `struct linger`, whose `l_onoff` sits where an `int` would.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OptValue {
    /// An integer option's value; `l_onoff` for `SO_LINGER`.
    pub int: i32,
    /// `l_linger` (seconds) for `SO_LINGER`; zero for every other option.
    pub linger: i32,
}

impl OptValue {
    /// An integer option's value.
    #[must_use]
    pub const fn int(value: i32) -> Self {
        Self {
            int: value,
            linger: 0,
        }
    }

    /// `SO_LINGER`'s `struct linger { l_onoff, l_linger }`.
    #[must_use]
    pub const fn linger(l_onoff: i32, l_linger: i32) -> Self {
        Self {
            int: l_onoff,
            linger: l_linger,
        }
    }
}

/// A validated request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    Stats,
    Socket {
        sock_type: u32,
        nonblocking: bool,
    },
    Bind(Address<'a>),
    Listen {
        backlog: i32,
    },
    Connect(Address<'a>),
    Accept {
        handle: u64,
    },
    Shutdown {
        how: i32,
    },
    GetSockName,
    GetPeerName,
    GetSockOpt {
        level: i32,
        name: i32,
    },
    SetSockOpt {
        level: i32,
        name: i32,
        value: OptValue,
    },
    Fionbio {
        nonblocking: bool,
    },
    Fionread,
    PeerCred,
    SocketPair {
        handle: u64,
    },
    Poll(PollRequest<'a>),
    /// SEND, and SENDTO with its destination (`to`; SENDTO with an empty address is SEND).
    Send {
        flags: MsgFlags,
        to: Option<Destination<'a>>,
    },
    /// RECV, and RECVFROM (`from`: the reply starts with the sender's address, and the data
    /// buffer begins [`RECVFROM_HEADER`] bytes into the output).
    Recv {
        flags: MsgFlags,
        from: bool,
    },
    /// SENDMSG: SEND (or SENDTO) passing the sender's `handles`.
    SendMsg {
        flags: MsgFlags,
        handles: Handles<'a>,
        to: Option<Destination<'a>>,
    },
    /// RECVMSG: RECVFROM with room for `room` handles (the data buffer begins
    /// `recvmsg_header_len(room)` bytes into the output).
    RecvMsg {
        flags: MsgFlags,
        room: usize,
    },
}

/// SENDMSG's handle values, validated as a whole number of u64s, at most [`SCM_MAX_FD`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handles<'a>(&'a [u8]);

impl<'a> Handles<'a> {
    /// The handle values, in order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + 'a {
        self.0.chunks_exact(size_of::<u64>()).map(|c| {
            let mut bytes = [0u8; 8];
            for (b, v) in bytes.iter_mut().zip(c) {
                *b = *v;
            }
            u64::from_ne_bytes(bytes)
        })
    }

    /// How many.
    pub const fn len(&self) -> usize {
        match self.0.len().checked_div(size_of::<u64>()) {
            Some(n) => n,
            None => 0,
        }
    }

    pub const fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// SENDTO's destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Destination<'a> {
    /// An address as BIND and CONNECT take one.
    Address(Address<'a>),
    /// Longer than a `sockaddr_un` but within a `sockaddr_storage` (111 to 128 bytes): the
    /// kernel takes it from the program (`move_addr_to_kernel`), and the socket type decides
    /// (a stream refuses any address; `unix_validate_addr` refuses this length). Its bytes
    /// are not carried.
    Oversize(usize),
}

/// `sizeof(struct sockaddr_storage)`: the longest address a program may pass at all.
pub const SOCKADDR_STORAGE_LEN: usize = 128;

/// Where RECVFROM's data starts in its output buffer: after the sender's address.
pub const RECVFROM_HEADER: usize = size_of::<AddressOut>();

/// Reads a fixed struct that must be the whole input, after checking its version prefix.
fn exact<T: FromBytes + KnownLayout + Immutable>(input: &[u8]) -> Result<T, DecodeError> {
    prefix::<T>(input).and_then(|(value, rest)| {
        if rest.is_empty() {
            Ok(value)
        } else {
            Err(DecodeError::Oversized)
        }
    })
}

/// Reads a fixed struct at the start of the input; returns it and the rest.
fn prefix<T: FromBytes + KnownLayout + Immutable>(input: &[u8]) -> Result<(T, &[u8]), DecodeError> {
    let (value, rest) = T::read_from_prefix(input).map_err(|_| DecodeError::Truncated)?;
    let header = EmptyIn::read_from_prefix(input)
        .map_err(|_| DecodeError::Truncated)?
        .0;
    if header.version != WIRE_VERSION {
        return Err(DecodeError::Version(header.version));
    }
    if header.reserved != 0 {
        return Err(DecodeError::Reserved);
    }
    Ok((value, rest))
}

fn need_output<T>(output_len: usize) -> Result<(), DecodeError> {
    if output_len < size_of::<T>() {
        Err(DecodeError::OutputTooSmall)
    } else {
        Ok(())
    }
}

/// Decodes the input of IOCTL `code`. `output_len` is the caller's output buffer length (for
/// SEND and RECV, the data length, which may be anything).
pub fn decode(code: u32, input: &[u8], output_len: usize) -> Result<Request<'_>, DecodeError> {
    match code {
        IOCTL_AFUNIX_STATS => {
            // STATS has always taken no input; keep it so for old tools.
            if !input.is_empty() {
                return Err(DecodeError::Oversized);
            }
            need_output::<crate::DriverStats>(output_len)?;
            Ok(Request::Stats)
        }
        IOCTL_AFUNIX_SOCKET => {
            let s: SocketIn = exact(input)?;
            if s.flags & !SOCKET_FLAG_NONBLOCK != 0 {
                return Err(DecodeError::Reserved);
            }
            Ok(Request::Socket {
                sock_type: s.sock_type,
                nonblocking: s.flags & SOCKET_FLAG_NONBLOCK != 0,
            })
        }
        IOCTL_AFUNIX_BIND => address(input).map(Request::Bind),
        IOCTL_AFUNIX_CONNECT => address(input).map(Request::Connect),
        IOCTL_AFUNIX_LISTEN => {
            exact::<ListenIn>(input).map(|l| Request::Listen { backlog: l.backlog })
        }
        IOCTL_AFUNIX_ACCEPT => {
            let h: HandleIn = exact(input)?;
            if h.reserved2 != 0 {
                return Err(DecodeError::Reserved);
            }
            need_output::<AddressOut>(output_len)?;
            Ok(Request::Accept { handle: h.handle })
        }
        IOCTL_AFUNIX_SOCKETPAIR => {
            let h: HandleIn = exact(input)?;
            if h.reserved2 != 0 {
                return Err(DecodeError::Reserved);
            }
            Ok(Request::SocketPair { handle: h.handle })
        }
        IOCTL_AFUNIX_SHUTDOWN => {
            exact::<ShutdownIn>(input).map(|s| Request::Shutdown { how: s.how })
        }
        IOCTL_AFUNIX_GETSOCKNAME | IOCTL_AFUNIX_GETPEERNAME => {
            exact::<EmptyIn>(input)?;
            need_output::<AddressOut>(output_len)?;
            Ok(if code == IOCTL_AFUNIX_GETSOCKNAME {
                Request::GetSockName
            } else {
                Request::GetPeerName
            })
        }
        IOCTL_AFUNIX_GETSOCKOPT => {
            let o: SockoptIn = exact(input)?;
            need_output::<IntOut>(output_len)?;
            Ok(Request::GetSockOpt {
                level: o.level,
                name: o.name,
            })
        }
        IOCTL_AFUNIX_SETSOCKOPT => {
            let o: SockoptIn = exact(input)?;
            Ok(Request::SetSockOpt {
                level: o.level,
                name: o.name,
                value: OptValue {
                    int: o.value,
                    linger: o.linger,
                },
            })
        }
        IOCTL_AFUNIX_FIONBIO => exact::<FionbioIn>(input).map(|f| Request::Fionbio {
            nonblocking: f.enable != 0,
        }),
        IOCTL_AFUNIX_FIONREAD => {
            exact::<EmptyIn>(input)?;
            need_output::<IntOut>(output_len)?;
            Ok(Request::Fionread)
        }
        IOCTL_AFUNIX_PEERCRED => {
            exact::<EmptyIn>(input)?;
            need_output::<PeerCredOut>(output_len)?;
            Ok(Request::PeerCred)
        }
        IOCTL_AFUNIX_POLL => poll(input, output_len).map(Request::Poll),
        IOCTL_AFUNIX_SEND => exact::<DataIn>(input).map(|d| Request::Send {
            flags: MsgFlags(d.flags),
            to: None,
        }),
        IOCTL_AFUNIX_RECV => exact::<DataIn>(input).map(|d| Request::Recv {
            flags: MsgFlags(d.flags),
            from: false,
        }),
        IOCTL_AFUNIX_SENDTO => {
            let (d, rest): (DataIn, &[u8]) = prefix(input)?;
            Ok(Request::Send {
                flags: MsgFlags(d.flags),
                to: destination(rest)?,
            })
        }
        IOCTL_AFUNIX_RECVFROM => {
            let d = exact::<DataIn>(input)?;
            if output_len < RECVFROM_HEADER {
                return Err(DecodeError::OutputTooSmall);
            }
            Ok(Request::Recv {
                flags: MsgFlags(d.flags),
                from: true,
            })
        }
        IOCTL_AFUNIX_SENDMSG => {
            let (m, rest): (SendMsgIn, &[u8]) = prefix(input)?;
            if m.reserved2 != 0 {
                return Err(DecodeError::Reserved);
            }
            let count = usize::try_from(m.count).map_err(|_| DecodeError::Length)?;
            if count > SCM_MAX_FD {
                return Err(DecodeError::Length);
            }
            let bytes = count
                .checked_mul(size_of::<u64>())
                .ok_or(DecodeError::Length)?;
            let (handles, rest) = rest.split_at_checked(bytes).ok_or(DecodeError::Truncated)?;
            let to = if rest.is_empty() {
                None
            } else {
                destination(rest)?
            };
            Ok(Request::SendMsg {
                flags: MsgFlags(m.flags),
                handles: Handles(handles),
                to,
            })
        }
        IOCTL_AFUNIX_RECVMSG => {
            let m = exact::<RecvMsgIn>(input)?;
            if m.reserved2 != 0 {
                return Err(DecodeError::Reserved);
            }
            let room = usize::try_from(m.room).map_err(|_| DecodeError::Length)?;
            if room > SCM_MAX_FD {
                return Err(DecodeError::Length);
            }
            if output_len < recvmsg_header_len(room) {
                return Err(DecodeError::OutputTooSmall);
            }
            Ok(Request::RecvMsg {
                flags: MsgFlags(m.flags),
                room,
            })
        }
        other => Err(DecodeError::UnknownIoctl(other)),
    }
}

/// `AF_UNIX` as a `sockaddr`'s first two bytes.
const AF_UNIX_BYTES: [u8; 2] = 1u16.to_ne_bytes();

/// Where `AddressIn::addr` starts.
const ADDRESS_OFFSET: usize = core::mem::offset_of!(AddressIn, addr);

fn address(input: &[u8]) -> Result<Address<'_>, DecodeError> {
    address_with(input, true)
}

/// An [`Address`]; `path_required`: a pathname must come with its NT path (BIND, CONNECT).
/// SENDTO's may come without: a stream never looks it up.
fn address_with(input: &[u8], path_required: bool) -> Result<Address<'_>, DecodeError> {
    let (a, rest): (AddressIn, &[u8]) = prefix(input)?;
    if a.reserved2 != [0, 0] {
        return Err(DecodeError::Reserved);
    }
    let addr_len = usize::try_from(a.addr_len).map_err(|_| DecodeError::Length)?;
    if addr_len > SOCKADDR_UN_LEN {
        return Err(DecodeError::Length);
    }
    let path_len = usize::try_from(a.path_len).map_err(|_| DecodeError::Length)?;
    if path_len > MAX_NT_PATH_BYTES {
        return Err(DecodeError::Length);
    }
    if rest.len() < path_len {
        return Err(DecodeError::Truncated);
    }
    if rest.len() > path_len {
        return Err(DecodeError::Oversized);
    }
    // Bytes of `addr` past `addr_len` are not part of the address; they must be zero so that
    // nothing rides along unchecked.
    if a.addr
        .get(addr_len..)
        .unwrap_or(&[])
        .iter()
        .any(|&b| b != 0)
    {
        return Err(DecodeError::Reserved);
    }
    // Borrow the address from the input itself (it starts at `AddressIn::addr`).
    let sockaddr = input
        .get(ADDRESS_OFFSET..ADDRESS_OFFSET.saturating_add(addr_len))
        .ok_or(DecodeError::Truncated)?;
    // A pathname address is one whose sun_path starts with a non-NUL byte; its path runs to
    // the first NUL (unix_mkname_bsd). It needs its NT path; other kinds must not have one.
    // An address of another family (AF_UNSPEC: CONNECT dissolving a datagram socket's
    // association) is never looked up, so it needs none (the device refuses it where Linux
    // does).
    let sun_path = sockaddr.get(2..).unwrap_or(&[]);
    let unix_family = sockaddr.get(..2) == Some(&AF_UNIX_BYTES[..]);
    if (!path_required || !unix_family) && path_len == 0 {
        return Ok(Address {
            sockaddr,
            nt_path: None,
        });
    }
    if sun_path.first().is_some_and(|&b| b != 0) {
        let end = sun_path
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(sun_path.len());
        if core::str::from_utf8(sun_path.get(..end).unwrap_or(&[])).is_err() {
            return Err(DecodeError::PathUtf8);
        }
        Ok(Address {
            sockaddr,
            nt_path: Some(nt_path(rest)?),
        })
    } else if path_len != 0 {
        Err(DecodeError::NtPath)
    } else {
        Ok(Address {
            sockaddr,
            nt_path: None,
        })
    }
}

/// SENDTO's destination: none for `addrlen` 0 (a plain send, as Linux treats it), an
/// [`Address`] up to a `sockaddr_un`, [`Destination::Oversize`] up to a `sockaddr_storage`.
fn destination(input: &[u8]) -> Result<Option<Destination<'_>>, DecodeError> {
    let (a, rest): (AddressIn, &[u8]) = prefix(input)?;
    let addr_len = usize::try_from(a.addr_len).map_err(|_| DecodeError::Length)?;
    if addr_len > SOCKADDR_UN_LEN {
        if addr_len > SOCKADDR_STORAGE_LEN {
            return Err(DecodeError::Length);
        }
        if a.path_len != 0 || a.reserved2 != [0, 0] || !rest.is_empty() {
            return Err(DecodeError::Oversized);
        }
        return Ok(Some(Destination::Oversize(addr_len)));
    }
    let to = address_with(input, false)?;
    Ok((!to.sockaddr.is_empty()).then_some(Destination::Address(to)))
}

fn nt_path(bytes: &[u8]) -> Result<NtPath<'_>, DecodeError> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(2) {
        return Err(DecodeError::NtPath);
    }
    let path = NtPath(bytes);
    for unit in char::decode_utf16(path.units()) {
        match unit {
            Ok('\0') | Err(_) => return Err(DecodeError::NtPath),
            Ok(_) => {}
        }
    }
    Ok(path)
}

fn poll(input: &[u8], output_len: usize) -> Result<PollRequest<'_>, DecodeError> {
    let (p, rest): (PollIn, &[u8]) = prefix(input)?;
    let count = usize::try_from(p.count).map_err(|_| DecodeError::Length)?;
    if count == 0 || count > POLL_MAX_ENTRIES {
        return Err(DecodeError::Length);
    }
    let bytes = count
        .checked_mul(size_of::<PollEntry>())
        .ok_or(DecodeError::Length)?;
    if rest.len() < bytes {
        return Err(DecodeError::Truncated);
    }
    if rest.len() > bytes {
        return Err(DecodeError::Oversized);
    }
    if output_len < input.len() {
        return Err(DecodeError::OutputTooSmall);
    }
    let request = PollRequest {
        timeout_ms: p.timeout_ms,
        entries: rest,
    };
    if request.entries().any(|e| e.revents != 0) {
        return Err(DecodeError::Reserved);
    }
    Ok(request)
}
