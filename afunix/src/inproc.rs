//! The in-process transport: the device layer (and the engine under it) inside this process,
//! behind a mutex, with threads really blocking and really being woken.
//!
//! It takes requests in the driver's wire format, decodes them with the driver's decoder, and
//! runs them down the request path the driver runs (`afunix_device::Prepared`), so a test
//! through the library covers encoding, decoding, the request path and the engine. What the
//! driver does in the caller's context (its `afunix_device::Host`), this does for this
//! process ([`Caller`]): pathname BIND creates the socket file and writes the binding's
//! secret in it (and removes the file again if the bind fails, as Linux does), CONNECT opens
//! it for writing (so a file without write permission gives EACCES) and reads the secret
//! back; bindings are keyed by the file's identity (device and inode; volume serial and file
//! index on Windows) and the secret. Sockets reach only sockets of the same transport.
//!
//! SEND and RECV reach the request's own buffer in place while it executes, as the driver
//! reaches its IRPs' pages; a request that waits lends a copy (see [`RequestBuffers`]).

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use afunix_core::{Buffers, Credentials, Errno, Limits, Token, byte_range, byte_range_mut};
use afunix_device::{
    Device, Done, FileId, FileIdentity, FsError, Host, OwnedBuffers, Prepared, Reply, ReplyBuffer,
    data_offset, write_reply,
};
use afunix_proto::decode::{NtPath, decode};
use afunix_proto::encode;
use afunix_proto::handle::HandleAccess;
use afunix_proto::ioctl::{IOCTL_AFUNIX_RECV, IOCTL_AFUNIX_SEND, IOCTL_AFUNIX_STATS};
use zerocopy::IntoBytes;

use crate::channel::{Completion, Data, Endpoint, InFlight, Transport};

/// The shared state: one device, its handles, and the completions not yet collected.
struct State {
    device: Device,
    /// Handle value -> file. Several handles may share a file (`try_clone`).
    handles: HashMap<u64, FileId>,
    /// How many handles each file has; the file closes with its last one.
    refs: HashMap<FileId, usize>,
    /// Completions drained from the device, waiting for the thread that issued them.
    done: HashMap<Token, Result<Done, Errno>>,
    /// Requests issued without waiting ([`Endpoint::submit`]), by token: their completions
    /// go to them, not to `done`.
    submitted: HashMap<Token, Arc<Submitted>>,
    /// The data buffers of SEND and RECV requests not yet finished, by token: what the
    /// driver's IRPs' locked pages are to it.
    buffers: OwnedBuffers,
    next_id: u64,
    /// Tokens of finished requests. A new request takes the most recently freed one, as the
    /// driver's requests are named by IRP addresses that the I/O manager reuses at once, so
    /// that a token remembered anywhere past its request's end would meet a live request
    /// here too (and every test through the library runs that way).
    free_tokens: Vec<Token>,
}

impl State {
    fn next(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A token for a new request: the most recently freed, else a new one.
    fn token(&mut self) -> Token {
        match self.free_tokens.pop() {
            Some(token) => token,
            None => Token(self.next()),
        }
    }

    /// `token`'s request is over, its completion (if it pended) taken from the device.
    fn free_token(&mut self, token: Token) {
        self.free_tokens.push(token);
    }

    /// Moves every completion out of the device; true if any is for a waiting thread.
    /// A submitted request's completion goes to it (its task is woken) and frees its token.
    fn drain(&mut self) -> bool {
        let mut any = false;
        while let Some(c) = self.device.poll_completion() {
            if let Some(request) = self.submitted.remove(&c.token) {
                let output = self.buffers.remove(c.token).unwrap_or_default();
                request.finish(c.result, output);
                self.free_token(c.token);
                continue;
            }
            self.done.insert(c.token, c.result);
            any = true;
        }
        any
    }
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when completions arrive. A waiter sleeps once per wait and is woken only
    /// when something completed, not on every operation.
    completed: Condvar,
    credentials: Credentials,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the engine in an unknown state; refuse to go
        // on with it rather than hide that.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| panic!("afunix in-process device poisoned: {poisoned}"))
    }
}

