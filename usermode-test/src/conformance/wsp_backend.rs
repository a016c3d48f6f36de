//! The `wsp` backend: the scenarios through the Winsock provider's SPI entry points (on
//! Windows, or under Wine), against the real driver.
//!
//! Winsock reports WSA codes, not errnos, and several errnos share one (ENOENT and EINVAL
//! are both WSAEINVAL), and WSAPoll has no POLLRDHUP. So a replay compares what a Winsock
//! program can see: each recorded errno as its WSA code (`ErrnoCodes::to_wsa`), poll readiness
//! as WSAPoll's bits, and SO_ERROR as a WSA code.
//!
//! Every socket type runs through the provider: datagram and seqpacket sockets are made
//! with their own catalog entries, and their messages go through WSPSendTo and WSPRecvFrom
//! (see [`WspBackend::recv_from`] for a message cut short and MSG_TRUNC).

use std::path::Path;

use afunix_core::{ALL_ERRNOS, Errno, PollMask};
use afunix_proto::ErrnoCodes;
use windows_sys::Win32::Networking::WinSock::{
    self as ws, POLLERR, POLLHUP, POLLRDNORM, POLLWRNORM, SO_ERROR, SO_KEEPALIVE, SO_LINGER,
    SO_RCVBUF, SO_REUSEADDR, SO_SNDBUF, SO_TYPE, SOCKET, SOL_SOCKET,
};

use super::backend::{Backend, EBADF, FromOut, Res};
use super::scenario::{Names, Obs, Op, SLOTS, SockOpt, SockTy};
use super::trace::Replayed;
use crate::wsp::provider::Provider;

const MSG_PEEK: u32 = ws::MSG_PEEK as u32;
const MSG_WAITALL: u32 = ws::MSG_WAITALL as u32;

/// The errno a WSA code stands for here: the first with that code, so that comparing the
/// codes of both sides is exact.
fn errno_of(code: i32) -> i32 {
    ALL_ERRNOS
        .iter()
        .find(|e| i32::try_from(e.to_wsa()) == Ok(code))
        .map_or(code, |e| i32::from(e.number()))
}

fn wsa_of(errno: i32) -> i32 {
    u16::try_from(errno)
        .ok()
        .and_then(Errno::from_number)
        .and_then(|e| i32::try_from(e.to_wsa()).ok())
        .unwrap_or(errno)
}

/// The Winsock number of an option; None for those Winsock has not (SO_DOMAIN,
/// SO_PROTOCOL, SO_PASSCRED), whose steps are not replayed.
fn option(opt: SockOpt) -> Option<i32> {
    match opt {
        SockOpt::SndBuf => Some(SO_SNDBUF),
        SockOpt::RcvBuf => Some(SO_RCVBUF),
        SockOpt::Error => Some(SO_ERROR),
        SockOpt::Type => Some(SO_TYPE),
        SockOpt::KeepAlive => Some(SO_KEEPALIVE),
        SockOpt::ReuseAddr => Some(SO_REUSEADDR),
        SockOpt::Domain | SockOpt::Protocol | SockOpt::PassCred => None,
    }
}

/// Slot `s`'s socket type before step `i` of `ops`, as the runner tracks it: what the last
/// `socket` or `socketpair` into the slot made, or what `accept` into it took from its
/// listener.
fn slot_type(ops: &[Op], i: usize, s: u8) -> SockTy {
    let slot = |s: u8| usize::from(s) % SLOTS;
    let mut types = [SockTy::Stream; SLOTS];
    for op in ops.iter().take(i) {
        match op {
            Op::Socket { s, ty } => types[slot(*s)] = *ty,
            Op::SocketPair { a, b, ty } => {
                types[slot(*a)] = *ty;
                types[slot(*b)] = *ty;
            }
            Op::Accept { l, into } => types[slot(*into)] = types[slot(*l)],
            _ => {}
        }
    }
    types[slot(s)]
}

