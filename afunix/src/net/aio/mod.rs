//! Async sockets for tokio, named and shaped as `tokio::net`'s Unix types, so that a tokio
//! program moves by its `use` line:
//!
//! ```no_run
//! // was: use tokio::net::{UnixListener, UnixStream};
//! use afunix::tokio::{UnixListener, UnixStream};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let path = std::env::temp_dir().join("afunix-tokio-doc.sock");
//!     let _ = std::fs::remove_file(&path);
//!     let listener = UnixListener::bind(&path)?;
//!     let server = tokio::spawn(async move {
//!         let (mut stream, _) = listener.accept().await?;
//!         let (mut reader, mut writer) = stream.split();
//!         tokio::io::copy(&mut reader, &mut writer).await
//!     });
//!     let mut client = UnixStream::connect(&path).await?;
//!     client.write_all(b"ping").await?;
//!     client.shutdown().await?;
//!     let mut echo = Vec::new();
//!     client.read_to_end(&mut echo).await?;
//!     assert_eq!(echo, b"ping");
//!     server.await.unwrap()?;
//!     Ok(())
//! }
//! ```
//!
//! (`examples/tokio_echo.rs` is a whole server.)
//!
//! # How they wait
//!
//! Every socket here is in non-blocking mode, and every operation is first tried at once.
//! When it would block, the task waits for readiness: a POLL request on that one socket,
//! issued without waiting ([`Endpoint::submit`](crate::channel)) and pending in the driver
//! until the socket is readable or writable. On Windows it is an overlapped request on a
//! handle associated with the process's I/O completion port, and one thread takes the port's
//! packets and wakes the tasks; on other systems it pends in the in-process engine, whose
//! completions wake the tasks the same way. Then the operation is tried again.
//!
//! So no thread is spent per socket or per operation, no reactor is needed (tokio's own,
//! which polls sockets through AFD, could not poll these: AFD serves only its own
//! endpoints), and the stock multi-threaded and current-thread runtimes both work: tasks are
//! woken through their wakers only. A future dropped while it waits cancels its POLL
//! (CancelIoEx). No data request is ever left pending for a task, so a dropped future can
//! lose no byte and no connection: a read or accept that did not complete took nothing, a
//! write that did not complete gave nothing. Every operation here is cancel-safe, as
//! tokio's own are.
//!
//! Each socket holds at most one POLL per direction for `AsyncRead`/`AsyncWrite` and the
//! `poll_*` methods; each `readable()`, `writable()`, `accept()`, `recv()`... future in
//! progress holds one of its own. Waiting POLLs count against the driver's caps (each user's
//! share of 4096 by default): past them, an operation that would wait fails with ENOBUFS.
//!
//! Connecting is different: `UnixStream::connect` issues CONNECT itself, pending in the
//! driver while the listener's backlog is full (as a blocking connect on Linux waits), and
//! a dropped connect future cancels it.

mod datagram;
mod listener;
mod read;
mod seqpacket;
mod stream;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use afunix_core::Errno;
use afunix_proto::encode;
use afunix_proto::ioctl::{IOCTL_AFUNIX_CONNECT, IOCTL_AFUNIX_POLL};
use tokio::io::{Interest, Ready};

pub use datagram::UnixDatagram;
pub use listener::UnixListener;
pub use seqpacket::{UnixSeqpacket, UnixSeqpacketListener};
pub use stream::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, UnixStream, WriteHalf};

use super::Socket;
use crate::channel::{InFlight, io_error};

/// Linux's POLLIN: what a read, a receive or an accept waits for. Errors and hang-ups are
/// always reported as well.
const READABLE: u32 = 0x1;
/// Linux's POLLOUT: what a write or a send waits for.
const WRITABLE: u32 = 0x4;

/// A wait for readiness: a POLL on one socket, pending until one of its events holds (or an
/// error or a hang-up, which POLL always reports). Dropped before it completes, it is
/// cancelled.
#[derive(Debug)]
struct Readiness {
    request: Arc<dyn InFlight>,
}

impl Readiness {
    fn new(socket: &Socket, events: u32) -> io::Result<Readiness> {
        let input = encode::poll(&[(socket.endpoint.handle_value(), events)], -1)
            .map_err(|_| io_error(Errno::EINVAL))?;
        let request = socket
            .endpoint
            .submit(IOCTL_AFUNIX_POLL, &input, input.clone())
            .map_err(io_error)?;
        Ok(Readiness { request })
    }

    /// The socket's `revents` once the POLL has completed.
    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<u32>> {
        self.request.poll_reply(cx).map(|reply| {
            reply
                .map(|(_, out)| afunix_proto::wire::revents(&out).next().unwrap_or(0))
                .map_err(io_error)
        })
    }
}

impl Future for Readiness {
    type Output = io::Result<u32>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u32>> {
        self.poll_ready(cx)
    }
}

/// Linux's POLLERR, POLLHUP and POLLRDHUP.
const POLLERR: u32 = 0x8;
const POLLHUP: u32 = 0x10;
const POLLRDHUP: u32 = 0x2000;