/// The in-process transport. Clones share the device.
#[derive(Clone)]
pub(crate) struct InProcess {
    shared: Arc<Shared>,
}

impl fmt::Debug for InProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InProcess").finish_non_exhaustive()
    }
}

impl InProcess {
    pub(crate) fn new(limits: Limits) -> InProcess {
        InProcess {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    device: Device::new(limits),
                    handles: HashMap::new(),
                    refs: HashMap::new(),
                    done: HashMap::new(),
                    submitted: HashMap::new(),
                    buffers: OwnedBuffers::new(),
                    next_id: 0,
                    free_tokens: Vec::new(),
                }),
                completed: Condvar::new(),
                credentials: own_credentials(),
            }),
        }
    }
}

impl Transport for InProcess {
    fn open(&self) -> io::Result<Arc<dyn Endpoint>> {
        let mut state = self.shared.lock();
        let handle = state.next();
        let file = FileId(state.next());
        state.device.open(file).map_err(crate::channel::io_error)?;
        state.handles.insert(handle, file);
        state.refs.insert(file, 1);
        Ok(Arc::new(Handle {
            shared: self.shared.clone(),
            handle,
        }))
    }

    fn stats(&self) -> Option<afunix_device::DeviceStats> {
        Some(self.shared.lock().device.stats())
    }

    fn absolute_path(&self, path: &Path) -> io::Result<Vec<u16>> {
        let absolute = std::path::absolute(path)?;
        let text = absolute.to_str().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "socket paths must be valid Unicode",
            )
        })?;
        Ok(text.encode_utf16().collect())
    }
}

/// One handle of the in-process device.
struct Handle {
    shared: Arc<Shared>,
    handle: u64,
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("handle", &self.handle)
            .finish()
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        let Some(file) = state.handles.remove(&self.handle) else {
            return;
        };
        let refs = state.refs.get(&file).copied().unwrap_or(1);
        if refs > 1 {
            state.refs.insert(file, refs - 1);
            return;
        }
        state.refs.remove(&file);
        // The last handle: CLEANUP/CLOSE. Its pending requests complete; the socket goes.
        let state = &mut *state;
        state.device.close(file, &mut state.buffers);
        if state.drain() {
            self.shared.completed.notify_all();
        }
    }
}

impl Endpoint for Handle {
    fn handle_value(&self) -> u64 {
        self.handle
    }

    #[cfg(windows)]
    fn into_owned_handle(self: Arc<Self>) -> Option<std::os::windows::io::OwnedHandle> {
        None
    }

