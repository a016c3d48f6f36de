//! Per-user shares of every cap, so that one user cannot starve the others.
//!
//! The engine's caps (sockets, bytes buffered, pending requests, bytes of pending requests'
//! buffers) are global. On top of them each user, named by its SID bytes
//! ([`Credentials::sid`](crate::Credentials)), may hold at most its share
//! ([`Limits::user_share`](crate::Limits)) of each: a user at all its limits leaves the rest
//! of every global budget to the others. The device layer charges its POLLs here too.
//!
//! Who is charged:
//!
//! - a socket: the user who made it (SOCKET, SOCKETPAIR); an embryo, the connecting socket's
//!   user (as Linux allocates `newsk` in the connector's context), until accept hands the
//!   connection to the acceptor's socket, which is charged to its own maker;
//! - queued bytes and the bytes a blocked in-place send shows its reader (reserved against
//!   the global cap, `PendingSend::exposed`): the writer's user, never the reader's, so a
//!   sender cannot use up a server's share by not being read;
//! - a pending request, and the bytes of its data buffer (the driver keeps them locked): the
//!   user of the socket it waits on (its maker, whoever holds a duplicate of the handle);
//! - a waiting POLL and its entries: the caller.
//!
//! Every charge is released exactly once: a socket's when it leaves the table; bytes when
//! they are read or dropped; a pending request's in [`Engine::complete`], the one place a
//! token ends; a POLL's by the device when it completes. A user whose usage is all zero
//! leaves the table. The table is bounded by `Limits::max_users` (ENOBUFS past it).
//!
//! The errnos, as Linux gives them at the nearest limits:
//!
//! - a user at its socket share: EMFILE, the per-process `RLIMIT_NOFILE` error (the global
//!   cap stays ENFILE, as `unix_create1` gives past its global count);
//! - a user at its share of bytes: as at the global cap (a send that cannot queue anything
//!   waits, or fails with ENOBUFS when non-blocking; see `Engine::send`), which is what
//!   `sock_alloc_send_pskb` gives when socket memory cannot be had;
//! - a request that would wait past the user's (or the global) share of pending requests or
//!   locked bytes: ENOBUFS, or the count it achieved (a send returns what it queued, as
//!   Linux's does when interrupted); `accept(2)` documents ENOBUFS for "limited by the
//!   socket buffer limits";
//! - a new user when the table is full: ENOBUFS ("the socket cannot be created until
//!   sufficient resources are freed", socket(2)).

use alloc::vec::Vec;

use crate::socket::Socket;
use crate::util::{KeyedHash, KeyedMap};
use crate::{Errno, SockType, SocketId, Token};

use super::{Engine, Waiting};

/// A user in the accounting table. Valid while the user holds anything (every holder of one
/// is itself charged to that user, so the entry stays until it is let go).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId(u16);

/// What one user holds, against its share of each cap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserUsage {
    /// Sockets, embryos of its connects included.
    pub sockets: usize,
    /// Bytes it wrote that are queued, and bytes its blocked sends show their readers.
    pub bytes: usize,
    /// Pending requests (RECV, SEND, ACCEPT, CONNECT, and the device's POLLs).
    pub pending: usize,
    /// Bytes of the data buffers of its pending SENDs and RECVs.
    pub locked_bytes: usize,
    /// Waiting POLLs.
    pub polls: usize,
    /// Entries of its waiting POLLs.
    pub poll_entries: usize,
    /// Objects it passed (SCM_RIGHTS) that are in flight: queued or in its pending sends.
    pub rights: usize,
}

impl UserUsage {
    const fn is_idle(&self) -> bool {
        self.sockets == 0
            && self.bytes == 0
            && self.pending == 0
            && self.locked_bytes == 0
            && self.polls == 0
            && self.poll_entries == 0
            && self.rights == 0
    }
}

#[derive(Debug)]
struct User {
    sid: Vec<u8>,
    usage: UserUsage,
}

/// What a pending request was charged, released when it completes.
#[derive(Clone, Copy, Debug)]
struct PendingCharge {
    user: UserId,
    locked: usize,
}

/// The accounting table.
#[derive(Debug)]
pub(crate) struct Quotas {
    /// Indexed by `UserId`; a free slot is None.
    users: Vec<Option<User>>,
    /// What each pending token was charged (a hash table: constant cost per request).
    pending: KeyedMap<Token, PendingCharge>,
    /// Bytes of pending requests' buffers, over all users.
    locked_bytes: usize,
}

