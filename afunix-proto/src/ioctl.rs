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

// Only evaluated in consts, where an overflow fails the build.
#[allow(clippy::arithmetic_side_effects)]
const fn code(function: u32, method: u32, access: u32) -> u32 {
    ctl_code(FILE_DEVICE_AFUNIX, FUNCTION_BASE + function, method, access)
}

/// Driver statistics: output is a [`crate::DriverStats`]; no input. It needs no particular
/// access: who may see what is decided by the caller's identity (`docs/security.md`).
pub const IOCTL_AFUNIX_STATS: u32 = code(0, METHOD_BUFFERED, FILE_ANY_ACCESS);

// Socket requests; their inputs and outputs are the structs of `crate::wire`. Requests that
// only move small structs are METHOD_BUFFERED: the I/O manager copies them into and out of a
// system buffer, so the driver never touches user memory for them, and a request that pends
// keeps its system buffer until it completes.
//
// Each code declares the access its handle must have been opened with, and the I/O manager
// refuses the request (STATUS_ACCESS_DENIED) before it reaches the driver when the handle
// lacks it. As for a file: what changes the socket or sends data out through it needs write
// access (FILE_WRITE_DATA); what reads its data, its queue of connections or its state
// needs read access (FILE_READ_DATA). A handle opened for neither can do nothing but STATS.

/// A request that changes the socket or sends: the handle needs FILE_WRITE_DATA.
const fn writes(function: u32, method: u32) -> u32 {
    code(function, method, FILE_WRITE_ACCESS)
}

/// A request that reads the socket's data or state: the handle needs FILE_READ_DATA.
const fn reads(function: u32, method: u32) -> u32 {
    code(function, method, FILE_READ_ACCESS)
}

/// SOCKET: makes a freshly opened handle a socket of a type (stream, datagram, seqpacket).
/// In: [`crate::wire::SocketIn`].
pub const IOCTL_AFUNIX_SOCKET: u32 = writes(1, METHOD_BUFFERED);
/// BIND. In: [`crate::wire::AddressIn`] + the NT path (UTF-16) for pathname sockets.
pub const IOCTL_AFUNIX_BIND: u32 = writes(2, METHOD_BUFFERED);
/// LISTEN. In: [`crate::wire::ListenIn`].
pub const IOCTL_AFUNIX_LISTEN: u32 = writes(3, METHOD_BUFFERED);
/// CONNECT; may pend (a stream or seqpacket socket's). In: as BIND. An `AF_UNSPEC` address
/// (family 0, `addr_len` >= 2, no NT path) dissolves a datagram socket's association
/// (EINVAL on the other types, as Linux gives).
pub const IOCTL_AFUNIX_CONNECT: u32 = writes(4, METHOD_BUFFERED);
/// ACCEPT, AcceptEx-style; may pend. In: [`crate::wire::HandleIn`] naming the accepting
/// socket; out: [`crate::wire::AddressOut`], the peer's address.
pub const IOCTL_AFUNIX_ACCEPT: u32 = reads(5, METHOD_BUFFERED);
/// SHUTDOWN. In: [`crate::wire::ShutdownIn`].
pub const IOCTL_AFUNIX_SHUTDOWN: u32 = writes(6, METHOD_BUFFERED);
/// GETSOCKNAME. In: [`crate::wire::EmptyIn`]; out: [`crate::wire::AddressOut`].
pub const IOCTL_AFUNIX_GETSOCKNAME: u32 = reads(7, METHOD_BUFFERED);
/// GETPEERNAME. In: [`crate::wire::EmptyIn`]; out: [`crate::wire::AddressOut`].
pub const IOCTL_AFUNIX_GETPEERNAME: u32 = reads(8, METHOD_BUFFERED);
/// GETSOCKOPT. In: [`crate::wire::SockoptIn`] (value ignored); out: [`crate::wire::IntOut`]
/// (`SO_LINGER`'s two fields: [`crate::sockopt`]).
pub const IOCTL_AFUNIX_GETSOCKOPT: u32 = reads(9, METHOD_BUFFERED);
/// SETSOCKOPT. In: [`crate::wire::SockoptIn`].
pub const IOCTL_AFUNIX_SETSOCKOPT: u32 = writes(10, METHOD_BUFFERED);
/// FIONBIO. In: [`crate::wire::FionbioIn`].
pub const IOCTL_AFUNIX_FIONBIO: u32 = writes(11, METHOD_BUFFERED);
/// FIONREAD. In: [`crate::wire::EmptyIn`]; out: [`crate::wire::IntOut`].
pub const IOCTL_AFUNIX_FIONREAD: u32 = reads(12, METHOD_BUFFERED);
/// PEERCRED. In: [`crate::wire::EmptyIn`]; out: [`crate::wire::PeerCredOut`].
pub const IOCTL_AFUNIX_PEERCRED: u32 = reads(13, METHOD_BUFFERED);
/// SOCKETPAIR: connects this socket and the one whose handle is passed in; both fresh and
/// of one type (two of different types: EPROTOTYPE, as a connect across types gives).
/// In: [`crate::wire::HandleIn`].
pub const IOCTL_AFUNIX_SOCKETPAIR: u32 = writes(14, METHOD_BUFFERED);
/// POLL over many sockets with a timeout; pends until one is ready or the time is up.
/// In: [`crate::wire::PollIn`] + entries; out: the same bytes with `revents` filled.
pub const IOCTL_AFUNIX_POLL: u32 = reads(15, METHOD_BUFFERED);
/// SEND with flags; may pend. METHOD_IN_DIRECT: the input buffer is a
/// [`crate::wire::DataIn`]; the data is the "output" buffer, which the I/O manager locks and
/// describes with an MDL, so the driver copies from the sender's pages straight into the
/// receiver's (one copy).
pub const IOCTL_AFUNIX_SEND: u32 = writes(16, METHOD_IN_DIRECT);
/// RECV with flags; may pend. METHOD_OUT_DIRECT: input [`crate::wire::DataIn`]; the data
/// lands in the MDL-described output buffer.
pub const IOCTL_AFUNIX_RECV: u32 = reads(17, METHOD_OUT_DIRECT);