/// Whether Winsock can express step `i` of `ops`: reading or failing to set an option
/// Winsock has not changes nothing, so only that step goes uncompared; switching
/// SO_PASSCRED on changes what connect does, so the rest of the scenario does.
fn expressible(ops: &[Op], i: usize) -> Replayed {
    let Some(op) = ops.get(i) else {
        return Replayed::Compared;
    };
    match op {
        Op::GetOpt { opt, .. }
        | Op::SetOpt {
            opt: opt @ (SockOpt::Domain | SockOpt::Protocol),
            ..
        } if option(*opt).is_none() => Replayed::Skipped,
        Op::SetOpt { opt, .. } if option(*opt).is_none() => Replayed::Stop,
        // Winsock documents that a stream socket ignores `sendto`'s address, so a Winsock
        // program sends where Linux refuses. A datagram socket sends to the address, and a
        // seqpacket socket ignores it on Linux too: both are compared. (A stream's
        // `recvfrom` is compared without its address: see `winsock_view`.)
        Op::SendTo { s, .. } if slot_type(ops, i, *s) == SockTy::Stream => Replayed::Stop,
        _ => Replayed::Compared,
    }
}

/// `l_linger` as Winsock's `u_short` holds it (Linux's "for ever" and anything beyond
/// 65535 seconds read as 65535).
fn winsock_seconds(seconds: i32) -> i32 {
    i32::from(u16::try_from(seconds).unwrap_or(u16::MAX))
}

/// `ENOPROTOOPT`, for the options Winsock has not.
const ENOPROTOOPT: i32 = 92;

/// `sizeof(struct sockaddr_un)`: the room a program gives `recvfrom` for the sender's name.
const SOCKADDR_UN_LEN: usize = 110;

/// Sockets in slots, through the provider, with their types.
#[derive(Debug)]
pub struct WspBackend<'p> {
    p: &'p Provider,
    slots: [Option<(SOCKET, SockTy)>; SLOTS],
}

impl<'p> WspBackend<'p> {
    #[must_use]
    pub fn new(p: &'p Provider) -> Self {
        Self {
            p,
            slots: [None; SLOTS],
        }
    }

    fn get(&self, s: usize) -> Res<SOCKET> {
        self.typed(s).map(|(socket, _)| socket)
    }

    fn typed(&self, s: usize) -> Res<(SOCKET, SockTy)> {
        self.slots.get(s).copied().flatten().ok_or(EBADF)
    }

    /// A non-blocking socket of type `ty`, made as ws2_32 makes `socket(AF_UNIX, ty, 0)`:
    /// WSPSocket with that type's catalog entry.
    fn fresh(&self, ty: SockTy) -> Res<SOCKET> {
        let s = self.p.socket_of(ty.raw()).map_err(errno_of)?;
        if let Err(e) = self.p.set_nonblocking(s, true) {
            let _ = self.p.close(s);
            return Err(errno_of(e));
        }
        Ok(s)
    }

    fn put(&mut self, s: usize, socket: SOCKET, ty: SockTy) {
        if let Some(slot) = self.slots.get_mut(s) {
            *slot = Some((socket, ty));
        }
    }

    /// The whole length of the next message on `socket` without taking it, for a receive
    /// of `len` bytes with MSG_TRUNC that may cut it short (Linux returns the whole length;
    /// Winsock has no MSG_TRUNC, and WSPRecvFrom fails a cut-short message with WSAEMSGSIZE
    /// having filled the buffer, so the length is asked before the call):
    /// - datagram: FIONREAD is the next message's length, exactly;
    /// - seqpacket: FIONREAD is every queued record's bytes. When they fit in `len` nothing
    ///   is cut short; else a WSPRecvFrom with MSG_PEEK into a buffer of that many bytes
    ///   returns the first record whole (it fits), and its length. The peek checks what the
    ///   receive itself checks, in the same state, so an error it gives is the receive's
    ///   (and, like it, takes a pending SO_ERROR): `Err` is then the step's result.
    ///
    /// `Ok(None)`: FIONREAD failed (no message to cut short), or nothing is cut short.
    fn whole_length(&self, socket: SOCKET, ty: SockTy, len: usize) -> Res<Option<usize>> {
        let Ok(queued) = self.p.fionread(socket) else {
            return Ok(None);
        };
        let queued = queued as usize;
        if ty == SockTy::Dgram || queued <= len {
            return Ok(Some(queued));
        }
        let mut buf = vec![0u8; queued];
        let r = self.p.recv_from(socket, &mut buf, MSG_PEEK, 0);
        r.result.map(Some).map_err(errno_of)
    }
}