impl Quotas {
    pub(crate) fn new(hash: KeyedHash) -> Quotas {
        Quotas {
            users: Vec::new(),
            pending: KeyedMap::new(hash),
            locked_bytes: 0,
        }
    }

    fn user(&self, id: UserId) -> Option<&User> {
        self.users.get(usize::from(id.0)).and_then(Option::as_ref)
    }

    fn usage_mut(&mut self, id: UserId) -> Option<&mut UserUsage> {
        self.users
            .get_mut(usize::from(id.0))
            .and_then(Option::as_mut)
            .map(|u| &mut u.usage)
    }

    fn usage(&self, id: UserId) -> UserUsage {
        self.user(id).map(|u| u.usage).unwrap_or_default()
    }

    /// The entry of `sid`, made if it has none (ENOBUFS when `max_users` hold something
    /// already). A new entry holds nothing: let it go with [`Quotas::forget_if_idle`] if
    /// nothing is charged to it after all.
    fn find_or_add(&mut self, sid: &[u8], max_users: usize) -> Result<UserId, Errno> {
        let mut free = None;
        for (i, slot) in self.users.iter().enumerate() {
            match slot {
                Some(u) if u.sid == sid => return id_of(i),
                None if free.is_none() => free = Some(i),
                _ => {}
            }
        }
        let sid = crate::util::try_copy(sid)?;
        let user = Some(User {
            sid,
            usage: UserUsage::default(),
        });
        if let Some(i) = free {
            let id = id_of(i)?;
            if let Some(slot) = self.users.get_mut(i) {
                *slot = user;
            }
            return Ok(id);
        }
        let i = self.users.len();
        if i >= max_users {
            return Err(Errno::ENOBUFS);
        }
        let id = id_of(i)?;
        self.users.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        self.users.push(user);
        Ok(id)
    }

    /// Frees `id`'s entry if it holds nothing.
    fn forget_if_idle(&mut self, id: UserId) {
        let i = usize::from(id.0);
        if let Some(slot) = self.users.get_mut(i) {
            if slot.as_ref().is_some_and(|u| u.usage.is_idle()) {
                *slot = None;
            }
        }
        while self.users.last().is_some_and(Option::is_none) {
            self.users.pop();
        }
    }

    /// `n` bytes charged to `user` left a queue (for callers holding a socket borrowed).
    pub(crate) fn take_bytes(&mut self, user: UserId, n: usize) {
        self.adjust(user, |u| u.bytes = u.bytes.saturating_sub(n));
    }

    /// Changes one counter of `id` and lets the entry go if it is now idle.
    fn adjust(&mut self, id: UserId, f: impl FnOnce(&mut UserUsage)) {
        if let Some(u) = self.usage_mut(id) {
            f(u);
        }
        self.forget_if_idle(id);
    }
}

fn id_of(i: usize) -> Result<UserId, Errno> {
    u16::try_from(i).map(UserId).map_err(|_| Errno::ENOBUFS)
}

impl Engine {
    /// A new, unconnected SOCK_STREAM socket made by the user `sid`, charged to it: EMFILE
    /// when the user holds its share of sockets, ENFILE at the global cap, ENOBUFS when
    /// `max_users` other users hold something.
    pub fn socket_for(&mut self, sid: &[u8]) -> Result<SocketId, Errno> {
        self.socket_typed(sid, SockType::Stream)
    }

    /// [`Engine::socket_for`] with a socket type.
    pub fn socket_typed(&mut self, sid: &[u8], kind: SockType) -> Result<SocketId, Errno> {
        let user = self.quota.find_or_add(sid, self.limits.max_users)?;
        let mut sock = Socket::new(
            kind,
            self.limits.sndbuf_default,
            self.limits.rcvbuf_default,
            user,
        );
        if let Err(e) = sock.reserve_spares() {
            self.quota.forget_if_idle(user);
            return Err(e);
        }
        let result = self.insert_socket(sock);
        self.quota.forget_if_idle(user);
        result
    }

    /// Enters `sock` in the table, charged to its owner (EMFILE at the owner's share).
    pub(crate) fn insert_socket(&mut self, sock: Socket) -> Result<SocketId, Errno> {
        let user = sock.owner;
        let share = self.limits.user_share.of(self.limits.max_sockets);
        if self.quota.usage(user).sockets >= share {
            return Err(Errno::EMFILE);
        }
        // The message work list never holds a socket twice: room for all of them.
        let wakes = self.sockets.len().saturating_add(1);
        self.msg_wakes
            .try_reserve(wakes.saturating_sub(self.msg_wakes.len()))
            .map_err(|_| Errno::ENOMEM)?;
        let id = self.sockets.insert(sock)?;
        self.quota
            .adjust(user, |u| u.sockets = u.sockets.saturating_add(1));
        Ok(id)
    }

