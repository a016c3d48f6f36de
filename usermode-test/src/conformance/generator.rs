//! Seeded random scenarios.
//!
//! The generator drives an engine backend while it generates, so it knows the topology
//! (which slot is connected to which) and the queue lengths, and keeps every scenario inside
//! what is genuinely comparable with Linux (the [`Guard`] rules). The same rules validate
//! shrunk scenarios, so a reproducer never diverges for a reason the rules exclude.

use super::backend::{Backend, Runner};
use super::engine_backend::EngineBackend;
use afunix_core::SocketId;

use super::scenario::{Addr, Names, Obs, Op, PathForm, SLOTS, SockOpt, SockTy};

/// splitmix64: small, fast, and the same on every platform.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// Seeded.
    #[must_use]
    pub const fn new(seed: u64) -> Self {
        Self(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `p` percent.
    pub fn chance(&mut self, p: u64) -> bool {
        self.below(100) < p
    }

    /// One of `items`.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        let i = usize::try_from(self.below(items.len() as u64)).unwrap_or(0);
        items[i.min(items.len() - 1)]
    }
}

/// Most bytes queued toward one receiver in ordinary steps. Linux's POLLOUT rule
/// (`unix_writable`: wmem_alloc * 4 <= sk_sndbuf) counts skb truesize, which is payload plus
/// several hundred bytes to a few KiB per send; the engine counts payload. Keeping queues this
/// small (and SO_SNDBUF at least 128 KiB) keeps both well under the threshold, so POLLOUT is
/// compared exactly. `Fill` covers the full-buffer paths.
const MAX_QUEUED: usize = 4096;
/// Most sends queued toward one receiver in ordinary steps (see `MAX_QUEUED`).
const MAX_MESSAGES: u32 = 6;
/// The most a datagram sender may have in flight (queued at any receivers), in
/// [`truesize`] estimates: a quarter of the smallest SO_SNDBUF the scenarios keep
/// (2 x 65536), less a margin, so Linux's `unix_writable` and its `sock_alloc_send_pskb`
/// limit (truesize against SO_SNDBUF) never bite in ordinary steps and POLLOUT is compared
/// exactly. The receiver's queue length (`max_dgram_qlen`, full at `> 10` for a receiver
/// not connected back to the sender) is the same count on both sides, so it is left free:
/// small datagrams reach it and its EAGAIN and POLLOUT are compared.
const MAX_DGRAM_INFLIGHT: usize = 30_000;
/// A message size no scenario's SO_SNDBUF takes (`len > sk_sndbuf - 32`: EMSGSIZE). Drawn
/// only when the engine's SO_SNDBUF (compared exactly with Linux's) says it is refused.
pub const OVERSIZE_MSG: u32 = 1 << 20;

/// An upper bound of Linux's skb truesize for a datagram of `len` bytes (measured with
/// SIOCOUTQ on 6.18: 768 for up to 64 bytes, 1280 for 300, 2304 for 1000, 4352 for 2048).
#[must_use]
pub const fn truesize(len: usize) -> usize {
    2 * len + 1024
}

/// `EAGAIN`.
const EAGAIN: i32 = 11;

/// The comparability rules.
#[derive(Debug, Default, Clone)]
pub struct Guard {
    /// Slots whose receive queue was filled by `Fill`: Linux and the engine hold different
    /// byte counts there, so only `Drain` (which does not compare the count) may read it.
    filled: [bool; SLOTS],
    /// Sends from this slot since its peer's queue was last empty.
    messages: [u32; SLOTS],
    /// A message socket that ran `Fill`, and the receiver it filled: Linux stopped it by
    /// truesize against SO_SNDBUF (or the queue length), the engine by payload, so the
    /// sender's own sends, POLLOUT and SO_SNDBUF stay out until that queue is drained.
    msg_filler: [Option<SocketId>; SLOTS],
    /// Datagram sockets' default destinations (`unix_peer`), as connect and socketpair set
    /// them.
    dgram_peer: Vec<(SocketId, SocketId)>,
    /// Datagrams in flight: (sender, receiver, truesize estimate).
    in_flight: Vec<(SocketId, SocketId, usize)>,
}

fn slot(s: u8) -> usize {
    usize::from(s) % SLOTS
}

