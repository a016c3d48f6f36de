//! The device: files, their sockets, and the requests pending on them.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use afunix_core::{
    BindRequest, BindTarget, Buffers, Completed, ConnectRequest, ConnectTarget, Credentials,
    Engine, Errno, KeyedHash, KeyedMap, Limits, NoBuffers, Outcome, Passed, PathKey, PollMask,
    Received, RecvFlags, SendFlags, Shutdown, SockType, SocketId, Token, UnixAddr, UserId,
    parse_bind_addr, parse_connect_addr,
};
use afunix_proto::decode::MsgFlags;
use afunix_proto::wire::{ADDRESS_OUT_BYTES, AddressOut, MSG_CTRUNC, MSG_TRUNC, PeerCredOut};

use crate::op::{Completion, Done, MessageDone, Object, Op, PollEntry, Reply, SendTo};

/// A handle's file, named by the caller (the driver: its FILE_OBJECT's address).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId(pub u64);

/// `AF_UNSPEC`.
const AF_UNSPEC: u16 = 0;
/// `POLLNVAL`: the entry names no socket. Like POLLERR and POLLHUP it is reported whatever
/// was asked for.
pub const POLLNVAL: u32 = PollMask::NVAL;
const ALWAYS_REPORTED: u32 = PollMask::ERR | PollMask::HUP | POLLNVAL;

/// The most POLLs that may wait at once over the whole device; each user may hold its share
/// (`Limits::user_share`) of this and of [`MAX_PENDING_POLL_ENTRIES`]. As many as the
/// driver's sockets: an async program (`afunix::tokio`) keeps one POLL of one entry waiting
/// for each socket it waits on, so a user may wait on every socket of its share.
pub const MAX_PENDING_POLLS: usize = 16_384;

/// The most sockets named by all waiting POLLs together. Waiting polls are rechecked after
/// every request (under the device's lock, at DISPATCH_LEVEL in the driver), so this bounds
/// that work as well as the memory.
pub const MAX_PENDING_POLL_ENTRIES: usize = 16_384;

#[derive(Debug)]
struct File {
    /// None until SOCKET.
    socket: Option<SocketId>,
}

/// What an engine token is waiting for, so that its completion can be reported.
#[derive(Clone, Copy, Debug)]
enum Waiting {
    Connect,
    Accept { new_file: FileId },
    Send,
    Recv { from: bool },
    RecvMsg { room: usize, peek: bool },
}

#[derive(Debug)]
struct PendingPoll {
    file: FileId,
    entries: Vec<PollEntry>,
    /// The caller it is charged to.
    user: UserId,
}

/// Counters for STATS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceStats {
    pub files: usize,
    pub sockets: usize,
    pub bindings: usize,
    pub bytes_buffered: usize,
    pub pending: usize,
}

/// The device layer. See the crate documentation.
#[derive(Debug)]
pub struct Device {
    pub(crate) engine: Engine,
    /// Hash tables (keyed as the engine's, see `afunix_core::KeyedHash`), so that finding a
    /// file or a pending request costs the same however many there are.
    files: KeyedMap<FileId, File>,
    waiting: KeyedMap<Token, (FileId, Waiting)>,
    /// Waiting POLLs by token, and how many entries they name in all.
    polls: KeyedMap<Token, PendingPoll>,
    poll_entries: usize,
    /// Completions made here (polls); capacity is reserved when a poll starts waiting, so
    /// completing one never allocates.
    ready: VecDeque<Completion>,
    /// Objects a peek reported, pinned until the front end has made its copies of them
    /// ([`Device::unpin`]): a release meanwhile is held back until then.
    pins: KeyedMap<u64, Pin>,
}

/// A pinned object: how many peeks hold it, and whether it was released meanwhile.
#[derive(Clone, Copy, Debug)]
struct Pin {
    count: u32,
    released: bool,
}

impl Device {
    pub fn new(limits: Limits) -> Device {
        let hash = KeyedHash::new(limits.hash_seed);
        Device {
            engine: Engine::new(limits),
            files: KeyedMap::new(hash),
            waiting: KeyedMap::new(hash),
            polls: KeyedMap::new(hash),
            poll_entries: 0,
            ready: VecDeque::new(),
            pins: KeyedMap::new(hash),
        }
    }

    pub fn stats(&self) -> DeviceStats {
        DeviceStats {
            files: self.files.len(),
            sockets: self.engine.socket_count(),
            bindings: self.engine.binding_count(),
            bytes_buffered: self.engine.memory_used(),
            pending: self.waiting.len().saturating_add(self.polls.len()),
        }
    }

    /// What the user `sid` holds against its share of each cap.
    pub fn user_usage(&self, sid: &[u8]) -> afunix_core::UserUsage {
        self.engine.user_usage(sid)
    }

    /// Users holding anything.
    pub fn user_count(&self) -> usize {
        self.engine.user_count()
    }

    /// The key of the next passed object (SENDMSG) the device gave up, for the caller to
    /// release: its message was dropped, its send failed after the device took it, or a
    /// receiver had no room for it.
    pub fn poll_released(&mut self) -> Option<u64> {
        loop {
            let key = self.engine.poll_released()?.key;
            if !self.defer_if_pinned(key) {
                return Some(key);
            }
        }
    }

