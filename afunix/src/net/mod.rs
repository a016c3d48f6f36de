//! The socket types, shaped like `std::os::unix::net`.

mod addr;
#[cfg(feature = "tokio")]
pub mod aio;
#[cfg(windows)]
mod ancillary;
mod datagram;
#[cfg(windows)]
mod handles;
mod listener;
mod seqpacket;
mod stream;
mod vectored;

use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use afunix_core::{Errno, Limits};
use afunix_proto::decode::RECVFROM_HEADER;
use afunix_proto::encode;
use afunix_proto::ioctl::*;
use afunix_proto::wire::{
    AddressOut, IntOut, MSG_TRUNC, PEERCRED_APP_CONTAINER, PEERCRED_IMPERSONATING,
    PEERCRED_RESTRICTED, PeerCredOut,
};
use zerocopy::{FromBytes, IntoBytes};

pub use addr::SocketAddr;
#[cfg(windows)]
pub use ancillary::{AncillaryData, AncillaryError, Messages, ScmRights, SocketAncillary};
pub use datagram::UnixDatagram;
pub use listener::{Incoming, UnixListener};
pub use seqpacket::{UnixSeqpacketConn, UnixSeqpacketListener};
pub use stream::{PeerCred, UnixStream};

use crate::channel::{Data, Endpoint, Transport, io_error};
use vectored::{gather, scatter};

/// The socket types, Linux's numbers, for [`Net::socket_typed`].
pub use afunix_proto::wire::{SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET, SOCK_STREAM};
/// `SOL_SOCKET`, `SO_ERROR`.
const SOL_SOCKET: i32 = 1;
const SO_ERROR: i32 = 4;

/// Where sockets live: the afunixrs driver, or an engine inside this process.
///
/// `UnixStream::connect` and friends use [`Net::system`]. A `Net` of your own, such as an
/// isolated [`Net::in_process`], makes sockets that reach only that `Net`'s sockets.
#[derive(Clone, Debug)]
pub struct Net {
    transport: Arc<dyn Transport>,
}

impl Net {
    /// The default: on Windows, the afunixrs driver (`\\.\AfUnixRs`). Elsewhere there is no
    /// driver, and this is one in-process engine shared by the whole process: sockets reach
    /// the process's own sockets, which is what the tests use.
    pub fn system() -> Net {
        static SYSTEM: OnceLock<Net> = OnceLock::new();
        SYSTEM
            .get_or_init(|| {
                #[cfg(windows)]
                {
                    Net {
                        transport: Arc::new(crate::sys::DriverTransport),
                    }
                }
                #[cfg(not(windows))]
                {
                    Net::in_process()
                }
            })
            .clone()
    }

    /// A fresh engine inside this process, with Linux's default limits: the device layer and
    /// engine the driver runs, driven through the same wire format, with real blocking.
    pub fn in_process() -> Net {
        Net::in_process_with(Limits::default())
    }

    /// As [`Net::in_process`], with the given limits.
    pub fn in_process_with(limits: Limits) -> Net {
        Net {
            transport: Arc::new(crate::inproc::InProcess::new(limits)),
        }
    }

    /// For an in-process `Net`: how many sockets it holds and how many requests are pending
    /// in it (waiting POLLs included), with its other counts. None for the driver, whose
    /// counts `afunixctl status` reports.
    pub fn stats(&self) -> Option<afunix_device::DeviceStats> {
        self.transport.stats()
    }

    /// `UnixListener::bind` on this `Net`.
    pub fn bind<P: AsRef<Path>>(&self, path: P) -> io::Result<UnixListener> {
        self.bind_addr(&SocketAddr::from_pathname(path)?)
    }

    /// `UnixListener::bind_addr` on this `Net`.
    pub fn bind_addr(&self, addr: &SocketAddr) -> io::Result<UnixListener> {
        self.listening(SOCK_STREAM, addr, 128)
            .map(UnixListener::from_socket)
    }

    /// A socket of type `ty` bound to `addr` and listening.
    fn listening(&self, ty: u32, addr: &SocketAddr, backlog: i32) -> io::Result<Socket> {
        let socket = Socket::new_typed(self, ty)?;
        socket.bind(addr)?;
        socket.listen(backlog)?;
        Ok(socket)
    }

    /// A socket of type `ty` connected to `addr`.
    fn connected(&self, ty: u32, addr: &SocketAddr) -> io::Result<Socket> {
        let socket = Socket::new_typed(self, ty)?;
        socket.connect(addr)?;
        Ok(socket)
    }