impl Guard {
    fn peer_slot(r: &Runner<EngineBackend>, s: usize) -> Option<Option<usize>> {
        let b = &r.backend;
        let id = b.id(s)?;
        let peer = b.engine.peer(id).ok().flatten()?;
        Some((0..SLOTS).find(|&t| b.id(t) == Some(peer)))
    }

    fn peer_queued(r: &Runner<EngineBackend>, s: usize) -> usize {
        let b = &r.backend;
        b.id(s)
            .and_then(|id| b.engine.peer(id).ok().flatten())
            .and_then(|p| b.engine.fionread(p).ok())
            .unwrap_or(0)
    }

    fn dgram(r: &Runner<EngineBackend>, s: usize) -> bool {
        r.backend.is_open(s) && r.ty(s) == SockTy::Dgram
    }

    fn message(r: &Runner<EngineBackend>, s: usize) -> bool {
        r.backend.is_open(s) && r.ty(s).is_message()
    }

    fn slot_of(r: &Runner<EngineBackend>, id: SocketId) -> Option<usize> {
        (0..SLOTS).find(|&t| r.backend.id(t) == Some(id))
    }

    /// Where a datagram from slot `s` goes: the named socket, or the default destination;
    /// Err when it is connected somewhere the rules cannot tell (then no send is drawn).
    fn dgram_target(
        &self,
        r: &mut Runner<EngineBackend>,
        s: usize,
        addr: Option<&Addr>,
    ) -> Result<Option<SocketId>, ()> {
        let id = r.backend.id(s).ok_or(())?;
        if let Some(addr) = addr {
            let raw = r.raw_addr(addr);
            // No address (`addr_len` 0) is a plain send, to the peer.
            if !raw.is_empty() {
                return Ok(r.backend.resolve(&raw, SockTy::Dgram));
            }
        }
        match self.dgram_peer.iter().find(|(a, _)| *a == id) {
            Some((_, p)) => Ok(Some(*p)),
            // Not connected as far as the rules know: the engine must agree.
            None if r.backend.engine.getpeername(id).is_err() => Ok(None),
            None => Err(()),
        }
    }

    fn filled_id(&self, r: &Runner<EngineBackend>, id: SocketId) -> bool {
        Self::slot_of(r, id).is_some_and(|t| self.filled[t])
    }

    fn in_flight_from(&self, id: SocketId) -> usize {
        self.in_flight
            .iter()
            .filter(|(from, _, _)| *from == id)
            .map(|(_, _, n)| n)
            .sum()
    }

    /// Whether a message of `len` bytes from slot `s` (to `addr`, else its peer) keeps the
    /// scenario comparable.
    fn message_send_allowed(
        &self,
        r: &mut Runner<EngineBackend>,
        s: usize,
        len: u32,
        addr: Option<&Addr>,
    ) -> bool {
        let Some(id) = r.backend.id(s) else {
            return true; // EBADF
        };
        if self.msg_filler[s].is_some() {
            return false;
        }
        if len == OVERSIZE_MSG {
            // Only where it is refused for its size: else it would fill the queue.
            let sndbuf = r.backend.engine.sndbuf(id).unwrap_or(u32::MAX);
            return u64::from(len) > u64::from(sndbuf).saturating_sub(32);
        }
        if r.ty(s) == SockTy::SeqPacket {
            // Connection-oriented: the stream rules, over the peer's queued bytes.
            if Self::peer_slot(r, s).is_none() {
                return true;
            }
            let queued = Self::peer_queued(r, s);
            let peer_filled = matches!(Self::peer_slot(r, s), Some(Some(p)) if self.filled[p]);
            return !peer_filled
                && queued + len as usize <= MAX_QUEUED
                && self.messages[s] < MAX_MESSAGES;
        }
        let Ok(target) = self.dgram_target(r, s, addr) else {
            return false;
        };
        match target {
            None => true, // refused either way
            Some(t) => {
                !self.filled_id(r, t)
                    && self.in_flight_from(id) + truesize(len as usize) <= MAX_DGRAM_INFLIGHT
            }
        }
    }