impl Backend for WspBackend<'_> {
    fn is_open(&self, s: usize) -> bool {
        self.get(s).is_ok()
    }

    fn socket(&mut self, s: usize, ty: SockTy) -> Res<()> {
        let socket = self.fresh(ty)?;
        self.put(s, socket, ty);
        Ok(())
    }

    fn socketpair(&mut self, a: usize, b: usize, ty: SockTy) -> Res<()> {
        // Winsock has no socketpair: the driver's SOCKETPAIR request on two of the
        // provider's sockets of the type, as a program would issue it with DeviceIoControl.
        let x = self.fresh(ty)?;
        let y = match self.fresh(ty) {
            Ok(y) => y,
            Err(e) => {
                let _ = self.p.close(x);
                return Err(e);
            }
        };
        let input = afunix_proto::encode::handle(y as u64);
        let r = afunix::sys::ioctl(
            // SAFETY:
            // 1. `x` is the provider's socket, a handle open in this process.
            unsafe { std::os::windows::io::BorrowedHandle::borrow_raw(x as _) },
            afunix_proto::ioctl::IOCTL_AFUNIX_SOCKETPAIR,
            zerocopy::IntoBytes::as_bytes(&input),
            afunix::sys::Data::None,
            None,
        );
        if let Err(e) = r {
            let _ = self.p.close(x);
            let _ = self.p.close(y);
            return Err(i32::from(e.number()));
        }
        self.put(a, x, ty);
        self.put(b, y, ty);
        Ok(())
    }

    fn bind(&mut self, s: usize, raw: &[u8]) -> Res<()> {
        self.p.bind(self.get(s)?, raw).map_err(errno_of)
    }

    fn listen(&mut self, s: usize, backlog: i32) -> Res<()> {
        self.p.listen(self.get(s)?, backlog).map_err(errno_of)
    }

    /// WSPConnect; with `AF_UNSPEC` (a 2-byte sockaddr of family 0) it dissolves a datagram
    /// socket's association, as Linux's connect does.
    fn connect(&mut self, s: usize, raw: &[u8]) -> Res<()> {
        self.p.connect(self.get(s)?, raw).map_err(errno_of)
    }

    fn accept(&mut self, l: usize, into: usize) -> Res<()> {
        let (listener, ty) = self.typed(l)?;
        let (socket, _) = self.p.accept(listener).map_err(errno_of)?;
        self.p.set_nonblocking(socket, true).map_err(errno_of)?;
        self.put(into, socket, ty);
        Ok(())
    }

    fn send(&mut self, s: usize, data: &[u8]) -> Res<usize> {
        self.p.send(self.get(s)?, data).map_err(errno_of)
    }

    /// WSPRecv. On a message socket a message longer than `len` fails with WSAEMSGSIZE
    /// having filled the buffer with its first `len` bytes (the rest is gone): what Linux's
    /// `recv` returns, `len` bytes.
    fn recv(&mut self, s: usize, len: usize, peek: bool, waitall: bool) -> Res<Vec<u8>> {
        let (socket, ty) = self.typed(s)?;
        let mut buf = vec![0u8; len];
        let mut flags = 0;
        if peek {
            flags |= MSG_PEEK;
        }
        if waitall {
            flags |= MSG_WAITALL;
        }
        match self.p.recv(socket, &mut buf, flags) {
            Ok(n) => buf.truncate(n),
            Err(ws::WSAEMSGSIZE) if ty.is_message() => {}
            Err(e) => return Err(errno_of(e)),
        }
        Ok(buf)
    }

    /// A stream ignores `sendto`'s address in Winsock (so its steps are not compared: see
    /// `expressible`); a datagram socket's WSPSendTo sends to it, a seqpacket socket's
    /// ignores it, as Linux's does.
    fn send_to(&mut self, s: usize, data: &[u8], raw: &[u8]) -> Res<usize> {
        let (socket, ty) = self.typed(s)?;
        if ty == SockTy::Stream {
            return self.send(s, data);
        }
        self.p.send_to(socket, data, raw).map_err(errno_of)
    }

    /// A stream: Winsock reports the peer's name as a stream's sender, so only the data is
    /// compared (see `winsock_view`). A message socket: WSPRecvFrom with a `sockaddr_un`'s
    /// room for the sender's name; a message cut short fails with WSAEMSGSIZE having filled
    /// the buffer and written the name, which is Linux's `len` bytes and MSG_TRUNC in
    /// `msg_flags`; with MSG_TRUNC asked, the return value is the whole length, learnt
    /// before the call (`whole_length`).
    fn recv_from(&mut self, s: usize, len: usize, peek: bool, trunc: bool) -> Res<FromOut> {
        let (socket, ty) = self.typed(s)?;
        if !ty.is_message() {
            let bytes = self.recv(s, len, peek, false)?;
            return Ok(FromOut {
                ret: bytes.len(),
                bytes,
                ..FromOut::default()
            });
        }
        let whole = if trunc {
            self.whole_length(socket, ty, len)?
        } else {
            None
        };
        let mut buf = vec![0u8; len];
        let flags = if peek { MSG_PEEK } else { 0 };
        let r = self.p.recv_from(socket, &mut buf, flags, SOCKADDR_UN_LEN);
        let truncated = match r.result {
            Ok(n) => {
                buf.truncate(n);
                false
            }
            Err(ws::WSAEMSGSIZE) => true,
            Err(e) => return Err(errno_of(e)),
        };
        let ret = match whole {
            Some(whole) if truncated => whole,
            _ => buf.len(),
        };
        Ok(FromOut {
            ret,
            bytes: buf,
            truncated,
            from_len: usize::try_from(r.fromlen).unwrap_or(0),
            from: r.from,
        })
    }

    fn shutdown(&mut self, s: usize, how: i32) -> Res<()> {
        self.p.shutdown(self.get(s)?, how).map_err(errno_of)
    }

    fn close(&mut self, s: usize) -> Res<()> {
        let (socket, _) = self.slots.get_mut(s).and_then(Option::take).ok_or(EBADF)?;
        self.p.close(socket).map_err(errno_of)
    }

    fn name(&mut self, s: usize, peer: bool) -> Res<(usize, Vec<u8>)> {
        // A buffer that holds any name the driver reports (Winsock refuses a short one).
        let mut bytes = self.p.name(self.get(s)?, peer, 112).map_err(errno_of)?;
        let len = bytes.len();
        bytes.truncate(110);
        Ok((len, bytes))
    }

    fn fionread(&mut self, s: usize) -> Res<i64> {
        self.p
            .fionread(self.get(s)?)
            .map(i64::from)
            .map_err(errno_of)
    }

    fn getsockopt(&mut self, s: usize, opt: SockOpt) -> Res<i64> {
        let name = option(opt).ok_or(ENOPROTOOPT)?;
        let v = self
            .p
            .getsockopt_int(self.get(s)?, SOL_SOCKET, name)
            .map_err(errno_of)?;
        Ok(i64::from(v))
    }

    fn setsockopt(&mut self, s: usize, opt: SockOpt, val: i32) -> Res<()> {
        let name = option(opt).ok_or(ENOPROTOOPT)?;
        self.p
            .setsockopt(self.get(s)?, SOL_SOCKET, name, &val.to_ne_bytes())
            .map_err(errno_of)
    }

    fn linger(&mut self, s: usize) -> Res<(i32, i32)> {
        let raw = self
            .p
            .getsockopt(self.get(s)?, SOL_SOCKET, SO_LINGER, 4)
            .map_err(errno_of)?;
        let field = |at: usize| {
            raw.get(at..at + 2)
                .and_then(|b| b.try_into().ok())
                .map_or(-1, |b| i32::from(u16::from_ne_bytes(b)))
        };
        Ok((field(0), field(2)))
    }

    fn set_linger(&mut self, s: usize, onoff: i32, seconds: i32) -> Res<()> {
        // Winsock's LINGER: two u_shorts.
        let mut value = u16::from(onoff != 0).to_ne_bytes().to_vec();
        value.extend_from_slice(&u16::try_from(seconds).unwrap_or(u16::MAX).to_ne_bytes());
        self.p
            .setsockopt(self.get(s)?, SOL_SOCKET, SO_LINGER, &value)
            .map_err(errno_of)
    }

    fn poll(&mut self, s: usize) -> Res<u32> {
        let (_, revents) = self
            .p
            .wsapoll(&[(self.get(s)?, POLLRDNORM | POLLWRNORM)], 0)
            .map_err(errno_of)?;
        let r = revents.first().copied().unwrap_or(0);
        let mut linux = 0;
        if r & POLLRDNORM != 0 {
            linux |= PollMask::IN;
        }
        if r & POLLWRNORM != 0 {
            linux |= PollMask::OUT;
        }
        if r & POLLERR != 0 {
            linux |= PollMask::ERR;
        }
        if r & POLLHUP != 0 {
            linux |= PollMask::HUP;
        }
        Ok(linux)
    }
}

