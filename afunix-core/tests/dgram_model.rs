//! Datagram sockets against a model: random sends, receives, peeks, connects and
//! disconnects among a few bound datagram sockets, each answer compared with what a plain
//! model of Linux's rules (unix(7), `unix_dgram_sendmsg`, `unix_dgram_recvmsg`,
//! `unix_dgram_connect`) says: which messages each socket holds, in which order, from whom,
//! and which errno each refusal gives.

use std::collections::VecDeque;

use afunix_core::{
    BindTarget, ConnectTarget, Engine, Errno, Limits, MSG_OVERHEAD, Outcome, OwnedBuffers,
    RecvFlags, SendFlags, SockType, SocketId, Token, UnixAddr,
};
use proptest::prelude::*;

const N: usize = 4;

#[derive(Clone, Debug)]
enum Op {
    SendTo { from: usize, to: usize, len: usize },
    Send { from: usize, len: usize },
    Recv { s: usize, room: usize, peek: bool },
    Connect { s: usize, to: usize },
    Disconnect { s: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..N, 0..N, 0..3000usize).prop_map(|(from, to, len)| Op::SendTo { from, to, len }),
        2 => (0..N, 0..3000usize).prop_map(|(from, len)| Op::Send { from, len }),
        4 => (0..N, 0..3000usize, any::<bool>()).prop_map(|(s, room, peek)| Op::Recv { s, room, peek }),
        1 => (0..N, 0..N).prop_map(|(s, to)| Op::Connect { s, to }),
        1 => (0..N).prop_map(|s| Op::Disconnect { s }),
    ]
}

/// One message as the model holds it: who sent it, and its bytes' seed.
#[derive(Clone, Debug, PartialEq)]
struct Msg {
    from: usize,
    len: usize,
    seed: u8,
}

#[derive(Default)]
struct ModelSock {
    queue: VecDeque<Msg>,
    peer: Option<usize>,
    err: Option<Errno>,
}

struct Model {
    socks: [ModelSock; N],
    qlen: usize,
    sndbuf: usize,
}

impl Model {
    /// What `from`'s messages still queued anywhere are charged.
    fn wmem(&self, from: usize) -> usize {
        self.socks
            .iter()
            .flat_map(|s| s.queue.iter())
            .filter(|m| m.from == from)
            .map(|m| m.len + MSG_OVERHEAD)
            .sum()
    }

    fn send(&mut self, from: usize, to: Option<usize>, msg: Msg) -> Result<usize, Errno> {
        if msg.len > self.sndbuf - 32 {
            return Err(Errno::EMSGSIZE);
        }
        if let Some(e) = self.socks[from].err.take() {
            return Err(e);
        }
        if self.wmem(from) >= self.sndbuf {
            return Err(Errno::EAGAIN);
        }
        let to = to.or(self.socks[from].peer).ok_or(Errno::ENOTCONN)?;
        match self.socks[to].peer {
            Some(p) if p != from => return Err(Errno::EPERM),
            _ => {}
        }
        let connected_back = self.socks[to].peer == Some(from);
        if to != from && !connected_back && self.socks[to].queue.len() > self.qlen {
            return Err(Errno::EAGAIN);
        }
        let len = msg.len;
        self.socks[to].queue.push_back(msg);
        Ok(len)
    }

    fn disconnected(&mut self, s: usize, old: usize) {
        if !self.socks[s].queue.is_empty() {
            self.socks[s].queue.clear();
            if self.socks[old].peer == Some(s) {
                self.socks[old].err = Some(Errno::ECONNRESET);
            }
        }
    }

    fn connect(&mut self, s: usize, to: usize) -> Result<(), Errno> {
        match self.socks[to].peer {
            Some(p) if p != s => return Err(Errno::EPERM),
            _ => {}
        }
        let old = self.socks[s].peer.replace(to);
        if let Some(old) = old.filter(|o| *o != to) {
            self.disconnected(s, old);
        }
        Ok(())
    }
}

fn name(i: usize) -> Vec<u8> {
    vec![b'd', b'0' + i as u8]
}

