//! The request path: from a decoded request to a device operation, and from its result to the
//! bytes of its reply. Every front end runs this one path: the WDM driver (and a KMDF one), and
//! the library's in-process transport that the tests go through.
//!
//! A front end supplies only what needs its own context, through [`Host`]: socket files with
//! the caller's access check, references to handles the caller names, the caller's identity,
//! and a brief look at the device under its lock. A request then goes:
//!
//! 1. [`Prepared::new`], without the device's lock (file system work runs at PASSIVE_LEVEL in
//!    the driver): the address is checked against the device, a pathname's socket file is
//!    created or opened, handles are referenced, the caller's credentials are read.
//! 2. [`Prepared::execute`], under the lock: one call into the [`Device`].
//! 3. [`Prepared::settle`], after the lock is released: a bind that failed removes the socket
//!    file it created (as `unix_bind_bsd` unlinks it); handle references are released.
//! 4. When the request completes (at once, or later through a completion): [`write_reply`]
//!    puts its reply where the caller's output buffer is.
//!
//! ## Socket files and their secret
//!
//! A binding is keyed by the socket file's identity (volume and file ID) *and* a secret of 128
//! random bits that BIND writes into the file (the reparse payload's nonce; on a volume that
//! cannot hold reparse points, the file's content) and CONNECT reads back. A file identity can
//! be reused as soon as a file is deleted (ext4 inode numbers, and so Wine; FAT and exFAT
//! directory positions), so identity alone would let a file made later at a deleted socket
//! file's path, or anywhere on the volume, reach the old listener. The new file carries no
//! secret, or another one, so it finds no binding: ECONNREFUSED, as Linux gives for a path
//! whose socket inode is gone. A bind that lands on a reused identity makes a new key, so the
//! stale binding can never be reached again; it disappears when its socket closes.
//!
//! The secret is drawn from a cryptographic source ([`Host::secret`]), and the identity is
//! one the local kernel assigns: socket files live only on local disk file systems
//! ([`VolumeDevice::check`]), since a network share's server reports any serial, file ID and
//! content it likes, and could copy both identity and secret of a socket file it can read.
//!
//! The other way considered, keeping each socket file open while its binding lives, pins a
//! handle per bound socket in the kernel and, on volumes without POSIX delete semantics,
//! turns a delete into a delete-pending name that blocks a new bind at the same path until
//! the old socket closes, which Linux does not do.

use alloc::vec::Vec;

use afunix_core::{Buffers, Credentials, Errno, PathKey, SockType, Token};
use afunix_proto::decode::{Address, Destination, NtPath, RECVFROM_HEADER, Request};
use afunix_proto::handle::{HandleAccess, is_user_handle};
use afunix_proto::wire::{
    AddressOut, IntOut, MSG_CTRUNC, POLL_MAX_ENTRIES, RecvMsgOut, fill_revents, recvmsg_header_len,
};
use zerocopy::IntoBytes;

use crate::{Device, Done, FileId, MessageDone, Object, Op, PollEntry, Reply, SendTo};

/// The identity of a socket file on its volume, as the host reads it from an open handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileIdentity {
    /// The volume's identity (Windows: its serial number; Linux: `st_dev`).
    pub volume: u64,
    /// The file's ID on that volume (Windows: the 128-bit file ID; Linux: the inode).
    pub file_id: u128,
}

impl FileIdentity {
    fn key(self, secret: u128) -> PathKey {
        PathKey {
            volume: self.volume,
            file_id: self.file_id,
            secret,
        }
    }
}

/// What a file system says of its device (Windows: `FILE_FS_DEVICE_INFORMATION`, asked of an
/// open handle), and the one decision of which may hold socket files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VolumeDevice {
    /// `FILE_DEVICE_*`.
    pub device_type: u32,
    /// `FILE_*` device characteristics.
    pub characteristics: u32,
}

impl VolumeDevice {
    /// `FILE_DEVICE_DISK`: what a file on a local disk volume reports (NTFS, ReFS, FAT, and
    /// every Unix directory under Wine).
    pub const DISK: u32 = 0x7;
    /// `FILE_DEVICE_DISK_FILE_SYSTEM`: a disk file system's own device.
    pub const DISK_FILE_SYSTEM: u32 = 0x8;
    /// `FILE_REMOTE_DEVICE`, `FILE_CHARACTERISTIC_TS_DEVICE` (a remote desktop client's
    /// drive), `FILE_CHARACTERISTIC_WEBDAV_DEVICE`, `FILE_REMOTE_DEVICE_VSMB` (a share from
    /// the host of a VM or container): the files live on another machine, whose server
    /// reports any serial and file ID it likes.
    pub const REMOTE: u32 = 0x10 | 0x1000 | 0x2000 | 0x8_0000;