/// What a Winsock program can tell apart in an observation.
fn winsock_view(op: &Op, obs: &Obs) -> Obs {
    match obs {
        Obs::Err(e) => Obs::Err(wsa_of(*e)),
        Obs::Fill { sent_any, end } => Obs::Fill {
            sent_any: *sent_any,
            end: wsa_of(*end),
        },
        Obs::Drain { any, in_order, end } => Obs::Drain {
            any: *any,
            in_order: *in_order,
            end: if *end == 0 { 0 } else { wsa_of(*end) },
        },
        Obs::Poll(bits) => {
            let mut v = 0;
            if bits & (PollMask::IN | PollMask::RDHUP) != 0 {
                v |= PollMask::IN;
            }
            v |= bits & (PollMask::OUT | PollMask::ERR | PollMask::HUP);
            Obs::Poll(v)
        }
        // Winsock ignores `recvfrom`'s address on a connection-oriented socket: the data is
        // what a program can rely on.
        Obs::DataFrom { len, in_order, .. } => Obs::Data {
            len: *len,
            in_order: *in_order,
        },
        Obs::Linger { onoff, seconds } => Obs::Linger {
            onoff: *onoff,
            seconds: winsock_seconds(*seconds),
        },
        Obs::Num(n)
            if matches!(
                op,
                Op::GetOpt {
                    opt: SockOpt::Error,
                    ..
                }
            ) =>
        {
            // SO_ERROR: Linux records the errno, Winsock reports its WSA code.
            Obs::Num(i64::from(wsa_of(i32::try_from(*n).unwrap_or(0))))
        }
        other => other.clone(),
    }
}