    /// The front end is about to release `key` (a receive's object it has copied, or could
    /// not): true if it may now, false if a peek holds it pinned (it is released at the last
    /// [`Device::unpin`]).
    pub fn may_release(&mut self, key: u64) -> bool {
        !self.defer_if_pinned(key)
    }

    /// A peek's copy of `key` is made (or given up): true if `key` was released meanwhile
    /// and this was its last pin, so the front end releases it now.
    pub fn unpin(&mut self, key: u64) -> bool {
        let Some(pin) = self.pins.get_mut(&key) else {
            return false;
        };
        pin.count = pin.count.saturating_sub(1);
        if pin.count > 0 {
            return false;
        }
        let released = pin.released;
        self.pins.remove(&key);
        released
    }

    fn defer_if_pinned(&mut self, key: u64) -> bool {
        match self.pins.get_mut(&key) {
            Some(pin) => {
                pin.released = true;
                true
            }
            None => false,
        }
    }

    /// Pins the objects a peek reports, so that they stay valid until the front end has
    /// copied them; without room to pin them, the peek reports none (MSG_CTRUNC).
    fn pin_peeked(&mut self, done: &mut Done) {
        let Done::Message(m) = done else { return };
        if !m.peeked || m.objects.is_empty() {
            return;
        }
        if self.pins.try_reserve(m.objects.len()).is_err() {
            m.objects.clear();
            m.from.msg_flags |= MSG_CTRUNC;
            return;
        }
        for o in &m.objects {
            match self.pins.get_mut(&o.key) {
                Some(pin) => pin.count = pin.count.saturating_add(1),
                None => {
                    let _ = self.pins.try_insert(
                        o.key,
                        Pin {
                            count: 1,
                            released: false,
                        },
                    );
                }
            }
        }
    }

    /// Takes back, to come out of [`Device::poll_released`] later, an object a RECVMSG
    /// handed out that the caller cannot deliver or release now (see
    /// `Engine::release_later`). False: the caller keeps it.
    pub fn release_later(&mut self, key: u64) -> bool {
        self.engine.release_later(key)
    }

    /// Passed objects in flight (sent, not yet received or released).
    pub fn objects_in_flight(&self) -> usize {
        self.engine.rights_in_flight()
    }

    /// A handle was opened: CREATE.
    pub fn open(&mut self, file: FileId) -> Result<(), Errno> {
        self.files.try_insert(file, File { socket: None })
    }

    /// Whether `file` is a socket (of ours, configured).
    pub fn is_socket(&self, file: FileId) -> bool {
        self.files.get(&file).is_some_and(|f| f.socket.is_some())
    }

    fn socket_of(&self, file: FileId) -> Result<SocketId, Errno> {
        match self.files.get(&file) {
            Some(File { socket: Some(id) }) => Ok(*id),
            Some(File { socket: None }) => Err(Errno::ENOTSOCK),
            None => Err(Errno::EBADF),
        }
    }

    /// What the caller must check before it touches the file system for a BIND: that the
    /// file is a socket, and that the address is valid (`unix_validate_addr`, before
    /// `unix_bind_bsd` creates anything). Returns whether the address is a pathname, whose
    /// socket file the caller then creates. Whether the socket is already bound is checked
    /// after the file is made, as `unix_bind_bsd` does: a bound socket binding an existing
    /// name gets EADDRINUSE, a new one EINVAL (and the caller removes the file it made).
    /// Returns the socket's type when the address is a pathname (the socket file records
    /// it), None when it is not.
    pub fn prepare_bind(&self, file: FileId, sockaddr: &[u8]) -> Result<Option<SockType>, Errno> {
        let id = self.socket_of(file)?;
        let pathname = matches!(parse_bind_addr(sockaddr)?, BindRequest::Pathname(_));
        Ok(if pathname {
            Some(self.engine.socket_type(id)?)
        } else {
            None
        })
    }

    /// As [`Device::prepare_bind`], for CONNECT: the file is a socket and the address valid
    /// before the socket file is looked up (`unix_stream_connect` validates, then
    /// `unix_find_bsd`). Returns whether the caller must open a socket file. In between, a
    /// socket with SO_PASSCRED autobinds, as `unix_stream_connect` does before it looks for
    /// the listener, so it keeps that name even if the socket file is missing (ENOENT).
    /// An `AF_UNSPEC` address (a datagram socket's association dissolved) looks nothing up.
    pub fn prepare_connect(&mut self, file: FileId, sockaddr: &[u8]) -> Result<bool, Errno> {
        let id = self.socket_of(file)?;
        if is_unspec(sockaddr) {
            return Ok(false);
        }
        let pathname = matches!(parse_connect_addr(sockaddr)?, ConnectRequest::Pathname(_));
        self.engine.autobind_to_connect(id)?;
        Ok(pathname)
    }

