//! Socket requests: from a front end's request to the device layer and back.
//!
//! The device layer (and the engine under it) sits behind one spin lock. A request is decoded
//! (by afunix-proto) and goes down the request path every front end shares
//! (`afunix_device::Prepared`): resolved in the caller's context without the lock (socket
//! files, handles, identity: [`Caller`] is all the driver adds), executed under the lock, and
//! then either completed at once or held pending, keyed by its token (the IRP's or the
//! WDFREQUEST's address), with the front end's cancellation routed to [`cancel`]. Completions
//! from the engine are taken one at a time under the lock and completed after it is released.
//! Whoever removes a pending request from the table completes it; nothing else does.
//!
//! Data is not copied into the driver to wait: the engine reaches the data of SEND, RECV,
//! READ and WRITE in each request's own locked pages through
//! [`HeldBuffers`], by token, while the request executes and while it pends. A blocked
//! writer's bytes stay in its buffer until a reader takes them (one copy, writer to reader);
//! only bytes that fit the peer's receive queue are copied into the driver.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use afunix_core::{Buffers, Credentials, Errno, KeyedHash, KeyedMap, Limits, SockType, Token};
use afunix_device::{
    DEFAULT_USER_SHARE_DIVISOR, Device, Done, FileId, FileIdentity, FsError, Host, Object,
    Prepared, Reply, ReplyBuffer, data_offset, deliver_objects, write_reply,
};
use afunix_proto::decode::{NtPath, RECVFROM_HEADER, Request as Decoded};
use afunix_proto::wire::{MSG_CTRUNC, recvmsg_header_len};
use afunix_proto::handle::HandleAccess;
use afunix_proto::SocketCounters;
use windows_sys::Win32::Foundation::{NTSTATUS, STATUS_PENDING, STATUS_SUCCESS};

use crate::caller;
use crate::debug::kprint;
use crate::front::{DataBuffer, FrontRequest, Held, ReplyArea, failed};
use crate::fs::{self, SocketFileHandle};
use crate::handles::{self, FileRef};
use crate::lock::SpinLocked;
use crate::objects::{self, Receiver};

/// Each user's share of each cap is `1 / USER_SHARE_DIVISOR` of it: the registry's
/// `Parameters\UserShareDivisor`, read at load ([`set_user_share_divisor`]).
static USER_SHARE_DIVISOR: AtomicUsize = AtomicUsize::new(DEFAULT_USER_SHARE_DIVISOR);

/// Sets each user's share (`1 / divisor` of each cap; 1 = no split); before [`init`].
pub fn set_user_share_divisor(divisor: usize) {
    USER_SHARE_DIVISOR.store(divisor.max(1), Ordering::Relaxed);
}

/// The limits of the driver's engine (see `afunix_device::driver_limits_shared`).
pub fn limits() -> Limits {
    afunix_device::driver_limits_shared(USER_SHARE_DIVISOR.load(Ordering::Relaxed))
}

struct State {
    device: Device,
    /// Pending requests by token (their address): a hash table, so that holding, completing or
    /// cancelling one costs the same however many pend, under the spin lock.
    pending: KeyedMap<Token, Held>,
    /// The receiving process of each pending RECVMSG that has room for objects (a kernel
    /// handle, `Receiver::into_raw`), by token.
    receivers: KeyedMap<Token, u64>,
}

static STATE: SpinLocked<Option<State>> = SpinLocked::new(None);

/// The data buffers of the requests the engine may touch: every pending one's, and the one
/// being executed (not yet in the table). Used only under the engine lock.
struct HeldBuffers<'a> {
    pending: &'a KeyedMap<Token, Held>,
    current: Option<(Token, DataBuffer)>,
}