    /// Whether socket files may live here: only a local disk's file system, whose file IDs
    /// and volume serial the local kernel assigns. Refused: every other device type (named
    /// pipes 0x11, mailslots 0x0C, network file systems 0x14, DFS 0x35, CD file systems,
    /// virtual disks 0x24, anything unknown) and any disk that says it is remote.
    /// Accepted: removable and virtual (VHD) volumes, which are local file systems; making
    /// one with chosen contents takes an administrator (attaching a VHD) or a hand at the
    /// machine (a USB stick).
    pub fn check(self) -> Result<(), FsError> {
        let disk = matches!(self.device_type, Self::DISK | Self::DISK_FILE_SYSTEM);
        if disk && self.characteristics & Self::REMOTE == 0 {
            Ok(())
        } else {
            Err(FsError::NotLocalDisk)
        }
    }
}

/// Why the host could not create or open a socket file, in the terms Linux's path lookup
/// uses. [`FsError::for_bind`] and [`FsError::for_connect`] are the one mapping to the errno
/// a program sees, for every front end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsError {
    /// A component or the file itself does not exist (or is being deleted).
    NotFound,
    /// A component on the way is not a directory.
    NotADirectory,
    /// The name is a directory.
    IsADirectory,
    /// The name exists (BIND).
    Exists,
    /// The caller's access check failed, or the file is held without sharing.
    AccessDenied,
    /// A name or the path is too long.
    NameTooLong,
    /// Too many symbolic links (or reparse points) on the way.
    Loop,
    /// The volume is read-only.
    ReadOnly,
    /// The name exists but is no file we could hold a socket in (a FIFO, a device).
    NotAFile,
    /// The path is not on a local disk's file system: a network share, a named pipe, a
    /// mailslot, a CD, any other device (see [`VolumeDevice::check`]). Such a file system
    /// reports whatever file identity its server likes, and opening a name on some of them
    /// (a pipe) already acts on someone else's object.
    NotLocalDisk,
    /// Anything else, as the errno the host chose.
    Other(Errno),
}

impl FsError {
    fn common(self) -> Errno {
        match self {
            FsError::NotFound => Errno::ENOENT,
            FsError::NotADirectory => Errno::ENOTDIR,
            FsError::AccessDenied => Errno::EACCES,
            FsError::NameTooLong => Errno::ENAMETOOLONG,
            FsError::Loop => Errno::ELOOP,
            FsError::ReadOnly => Errno::EROFS,
            FsError::Other(e) => e,
            // Decided per operation.
            FsError::IsADirectory | FsError::Exists | FsError::NotAFile | FsError::NotLocalDisk => {
                Errno::EINVAL
            }
        }
    }

    /// `unix_bind_bsd`: the socket file is made as `mknod` makes a node, so any existing
    /// name (a directory too) is EADDRINUSE.
    #[must_use]
    pub fn for_bind(self) -> Errno {
        match self {
            FsError::IsADirectory | FsError::Exists | FsError::NotAFile => Errno::EADDRINUSE,
            // No socket file can be made there (as Linux gives for a file system that
            // cannot hold a socket node).
            FsError::NotLocalDisk => Errno::EOPNOTSUPP,
            other => other.common(),
        }
    }

    /// `unix_find_bsd`: a name that is not a socket refuses the connection.
    #[must_use]
    pub fn for_connect(self) -> Errno {
        match self {
            FsError::IsADirectory | FsError::Exists | FsError::NotAFile | FsError::NotLocalDisk => {
                Errno::ECONNREFUSED
            }
            other => other.common(),
        }
    }
}

/// What only the front end can do, in the caller's context.
///
/// A path may end in a separator (`sun_path` "dir/"): as Linux does, BIND then reports
/// [`FsError::Exists`] if the name without it exists and [`FsError::NotFound`] if not, and
/// CONNECT looks the name up as a directory ([`FsError::IsADirectory`] when it is one,
/// [`FsError::NotADirectory`] when it is a file).
pub trait Host {
    /// A socket file created by BIND, kept open until the bind is settled.
    type SocketFile;
    /// A reference to a handle the caller named, held until the request has executed.
    type HandleRef;