/// SENDTO: SEND with a destination address. Input: a [`crate::wire::DataIn`] followed by an
/// [`crate::wire::AddressIn`] and its NT path, as BIND and CONNECT give them; the data as for
/// SEND. A stream socket refuses any address (EISCONN when connected, else EOPNOTSUPP); a
/// datagram socket sends to it (a pathname's socket file opened as CONNECT opens it); a
/// seqpacket socket ignores it, as Linux does.
pub const IOCTL_AFUNIX_SENDTO: u32 = writes(18, METHOD_IN_DIRECT);

/// RECVFROM: RECV that reports the sender's address. Input: a [`crate::wire::DataIn`]. The
/// output buffer (the caller's pages, METHOD_OUT_DIRECT) starts with an
/// [`crate::wire::AddressOut`] (`addr_len` 0 when the sender has no name; `msg_flags` and
/// `msg_len` say whether the message was cut short and how long it was), and the data
/// follows it; the reply's length counts both (the header and the bytes copied).
pub const IOCTL_AFUNIX_RECVFROM: u32 = reads(19, METHOD_OUT_DIRECT);

/// SENDMSG: SEND (or SENDTO) that passes objects (SCM_RIGHTS). Input: a
/// [`crate::wire::SendMsgIn`], its handles, and optionally a destination as SENDTO's; the
/// data as for SEND. Datagram and seqpacket sockets only (a stream: EOPNOTSUPP).
pub const IOCTL_AFUNIX_SENDMSG: u32 = writes(20, METHOD_IN_DIRECT);

/// RECVMSG: RECVFROM that also takes passed objects, as new handles of the caller's. Input:
/// a [`crate::wire::RecvMsgIn`]. The output buffer (METHOD_OUT_DIRECT) starts with a
/// [`crate::wire::RecvMsgOut`] and `room` handle slots ([`crate::wire::recvmsg_header_len`]
/// bytes), and the data follows; the reply's length counts both.
pub const IOCTL_AFUNIX_RECVMSG: u32 = reads(21, METHOD_OUT_DIRECT);