    /// Two connected sockets of type `ty` (socketpair(2)).
    fn socket_pair(&self, ty: u32) -> io::Result<(Socket, Socket)> {
        let a = Socket::new_typed(self, ty)?;
        let b = Socket::new_typed(self, ty)?;
        a.simple(
            IOCTL_AFUNIX_SOCKETPAIR,
            encode::handle(b.endpoint.handle_value()).as_bytes(),
        )?;
        Ok((a, b))
    }

    /// `UnixStream::connect` on this `Net`.
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<UnixStream> {
        self.connect_addr(&SocketAddr::from_pathname(path)?)
    }

    /// `UnixStream::connect_addr` on this `Net`.
    pub fn connect_addr(&self, addr: &SocketAddr) -> io::Result<UnixStream> {
        self.connected(SOCK_STREAM, addr)
            .map(UnixStream::from_socket)
    }

    /// `UnixStream::pair` on this `Net`.
    pub fn pair(&self) -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = self.socket_pair(SOCK_STREAM)?;
        Ok((UnixStream::from_socket(a), UnixStream::from_socket(b)))
    }

    /// `UnixDatagram::bind` on this `Net`.
    pub fn bind_datagram<P: AsRef<Path>>(&self, path: P) -> io::Result<UnixDatagram> {
        self.bind_datagram_addr(&SocketAddr::from_pathname(path)?)
    }

    /// `UnixDatagram::bind_addr` on this `Net`.
    pub fn bind_datagram_addr(&self, addr: &SocketAddr) -> io::Result<UnixDatagram> {
        let socket = Socket::new_typed(self, SOCK_DGRAM)?;
        socket.bind(addr)?;
        Ok(UnixDatagram::from_socket(socket))
    }

    /// `UnixDatagram::unbound` on this `Net`.
    pub fn unbound_datagram(&self) -> io::Result<UnixDatagram> {
        Socket::new_typed(self, SOCK_DGRAM).map(UnixDatagram::from_socket)
    }

    /// `UnixDatagram::pair` on this `Net`.
    pub fn datagram_pair(&self) -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = self.socket_pair(SOCK_DGRAM)?;
        Ok((UnixDatagram::from_socket(a), UnixDatagram::from_socket(b)))
    }

    /// `UnixSeqpacketListener::bind` on this `Net`.
    pub fn bind_seqpacket<P: AsRef<Path>>(&self, path: P) -> io::Result<UnixSeqpacketListener> {
        self.bind_seqpacket_addr(&SocketAddr::from_pathname(path)?)
    }

    /// `UnixSeqpacketListener::bind_addr` on this `Net`.
    pub fn bind_seqpacket_addr(&self, addr: &SocketAddr) -> io::Result<UnixSeqpacketListener> {
        self.listening(SOCK_SEQPACKET, addr, 128)
            .map(UnixSeqpacketListener::from_socket)
    }

    /// `UnixSeqpacketListener::bind_with_backlog` on this `Net`.
    pub fn bind_seqpacket_with_backlog<P: AsRef<Path>>(
        &self,
        path: P,
        backlog: i32,
    ) -> io::Result<UnixSeqpacketListener> {
        let addr = SocketAddr::from_pathname(path)?;
        self.listening(SOCK_SEQPACKET, &addr, backlog)
            .map(UnixSeqpacketListener::from_socket)
    }

    /// `UnixSeqpacketConn::connect` on this `Net`.
    pub fn connect_seqpacket<P: AsRef<Path>>(&self, path: P) -> io::Result<UnixSeqpacketConn> {
        self.connect_seqpacket_addr(&SocketAddr::from_pathname(path)?)
    }

    /// `UnixSeqpacketConn::connect_addr` on this `Net`.
    pub fn connect_seqpacket_addr(&self, addr: &SocketAddr) -> io::Result<UnixSeqpacketConn> {
        self.connected(SOCK_SEQPACKET, addr)
            .map(UnixSeqpacketConn::from_socket)
    }

    /// `UnixSeqpacketConn::pair` on this `Net`.
    pub fn seqpacket_pair(&self) -> io::Result<(UnixSeqpacketConn, UnixSeqpacketConn)> {
        let (a, b) = self.socket_pair(SOCK_SEQPACKET)?;
        Ok((
            UnixSeqpacketConn::from_socket(a),
            UnixSeqpacketConn::from_socket(b),
        ))
    }

    /// A stream socket that is not yet bound or connected, for the conformance suite and for
    /// tools that need the steps one by one.
    pub fn socket(&self) -> io::Result<RawSocket> {
        self.socket_typed(SOCK_STREAM)
    }

    /// As [`Net::socket`], of type `sock_type` (`SOCK_STREAM` 1, `SOCK_DGRAM` 2, `SOCK_RAW`
    /// 3, which Linux takes as a datagram socket, `SOCK_SEQPACKET` 5; any other number is
    /// refused as socket(2) refuses it, ESOCKTNOSUPPORT).
    pub fn socket_typed(&self, sock_type: u32) -> io::Result<RawSocket> {
        Socket::new_typed(self, sock_type).map(RawSocket)
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Timeouts {
    read: Option<Duration>,
    write: Option<Duration>,
}

/// One socket handle and what it needs to issue requests.
#[derive(Debug)]
pub(crate) struct Socket {
    net: Net,
    endpoint: Arc<dyn Endpoint>,
    /// Shared with clones: timeouts belong to the socket, as SO_RCVTIMEO does.
    timeouts: Arc<Mutex<Timeouts>>,
    /// The type SOCKET made it with (`SOCK_*`).
    ty: u32,
}

/// When a request with `timeout` gives up. A timeout too long to reach (`Duration::MAX`, which
/// std accepts) waits for ever, as Linux's `sock_set_timeout` takes one beyond
/// `MAX_SCHEDULE_TIMEOUT` to mean no timeout.
fn deadline(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|t| Instant::now().checked_add(t))
}