    /// As [`Device::prepare_connect`], for SENDTO's destination: whether the caller must
    /// open a socket file for it. Only a datagram socket looks its destination up (a stream
    /// refuses any address, a seqpacket socket ignores it, as `unix_seqpacket_sendmsg`
    /// does), and only a valid pathname address needs a file; an invalid one is refused
    /// when the request executes, after the errors Linux reports first. A datagram socket
    /// with SO_PASSCRED autobinds before the lookup, as `unix_dgram_sendmsg` does.
    pub fn prepare_send_to(
        &mut self,
        file: FileId,
        sockaddr: &[u8],
        len: usize,
        flags: MsgFlags,
    ) -> Result<bool, Errno> {
        let id = self.socket_of(file)?;
        if self.engine.socket_type(id)? != SockType::Dgram {
            return Ok(false);
        }
        match parse_connect_addr(sockaddr) {
            Ok(ConnectRequest::Pathname(_)) => {
                // What Linux checks before it looks the name up comes before the file.
                self.engine.send_to_precheck(id, len, send_flags(flags))?;
                Ok(true)
            }
            // The name could not be copied: the request fails for want of memory, not
            // later for want of the file it did not look up (EINVAL).
            Err(Errno::ENOMEM) => Err(Errno::ENOMEM),
            Ok(ConnectRequest::Abstract(_)) | Err(_) => Ok(false),
        }
    }

    /// Executes `op` on `file` for `caller`. `token` names the request if it pends; it must
    /// not be pending already.
    /// `bufs` are the caller's buffers of SEND and RECV requests ([`Op::Send`],
    /// [`Op::Recv`]): this request's own, under `token`, and those of every request of the
    /// caller's still pending, which the engine reads and writes by token.
    pub fn execute(
        &mut self,
        file: FileId,
        token: Token,
        op: Op<'_>,
        caller: &Credentials,
        bufs: &mut dyn Buffers,
    ) -> Reply {
        let reply = self.dispatch(file, token, op, caller, bufs);
        self.recheck_polls();
        reply
    }

    fn dispatch(
        &mut self,
        file: FileId,
        token: Token,
        op: Op<'_>,
        caller: &Credentials,
        bufs: &mut dyn Buffers,
    ) -> Reply {
        if self.waiting.contains(&token) || self.polls.contains(&token) {
            return Reply::Ready(Err(Errno::EALREADY));
        }
        match op {
            Op::Socket {
                sock_type,
                nonblocking,
            } => Reply::Ready(
                self.socket(file, sock_type, nonblocking, caller)
                    .map(|()| Done::Ok),
            ),
            Op::Poll {
                timeout_ms,
                entries,
            } => self.poll(file, token, timeout_ms, entries, caller),
            op => match self.socket_of(file) {
                Err(e) => Reply::Ready(Err(e)),
                Ok(id) => self.on_socket(file, id, token, op, caller, bufs),
            },
        }
    }

    fn socket(
        &mut self,
        file: FileId,
        sock_type: u32,
        nonblocking: bool,
        caller: &Credentials,
    ) -> Result<(), Errno> {
        // A CREATE that could not record its file (no memory) failed, yet under Wine the
        // caller seems to keep a usable handle (a low-resources run met EBADF here). So the
        // file is recorded here if it must be (ENOMEM if that fails too), rather than the
        // socket being refused as an unknown file (EBADF).
        if !self.files.contains(&file) {
            self.open(file)?;
        }
        if self.files.get(&file).is_some_and(|f| f.socket.is_some()) {
            return Err(Errno::EINVAL);
        }
        // unix_create: stream, datagram (SOCK_RAW taken as it) and seqpacket.
        let ty = SockType::from_raw(sock_type).ok_or(Errno::ESOCKTNOSUPPORT)?;
        // Charged to the caller's user (EMFILE at its share of sockets).
        let id = self.engine.socket_typed(&caller.sid, ty)?;
        if let Err(e) = self.engine.set_nonblocking(id, nonblocking) {
            let _ = self.engine.close(id, &mut NoBuffers);
            return Err(e);
        }
        self.set_socket(file, id);
        Ok(())
    }

    fn set_socket(&mut self, file: FileId, id: SocketId) {
        if let Some(f) = self.files.get_mut(&file) {
            f.socket = Some(id);
        }
    }

