//! What the socket types need from a transport: DeviceIoControl on a handle, in effect.
//!
//! Both transports speak the wire format of `afunix-proto`: the Windows one to the driver, the
//! in-process one to `afunix-device` after decoding it again, so that every request a test
//! makes through the library is encoded and decoded as the driver would see it.

use std::fmt::Debug;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use afunix_core::Errno;

/// The data buffer of a request: SEND reads from it, RECV and replies write into it.
#[derive(Debug)]
pub enum Data<'a> {
    /// No data buffer.
    None,
    /// Data the request reads (SEND).
    In(&'a [u8]),
    /// A buffer the request writes (RECV, replies).
    Out(&'a mut [u8]),
}

impl Data<'_> {
    pub(crate) fn len(&self) -> usize {
        match self {
            Data::None => 0,
            Data::In(b) => b.len(),
            Data::Out(b) => b.len(),
        }
    }
}

/// A transport: where new socket handles come from.
pub(crate) trait Transport: Send + Sync + Debug {
    /// Opens a new handle on the device (`CreateFileW(\\.\AfUnixRs)`).
    fn open(&self) -> io::Result<Arc<dyn Endpoint>>;

    /// The absolute path BIND and CONNECT send for a pathname address, as UTF-16. Relative
    /// paths are resolved here, in user mode, where the current directory is known.
    fn absolute_path(&self, path: &Path) -> io::Result<Vec<u16>>;

    /// The in-process device's counts (None for the driver, whose STATS request says them).
    fn stats(&self) -> Option<afunix_device::DeviceStats>;
}

/// One handle.
pub(crate) trait Endpoint: Send + Sync + Debug {
    /// The handle's value, as HandleIn and POLL entries carry it.
    fn handle_value(&self) -> u64;

    /// Issues IOCTL `code` and waits for it until `deadline` (None: for ever). When the
    /// deadline passes, the request is cancelled and whatever it achieved is returned, or
    /// `EAGAIN` if nothing. Returns the bytes written to (or, for SEND, taken from) `data`.
    fn ioctl(
        &self,
        code: u32,
        input: &[u8],
        data: Data<'_>,
        deadline: Option<Instant>,
    ) -> Result<usize, Errno>;

    /// RECV without flags: `ReadFile`.
    fn read(&self, buf: &mut [u8], deadline: Option<Instant>) -> Result<usize, Errno>;

    /// SEND without flags: `WriteFile`.
    fn write(&self, data: &[u8], deadline: Option<Instant>) -> Result<usize, Errno>;

    /// Another handle on the same socket (`DuplicateHandle`).
    fn duplicate(&self) -> io::Result<Arc<dyn Endpoint>>;

    /// Issues IOCTL `code` and returns without waiting for it: what the async sockets wait
    /// on. `output` is its output buffer, which it completes with: for POLL a copy of
    /// `input` (METHOD_BUFFERED's system buffer starts as one), for RECV the room for the
    /// bytes, for CONNECT empty. A request refused at once is the error here, and never
    /// completes.
    fn submit(&self, code: u32, input: &[u8], output: Vec<u8>) -> Result<Arc<dyn InFlight>, Errno>;

    /// The handle itself, when this is one of the driver's (None for the in-process
    /// transport, whose handles are numbers of its own).
    #[cfg(windows)]
    fn into_owned_handle(self: Arc<Self>) -> Option<std::os::windows::io::OwnedHandle>;

    /// The handle, borrowed, when this is one of the driver's.
    #[cfg(windows)]
    fn borrow_handle(&self) -> Option<std::os::windows::io::BorrowedHandle<'_>>;
}

