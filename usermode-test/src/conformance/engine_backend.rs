//! The `engine` backend: afunix-core driven directly, doing what the driver will do around it
//! (parse the sockaddr, keep the socket files, copy names out).

use std::collections::HashMap;

use afunix_core::{
    AF_UNIX, BindRequest, BindTarget, ConnectRequest, ConnectTarget, Credentials, Engine, Errno,
    Limits, Outcome, OwnedBuffers, PathKey, RecvFlags, SendFlags, SockType, SocketFlag, SocketId,
    Token, parse_bind_addr, parse_connect_addr,
};

use super::backend::{Backend, EBADF, FromOut, Res, RightsOut};
use super::scenario::{SLOTS, SockOpt, SockTy};

/// Linux's limits as this machine has them (`/proc/sys/net/core`), so that getsockopt values
/// and backlog caps can be compared; Linux's defaults elsewhere.
#[must_use]
pub fn linux_limits() -> Limits {
    fn read(name: &str) -> Option<u32> {
        std::fs::read_to_string(format!("/proc/sys/net/core/{name}"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
    let d = Limits::default();
    let qlen = std::fs::read_to_string("/proc/sys/net/unix/max_dgram_qlen")
        .ok()
        .and_then(|s| s.trim().parse().ok());
    Limits {
        max_dgram_qlen: qlen.unwrap_or(d.max_dgram_qlen),
        sndbuf_default: read("wmem_default").unwrap_or(d.sndbuf_default),
        sndbuf_max: read("wmem_max").unwrap_or(d.sndbuf_max),
        rcvbuf_default: read("rmem_default").unwrap_or(d.rcvbuf_default),
        rcvbuf_max: read("rmem_max").unwrap_or(d.rcvbuf_max),
        max_backlog: read("somaxconn").unwrap_or(d.max_backlog),
        ..d
    }
}

/// The engine's flag for a boolean option.
const fn flag(opt: SockOpt) -> Option<SocketFlag> {
    match opt {
        SockOpt::PassCred => Some(SocketFlag::PassCred),
        SockOpt::KeepAlive => Some(SocketFlag::KeepAlive),
        SockOpt::ReuseAddr => Some(SocketFlag::ReuseAddr),
        _ => None,
    }
}

/// The engine's socket type.
const fn kind(ty: SockTy) -> SockType {
    match ty {
        SockTy::Stream => SockType::Stream,
        SockTy::Dgram => SockType::Dgram,
        SockTy::SeqPacket => SockType::SeqPacket,
    }
}

/// Linux's POLLIN and POLLRDHUP bits.
const POLLIN: u32 = 0x1;
const POLLRDHUP: u32 = 0x2000;

fn errno(e: Errno) -> i32 {
    i32::from(e.number())
}

/// Work of this backend's own that stands for the host (its simulated file system, the
/// caller's buffers): under fault injection (`fault_tests`), never failed, since only the
/// engine's allocations are under test.
#[cfg(test)]
fn host<R>(f: impl FnOnce() -> R) -> R {
    fault_alloc::disarmed(f)
}

#[cfg(not(test))]
fn host<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// afunix-core with a simulated file system for socket files.
#[derive(Debug)]
pub struct EngineBackend {
    /// The engine.
    pub engine: Engine,
    slots: [Option<SocketId>; SLOTS],
    /// Files in the scenario's directory: path -> the key of a socket file, or None for a
    /// plain file. A socket file outlives its socket, as on Linux.
    files: HashMap<Vec<u8>, Option<PathKey>>,
    /// The scenario's directory, the one directory of the simulated file system.
    dir: Vec<u8>,
    next_file_id: u128,
    /// The socket each socket file was bound by (the engine keeps it to itself).
    bound: HashMap<PathKey, SocketId>,
    cred: Credentials,
    /// Each send's and recv's own buffer while it runs, by token (every call here is
    /// non-blocking, so none outlives its call).
    bufs: OwnedBuffers,
}

impl EngineBackend {
    /// A fresh engine with these limits.
    #[must_use]
    pub fn new(limits: Limits) -> Self {
        Self {
            engine: Engine::new(limits),
            slots: [None; SLOTS],
            files: HashMap::new(),
            dir: Vec::new(),
            next_file_id: 1,
            bound: HashMap::new(),
            cred: Credentials {
                pid: std::process::id(),
                sid: b"S-1-5-21-test".to_vec(),
                ..Credentials::default()
            },
            bufs: OwnedBuffers::new(),
        }
    }

    /// The engine id in slot `s`.
    #[must_use]
    pub fn id(&self, s: usize) -> Option<SocketId> {
        self.slots.get(s).copied().flatten()
    }

    fn get(&self, s: usize) -> Res<SocketId> {
        self.id(s).ok_or(EBADF)
    }

    /// Every call here is non-blocking, so every request is over when its call returns and
    /// its token is free again: all of them reuse one, as the driver reuses an IRP's
    /// address, so a token the engine remembered past its request would meet the next.
    fn token(&mut self) -> Token {
        Token(1)
    }

    /// Every operation here is non-blocking, so nothing may pend. A pending outcome would be
    /// an engine bug; it is reported as errno 0 so the comparison fails loudly.
    fn ready<T>(&mut self, o: Outcome<T>) -> Res<T> {
        let r = match o {
            Outcome::Ready(r) => r.map_err(errno),
            Outcome::Pending => Err(0),
        };
        assert!(
            self.engine.poll_completion().is_none(),
            "unexpected completion"
        );
        r
    }

    fn new_socket(&mut self, s: usize, ty: SockTy) -> Res<SocketId> {
        let id = self.engine.socket_typed(&[], kind(ty)).map_err(errno)?;
        self.engine.set_nonblocking(id, true).map_err(errno)?;
        if let Some(slot) = self.slots.get_mut(s) {
            *slot = Some(id);
        }
        Ok(id)
    }
}

impl EngineBackend {
    /// Path lookup in the simulated file system, as `unix_bind_bsd` (`bind`) and
    /// `unix_find_bsd` see it: its only directory is the scenario's, holding files. A path
    /// through a file is ENOTDIR, through anything else missing ENOENT; a trailing slash
    /// names a directory (bind: EADDRINUSE if the name exists, else ENOENT; connect: ENOTDIR
    /// for a file, else ENOENT). Ok when the path names an entry of the directory.
    fn lookup(&self, path: &[u8], bind: bool) -> Res<()> {
        let mut base = path;
        while let Some(rest) = base.strip_suffix(b"/") {
            base = rest;
        }
        let trailing = base.len() != path.len();
        let parent = base
            .iter()
            .rposition(|&b| b == b'/')
            .map_or(&b""[..], |i| &base[..i]);
        if parent != self.dir.as_slice() {
            return Err(errno(if self.files.contains_key(parent) {
                Errno::ENOTDIR
            } else {
                Errno::ENOENT
            }));
        }
        if trailing {
            let exists = self.files.contains_key(base);
            return Err(errno(match (bind, exists) {
                (true, true) => Errno::EADDRINUSE,
                (false, true) => Errno::ENOTDIR,
                (_, false) => Errno::ENOENT,
            }));
        }
        Ok(())
    }
}

impl EngineBackend {
    /// The socket in a slot that a sockaddr names for a socket of type `ty` (what connect
    /// and sendto reach), if any: for the generator's rules, which must know where a
    /// datagram goes.
    #[must_use]
    pub fn resolve(&self, raw: &[u8], ty: SockTy) -> Option<SocketId> {
        let open = self.slots.iter().flatten().copied();
        let same_type = |id: &SocketId| self.type_of(*id) == Some(ty);
        match parse_connect_addr(raw).ok()? {
            ConnectRequest::Abstract(_) => open.filter(same_type).find(|id| {
                self.engine
                    .getsockname(*id)
                    .ok()
                    .and_then(|a| a.to_sockaddr().ok())
                    .is_some_and(|a| a == raw)
            }),
            ConnectRequest::Pathname(path) => {
                let key = (*self.files.get(&path)?)?;
                let id = *self.bound.get(&key)?;
                let mut open = open;
                open.any(|o| o == id).then_some(id).filter(same_type)
            }
        }
    }

    fn type_of(&self, id: SocketId) -> Option<SockTy> {
        Some(match self.engine.socket_type(id).ok()? {
            SockType::Stream => SockTy::Stream,
            SockType::Dgram => SockTy::Dgram,
            SockType::SeqPacket => SockTy::SeqPacket,
        })
    }

    /// What the driver does with a connect or sendto address: parse it, look a pathname up
    /// in the (simulated) file system.
    fn target(&self, request: ConnectRequest) -> Res<ConnectTarget> {
        Ok(match request {
            ConnectRequest::Abstract(name) => ConnectTarget::Abstract(name),
            ConnectRequest::Pathname(path) => {
                self.lookup(&path, false)?;
                match self.files.get(&path) {
                    Some(Some(key)) => ConnectTarget::Pathname(*key),
                    // unix_find_bsd: not a socket.
                    Some(None) => return Err(errno(Errno::ECONNREFUSED)),
                    None => return Err(errno(Errno::ENOENT)),
                }
            }
        })
    }

    fn recv_flags(peek: bool, waitall: bool, trunc: bool) -> RecvFlags {
        RecvFlags {
            peek,
            waitall,
            dontwait: true,
            overlapped: false,
            trunc,
            rights_room: 0,
        }
    }

    /// `recvmsg` on a message socket: the message, and the sender's name (a datagram's own;
    /// a seqpacket socket's peer's, as a stream's).
    /// Objects the engine gave up (dropped with a message, or past a receiver's room) are
    /// released: here, forgotten, as they stand for nothing.
    fn drop_released(&mut self) {
        while self.engine.poll_released().is_some() {}
    }

    fn recv_message(&mut self, id: SocketId, len: usize, peek: bool, trunc: bool) -> Res<FromOut> {
        // Whether a message is there to take (a seqpacket socket reports its peer's name
        // only with a message: not at the end of file, which also returns 0).
        let poll = self.engine.poll(id).map_err(errno)?.0;
        let queued = self.engine.fionread(id).unwrap_or(0);
        let message = queued > 0 || (poll & POLLIN != 0 && poll & POLLRDHUP == 0);
        let token = self.token();
        let room = host(|| vec![0u8; len]);
        self.bufs.insert_recv(token, room).map_err(errno)?;
        let flags = Self::recv_flags(peek, false, trunc);
        let o = self.engine.recv_from(id, len, flags, token, &mut self.bufs);
        let mut buf = self.bufs.remove(token).unwrap_or_default();
        let got = self.ready(o)?;
        buf.truncate(got.copied);
        let seqpacket = self.type_of(id) == Some(SockTy::SeqPacket);
        let name = match &got.from {
            Some(addr) => Some(addr),
            None if seqpacket && message => self.engine.sender_address(id).map_err(errno)?,
            None => None,
        };
        let (from_len, from) = match name {
            Some(addr) => {
                let mut from = host(|| addr.to_sockaddr()).map_err(errno)?;
                from.truncate(afunix_core::SOCKADDR_UN_LEN);
                (addr.reported_len(), from)
            }
            None => (0, Vec::new()),
        };
        Ok(FromOut {
            bytes: buf,
            ret: got.ret(flags),
            truncated: got.truncated(),
            from_len,
            from,
        })
    }
}

impl Backend for EngineBackend {
    fn send_rights(&mut self, s: usize, data: &[u8], markers: &[u32]) -> Res<usize> {
        let id = self.get(s)?;
        let token = self.token();
        let data_copy = host(|| data.to_vec());
        self.bufs.insert_send(token, data_copy).map_err(errno)?;
        let flags = SendFlags {
            dontwait: true,
            overlapped: false,
        };
        // The markers are the keys: what the driver's are (its kernel handles) stands behind
        // them, and the engine never looks.
        let mut rights: Vec<afunix_core::Passed> = host(|| {
            markers
                .iter()
                .map(|m| afunix_core::Passed {
                    key: u64::from(*m),
                    socket: None,
                })
                .collect()
        });
        let o = self.engine.send_with_rights(
            id,
            None,
            data.len(),
            flags,
            token,
            &mut self.bufs,
            &mut rights,
        );
        self.bufs.remove(token);
        self.drop_released();
        self.ready(o)
    }

    fn recv_rights(&mut self, s: usize, len: usize, room: usize, peek: bool) -> Res<RightsOut> {
        let id = self.get(s)?;
        let token = self.token();
        let buf = host(|| vec![0u8; len]);
        self.bufs.insert_recv(token, buf).map_err(errno)?;
        let mut flags = Self::recv_flags(peek, false, false);
        flags.rights_room = room;
        let o = self.engine.recv_from(id, len, flags, token, &mut self.bufs);
        let mut buf = self.bufs.remove(token).unwrap_or_default();
        self.drop_released();
        let got = self.ready(o)?;
        buf.truncate(got.copied);
        Ok(RightsOut {
            bytes: buf,
            truncated: got.truncated(),
            ctrunc: got.ctrunc,
            markers: got
                .rights
                .iter()
                .map(|r| u32::try_from(r.key).unwrap_or(u32::MAX))
                .collect(),
        })
    }

    fn is_open(&self, s: usize) -> bool {
        self.id(s).is_some()
    }

    fn socket(&mut self, s: usize, ty: SockTy) -> Res<()> {
        self.new_socket(s, ty).map(|_| ())
    }

    fn socketpair(&mut self, a: usize, b: usize, ty: SockTy) -> Res<()> {
        let (x, y) = self
            .engine
            .socketpair_typed(kind(ty), &self.cred)
            .map_err(errno)?;
        for (s, id) in [(a, x), (b, y)] {
            self.engine.set_nonblocking(id, true).map_err(errno)?;
            if let Some(slot) = self.slots.get_mut(s) {
                *slot = Some(id);
            }
        }
        Ok(())
    }

    fn bind(&mut self, s: usize, raw: &[u8]) -> Res<()> {
        let id = self.get(s)?;
        let target = match parse_bind_addr(raw).map_err(errno)? {
            BindRequest::Autobind => BindTarget::Autobind,
            BindRequest::Abstract(name) => BindTarget::Abstract(name),
            BindRequest::Pathname(path) => {
                // What the driver does first: create the file (EADDRINUSE if it exists).
                self.lookup(&path, true)?;
                if self.files.contains_key(&path) {
                    return Err(errno(Errno::EADDRINUSE));
                }
                let key = PathKey {
                    volume: 1,
                    file_id: self.next_file_id,
                    secret: 0,
                };
                self.next_file_id += 1;
                let copy = host(|| path.clone());
                let r = self
                    .engine
                    .bind(id, BindTarget::Pathname { key, path: copy });
                // On failure the driver deletes the file it created (unix_bind_bsd).
                if r.is_ok() {
                    host(|| self.files.insert(path, Some(key)));
                    host(|| self.bound.insert(key, id));
                }
                return r.map_err(errno);
            }
        };
        self.engine.bind(id, target).map_err(errno)
    }

    fn listen(&mut self, s: usize, backlog: i32) -> Res<()> {
        let id = self.get(s)?;
        self.engine.listen(id, backlog, &self.cred).map_err(errno)
    }

    fn connect(&mut self, s: usize, raw: &[u8]) -> Res<()> {
        let id = self.get(s)?;
        // AF_UNSPEC (`sa_family` 0, at least its two bytes): a datagram socket's association
        // is dissolved; other types refuse it (EINVAL), as `unix_validate_addr`.
        if raw.len() >= 2 && raw.get(..2) == Some(&0u16.to_ne_bytes()[..]) {
            return self.engine.disconnect(id).map_err(errno);
        }
        let request = parse_connect_addr(raw).map_err(errno)?;
        // As the driver: SO_PASSCRED's autobind comes before the socket file is looked up.
        self.engine.autobind_to_connect(id).map_err(errno)?;
        let target = self.target(request)?;
        let token = self.token();
        let o = self.engine.connect(id, &target, &self.cred, token);
        self.ready(o)
    }

    fn accept(&mut self, l: usize, into: usize) -> Res<()> {
        let lid = self.get(l)?;
        let ty = self.type_of(lid).unwrap_or_default();
        let fresh = self.new_socket(into, ty)?;
        let token = self.token();
        let o = self.engine.accept(lid, fresh, token);
        let r = self.ready(o);
        if r.is_err() {
            let _ = self.engine.close(fresh, &mut self.bufs);
            if let Some(slot) = self.slots.get_mut(into) {
                *slot = None;
            }
        }
        r
    }

    fn send(&mut self, s: usize, data: &[u8]) -> Res<usize> {
        let id = self.get(s)?;
        let token = self.token();
        let data_copy = host(|| data.to_vec());
        self.bufs.insert_send(token, data_copy).map_err(errno)?;
        let flags = SendFlags {
            dontwait: true,
            overlapped: false,
        };
        let o = self
            .engine
            .send(id, data.len(), flags, token, &mut self.bufs);
        self.bufs.remove(token);
        self.ready(o)
    }

    fn recv(&mut self, s: usize, len: usize, peek: bool, waitall: bool) -> Res<Vec<u8>> {
        let id = self.get(s)?;
        let token = self.token();
        let room = host(|| vec![0u8; len]);
        self.bufs.insert_recv(token, room).map_err(errno)?;
        let flags = Self::recv_flags(peek, waitall, false);
        let o = self.engine.recv(id, len, flags, token, &mut self.bufs);
        let mut buf = self.bufs.remove(token).unwrap_or_default();
        let n = self.ready(o)?;
        buf.truncate(n);
        Ok(buf)
    }

    fn send_to(&mut self, s: usize, data: &[u8], raw: &[u8]) -> Res<usize> {
        let id = self.get(s)?;
        // No address (`addr_len` 0) is a plain send, whatever the type.
        if raw.is_empty() {
            return self.send(s, data);
        }
        match self.type_of(id) {
            Some(SockTy::Dgram) => {}
            // `unix_seqpacket_sendmsg` drops the address before it looks at it.
            Some(SockTy::SeqPacket) => return self.send(s, data),
            _ => return Err(errno(self.engine.send_to_error(id).map_err(errno)?)),
        }
        let request = parse_connect_addr(raw).map_err(errno)?;
        let flags = SendFlags {
            dontwait: true,
            overlapped: false,
        };
        // As the driver: what Linux checks before it looks a name up comes before the file.
        if matches!(request, ConnectRequest::Pathname(_)) {
            self.engine
                .send_to_precheck(id, data.len(), flags)
                .map_err(errno)?;
        }
        let target = self.target(request)?;
        let token = self.token();
        let data_copy = host(|| data.to_vec());
        self.bufs.insert_send(token, data_copy).map_err(errno)?;
        let o = self
            .engine
            .send_to(id, &target, data.len(), flags, token, &mut self.bufs);
        self.bufs.remove(token);
        self.ready(o)
    }

    fn recv_from(&mut self, s: usize, len: usize, peek: bool, trunc: bool) -> Res<FromOut> {
        let id = self.get(s)?;
        if self.type_of(id).is_some_and(SockTy::is_message) {
            return self.recv_message(id, len, peek, trunc);
        }
        let queued = self.engine.fionread(id).unwrap_or(0);
        let bytes = self.recv(s, len, peek, false)?;
        let ret = bytes.len();
        // unix_copy_addr of the sender, when a message was looked at.
        let saw_data = !bytes.is_empty() || (len == 0 && queued > 0);
        match self.engine.sender_address(id).map_err(errno)? {
            Some(addr) if saw_data => {
                // The driver writes the address without allocating (`AddressOut`); this
                // copy is the backend's own.
                let mut from = host(|| addr.to_sockaddr()).map_err(errno)?;
                from.truncate(afunix_core::SOCKADDR_UN_LEN);
                Ok(FromOut {
                    bytes,
                    ret,
                    truncated: false,
                    from_len: addr.reported_len(),
                    from,
                })
            }
            _ => Ok(FromOut {
                bytes,
                ret,
                ..FromOut::default()
            }),
        }
    }

    fn unlink(&mut self, path: &std::path::Path) -> Res<()> {
        let path = path.as_os_str().as_encoded_bytes().to_vec();
        self.files
            .remove(&path)
            .map(|_| ())
            .ok_or(errno(Errno::ENOENT))
    }

    fn make_file(&mut self, path: &std::path::Path) -> Res<()> {
        let path = path.as_os_str().as_encoded_bytes().to_vec();
        if self.files.contains_key(&path) {
            return Err(errno(Errno::EEXIST));
        }
        self.files.insert(path, None);
        Ok(())
    }

    fn set_dir(&mut self, dir: &str) {
        self.dir = dir.as_bytes().to_vec();
    }

    fn shutdown(&mut self, s: usize, how: i32) -> Res<()> {
        let id = self.get(s)?;
        let how = afunix_core::Shutdown::from_how(how).map_err(errno)?;
        self.engine.shutdown(id, how, &mut self.bufs).map_err(errno)
    }

    fn close(&mut self, s: usize) -> Res<()> {
        let id = self.get(s)?;
        if let Some(slot) = self.slots.get_mut(s) {
            *slot = None;
        }
        self.engine.close(id, &mut self.bufs).map_err(errno)
    }

    fn name(&mut self, s: usize, peer: bool) -> Res<(usize, Vec<u8>)> {
        let id = self.get(s)?;
        let addr = if peer {
            self.engine.getpeername(id)
        } else {
            self.engine.getsockname(id)
        }
        .map_err(errno)?;
        let mut bytes = addr.to_sockaddr().map_err(errno)?;
        // What the driver does: copy into the caller's sockaddr_un, report the full length.
        bytes.truncate(afunix_core::SOCKADDR_UN_LEN);
        Ok((addr.reported_len(), bytes))
    }

    fn fionread(&mut self, s: usize) -> Res<i64> {
        let id = self.get(s)?;
        self.engine
            .fionread(id)
            .map(|n| i64::try_from(n).unwrap_or(i64::MAX))
            .map_err(errno)
    }

    fn getsockopt(&mut self, s: usize, opt: SockOpt) -> Res<i64> {
        let id = self.get(s)?;
        match opt {
            SockOpt::SndBuf => self.engine.sndbuf(id).map(i64::from),
            SockOpt::RcvBuf => self.engine.rcvbuf(id).map(i64::from),
            SockOpt::Error => self
                .engine
                .take_error(id)
                .map(|e| e.map_or(0, |e| i64::from(e.number()))),
            SockOpt::Type => self.engine.socket_type(id).map(|t| t as i64),
            SockOpt::Domain => self.engine.socket_type(id).map(|_| i64::from(AF_UNIX)),
            SockOpt::Protocol => self.engine.socket_type(id).map(|_| 0),
            SockOpt::PassCred | SockOpt::KeepAlive | SockOpt::ReuseAddr => self
                .engine
                .flag(id, flag(opt).ok_or(errno(Errno::ENOPROTOOPT))?)
                .map(i64::from),
        }
        .map_err(errno)
    }

    fn setsockopt(&mut self, s: usize, opt: SockOpt, val: i32) -> Res<()> {
        let id = self.get(s)?;
        match opt {
            SockOpt::SndBuf => self.engine.set_sndbuf(id, val, &mut self.bufs),
            SockOpt::RcvBuf => self.engine.set_rcvbuf(id, val),
            SockOpt::PassCred | SockOpt::KeepAlive | SockOpt::ReuseAddr => {
                self.engine
                    .set_flag(id, flag(opt).ok_or(errno(Errno::ENOPROTOOPT))?, val)
            }
            SockOpt::Error | SockOpt::Type | SockOpt::Domain | SockOpt::Protocol => {
                Err(Errno::ENOPROTOOPT)
            }
        }
        .map_err(errno)
    }

    fn linger(&mut self, s: usize) -> Res<(i32, i32)> {
        let id = self.get(s)?;
        let l = self.engine.linger(id).map_err(errno)?;
        Ok((l.onoff, l.seconds))
    }

    fn set_linger(&mut self, s: usize, onoff: i32, seconds: i32) -> Res<()> {
        let id = self.get(s)?;
        self.engine.set_linger(id, onoff, seconds).map_err(errno)
    }

    fn poll(&mut self, s: usize) -> Res<u32> {
        let id = self.get(s)?;
        self.engine.poll(id).map(|m| m.0).map_err(errno)
    }
}