    fn on_socket(
        &mut self,
        file: FileId,
        id: SocketId,
        token: Token,
        op: Op<'_>,
        caller: &Credentials,
        bufs: &mut dyn Buffers,
    ) -> Reply {
        let ready = |r: Result<Done, Errno>| Reply::Ready(r);
        match op {
            Op::Bind { sockaddr, key } => ready(self.bind(id, sockaddr, key).map(|()| Done::Ok)),
            Op::Listen { backlog } => {
                ready(self.engine.listen(id, backlog, caller).map(|()| Done::Ok))
            }
            // connect(AF_UNSPEC): a datagram socket forgets its peer; other types refuse.
            // Either may purge a datagram socket's queue: the senders that frees move now.
            Op::Connect { sockaddr, .. } if is_unspec(sockaddr) => {
                let r = self.engine.disconnect(id);
                self.engine.run_wakes(bufs);
                ready(r.map(|()| Done::Ok))
            }
            Op::Connect { sockaddr, key } => {
                let target = match connect_target(sockaddr, key) {
                    Ok(t) => t,
                    Err(e) => return ready(Err(e)),
                };
                let reply = self.track(file, token, Waiting::Connect, |engine| {
                    done(engine.connect(id, &target, caller, token), |()| Done::Ok)
                });
                self.engine.run_wakes(bufs);
                reply
            }
            Op::Accept { new_file } => {
                let new_id = match self.socket_of(new_file) {
                    Ok(n) => n,
                    // unix_accept takes a fresh socket it allocates itself; ours is given, and
                    // any handle that is not one of the caller's sockets gets one error.
                    Err(_) => return ready(Err(Errno::ENOTSOCK)),
                };
                let reply = self.track(file, token, Waiting::Accept { new_file }, |engine| {
                    done(engine.accept(id, new_id, token), |()| Done::Ok)
                });
                match reply {
                    Reply::Ready(Ok(_)) => ready(Ok(Done::Address(self.peer_address(new_id)))),
                    other => other,
                }
            }
            Op::Shutdown { how } => ready(
                Shutdown::from_how(how)
                    .and_then(|how| self.engine.shutdown(id, how, bufs))
                    .map(|()| Done::Ok),
            ),
            Op::GetSockName => ready(
                self.engine
                    .getsockname(id)
                    .map(|a| Done::Address(address_out(a))),
            ),
            Op::GetPeerName => ready(
                self.engine
                    .getpeername(id)
                    .map(|a| Done::Address(address_out(a))),
            ),
            Op::GetSockOpt { level, name } => {
                ready(self.getsockopt(id, level, name).map(Done::Int))
            }
            Op::SetSockOpt { level, name, value } => ready(
                self.setsockopt(id, level, name, value, bufs)
                    .map(|()| Done::Ok),
            ),
            Op::Fionbio { nonblocking } => ready(
                self.engine
                    .set_nonblocking(id, nonblocking)
                    .map(|()| Done::Ok),
            ),
            Op::Fionread => ready(
                self.engine
                    .fionread(id)
                    .map(|n| Done::Int(i32::try_from(n).unwrap_or(i32::MAX))),
            ),
            Op::PeerCred => ready(self.peer_cred(id)),
            Op::SocketPair { other } => {
                ready(self.socketpair(file, id, other, caller).map(|()| Done::Ok))
            }
            Op::SendMsg {
                flags,
                len,
                to,
                objects,
            } => self.send_msg(file, id, token, flags, len, to, objects, bufs),
            Op::RecvMsg { flags, len, room } => {
                self.recv_msg(file, id, token, flags, len, room, bufs)
            }
            Op::Send { flags, len, to } => {
                self.send_msg(file, id, token, flags, len, to, &mut Vec::new(), bufs)
            }
            Op::Recv { flags, len, from } => {
                if flags.oob() {
                    return ready(Err(Errno::EOPNOTSUPP));
                }
                let message = match self.engine.socket_type(id) {
                    Ok(ty) => ty.is_message(),
                    Err(e) => return ready(Err(e)),
                };
                let flags = recv_flags(flags);
                if message {
                    // One message: its bytes that fit, whether it was cut short, its whole
                    // length and (datagrams) its sender. A plain RECV's reply is always the
                    // bytes copied (they are what lies in the caller's buffer).
                    let received = self.track_outcome(file, token, Waiting::Recv { from }, |e| {
                        e.recv_from(id, len, flags, token, bufs)
                    });
                    return match received {
                        Outcome::Ready(r) => ready(r.map(|r| Self::message_done(&r, from))),
                        Outcome::Pending => Reply::Pending,
                    };
                }
                let reply = self.track(file, token, Waiting::Recv { from }, |engine| {
                    done(engine.recv(id, len, flags, token, bufs), Done::Count)
                });
                match reply {
                    Reply::Ready(Ok(Done::Count(n))) if from => {
                        // A zero-length read with bytes queued still names their sender.
                        let saw_data = n > 0 || self.engine.fionread(id).is_ok_and(|q| q > 0);
                        ready(Ok(Done::CountFrom(n, self.stream_sender(id, saw_data, n))))
                    }
                    other => other,
                }
            }
            // Handled before a socket is looked up.
            Op::Socket { .. } | Op::Poll { .. } => ready(Err(Errno::EINVAL)),
        }
    }

    /// SEND, SENDTO and SENDMSG: `len` bytes, to the peer or `to`, passing `objects` (see
    /// [`Op::SendMsg`]; none for SEND and SENDTO).
    #[allow(clippy::too_many_arguments)]
    fn send_msg(
        &mut self,
        file: FileId,
        id: SocketId,
        token: Token,
        flags: MsgFlags,
        len: usize,
        to: Option<SendTo<'_>>,
        objects: &mut Vec<Object>,
        bufs: &mut dyn Buffers,
    ) -> Reply {
        let target = match self.send_destination(id, to, flags) {
            Ok(target) => target,
            Err(e) => return Reply::Ready(Err(e)),
        };
        let mut rights = Vec::new();
        if rights.try_reserve_exact(objects.len()).is_err() {
            return Reply::Ready(Err(Errno::ENOMEM));
        }
        for o in objects.iter() {
            let socket = match o.file {
                None => None,
                // One of ours must be a socket already: one made later would travel
                // uncounted (see `afunix_core`'s rights), and Linux has no such thing to pass.
                Some(f) => match self.files.get(&f).and_then(|f| f.socket) {
                    Some(id) => Some(id),
                    None => return Reply::Ready(Err(Errno::EBADF)),
                },
            };
            rights.push(Passed { key: o.key, socket });
        }
        let flags = send_flags(flags);
        let reply = self.track(file, token, Waiting::Send, |engine| {
            let sent =
                engine.send_with_rights(id, target.as_ref(), len, flags, token, bufs, &mut rights);
            done(sent, Done::Count)
        });
        if rights.is_empty() {
            // The engine took them: they come back through a receive or `poll_released`.
            objects.clear();
        }
        reply
    }