/// Every IOCTL the driver defines.
pub const ALL_IOCTLS: [u32; 22] = [
    IOCTL_AFUNIX_STATS,
    IOCTL_AFUNIX_SOCKET,
    IOCTL_AFUNIX_BIND,
    IOCTL_AFUNIX_LISTEN,
    IOCTL_AFUNIX_CONNECT,
    IOCTL_AFUNIX_ACCEPT,
    IOCTL_AFUNIX_SHUTDOWN,
    IOCTL_AFUNIX_GETSOCKNAME,
    IOCTL_AFUNIX_GETPEERNAME,
    IOCTL_AFUNIX_GETSOCKOPT,
    IOCTL_AFUNIX_SETSOCKOPT,
    IOCTL_AFUNIX_FIONBIO,
    IOCTL_AFUNIX_FIONREAD,
    IOCTL_AFUNIX_PEERCRED,
    IOCTL_AFUNIX_SOCKETPAIR,
    IOCTL_AFUNIX_POLL,
    IOCTL_AFUNIX_SEND,
    IOCTL_AFUNIX_RECV,
    IOCTL_AFUNIX_SENDTO,
    IOCTL_AFUNIX_RECVFROM,
    IOCTL_AFUNIX_SENDMSG,
    IOCTL_AFUNIX_RECVMSG,
];

/// The Winsock provider's peer-credential control (`WSAIoctl`): its output is a
/// [`crate::wire::PeerCredOut`], the peer's process id and SID as recorded at connect.
/// `_WSAIOR(IOC_VENDOR, 0xAF01)`.
pub const SIO_AFUNIX_PEERCRED: u32 = 0x5800_AF01;

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
    fn codes_are_distinct_and_use_the_intended_methods() {
        for (i, a) in ALL_IOCTLS.iter().enumerate() {
            assert_eq!(a >> 16, FILE_DEVICE_AFUNIX);
            for b in &ALL_IOCTLS[i + 1..] {
                assert_ne!(a, b);
            }
            let expected = match *a {
                IOCTL_AFUNIX_SEND | IOCTL_AFUNIX_SENDTO | IOCTL_AFUNIX_SENDMSG => METHOD_IN_DIRECT,
                IOCTL_AFUNIX_RECV | IOCTL_AFUNIX_RECVFROM | IOCTL_AFUNIX_RECVMSG => {
                    METHOD_OUT_DIRECT
                }
                _ => METHOD_BUFFERED,
            };
            assert_eq!(method_of(*a), expected, "{a:#x}");
        }
    }

    #[test]
    fn stats_is_buffered_and_in_our_device_type() {
        assert_eq!(method_of(IOCTL_AFUNIX_STATS), METHOD_BUFFERED);
        assert_eq!(IOCTL_AFUNIX_STATS >> 16, FILE_DEVICE_AFUNIX);
        assert_eq!(IOCTL_AFUNIX_STATS, 0xAF05_2000);
    }

    /// The access a code demands, as the I/O manager reads it (`(code >> 14) & 3`).
    const fn access_of(code: u32) -> u32 {
        (code >> 14) & 3
    }

    #[test]
    fn every_socket_request_demands_read_or_write_access() {
        let reading = [
            IOCTL_AFUNIX_ACCEPT,
            IOCTL_AFUNIX_GETSOCKNAME,
            IOCTL_AFUNIX_GETPEERNAME,
            IOCTL_AFUNIX_GETSOCKOPT,
            IOCTL_AFUNIX_FIONREAD,
            IOCTL_AFUNIX_PEERCRED,
            IOCTL_AFUNIX_POLL,
            IOCTL_AFUNIX_RECV,
            IOCTL_AFUNIX_RECVFROM,
            IOCTL_AFUNIX_RECVMSG,
        ];
        for code in ALL_IOCTLS {
            let expected = if code == IOCTL_AFUNIX_STATS {
                FILE_ANY_ACCESS
            } else if reading.contains(&code) {
                FILE_READ_ACCESS
            } else {
                FILE_WRITE_ACCESS
            };
            assert_eq!(access_of(code), expected, "{code:#x}");
        }
        // Two that matter most, spelled out: SEND needs write, RECV needs read.
        assert_eq!(IOCTL_AFUNIX_SEND, 0xAF05_A041);
        assert_eq!(IOCTL_AFUNIX_RECV, 0xAF05_6046);
    }
}
