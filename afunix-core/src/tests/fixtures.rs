//! Fixture builders and `#[track_caller]` helpers.

use alloc::vec;
use alloc::vec::Vec;

use crate::*;

pub(crate) fn cred(pid: u32) -> Credentials {
    Credentials {
        pid,
        sid: vec![1, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0],
    }
}

#[track_caller]
pub(crate) fn ready<T: core::fmt::Debug>(o: Outcome<T>) -> Result<T, Errno> {
    match o {
        Outcome::Ready(r) => r,
        Outcome::Pending => panic!("unexpectedly pending"),
    }
}

pub(crate) struct Fx {
    pub(crate) e: Engine,
    next_token: u64,
}

impl Fx {
    pub(crate) fn new() -> Self {
        Self::with(Limits::default())
    }

    pub(crate) fn with(limits: Limits) -> Self {
        Self {
            e: Engine::new(limits),
            next_token: 100,
        }
    }

    pub(crate) fn token(&mut self) -> Token {
        self.next_token += 1;
        Token(self.next_token)
    }

    /// A connected pair from socketpair.
    pub(crate) fn pair(&mut self) -> (SocketId, SocketId) {
        self.e.socketpair(&cred(1)).unwrap()
    }

    /// A socket bound to abstract `name` and listening with `backlog`.
    pub(crate) fn listening(&mut self, name: &[u8], backlog: i32) -> SocketId {
        let l = self.e.socket().unwrap();
        self.e.bind(l, BindTarget::Abstract(name.to_vec())).unwrap();
        self.e.listen(l, backlog, &cred(10)).unwrap();
        l
    }

    /// client -> listener -> accepted; returns (listener, client, server side).
    pub(crate) fn connected(&mut self) -> (SocketId, SocketId, SocketId) {
        let l = self.listening(b"srv", 5);
        let c = self.e.socket().unwrap();
        let t = self.token();
        ready(
            self.e
                .connect(c, &ConnectTarget::Abstract(b"srv".to_vec()), &cred(20), t),
        )
        .unwrap();
        let s = self.e.socket().unwrap();
        let t = self.token();
        ready(self.e.accept(l, s, t)).unwrap();
        (l, c, s)
    }

    #[track_caller]
    pub(crate) fn send(&mut self, s: SocketId, data: &[u8]) -> Result<usize, Errno> {
        let t = self.token();
        let o = self.e.send(
            s,
            data,
            SendFlags {
                dontwait: true,
                overlapped: false,
            },
            t,
        );
        ready(o)
    }

    #[track_caller]
    pub(crate) fn recv(&mut self, s: SocketId, len: usize) -> Result<Vec<u8>, Errno> {
        self.recv_flags(
            s,
            len,
            RecvFlags {
                dontwait: true,
                ..RecvFlags::default()
            },
        )
    }

    #[track_caller]
    pub(crate) fn recv_flags(
        &mut self,
        s: SocketId,
        len: usize,
        flags: RecvFlags,
    ) -> Result<Vec<u8>, Errno> {
        let t = self.token();
        let mut buf = vec![0; len];
        let o = self.e.recv(s, &mut buf, flags, t);
        let n = ready(o)?;
        buf.truncate(n);
        Ok(buf)
    }

    pub(crate) fn completions(&mut self) -> Vec<Completion> {
        let mut v = Vec::new();
        while let Some(c) = self.e.poll_completion() {
            v.push(c);
        }
        v
    }
}