impl Socket {
    fn new_typed(net: &Net, ty: u32) -> io::Result<Socket> {
        let endpoint = net.transport.open()?;
        let socket = Socket {
            net: net.clone(),
            endpoint,
            timeouts: Arc::default(),
            ty,
        };
        socket.simple(IOCTL_AFUNIX_SOCKET, encode::socket(ty, false).as_bytes())?;
        Ok(socket)
    }

    /// A message socket (datagram or seqpacket): its sends are whole messages, its
    /// destinations resolved as CONNECT's are.
    fn is_message(&self) -> bool {
        self.ty != SOCK_STREAM
    }

    fn timeouts(&self) -> Timeouts {
        *self.timeouts.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_timeouts(&self, f: impl FnOnce(&mut Timeouts)) {
        f(&mut self.timeouts.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// `SO_RCVTIMEO` as std sets it: `None` waits for ever, zero is refused.
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        check_timeout(timeout)?;
        self.set_timeouts(|t| t.read = timeout);
        Ok(())
    }

    /// `SO_SNDTIMEO`, as [`Socket::set_read_timeout`].
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        check_timeout(timeout)?;
        self.set_timeouts(|t| t.write = timeout);
        Ok(())
    }

    fn request(
        &self,
        code: u32,
        input: &[u8],
        data: Data<'_>,
        deadline: Option<Instant>,
    ) -> io::Result<usize> {
        self.endpoint
            .ioctl(code, input, data, deadline)
            .map_err(io_error)
    }

    fn simple(&self, code: u32, input: &[u8]) -> io::Result<()> {
        self.request(code, input, Data::None, None).map(|_| ())
    }

    /// BIND or CONNECT with raw `sockaddr_un` bytes (`addrlen` of them). A pathname (the
    /// bytes up to the first NUL, as UTF-8) is sent with its absolute path, resolved here
    /// where the current directory is known.
    /// The NT path a pathname `sockaddr` names (none for other kinds).
    fn nt_path(&self, sockaddr: &[u8]) -> io::Result<Vec<u16>> {
        match encode::pathname(sockaddr) {
            Some(name) => {
                let text = std::str::from_utf8(name).map_err(|_| io_error(Errno::EINVAL))?;
                self.net.transport.absolute_path(Path::new(text))
            }
            None => Ok(Vec::new()),
        }
    }

    fn address_request(
        &self,
        code: u32,
        sockaddr: &[u8],
        deadline: Option<Instant>,
    ) -> io::Result<()> {
        let input = self.address_input(sockaddr)?;
        self.request(code, &input, Data::None, deadline).map(|_| ())
    }

    /// The input of BIND or CONNECT to `sockaddr`.
    fn address_input(&self, sockaddr: &[u8]) -> io::Result<Vec<u8>> {
        let path = self.nt_path(sockaddr)?;
        encode::address(sockaddr, &path).map_err(|_| io_error(Errno::EINVAL))
    }

    /// SENDTO: SEND with a destination, raw `sockaddr_un` bytes. A stream refuses any address
    /// without looking at it (Linux gives EISCONN for a path that could not exist), so the
    /// address goes as the program gave it, with no NT path; longer than a `sockaddr_un`, as
    /// its length alone, and more than a `sockaddr_storage` is EINVAL, as
    /// `move_addr_to_kernel` says. A datagram socket's destination is resolved as CONNECT's
    /// is: a pathname goes with its absolute NT path.
    fn send_to(&self, data: &[u8], flags: u32, sockaddr: &[u8]) -> io::Result<usize> {
        let path = if self.is_message() {
            self.nt_path(sockaddr)?
        } else {
            Vec::new()
        };
        let input = encode::send_to(flags, sockaddr, &path).map_err(|_| io_error(Errno::EINVAL))?;
        let deadline = deadline(self.timeouts().write);
        self.request(IOCTL_AFUNIX_SENDTO, &input, Data::In(data), deadline)
    }

    /// RECVFROM: bytes into `buf`, and the sender's address. The request's output is the
    /// address followed by the data, so the bytes pass through one buffer of the request's
    /// own (allocated fallibly) on their way to `buf`.
    fn recv_from(&self, buf: &mut [u8], flags: u32) -> io::Result<(usize, AddressOut)> {
        let mut out = Vec::new();
        let total = buf
            .len()
            .checked_add(RECVFROM_HEADER)
            .ok_or_else(|| io_error(Errno::EINVAL))?;
        out.try_reserve_exact(total)
            .map_err(|_| io_error(Errno::ENOMEM))?;
        out.resize(total, 0);
        let deadline = deadline(self.timeouts().read);
        let n = self.request(
            IOCTL_AFUNIX_RECVFROM,
            encode::data(flags).as_bytes(),
            Data::Out(&mut out),
            deadline,
        )?;
        let (header, data) = out.split_at(RECVFROM_HEADER);
        let count = n.saturating_sub(RECVFROM_HEADER).min(buf.len());
        buf.get_mut(..count)
            .zip(data.get(..count))
            .ok_or_else(|| io_error(Errno::EFAULT))
            .map(|(to, from)| to.copy_from_slice(from))?;
        Ok((count, address_reply(header)?))
    }

    /// SENDMSG: `data`, passing the objects behind `handles` (this process's handles: the
    /// receiver gets handles of its own with the same access), to the peer or to `sockaddr`.
    fn send_objects(
        &self,
        data: &[u8],
        flags: u32,
        handles: &[u64],
        sockaddr: Option<&[u8]>,
    ) -> io::Result<usize> {
        let path = match sockaddr {
            Some(addr) if self.is_message() => self.nt_path(addr)?,
            _ => Vec::new(),
        };
        let to = sockaddr.map(|addr| (addr, path.as_slice()));
        let input = encode::send_msg(flags, handles, to).map_err(|_| io_error(Errno::EINVAL))?;
        let deadline = deadline(self.timeouts().write);
        self.request(IOCTL_AFUNIX_SENDMSG, &input, Data::In(data), deadline)
    }

    /// RECVMSG: bytes into `buf`, the sender and the message's flags (`MSG_CTRUNC` among
    /// them), and the handles received (at most `room`), now this process's own.
    fn recv_objects(
        &self,
        buf: &mut [u8],
        flags: u32,
        room: usize,
    ) -> io::Result<(usize, AddressOut, Vec<u64>)> {
        use afunix_proto::wire::{RecvMsgOut, SCM_MAX_FD, recvmsg_header_len};
        let room = room.min(SCM_MAX_FD);
        let head = recvmsg_header_len(room);
        let total = buf
            .len()
            .checked_add(head)
            .ok_or_else(|| io_error(Errno::EINVAL))?;
        let mut out = Vec::new();
        out.try_reserve_exact(total)
            .map_err(|_| io_error(Errno::ENOMEM))?;
        out.resize(total, 0);
        let input = encode::recv_msg(flags, u32::try_from(room).unwrap_or(0));
        let deadline = deadline(self.timeouts().read);
        let n = self.request(
            IOCTL_AFUNIX_RECVMSG,
            input.as_bytes(),
            Data::Out(&mut out),
            deadline,
        )?;
        let (header, data) = out.split_at(head);
        let reply = RecvMsgOut::read_from_prefix(header)
            .map_err(|_| io_error(Errno::EINVAL))?
            .0;
        let count = usize::try_from(reply.count).unwrap_or(usize::MAX).min(room);
        let handles = header
            .get(size_of::<RecvMsgOut>()..)
            .unwrap_or_default()
            .chunks_exact(8)
            .take(count)
            .filter_map(|c| c.try_into().ok().map(u64::from_ne_bytes))
            .collect();
        let copied = n.saturating_sub(head).min(buf.len());
        buf.get_mut(..copied)
            .zip(data.get(..copied))
            .ok_or_else(|| io_error(Errno::EFAULT))
            .map(|(to, from)| to.copy_from_slice(from))?;
        Ok((copied, reply.addr, handles))
    }

    fn bind(&self, addr: &SocketAddr) -> io::Result<()> {
        self.address_request(IOCTL_AFUNIX_BIND, &addr.to_sockaddr(), None)
    }

    fn connect(&self, addr: &SocketAddr) -> io::Result<()> {
        // A blocking connect that waits for backlog room honours the send timeout, as
        // unix_stream_connect's sock_sndtimeo.
        self.address_request(
            IOCTL_AFUNIX_CONNECT,
            &addr.to_sockaddr(),
            deadline(self.timeouts().write),
        )
    }

    fn listen(&self, backlog: i32) -> io::Result<()> {
        self.simple(IOCTL_AFUNIX_LISTEN, encode::listen(backlog).as_bytes())
    }

    /// ACCEPT onto a new socket: it and the peer's address as the driver reported it.
    fn accept_reply(&self) -> io::Result<(Socket, AddressOut)> {
        // The new socket is of the listener's type, as Linux's accept makes it.
        let new = Socket::new_typed(&self.net, self.ty)?;
        let mut out = [0u8; size_of::<AddressOut>()];
        let input = encode::handle(new.endpoint.handle_value());
        // accept waits for SO_RCVTIMEO, as Linux's does.
        self.request(
            IOCTL_AFUNIX_ACCEPT,
            input.as_bytes(),
            Data::Out(&mut out),
            deadline(self.timeouts().read),
        )?;
        Ok((new, address_reply(&out)?))
    }

    fn accept(&self) -> io::Result<(Socket, SocketAddr)> {
        let (new, reply) = self.accept_reply()?;
        Ok((new, SocketAddr::from_sockaddr(reply.sockaddr())?))
    }

    /// GETSOCKNAME or GETPEERNAME, as the driver reported it.
    fn name_reply(&self, code: u32) -> io::Result<AddressOut> {
        let mut out = [0u8; size_of::<AddressOut>()];
        self.request(code, encode::empty().as_bytes(), Data::Out(&mut out), None)?;
        address_reply(&out)
    }

    fn address(&self, code: u32) -> io::Result<SocketAddr> {
        SocketAddr::from_sockaddr(self.name_reply(code)?.sockaddr())
    }

    fn int(&self, code: u32, input: &[u8]) -> io::Result<i32> {
        let mut out = [0u8; size_of::<IntOut>()];
        self.request(code, input, Data::Out(&mut out), None)?;
        IntOut::read_from_bytes(&out)
            .map(|o| o.value)
            .map_err(|_| io_error(Errno::EINVAL))
    }

    /// SEND: `WriteFile` when there are no flags, the SEND request when there are.
    fn send(&self, data: &[u8], flags: u32) -> io::Result<usize> {
        let deadline = deadline(self.timeouts().write);
        if flags == 0 {
            return self.endpoint.write(data, deadline).map_err(io_error);
        }
        self.request(
            IOCTL_AFUNIX_SEND,
            encode::data(flags).as_bytes(),
            Data::In(data),
            deadline,
        )
    }

    /// RECV: `ReadFile` when there are no flags, the RECV request when there are.
    fn recv(&self, buf: &mut [u8], flags: u32) -> io::Result<usize> {
        let deadline = deadline(self.timeouts().read);
        if flags == 0 {
            return self.endpoint.read(buf, deadline).map_err(io_error);
        }
        self.request(
            IOCTL_AFUNIX_RECV,
            encode::data(flags).as_bytes(),
            Data::Out(buf),
            deadline,
        )
    }

    fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        let how = match how {
            std::net::Shutdown::Read => 0,
            std::net::Shutdown::Write => 1,
            std::net::Shutdown::Both => 2,
        };
        self.simple(IOCTL_AFUNIX_SHUTDOWN, encode::shutdown(how).as_bytes())
    }

    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.simple(
            IOCTL_AFUNIX_FIONBIO,
            encode::fionbio(nonblocking).as_bytes(),
        )
    }

    fn take_error(&self) -> io::Result<Option<io::Error>> {
        let errno = self.int(
            IOCTL_AFUNIX_GETSOCKOPT,
            encode::sockopt(SOL_SOCKET, SO_ERROR, 0).as_bytes(),
        )?;
        Ok(u16::try_from(errno)
            .ok()
            .filter(|&n| n != 0)
            .map(|n| match Errno::from_number(n) {
                Some(e) => io_error(e),
                None => io::Error::other(format!("errno {n}")),
            }))
    }

    fn peer_cred(&self) -> io::Result<PeerCred> {
        let mut out = [0u8; size_of::<PeerCredOut>()];
        self.request(
            IOCTL_AFUNIX_PEERCRED,
            encode::empty().as_bytes(),
            Data::Out(&mut out),
            None,
        )?;
        let cred = PeerCredOut::read_from_bytes(&out).map_err(|_| io_error(Errno::EINVAL))?;
        Ok(PeerCred {
            pid: cred.pid,
            sid: cred.sid().to_vec(),
            integrity: cred.integrity,
            app_container: cred.flags & PEERCRED_APP_CONTAINER != 0,
            restricted: cred.flags & PEERCRED_RESTRICTED != 0,
            impersonating: cred.flags & PEERCRED_IMPERSONATING != 0,
        })
    }

    fn try_clone(&self) -> io::Result<Socket> {
        Ok(Socket {
            net: self.net.clone(),
            endpoint: self.endpoint.duplicate()?,
            timeouts: self.timeouts.clone(),
            ty: self.ty,
        })
    }
}