impl HeldBuffers<'_> {
    fn of(pending: &KeyedMap<Token, Held>) -> HeldBuffers<'_> {
        HeldBuffers {
            pending,
            current: None,
        }
    }

    fn get(&self, token: Token) -> Option<DataBuffer> {
        match self.current {
            Some((t, data)) if t == token => Some(data),
            _ => self.pending.get(&token).and_then(|held| held.data),
        }
    }

    /// Copies `len` bytes between two requests' buffers, or between one and the engine's
    /// memory; false if either range is outside its buffer.
    fn copy(from: Option<*mut u8>, to: Option<*mut u8>, len: usize) -> bool {
        let (Some(from), Some(to)) = (from, to) else {
            return false;
        };
        // SAFETY:
        // 1. Both ranges were bounds-checked (`DataBuffer::range`, or are the engine's own
        //    slices). A request's pages stay locked and mapped while it is pending or being
        //    executed, which is when the engine asks (under the engine lock); the caller's
        //    user-mode threads may write them meanwhile, which changes only what is copied.
        // 2. `copy` (memmove): a program may give overlapping buffers to two requests.
        unsafe { core::ptr::copy(from.cast_const(), to, len) };
        true
    }
}

impl Buffers for HeldBuffers<'_> {
    fn write_recv(&mut self, token: Token, offset: usize, src: &[u8]) -> bool {
        let to = self
            .get(token)
            .and_then(|b| b.writable_range(offset, src.len()));
        Self::copy(Some(src.as_ptr().cast_mut()), to, src.len())
    }

    fn read_send(&mut self, token: Token, offset: usize, dst: &mut [u8]) -> bool {
        let from = self.get(token).and_then(|b| b.range(offset, dst.len()));
        Self::copy(from, Some(dst.as_mut_ptr()), dst.len())
    }

    fn append_send(&mut self, token: Token, offset: usize, len: usize, dst: &mut Vec<u8>) -> bool {
        let Some(from) = self.get(token).and_then(|b| b.range(offset, len)) else {
            return false;
        };
        if dst.try_reserve(len).is_err() {
            return false;
        }
        let Some(end) = dst.len().checked_add(len) else {
            return false;
        };
        let room = dst.spare_capacity_mut().as_mut_ptr().cast::<u8>();
        if !Self::copy(Some(from), Some(room), len) {
            return false;
        }
        // SAFETY:
        // 1. `try_reserve` made room for `len` more bytes, and `copy` initialised exactly
        //    those, the first `len` of the spare capacity.
        unsafe { dst.set_len(end) };
        true
    }

    fn send_to_recv(
        &mut self,
        send: Token,
        send_offset: usize,
        recv: Token,
        recv_offset: usize,
        len: usize,
    ) -> bool {
        let from = self.get(send).and_then(|b| b.range(send_offset, len));
        let to = self
            .get(recv)
            .and_then(|b| b.writable_range(recv_offset, len));
        Self::copy(from, to, len)
    }
}

/// Sets the engine up; [`crate::requests::load`] calls it before the device is created.
pub fn init() {
    // The tables' hash key: unpredictable, so that no program can choose socket names that
    // collide in them (see `afunix_core::KeyedHash`).
    // Should the system's generator fail at load, the tables still work, with a key anyone
    // can know: said in the log, since it lets a program choose colliding names.
    let seed = fs::secret().unwrap_or_else(|_| {
        kprint!("no random key for the socket tables: they are keyed with 0");
        0
    });
    let limits = Limits {
        hash_seed: (seed as u64) ^ ((seed >> 64) as u64),
        ..limits()
    };
    let hash = KeyedHash::new(limits.hash_seed);
    *STATE.lock() = Some(State {
        device: Device::new(limits),
        pending: KeyedMap::new(hash),
        receivers: KeyedMap::new(hash),
    });
}

/// Tears the engine down; the driver's unload calls it, when no handle is open (so nothing
/// pends).
pub fn shutdown() {
    let mut state = STATE.lock().take();
    // Passed objects the last drains left to release (above PASSIVE_LEVEL): unload runs at
    // PASSIVE_LEVEL.
    if let Some(state) = state.as_mut() {
        while let Some(key) = state.device.poll_released() {
            objects::release(key);
        }
    }
    drop(state);
}

