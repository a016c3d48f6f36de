//! The `library` backend: the `afunix` library's [`RawSocket`]s, on any [`Net`]. With
//! `Net::in_process` every step goes through the library, the wire format (encoded and
//! decoded), the device layer and the engine: what the driver runs, in this process. With
//! the driver (`Net::system()` on Windows, or under Wine) it replays scenarios through the
//! real `afunixrs.sys`.

use afunix::{Errno, Net, RawSocket};

#[cfg(not(windows))]
use super::backend::RightsOut;
use super::backend::{Backend, EBADF, FromOut, Res};
use super::scenario::{SLOTS, SockOpt, SockTy};

use afunix_proto::sockopt::{
    SO_DOMAIN, SO_ERROR, SO_KEEPALIVE, SO_PASSCRED, SO_PROTOCOL, SO_RCVBUF, SO_REUSEADDR,
    SO_SNDBUF, SO_TYPE, SOL_SOCKET,
};

/// An option's Linux number.
const fn option(opt: SockOpt) -> i32 {
    match opt {
        SockOpt::SndBuf => SO_SNDBUF,
        SockOpt::RcvBuf => SO_RCVBUF,
        SockOpt::Error => SO_ERROR,
        SockOpt::Type => SO_TYPE,
        SockOpt::Domain => SO_DOMAIN,
        SockOpt::Protocol => SO_PROTOCOL,
        SockOpt::PassCred => SO_PASSCRED,
        SockOpt::KeepAlive => SO_KEEPALIVE,
        SockOpt::ReuseAddr => SO_REUSEADDR,
    }
}
/// What the Linux backend polls for.
const POLL_EVERYTHING: u32 = 0x0001 | 0x0004 | 0x2000 | 0x0040 | 0x0100 | 0x0200;
/// MSG_DONTWAIT | MSG_NOSIGNAL, as the Linux backend sends.
const SEND_FLAGS: u32 = 0x40 | 0x4000;
const MSG_PEEK: u32 = 0x2;
const MSG_WAITALL: u32 = 0x100;
const MSG_DONTWAIT: u32 = 0x40;
const MSG_TRUNC: u32 = 0x20;

fn errno(e: Errno) -> i32 {
    i32::from(e.number())
}

/// Sockets in slots, on one `Net`.
#[derive(Debug)]
pub struct LibraryBackend {
    net: Net,
    slots: Vec<Option<RawSocket>>,
}

impl LibraryBackend {
    #[must_use]
    pub fn new(net: Net) -> Self {
        Self {
            net,
            slots: (0..SLOTS).map(|_| None).collect(),
        }
    }

    fn get(&self, s: usize) -> Res<&RawSocket> {
        self.slots.get(s).and_then(Option::as_ref).ok_or(EBADF)
    }

    fn fresh(&self, ty: SockTy) -> Res<RawSocket> {
        let socket = self
            .net
            .socket_typed(ty.raw().unsigned_abs())
            .map_err(|e| {
                // The wire's errno when SOCKET refused, else (the handle could not be
                // opened) ENOMEM.
                e.raw_os_error()
                    .and_then(|n| u16::try_from(n).ok())
                    .and_then(Errno::from_number)
                    .map_or(errno(Errno::ENOMEM), errno)
            })?;
        // Every socket of the scenarios is non-blocking.
        socket.set_nonblocking(true).map_err(errno)?;
        Ok(socket)
    }

    fn put(&mut self, s: usize, socket: RawSocket) {
        if let Some(slot) = self.slots.get_mut(s) {
            *slot = Some(socket);
        }
    }
}

impl Backend for LibraryBackend {
    fn is_open(&self, s: usize) -> bool {
        self.get(s).is_ok()
    }

    fn socket(&mut self, s: usize, ty: SockTy) -> Res<()> {
        let socket = self.fresh(ty)?;
        self.put(s, socket);
        Ok(())
    }

    fn socketpair(&mut self, a: usize, b: usize, ty: SockTy) -> Res<()> {
        let (x, y) = (self.fresh(ty)?, self.fresh(ty)?);
        x.pair_with(&y).map_err(errno)?;
        self.put(a, x);
        self.put(b, y);
        Ok(())
    }

    fn bind(&mut self, s: usize, raw: &[u8]) -> Res<()> {
        self.get(s)?.bind_raw(raw).map_err(errno)
    }

    fn listen(&mut self, s: usize, backlog: i32) -> Res<()> {
        self.get(s)?.listen(backlog).map_err(errno)
    }

    fn connect(&mut self, s: usize, raw: &[u8]) -> Res<()> {
        self.get(s)?.connect_raw(raw).map_err(errno)
    }

    fn accept(&mut self, l: usize, into: usize) -> Res<()> {
        let (socket, _peer) = self.get(l)?.accept().map_err(errno)?;
        // accept(2)'s new socket inherits nothing: the scenarios make it non-blocking, as
        // the Linux backend does with accept4(SOCK_NONBLOCK).
        socket.set_nonblocking(true).map_err(errno)?;
        self.put(into, socket);
        Ok(())
    }

    fn send(&mut self, s: usize, data: &[u8]) -> Res<usize> {
        self.get(s)?.send(data, SEND_FLAGS).map_err(errno)
    }