fn address_reply(out: &[u8]) -> io::Result<AddressOut> {
    AddressOut::read_from_bytes(out).map_err(|_| io_error(Errno::EINVAL))
}

fn check_timeout(timeout: Option<Duration>) -> io::Result<()> {
    if timeout == Some(Duration::ZERO) {
        // As std: a zero timeout is refused rather than taken as "no timeout".
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cannot set a 0 duration timeout",
        ));
    }
    Ok(())
}

/// A socket driven one request at a time, with Linux's numbers: what the conformance suite
/// uses to hold the library (and, through it, the device layer and the engine) to Linux.
/// Every method returns the errno Linux would.
#[derive(Debug)]
pub struct RawSocket(Socket);

/// What [`RawSocket::recv_msg`] received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawMessage {
    /// The bytes copied into the buffer.
    pub copied: usize,
    /// The whole message's length (for a stream, the bytes copied).
    pub len: usize,
    /// What recvmsg(2) returns: `len` when the call's flags had `MSG_TRUNC`, else `copied`.
    pub ret: usize,
    /// `msghdr.msg_flags`: `MSG_TRUNC` (0x20) when the message was cut short.
    pub msg_flags: u32,
    /// The sender's address as its reported length and bytes (length 0: no name).
    pub addr_len: usize,
    pub addr: Vec<u8>,
}

