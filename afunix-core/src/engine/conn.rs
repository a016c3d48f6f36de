//! Naming and connection set-up: bind, listen, connect, accept.

use crate::addr::{SUN_PATH_LEN, autobind_name};
use crate::socket::{Binding, Listener, ListenerBox, PendingConnect, Socket, State};
use crate::{
    BindTarget, Completed, ConnectTarget, Credentials, Errno, Outcome, SockType, SocketId, Token,
    UnixAddr,
};

use super::{Engine, Waiting};

impl Engine {
    /// `bind`. For a pathname the caller has already created the socket file (and reported
    /// EADDRINUSE itself if it existed); if this returns EINVAL (already bound) the caller
    /// removes the file it created, as `unix_bind_bsd` does.
    pub fn bind(&mut self, id: SocketId, target: BindTarget) -> Result<(), Errno> {
        let sock = self.sock(id)?;
        let kind = sock.kind;
        let already_bound = sock.addr.is_some();
        if sock.reserved_by.is_some() {
            return Err(Errno::EINVAL);
        }
        let (binding, addr) = match target {
            BindTarget::Autobind => {
                // unix_autobind: a bound socket keeps its name and succeeds.
                if already_bound {
                    return Ok(());
                }
                let name = self.free_autobind_name(kind)?;
                let key = crate::util::try_copy(&name)?;
                (Binding::Abstract(kind, key), UnixAddr::Abstract(name))
            }
            BindTarget::Abstract(name) => {
                // unix_bind_abstract: EINVAL if bound, then EADDRINUSE if taken.
                if already_bound {
                    return Err(Errno::EINVAL);
                }
                if name.len() >= SUN_PATH_LEN {
                    return Err(Errno::EINVAL);
                }
                let key = crate::util::try_copy(&name)?;
                if self.names.contains(&Binding::Abstract(kind, key)) {
                    return Err(Errno::EADDRINUSE);
                }
                let key = crate::util::try_copy(&name)?;
                (Binding::Abstract(kind, key), UnixAddr::Abstract(name))
            }
            BindTarget::Pathname { key, path } => {
                if path.is_empty() || path.len() > SUN_PATH_LEN || path.contains(&0) {
                    return Err(Errno::EINVAL);
                }
                if already_bound {
                    return Err(Errno::EINVAL);
                }
                if self.names.contains(&Binding::Path(key)) {
                    return Err(Errno::EADDRINUSE);
                }
                (Binding::Path(key), UnixAddr::Pathname(path))
            }
        };
        let binding_copy = binding.try_clone()?;
        self.names.try_insert(binding, id).map_err(|e| match e {
            Errno::EEXIST => Errno::EADDRINUSE,
            other => other,
        })?;
        let sock = self.sock_mut(id)?;
        sock.addr = Some(addr);
        sock.binding = Some(binding_copy);
        Ok(())
    }

    /// `unix_autobind`'s search: five hex digits, starting from the seed, ENOSPC when all
    /// 2^20 names of this socket type are taken.
    fn free_autobind_name(&mut self, kind: SockType) -> Result<alloc::vec::Vec<u8>, Errno> {
        for _ in 0..0x10_0000u32 {
            let n = self.autobind_next;
            self.autobind_next = n.wrapping_add(1) & 0xF_FFFF;
            let name = autobind_name(n)?;
            if !self
                .names
                .contains(&Binding::Abstract(kind, crate::util::try_copy(&name)?))
            {
                return Ok(name);
            }
        }
        Err(Errno::ENOSPC)
    }