    #[cfg(windows)]
    fn borrow_handle(&self) -> Option<std::os::windows::io::BorrowedHandle<'_>> {
        None
    }

    fn duplicate(&self) -> io::Result<Arc<dyn Endpoint>> {
        let mut state = self.shared.lock();
        let file = *state
            .handles
            .get(&self.handle)
            .ok_or_else(|| crate::channel::io_error(Errno::EBADF))?;
        let handle = state.next();
        state.handles.insert(handle, file);
        *state.refs.entry(file).or_insert(0) += 1;
        Ok(Arc::new(Handle {
            shared: self.shared.clone(),
            handle,
        }))
    }

    fn read(&self, buf: &mut [u8], deadline: Option<Instant>) -> Result<usize, Errno> {
        // READ is RECV without flags, as the driver treats it.
        self.ioctl(
            IOCTL_AFUNIX_RECV,
            encode::data(0).as_bytes(),
            Data::Out(buf),
            deadline,
        )
    }

    fn write(&self, data: &[u8], deadline: Option<Instant>) -> Result<usize, Errno> {
        // WRITE is SEND without flags.
        self.ioctl(
            IOCTL_AFUNIX_SEND,
            encode::data(0).as_bytes(),
            Data::In(data),
            deadline,
        )
    }

    fn submit(
        &self,
        code: u32,
        input: &[u8],
        mut output: Vec<u8>,
    ) -> Result<Arc<dyn InFlight>, Errno> {
        if code == IOCTL_AFUNIX_STATS {
            return Err(Errno::EINVAL);
        }
        let request = decode(code, input, output.len())
            .map_err(|e| Errno::from_number(e.errno()).unwrap_or(Errno::EINVAL))?;
        if data_offset(&request) != 0 {
            // RECVFROM's reply splits its buffer; nothing submits it.
            return Err(Errno::EINVAL);
        }
        // RECV and SEND reach `output` as their data buffer; POLL writes its reply into it.
        let is_data = matches!(code, IOCTL_AFUNIX_RECV | IOCTL_AFUNIX_SEND);
        let file = self.file()?;
        let mut host = Caller {
            shared: &self.shared,
        };
        let data_len = if is_data { output.len() } else { 0 };
        let mut prepared = Prepared::new(&mut host, file, request, data_len)?;
        let mut state = self.shared.lock();
        let token = state.token();
        let submitted = Arc::new(Submitted {
            shared: self.shared.clone(),
            token,
            completion: Completion::default(),
        });
        let state_ref = &mut *state;
        let mut bufs = RequestBuffers {
            owned: &mut state_ref.buffers,
            token,
            current: if is_data {
                Current::Out(&mut output)
            } else {
                Current::None
            },
        };
        let reply = prepared.execute(&mut state_ref.device, token, &mut bufs);
        let failed = match reply {
            Reply::Ready(result) => {
                state.free_token(token);
                let failed = result.is_err();
                submitted.finish(result, output);
                failed
            }
            Reply::Pending => {
                // Its buffer goes to the shared state, where the requests that fill it reach
                // it, as the driver's IRP's pages stay locked; it comes back at completion
                // (a POLL's reply buffer too, which no request reaches).
                if let Err(e) = state.buffers.insert_recv(token, output) {
                    let state_ref = &mut *state;
                    let _ = state_ref.device.cancel(token, &mut state_ref.buffers);
                    let _ = state.drain();
                    state.done.remove(&token);
                    state.free_token(token);
                    drop(state);
                    prepared.settle(&mut host, true);
                    return Err(e);
                }
                state.submitted.insert(token, submitted.clone());
                false
            }
        };
        if state.drain() {
            self.shared.completed.notify_all();
        }
        drop(state);
        // Only a bind has anything to settle, and a bind never pends.
        prepared.settle(&mut host, failed);
        Ok(submitted)
    }

    fn ioctl(
        &self,
        code: u32,
        input: &[u8],
        data: Data<'_>,
        deadline: Option<Instant>,
    ) -> Result<usize, Errno> {
        if code == IOCTL_AFUNIX_STATS {
            // STATS is the driver's own, not the device layer's; tests read `InProcess::stats`.
            return Err(Errno::EINVAL);
        }
        let request = decode(code, input, data.len())
            .map_err(|e| Errno::from_number(e.errno()).unwrap_or(Errno::EINVAL))?;
        // RECVFROM's output starts with room for the sender's address; the data follows.
        let (header, mut data) = match (data_offset(&request), data) {
            (0, data) => (None, data),
            (offset, Data::Out(buf)) => {
                let (header, rest) = buf.split_at_mut(offset.min(buf.len()));
                (Some(header), Data::Out(rest))
            }
            (_, data) => (None, data),
        };
        let file = self.file()?;
        // What the driver does in the caller's context, without the device's lock.
        let mut host = Caller {
            shared: &self.shared,
        };
        let mut prepared = Prepared::new(&mut host, file, request, data.len())?;
        let mut state = self.shared.lock();
        let token = state.token();
        let state_ref = &mut *state;
        let mut bufs = RequestBuffers {
            owned: &mut state_ref.buffers,
            token,
            current: match &mut data {
                Data::None => Current::None,
                Data::In(bytes) => Current::In(bytes),
                Data::Out(buf) => Current::Out(buf),
            },
        };
        let reply = prepared.execute(&mut state_ref.device, token, &mut bufs);
        let result = match reply {
            Reply::Ready(r) => r,
            Reply::Pending => {
                // The request waits: its buffer, borrowed from this thread, is lent to the
                // shared state as a copy for other threads' requests to reach (see
                // `RequestBuffers`).
                let lent = bufs.current.lend(bufs.owned, token);
                if let Err(e) = lent {
                    // No copy to lend: nothing could reach the request's buffer once this
                    // call returns. Cancel it while it still can (a cancelled send first
                    // hands over what its reader was shown) and report what it achieved.
                    let _ = state_ref.device.cancel(token, &mut bufs);
                    let _ = state.drain();
                    self.shared.completed.notify_all();
                    let result = state.done.remove(&token).unwrap_or(Err(e));
                    state.free_token(token);
                    drop(state);
                    prepared.settle(&mut host, false);
                    return match result {
                        Err(Errno::ECANCELED) => Err(e),
                        other => {
                            other.and_then(|done| write_reply(&done, header.map(ReplyBuffer::Out)))
                        }
                    };
                }
                if state.drain() {
                    self.shared.completed.notify_all();
                }
                let timeout = prepared.poll_timeout_ms();
                let poll_deadline = match timeout {
                    Some(ms) if ms > 0 => {
                        Some(Instant::now() + std::time::Duration::from_millis(ms.unsigned_abs()))
                    }
                    _ => None,
                };
                let deadline = match (deadline, poll_deadline) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                let (guard, result) = self.wait(state, token, deadline, timeout.is_some());
                state = guard;
                // A RECV's bytes are in its lent copy.
                let count = match &result {
                    Ok(Done::Count(n) | Done::CountFrom(n, _)) => Some(*n),
                    Ok(Done::Message(m)) => Some(m.count),
                    _ => None,
                };
                if let (Some(own), Some(n), Data::Out(buf)) =
                    (state.buffers.remove(token), count, &mut data)
                {
                    let received = own.get(..n).ok_or(Errno::EFAULT)?;
                    buf.get_mut(..n)
                        .ok_or(Errno::EFAULT)?
                        .copy_from_slice(received);
                }
                result
            }
        };
        state.free_token(token);
        if state.drain() {
            self.shared.completed.notify_all();
        }
        drop(state);
        prepared.settle(&mut host, result.is_err());
        let done = result?;
        let buffer = match (&done, data) {
            (Done::CountFrom(..) | Done::Message(_), _) => header.map(ReplyBuffer::Out),
            (Done::Polled(_), Data::Out(out)) => {
                // METHOD_BUFFERED: the reply buffer starts as a copy of the request.
                out.get_mut(..input.len())
                    .ok_or(Errno::EFAULT)?
                    .copy_from_slice(input);
                Some(ReplyBuffer::InOut(
                    out.get_mut(..input.len()).ok_or(Errno::EFAULT)?,
                ))
            }
            (_, Data::Out(out)) => Some(ReplyBuffer::Out(out)),
            _ => None,
        };
        // A peek's objects were pinned until their copies were made; in-process the value
        // is the copy, so they are unpinned now (their release is nothing here).
        if let Done::Message(m) = &done {
            if m.peeked {
                let mut state = self.shared.lock();
                for o in &m.objects {
                    let _ = state.device.unpin(o.key);
                }
            }
        }
        write_reply(&done, buffer)
    }
}