/// The errno of a failed [`RawSocket`] call.
pub type RawResult<T> = Result<T, Errno>;

fn errno_of(e: io::Error) -> Errno {
    crate::channel::errno_of(&e).unwrap_or(Errno::EINVAL)
}

impl RawSocket {
    fn call<T>(&self, f: impl FnOnce(&Socket) -> io::Result<T>) -> RawResult<T> {
        f(&self.0).map_err(errno_of)
    }

    /// The handle value, for POLL entries.
    pub fn handle(&self) -> u64 {
        self.0.endpoint.handle_value()
    }

    /// Sends any request, well-formed or not, to this socket's handle: what the tests of the
    /// driver's input checks use. `output` is the reply (or data) buffer.
    pub fn raw_request(&self, code: u32, input: &[u8], output: &mut [u8]) -> RawResult<usize> {
        let data = if output.is_empty() {
            Data::None
        } else {
            Data::Out(output)
        };
        self.0.endpoint.ioctl(code, input, data, None)
    }

    /// Another handle on the same socket.
    pub fn try_clone(&self) -> RawResult<RawSocket> {
        self.call(|s| s.try_clone()).map(RawSocket)
    }

    /// bind(2) with raw `sockaddr_un` bytes (`addrlen` of them). A pathname's file path is
    /// the bytes up to the first NUL, taken as UTF-8.
    pub fn bind_raw(&self, sockaddr: &[u8]) -> RawResult<()> {
        self.raw_address(IOCTL_AFUNIX_BIND, sockaddr)
    }