/// Counters for STATS.
pub fn counters() -> SocketCounters {
    let limits = limits();
    let guard = STATE.lock();
    let Some(state) = guard.as_ref() else {
        return SocketCounters::default();
    };
    let stats = state.device.stats();
    SocketCounters {
        sockets: stats.sockets as u64,
        bound_names: stats.bindings as u64,
        bytes_buffered: stats.bytes_buffered as u64,
        pending_irps: state.pending.len() as u64,
        max_sockets: limits.max_sockets as u64,
        max_bytes_buffered: limits.global_buffer_cap as u64,
    }
}

/// CREATE: a new, unconfigured file.
pub fn open(file: FileId) -> Result<(), Errno> {
    STATE.lock().as_mut().ok_or(Errno::EBADF)?.device.open(file)
}

/// CLEANUP or CLOSE, whichever comes first (Wine sends no CLEANUP): the file's pending
/// requests complete and its socket goes. A second call finds nothing to do.
pub fn close<R: FrontRequest>(file: FileId) {
    if let Some(state) = STATE.lock().as_mut() {
        state
            .device
            .close(file, &mut HeldBuffers::of(&state.pending));
    }
    drain::<R>();
}

/// What [`drain`] takes under the lock, one at a time, to finish outside it (moved once per
/// item, on the stack: its size is no cost worth a heap allocation that could fail).
#[allow(clippy::large_enum_variant)]
enum Drained {
    /// A completed request, its result, and its receiving process (RECVMSG).
    Completed(Held, Result<Done, Errno>, Option<Receiver>),
    /// A passed object given up, to release.
    Released(u64),
    /// A completion whose request was not in the table (not reached), its result and what it
    /// held.
    Skipped(Result<Done, Errno>, Option<Receiver>),
}

/// Completes every request the engine has finished with, and releases every passed object it
/// gave up, one at a time, each outside the lock. Objects are released only at
/// PASSIVE_LEVEL; above it (a cancel routine's drain) they wait for the next drain.
pub fn drain<R: FrontRequest>() {
    let passive = objects::at_passive_level();
    loop {
        let taken = {
            let mut guard = STATE.lock();
            let Some(state) = guard.as_mut() else { return };
            let released = if passive {
                state.device.poll_released()
            } else {
                None
            };
            if let Some(key) = released {
                Drained::Released(key)
            } else {
                let Some(completion) = state.device.poll_completion() else {
                    return;
                };
                // SAFETY:
                // 1. Made by `into_raw` in `run`, and removed from the table once.
                let receiver = state
                    .receivers
                    .remove(&completion.token)
                    .map(|raw| unsafe { Receiver::from_raw(raw) });
                match state.pending.remove(&completion.token) {
                    Some(held) => Drained::Completed(held, completion.result, receiver),
                    None => Drained::Skipped(completion.result, receiver),
                }
            }
        };
        match taken {
            Drained::Completed(held, result, receiver) => {
                // SAFETY:
                // 1. Every entry of the table was made by `R::hold` (one front end per
                //    image), and this one was just removed from it.
                let request = unsafe { R::resume(held) };
                finish(request, result, receiver);
            }
            Drained::Released(key) => objects::release(key),
            Drained::Skipped(result, receiver) => {
                // Objects a receive took go back (a peek's are still the message's).
                if let Ok(Done::Message(mut m)) = result {
                    give_objects(&mut m, None);
                }
                close_receiver(receiver);
            }
        }
    }
}

/// Cancels a pending request in the engine, from the front end's cancellation (CancelIoEx,
/// thread or process exit). The engine completes it (with ECANCELED, or with what it achieved)
/// through [`drain`], which the front end calls next. If `drain` already took its completion,
/// the engine no longer knows the token and nothing happens.
///
/// The front end must call this while the request cannot yet be completed by anyone else
/// (WDM: under the cancel spin lock; KMDF: before its cancel callback lets go), so that the
/// token cannot name a newer request at the same address.
pub fn cancel(token: Token) {
    if let Some(state) = STATE.lock().as_mut() {
        let _ = state
            .device
            .cancel(token, &mut HeldBuffers::of(&state.pending));
    }
}

