//! What goes into the device layer and what comes out.

use alloc::vec::Vec;

use afunix_core::PathKey;
use afunix_proto::decode::{MsgFlags, OptValue};
use afunix_proto::wire::{AddressOut, PeerCredOut};

use crate::FileId;

/// A request, decoded and resolved by the caller.
#[derive(Debug)]
pub enum Op<'a> {
    /// SOCKET: the file becomes a socket of this type (Linux `SOCK_*`: 1 stream, 2 datagram
    /// (3, `SOCK_RAW`, taken as it), 5 seqpacket; any other ESOCKTNOSUPPORT).
    Socket {
        sock_type: u32,
        nonblocking: bool,
    },
    /// BIND: `sockaddr` as the program gave it; `key` is the socket file the caller created
    /// for a pathname address (None for abstract names and autobind).
    Bind {
        sockaddr: &'a [u8],
        key: Option<PathKey>,
    },
    Listen {
        backlog: i32,
    },
    /// CONNECT: `key` is the socket file the caller opened (access-checked) for a pathname.
    /// An `AF_UNSPEC` address dissolves a datagram socket's association.
    Connect {
        sockaddr: &'a [u8],
        key: Option<PathKey>,
    },
    /// ACCEPT onto `new_file`, a socket the caller opened for it.
    Accept {
        new_file: FileId,
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
    /// SOCKETPAIR: connects this socket and `other`, both fresh.
    SocketPair {
        other: FileId,
    },
    /// POLL the given files; `timeout_ms` zero means do not wait. The caller times a
    /// pending poll itself and calls [`crate::Device::expire`] when the time is up.
    Poll {
        timeout_ms: i64,
        entries: &'a [PollEntry],
    },
    /// SEND of `len` bytes that stay in the request's own buffer, which the engine reaches
    /// through the caller's `Buffers` under the request's token (the driver: the IRP's
    /// locked pages), now and while the request pends. No copy of them is kept.
    /// `to`: SENDTO's destination address, resolved as CONNECT's is for a datagram socket
    /// (the only type that uses it).
    Send {
        flags: MsgFlags,
        len: usize,
        to: Option<SendTo<'a>>,
    },
    /// RECV into the request's own buffer of `len` bytes, reached the same way; it completes
    /// with the count written there.
    /// `from`: RECVFROM, which reports the sender's address ([`Done::CountFrom`]), and for a
    /// message whether it was cut short and its whole length.
    Recv {
        flags: MsgFlags,
        len: usize,
        from: bool,
    },
    /// SENDMSG: [`Op::Send`] passing `objects` (SCM_RIGHTS). When the send succeeds or pends
    /// the device takes them and leaves the vector empty; each then comes back exactly once,
    /// in a receiver's [`Done::Message`] or from [`crate::Device::poll_released`]. When it
    /// fails they stay in the vector, the caller's to release.
    SendMsg {
        flags: MsgFlags,
        len: usize,
        to: Option<SendTo<'a>>,
        objects: &'a mut Vec<Object>,
    },
    /// RECVMSG: RECVFROM with room for `room` passed objects; completes with
    /// [`Done::Message`].
    RecvMsg {
        flags: MsgFlags,
        len: usize,
        room: usize,
    },
}

/// An object a SENDMSG passes, as the front end holds it: its key (the front end's own
/// reference to the object), and the file, when the object is one of this device's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Object {
    pub key: u64,
    pub file: Option<FileId>,
}

/// RECVMSG's result: the bytes copied, the sender and the message's flags (`MSG_TRUNC`,
/// `MSG_CTRUNC`) and length as RECVFROM reports them, and the objects received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageDone {
    pub count: usize,
    pub from: AddressOut,
    /// The room the request gave for objects (where its data starts depends on it).
    pub room: usize,
    /// The objects, in the order they were sent, at most `room`: their keys, and once the
    /// front end has made them handles of the receiver's ([`crate::path::deliver_objects`]),
    /// those handles' values.
    pub objects: Vec<afunix_core::Passed>,
    /// The receive peeked: the message keeps its objects, and these are to be copied.
    pub peeked: bool,
}

/// SENDTO's destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendTo<'a> {
    /// A `sockaddr_un` as the program gave it; `key` is the socket file the caller opened
    /// (access-checked, as for CONNECT) when the socket is a datagram socket and the address
    /// a pathname, None otherwise.
    Address {
        sockaddr: &'a [u8],
        key: Option<PathKey>,
    },
    /// Longer than a `sockaddr_un` (up to a `sockaddr_storage`): a datagram socket refuses
    /// it (EINVAL, `unix_validate_addr`).
    Oversize,
}

/// One file of a POLL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollEntry {
    /// The file, or None if the caller's handle was not one of ours (reported POLLNVAL).
    pub file: Option<FileId>,
    pub events: u32,
}

/// The result of a request that completed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Done {
    /// Nothing to report beyond success.
    Ok,
    /// A byte count (SEND, RECV into the caller's buffer).
    Count(usize),
    /// RECVFROM: the bytes copied, and the sender's address (`addr_len` 0: none) with
    /// `msg_flags` (`MSG_TRUNC`) and `msg_len` (the message's whole length).
    CountFrom(usize, AddressOut),
    /// An address (GETSOCKNAME, GETPEERNAME, ACCEPT).
    Address(AddressOut),
    /// An integer (GETSOCKOPT, FIONREAD).
    Int(i32),
    PeerCred(PeerCredOut),
    /// POLL: `revents` for each entry, in order.
    Polled(Vec<u32>),
    /// RECVMSG.
    Message(MessageDone),
}

/// The outcome of [`crate::Device::execute`].
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub enum Reply {
    Ready(Result<Done, afunix_core::Errno>),
    Pending,
}

impl Reply {
    /// Whether the request is over, and failed.
    #[must_use]
    pub fn failed(&self) -> bool {
        matches!(self, Reply::Ready(Err(_)))
    }
}

/// A completed pending request.
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub struct Completion {
    pub token: afunix_core::Token,
    pub file: FileId,
    pub result: Result<Done, afunix_core::Errno>,
}