/// A request issued by [`Endpoint::submit`] on the in-process device.
struct Submitted {
    shared: Arc<Shared>,
    token: Token,
    completion: Completion,
}

impl fmt::Debug for Submitted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Submitted")
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

impl Submitted {
    /// The device completed it with `result`; `output` is its output buffer, which a POLL's
    /// reply is written into.
    fn finish(&self, result: Result<Done, Errno>, mut output: Vec<u8>) {
        let reply = result.and_then(|done| {
            let count = match done {
                Done::Polled(_) => write_reply(&done, Some(ReplyBuffer::InOut(&mut output)))?,
                Done::Count(n) => n,
                _ => write_reply(&done, Some(ReplyBuffer::Out(&mut output)))?,
            };
            Ok((count, output))
        });
        self.completion.finish(reply);
    }
}

impl InFlight for Submitted {
    fn poll_reply(
        &self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<crate::channel::Reply> {
        self.completion.poll(cx)
    }

    fn cancel(&self) {
        let mut state = self.shared.lock();
        // Only while this request pends under its token: once it completed, the token may
        // already name another request (tokens are reused at once, as IRP addresses are).
        let pending = state
            .submitted
            .get(&self.token)
            .is_some_and(|s| std::ptr::eq(Arc::as_ptr(s), self));
        if !pending {
            return;
        }
        let state_ref = &mut *state;
        state_ref.device.cancel(self.token, &mut state_ref.buffers);
        if state.drain() {
            self.shared.completed.notify_all();
        }
    }

    fn is_done(&self) -> bool {
        self.completion.is_done()
    }
}

/// The front end's part of the request path (see `afunix_device::Host`), done as the driver
/// does it in the caller's context: here the caller is this process.
struct Caller<'s> {
    shared: &'s Shared,
}