    /// Where a send goes, checked as Linux checks it before the data: a stream refuses any
    /// address (`unix_stream_sendmsg`; with Linux's MSG_OOB support, an out-of-band byte
    /// gets that far too); out-of-band data is EOPNOTSUPP; a datagram goes where the address
    /// says (`unix_validate_addr` first: EINVAL); a seqpacket socket ignores it
    /// (`unix_seqpacket_sendmsg`). None: the peer.
    fn send_destination(
        &self,
        id: SocketId,
        to: Option<SendTo<'_>>,
        flags: MsgFlags,
    ) -> Result<Option<ConnectTarget>, Errno> {
        let ty = self.engine.socket_type(id)?;
        if to.is_some() && ty == SockType::Stream {
            return self.engine.send_to_error(id).and_then(Err);
        }
        if flags.oob() {
            return Err(Errno::EOPNOTSUPP);
        }
        match to {
            Some(to) if ty == SockType::Dgram => send_target(to).map(Some),
            _ => Ok(None),
        }
    }

    /// RECVMSG: RECVFROM with room for `room` objects.
    #[allow(clippy::too_many_arguments)]
    fn recv_msg(
        &mut self,
        file: FileId,
        id: SocketId,
        token: Token,
        flags: MsgFlags,
        len: usize,
        room: usize,
        bufs: &mut dyn Buffers,
    ) -> Reply {
        if flags.oob() {
            return Reply::Ready(Err(Errno::EOPNOTSUPP));
        }
        let message = match self.engine.socket_type(id) {
            Ok(ty) => ty.is_message(),
            Err(e) => return Reply::Ready(Err(e)),
        };
        let peek = flags.peek();
        if !message {
            // A stream carries no objects: RECVFROM, reported as a message.
            let reply = self.dispatch(
                file,
                token,
                Op::Recv {
                    flags,
                    len,
                    from: true,
                },
                &Credentials::default(),
                bufs,
            );
            if reply == Reply::Pending {
                // Reported as RECVMSG when it completes.
                if let Some((_, what)) = self.waiting.get_mut(&token) {
                    *what = Waiting::RecvMsg { room, peek };
                }
            }
            return match reply {
                Reply::Ready(Ok(Done::CountFrom(n, from))) => {
                    Reply::Ready(Ok(Done::Message(stream_message(n, from, room))))
                }
                other => other,
            };
        }
        let mut rflags = recv_flags(flags);
        rflags.rights_room = room;
        let received = self.track_outcome(file, token, Waiting::RecvMsg { room, peek }, |e| {
            e.recv_from(id, len, rflags, token, bufs)
        });
        match received {
            Outcome::Ready(r) => Reply::Ready(r.map(|r| {
                let mut done = Self::message_received(r, room, peek);
                self.pin_peeked(&mut done);
                done
            })),
            Outcome::Pending => Reply::Pending,
        }
    }

    /// RECVMSG's reply of a message socket's receive.
    fn message_received(r: Received, room: usize, peek: bool) -> Done {
        let mut from = r.from.as_ref().map_or_else(address_out_none, address_out);
        if r.truncated() {
            from.msg_flags |= MSG_TRUNC;
        }
        if r.ctrunc {
            from.msg_flags |= MSG_CTRUNC;
        }
        from.msg_len = u64::try_from(r.len).unwrap_or(u64::MAX);
        Done::Message(MessageDone {
            count: r.copied,
            from,
            room,
            objects: r.rights,
            peeked: peek,
        })
    }

    /// Runs an engine operation that may pend, remembering what its token waits for. Room
    /// for the entry is made first, so that a pending operation is never left untracked for
    /// lack of memory; the entry itself is made only if the operation pends (most complete
    /// at once, and would otherwise pay an insertion and a removal for nothing).
    fn track(
        &mut self,
        file: FileId,
        token: Token,
        what: Waiting,
        run: impl FnOnce(&mut Engine) -> MappedOutcome,
    ) -> Reply {
        match self.track_outcome(file, token, what, run) {
            Outcome::Pending => Reply::Pending,
            Outcome::Ready(r) => Reply::Ready(r),
        }
    }

    /// [`Device::track`], keeping the engine's own result.
    fn track_outcome<T>(
        &mut self,
        file: FileId,
        token: Token,
        what: Waiting,
        run: impl FnOnce(&mut Engine) -> Outcome<T>,
    ) -> Outcome<T> {
        if let Err(e) = self.waiting.try_reserve(1) {
            return Outcome::Ready(Err(e));
        }
        match run(&mut self.engine) {
            Outcome::Pending => {
                // Cannot fail: room was reserved above, and `dispatch` refused a token that
                // is already waiting. The engine's completion of this token is taken only
                // by `poll_completion`, after this returns.
                let _ = self.waiting.try_insert(token, (file, what));
                Outcome::Pending
            }
            ready => ready,
        }
    }

    fn bind(&mut self, id: SocketId, sockaddr: &[u8], key: Option<PathKey>) -> Result<(), Errno> {
        let target = match (parse_bind_addr(sockaddr)?, key) {
            (BindRequest::Autobind, None) => BindTarget::Autobind,
            (BindRequest::Abstract(name), None) => BindTarget::Abstract(name),
            (BindRequest::Pathname(path), Some(key)) => BindTarget::Pathname { key, path },
            // The caller must resolve exactly the pathname addresses.
            _ => return Err(Errno::EINVAL),
        };
        self.engine.bind(id, target)
    }