    /// Whether `op` keeps the scenario comparable.
    #[must_use]
    pub fn allowed(&self, r: &mut Runner<EngineBackend>, op: &Op) -> bool {
        let filled = |s: u8| self.filled.get(slot(s)).copied().unwrap_or(false);
        match op {
            Op::Send { s, len } if Self::message(r, slot(*s)) => {
                self.message_send_allowed(r, slot(*s), *len, None)
            }
            // Objects travel on message sockets only (a stream refuses them, where Linux's
            // carries them: see the README); on a closed slot both give EBADF.
            Op::SendRights { s, len, .. } => {
                if Self::message(r, slot(*s)) {
                    self.message_send_allowed(r, slot(*s), *len, None)
                } else {
                    !r.backend.is_open(slot(*s))
                }
            }
            Op::SendTo { s, len, addr } if Self::message(r, slot(*s)) => {
                let to = (r.ty(slot(*s)) == SockTy::Dgram).then_some(addr);
                self.message_send_allowed(r, slot(*s), *len, to)
            }
            Op::Fill { s } if Self::message(r, slot(*s)) => {
                let s = slot(*s);
                if self.msg_filler[s].is_some() {
                    return false;
                }
                if r.ty(s) == SockTy::SeqPacket {
                    return !matches!(Self::peer_slot(r, s), Some(None));
                }
                // Toward a socket in a slot (so Drain can empty it), or refused at once.
                matches!(self.dgram_target(r, s, None), Ok(None))
                    || matches!(self.dgram_target(r, s, None), Ok(Some(t)) if Self::slot_of(r, t).is_some() && !self.filled_id(r, t))
            }
            // POLLOUT and SO_SNDBUF of a message socket that filled a queue (see
            // `msg_filler`).
            Op::Poll { s }
            | Op::SetOpt {
                s,
                opt: SockOpt::SndBuf,
                ..
            } if self.msg_filler[slot(*s)].is_some() => false,
            Op::Send { s, len } => {
                let s = slot(*s);
                if Self::peer_slot(r, s).is_none() {
                    return true; // not connected, or the peer is gone: an error either way
                }
                if *len == OVERSIZE_MSG {
                    return false;
                }
                let queued = Self::peer_queued(r, s);
                let peer_filled = matches!(Self::peer_slot(r, s), Some(Some(p)) if self.filled[p]);
                peer_filled
                    || (queued + *len as usize <= MAX_QUEUED
                        && self.messages.get(s).copied().unwrap_or(0) < MAX_MESSAGES)
            }
            Op::Recv { s, .. } | Op::RecvFrom { s, .. } | Op::Fionread { s } => !filled(*s),
            Op::RecvRights { s, .. } => {
                !filled(*s) && (Self::message(r, slot(*s)) || !r.backend.is_open(slot(*s)))
            }
            // Filling toward an embryo would leave a filled queue no slot owns yet.
            Op::Fill { s } => !matches!(Self::peer_slot(r, slot(*s)), Some(None)),
            // A writer whose peer's queue was filled holds Linux's and the engine's different
            // byte counts (truesize against payload): a new SO_SNDBUF would flip POLLOUT at
            // different points, so it waits until that queue is drained.
            Op::SetOpt {
                s,
                opt: SockOpt::SndBuf,
                val,
            } => {
                let peer_filled =
                    matches!(Self::peer_slot(r, slot(*s)), Some(Some(p)) if self.filled[p]);
                (*val < 0 || *val >= 65536) && !peer_filled
            }
            // Accepting into a filled slot replaces it; fine. Everything else compares exactly.
            _ => true,
        }
    }

    /// Runs `op` on the engine runner and updates the rules' state.
    pub fn run(&mut self, r: &mut Runner<EngineBackend>, op: &Op) {
        let target = self.before(r, op);
        let obs = r.step(op);
        self.after(r, op, &obs, target);
    }

    /// What the rules must know before `op` runs: a datagram's receiver.
    #[must_use]
    pub fn before(&self, r: &mut Runner<EngineBackend>, op: &Op) -> Option<SocketId> {
        match op {
            Op::Send { s, .. } | Op::SendRights { s, .. } | Op::Fill { s }
                if Self::dgram(r, slot(*s)) =>
            {
                self.dgram_target(r, slot(*s), None).ok().flatten()
            }
            Op::SendTo { s, addr, .. } | Op::Connect { s, addr } if Self::dgram(r, slot(*s)) => {
                self.dgram_target(r, slot(*s), Some(addr)).ok().flatten()
            }
            _ => None,
        }
    }