    /// A socket left the table: its owner's count goes down.
    pub(crate) fn socket_gone(&mut self, owner: UserId) {
        self.quota
            .adjust(owner, |u| u.sockets = u.sockets.saturating_sub(1));
    }

    /// Removes a socket that was never used (a half-made socketpair).
    pub(crate) fn discard_socket(&mut self, id: SocketId) {
        if let Some(sock) = self.sockets.remove(id) {
            self.socket_gone(sock.owner);
        }
    }

    /// The user a socket is charged to.
    pub(crate) fn owner_of(&self, id: SocketId) -> Option<UserId> {
        self.sockets.get(id).map(|s| s.owner)
    }

    /// What the user `sid` holds now (all zero for a user that holds nothing).
    #[must_use]
    pub fn user_usage(&self, sid: &[u8]) -> UserUsage {
        self.quota
            .users
            .iter()
            .flatten()
            .find(|u| u.sid == sid)
            .map(|u| u.usage)
            .unwrap_or_default()
    }

    /// Users that hold something now.
    #[must_use]
    pub fn user_count(&self) -> usize {
        self.quota.users.iter().flatten().count()
    }

    /// Bytes of pending requests' data buffers, over all users.
    #[must_use]
    pub const fn locked_bytes(&self) -> usize {
        self.quota.locked_bytes
    }

    // --- Bytes: queued by a writer, or shown from its blocked send ---

    /// The user whose bytes go into `to`'s queue now: the user already charged for what it
    /// holds, or else the writer's (its peer's) owner. A stream has one writer, so the two
    /// are the same; a queue with no writer (never written into) would be charged to its
    /// own socket's owner, so that every queued byte is someone's.
    pub(crate) fn queue_user(&self, to: SocketId) -> Option<UserId> {
        let sock = self.sockets.get(to)?;
        if !sock.rx.is_empty() {
            return Some(sock.rx_user);
        }
        Some(
            sock.peer()
                .and_then(|p| self.owner_of(p))
                .unwrap_or(sock.owner),
        )
    }

    /// Room for more bytes of `user` under its share and the global cap.
    pub(crate) fn user_room(&self, user: Option<UserId>) -> usize {
        let global = self.global_room();
        let Some(user) = user else {
            return global;
        };
        let share = self.limits.user_share.of(self.limits.global_buffer_cap);
        global.min(share.saturating_sub(self.quota.usage(user).bytes))
    }

    /// `n` bytes went into `to`'s queue, written by `user`.
    pub(crate) fn charge_queued(&mut self, to: SocketId, user: Option<UserId>, n: usize) {
        self.memory_used = self.memory_used.saturating_add(n);
        let (Some(user), Some(sock)) = (user, self.sockets.get_mut(to)) else {
            return;
        };
        sock.rx_user = user;
        self.quota
            .adjust(user, |u| u.bytes = u.bytes.saturating_add(n));
    }

    /// `n` bytes left the queue of a socket whose queued bytes are charged to `user`.
    pub(crate) fn uncharge(&mut self, user: UserId, n: usize) {
        self.memory_used = self.memory_used.saturating_sub(n);
        self.quota.take_bytes(user, n);
    }

    /// Objects `user` has in flight (SCM_RIGHTS).
    pub(crate) fn rights_of(&self, user: UserId) -> usize {
        self.quota.usage(user).rights
    }

    /// `n` more (`up`) or fewer objects of `user` are in flight.
    pub(crate) fn adjust_rights(&mut self, user: UserId, n: usize, up: bool) {
        self.quota.adjust(user, |u| {
            u.rights = if up {
                u.rights.saturating_add(n)
            } else {
                u.rights.saturating_sub(n)
            };
        });
    }

    /// Reserves `n` bytes for what `user`'s blocked send shows its reader.
    pub(crate) fn reserve_exposed(&mut self, user: UserId, n: usize) {
        self.reserved = self.reserved.saturating_add(n);
        self.quota
            .adjust(user, |u| u.bytes = u.bytes.saturating_add(n));
    }

