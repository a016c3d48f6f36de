//! Objects passed with SCM_RIGHTS, as opaque keys.
//!
//! The device layer owns the objects (the driver: a reference to each); the engine only
//! carries their keys ([`Passed`]) with the messages they were sent with, counts them, and
//! gives every key back exactly once: to the receiver in a [`crate::Received`], or, when the
//! message is dropped, the send fails after the engine took them, or a receiver has no room
//! for them, through [`Engine::poll_released`]. Room in that queue is reserved when a send
//! hands keys in, so giving one back never allocates.
//!
//! What is counted, and the limits:
//!
//! - each user's objects in flight (sent, not yet received or dropped), against
//!   `Limits::max_rights_per_user` (ETOOMANYREFS, Linux's answer past the sender's
//!   `RLIMIT_NOFILE`), and all of them against `Limits::max_rights` (ETOOMANYREFS too);
//! - each object counts [`RIGHT_OVERHEAD`] bytes of its message's charge against the buffer
//!   caps;
//! - at most [`SCM_MAX_FD`] objects per send (EINVAL, as Linux's `scm_fp_copy`).
//!
//! Cycles. A socket in flight whose own queue holds sockets in flight can form a cycle that
//! no user handle reaches (a socket sent into its own queue, two sockets each in the other's
//! queue): Linux collects those with a garbage collector. The engine prevents them instead,
//! by bounding nesting to one level: a send that carries engine sockets is refused with
//! ETOOMANYREFS (Linux's error past its own nesting limit) when
//!
//! - a socket it carries has sockets in flight in its own queue (or, for a listener, in the
//!   queue of a connection waiting to be accepted), or
//! - its destination is itself in flight (or is a connection waiting on a listener in
//!   flight), or is one of the sockets it carries.
//!
//! So a socket in flight never holds sockets in flight, and every socket in flight is
//! released when the socket whose queue holds it closes. Linux accepts some of these sends;
//! the README lists the difference.

use alloc::vec::Vec;

use crate::socket::State;
use crate::{Errno, Passed, SocketId};

use super::{Engine, UserId};

/// The most objects one send may pass (Linux's `SCM_MAX_FD`).
pub const SCM_MAX_FD: usize = 253;

/// What each object in flight counts against the buffer caps, in bytes: the driver's record
/// of it.
pub const RIGHT_OVERHEAD: usize = 64;

/// What a receive got of a message's objects.
pub(crate) struct Taken {
    pub(crate) rights: Vec<Passed>,
    pub(crate) ctrunc: bool,
}

impl Engine {
    /// Objects in flight over all users.
    #[must_use]
    pub const fn rights_in_flight(&self) -> usize {
        self.rights_total
    }

    /// The next object the engine gave up (its message was dropped, its send failed after
    /// taking it, or the receiver had no room for it): the caller releases it.
    pub fn poll_released(&mut self) -> Option<Passed> {
        self.released.pop_front()
    }

    /// Takes back an object the caller cannot release where it is (the driver, above
    /// PASSIVE_LEVEL): it comes out of [`Engine::poll_released`] later. Makes room for it
    /// (fallibly, never in the room kept for the objects in flight); false, the caller keeping
    /// it, if there is none.
    pub fn release_later(&mut self, key: u64) -> bool {
        // The room kept for the objects in flight stays theirs (see `Engine::released`).
        let need = self.rights_total.saturating_add(1);
        if self.released.try_reserve(need).is_err() {
            return false;
        }
        self.released.push_back(Passed { key, socket: None });
        true
    }

    /// What a send passing `rights` from `id` checks before it takes them.
    pub(crate) fn check_rights(&mut self, id: SocketId, rights: &[Passed]) -> Result<(), Errno> {
        if rights.is_empty() {
            return Ok(());
        }
        let n = rights.len();
        if n > SCM_MAX_FD {
            return Err(Errno::EINVAL);
        }
        let user = self.sock(id)?.owner;
        if self.rights_of(user).saturating_add(n) > self.limits.max_rights_per_user
            || self.rights_total.saturating_add(n) > self.limits.max_rights
        {
            return Err(Errno::ETOOMANYREFS);
        }
        for r in rights {
            if let Some(s) = r.socket {
                self.sock(s).map_err(|_| Errno::EBADF)?;
                if self.carries_sockets(s) {
                    return Err(Errno::ETOOMANYREFS);
                }
            }
        }
        let need = self.rights_total.saturating_add(n);
        self.released.try_reserve(need).map_err(|_| Errno::ENOMEM)
    }