    /// Updates the rules' state after `op` ran on the engine runner and observed `obs`;
    /// `target` is what [`Guard::before`] said.
    pub fn after(
        &mut self,
        r: &Runner<EngineBackend>,
        op: &Op,
        obs: &Obs,
        target: Option<SocketId>,
    ) {
        let ok = !matches!(obs, Obs::Err(_));
        match op {
            Op::Fill { s } => {
                let s = slot(*s);
                if Self::message(r, s) {
                    let to = if r.ty(s) == SockTy::Dgram {
                        target
                    } else {
                        r.backend
                            .id(s)
                            .and_then(|id| r.backend.engine.peer(id).ok().flatten())
                    };
                    if let Some(t) = to {
                        if let Some(p) = Self::slot_of(r, t) {
                            self.filled[p] = true;
                        }
                        self.msg_filler[s] = Some(t);
                    }
                } else if let Some(Some(p)) = Self::peer_slot(r, s) {
                    self.filled[p] = true;
                }
            }
            Op::Send { s, len } | Op::SendTo { s, len, .. } | Op::SendRights { s, len, .. } => {
                let s = slot(*s);
                if let Some(m) = self.messages.get_mut(s) {
                    *m += 1;
                }
                if let (true, true, Some(t), Some(id)) =
                    (ok, Self::dgram(r, s), target, r.backend.id(s))
                {
                    self.in_flight.push((id, t, truesize(*len as usize)));
                }
            }
            Op::Recv { s, peek: false, .. }
            | Op::RecvFrom { s, peek: false, .. }
            | Op::RecvRights { s, peek: false, .. }
                if ok =>
            {
                if let Some(id) = r.backend.id(slot(*s)) {
                    if let Some(i) = self.in_flight.iter().position(|m| m.1 == id) {
                        self.in_flight.remove(i);
                    }
                }
            }
            Op::Connect { s, addr } if ok && Self::dgram(r, slot(*s)) => {
                if let Some(id) = r.backend.id(slot(*s)) {
                    self.dgram_peer.retain(|(a, _)| *a != id);
                    if let (false, Some(t)) = (*addr == Addr::Unspec, target) {
                        self.dgram_peer.push((id, t));
                    }
                }
            }
            Op::SocketPair {
                a,
                b,
                ty: SockTy::Dgram,
            } if ok => {
                if let (Some(x), Some(y)) = (r.backend.id(slot(*a)), r.backend.id(slot(*b))) {
                    self.dgram_peer.push((x, y));
                    self.dgram_peer.push((y, x));
                }
            }
            _ => {}
        }
        match op {
            // Only a drain that ended at an empty queue (EAGAIN) or the end of file empties
            // it: one ended by a pending error (ECONNRESET) read nothing, and the filled
            // queue, with its different byte counts, is still there.
            Op::Drain { s }
                if matches!(
                    obs,
                    Obs::Drain {
                        end: 0 | EAGAIN,
                        ..
                    }
                ) =>
            {
                self.filled[slot(*s)] = false;
                if let Some(id) = r.backend.id(slot(*s)) {
                    self.in_flight.retain(|m| m.1 != id);
                }
            }
            Op::Close { s } | Op::Socket { s, .. } => {
                self.filled[slot(*s)] = false;
                self.msg_filler[slot(*s)] = None;
            }
            // The runner rejects a == b (and l == into) without touching either slot.
            Op::SocketPair { a, b, .. } if slot(*a) != slot(*b) => {
                for s in [slot(*a), slot(*b)] {
                    self.filled[s] = false;
                    self.msg_filler[s] = None;
                }
            }
            // The runner replaces `into` only when `l` is open (else EBADF first).
            Op::Accept { l, into } if slot(*l) != slot(*into) && r.backend.is_open(slot(*l)) => {
                self.filled[slot(*into)] = false;
                self.msg_filler[slot(*into)] = None;
            }
            _ => {}
        }
        // Sockets that are gone: their queues went with them, and a number may come back
        // for a new socket.
        let live = |id: &SocketId| Self::slot_of(r, *id).is_some();
        self.in_flight.retain(|(a, b, _)| live(a) && live(b));
        self.dgram_peer.retain(|(a, _)| live(a));
        for s in 0..SLOTS {
            if let Some(t) = self.msg_filler[s] {
                // The filled queue was drained, or its socket is gone.
                if Self::slot_of(r, t).is_none_or(|p| !self.filled[p]) {
                    self.msg_filler[s] = None;
                }
            }
            if Self::peer_queued(r, s) == 0 {
                self.messages[s] = 0;
            }
        }
    }
}