impl Host for Caller<'_> {
    type SocketFile = PathBuf;
    type HandleRef = ();

    fn credentials(&mut self) -> Result<Credentials, Errno> {
        Ok(self.shared.credentials.clone())
    }

    fn secret(&mut self) -> Result<u128, Errno> {
        Ok(secret())
    }

    fn create_socket_file(
        &mut self,
        path: NtPath<'_>,
        secret: u128,
        // A host file has nowhere to record the type; the binding carries it.
        _ty: afunix_device::SockType,
    ) -> Result<(FileIdentity, PathBuf), FsError> {
        create_socket_file(path, secret)
    }

    fn remove_socket_file(&mut self, path: PathBuf) {
        // unix_bind removes the file it made when the bind fails.
        let _ = std::fs::remove_file(path);
    }

    fn open_socket_file(
        &mut self,
        path: NtPath<'_>,
    ) -> Result<(FileIdentity, Option<u128>), FsError> {
        open_socket_file(path)
    }

    /// In-process handles carry no access rights: every one is open for reading and writing.
    fn reference(&mut self, handle: u64, _access: HandleAccess) -> Result<(FileId, ()), Errno> {
        let state = self.shared.lock();
        state
            .handles
            .get(&handle)
            .map(|file| (*file, ()))
            .ok_or(Errno::EBADF)
    }

    fn with_device<R>(&mut self, f: impl FnOnce(&mut Device) -> R) -> Result<R, Errno> {
        Ok(f(&mut self.shared.lock().device))
    }

    /// In-process there is one process: a handle value passed arrives as itself, uncopied,
    /// and a socket's value names its file (so the engine's rules on sockets in flight
    /// hold here too). Nothing is referenced, so nothing is released.
    fn pass(&mut self, handle: u64) -> Result<afunix_device::Object, Errno> {
        let state = self.shared.lock();
        Ok(afunix_device::Object {
            key: handle,
            file: state.handles.get(&handle).copied(),
        })
    }
}

/// The data buffer of the request being executed, borrowed from its caller's thread.
enum Current<'d> {
    None,
    In(&'d [u8]),
    Out(&'d mut [u8]),
}

impl Current<'_> {
    /// Lends a copy to the shared state while the request waits under `token`: a SEND's
    /// bytes read-only, a RECV's room writable, as the driver's pages are locked.
    fn lend(&self, owned: &mut OwnedBuffers, token: Token) -> Result<(), Errno> {
        let (bytes, writable): (&[u8], bool) = match self {
            Current::None => return Ok(()),
            Current::In(b) => (b, false),
            Current::Out(b) => (b, true),
        };
        let mut copy = Vec::new();
        copy.try_reserve_exact(bytes.len())
            .map_err(|_| Errno::ENOMEM)?;
        copy.extend_from_slice(bytes);
        if writable {
            owned.insert_recv(token, copy)
        } else {
            owned.insert_send(token, copy)
        }
    }
}

/// The buffers the engine reaches while one request executes: that request's own, in place
/// in its caller's memory (as the driver reaches an IRP's locked pages), and the lent copies
/// of the requests that wait.
///
/// Why waiting requests are copies here and not the callers' own memory, as in the driver: a
/// waiting request's buffer is borrowed by a blocked thread, and another thread's request
/// must write into it (a RECV filled by a SEND). Lending a borrow across threads needs raw
/// pointers, so `unsafe`, which this side of the library does not have. A request that
/// completes at once, the common case, moves its bytes once, as the driver does; one that
/// waits costs one copy more.
struct RequestBuffers<'s, 'd> {
    owned: &'s mut OwnedBuffers,
    token: Token,
    current: Current<'d>,
}