    /// The caller's credentials: its process id, and the user SID, integrity level and
    /// flags of the token it acts with. An error refuses the request (the driver refuses a
    /// caller impersonating a token it may not act as).
    fn credentials(&mut self) -> Result<Credentials, Errno>;

    /// 128 bits from a cryptographic random source, or the errno to fail BIND with when the
    /// source cannot be reached (a guessable secret would let anyone who can make a file
    /// with a socket file's identity connect past its permissions).
    fn secret(&mut self) -> Result<u128, Errno>;

    /// Creates the socket file at `path` (failing if the name exists), with the caller's
    /// access check, and writes `secret` into it; `ty` is the binding socket's type, which
    /// the file records where it can (the reparse payload's `socket_type`).
    fn create_socket_file(
        &mut self,
        path: NtPath<'_>,
        secret: u128,
        ty: SockType,
    ) -> Result<(FileIdentity, Self::SocketFile), FsError>;

    /// Removes a socket file this request created (a bind that failed after creating it).
    fn remove_socket_file(&mut self, file: Self::SocketFile);

    /// Opens the socket file at `path` asking to write it, with the caller's access check,
    /// and reads its identity and the secret written in it (None if it holds none: a file
    /// that is not a socket file of ours).
    fn open_socket_file(
        &mut self,
        path: NtPath<'_>,
    ) -> Result<(FileIdentity, Option<u128>), FsError>;

    /// Resolves a handle value the caller passed as one of the caller's own handles on the
    /// device, opened with at least `access`: its file and a reference that keeps it alive.
    /// The value is never a kernel or pseudo-handle ([`is_user_handle`] checked it). Any
    /// failure to resolve is one error, `ENOTSOCK` (or `ENOMEM`): a caller must not learn
    /// more about a value that is not its socket than that.
    fn reference(
        &mut self,
        handle: u64,
        access: HandleAccess,
    ) -> Result<(FileId, Self::HandleRef), Errno>;

    /// Runs `f` on the device under the device's lock.
    fn with_device<R>(&mut self, f: impl FnOnce(&mut Device) -> R) -> Result<R, Errno>;

    /// SENDMSG: takes a reference of the front end's own to the object behind the caller's
    /// `handle`, keeping the access the handle grants: its key, and its file if it is one of
    /// the device's. EBADF when the caller holds no such handle or its object may not travel.
    /// A host that passes no objects keeps this default: EOPNOTSUPP.
    fn pass(&mut self, handle: u64) -> Result<Object, Errno> {
        let _ = handle;
        Err(Errno::EOPNOTSUPP)
    }

    /// Releases an object [`Host::pass`] took that no message took (the send failed), or
    /// one [`Device::poll_released`] gave back.
    fn release(&mut self, key: u64) {
        let _ = key;
    }
}

/// What a request resolved to, beyond the decoded request itself.
#[derive(Debug)]
enum Resolved {
    None,
    Key(Option<PathKey>),
    File(FileId),
    Poll(Vec<PollEntry>),
}

/// A request, resolved in the caller's context and ready to execute.
#[derive(Debug)]
#[must_use]
pub struct Prepared<'a, H: Host> {
    file: FileId,
    request: Request<'a>,
    resolved: Resolved,
    data_len: usize,
    credentials: Credentials,
    created: Option<H::SocketFile>,
    references: Vec<H::HandleRef>,
    /// SENDMSG's objects, until the device takes them.
    objects: Vec<Object>,
}

impl<'a, H: Host> Prepared<'a, H> {
    /// Resolves `request` on `file` in the caller's context. `data_len` is the length of
    /// the request's data buffer (SEND, RECV). STATS is the front end's own request and is
    /// refused here.
    pub fn new(
        host: &mut H,
        file: FileId,
        request: Request<'a>,
        data_len: usize,
    ) -> Result<Self, Errno> {
        let mut prepared = Prepared {
            file,
            request,
            resolved: Resolved::None,
            data_len,
            credentials: Credentials::default(),
            created: None,
            references: Vec::new(),
            objects: Vec::new(),
        };
        if let Err(e) = prepared.resolve(host) {
            prepared.release_objects(host);
            return Err(e);
        }
        Ok(prepared)
    }