/// The driver's part of the request path (see `afunix_device::Host`): in the caller's
/// context, at PASSIVE_LEVEL, without the engine's lock.
#[derive(Debug)]
struct Caller;

impl Host for Caller {
    type SocketFile = SocketFileHandle;
    type HandleRef = FileRef;

    fn credentials(&mut self) -> Result<Credentials, Errno> {
        caller::credentials()
    }

    fn secret(&mut self) -> Result<u128, Errno> {
        fs::secret()
    }

    fn create_socket_file(
        &mut self,
        path: NtPath<'_>,
        secret: u128,
        ty: SockType,
    ) -> Result<(FileIdentity, SocketFileHandle), FsError> {
        fs::create(path, secret, ty, caller::pid())
    }

    fn remove_socket_file(&mut self, file: SocketFileHandle) {
        file.delete();
    }

    fn open_socket_file(
        &mut self,
        path: NtPath<'_>,
    ) -> Result<(FileIdentity, Option<u128>), FsError> {
        fs::open_for_connect(path)
    }

    fn reference(&mut self, handle: u64, access: HandleAccess) -> Result<(FileId, FileRef), Errno> {
        let file = handles::reference(handle, access.rights())?;
        Ok((file.id(), file))
    }

    fn with_device<R>(&mut self, f: impl FnOnce(&mut Device) -> R) -> Result<R, Errno> {
        Ok(f(&mut STATE.lock().as_mut().ok_or(Errno::EBADF)?.device))
    }

    fn pass(&mut self, handle: u64) -> Result<Object, Errno> {
        objects::pass(handle)
    }

    /// At PASSIVE_LEVEL the object's handle is closed now. Above it (a staged request the
    /// KMDF queue gave up at DISPATCH_LEVEL) it goes to the device for the next drain, or, if
    /// the device has no room kept for it, stays open and the log says so.
    fn release(&mut self, key: u64) {
        if objects::at_passive_level() {
            objects::release(key);
            return;
        }
        let kept = STATE
            .lock()
            .as_mut()
            .is_some_and(|state| state.device.release_later(key));
        if !kept {
            kprint!("a passed object was left open above PASSIVE_LEVEL");
        }
    }
}

/// A socket IOCTL, READ or WRITE: resolved ([`stage`]) and executed ([`run`]) at once, in the
/// caller's context.
pub fn execute<R: FrontRequest>(mut request: R, decoded: Decoded<'_>) -> NTSTATUS {
    match stage(&mut request, decoded) {
        Ok(staged) => run(request, staged),
        Err(e) => request.complete(failed(e), 0),
    }
}

/// A request resolved in its caller's context ([`stage`]) and not yet executed: what the
/// KMDF front end carries from `EvtIoInCallerContext` to its queue. Dropping it without
/// [`run`] must go through [`Staged::abandon`].
#[derive(Debug)]
pub struct Staged<'a> {
    prepared: Prepared<'a, Caller>,
    /// The data buffer of SEND, RECV, READ and WRITE (see [`stage`]).
    data: Option<DataBuffer>,
    /// A RECVMSG's receiving process, when it has room for objects.
    receiver: Option<Receiver>,
}

impl Staged<'_> {
    /// Gives up a staged request that will not run (cancelled while queued): undoes what
    /// resolving it did. Only requests that may pend are staged ([`stage_for_queue`]), and
    /// none of them makes a socket file, so this only drops references and pool memory and
    /// may run at DISPATCH_LEVEL.
    pub fn abandon(self) {
        self.prepared.settle(&mut Caller, true);
        close_receiver(self.receiver);
    }
}

/// [`stage`] for a front end that runs the request later, from a queue, where giving it up
/// ([`Staged::abandon`]) may happen at DISPATCH_LEVEL: only a request that may pend
/// (`afunix_device::path::may_pend`) is staged, and none of those makes a socket file, whose
/// removal would need PASSIVE_LEVEL. Any other request is refused with EINVAL.
pub fn stage_for_queue<'a, R: FrontRequest>(
    request: &mut R,
    decoded: Decoded<'a>,
) -> Result<Staged<'a>, Errno> {
    if !afunix_device::path::may_pend(&decoded) {
        return Err(Errno::EINVAL);
    }
    stage(request, decoded)
}