impl Current<'_> {
    /// `len` of this SEND's bytes from `offset`.
    fn sent(&self, offset: usize, len: usize) -> Option<&[u8]> {
        match self {
            Current::In(bytes) => byte_range(bytes, offset, len),
            _ => None,
        }
    }

    /// `len` bytes of this RECV's room from `offset`.
    fn room(&mut self, offset: usize, len: usize) -> Option<&mut [u8]> {
        match self {
            Current::Out(buf) => byte_range_mut(buf, offset, len),
            _ => None,
        }
    }
}

impl Buffers for RequestBuffers<'_, '_> {
    fn write_recv(&mut self, token: Token, offset: usize, src: &[u8]) -> bool {
        if token != self.token {
            return self.owned.write_recv(token, offset, src);
        }
        self.current
            .room(offset, src.len())
            .map(|dst| dst.copy_from_slice(src))
            .is_some()
    }

    fn read_send(&mut self, token: Token, offset: usize, dst: &mut [u8]) -> bool {
        if token != self.token {
            return self.owned.read_send(token, offset, dst);
        }
        self.current
            .sent(offset, dst.len())
            .map(|src| dst.copy_from_slice(src))
            .is_some()
    }

    fn append_send(&mut self, token: Token, offset: usize, len: usize, dst: &mut Vec<u8>) -> bool {
        if token != self.token {
            return self.owned.append_send(token, offset, len, dst);
        }
        match self.current.sent(offset, len) {
            Some(src) if dst.try_reserve(len).is_ok() => {
                dst.extend_from_slice(src);
                true
            }
            _ => false,
        }
    }

    fn send_to_recv(
        &mut self,
        send: Token,
        send_offset: usize,
        recv: Token,
        recv_offset: usize,
        len: usize,
    ) -> bool {
        if send == self.token {
            return self
                .current
                .sent(send_offset, len)
                .is_some_and(|src| self.owned.write_recv(recv, recv_offset, src));
        }
        if recv == self.token {
            return self
                .current
                .room(recv_offset, len)
                .is_some_and(|dst| self.owned.read_send(send, send_offset, dst));
        }
        self.owned
            .send_to_recv(send, send_offset, recv, recv_offset, len)
    }
}

impl Handle {
    /// The file this handle is open on.
    fn file(&self) -> Result<FileId, Errno> {
        self.shared
            .lock()
            .handles
            .get(&self.handle)
            .copied()
            .ok_or(Errno::EBADF)
    }

    /// Waits for `token`'s completion; at the deadline, cancels it (or, for a POLL, expires
    /// it) and takes whatever it completes with.
    fn wait<'a>(
        &self,
        mut state: MutexGuard<'a, State>,
        token: Token,
        deadline: Option<Instant>,
        is_poll: bool,
    ) -> (MutexGuard<'a, State>, Result<Done, Errno>) {
        let mut expired = false;
        loop {
            if let Some(result) = state.done.remove(&token) {
                // Cancelled by our own deadline with nothing achieved: a timeout, which
                // SO_RCVTIMEO/SO_SNDTIMEO report as EAGAIN.
                let result = match result {
                    Err(Errno::ECANCELED) if expired => Err(Errno::EAGAIN),
                    other => other,
                };
                return (state, result);
            }
            match deadline {
                Some(d) if !expired => {
                    let now = Instant::now();
                    if now >= d {
                        expired = true;
                        let found = if is_poll {
                            state.device.expire(token)
                        } else {
                            let state = &mut *state;
                            state.device.cancel(token, &mut state.buffers)
                        };
                        if state.drain() {
                            self.shared.completed.notify_all();
                        }
                        if !found && !state.done.contains_key(&token) {
                            return (state, Err(Errno::EAGAIN));
                        }
                        continue;
                    }
                    state = self
                        .shared
                        .completed
                        .wait_timeout(state, d - now)
                        .unwrap_or_else(|poisoned| {
                            panic!("afunix in-process device poisoned: {poisoned}")
                        })
                        .0;
                }
                _ => {
                    state = self
                        .shared
                        .completed
                        .wait(state)
                        .unwrap_or_else(|poisoned| {
                            panic!("afunix in-process device poisoned: {poisoned}")
                        });
                }
            }
        }
    }
}