    /// Whether `rights` may go into `to`'s queue (see the module's rule on cycles).
    pub(crate) fn check_destination(&self, to: SocketId, rights: &[Passed]) -> Result<(), Errno> {
        let mut sockets = rights.iter().filter_map(|r| r.socket).peekable();
        if sockets.peek().is_none() {
            return Ok(());
        }
        if self.in_flight_socket(to) {
            return Err(Errno::ETOOMANYREFS);
        }
        for s in sockets {
            if s == to || self.carries_sockets(s) {
                return Err(Errno::ETOOMANYREFS);
            }
        }
        Ok(())
    }

    /// Whether `s` is in flight, or waits for accept on a listener in flight.
    fn in_flight_socket(&self, s: SocketId) -> bool {
        let Some(sock) = self.sockets.get(s) else {
            return false;
        };
        if sock.passed > 0 {
            return true;
        }
        match sock.state {
            State::Connected {
                embryo_of: Some(l), ..
            } => self.sockets.get(l).is_some_and(|l| l.passed > 0),
            _ => false,
        }
    }

    /// Whether sockets in flight sit in `s`'s queue, or in the queues of the connections
    /// waiting on it.
    fn carries_sockets(&self, s: SocketId) -> bool {
        let Some(sock) = self.sockets.get(s) else {
            return false;
        };
        sock.carried > 0
            || sock.listener().is_some_and(|l| {
                l.embryos
                    .iter()
                    .any(|e| self.sockets.get(*e).is_some_and(|e| e.carried > 0))
            })
    }

    /// `rights` enter the engine, charged to `user`.
    pub(crate) fn charge_rights(&mut self, user: UserId, rights: &[Passed]) {
        if rights.is_empty() {
            return;
        }
        self.adjust_rights(user, rights.len(), true);
        self.rights_total = self.rights_total.saturating_add(rights.len());
        for s in rights.iter().filter_map(|r| r.socket) {
            if let Some(sock) = self.sockets.get_mut(s) {
                sock.passed = sock.passed.saturating_add(1);
            }
        }
    }

    /// `rights`, charged to `user`, leave the engine.
    pub(crate) fn uncharge_rights(&mut self, user: UserId, rights: &[Passed]) {
        if rights.is_empty() {
            return;
        }
        self.adjust_rights(user, rights.len(), false);
        self.rights_total = self.rights_total.saturating_sub(rights.len());
        for s in rights.iter().filter_map(|r| r.socket) {
            if let Some(sock) = self.sockets.get_mut(s) {
                sock.passed = sock.passed.saturating_sub(1);
            }
        }
    }

    /// `rights` went into (`up`) or left `queue`'s queue.
    pub(crate) fn carry(&mut self, queue: SocketId, rights: &[Passed], up: bool) {
        let k = rights.iter().filter(|r| r.socket.is_some()).count();
        if let Some(sock) = self.sockets.get_mut(queue) {
            sock.carried = if up {
                sock.carried.saturating_add(k)
            } else {
                sock.carried.saturating_sub(k)
            };
        }
    }

    /// `rights`, charged to `user`, are dropped: they leave the engine and go back to the
    /// caller through `poll_released` (room was reserved when they came in).
    pub(crate) fn release_rights(&mut self, user: UserId, rights: Vec<Passed>) {
        self.uncharge_rights(user, &rights);
        for r in rights {
            self.released.push_back(r);
        }
    }

    /// A receive with room for `room` objects takes a message's `rights` (charged to
    /// `user`): the first `room` are the receiver's, the rest are released, and MSG_CTRUNC
    /// says so.
    pub(crate) fn take_rights(
        &mut self,
        user: UserId,
        mut rights: Vec<Passed>,
        room: usize,
    ) -> Taken {
        let ctrunc = rights.len() > room;
        self.uncharge_rights(user, &rights);
        if ctrunc {
            for r in rights.drain(room..) {
                self.released.push_back(r);
            }
        }
        Taken { rights, ctrunc }
    }

    /// What a peeking receive with room for `room` objects reports of `rights`: copies of
    /// the first `room` (the message keeps them all). An allocation failure reports none,
    /// with MSG_CTRUNC.
    pub(crate) fn peek_rights(rights: &[Passed], room: usize) -> Taken {
        let n = rights.len().min(room);
        let mut copy = Vec::new();
        if copy.try_reserve_exact(n).is_err() {
            return Taken {
                rights: Vec::new(),
                ctrunc: !rights.is_empty(),
            };
        }
        copy.extend(rights.iter().take(n).copied());
        Taken {
            ctrunc: rights.len() > n,
            rights: copy,
        }
    }
}
