//! Fixture builders and `#[track_caller]` helpers.

use alloc::vec;
use alloc::vec::Vec;

use crate::*;

pub(crate) fn cred(pid: u32) -> Credentials {
    Credentials {
        pid,
        sid: vec![1, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0],
        integrity: 0x2000,
        flags: 0,
    }
}

#[track_caller]
pub(crate) fn ready<T: core::fmt::Debug>(o: Outcome<T>) -> Result<T, Errno> {
    match o {
        Outcome::Ready(r) => r,
        Outcome::Pending => panic!("unexpectedly pending"),
    }
}

/// The engine with buffers of its own for every send and recv, by token, and the calls
/// tests make with slices: a send's bytes and a recv's room are the request's buffer while it
/// runs (and while it pends), as the driver's IRPs' pages are. Every other call reaches the
/// engine itself.
///
/// Tokens are reused as the driver reuses IRP addresses: a token is free again once its
/// request is over (ready at once, or its completion drained by [`Fx::completions`], or a
/// pending recv's bytes taken by [`TestEngine::received`]), and [`Fx::token`] hands out the
/// most recently freed first. So a token the engine remembered past its request's end would
/// meet a live request, and the tests would see it.
pub(crate) struct TestEngine {
    pub(crate) inner: Engine,
    pub(crate) bufs: OwnedBuffers,
    pub(crate) free_tokens: Vec<Token>,
}

impl core::ops::Deref for TestEngine {
    type Target = Engine;
    fn deref(&self) -> &Engine {
        &self.inner
    }
}

impl core::ops::DerefMut for TestEngine {
    fn deref_mut(&mut self) -> &mut Engine {
        &mut self.inner
    }
}

impl TestEngine {
    /// `send` of `data`, which becomes request `token`'s buffer.
    pub(crate) fn send(
        &mut self,
        id: SocketId,
        data: &[u8],
        flags: SendFlags,
        token: Token,
    ) -> Outcome<usize> {
        if self.bufs.get(token).is_some() {
            // A token still in use (tests of duplicate tokens): the request never gets a
            // buffer of its own, and its end frees nothing.
            return self
                .inner
                .send(id, data.len(), flags, token, &mut self.bufs);
        }
        self.bufs.insert_send(token, data.to_vec()).unwrap();
        let o = self
            .inner
            .send(id, data.len(), flags, token, &mut self.bufs);
        if !o.is_pending() {
            self.bufs.remove(token);
            self.free_tokens.push(token);
        }
        o
    }

    /// `recv` into `buf`; if it pends, its bytes are in request `token`'s buffer
    /// ([`TestEngine::received`]).
    pub(crate) fn recv(
        &mut self,
        id: SocketId,
        buf: &mut [u8],
        flags: RecvFlags,
        token: Token,
    ) -> Outcome<usize> {
        if self.bufs.get(token).is_some() {
            // A token still in use: as for `send`.
            return self.inner.recv(id, buf.len(), flags, token, &mut self.bufs);
        }
        self.bufs.insert_recv(token, vec![0; buf.len()]).unwrap();
        let o = self.inner.recv(id, buf.len(), flags, token, &mut self.bufs);
        if let Outcome::Ready(r) = &o {
            let own = self.bufs.remove(token).unwrap();
            if let Ok(n) = r {
                // With MSG_TRUNC a message socket reports more than it copied.
                let n = (*n).min(buf.len());
                buf[..n].copy_from_slice(&own[..n]);
            }
            self.free_tokens.push(token);
        }
        o
    }

    /// The first `n` bytes a finished pending recv left in its buffer.
    pub(crate) fn received(&mut self, token: Token, n: usize) -> Vec<u8> {
        let mut own = self.bufs.remove(token).expect("a recv's buffer");
        own.truncate(n);
        self.free_tokens.push(token);
        own
    }

    /// `sendto` of `data` (see [`TestEngine::send`]).
    pub(crate) fn send_to(
        &mut self,
        id: SocketId,
        to: &ConnectTarget,
        data: &[u8],
        flags: SendFlags,
        token: Token,
    ) -> Outcome<usize> {
        self.bufs.insert_send(token, data.to_vec()).unwrap();
        let o = self
            .inner
            .send_to(id, to, data.len(), flags, token, &mut self.bufs);
        if !o.is_pending() {
            self.bufs.remove(token);
            self.free_tokens.push(token);
        }
        o
    }

    /// `recvmsg` into a buffer of `len` bytes: what it reports, and the bytes (see
    /// [`TestEngine::recv`]).
    pub(crate) fn recv_from(
        &mut self,
        id: SocketId,
        len: usize,
        flags: RecvFlags,
        token: Token,
    ) -> Outcome<(Received, Vec<u8>)> {
        self.bufs.insert_recv(token, vec![0; len]).unwrap();
        let o = self.inner.recv_from(id, len, flags, token, &mut self.bufs);
        match o {
            Outcome::Ready(r) => {
                let mut own = self.bufs.remove(token).unwrap();
                self.free_tokens.push(token);
                Outcome::Ready(r.map(|r| {
                    own.truncate(r.copied);
                    (r, own)
                }))
            }
            Outcome::Pending => Outcome::Pending,
        }
    }

    pub(crate) fn shutdown(&mut self, id: SocketId, how: Shutdown) -> Result<(), Errno> {
        self.inner.shutdown(id, how, &mut self.bufs)
    }

    pub(crate) fn close(&mut self, id: SocketId) -> Result<(), Errno> {
        self.inner.close(id, &mut self.bufs)
    }

    pub(crate) fn cancel(&mut self, token: Token) -> bool {
        self.inner.cancel(token, &mut self.bufs)
    }

    pub(crate) fn set_sndbuf(&mut self, id: SocketId, val: i32) -> Result<(), Errno> {
        self.inner.set_sndbuf(id, val, &mut self.bufs)
    }
}

pub(crate) struct Fx {
    pub(crate) e: TestEngine,
    next_token: u64,
}

impl Fx {
    pub(crate) fn new() -> Self {
        Self::with(Limits::default())
    }

    pub(crate) fn with(limits: Limits) -> Self {
        Self {
            e: TestEngine {
                inner: Engine::new(limits),
                bufs: OwnedBuffers::new(),
                free_tokens: Vec::new(),
            },
            next_token: 100,
        }
    }

    /// A token for a new request: the most recently freed one (see [`TestEngine`]), else a
    /// new one.
    pub(crate) fn token(&mut self) -> Token {
        if let Some(t) = self.e.free_tokens.pop() {
            return t;
        }
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

    /// Drains the completions. Their tokens are free again, but for recvs that received
    /// bytes, whose buffer [`TestEngine::received`] takes (and then frees the token).
    pub(crate) fn completions(&mut self) -> Vec<Completion> {
        let mut v = Vec::new();
        while let Some(c) = self.e.poll_completion() {
            let kept = match &c.result {
                Ok(Completed::Received(n)) => *n > 0,
                Ok(Completed::Message(r)) => r.copied > 0,
                _ => false,
            };
            if !kept {
                self.e.bufs.remove(c.token);
                self.e.free_tokens.push(c.token);
            }
            v.push(c);
        }
        v
    }
}