/// 128 unpredictable bits: std's hasher keys are drawn from the operating system's random
/// source, and what they hash (a counter and the time) never repeats in a process.
fn secret() -> u128 {
    use std::hash::{BuildHasher, RandomState};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let keys = RandomState::new();
    let high = keys.hash_one((n, now, 1u8));
    let low = keys.hash_one((n, now, 2u8));
    (u128::from(high) << 64) | u128::from(low)
}

fn path_of(path: NtPath<'_>) -> Result<PathBuf, FsError> {
    let units: Vec<u16> = path.units().collect();
    String::from_utf16(&units)
        .map(PathBuf::from)
        .map_err(|_| FsError::Other(Errno::EINVAL))
}

/// The path without trailing separators, and whether it had any.
fn trailing_separators(path: &Path) -> (PathBuf, bool) {
    let text = path.as_os_str().to_string_lossy();
    let trimmed = text.trim_end_matches(std::path::is_separator);
    if trimmed.len() == text.len() || trimmed.is_empty() {
        (path.to_path_buf(), false)
    } else {
        (PathBuf::from(trimmed), true)
    }
}

fn fs_error(e: &io::Error) -> FsError {
    #[cfg(unix)]
    {
        const EPERM: i32 = 1;
        const ENOENT: i32 = 2;
        const ENXIO: i32 = 6;
        const EACCES: i32 = 13;
        const EEXIST: i32 = 17;
        const ENOTDIR: i32 = 20;
        const EISDIR: i32 = 21;
        const EROFS: i32 = 30;
        const ENAMETOOLONG: i32 = 36;
        const ELOOP: i32 = 40;
        match e.raw_os_error() {
            Some(ENOENT) => return FsError::NotFound,
            Some(ENOTDIR) => return FsError::NotADirectory,
            Some(EISDIR) => return FsError::IsADirectory,
            Some(EEXIST) => return FsError::Exists,
            Some(EACCES | EPERM) => return FsError::AccessDenied,
            Some(ENAMETOOLONG) => return FsError::NameTooLong,
            Some(ELOOP) => return FsError::Loop,
            Some(EROFS) => return FsError::ReadOnly,
            // A FIFO or device with no one on the other side.
            Some(ENXIO) => return FsError::NotAFile,
            _ => {}
        }
    }
    match e.kind() {
        io::ErrorKind::NotFound => FsError::NotFound,
        io::ErrorKind::PermissionDenied => FsError::AccessDenied,
        io::ErrorKind::AlreadyExists => FsError::Exists,
        io::ErrorKind::NotADirectory => FsError::NotADirectory,
        io::ErrorKind::IsADirectory => FsError::IsADirectory,
        io::ErrorKind::InvalidFilename => FsError::NameTooLong,
        _ => FsError::Other(Errno::EINVAL),
    }
}

/// Opens without blocking on a FIFO and without becoming its controlling terminal.
fn open_options() -> std::fs::OpenOptions {
    #[allow(unused_mut)]
    let mut options = std::fs::OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        const O_NONBLOCK: i32 = 0o4000;
        const O_NOCTTY: i32 = 0o400;
        options.custom_flags(O_NONBLOCK | O_NOCTTY);
    }
    options
}