    /// `unix_listen`: EINVAL if unbound or not in `TCP_CLOSE`/`TCP_LISTEN`; the backlog is
    /// capped at `max_backlog` (comparing as unsigned, as `__sys_listen` does); listening
    /// again updates it. `cred` is recorded for connecting clients (`init_peercred`).
    pub fn listen(&mut self, id: SocketId, backlog: i32, cred: &Credentials) -> Result<(), Errno> {
        let max = self.limits.max_backlog;
        #[allow(clippy::cast_sign_loss)]
        let backlog = (backlog as u32).min(max);
        let cred = cred.try_clone()?;
        let sock = self.sock_mut(id)?;
        // Only stream and seqpacket sockets listen (`unix_listen`), before any other check.
        if sock.kind == SockType::Dgram {
            return Err(Errno::EOPNOTSUPP);
        }
        if sock.addr.is_none() {
            return Err(Errno::EINVAL);
        }
        if sock.connecting.is_some() || sock.reserved_by.is_some() {
            return Err(Errno::EINVAL);
        }
        let grew = match &mut sock.state {
            State::Unconnected => None,
            State::Listening(l) => {
                let l = l.get_mut().ok_or(Errno::EINVAL)?;
                let grew = backlog > l.backlog;
                l.backlog = backlog;
                Some(grew)
            }
            State::Connected { .. } => return Err(Errno::EINVAL),
        };
        let fresh = match grew {
            None => Some(ListenerBox::new(Listener {
                backlog,
                ..Listener::default()
            })?),
            Some(_) => None,
        };
        self.sock_mut(id)?.own_cred = Some(cred);
        match grew {
            None => {
                if let Some(l) = fresh {
                    self.set_state(id, State::Listening(l));
                }
            }
            Some(true) => self.retry_connects(id),
            Some(false) => {}
        }
        Ok(())
    }

    /// `unix_find_other` for a socket of type `kind`: ECONNREFUSED when nothing holds the
    /// name (an abstract name held only by another type is not found), EPROTOTYPE when the
    /// socket file's socket is of another type.
    pub(crate) fn lookup(&self, target: &ConnectTarget, kind: SockType) -> Result<SocketId, Errno> {
        let key = match target {
            ConnectTarget::Pathname(key) => Binding::Path(*key),
            ConnectTarget::Abstract(name) => Binding::Abstract(kind, crate::util::try_copy(name)?),
        };
        let found = self.names.get(&key).copied().ok_or(Errno::ECONNREFUSED)?;
        if self.sock(found).map(|s| s.kind) != Ok(kind) {
            return Err(Errno::EPROTOTYPE);
        }
        Ok(found)
    }

    /// `unix_stream_connect`. Errors in Linux's order: with `SO_PASSCRED`, an unbound socket
    /// autobinds first ([`Engine::autobind_to_connect`]); then no such name (ECONNREFUSED), not
    /// listening or shut down for reading (ECONNREFUSED), backlog full (EAGAIN when
    /// non-blocking, else pending), then our own state (EISCONN if connected, EINVAL if
    /// listening). `cred` is what the accepted socket reports as its peer's credentials.
    pub fn connect(
        &mut self,
        id: SocketId,
        target: &ConnectTarget,
        cred: &Credentials,
        token: Token,
    ) -> Outcome<()> {
        let (nonblocking, kind) = match self.sock(id) {
            Ok(s) => (s.nonblocking, s.kind),
            Err(e) => return Outcome::Ready(Err(e)),
        };
        if kind == SockType::Dgram {
            return Outcome::Ready(self.dgram_connect(id, target));
        }
        if let Err(e) = self.autobind_to_connect(id) {
            return Outcome::Ready(Err(e));
        }
        let listener = match self.lookup(target, kind) {
            Ok(l) => l,
            Err(e) => return Outcome::Ready(Err(e)),
        };
        match self.try_connect(id, listener, cred) {
            Err(Errno::EAGAIN) if !nonblocking => self.pend_connect(id, listener, cred, token),
            r => Outcome::Ready(r),
        }
    }

    fn pend_connect(
        &mut self,
        id: SocketId,
        listener: SocketId,
        cred: &Credentials,
        token: Token,
    ) -> Outcome<()> {
        let prepared = (|| {
            if self.sock(id)?.connecting.is_some() {
                return Err(Errno::EALREADY);
            }
            self.prepare_token(token)?;
            let cred = cred.try_clone()?;
            let l = self
                .sock_mut(listener)?
                .listener_mut()
                .ok_or(Errno::ECONNREFUSED)?;
            l.connects
                .push_back(PendingConnect {
                    token,
                    connector: id,
                    cred,
                })
                .map_err(|(e, _)| e)
        })();
        let slot = match prepared {
            Ok(slot) => slot,
            Err(e) => return Outcome::Ready(Err(e)),
        };
        if let Ok(s) = self.sock_mut(id) {
            s.connecting = Some((token, listener));
        }
        match self.register(
            token,
            Waiting::Connect {
                connector: id,
                listener,
                slot,
            },
        ) {
            Ok(()) => Outcome::Pending,
            Err(e) => {
                if let Some(l) = self
                    .sockets
                    .get_mut(listener)
                    .and_then(Socket::listener_mut)
                {
                    let _ = l.connects.remove(slot);
                }
                if let Ok(s) = self.sock_mut(id) {
                    s.connecting = None;
                }
                Outcome::Ready(Err(e))
            }
        }
    }