/// Runs `ops` through the provider (the directory is made and removed around it).
fn run(ops: &[Op], names: &Names, p: &Provider) -> Vec<Obs> {
    let _ = std::fs::create_dir_all(&names.dir);
    let mut r = super::backend::Runner::new(WspBackend::new(p), names.clone());
    let obs = ops.iter().map(|op| r.step(op)).collect();
    r.close_all();
    let _ = std::fs::remove_dir_all(&names.dir);
    obs
}

/// Replays a recorded Linux trace through the provider and prints the outcome; the number
/// of mismatching steps.
pub fn replay(path: &Path, p: &Provider) -> Result<u64, String> {
    let limits = afunix_device::driver_limits();
    let buffer_max = Some(limits.sndbuf_max.min(limits.rcvbuf_max));
    let r = super::trace::replay_with(
        path,
        buffer_max,
        false,
        |ops, names| run(ops, names, p),
        expressible,
        |op, recorded, got| {
            // SO_ERROR is only mapped for GetOpt steps; the provider already reports WSA
            // codes, so only the recorded side is translated there.
            let got_view = match (op, got) {
                (
                    Op::GetOpt {
                        opt: SockOpt::Error,
                        ..
                    },
                    Obs::Num(_),
                ) => got.clone(),
                _ => winsock_view(op, got),
            };
            winsock_view(op, recorded) == got_view
        },
    )?;
    println!(
        "replayed {} scenarios ({} steps compared) from {} through the Winsock provider: {} mismatches",
        r.scenarios,
        r.steps,
        path.display(),
        r.mismatches
    );
    r.warn_unsupported("the Winsock provider");
    if r.limited_scenarios > 0 {
        println!(
            "{} scenarios set a socket buffer beyond the driver's maximum; their remaining {} steps were not compared",
            r.limited_scenarios, r.limited_steps
        );
    }
    if r.skipped_steps > 0 {
        println!(
            "{} steps read SO_DOMAIN, SO_PROTOCOL or SO_PASSCRED, or set one of the first two, which Winsock has not: not compared, the scenarios went on",
            r.skipped_steps
        );
    }
    if r.inexpressible_scenarios > 0 {
        println!(
            "{} scenarios set SO_PASSCRED, which Winsock has not, or give a stream's sendto an address, which Winsock ignores; their remaining {} steps were not compared",
            r.inexpressible_scenarios, r.inexpressible_steps
        );
    }
    Ok(r.mismatches)
}