    fn resolve(&mut self, host: &mut H) -> Result<(), Errno> {
        let file = self.file;
        match self.request {
            Request::Stats => return Err(Errno::EINVAL),
            Request::Bind(Address { sockaddr, nt_path }) => {
                let pathname = host.with_device(|d| d.prepare_bind(file, sockaddr))??;
                let key = match (pathname, nt_path) {
                    (Some(ty), Some(path)) => {
                        let secret = host.secret()?;
                        let (identity, created) = host
                            .create_socket_file(path, secret, ty)
                            .map_err(FsError::for_bind)?;
                        self.created = Some(created);
                        Some(identity.key(secret))
                    }
                    (Some(_), None) => return Err(Errno::EINVAL),
                    (None, _) => None,
                };
                self.resolved = Resolved::Key(key);
            }
            Request::Connect(Address { sockaddr, nt_path }) => {
                self.credentials = host.credentials()?;
                let pathname = host.with_device(|d| d.prepare_connect(file, sockaddr))??;
                let key = match (pathname, nt_path) {
                    (true, Some(path)) => {
                        let (identity, secret) =
                            host.open_socket_file(path).map_err(FsError::for_connect)?;
                        // unix_find_bsd: a file that is not a socket refuses the connection.
                        Some(identity.key(secret.ok_or(Errno::ECONNREFUSED)?))
                    }
                    (true, None) => return Err(Errno::EINVAL),
                    (false, _) => None,
                };
                self.resolved = Resolved::Key(key);
            }
            // A datagram's destination is found as CONNECT finds its listener (the socket
            // file opened with the caller's access check). Other types never look it up:
            // a stream refuses any address, a seqpacket socket ignores it.
            Request::Send {
                to: Some(Destination::Address(address)),
                flags,
            } => {
                self.resolved = Resolved::Key(self.destination(host, address, flags)?);
            }
            // SENDMSG: the objects first (`scm_send` looks the descriptors up before anything
            // else: EBADF), then the destination as SENDTO finds it.
            Request::SendMsg { flags, handles, to } => {
                self.objects
                    .try_reserve_exact(handles.len())
                    .map_err(|_| Errno::ENOMEM)?;
                for handle in handles.iter() {
                    if !is_user_handle(handle) {
                        return Err(Errno::EBADF);
                    }
                    self.objects.push(host.pass(handle)?);
                }
                if let Some(Destination::Address(address)) = to {
                    self.resolved = Resolved::Key(self.destination(host, address, flags)?);
                }
            }
            // A socket is charged to its maker's user (see `afunix_core`'s quota).
            Request::Listen { .. } | Request::Socket { .. } => {
                self.credentials = host.credentials()?;
            }
            Request::Accept { handle } => {
                self.resolved = Resolved::File(self.reference(host, handle)?);
            }
            Request::SocketPair { handle } => {
                self.credentials = host.credentials()?;
                self.resolved = Resolved::File(self.reference(host, handle)?);
            }
            Request::Poll(poll) => {
                // A waiting POLL is charged to the caller's user.
                self.credentials = host.credentials()?;
                let count = poll.len().min(POLL_MAX_ENTRIES);
                let mut entries = Vec::new();
                entries
                    .try_reserve_exact(count)
                    .map_err(|_| Errno::ENOMEM)?;
                self.references
                    .try_reserve_exact(count)
                    .map_err(|_| Errno::ENOMEM)?;
                for entry in poll.entries().take(count) {
                    // A handle that is not one of our sockets is reported POLLNVAL, not an
                    // error.
                    let resolved = if is_user_handle(entry.handle) {
                        host.reference(entry.handle, HandleAccess::Read)
                    } else {
                        Err(Errno::ENOTSOCK)
                    };
                    let file = match resolved {
                        Ok((file, reference)) => {
                            self.references.push(reference);
                            Some(file)
                        }
                        Err(_) => None,
                    };
                    entries.push(PollEntry {
                        file,
                        events: entry.events,
                    });
                }
                self.resolved = Resolved::Poll(entries);
            }
            _ => {}
        }
        Ok(())
    }

