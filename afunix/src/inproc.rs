//! The in-process transport: the device layer (and the engine under it) inside this process,
//! behind a mutex, with threads really blocking and really being woken.
//!
//! It takes requests in the driver's wire format and decodes them with the driver's decoder,
//! so a test through the library covers encoding and decoding as well as the engine. What
//! the driver does in the caller's context, it does here: pathname BIND creates the socket
//! file (and removes it again if the bind fails, as Linux does), CONNECT opens it for writing
//! (so a file without write permission gives EACCES), and both key the binding by the file's
//! identity (device and inode; volume serial and file index on Windows), as the driver keys
//! it by volume serial and file ID. Sockets reach only sockets of the same transport.
//!
//! SEND and RECV use the engine's in-place calls, as the driver does with its IRPs' pages:
//! each request's data lives in a buffer of its own here (`State::buffers`), which the engine
//! reaches by token while the request executes and while it pends.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use afunix_core::{Credentials, Errno, Limits, PathKey, Token};
use afunix_device::{Device, Done, FileId, Op, OwnedBuffers, PollEntry, Reply};
use afunix_proto::decode::{Address, Request, decode};
use afunix_proto::encode;
use afunix_proto::ioctl::{IOCTL_AFUNIX_RECV, IOCTL_AFUNIX_SEND, IOCTL_AFUNIX_STATS};
use afunix_proto::wire::{IntOut, fill_revents};
use zerocopy::IntoBytes;

use crate::channel::{Data, Endpoint, Transport};

/// The shared state: one device, its handles, and the completions not yet collected.
struct State {
    device: Device,
    /// Handle value -> file. Several handles may share a file (`try_clone`).
    handles: HashMap<u64, FileId>,
    /// How many handles each file has; the file closes with its last one.
    refs: HashMap<FileId, usize>,
    /// Completions drained from the device, waiting for the thread that issued them.
    done: HashMap<Token, Result<Done, Errno>>,
    /// The data buffers of SEND and RECV requests not yet finished, by token: what the
    /// driver's IRPs' locked pages are to it.
    buffers: OwnedBuffers,
    next_id: u64,
}