    /// One attempt of `unix_stream_connect` against a known listener. EAGAIN: backlog full.
    fn try_connect(
        &mut self,
        id: SocketId,
        listener: SocketId,
        cred: &Credentials,
    ) -> Result<(), Errno> {
        let other = self.sockets.get(listener).ok_or(Errno::ECONNREFUSED)?;
        let Some(l) = other.listener() else {
            return Err(Errno::ECONNREFUSED);
        };
        if other.shutdown.rd {
            return Err(Errno::ECONNREFUSED);
        }
        // unix_recvq_full: more queued than the backlog (so backlog 0 still admits one).
        if l.embryos.len() > super::to_usize(l.backlog) {
            return Err(Errno::EAGAIN);
        }
        let listener_addr = match &other.addr {
            Some(a) => a.try_clone()?,
            None => UnixAddr::Unnamed,
        };
        let listener_cred = other
            .own_cred
            .as_ref()
            .map(Credentials::try_clone)
            .transpose()?;
        // The new socket has the listener's SO_PASSCRED as it is now, at connect (Linux 6.18,
        // by experiment: clearing it on the listener before accept does not clear it).
        let listener_passcred = other.options.passcred;
        let own = self.sock(id)?;
        match own.state {
            State::Unconnected => {}
            State::Connected { .. } => return Err(Errno::EISCONN),
            State::Listening(_) => return Err(Errno::EINVAL),
        }
        if own.reserved_by.is_some() {
            return Err(Errno::EINVAL);
        }
        // The embryo: what accept will hand over (`newsk` in unix_stream_connect).
        // Charged to the connector's user until accept hands the connection over.
        let connector_user = self.owner_of(id).ok_or(Errno::EBADF)?;
        let mut embryo = Socket::new(
            own.kind,
            self.limits.sndbuf_default,
            self.limits.rcvbuf_default,
            connector_user,
        );
        embryo.reserve_spares()?;
        embryo.addr = Some(listener_addr);
        embryo.peer_cred = Some(cred.try_clone()?);
        embryo.options.passcred = listener_passcred;
        self.sock_mut(listener)?
            .listener_mut()
            .ok_or(Errno::ECONNREFUSED)?
            .embryos
            .try_reserve(1)
            .map_err(|_| Errno::ENOMEM)?;
        let embryo_id = self.insert_socket(embryo)?;
        self.set_state(
            embryo_id,
            State::Connected {
                peer: Some(id),
                embryo_of: Some(listener),
            },
        );
        self.set_state(
            id,
            State::Connected {
                peer: Some(embryo_id),
                embryo_of: None,
            },
        );
        if let Ok(own) = self.sock_mut(id) {
            own.peer_cred = listener_cred;
        }
        if let Some(l) = self
            .sockets
            .get_mut(listener)
            .and_then(Socket::listener_mut)
        {
            l.embryos.push_back(embryo_id);
        }
        self.service_accepts(listener);
        Ok(())
    }

    /// Lets connects waiting on a listener's backlog try again, oldest first (Linux wakes
    /// `peer_wait` and each waiter restarts `unix_stream_connect`).
    pub(crate) fn retry_connects(&mut self, listener: SocketId) {
        loop {
            let Some(l) = self
                .sockets
                .get_mut(listener)
                .and_then(Socket::listener_mut)
            else {
                return;
            };
            if l.embryos.len() > super::to_usize(l.backlog) {
                return;
            }
            let Some(waiter) = l.connects.pop_front() else {
                return;
            };
            if let Some(s) = self.sockets.get_mut(waiter.connector) {
                s.connecting = None;
            }
            let result = self
                .try_connect(waiter.connector, listener, &waiter.cred)
                .map(|()| Completed::Connected);
            self.complete(waiter.token, waiter.connector, result);
        }
    }