    /// SENDTO's and SENDMSG's destination: a datagram socket's pathname is found as CONNECT
    /// finds its listener (the socket file opened with the caller's access check); any other
    /// address, or socket type, needs no lookup.
    fn destination(
        &self,
        host: &mut H,
        Address { sockaddr, nt_path }: Address<'_>,
        flags: afunix_proto::decode::MsgFlags,
    ) -> Result<Option<PathKey>, Errno> {
        let (file, len) = (self.file, self.data_len);
        let pathname = host.with_device(|d| d.prepare_send_to(file, sockaddr, len, flags))??;
        Ok(match (pathname, nt_path) {
            (true, Some(path)) => {
                let (identity, secret) =
                    host.open_socket_file(path).map_err(FsError::for_connect)?;
                Some(identity.key(secret.ok_or(Errno::ECONNREFUSED)?))
            }
            (true, None) => return Err(Errno::EINVAL),
            (false, _) => None,
        })
    }

    /// ACCEPT's and SOCKETPAIR's socket: one the caller may read and write through.
    fn reference(&mut self, host: &mut H, handle: u64) -> Result<FileId, Errno> {
        self.references.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        if !is_user_handle(handle) {
            return Err(Errno::ENOTSOCK);
        }
        let (file, reference) = host
            .reference(handle, HandleAccess::ReadWrite)
            .map_err(|e| {
                if e == Errno::ENOMEM {
                    e
                } else {
                    Errno::ENOTSOCK
                }
            })?;
        self.references.push(reference);
        Ok(file)
    }

    /// The file the request is on.
    pub fn file(&self) -> FileId {
        self.file
    }

    /// Whether the request is a POLL (the front end times a pending POLL itself and calls
    /// [`Device::expire`]), and its timeout.
    pub fn poll_timeout_ms(&self) -> Option<i64> {
        match self.request {
            Request::Poll(p) => Some(p.timeout_ms),
            _ => None,
        }
    }

    /// Executes the request on `device` (under its lock) as `token`; `bufs` reach this
    /// request's data buffer under `token` and every pending request's (see
    /// [`Device::execute`]).
    pub fn execute(&mut self, device: &mut Device, token: Token, bufs: &mut dyn Buffers) -> Reply {
        let reply = if let Request::SendMsg { flags, to, .. } = self.request {
            let op = Op::SendMsg {
                flags,
                len: self.data_len,
                to: self.send_to(to),
                objects: &mut self.objects,
            };
            device.execute(self.file, token, op, &self.credentials, bufs)
        } else {
            let op = match self.op() {
                Ok(op) => op,
                Err(e) => return Reply::Ready(Err(e)),
            };
            device.execute(self.file, token, op, &self.credentials, bufs)
        };
        // Every test of this crate that goes through here checks the promise `may_pend`
        // makes to the front ends.
        #[cfg(test)]
        assert!(
            !matches!(reply, Reply::Pending) || may_pend(&self.request),
            "a request that may_pend says completes at once pended"
        );
        reply
    }