    /// What RECVFROM reports as the sender of what `id` received: no address (length 0)
    /// when no bytes came, or when their sender has no name.
    fn sender(&self, id: SocketId, saw_data: bool) -> AddressOut {
        match self.engine.sender_address(id) {
            Ok(Some(addr)) if saw_data => address_out(addr),
            _ => address_out_none(),
        }
    }

    /// RECVFROM's reply on a stream: the sender, and `msg_len` the bytes copied.
    fn stream_sender(&self, id: SocketId, saw_data: bool, copied: usize) -> AddressOut {
        let mut out = self.sender(id, saw_data);
        out.msg_len = u64::try_from(copied).unwrap_or(u64::MAX);
        out
    }

    /// The reply of a receive on a message socket. RECV: the bytes copied. RECVFROM: those,
    /// and the sender the engine names (a datagram's own, a seqpacket's peer; none at end of
    /// file), `MSG_TRUNC` when the message was cut short, and its length.
    fn message_done(r: &Received, from: bool) -> Done {
        if !from {
            return Done::Count(r.copied);
        }
        let mut out = r.from.as_ref().map_or_else(address_out_none, address_out);
        if r.truncated() {
            out.msg_flags = MSG_TRUNC;
        }
        out.msg_len = u64::try_from(r.len).unwrap_or(u64::MAX);
        Done::CountFrom(r.copied, out)
    }

    fn peer_cred(&self, id: SocketId) -> Result<Done, Errno> {
        // SO_PEERCRED on a socket with no peer credentials gives ENOTCONN... Linux gives the
        // "invalid" credentials (pid 0); our callers rely on knowing, so ENOTCONN.
        let cred = self.engine.peer_credentials(id)?.ok_or(Errno::ENOTCONN)?;
        PeerCredOut::new(cred.pid, &cred.sid, cred.integrity, cred.flags)
            .map(Done::PeerCred)
            .ok_or(Errno::EINVAL)
    }

    fn socketpair(
        &mut self,
        file: FileId,
        id: SocketId,
        other: FileId,
        caller: &Credentials,
    ) -> Result<(), Errno> {
        // Any handle that is not one of the caller's sockets gets one error.
        let other_id = self.socket_of(other).map_err(|_| Errno::ENOTSOCK)?;
        if other == file {
            return Err(Errno::EINVAL);
        }
        // Both must be fresh: unbound, unconnected, not listening, nothing under way on
        // them (they are replaced by the new pair, so nothing of theirs may be lost).
        for s in [id, other_id] {
            if !self.engine.is_fresh(s)? {
                return Err(Errno::EINVAL);
            }
        }
        // socketpair(2) makes two sockets of one type; two of different types would be a
        // connection Linux cannot make (EPROTOTYPE, as a connect across types gives).
        let ty = self.engine.socket_type(id)?;
        if self.engine.socket_type(other_id)? != ty {
            return Err(Errno::EPROTOTYPE);
        }
        let modes = [
            self.engine_nonblocking(id),
            self.engine_nonblocking(other_id),
        ];
        let (a, b) = self.engine.socketpair_typed(ty, caller)?;
        for (new, nonblocking) in [(a, modes[0]), (b, modes[1])] {
            if let Err(e) = self.engine.set_nonblocking(new, nonblocking) {
                let _ = self.engine.close(a, &mut NoBuffers);
                let _ = self.engine.close(b, &mut NoBuffers);
                return Err(e);
            }
        }
        let _ = self.engine.close(id, &mut NoBuffers);
        let _ = self.engine.close(other_id, &mut NoBuffers);
        self.set_socket(file, a);
        self.set_socket(other, b);
        Ok(())
    }

    fn engine_nonblocking(&self, id: SocketId) -> bool {
        self.engine.is_nonblocking(id).unwrap_or(false)
    }

    fn peer_address(&self, id: SocketId) -> AddressOut {
        // The name is read where it lies: nothing here can fail an accept that succeeded.
        match self.engine.getpeername(id) {
            Ok(addr) => address_out(addr),
            Err(_) => address_out(&UnixAddr::Unnamed),
        }
    }

    fn revents(&self, entry: &PollEntry) -> u32 {
        let Some(id) = entry
            .file
            .and_then(|f| self.files.get(&f))
            .and_then(|f| f.socket)
        else {
            return POLLNVAL;
        };
        match self.engine.poll(id) {
            Ok(mask) => mask.0 & (entry.events | ALWAYS_REPORTED),
            Err(_) => POLLNVAL,
        }
    }

    /// `revents` of every entry, in a fallibly allocated vector.
    fn all_revents(&self, entries: &[PollEntry]) -> Result<Vec<u32>, Errno> {
        let mut revents = Vec::new();
        revents
            .try_reserve_exact(entries.len())
            .map_err(|_| Errno::ENOMEM)?;
        revents.extend(entries.iter().map(|e| self.revents(e)));
        Ok(revents)
    }

    fn any_ready(&self, entries: &[PollEntry]) -> bool {
        entries.iter().any(|e| self.revents(e) != 0)
    }