    /// `unix_accept`: EINVAL unless listening; attaches the oldest embryo to `new_socket`
    /// (which must be fresh: unconnected, unbound, with nothing pending). With no embryo:
    /// EAGAIN when non-blocking, EINVAL if the listener is shut down for reading
    /// (`skb_recv_datagram` returning no error), else pending.
    pub fn accept(
        &mut self,
        listener: SocketId,
        new_socket: SocketId,
        token: Token,
    ) -> Outcome<()> {
        let result = (|| {
            let l_sock = self.sock(listener)?;
            if l_sock.kind == SockType::Dgram {
                return Err(Errno::EOPNOTSUPP);
            }
            let Some(l) = l_sock.listener() else {
                return Err(Errno::EINVAL);
            };
            let nonblocking = l_sock.nonblocking;
            let shut = l_sock.shutdown.rd;
            let has_embryo = !l.embryos.is_empty();
            if new_socket == listener || !self.sock(new_socket)?.is_fresh() {
                return Err(Errno::EINVAL);
            }
            if has_embryo {
                self.service_one_accept(listener, new_socket)?;
                return Ok(None);
            }
            if nonblocking {
                return Err(Errno::EAGAIN);
            }
            if shut {
                return Err(Errno::EINVAL);
            }
            self.prepare_token(token)?;
            let l = self
                .sock_mut(listener)?
                .listener_mut()
                .ok_or(Errno::EINVAL)?;
            let slot = l
                .accepts
                .push_back((token, new_socket))
                .map_err(|(e, _)| e)?;
            self.sock_mut(new_socket)?.reserved_by = Some((token, listener));
            if let Err(e) = self.register(token, Waiting::Accept { listener, slot }) {
                if let Some(l) = self
                    .sockets
                    .get_mut(listener)
                    .and_then(Socket::listener_mut)
                {
                    let _ = l.accepts.remove(slot);
                }
                self.sock_mut(new_socket)?.reserved_by = None;
                return Err(e);
            }
            Ok(Some(()))
        })();
        match result {
            Ok(None) => Outcome::Ready(Ok(())),
            Ok(Some(())) => Outcome::Pending,
            Err(e) => Outcome::Ready(Err(e)),
        }
    }

    /// Completes pending accepts while embryos wait.
    pub(crate) fn service_accepts(&mut self, listener: SocketId) {
        loop {
            let Some(l) = self
                .sockets
                .get_mut(listener)
                .and_then(Socket::listener_mut)
            else {
                return;
            };
            if l.embryos.is_empty() {
                return;
            }
            let Some((token, target)) = l.accepts.pop_front() else {
                return;
            };
            if let Some(s) = self.sockets.get_mut(target) {
                s.reserved_by = None;
            }
            let result = self
                .service_one_accept(listener, target)
                .map(|()| Completed::Accepted);
            self.complete(token, listener, result);
        }
    }

    /// Moves the oldest embryo into `target` (`sock_graft`), then lets a waiting connect in.
    fn service_one_accept(&mut self, listener: SocketId, target: SocketId) -> Result<(), Errno> {
        if !self.sock(target)?.is_fresh() {
            return Err(Errno::EINVAL);
        }
        let embryo_id = self
            .sock_mut(listener)?
            .listener_mut()
            .and_then(|l| l.embryos.pop_front())
            .ok_or(Errno::EAGAIN)?;
        let Some(embryo) = self.sockets.remove(embryo_id) else {
            return Err(Errno::ECONNABORTED);
        };
        self.socket_gone(embryo.owner);
        let peer = embryo.peer();
        let t = self.sock_mut(target)?;
        let nonblocking = t.nonblocking;
        // The target stays charged to its own maker.
        let owner = t.owner;
        // Copies of the target passed in messages still name it (SCM_RIGHTS).
        let passed = t.passed;
        *t = embryo;
        t.nonblocking = nonblocking;
        t.owner = owner;
        t.passed = passed;
        self.set_state(
            target,
            State::Connected {
                peer,
                embryo_of: None,
            },
        );
        if let Some(p) = peer {
            self.set_peer(p, Some(target));
        }
        self.retry_connects(listener);
        Ok(())
    }
}