    fn op(&self) -> Result<Op<'_>, Errno> {
        let key = || match self.resolved {
            Resolved::Key(key) => Ok(key),
            _ => Err(Errno::EINVAL),
        };
        let other = || match self.resolved {
            Resolved::File(file) => Ok(file),
            _ => Err(Errno::EINVAL),
        };
        Ok(match self.request {
            Request::Stats => return Err(Errno::EINVAL),
            Request::Socket {
                sock_type,
                nonblocking,
            } => Op::Socket {
                sock_type,
                nonblocking,
            },
            Request::Bind(a) => Op::Bind {
                sockaddr: a.sockaddr,
                key: key()?,
            },
            Request::Connect(a) => Op::Connect {
                sockaddr: a.sockaddr,
                key: key()?,
            },
            Request::Listen { backlog } => Op::Listen { backlog },
            Request::Accept { .. } => Op::Accept { new_file: other()? },
            Request::SocketPair { .. } => Op::SocketPair { other: other()? },
            Request::Shutdown { how } => Op::Shutdown { how },
            Request::GetSockName => Op::GetSockName,
            Request::GetPeerName => Op::GetPeerName,
            Request::GetSockOpt { level, name } => Op::GetSockOpt { level, name },
            Request::SetSockOpt { level, name, value } => Op::SetSockOpt { level, name, value },
            Request::Fionbio { nonblocking } => Op::Fionbio { nonblocking },
            Request::Fionread => Op::Fionread,
            Request::PeerCred => Op::PeerCred,
            // The driver has no timer of its own for POLL: a positive timeout waits until
            // something is ready or the request is cancelled or expired by the front end.
            // Zero still means "do not wait".
            Request::Poll(p) => match &self.resolved {
                Resolved::Poll(entries) => Op::Poll {
                    timeout_ms: p.timeout_ms,
                    entries,
                },
                _ => return Err(Errno::EINVAL),
            },
            // Only a datagram socket's pathname destination was looked up (see `resolve`).
            Request::Send { flags, to } => Op::Send {
                flags,
                len: self.data_len,
                to: self.send_to(to),
            },
            Request::Recv { flags, from } => Op::Recv {
                flags,
                len: self.data_len,
                from,
            },
            Request::RecvMsg { flags, room } => Op::RecvMsg {
                flags,
                len: self.data_len,
                room,
            },
            // Built in `execute`, which lends it the objects.
            Request::SendMsg { .. } => return Err(Errno::EINVAL),
        })
    }

    /// SENDTO's and SENDMSG's destination, as resolved.
    fn send_to(&self, to: Option<Destination<'a>>) -> Option<SendTo<'a>> {
        match to {
            None => None,
            Some(Destination::Oversize(_)) => Some(SendTo::Oversize),
            Some(Destination::Address(a)) => Some(SendTo::Address {
                sockaddr: a.sockaddr,
                key: match self.resolved {
                    Resolved::Key(key) => key,
                    _ => None,
                },
            }),
        }
    }

    /// Releases the objects no message took.
    fn release_objects(&mut self, host: &mut H) {
        for o in self.objects.drain(..) {
            host.release(o.key);
        }
    }

    /// After [`Prepared::execute`] (or instead of it, when the front end could not run it),
    /// outside the device's lock: a bind that `failed` removes the socket file it created,
    /// and the handle references go. (A bind never pends.)
    pub fn settle(self, host: &mut H, failed: bool) {
        self.into_resolution().settle(host, failed);
    }

    /// What is left to settle once the request has executed, without the request itself:
    /// a front end takes it before completing the request or holding it pending, since the
    /// request's buffers, which the decoded request borrows, go when it completes.
    pub fn into_resolution(self) -> Resolution<H> {
        Resolution {
            created: self.created,
            references: self.references,
            objects: self.objects,
        }
    }
}

/// The part of a [`Prepared`] request that outlives its execution: a bind's socket file and
/// the handle references, settled with [`Resolution::settle`].
#[derive(Debug)]
pub struct Resolution<H: Host> {
    created: Option<H::SocketFile>,
    references: Vec<H::HandleRef>,
    /// SENDMSG's objects that no message took (the send failed).
    objects: Vec<Object>,
}

impl<H: Host> Resolution<H> {
    /// As [`Prepared::settle`]: a bind that `failed` removes the socket file it created, and
    /// the handle references go.
    pub fn settle(mut self, host: &mut H, failed: bool) {
        if let (Some(created), true) = (self.created.take(), failed) {
            host.remove_socket_file(created);
        }
        drop(self.references);
        for o in self.objects.drain(..) {
            host.release(o.key);
        }
    }
}

/// Whether a request may wait in the engine ([`Reply::Pending`]), and so must be cancelable
/// while it does: RECV, SEND (READ and WRITE among them), ACCEPT, CONNECT and POLL. Every other
/// request completes at once. The KMDF front end passes only these through its queue (a
/// request must have come from a queue to be made cancelable there). Asserted in
/// [`Prepared::execute`] by every test of this crate that goes through it.
pub fn may_pend(request: &Request<'_>) -> bool {
    matches!(
        request,
        Request::Recv { .. }
            | Request::Send { .. }
            | Request::RecvMsg { .. }
            | Request::SendMsg { .. }
            | Request::Accept { .. }
            | Request::Connect(_)
            | Request::Poll(_)
    )
}

/// Where a request's data starts in its data buffer: RECVFROM's comes after the sender's
/// address ([`RECVFROM_HEADER`] bytes); every other request's at the start. The front end
/// gives the engine only the part from there on.
pub fn data_offset(request: &Request<'_>) -> usize {
    match request {
        Request::Recv { from: true, .. } => RECVFROM_HEADER,
        Request::RecvMsg { room, .. } => recvmsg_header_len(*room),
        _ => 0,
    }
}