    fn poll(
        &mut self,
        file: FileId,
        token: Token,
        timeout_ms: i64,
        entries: &[PollEntry],
        caller: &Credentials,
    ) -> Reply {
        if !self.files.contains(&file) {
            return Reply::Ready(Err(Errno::EBADF));
        }
        if timeout_ms == 0 || self.any_ready(entries) {
            return Reply::Ready(self.all_revents(entries).map(Done::Polled));
        }
        if self.polls.len() >= MAX_PENDING_POLLS
            || self.poll_entries.saturating_add(entries.len()) > MAX_PENDING_POLL_ENTRIES
        {
            return Reply::Ready(Err(Errno::ENOBUFS));
        }
        let mut kept = Vec::new();
        if kept.try_reserve_exact(entries.len()).is_err()
            || self.polls.try_reserve(1).is_err()
            || self
                .ready
                .try_reserve(self.polls.len().saturating_add(1))
                .is_err()
        {
            return Reply::Ready(Err(Errno::ENOMEM));
        }
        // The caller's share of the POLL caps and of pending requests (ENOBUFS past it).
        let user = match self.engine.charge_poll(
            &caller.sid,
            entries.len(),
            MAX_PENDING_POLLS,
            MAX_PENDING_POLL_ENTRIES,
        ) {
            Ok(user) => user,
            Err(e) => return Reply::Ready(Err(e)),
        };
        kept.extend_from_slice(entries);
        // Cannot fail: room was reserved above, and `dispatch` refused a token that waits.
        if let Err(e) = self.polls.try_insert(
            token,
            PendingPoll {
                file,
                entries: kept,
                user,
            },
        ) {
            self.engine.release_poll(user, entries.len());
            return Reply::Ready(Err(e));
        }
        self.poll_entries = self.poll_entries.saturating_add(entries.len());
        Reply::Pending
    }

    /// Completes every waiting POLL that has something to report. This looks at every
    /// entry of every waiting POLL, after every request: bounded by
    /// [`MAX_PENDING_POLL_ENTRIES`], not by the number of pending requests.
    fn recheck_polls(&mut self) {
        if self.polls.is_empty() {
            return;
        }
        let mut polls = core::mem::replace(&mut self.polls, KeyedMap::new(KeyedHash::new(0)));
        let mut removed = 0usize;
        polls.retain(|token, p| {
            if !self.any_ready(&p.entries) {
                return true;
            }
            let result = self.all_revents(&p.entries).map(Done::Polled);
            self.engine.release_poll(p.user, p.entries.len());
            removed = removed.saturating_add(p.entries.len());
            // Room was reserved when the poll started waiting: this does not allocate.
            self.ready.push_back(Completion {
                token: *token,
                file: p.file,
                result,
            });
            false
        });
        self.polls = polls;
        self.poll_entries = self.poll_entries.saturating_sub(removed);
    }

    fn finish_poll(
        &mut self,
        token: Token,
        result: impl FnOnce(&Device, &[PollEntry]) -> Result<Done, Errno>,
    ) -> bool {
        let Some(p) = self.polls.remove(&token) else {
            return false;
        };
        self.engine.release_poll(p.user, p.entries.len());
        self.poll_entries = self.poll_entries.saturating_sub(p.entries.len());
        let result = result(self, &p.entries);
        self.ready.push_back(Completion {
            token,
            file: p.file,
            result,
        });
        true
    }

    /// A waiting POLL's time is up: it completes with what is true now (usually nothing).
    /// False if `token` is not a waiting POLL.
    pub fn expire(&mut self, token: Token) -> bool {
        self.finish_poll(token, |device, entries| {
            device.all_revents(entries).map(Done::Polled)
        })
    }

    /// Cancels a pending request (CancelIoEx, thread exit): it completes with ECANCELED, or
    /// with what it achieved so far. False if `token` is not pending.
    /// `bufs` as for [`Device::execute`]: a cancelled send first hands over the bytes its
    /// reader could already see.
    pub fn cancel(&mut self, token: Token, bufs: &mut dyn Buffers) -> bool {
        let done = self.finish_poll(token, |_, _| Err(Errno::ECANCELED))
            || self.engine.cancel(token, bufs);
        self.recheck_polls();
        done
    }

    /// The handle's file is going away (CLEANUP or CLOSE, whichever comes first; a second
    /// call is harmless): its pending requests complete, its socket is released.
    /// `bufs` as for [`Device::execute`].
    pub fn close(&mut self, file: FileId, bufs: &mut dyn Buffers) {
        let Some(f) = self.files.remove(&file) else {
            return;
        };
        // One pass over the waiting POLLs (at most MAX_PENDING_POLLS), whatever the file.
        let mut removed = 0usize;
        let ready = &mut self.ready;
        let engine = &mut self.engine;
        self.polls.retain(|token, p| {
            if p.file != file {
                return true;
            }
            engine.release_poll(p.user, p.entries.len());
            removed = removed.saturating_add(p.entries.len());
            ready.push_back(Completion {
                token: *token,
                file,
                result: Err(Errno::ECANCELED),
            });
            false
        });
        self.poll_entries = self.poll_entries.saturating_sub(removed);
        if let Some(id) = f.socket {
            let _ = self.engine.close(id, bufs);
        }
        self.recheck_polls();
    }