    /// connect(2) with raw `sockaddr_un` bytes.
    pub fn connect_raw(&self, sockaddr: &[u8]) -> RawResult<()> {
        self.raw_address(IOCTL_AFUNIX_CONNECT, sockaddr)
    }

    fn raw_address(&self, code: u32, sockaddr: &[u8]) -> RawResult<()> {
        self.call(|s| s.address_request(code, sockaddr, None))
    }

    pub fn listen(&self, backlog: i32) -> RawResult<()> {
        self.call(|s| s.listen(backlog))
    }

    /// accept(2): the new socket and the peer's raw address bytes.
    pub fn accept(&self) -> RawResult<(RawSocket, Vec<u8>)> {
        let (new, reply) = self.call(Socket::accept_reply)?;
        Ok((RawSocket(new), reply.sockaddr().to_vec()))
    }

    /// socketpair(2) onto `other`, which must be fresh too.
    pub fn pair_with(&self, other: &RawSocket) -> RawResult<()> {
        self.call(|s| {
            s.simple(
                IOCTL_AFUNIX_SOCKETPAIR,
                encode::handle(other.handle()).as_bytes(),
            )
        })
    }

    pub fn send(&self, data: &[u8], flags: u32) -> RawResult<usize> {
        self.call(|s| s.send(data, flags))
    }