/// Where a completed request's reply goes.
#[derive(Debug)]
pub enum ReplyBuffer<'b> {
    /// The request's output buffer (METHOD_BUFFERED: the system buffer, `OutputBufferLength`
    /// long).
    Out(&'b mut [u8]),
    /// For POLL: the buffer that still holds the request (`InputBufferLength` long), whose
    /// entries get their `revents`.
    InOut(&'b mut [u8]),
}

/// Writes a completed request's reply and returns its length (the IRP's `Information`):
/// data counts need no buffer (the bytes are already in the request's data buffer), structs
/// go into the output buffer, and a POLL's `revents` into the request itself. RECVFROM's
/// address goes into the output's first [`RECVFROM_HEADER`] bytes (the front end gives those
/// as `Out`), and its length counts them as well as the data. `buffer` is
/// None when the front end has none to give (EFAULT: the decoder checked the lengths, so
/// this is a front-end bug, reported rather than hidden).
pub fn write_reply(done: &Done, buffer: Option<ReplyBuffer<'_>>) -> Result<usize, Errno> {
    let put = |buffer: Option<ReplyBuffer<'_>>, bytes: &[u8]| -> Result<usize, Errno> {
        let Some(ReplyBuffer::Out(out)) = buffer else {
            return Err(Errno::EFAULT);
        };
        out.get_mut(..bytes.len())
            .ok_or(Errno::EFAULT)?
            .copy_from_slice(bytes);
        Ok(bytes.len())
    };
    match done {
        Done::Ok => Ok(0),
        Done::Count(n) => Ok(*n),
        Done::CountFrom(n, from) => {
            put(buffer, from.as_bytes())?;
            Ok(RECVFROM_HEADER.saturating_add(*n))
        }
        Done::Address(address) => put(buffer, address.as_bytes()),
        Done::Int(value) => put(
            buffer,
            IntOut {
                value: *value,
                reserved: 0,
            }
            .as_bytes(),
        ),
        Done::PeerCred(cred) => put(buffer, cred.as_bytes()),
        Done::Message(m) => {
            let Some(ReplyBuffer::Out(out)) = buffer else {
                return Err(Errno::EFAULT);
            };
            let header_len = recvmsg_header_len(m.room);
            let out = out.get_mut(..header_len).ok_or(Errno::EFAULT)?;
            let (head, slots) = out
                .split_at_mut_checked(size_of::<RecvMsgOut>())
                .ok_or(Errno::EFAULT)?;
            let reply = RecvMsgOut {
                addr: m.from,
                count: u32::try_from(m.objects.len()).map_err(|_| Errno::EFAULT)?,
                reserved: 0,
            };
            head.copy_from_slice(reply.as_bytes());
            slots.fill(0);
            for (slot, o) in slots.chunks_exact_mut(size_of::<u64>()).zip(&m.objects) {
                slot.copy_from_slice(&o.key.to_ne_bytes());
            }
            Ok(header_len.saturating_add(m.count))
        }
        Done::Polled(revents) => match buffer {
            Some(ReplyBuffer::InOut(request)) => {
                fill_revents(request, revents).ok_or(Errno::EINVAL)
            }
            _ => Err(Errno::EFAULT),
        },
    }
}

/// Makes a RECVMSG's objects handles of the receiver's, in order: `give(key, keep)` makes
/// one (`keep`: the message keeps the object, as after MSG_PEEK) and returns the new handle's
/// value. Where it fails, the rest are not made: those the receive took are released through
/// `release`, and the reply says MSG_CTRUNC, as Linux's `scm_detach_fds` does when it cannot
/// install a descriptor. Nothing is left behind either way.
pub fn deliver_objects(
    done: &mut MessageDone,
    mut give: impl FnMut(u64, bool) -> Result<u64, Errno>,
    mut release: impl FnMut(u64),
) {
    let keep = done.peeked;
    let mut made = 0usize;
    let mut failed = false;
    for o in &mut done.objects {
        if failed {
            if !keep {
                release(o.key);
            }
            continue;
        }
        match give(o.key, keep) {
            Ok(handle) => {
                o.key = handle;
                made = made.saturating_add(1);
            }
            Err(_) => {
                failed = true;
                if !keep {
                    release(o.key);
                }
            }
        }
    }
    if failed {
        done.objects.truncate(made);
        done.from.msg_flags |= MSG_CTRUNC;
    }
}

/// The reply head of a RECVMSG, for a front end's user-mode side to read.
pub fn recvmsg_out(from: AddressOut, count: u32) -> RecvMsgOut {
    RecvMsgOut {
        addr: from,
        count,
        reserved: 0,
    }
}

#[cfg(test)]
#[path = "path_tests.rs"]
mod tests;