    fn recv(&mut self, s: usize, len: usize, peek: bool, waitall: bool) -> Res<Vec<u8>> {
        let mut buf = vec![0u8; len];
        let mut flags = MSG_DONTWAIT;
        if peek {
            flags |= MSG_PEEK;
        }
        if waitall {
            flags |= MSG_WAITALL;
        }
        let n = self.get(s)?.recv(&mut buf, flags).map_err(errno)?;
        buf.truncate(n);
        Ok(buf)
    }

    fn send_to(&mut self, s: usize, data: &[u8], raw: &[u8]) -> Res<usize> {
        self.get(s)?.send_to(data, SEND_FLAGS, raw).map_err(errno)
    }

    /// In-process, a handle value passed arrives as itself (the in-process transport's
    /// objects are its values), so the markers are carried as values. Through the driver they would
    /// have to be real handles: not drawn there (the recorded traces have no such step).
    #[cfg(not(windows))]
    fn send_rights(&mut self, s: usize, data: &[u8], markers: &[u32]) -> Res<usize> {
        // Values a handle can have (multiples of 4, not 0), far above the in-process
        // sockets' own (which would be taken for those sockets).
        let values: Vec<u64> = markers.iter().map(|m| marker_value(*m)).collect();
        self.get(s)?
            .send_with_handles(data, SEND_FLAGS, &values, None)
            .map_err(errno)
    }

    #[cfg(not(windows))]
    fn recv_rights(&mut self, s: usize, len: usize, room: usize, peek: bool) -> Res<RightsOut> {
        use afunix_proto::wire::MSG_CTRUNC;
        let mut buf = vec![0u8; len];
        let mut flags = MSG_DONTWAIT;
        if peek {
            flags |= MSG_PEEK;
        }
        let (m, values) = self
            .get(s)?
            .recv_with_handles(&mut buf, flags, room)
            .map_err(errno)?;
        buf.truncate(m.copied);
        Ok(RightsOut {
            bytes: buf,
            truncated: m.msg_flags & MSG_TRUNC != 0,
            ctrunc: m.msg_flags & MSG_CTRUNC != 0,
            markers: values.iter().map(|v| value_marker(*v)).collect(),
        })
    }

    fn recv_from(&mut self, s: usize, len: usize, peek: bool, trunc: bool) -> Res<FromOut> {
        let mut buf = vec![0u8; len];
        let mut flags = MSG_DONTWAIT;
        if peek {
            flags |= MSG_PEEK;
        }
        if trunc {
            flags |= MSG_TRUNC;
        }
        let m = self.get(s)?.recv_msg(&mut buf, flags).map_err(errno)?;
        buf.truncate(m.copied);
        let mut from = m.addr;
        // What a program sees: a sockaddr_un's worth, the full length reported.
        from.truncate(110);
        Ok(FromOut {
            bytes: buf,
            ret: m.ret,
            truncated: m.msg_flags & MSG_TRUNC != 0,
            from_len: m.addr_len,
            from,
        })
    }

    fn shutdown(&mut self, s: usize, how: i32) -> Res<()> {
        self.get(s)?.shutdown(how).map_err(errno)
    }

    fn close(&mut self, s: usize) -> Res<()> {
        let socket = self.slots.get_mut(s).and_then(Option::take).ok_or(EBADF)?;
        drop(socket);
        Ok(())
    }

    fn name(&mut self, s: usize, peer: bool) -> Res<(usize, Vec<u8>)> {
        let socket = self.get(s)?;
        let (len, mut bytes) = if peer {
            socket.getpeername()
        } else {
            socket.getsockname()
        }
        .map_err(errno)?;
        // What a program sees: a sockaddr_un's worth, the full length reported.
        bytes.truncate(110);
        Ok((len, bytes))
    }

    fn fionread(&mut self, s: usize) -> Res<i64> {
        self.get(s)?.fionread().map(i64::from).map_err(errno)
    }

    fn getsockopt(&mut self, s: usize, opt: SockOpt) -> Res<i64> {
        self.get(s)?
            .getsockopt(SOL_SOCKET, option(opt))
            .map(i64::from)
            .map_err(errno)
    }

    fn setsockopt(&mut self, s: usize, opt: SockOpt, val: i32) -> Res<()> {
        self.get(s)?
            .setsockopt(SOL_SOCKET, option(opt), val)
            .map_err(errno)
    }

    fn linger(&mut self, s: usize) -> Res<(i32, i32)> {
        self.get(s)?.linger().map_err(errno)
    }

    fn set_linger(&mut self, s: usize, onoff: i32, seconds: i32) -> Res<()> {
        self.get(s)?.set_linger(onoff, seconds).map_err(errno)
    }

    fn poll(&mut self, s: usize) -> Res<u32> {
        let socket = self.get(s)?;
        let revents = RawSocket::poll(&[(socket, POLL_EVERYTHING)], 0).map_err(errno)?;
        Ok(revents.first().copied().unwrap_or(0))
    }
}

/// Where the markers' values start (see `send_rights`).
#[cfg(not(windows))]
const MARKER_BASE: u64 = 0x4000_0000;

#[cfg(not(windows))]
fn marker_value(m: u32) -> u64 {
    MARKER_BASE + 4 * u64::from(m)
}

#[cfg(not(windows))]
fn value_marker(v: u64) -> u32 {
    u32::try_from(v.wrapping_sub(MARKER_BASE) / 4).unwrap_or(u32::MAX)
}