fn bytes(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| seed.wrapping_add(i as u8)).collect()
}

fn run(ops: &[Op]) {
    let limits = Limits::default();
    let mut e = Engine::new(limits.clone());
    let mut bufs = OwnedBuffers::new();
    let ids: Vec<SocketId> = (0..N)
        .map(|i| {
            let id = e.socket_typed(&[], SockType::Dgram).unwrap();
            e.bind(id, BindTarget::Abstract(name(i))).unwrap();
            id
        })
        .collect();
    let mut m = Model {
        socks: Default::default(),
        qlen: limits.max_dgram_qlen as usize,
        sndbuf: limits.sndbuf_default as usize,
    };
    let now = SendFlags {
        dontwait: true,
        overlapped: false,
    };
    for (step, op) in ops.iter().enumerate() {
        let token = Token(step as u64);
        let seed = step as u8;
        match *op {
            Op::SendTo { from, len, .. } | Op::Send { from, len } => {
                let dest = match *op {
                    Op::SendTo { to, .. } => Some(to),
                    _ => None,
                };
                bufs.insert_send(token, bytes(seed, len)).unwrap();
                let got = match dest {
                    Some(to) => {
                        let target = ConnectTarget::Abstract(name(to));
                        e.send_to(ids[from], &target, len, now, token, &mut bufs)
                    }
                    None => e.send(ids[from], len, now, token, &mut bufs),
                };
                bufs.remove(token);
                let want = m.send(from, dest, Msg { from, len, seed });
                assert_eq!(got, Outcome::Ready(want), "step {step}: {op:?}");
            }
            Op::Recv { s, room, peek } => {
                bufs.insert_recv(token, vec![0; room]).unwrap();
                let flags = RecvFlags {
                    peek,
                    dontwait: true,
                    ..RecvFlags::default()
                };
                let got = e.recv_from(ids[s], room, flags, token, &mut bufs);
                let data = bufs.remove(token).unwrap();
                let want = if let Some(err) = m.socks[s].err.take() {
                    Err(err)
                } else if let Some(msg) = m.socks[s].queue.front().cloned() {
                    if !peek {
                        m.socks[s].queue.pop_front();
                    }
                    Ok(msg)
                } else {
                    Err(Errno::EAGAIN)
                };
                match (got, want) {
                    (Outcome::Ready(Ok(r)), Ok(msg)) => {
                        let n = room.min(msg.len);
                        assert_eq!((r.copied, r.len), (n, msg.len), "step {step}: {op:?}");
                        assert_eq!(r.from, Some(UnixAddr::Abstract(name(msg.from))));
                        assert_eq!(data[..n], bytes(msg.seed, msg.len)[..n], "step {step}");
                    }
                    (Outcome::Ready(Err(g)), Err(w)) => assert_eq!(g, w, "step {step}: {op:?}"),
                    (got, want) => panic!("step {step}: {op:?}: engine {got:?}, model {want:?}"),
                }
            }
            Op::Connect { s, to } => {
                let target = ConnectTarget::Abstract(name(to));
                let got = e.connect(ids[s], &target, &Default::default(), token);
                assert_eq!(got, Outcome::Ready(m.connect(s, to)), "step {step}: {op:?}");
            }
            Op::Disconnect { s } => {
                e.disconnect(ids[s]).unwrap();
                if let Some(old) = m.socks[s].peer.take() {
                    m.disconnected(s, old);
                }
            }
        }
        for (i, id) in ids.iter().enumerate() {
            let next = m.socks[i].queue.front().map_or(0, |m| m.len);
            assert_eq!(e.fionread(*id), Ok(next), "step {step}: FIONREAD of {i}");
        }
        assert!(e.poll_completion().is_none(), "nothing waits");
    }
    for id in ids {
        e.close(id, &mut bufs).unwrap();
    }
    assert_eq!((e.socket_count(), e.memory_used()), (0, 0));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn datagram_sockets_follow_the_model(ops in proptest::collection::vec(op(), 1..200)) {
        run(&ops);
    }
}