/// `unix_bind_bsd`: make the socket file (an existing name is EADDRINUSE) and write the
/// binding's secret in it.
fn create_socket_file(path: NtPath<'_>, secret: u128) -> Result<(FileIdentity, PathBuf), FsError> {
    use std::io::Write;
    let path = path_of(path)?;
    let (name, trailing) = trailing_separators(&path);
    if trailing {
        // "name/": mknod never makes it; Linux reports the name as taken if it exists.
        return Err(match std::fs::symlink_metadata(&name) {
            Ok(_) => FsError::Exists,
            Err(e) => fs_error(&e),
        });
    }
    let mut options = open_options();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // A socket file's mode is 0777 less the umask, as Linux gives it.
        options.mode(0o777);
    }
    let mut file = options.open(&path).map_err(|e| fs_error(&e))?;
    let made = file_identity(&file).and_then(|identity| {
        file.write_all(&secret.to_le_bytes())
            .map_err(|e| fs_error(&e))?;
        Ok(identity)
    });
    match made {
        Ok(identity) => Ok((identity, path)),
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            Err(e)
        }
    }
}

/// `unix_find_bsd`: the caller needs write permission on the socket file. The secret is read
/// through a second handle opened for reading, after checking that both handles are the same
/// file (the first stays open meanwhile, so its identity cannot be reused).
fn open_socket_file(path: NtPath<'_>) -> Result<(FileIdentity, Option<u128>), FsError> {
    use std::io::Read;
    let path = path_of(path)?;
    let (name, trailing) = trailing_separators(&path);
    if trailing {
        // "name/" names a directory: one is no socket, a file is on the way.
        return Err(match std::fs::metadata(&name) {
            Ok(m) if m.is_dir() => FsError::IsADirectory,
            Ok(_) => FsError::NotADirectory,
            Err(e) => fs_error(&e),
        });
    }
    let checked = open_options()
        .write(true)
        .open(&path)
        .map_err(|e| fs_error(&e))?;
    let identity = file_identity(&checked)?;
    let secret = (|| {
        let mut reader = open_options().read(true).open(&path).ok()?;
        if !reader.metadata().ok()?.is_file() || file_identity(&reader).ok()? != identity {
            return None;
        }
        let mut bytes = [0u8; 17];
        let mut filled = 0;
        while filled < bytes.len() {
            match reader.read(bytes.get_mut(filled..)?) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(_) => return None,
            }
        }
        let exact: [u8; 16] = bytes.get(..16)?.try_into().ok()?;
        (filled == 16).then(|| u128::from_le_bytes(exact))
    })();
    Ok((identity, secret))
}

#[cfg(unix)]
fn file_identity(file: &std::fs::File) -> Result<FileIdentity, FsError> {
    use std::os::unix::fs::MetadataExt;
    let meta = file.metadata().map_err(|e| fs_error(&e))?;
    Ok(FileIdentity {
        volume: meta.dev(),
        file_id: u128::from(meta.ino()),
    })
}

#[cfg(windows)]
fn file_identity(file: &std::fs::File) -> Result<FileIdentity, FsError> {
    crate::sys::file_identity(file).map_err(|e| fs_error(&e))
}

/// This process's identity, as the driver records a caller's: its pid, and its user's SID.
/// The in-process transport has no token to read an integrity level or restrictions from;
/// it reports what an ordinary user's process has, Medium and no flags, and nothing in it
/// decides by them.
fn own_credentials() -> Credentials {
    Credentials {
        pid: std::process::id(),
        sid: own_sid(),
        integrity: MEDIUM_INTEGRITY,
        flags: 0,
    }
}

/// `SECURITY_MANDATORY_MEDIUM_RID`.
const MEDIUM_INTEGRITY: u32 = 0x2000;

/// On Unix, the Unix-user SID S-1-22-1-<uid> (the form Samba and Windows NFS use).
#[cfg(unix)]
fn own_sid() -> Vec<u8> {
    let uid = own_uid();
    let mut sid = vec![1, 2, 0, 0, 0, 0, 0, 22];
    sid.extend_from_slice(&1u32.to_le_bytes());
    sid.extend_from_slice(&uid.to_le_bytes());
    sid
}

/// The process's uid, read without `unsafe` (this side of the library has none): Linux makes
/// `/proc/self` owned by it. Elsewhere, u32::MAX ("nobody known").
#[cfg(unix)]
fn own_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX)
}

#[cfg(windows)]
fn own_sid() -> Vec<u8> {
    crate::sys::token_user_sid().unwrap_or_default()
}