    /// recv(2). With `MSG_TRUNC` it returns a message's whole length, as Linux's does: the
    /// request is then RECVFROM, whose reply says it (RECV's says only the bytes copied).
    pub fn recv(&self, buf: &mut [u8], flags: u32) -> RawResult<usize> {
        if flags & MSG_TRUNC != 0 {
            return self.recv_msg(buf, flags).map(|m| m.ret);
        }
        self.call(|s| s.recv(buf, flags))
    }

    /// recvmsg(2) without ancillary data: what it returns, the message's flags and its
    /// sender's address.
    pub fn recv_msg(&self, buf: &mut [u8], flags: u32) -> RawResult<RawMessage> {
        let (copied, from) = self.call(|s| s.recv_from(buf, flags))?;
        let len = usize::try_from(from.msg_len).unwrap_or(usize::MAX);
        Ok(RawMessage {
            copied,
            len,
            ret: if flags & MSG_TRUNC != 0 { len } else { copied },
            msg_flags: from.msg_flags,
            addr_len: usize::try_from(from.addr_len).unwrap_or(usize::MAX),
            addr: from.sockaddr().to_vec(),
        })
    }

    /// sendmsg(2) with SCM_RIGHTS: `handles` are this process's handle values (an
    /// in-process `Net` has none: EOPNOTSUPP), to the peer or to `sockaddr`.
    pub fn send_with_handles(
        &self,
        data: &[u8],
        flags: u32,
        handles: &[u64],
        sockaddr: Option<&[u8]>,
    ) -> RawResult<usize> {
        self.call(|s| s.send_objects(data, flags, handles, sockaddr))
    }

    /// recvmsg(2) with room for `room` handles: the message as [`RawSocket::recv_msg`]
    /// reports it (`MSG_CTRUNC` among its flags when handles did not fit), and the handles
    /// received, now this process's own.
    pub fn recv_with_handles(
        &self,
        buf: &mut [u8],
        flags: u32,
        room: usize,
    ) -> RawResult<(RawMessage, Vec<u64>)> {
        let (copied, from, handles) = self.call(|s| s.recv_objects(buf, flags, room))?;
        let len = usize::try_from(from.msg_len).unwrap_or(usize::MAX);
        let message = RawMessage {
            copied,
            len,
            ret: if flags & MSG_TRUNC != 0 { len } else { copied },
            msg_flags: from.msg_flags,
            addr_len: usize::try_from(from.addr_len).unwrap_or(usize::MAX),
            addr: from.sockaddr().to_vec(),
        };
        Ok((message, handles))
    }

    /// sendto(2) with raw `sockaddr_un` bytes (`addrlen` of them; none is a plain send).
    pub fn send_to(&self, data: &[u8], flags: u32, sockaddr: &[u8]) -> RawResult<usize> {
        self.call(|s| s.send_to(data, flags, sockaddr))
    }

    /// recvfrom(2): the byte count, and the sender's address as its reported length and
    /// bytes (length 0: the sender has no name, or nothing was received).
    pub fn recv_from(&self, buf: &mut [u8], flags: u32) -> RawResult<(usize, usize, Vec<u8>)> {
        let (n, from) = self.call(|s| s.recv_from(buf, flags))?;
        let len = usize::try_from(from.addr_len).unwrap_or(usize::MAX);
        Ok((n, len, from.sockaddr().to_vec()))
    }