/// Builds scenarios for seeds.
#[derive(Debug)]
pub struct Generator {
    rng: Rng,
    /// Whether message sockets also pass objects (SCM_RIGHTS).
    rights: bool,
}

impl Generator {
    /// For one seed.
    #[must_use]
    pub const fn new(seed: u64) -> Self {
        Self {
            rng: Rng::new(seed),
            rights: false,
        }
    }

    /// For one seed, with SCM_RIGHTS steps on message sockets: sends passing 0 to 5 objects,
    /// and receives with room for 0 to 8 (too little, often), peeking or not.
    #[must_use]
    pub const fn with_rights(seed: u64) -> Self {
        Self {
            rng: Rng::new(seed),
            rights: true,
        }
    }

    fn open_slot(&mut self, r: &Runner<EngineBackend>) -> u8 {
        use super::backend::Backend;
        let open: Vec<u8> = (0..SLOTS as u8)
            .filter(|&s| r.backend.is_open(usize::from(s)))
            .collect();
        if !open.is_empty() && self.rng.chance(90) {
            self.rng.pick(&open)
        } else {
            self.any_slot()
        }
    }

    fn any_slot(&mut self) -> u8 {
        u8::try_from(self.rng.below(SLOTS as u64)).unwrap_or(0)
    }

    fn addr(&mut self, r: &Runner<EngineBackend>, for_bind: bool) -> Addr {
        let n = u8::try_from(self.rng.below(3)).unwrap_or(0);
        match self.rng.below(100) {
            0..=34 => Addr::Path {
                n,
                form: self.rng.pick(&[
                    PathForm::Plain,
                    PathForm::Plain,
                    PathForm::Plain,
                    PathForm::WithNul,
                    PathForm::NulThenJunk,
                    PathForm::Full108,
                    PathForm::Under,
                    PathForm::TrailingSlash,
                ]),
            },
            35..=69 => Addr::Abstract {
                n,
                trailing_nul: self.rng.chance(20),
            },
            70..=79 => {
                if for_bind {
                    Addr::Autobind
                } else {
                    Addr::NameOf {
                        s: self.open_slot(r),
                    }
                }
            }
            80..=91 => Addr::NameOf {
                s: self.open_slot(r),
            },
            92..=93 => Addr::Unspec,
            94 => Addr::Short {
                len: u8::try_from(self.rng.below(3)).unwrap_or(0),
            },
            95..=97 => Addr::BadFamily,
            _ => Addr::Oversize,
        }
    }

    /// A socket type: streams most often, as before; then datagrams, then seqpacket.
    fn ty(&mut self) -> SockTy {
        match self.rng.below(10) {
            0..=4 => SockTy::Stream,
            5..=7 => SockTy::Dgram,
            _ => SockTy::SeqPacket,
        }
    }

    /// The data calls of a message socket: sizes that truncate often (the receive sizes are
    /// `Recv`'s: 0, 1, 5, 64, 500, 4096), zero-length messages, one too big for SO_SNDBUF.
    fn message_op(&mut self, r: &Runner<EngineBackend>, s: u8) -> Option<Op> {
        let len = self
            .rng
            .pick(&[0, 0, 1, 7, 64, 64, 300, 1000, 2048, OVERSIZE_MSG]);
        Some(match self.rng.below(100) {
            0..=19 if r.ty(usize::from(s)) == SockTy::Dgram => Op::SendTo {
                s,
                len,
                addr: self.addr(r, false),
            },
            20..=29 => Op::Send { s, len },
            30..=44 => Op::RecvFrom {
                s,
                len: self.rng.pick(&[0, 1, 5, 64, 500, 4096]),
                peek: self.rng.chance(25),
                trunc: self.rng.chance(40),
            },
            45..=49 if r.ty(usize::from(s)) == SockTy::Dgram => Op::Connect {
                s,
                addr: if self.rng.chance(30) {
                    Addr::Unspec
                } else {
                    self.addr(r, false)
                },
            },
            50..=53 => Op::Fionread { s },
            54..=63 if self.rights => Op::SendRights {
                s,
                len: self.rng.pick(&[0, 1, 7, 64, 300]),
                n: self.rng.pick(&[0, 1, 1, 2, 3, 5]),
            },
            64..=75 if self.rights => Op::RecvRights {
                s,
                len: self.rng.pick(&[0, 1, 5, 64, 500]),
                room: self.rng.pick(&[0, 1, 1, 2, 3, 8]),
                peek: self.rng.chance(25),
            },
            _ => return None,
        })
    }