    /// Gives back `n` bytes of such a reservation.
    pub(crate) fn release_exposed(&mut self, user: UserId, n: usize) {
        self.reserved = self.reserved.saturating_sub(n);
        self.quota
            .adjust(user, |u| u.bytes = u.bytes.saturating_sub(n));
    }

    // --- Pending requests ---

    /// Charges a request about to wait as `waiting` to the user of its socket, with the
    /// bytes of its data buffer: ENOBUFS past that user's share, or the global cap, of
    /// pending requests or locked bytes. Released by [`Engine::release_pending`].
    pub(super) fn charge_pending(&mut self, token: Token, waiting: Waiting) -> Result<(), Errno> {
        let (socket, locked) = match waiting {
            Waiting::Recv { socket, slot } => (
                socket,
                self.sockets
                    .get(socket)
                    .and_then(|s| s.recvs.get(slot))
                    .filter(|r| r.token == token)
                    .map_or(0, |r| r.len),
            ),
            Waiting::Send { socket, slot } => (
                socket,
                self.sockets
                    .get(socket)
                    .and_then(|s| s.sends.get(slot))
                    .filter(|p| p.token == token)
                    .map_or(0, |p| p.len),
            ),
            Waiting::MsgSend { socket, slot } => (
                socket,
                self.sockets
                    .get(socket)
                    .and_then(|s| s.msg_sends.get(slot))
                    .filter(|p| p.token == token)
                    .map_or(0, |p| p.len),
            ),
            Waiting::Accept { listener, .. } => (listener, 0),
            Waiting::Connect { connector, .. } => (connector, 0),
        };
        let user = self.owner_of(socket).ok_or(Errno::EBADF)?;
        let usage = self.quota.usage(user);
        let share = self.limits.user_share;
        let locked_total = self.quota.locked_bytes.saturating_add(locked);
        if self.tokens.len() >= self.limits.max_pending
            || usage.pending >= share.of(self.limits.max_pending)
            || locked_total > self.limits.max_locked_bytes
            || usage.locked_bytes.saturating_add(locked) > share.of(self.limits.max_locked_bytes)
        {
            return Err(Errno::ENOBUFS);
        }
        self.quota
            .pending
            .try_insert(token, PendingCharge { user, locked })?;
        self.quota.locked_bytes = locked_total;
        self.quota.adjust(user, |u| {
            u.pending = u.pending.saturating_add(1);
            u.locked_bytes = u.locked_bytes.saturating_add(locked);
        });
        Ok(())
    }

    /// Releases what a pending token was charged (nothing if it was not).
    pub(super) fn release_pending(&mut self, token: Token) {
        let Some(c) = self.quota.pending.remove(&token) else {
            return;
        };
        self.quota.locked_bytes = self.quota.locked_bytes.saturating_sub(c.locked);
        self.quota.adjust(c.user, |u| {
            u.pending = u.pending.saturating_sub(1);
            u.locked_bytes = u.locked_bytes.saturating_sub(c.locked);
        });
    }

    // --- The device's POLLs ---

    /// Charges a POLL about to wait, with `entries` entries, to the caller `sid`: ENOBUFS
    /// past the user's share of `max_polls` waiting POLLs, of `max_entries` entries, or of
    /// pending requests. Release it with [`Engine::release_poll`] when it completes.
    pub fn charge_poll(
        &mut self,
        sid: &[u8],
        entries: usize,
        max_polls: usize,
        max_entries: usize,
    ) -> Result<UserId, Errno> {
        let user = self.quota.find_or_add(sid, self.limits.max_users)?;
        let usage = self.quota.usage(user);
        let share = self.limits.user_share;
        if usage.polls >= share.of(max_polls)
            || usage.poll_entries.saturating_add(entries) > share.of(max_entries)
            || usage.pending >= share.of(self.limits.max_pending)
        {
            self.quota.forget_if_idle(user);
            return Err(Errno::ENOBUFS);
        }
        self.quota.adjust(user, |u| {
            u.polls = u.polls.saturating_add(1);
            u.poll_entries = u.poll_entries.saturating_add(entries);
            u.pending = u.pending.saturating_add(1);
        });
        Ok(user)
    }

    /// Releases a POLL charged by [`Engine::charge_poll`].
    pub fn release_poll(&mut self, user: UserId, entries: usize) {
        self.quota.adjust(user, |u| {
            u.polls = u.polls.saturating_sub(1);
            u.poll_entries = u.poll_entries.saturating_sub(entries);
            u.pending = u.pending.saturating_sub(1);
        });
    }
}