/// A request issued by [`Endpoint::submit`], until it completes.
pub(crate) trait InFlight: Send + Sync + Debug {
    /// Its outcome once it has completed, taken by the first call that sees it: the count
    /// it reports (bytes received, for RECV) and its output buffer. Until then, `cx`'s task
    /// is among those woken when it does.
    fn poll_reply(&self, cx: &mut Context<'_>) -> Poll<Reply>;

    /// Asks for it to end now (CancelIoEx): it completes soon after, with ECANCELED or with
    /// what it had achieved. Harmless once it has completed.
    fn cancel(&self);

    /// Whether it has completed.
    fn is_done(&self) -> bool;
}

/// What a submitted request completed with: its count and its output buffer, or its errno.
pub(crate) type Reply = Result<(usize, Vec<u8>), Errno>;

/// Where a submitted request's completion meets the tasks waiting for it.
#[derive(Debug, Default)]
pub(crate) struct Completion {
    slot: Mutex<Slot>,
}

#[derive(Debug)]
enum Slot {
    /// Still in flight; the wakers of the tasks waiting for it (more than one when they
    /// share the request, as the readers of one stream do).
    Waiting(Vec<Waker>),
    Done(Reply),
    /// Completed, and its reply taken.
    Taken,
}

impl Default for Slot {
    fn default() -> Slot {
        Slot::Waiting(Vec::new())
    }
}

impl Completion {
    fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        // Nothing panics while holding it; a poisoned slot still holds a consistent value.
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The request completed with `result`: the waiting tasks, if any, are woken (outside
    /// the lock).
    pub(crate) fn finish(&self, result: Reply) {
        let previous = std::mem::replace(&mut *self.lock(), Slot::Done(result));
        if let Slot::Waiting(wakers) = previous {
            wakers.into_iter().for_each(Waker::wake);
        }
    }

    pub(crate) fn poll(&self, cx: &mut Context<'_>) -> Poll<Reply> {
        let mut slot = self.lock();
        match std::mem::take(&mut *slot) {
            Slot::Done(result) => {
                *slot = Slot::Taken;
                Poll::Ready(result)
            }
            // Polled again after its reply was taken: a caller's bug, not a completion.
            Slot::Taken => {
                *slot = Slot::Taken;
                Poll::Ready(Err(Errno::EINVAL))
            }
            Slot::Waiting(mut wakers) => {
                if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
                    wakers.push(cx.waker().clone());
                }
                *slot = Slot::Waiting(wakers);
                Poll::Pending
            }
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        matches!(*self.lock(), Slot::Done(_) | Slot::Taken)
    }
}

/// An errno as the platform reports socket errors: the errno itself on Unix; on Windows the
/// WSA code std's own sockets would report, where that code means the same thing (its
/// `kind()` agrees, and no other errno shares it), else an error of the right kind carrying
/// the errno (Winsock has no ENOENT, for one: Microsoft's afunix reports WSAEINVAL, which
/// would hide a missing file).
/// Either way, [`crate::RawSocket`] and `errno_of` recover the exact errno.
pub(crate) fn io_error(errno: Errno) -> io::Error {
    #[cfg(windows)]
    {
        use afunix_proto::ErrnoCodes;
        let code = errno.to_wsa();
        let wsa = io::Error::from_raw_os_error(code as i32);
        // The WSA code alone must lead back to this errno (several errnos share WSAEINVAL,
        // for one): the first errno with that code is the one `errno_of` will pick.
        let reversible =
            afunix_core::ALL_ERRNOS.iter().find(|e| e.to_wsa() == code) == Some(&errno);
        if reversible && wsa.kind() == kind_of(errno) {
            wsa
        } else {
            io::Error::new(kind_of(errno), ErrnoError(errno))
        }
    }
    #[cfg(not(windows))]
    {
        io::Error::from_raw_os_error(i32::from(errno.number()))
    }
}

/// The errno an error made by [`io_error`] carries.
pub(crate) fn errno_of(e: &io::Error) -> Option<Errno> {
    if let Some(ErrnoError(errno)) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<ErrnoError>())
    {
        return Some(*errno);
    }
    let code = e.raw_os_error()?;
    #[cfg(windows)]
    {
        use afunix_proto::ErrnoCodes;
        afunix_core::ALL_ERRNOS
            .iter()
            .copied()
            .find(|x| x.to_wsa() as i32 == code)
    }
    #[cfg(not(windows))]
    {
        u16::try_from(code).ok().and_then(Errno::from_number)
    }
}

/// An errno as an error value, for errors Winsock has no code of the same meaning for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrnoError(pub Errno);

impl std::fmt::Display for ErrnoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (errno {})", self.0.name(), self.0.number())
    }
}

impl std::error::Error for ErrnoError {}

/// The `io::ErrorKind` Linux's std gives each errno.
#[cfg_attr(not(windows), allow(dead_code))]
pub(crate) fn kind_of(errno: Errno) -> io::ErrorKind {
    use io::ErrorKind as K;
    match errno {
        Errno::EPERM | Errno::EACCES => K::PermissionDenied,
        Errno::ENOENT => K::NotFound,
        Errno::EINTR => K::Interrupted,
        Errno::EAGAIN => K::WouldBlock,
        Errno::ENOMEM | Errno::ENOBUFS => K::OutOfMemory,
        Errno::EEXIST => K::AlreadyExists,
        Errno::EINVAL => K::InvalidInput,
        Errno::EPIPE => K::BrokenPipe,
        Errno::EADDRINUSE => K::AddrInUse,
        Errno::EADDRNOTAVAIL => K::AddrNotAvailable,
        Errno::ECONNABORTED => K::ConnectionAborted,
        Errno::ECONNRESET => K::ConnectionReset,
        Errno::ENOTCONN => K::NotConnected,
        Errno::ETIMEDOUT => K::TimedOut,
        Errno::ECONNREFUSED => K::ConnectionRefused,
        Errno::EOPNOTSUPP
        | Errno::EAFNOSUPPORT
        | Errno::EPROTONOSUPPORT
        | Errno::ESOCKTNOSUPPORT => K::Unsupported,
        Errno::ENAMETOOLONG => K::InvalidFilename,
        _ => K::Other,
    }
}