impl State {
    fn next(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Moves every completion out of the device; true if there were any.
    fn drain(&mut self) -> bool {
        let mut any = false;
        while let Some(c) = self.device.poll_completion() {
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
                    buffers: OwnedBuffers::new(),
                    next_id: 0,
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

    fn ioctl(
        &self,
        code: u32,
        input: &[u8],
        mut data: Data<'_>,
        deadline: Option<Instant>,
    ) -> Result<usize, Errno> {
        if code == IOCTL_AFUNIX_STATS {
            // STATS is the driver's own, not the device layer's; tests read `InProcess::stats`.
            return Err(Errno::EINVAL);
        }
        let request = decode(code, input, data.len())
            .map_err(|e| Errno::from_number(e.errno()).unwrap_or(Errno::EINVAL))?;
        let mut state = self.shared.lock();
        let file = *state.handles.get(&self.handle).ok_or(Errno::EBADF)?;
        let token = Token(state.next());
        let mut created: Option<PathBuf> = None;
        let poll_entries: Vec<PollEntry>;
        let reply = {
            let op = match request {
                Request::Stats => return Err(Errno::EINVAL),
                Request::Socket {
                    sock_type,
                    nonblocking,
                } => Op::Socket {
                    sock_type,
                    nonblocking,
                },
                Request::Bind(address) => {
                    let key = if state.device.prepare_bind(file, address.sockaddr)? {
                        let (path, key) = create_socket_file(&address)?;
                        created = Some(path);
                        Some(key)
                    } else {
                        None
                    };
                    Op::Bind {
                        sockaddr: address.sockaddr,
                        key,
                    }
                }
                Request::Connect(address) => {
                    let key = if state.device.prepare_connect(file, address.sockaddr)? {
                        Some(open_socket_file(&address)?)
                    } else {
                        None
                    };
                    Op::Connect {
                        sockaddr: address.sockaddr,
                        key,
                    }
                }
                Request::Listen { backlog } => Op::Listen { backlog },
                Request::Accept { handle } => Op::Accept {
                    new_file: file_of(&state, handle)?,
                },
                Request::SocketPair { handle } => Op::SocketPair {
                    other: file_of(&state, handle)?,
                },
                Request::Shutdown { how } => Op::Shutdown { how },
                Request::GetSockName => Op::GetSockName,
                Request::GetPeerName => Op::GetPeerName,
                Request::GetSockOpt { level, name } => Op::GetSockOpt { level, name },
                Request::SetSockOpt { level, name, value } => Op::SetSockOpt { level, name, value },
                Request::Fionbio { nonblocking } => Op::Fionbio { nonblocking },
                Request::Fionread => Op::Fionread,
                Request::PeerCred => Op::PeerCred,
                Request::Poll(p) => {
                    poll_entries = p
                        .entries()
                        .map(|e| PollEntry {
                            file: state.handles.get(&e.handle).copied(),
                            events: e.events,
                        })
                        .collect();
                    Op::Poll {
                        timeout_ms: p.timeout_ms,
                        entries: &poll_entries,
                    }
                }
                Request::Send { flags } => match &data {
                    Data::In(bytes) => {
                        let mut own = Vec::new();
                        own.try_reserve_exact(bytes.len())
                            .map_err(|_| Errno::ENOMEM)?;
                        own.extend_from_slice(bytes);
                        state.buffers.insert(token, own)?;
                        Op::Send {
                            flags,
                            len: bytes.len(),
                        }
                    }
                    _ => return Err(Errno::EINVAL),
                },
                Request::Recv { flags } => match &mut data {
                    Data::Out(buf) => {
                        let mut own = Vec::new();
                        own.try_reserve_exact(buf.len())
                            .map_err(|_| Errno::ENOMEM)?;
                        own.resize(buf.len(), 0);
                        state.buffers.insert(token, own)?;
                        Op::Recv {
                            flags,
                            len: buf.len(),
                        }
                    }
                    _ => return Err(Errno::EINVAL),
                },
            };
            let is_poll = matches!(op, Op::Poll { .. });
            let poll_deadline = match &op {
                Op::Poll { timeout_ms, .. } if *timeout_ms > 0 => {
                    Some(Instant::now() + std::time::Duration::from_millis(*timeout_ms as u64))
                }
                _ => None,
            };
            let state_ref = &mut *state;
            let reply = state_ref.device.execute(
                file,
                token,
                op,
                &self.shared.credentials,
                &mut state_ref.buffers,
            );
            if state.drain() {
                self.shared.completed.notify_all();
            }
            match reply {
                Reply::Ready(r) => r,
                Reply::Pending => {
                    let deadline = match (deadline, poll_deadline) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    let (guard, result) = self.wait(state, token, deadline, is_poll);
                    state = guard;
                    result
                }
            }
        };
        // The request is finished: its buffer holds what a RECV received.
        let own = state.buffers.remove(token);
        drop(state);
        if let (Some(own), Ok(Done::Count(n)), Data::Out(buf)) = (&own, &reply, &mut data) {
            let received = own.get(..*n).ok_or(Errno::EINVAL)?;
            buf.get_mut(..*n)
                .ok_or(Errno::EINVAL)?
                .copy_from_slice(received);
        }
        if let (Some(path), Err(_)) = (&created, &reply) {
            // unix_bind removes the file it made when the bind fails.
            let _ = std::fs::remove_file(path);
        }
        let done = reply?;
        write_reply(input, done, data)
    }
}

impl Handle {
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

fn file_of(state: &State, handle: u64) -> Result<FileId, Errno> {
    state.handles.get(&handle).copied().ok_or(Errno::EBADF)
}

/// Writes a completed request's reply as the driver does, returning its length.
fn write_reply(input: &[u8], done: Done, data: Data<'_>) -> Result<usize, Errno> {
    let out: &mut [u8] = match data {
        Data::Out(buf) => buf,
        _ => &mut [],
    };
    let put = |out: &mut [u8], bytes: &[u8]| -> Result<usize, Errno> {
        out.get_mut(..bytes.len())
            .ok_or(Errno::EINVAL)?
            .copy_from_slice(bytes);
        Ok(bytes.len())
    };
    match done {
        Done::Ok => Ok(0),
        Done::Count(n) => Ok(n),
        Done::Address(address) => put(out, address.as_bytes()),
        Done::Int(value) => put(out, IntOut { value, reserved: 0 }.as_bytes()),
        Done::PeerCred(cred) => put(out, cred.as_bytes()),
        Done::Polled(revents) => {
            // The reply is the request with each entry's revents filled in.
            let n = put(out, input)?;
            fill_revents(out.get_mut(..n).ok_or(Errno::EINVAL)?, &revents).ok_or(Errno::EINVAL)
        }
    }
}

fn path_of(address: &Address<'_>) -> Result<PathBuf, Errno> {
    let units: Vec<u16> = address.nt_path.ok_or(Errno::EINVAL)?.units().collect();
    String::from_utf16(&units)
        .map(PathBuf::from)
        .map_err(|_| Errno::EINVAL)
}

/// `unix_bind_bsd`: make the socket file (EADDRINUSE if the name exists).
fn create_socket_file(address: &Address<'_>) -> Result<(PathBuf, PathKey), Errno> {
    let path = path_of(address)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // A socket file's mode is 0777 less the umask, as Linux gives it.
        options.mode(0o777);
    }
    let file = options.open(&path).map_err(|e| match e.kind() {
        io::ErrorKind::AlreadyExists => Errno::EADDRINUSE,
        _ => fs_errno(&e),
    })?;
    match file_key(&file) {
        Ok(key) => Ok((path, key)),
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            Err(e)
        }
    }
}

/// `unix_find_bsd`: the caller needs write permission on the socket file.
fn open_socket_file(address: &Address<'_>) -> Result<PathKey, Errno> {
    let path = path_of(address)?;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Errno::ENOENT,
            io::ErrorKind::PermissionDenied => Errno::EACCES,
            // A directory, or anything else that is not a socket file.
            _ => Errno::ECONNREFUSED,
        })?;
    file_key(&file)
}

fn fs_errno(e: &io::Error) -> Errno {
    match e.kind() {
        io::ErrorKind::NotFound => Errno::ENOENT,
        io::ErrorKind::PermissionDenied => Errno::EACCES,
        _ => e
            .raw_os_error()
            .and_then(|n| u16::try_from(n).ok())
            .and_then(Errno::from_number)
            .unwrap_or(Errno::EINVAL),
    }
}

#[cfg(unix)]
fn file_key(file: &std::fs::File) -> Result<PathKey, Errno> {
    use std::os::unix::fs::MetadataExt;
    let meta = file.metadata().map_err(|e| fs_errno(&e))?;
    Ok(PathKey {
        volume: meta.dev(),
        file_id: u128::from(meta.ino()),
    })
}

#[cfg(windows)]
fn file_key(file: &std::fs::File) -> Result<PathKey, Errno> {
    crate::sys::file_key(file).map_err(|e| fs_errno(&e))
}

/// This process's identity, as the driver records a caller's: its pid, and its user's SID.
fn own_credentials() -> Credentials {
    Credentials {
        pid: std::process::id(),
        sid: own_sid(),
    }
}

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