    fn op(&mut self, r: &Runner<EngineBackend>) -> Op {
        let s = self.open_slot(r);
        if r.backend.is_open(usize::from(s)) && r.ty(usize::from(s)).is_message() {
            if let Some(op) = self.message_op(r, s) {
                return op;
            }
        }
        // Addresses on data calls, and the file system under bound names. `sendto` is rare:
        // Winsock ignores its address on a stream, so the replay through the provider stops
        // comparing a scenario at its first one.
        if self.rng.below(200) == 0 {
            return Op::SendTo {
                s,
                len: self.rng.pick(&[0, 1, 64]),
                addr: self.addr(r, false),
            };
        }
        if self.rng.chance(8) {
            let n = u8::try_from(self.rng.below(3)).unwrap_or(0);
            return match self.rng.below(3) {
                0 => Op::RecvFrom {
                    s,
                    len: self.rng.pick(&[0, 1, 5, 64, 500]),
                    peek: self.rng.chance(25),
                    trunc: self.rng.chance(25),
                },
                1 => Op::Unlink { n },
                _ => Op::MakeFile { n },
            };
        }
        match self.rng.below(100) {
            0..=5 => Op::Socket {
                s: self.any_slot(),
                ty: self.ty(),
            },
            6..=10 => Op::SocketPair {
                a: self.any_slot(),
                b: self.any_slot(),
                ty: self.ty(),
            },
            11..=18 => Op::Bind {
                s,
                addr: self.addr(r, true),
            },
            19..=24 => Op::Listen {
                s,
                backlog: self.rng.pick(&[0, 0, 1, 1, 2, 5, 128, -1, 100_000]),
            },
            25..=33 => Op::Connect {
                s,
                addr: self.addr(r, false),
            },
            34..=40 => Op::Accept {
                l: s,
                into: self.any_slot(),
            },
            41..=52 => Op::Send {
                s,
                len: self.rng.pick(&[0, 1, 7, 64, 300, 1000, 2048]),
            },
            53..=62 => Op::Recv {
                s,
                len: self.rng.pick(&[0, 1, 5, 64, 500, 4096]),
                peek: self.rng.chance(25),
                waitall: self.rng.chance(25),
            },
            63..=67 => Op::Shutdown {
                s,
                how: self.rng.pick(&[0, 1, 2, 2, 3, -1]),
            },
            68..=70 => Op::Close { s },
            71..=72 => Op::Recv {
                s,
                len: 64,
                peek: false,
                waitall: false,
            },
            73..=75 => Op::GetSockName { s },
            76..=78 => Op::GetPeerName { s },
            79..=80 => Op::Fionread { s },
            81..=83 => {
                if self.rng.chance(12) {
                    Op::GetLinger { s }
                } else {
                    Op::GetOpt {
                        s,
                        opt: self.rng.pick(&[
                            SockOpt::SndBuf,
                            SockOpt::RcvBuf,
                            SockOpt::Error,
                            SockOpt::Error,
                            SockOpt::Type,
                            SockOpt::Domain,
                            SockOpt::Protocol,
                            SockOpt::PassCred,
                            SockOpt::PassCred,
                            SockOpt::KeepAlive,
                            SockOpt::ReuseAddr,
                        ]),
                    }
                }
            }
            84..=85 => match self.rng.below(10) {
                0..=1 => Op::SetOpt {
                    s,
                    opt: SockOpt::SndBuf,
                    val: self.rng.pick(&[65536, 100_000, 262_144, 1 << 20, -1]),
                },
                2..=3 => Op::SetOpt {
                    s,
                    opt: SockOpt::RcvBuf,
                    val: self.rng.pick(&[0, 1, 1000, 65536, -1, i32::MAX, 1 << 30]),
                },
                // SO_PASSCRED most often: connect autobinds with it, even when it fails.
                4..=5 => Op::SetOpt {
                    s,
                    opt: SockOpt::PassCred,
                    val: self.rng.pick(&[1, 1, 1, 0, 5, -1]),
                },
                6 => Op::SetOpt {
                    s,
                    opt: self.rng.pick(&[SockOpt::KeepAlive, SockOpt::ReuseAddr]),
                    val: self.rng.pick(&[1, 0, 5, -1]),
                },
                7 => Op::SetOpt {
                    s,
                    opt: self.rng.pick(&[
                        SockOpt::Error,
                        SockOpt::Type,
                        SockOpt::Domain,
                        SockOpt::Protocol,
                    ]),
                    val: 1,
                },
                _ => Op::SetLinger {
                    s,
                    onoff: self.rng.pick(&[0, 1, 1, 2, -1]),
                    seconds: self.rng.pick(&[0, 1, 5, 60, 65535, 65536, i32::MAX, -1]),
                },
            },
            86..=93 => Op::Poll { s },
            94..=96 => Op::Fill { s },
            _ => Op::Drain { s },
        }
    }