    pub fn shutdown(&self, how: i32) -> RawResult<()> {
        self.call(|s| s.simple(IOCTL_AFUNIX_SHUTDOWN, encode::shutdown(how).as_bytes()))
    }

    /// getsockname(2): the reported length and bytes (up to 112).
    pub fn getsockname(&self) -> RawResult<(usize, Vec<u8>)> {
        self.raw_name(IOCTL_AFUNIX_GETSOCKNAME)
    }

    pub fn getpeername(&self) -> RawResult<(usize, Vec<u8>)> {
        self.raw_name(IOCTL_AFUNIX_GETPEERNAME)
    }

    fn raw_name(&self, code: u32) -> RawResult<(usize, Vec<u8>)> {
        let reply = self.call(|s| s.name_reply(code))?;
        Ok((reply.addr_len as usize, reply.sockaddr().to_vec()))
    }

    pub fn getsockopt(&self, level: i32, name: i32) -> RawResult<i32> {
        self.call(|s| {
            s.int(
                IOCTL_AFUNIX_GETSOCKOPT,
                encode::sockopt(level, name, 0).as_bytes(),
            )
        })
    }

    pub fn setsockopt(&self, level: i32, name: i32, value: i32) -> RawResult<()> {
        self.call(|s| {
            s.simple(
                IOCTL_AFUNIX_SETSOCKOPT,
                encode::sockopt(level, name, value).as_bytes(),
            )
        })
    }

    /// `getsockopt(SOL_SOCKET, SO_LINGER)`: `(l_onoff, l_linger)`. The driver reports the two
    /// fields by two options (`afunix_proto::sockopt`).
    pub fn linger(&self) -> RawResult<(i32, i32)> {
        use afunix_proto::sockopt::{SO_AFUNIX_LINGER_SECONDS, SO_LINGER, SOL_SOCKET};
        let onoff = self.getsockopt(SOL_SOCKET, SO_LINGER)?;
        let seconds = self.getsockopt(SOL_SOCKET, SO_AFUNIX_LINGER_SECONDS)?;
        Ok((onoff, seconds))
    }

    /// `setsockopt(SOL_SOCKET, SO_LINGER, {l_onoff, l_linger})`.
    pub fn set_linger(&self, onoff: i32, seconds: i32) -> RawResult<()> {
        use afunix_proto::decode::OptValue;
        use afunix_proto::sockopt::{SO_LINGER, SOL_SOCKET};
        let input = encode::sockopt_value(SOL_SOCKET, SO_LINGER, OptValue::linger(onoff, seconds));
        self.call(|s| s.simple(IOCTL_AFUNIX_SETSOCKOPT, input.as_bytes()))
    }

    pub fn set_nonblocking(&self, nonblocking: bool) -> RawResult<()> {
        self.call(|s| s.set_nonblocking(nonblocking))
    }

    pub fn fionread(&self) -> RawResult<i32> {
        self.call(|s| s.int(IOCTL_AFUNIX_FIONREAD, encode::empty().as_bytes()))
    }

    pub fn peer_cred(&self) -> RawResult<PeerCred> {
        self.call(|s| s.peer_cred())
    }

    /// poll(2) over `sockets` with their `events`; returns each one's `revents`.
    pub fn poll(sockets: &[(&RawSocket, u32)], timeout_ms: i64) -> RawResult<Vec<u32>> {
        let Some((first, _)) = sockets.first() else {
            return Err(Errno::EINVAL);
        };
        let entries: Vec<(u64, u32)> = sockets.iter().map(|(s, ev)| (s.handle(), *ev)).collect();
        let input = encode::poll(&entries, timeout_ms).map_err(|_| Errno::EINVAL)?;
        let mut out = vec![0u8; input.len()];
        // The driver has no timer for POLL: it is timed out here, by cancelling it at the
        // deadline, which completes it with nothing ready.
        let deadline = u64::try_from(timeout_ms)
            .ok()
            .filter(|&ms| ms > 0)
            .map(|ms| Instant::now() + Duration::from_millis(ms));
        match first.call(|s| s.request(IOCTL_AFUNIX_POLL, &input, Data::Out(&mut out), deadline)) {
            Ok(_) => {}
            Err(Errno::EAGAIN) if deadline.is_some() => return Ok(vec![0; sockets.len()]),
            Err(e) => return Err(e),
        }
        Ok(afunix_proto::wire::revents(&out).collect())
    }
}