/// The first half of [`execute`], in the caller's context, without the engine's lock: the
/// data buffer mapped (RECVFROM's from after the room for the sender's address), and the
/// request resolved (`afunix_device::Prepared`: socket files, handles, identity).
fn stage<'a, R: FrontRequest>(
    request: &mut R,
    decoded: Decoded<'a>,
) -> Result<Staged<'a>, Errno> {
    let file = request.file();
    let offset = data_offset(&decoded);
    let data: Option<DataBuffer> = match decoded {
        Decoded::Send { .. }
        | Decoded::Recv { .. }
        | Decoded::SendMsg { .. }
        | Decoded::RecvMsg { .. } => Some(
            request
                .data_buffer()
                .and_then(|d| d.after(offset))
                .ok_or(Errno::ENOMEM)?,
        ),
        _ => None,
    };
    let receiver = match decoded {
        Decoded::RecvMsg { room, .. } if room > 0 => Some(Receiver::of_caller()),
        _ => None,
    };
    let prepared = Prepared::new(&mut Caller, file, decoded, data.map_or(0, |d| d.len))?;
    Ok(Staged {
        prepared,
        data,
        receiver,
    })
}

/// The second half of [`execute`]: the staged request executed under the engine's lock, then
/// completed, or held pending.
pub fn run<R: FrontRequest>(request: R, staged: Staged<'_>) -> NTSTATUS {
    let Staged {
        mut prepared,
        data,
        receiver,
    } = staged;
    let mut host = Caller;
    let token = request.token();
    let mut guard = STATE.lock();
    let Some(state) = guard.as_mut() else {
        drop(guard);
        // A bind that made its socket file removes it again, as when the bind itself fails.
        prepared.settle(&mut host, true);
        close_receiver(receiver);
        return request.complete(failed(Errno::EBADF), 0);
    };
    // Room to hold it pending is made first, so a pending request is never dropped.
    if let Err(e) = state
        .pending
        .try_reserve(1)
        .and_then(|()| state.receivers.try_reserve(1))
    {
        drop(guard);
        prepared.settle(&mut host, true);
        close_receiver(receiver);
        return request.complete(failed(e), 0);
    }
    let mut buffers = HeldBuffers {
        pending: &state.pending,
        current: data.map(|d| (token, d)),
    };
    let reply = prepared.execute(&mut state.device, token, &mut buffers);
    let failed = reply.failed();
    // The decoded request borrows the request's buffers, which go when it completes: from
    // here on only what outlives it is kept (a pending request may be completed by another
    // processor as soon as the lock is let go).
    let resolution = prepared.into_resolution();
    match reply {
        Reply::Ready(result) => {
            drop(guard);
            resolution.settle(&mut host, failed);
            drain::<R>();
            finish(request, result, receiver)
        }
        Reply::Pending => {
            let (held, cancelled) = request.hold(data);
            // Cannot fail: room was reserved above, under this same lock.
            let _ = state.pending.try_insert(token, held);
            if let Some(receiver) = receiver {
                let _ = state.receivers.try_insert(token, receiver.into_raw());
            }
            if cancelled {
                let _ = state
                    .device
                    .cancel(token, &mut HeldBuffers::of(&state.pending));
            }
            drop(guard);
            resolution.settle(&mut host, false);
            drain::<R>();
            STATUS_PENDING
        }
    }
}