    /// The next completion of a pending request.
    pub fn poll_completion(&mut self) -> Option<Completion> {
        if let Some(c) = self.ready.pop_front() {
            return Some(c);
        }
        // Every engine token is entered in `waiting` before the engine sees it; one that is
        // not (a bug) is skipped rather than allowed to end the caller's drain early.
        let (c, file, what) = loop {
            let c = self.engine.poll_completion()?;
            if let Some((file, what)) = self.waiting.remove(&c.token) {
                break (c, file, what);
            }
        };
        let result = c.result.map(|done| match (done, what) {
            (Completed::Accepted, Waiting::Accept { new_file }) => {
                let address = self.socket_of(new_file).map(|id| self.peer_address(id));
                Done::Address(address.unwrap_or_else(|_| address_out(&UnixAddr::Unnamed)))
            }
            (Completed::Received(n), Waiting::Recv { from: true }) => {
                let sender = self
                    .files
                    .get(&file)
                    .and_then(|f| f.socket)
                    .map_or_else(address_out_none, |id| self.stream_sender(id, n > 0, n));
                Done::CountFrom(n, sender)
            }
            (Completed::Message(r), Waiting::Recv { from }) => Self::message_done(&r, from),
            (Completed::Message(r), Waiting::RecvMsg { room, peek }) => {
                Self::message_received(r, room, peek)
            }
            (Completed::Received(n), Waiting::RecvMsg { room, .. }) => {
                let sender = self
                    .files
                    .get(&file)
                    .and_then(|f| f.socket)
                    .map_or_else(address_out_none, |id| self.stream_sender(id, n > 0, n));
                Done::Message(stream_message(n, sender, room))
            }
            (Completed::Message(r), _) => Done::Count(r.copied),
            (Completed::Sent(n) | Completed::Received(n), _) => Done::Count(n),
            (Completed::Connected | Completed::Accepted, _) => Done::Ok,
        });
        let mut result = result;
        if let Ok(done) = &mut result {
            self.pin_peeked(done);
        }
        Some(Completion {
            token: c.token,
            file,
            result,
        })
    }
}

type MappedOutcome = Outcome<Done>;

/// Maps a ready result into a [`Done`].
fn done<T>(outcome: Outcome<T>, f: impl FnOnce(T) -> Done) -> MappedOutcome {
    match outcome {
        Outcome::Ready(r) => Outcome::Ready(r.map(f)),
        Outcome::Pending => Outcome::Pending,
    }
}

/// Whether a CONNECT's address is `AF_UNSPEC` (at least the family's two bytes).
fn is_unspec(sockaddr: &[u8]) -> bool {
    sockaddr.get(..2) == Some(&AF_UNSPEC.to_ne_bytes()[..])
}

/// A datagram's destination, validated as `unix_validate_addr` does.
fn send_target(to: SendTo<'_>) -> Result<ConnectTarget, Errno> {
    match to {
        SendTo::Address { sockaddr, key } => connect_target(sockaddr, key),
        SendTo::Oversize => Err(Errno::EINVAL),
    }
}

fn connect_target(sockaddr: &[u8], key: Option<PathKey>) -> Result<ConnectTarget, Errno> {
    match (parse_connect_addr(sockaddr)?, key) {
        (ConnectRequest::Pathname(_), Some(key)) => Ok(ConnectTarget::Pathname(key)),
        (ConnectRequest::Abstract(name), None) => Ok(ConnectTarget::Abstract(name)),
        _ => Err(Errno::EINVAL),
    }
}

/// No address: `recvfrom`'s length 0.
fn address_out_none() -> AddressOut {
    AddressOut::none()
}

/// An address as the wire reports it, without allocating.
fn address_out(addr: &UnixAddr) -> AddressOut {
    let mut bytes = [0u8; ADDRESS_OUT_BYTES];
    let family = afunix_core::AF_UNIX.to_ne_bytes();
    let (head, rest) = bytes.split_at_mut(2);
    head.copy_from_slice(&family);
    match addr {
        UnixAddr::Unnamed => {}
        UnixAddr::Pathname(p) => {
            for (slot, b) in rest.iter_mut().zip(p.iter()) {
                *slot = *b;
            }
        }
        UnixAddr::Abstract(n) => {
            for (slot, b) in rest.iter_mut().skip(1).zip(n.iter()) {
                *slot = *b;
            }
        }
    }
    AddressOut {
        addr_len: u32::try_from(addr.reported_len()).unwrap_or(u32::MAX),
        msg_flags: 0,
        addr: bytes,
        msg_len: 0,
    }
}

/// RECVMSG's reply on a stream: RECVFROM's, with no objects.
fn stream_message(count: usize, from: AddressOut, room: usize) -> MessageDone {
    MessageDone {
        count,
        from,
        room,
        objects: Vec::new(),
        peeked: false,
    }
}

fn send_flags(flags: MsgFlags) -> SendFlags {
    SendFlags {
        dontwait: flags.dontwait(),
        overlapped: flags.overlapped(),
    }
}

fn recv_flags(flags: MsgFlags) -> RecvFlags {
    RecvFlags {
        peek: flags.peek(),
        trunc: flags.trunc(),
        waitall: flags.waitall(),
        dontwait: flags.dontwait(),
        overlapped: flags.overlapped(),
        rights_room: 0,
    }
}
