//! The provider's sockets: what it keeps beside the driver's own state.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use afunix_core::SockType;
use windows_sys::Win32::Foundation::CloseHandle;

use crate::winsock::{NetEvents, Role, WSAENOTSOCK};

/// One socket of ours.
#[derive(Debug)]
pub(crate) struct Sock {
    /// Stream, datagram or seqpacket.
    pub ty: SockType,
    /// The catalog entry the socket was made from (ws2_32's id for its protocol), as
    /// `WPUModifyIFSHandle` and `SO_PROTOCOL_INFOW` give it.
    pub entry: u32,
    /// FIONBIO (also set in the driver; kept here for accept's inheritance).
    pub nonblocking: bool,
    pub role: Role,
    /// SO_SNDTIMEO and SO_RCVTIMEO; None is "wait for ever".
    pub send_timeout: Option<Duration>,
    pub recv_timeout: Option<Duration>,
    /// `WSAEventSelect` state, when the program asked for one.
    pub events: Option<NetEvents>,
    /// Which socket this is, of all that have had this handle value (values are reused):
    /// a POLL result for an earlier one must not land on it.
    pub generation: u64,
}

impl Sock {
    pub(crate) fn new(ty: SockType, entry: u32, role: Role, nonblocking: bool) -> Sock {
        Sock {
            ty,
            entry,
            nonblocking,
            role,
            send_timeout: None,
            recv_timeout: None,
            events: None,
            generation: 0,
        }
    }
}

static SOCKETS: Mutex<BTreeMap<usize, Sock>> = Mutex::new(BTreeMap::new());

pub(crate) fn lock() -> MutexGuard<'static, BTreeMap<usize, Sock>> {
    SOCKETS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `f` on socket `s`; WSAENOTSOCK if it is not one of ours.
pub(crate) fn with<T>(s: usize, f: impl FnOnce(&mut Sock) -> T) -> Result<T, i32> {
    lock().get_mut(&s).map(f).ok_or(WSAENOTSOCK)
}

pub(crate) fn insert(s: usize, mut sock: Sock) {
    static GENERATION: AtomicU64 = AtomicU64::new(0);
    sock.generation = GENERATION.fetch_add(1, Ordering::Relaxed);
    lock().insert(s, sock);
}

pub(crate) fn remove(s: usize) -> Option<Sock> {
    lock().remove(&s)
}

/// The deadline for a blocking call with this timeout.
pub(crate) fn deadline(timeout: Option<Duration>) -> Option<Instant> {
    timeout.map(|t| Instant::now() + t)
}

/// After the last `WSPCleanup`: every socket still open is closed, as Winsock does.
pub(crate) fn close_all() {
    let sockets = std::mem::take(&mut *lock());
    for s in sockets.into_keys() {
        // SAFETY:
        // 1. `s` is a handle this provider opened and still owned: it was in the table.
        unsafe { CloseHandle(s as _) };
    }
}