/// Completes a request with its result, writing its reply where the request's method puts
/// it (`afunix_device::write_reply`): data is already in the caller's pages (MDL), structs
/// go into the system buffer, a POLL's revents into the request still in it.
fn finish<R: FrontRequest>(
    mut request: R,
    result: Result<Done, Errno>,
    receiver: Option<Receiver>,
) -> NTSTATUS {
    let mut done = match result {
        Ok(done) => done,
        Err(e) => {
            close_receiver(receiver);
            return request.complete(failed(e), 0);
        }
    };
    if let Done::Message(m) = &mut done {
        // Handles are made only where the reply that names them can be written: else they
        // would be the receiver's without its knowing.
        let header = recvmsg_header_len(m.room);
        let writable = request
            .reply_area(ReplyArea::DataHeader)
            .is_some_and(|b| b.len() >= header);
        give_objects(m, receiver.as_ref().filter(|_| writable));
    }
    close_receiver(receiver);
    let buffer = match &done {
        Done::Ok | Done::Count(_) => None,
        Done::CountFrom(..) => request
            .reply_area(ReplyArea::DataHeader)
            .and_then(|b| b.get_mut(..RECVFROM_HEADER))
            .map(ReplyBuffer::Out),
        Done::Message(m) => request
            .reply_area(ReplyArea::DataHeader)
            .and_then(|b| b.get_mut(..recvmsg_header_len(m.room)))
            .map(ReplyBuffer::Out),
        Done::Polled(_) => request.reply_area(ReplyArea::Input).map(ReplyBuffer::InOut),
        _ => request.reply_area(ReplyArea::Output).map(ReplyBuffer::Out),
    };
    match write_reply(&done, buffer) {
        Ok(n) => request.complete(STATUS_SUCCESS, n),
        Err(e) => request.complete(failed(e), 0),
    }
}

/// Makes a RECVMSG's objects handles of its receiving process. Where that cannot be done
/// (no receiver or no room for the reply; above PASSIVE_LEVEL, a cancel routine's drain), the
/// receive gets none and reports MSG_CTRUNC, and objects it took go back to the device to be
/// released by the next drain. A peek's objects were pinned by the device: each is unpinned
/// once its copy is made (or given up), and released then if it was released meanwhile.
fn give_objects(m: &mut afunix_device::MessageDone, receiver: Option<&Receiver>) {
    if m.objects.is_empty() {
        return;
    }
    let passive = objects::at_passive_level();
    let process = match receiver {
        Some(receiver) if passive => receiver.open().ok(),
        _ => None,
    };
    if m.peeked {
        let mut made = 0usize;
        let mut failed = process.is_none();
        for o in &mut m.objects {
            let key = o.key;
            if !failed {
                match process.as_ref().map(|p| objects::give(p, key)) {
                    Some(Ok(handle)) => {
                        o.key = handle;
                        made = made.saturating_add(1);
                    }
                    _ => failed = true,
                }
            }
            let release = STATE
                .lock()
                .as_mut()
                .is_some_and(|state| state.device.unpin(key));
            if release {
                release_now_or_later(key, passive);
            }
        }
        if failed {
            m.objects.truncate(made);
            m.from.msg_flags |= MSG_CTRUNC;
        }
        return;
    }
    match process {
        Some(process) => deliver_objects(
            m,
            |key, _keep| {
                let handle = objects::give(&process, key)?;
                release_key(key);
                Ok(handle)
            },
            release_key,
        ),
        None => {
            for o in &m.objects {
                release_now_or_later(o.key, false);
            }
            m.objects.clear();
            m.from.msg_flags |= MSG_CTRUNC;
        }
    }
}

/// Releases a received object's key: now, unless a peek holds it pinned (the last unpin
/// releases it then). At PASSIVE_LEVEL.
fn release_key(key: u64) {
    let now = STATE
        .lock()
        .as_mut()
        .is_none_or(|state| state.device.may_release(key));
    if now {
        objects::release(key);
    }
}

/// Releases `key` now at PASSIVE_LEVEL (`passive`), else through the device at the next
/// drain; if the device has no room for it, it stays open and the log says so.
fn release_now_or_later(key: u64, passive: bool) {
    if passive {
        release_key(key);
        return;
    }
    let kept = STATE.lock().as_mut().is_some_and(|state| {
        // Pinned: the last unpin releases it.
        !state.device.may_release(key) || state.device.release_later(key)
    });
    if !kept {
        kprint!("a passed object could not be released");
    }
}

/// Lets a RECVMSG's receiving process go (a reference: at any IRQL up to DISPATCH_LEVEL).
fn close_receiver(receiver: Option<Receiver>) {
    drop(receiver);
}