/// The POLL events `interest` waits for.
fn events_of(interest: Interest) -> u32 {
    let mut events = 0;
    if interest.is_readable() {
        events |= READABLE | POLLRDHUP;
    }
    if interest.is_writable() {
        events |= WRITABLE;
    }
    events
}

/// What POLL's `revents` make a socket ready for, as tokio reads epoll's: READABLE and
/// WRITABLE of them; an error or a hang-up makes a socket ready both ways.
fn ready_bits(revents: u32) -> u32 {
    let mut bits = 0;
    if revents & (READABLE | POLLERR | POLLHUP | POLLRDHUP) != 0 {
        bits |= READABLE;
    }
    if revents & (WRITABLE | POLLERR | POLLHUP) != 0 {
        bits |= WRITABLE;
    }
    bits
}

/// tokio's `Ready` for POLL's `revents`, within `interest` (see [`ready_bits`]).
fn ready_of(revents: u32, interest: Interest) -> Ready {
    let bits = ready_bits(revents);
    let mut ready = Ready::EMPTY;
    if interest.is_readable() {
        if bits & READABLE != 0 {
            ready |= Ready::READABLE;
        }
        if revents & (POLLHUP | POLLRDHUP) != 0 {
            ready |= Ready::READ_CLOSED;
        }
    }
    if interest.is_writable() {
        if bits & WRITABLE != 0 {
            ready |= Ready::WRITABLE;
        }
        if revents & POLLHUP != 0 {
            ready |= Ready::WRITE_CLOSED;
        }
    }
    ready
}

impl Drop for Readiness {
    fn drop(&mut self) {
        // Harmless once it has completed.
        self.request.cancel();
    }
}

/// The wait of one direction of a socket, for the `poll_*` methods, which have no future to
/// keep it in: at most one POLL, kept until it completes, cancelled with the socket.
#[derive(Debug, Default)]
struct Waiter(Mutex<Option<Readiness>>);

impl Waiter {
    /// The socket's `revents` once `events` may hold on it; until then `cx` is woken when
    /// they do.
    fn poll_ready(
        &self,
        socket: &Socket,
        events: u32,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<u32>> {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let readiness = match slot.as_mut() {
            Some(readiness) => readiness,
            None => slot.insert(Readiness::new(socket, events)?),
        };
        let result = ready!(readiness.poll_ready(cx));
        *slot = None;
        Poll::Ready(result)
    }
}

/// The address a path names, as tokio reads it: a path whose first byte is NUL is the
/// abstract name that follows.
fn address_of(path: &std::path::Path) -> io::Result<super::SocketAddr> {
    match path.as_os_str().as_encoded_bytes().split_first() {
        Some((0, name)) => super::SocketAddr::from_abstract_name(name),
        _ => super::SocketAddr::from_pathname(path),
    }
}

/// A socket of type `ty` connected to `addr`. CONNECT itself is the request waited on,
/// pending while the listener's backlog is full: a dropped future cancels it (the
/// [`Readiness`] carries the cancel), and the socket goes with it.
async fn connect(net: &super::Net, ty: u32, addr: &super::SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new_typed(net, ty)?;
    let input = socket.address_input(&addr.to_sockaddr())?;
    let request = socket
        .endpoint
        .submit(IOCTL_AFUNIX_CONNECT, &input, Vec::new())
        .map_err(io_error)?;
    Readiness { request }.await?;
    // As tokio's connect, which resolves at the socket's first writability and then reads
    // SO_ERROR: the future resolves no sooner than its next poll, and a connection reset
    // meanwhile (its listener closed before accepting it) is the connect's error.
    YieldNow(false).await;
    match socket.take_error()? {
        Some(error) => Err(error),
        None => Ok(socket),
    }
}

/// A socket in non-blocking mode, with the waits of its two directions.
#[derive(Debug)]
struct Evented {
    // Fields drop in this order: the waits first, cancelled, so that none is still pending
    // on the handle when it closes.
    read: Waiter,
    write: Waiter,
    socket: Socket,
    /// What the socket was last seen ready for (READABLE, WRITABLE), as tokio keeps it: set
    /// by a completed POLL, cleared by an operation that would block. `readable()` and
    /// `writable()` return at once while it says so, and an operation that would block
    /// sends them back to wait. (POLL alone is level-triggered: a datagram pair, for one,
    /// stops being writable at a quarter of SO_SNDBUF, long before a send would block.)
    known: AtomicU32,
}

/// Whether an operation that failed with `e` waits for `events` and tries again:
/// WouldBlock; and for a write, ENOBUFS too, which the driver gives when its cap on buffered
/// bytes (or the caller's user's share of it) leaves no room. A blocking send fails then,
/// as Linux's does when it cannot allocate; an async writer waits instead, since the socket
/// is not writable until memory is freed (`Engine::poll`), and lets the readers that will
/// free it run meanwhile.
fn must_wait(e: &io::Error, events: u32) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
        || (events == WRITABLE && crate::channel::errno_of(e) == Some(Errno::ENOBUFS))
}

impl Evented {
    /// A socket put in non-blocking mode: every request it makes returns at once.
    fn new(socket: Socket) -> io::Result<Evented> {
        socket.set_nonblocking(true)?;
        Ok(Evented::blocking(socket))
    }