    /// A scenario of 10 to 80 steps; `names` must be private to this call.
    pub fn scenario(&mut self, names: Names) -> Vec<Op> {
        let len = 10 + self.rng.below(71);
        let mut runner = Runner::new(
            EngineBackend::new(super::engine_backend::linux_limits()),
            names,
        );
        let mut guard = Guard::default();
        let mut ops = Vec::new();
        // Most scenarios start from a listener, a connected client, its accepted peer and a
        // socketpair (streams or seqpacket), or from two datagram sockets, one bound and the
        // other connected to it, and a datagram socketpair: the random steps reach connected
        // states often.
        let mut prologue = Vec::new();
        if self.rng.chance(75) {
            let ty = match self.rng.below(10) {
                0..=4 => SockTy::Stream,
                5..=7 => SockTy::Dgram,
                _ => SockTy::SeqPacket,
            };
            let n = u8::try_from(self.rng.below(3)).unwrap_or(0);
            let addr = match self.rng.below(3) {
                0 => Addr::Path {
                    n,
                    form: PathForm::Plain,
                },
                1 => Addr::Abstract {
                    n,
                    trailing_nul: false,
                },
                _ => Addr::Autobind,
            };
            let target = if addr == Addr::Autobind {
                Addr::NameOf { s: 0 }
            } else {
                addr.clone()
            };
            prologue.extend([Op::Socket { s: 0, ty }, Op::Bind { s: 0, addr }]);
            if ty != SockTy::Dgram {
                prologue.push(Op::Listen {
                    s: 0,
                    backlog: self.rng.pick(&[0, 1, 2, 5]),
                });
            }
            prologue.push(Op::Socket { s: 1, ty });
            // SO_PASSCRED on the listener (the accepted socket has it) or on the client
            // (connect autobinds it).
            for s in [0, 1] {
                if self.rng.chance(15) {
                    prologue.push(Op::SetOpt {
                        s,
                        opt: SockOpt::PassCred,
                        val: 1,
                    });
                }
            }
            if ty == SockTy::Dgram {
                // A named sender half the time (recvfrom then reports it).
                if self.rng.chance(50) {
                    prologue.push(Op::Bind {
                        s: 1,
                        addr: Addr::Autobind,
                    });
                }
                prologue.push(Op::Connect { s: 1, addr: target });
                if self.rng.chance(50) {
                    prologue.push(Op::Socket { s: 2, ty });
                }
            } else {
                prologue.extend([
                    Op::Connect { s: 1, addr: target },
                    Op::Accept { l: 0, into: 2 },
                ]);
            }
            if self.rng.chance(50) {
                let ty = if self.rng.chance(50) { ty } else { self.ty() };
                prologue.push(Op::SocketPair { a: 3, b: 4, ty });
            }
        }
        for op in prologue {
            guard.run(&mut runner, &op);
            ops.push(op);
        }
        for _ in 0..len {
            for _ in 0..20 {
                let op = self.op(&runner);
                if guard.allowed(&mut runner, &op) {
                    guard.run(&mut runner, &op);
                    ops.push(op);
                    break;
                }
            }
        }
        ops
    }
}

/// Whether `ops` obeys the comparability rules (for shrinking).
#[must_use]
pub fn valid(ops: &[Op], names: Names) -> bool {
    let mut runner = Runner::new(
        EngineBackend::new(super::engine_backend::linux_limits()),
        names,
    );
    let mut guard = Guard::default();
    for op in ops {
        if !guard.allowed(&mut runner, op) {
            return false;
        }
        guard.run(&mut runner, op);
    }
    true
}