    /// A socket left in blocking mode, whose requests that must not wait say so
    /// (`MSG_DONTWAIT`): a stream, whose reads wait by RECV (see `read`).
    fn blocking(socket: Socket) -> Evented {
        Evented {
            socket,
            read: Waiter::default(),
            write: Waiter::default(),
            known: AtomicU32::new(0),
        }
    }

    /// Back to a blocking socket, for `into_std`.
    fn into_socket(self) -> io::Result<Socket> {
        let Evented {
            read,
            write,
            socket,
            known: _,
        } = self;
        drop((read, write));
        socket.set_nonblocking(false)?;
        Ok(socket)
    }

    /// What a completed POLL's `revents` say the socket is ready for.
    fn learn(&self, revents: u32) {
        self.known.fetch_or(ready_bits(revents), Ordering::AcqRel);
    }

    /// Runs `op` once; if it would block, the socket is no longer taken to be ready for
    /// `events`.
    fn attempt<T>(&self, events: u32, op: impl FnOnce(&Socket) -> io::Result<T>) -> io::Result<T> {
        let result = op(&self.socket);
        if result.as_ref().is_err_and(|e| must_wait(e, events)) {
            self.known.fetch_and(!events, Ordering::AcqRel);
        }
        result
    }

    /// Runs `op` until it does not report WouldBlock, waiting for `events` in between.
    async fn io<T>(
        &self,
        events: u32,
        mut op: impl FnMut(&Socket) -> io::Result<T>,
    ) -> io::Result<T> {
        let mut spurious = false;
        loop {
            match self.attempt(events, &mut op) {
                Err(e) if must_wait(&e, events) => {}
                other => return other,
            }
            if spurious {
                // Ready by POLL's account, yet the operation would block (a datagram for a
                // receiver whose queue is full: the sender's own buffer has room): let
                // other tasks run before trying again.
                YieldNow(false).await;
            }
            let revents = Readiness::new(&self.socket, events)?.await?;
            self.learn(revents);
            spurious = true;
        }
    }

    /// As [`Evented::io`], for the `poll_*` methods: the wait is kept in `waiter`.
    fn poll_io<T>(
        &self,
        waiter: &Waiter,
        events: u32,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&Socket) -> io::Result<T>,
    ) -> Poll<io::Result<T>> {
        for _ in 0..2 {
            match self.attempt(events, &mut op) {
                Err(e) if must_wait(&e, events) => {}
                other => return Poll::Ready(other),
            }
            let revents = ready!(waiter.poll_ready(&self.socket, events, cx))?;
            self.learn(revents);
        }
        // Ready twice and still blocking: as in `io`, let other tasks run first.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Waits until the socket is taken to be ready for `events` (tokio's `readable()` and
    /// `writable()`): at once if it was last seen so.
    async fn ready(&self, events: u32) -> io::Result<()> {
        if self.known.load(Ordering::Acquire) & events == 0 {
            let revents = Readiness::new(&self.socket, events)?.await?;
            self.learn(revents);
        }
        Ok(())
    }

    /// tokio's `ready(interest)`: at once with what the socket was last seen ready for, if
    /// any of `interest`.
    async fn ready_for(&self, interest: Interest) -> io::Result<Ready> {
        let events = events_of(interest);
        let known = self.known.load(Ordering::Acquire) & events;
        if known != 0 {
            return Ok(ready_of(known, interest));
        }
        let revents = Readiness::new(&self.socket, events)?.await?;
        self.learn(revents);
        Ok(ready_of(revents, interest))
    }

    fn poll_ready_for(
        &self,
        waiter: &Waiter,
        events: u32,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        if self.known.load(Ordering::Acquire) & events != 0 {
            return Poll::Ready(Ok(()));
        }
        let revents = ready!(waiter.poll_ready(&self.socket, events, cx))?;
        self.learn(revents);
        Poll::Ready(Ok(()))
    }

    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_ready_for(&self.read, READABLE, cx)
    }

    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_ready_for(&self.write, WRITABLE, cx)
    }
}

/// `Debug` for the async socket types: their socket (`socket()`).
macro_rules! debug_by_socket {
    ($($ty:ident),* $(,)?) => {$(
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("socket", self.socket())
                    .finish()
            }
        }
    )*};
}

debug_by_socket!(
    UnixStream,
    UnixListener,
    UnixDatagram,
    UnixSeqpacket,
    UnixSeqpacketListener,
);

/// A read into `buf`'s next chunk, through a buffer of that size (this side of the library
/// has no `unsafe` with which to lend the uninitialized chunk itself).
fn read_into_buf<B: bytes::BufMut>(
    buf: &mut B,
    read: impl FnOnce(&mut [u8]) -> io::Result<usize>,
) -> io::Result<usize> {
    let mut room = vec![0u8; buf.chunk_mut().len()];
    let n = read(&mut room)?;
    buf.put_slice(room.get(..n).unwrap_or_default());
    Ok(n)
}

/// Pending once, waking itself: lets the runtime run other tasks.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
