//! Two users through the request path: one at each of its limits (sockets, bytes, pending
//! requests, locked bytes, POLLs, the table of users) leaves the other working, and what it
//! lets go is its own again.

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;

use afunix_core::{UserShare, UserUsage};
use afunix_proto::decode::decode;
use afunix_proto::encode;
use afunix_proto::ioctl::{
    IOCTL_AFUNIX_ACCEPT, IOCTL_AFUNIX_BIND, IOCTL_AFUNIX_CONNECT, IOCTL_AFUNIX_LISTEN,
    IOCTL_AFUNIX_POLL, IOCTL_AFUNIX_RECV, IOCTL_AFUNIX_SEND, IOCTL_AFUNIX_SOCKET,
    IOCTL_AFUNIX_SOCKETPAIR,
};
use afunix_proto::wire::MSG_DONTWAIT;
use zerocopy::IntoBytes;

use super::*;
use crate::device::MAX_PENDING_POLL_ENTRIES;
use crate::{Limits, OwnedBuffers};

const A: usize = 0;
const B: usize = 1;
const C: usize = 2;
/// Three users' SIDs (S-1-5-21-...-1001, -1002, -1003 in binary form).
const SIDS: [&[u8]; 3] = [
    &[1, 2, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0, 0xE9, 3, 0, 0],
    &[1, 2, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0, 0xEA, 3, 0, 0],
    &[1, 2, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0, 0xEB, 3, 0, 0],
];
const POLLIN: u32 = 0x1;

/// A front end whose caller is one of three users, switched between requests; abstract
/// names only (no file system).
struct Users {
    device: Device,
    caller: usize,
    next_token: u64,
    next_file: u64,
    bufs: OwnedBuffers,
    /// Completions of pending requests, by token.
    done: BTreeMap<Token, Result<Done, Errno>>,
}

impl Host for Users {
    type SocketFile = ();
    type HandleRef = ();

    fn credentials(&mut self) -> Result<Credentials, Errno> {
        Ok(Credentials {
            pid: 100 + self.caller as u32,
            sid: SIDS[self.caller].to_vec(),
            ..Credentials::default()
        })
    }

    fn secret(&mut self) -> Result<u128, Errno> {
        Ok(7)
    }

    fn create_socket_file(
        &mut self,
        _: afunix_proto::decode::NtPath<'_>,
        _: u128,
        _: afunix_core::SockType,
    ) -> Result<(FileIdentity, ()), FsError> {
        Err(FsError::Other(Errno::EINVAL))
    }

    fn remove_socket_file(&mut self, (): ()) {}

    fn open_socket_file(
        &mut self,
        _: afunix_proto::decode::NtPath<'_>,
    ) -> Result<(FileIdentity, Option<u128>), FsError> {
        Err(FsError::Other(Errno::EINVAL))
    }

    fn reference(
        &mut self,
        handle: u64,
        _: afunix_proto::handle::HandleAccess,
    ) -> Result<(FileId, ()), Errno> {
        Ok((FileId(handle), ()))
    }

    fn with_device<R>(&mut self, f: impl FnOnce(&mut Device) -> R) -> Result<R, Errno> {
        Ok(f(&mut self.device))
    }
}

/// What a request came to: done now, or pending under its token.
#[derive(Debug, PartialEq, Eq)]
enum Got {
    Ok(Done),
    Err(Errno),
    Pending(Token),
}

impl Users {
    fn new(limits: Limits) -> Users {
        Users {
            device: Device::new(limits),
            caller: A,
            next_token: 0,
            next_file: 0,
            bufs: OwnedBuffers::new(),
            done: BTreeMap::new(),
        }
    }

    /// Runs one request as `user`, the whole path a front end runs; `data` is a SEND's
    /// bytes or a RECV's buffer.
    fn request(&mut self, user: usize, file: u64, code: u32, input: &[u8], data: Vec<u8>) -> Got {
        self.caller = user;
        let len = data.len();
        // Room for any reply (an address, an int) beside the data buffer.
        let out_len = if data.is_empty() {
            input.len().max(256)
        } else {
            len
        };
        let request = match decode(code, input, out_len) {
            Ok(r) => r,
            Err(e) => panic!("{e:?}"),
        };
        let mut prepared = match Prepared::new(self, FileId(file), request, len) {
            Ok(p) => p,
            Err(e) => return Got::Err(e),
        };
        self.next_token += 1;
        let token = Token(self.next_token);
        // A RECV's buffer may be written; a SEND's (and any other's) only read.
        if code == afunix_proto::ioctl::IOCTL_AFUNIX_RECV {
            self.bufs.insert_recv(token, data).unwrap();
        } else {
            self.bufs.insert_send(token, data).unwrap();
        }
        let reply = prepared.execute(&mut self.device, token, &mut self.bufs);
        prepared.settle(self, reply.failed());
        self.drain();
        match reply {
            Reply::Ready(Ok(done)) => Got::Ok(done),
            Reply::Ready(Err(e)) => Got::Err(e),
            Reply::Pending => Got::Pending(token),
        }
    }

    fn drain(&mut self) {
        while let Some(c) = self.device.poll_completion() {
            assert!(
                self.done.insert(c.token, c.result).is_none(),
                "completed twice"
            );
        }
    }

    /// A new socket of `user`'s, or the error SOCKET gave.
    fn socket(&mut self, user: usize) -> Result<u64, Errno> {
        self.next_file += 1;
        let file = self.next_file;
        self.device.open(FileId(file)).unwrap();
        match self.request(
            user,
            file,
            IOCTL_AFUNIX_SOCKET,
            encode::socket(1, false).as_bytes(),
            vec![],
        ) {
            Got::Ok(_) => Ok(file),
            Got::Err(e) => {
                self.device.close(FileId(file), &mut self.bufs);
                Err(e)
            }
            Got::Pending(_) => panic!("SOCKET pended"),
        }
    }

    #[track_caller]
    fn pair(&mut self, user: usize) -> (u64, u64) {
        let a = self.socket(user).unwrap();
        let b = self.socket(user).unwrap();
        let got = self.request(
            user,
            a,
            IOCTL_AFUNIX_SOCKETPAIR,
            encode::handle(b).as_bytes(),
            vec![],
        );
        assert_eq!(got, Got::Ok(Done::Ok));
        (a, b)
    }

    fn name(tag: u8) -> Vec<u8> {
        encode::address(&[1, 0, 0, b'q', tag], &[]).unwrap()
    }

    /// A listener of `user`'s at the abstract name `tag`.
    #[track_caller]
    fn listener(&mut self, user: usize, tag: u8) -> u64 {
        let l = self.socket(user).unwrap();
        let name = Self::name(tag);
        assert_eq!(
            self.request(user, l, IOCTL_AFUNIX_BIND, &name, vec![]),
            Got::Ok(Done::Ok)
        );
        let backlog = encode::listen(16);
        assert_eq!(
            self.request(user, l, IOCTL_AFUNIX_LISTEN, backlog.as_bytes(), vec![]),
            Got::Ok(Done::Ok)
        );
        l
    }

    fn connect(&mut self, user: usize, s: u64, tag: u8) -> Got {
        self.request(user, s, IOCTL_AFUNIX_CONNECT, &Self::name(tag), vec![])
    }

    fn accept(&mut self, user: usize, l: u64, into: u64) -> Got {
        self.request(
            user,
            l,
            IOCTL_AFUNIX_ACCEPT,
            encode::handle(into).as_bytes(),
            vec![],
        )
    }

    fn send(&mut self, user: usize, s: u64, flags: u32, data: &[u8]) -> Got {
        let input = encode::data(flags);
        self.request(user, s, IOCTL_AFUNIX_SEND, input.as_bytes(), data.to_vec())
    }

    fn recv(&mut self, user: usize, s: u64, flags: u32, len: usize) -> Got {
        let input = encode::data(flags);
        self.request(user, s, IOCTL_AFUNIX_RECV, input.as_bytes(), vec![0; len])
    }

    fn poll(&mut self, user: usize, on: u64, entries: &[(u64, u32)]) -> Got {
        let input = encode::poll(entries, -1).unwrap();
        self.request(user, on, IOCTL_AFUNIX_POLL, &input, vec![])
    }

    /// `user` connects a new socket to `tag` and the listener's user accepts it: (client,
    /// server).
    #[track_caller]
    fn connection(&mut self, user: usize, listener: (usize, u64), tag: u8) -> (u64, u64) {
        let c = self.socket(user).unwrap();
        assert_eq!(self.connect(user, c, tag), Got::Ok(Done::Ok));
        let s = self.socket(listener.0).unwrap();
        assert!(matches!(
            self.accept(listener.0, listener.1, s),
            Got::Ok(Done::Address(_))
        ));
        (c, s)
    }

    /// `from` sends `data` and `to` receives exactly it.
    #[track_caller]
    fn exchange(&mut self, user: usize, from: u64, to: u64, data: &[u8]) {
        assert_eq!(
            self.send(user, from, 0, data),
            Got::Ok(Done::Count(data.len()))
        );
        let got = self.recv(user, to, 0, data.len());
        let Got::Ok(Done::Count(n)) = got else {
            panic!("recv: {got:?}");
        };
        assert_eq!(n, data.len());
        assert_eq!(&self.bufs.get(Token(self.next_token)).unwrap()[..n], data);
    }

    /// The other user still creates sockets, connects to its own listener and to the first
    /// user's, sends and receives.
    #[track_caller]
    fn still_works(&mut self, user: usize, tag: u8) {
        let (x, y) = self.pair(user);
        self.exchange(user, x, y, b"still here");
        let l = self.listener(user, tag);
        let (c, s) = self.connection(user, (user, l), tag);
        self.exchange(user, c, s, b"over a connection");
        self.exchange(user, s, c, b"and back");
        for f in [x, y, l, c, s] {
            self.close(f);
        }
    }

    fn close(&mut self, file: u64) {
        self.device.close(FileId(file), &mut self.bufs);
        self.drain();
    }

    fn usage(&self, user: usize) -> UserUsage {
        self.device.user_usage(SIDS[user])
    }
}

/// Small caps, each user a half of each.
fn halves() -> Limits {
    Limits {
        max_sockets: 24,
        global_buffer_cap: 64 * 1024,
        max_pending: 16,
        max_locked_bytes: 64 * 1024,
        user_share: UserShare { divisor: 2 },
        max_users: 3,
        ..Limits::default()
    }
}

#[test]
fn a_user_at_its_socket_share_gets_emfile_and_leaves_the_others_theirs() {
    let mut u = Users::new(halves());
    let mut mine = Vec::new();
    let e = loop {
        match u.socket(A) {
            Ok(f) => mine.push(f),
            Err(e) => break e,
        }
    };
    // As RLIMIT_NOFILE gives a process; the global cap (24) stays far.
    assert_eq!(e, Errno::EMFILE);
    assert_eq!(mine.len(), 12);
    assert_eq!(u.usage(A).sockets, 12);
    u.still_works(B, 1);
    // A cannot connect either: the connection's embryo would be A's 13th socket.
    let l = u.listener(B, 2);
    u.close(mine.pop().unwrap());
    let c = u.socket(A).unwrap();
    assert_eq!(u.connect(A, c, 2), Got::Err(Errno::EMFILE));
    // B's listener takes other users' connections all the same.
    let (c2, s2) = u.connection(C, (B, l), 2);
    u.exchange(C, c2, s2, b"from C");
    // What A lets go is A's again.
    u.close(mine.pop().unwrap());
    assert_eq!(u.connect(A, c, 2), Got::Ok(Done::Ok));
    u.close(c);
    for f in mine {
        u.close(f);
    }
    // The connection's embryo still waits in B's backlog, charged to A until B accepts it
    // or closes the listener.
    assert_eq!(u.usage(A).sockets, 1);
    u.close(l);
    assert_eq!(u.usage(A), UserUsage::default());
    for f in [c2, s2] {
        u.close(f);
    }
    assert_eq!(u.device.user_count(), 0);
}

#[test]
fn a_user_at_its_share_of_bytes_leaves_the_others_the_rest() {
    let mut u = Users::new(halves());
    let (a1, a2) = u.pair(A);
    // SO_SNDBUF (212992) would take more: A's share (32 KiB) stops it, as the global cap
    // would, with a partial count and then ENOBUFS.
    let big = vec![7u8; 48 * 1024];
    assert_eq!(
        u.send(A, a1, MSG_DONTWAIT, &big),
        Got::Ok(Done::Count(32 * 1024))
    );
    assert_eq!(u.send(A, a1, MSG_DONTWAIT, b"x"), Got::Err(Errno::ENOBUFS));
    let (a3, _a4) = u.pair(A);
    assert_eq!(u.send(A, a3, MSG_DONTWAIT, b"x"), Got::Err(Errno::ENOBUFS));
    // A blocking send waits, holding nothing more of the engine's memory.
    let Got::Pending(blocked) = u.send(A, a3, 0, &big[..16 * 1024]) else {
        panic!("a blocking send at the share should wait");
    };
    assert_eq!(u.usage(A).bytes, 32 * 1024);
    assert_eq!(u.device.stats().bytes_buffered, 32 * 1024);
    // B has the other half.
    u.still_works(B, 1);
    let (b1, b2) = u.pair(B);
    let half = vec![9u8; 32 * 1024];
    assert_eq!(
        u.send(B, b1, MSG_DONTWAIT, &half),
        Got::Ok(Done::Count(32 * 1024))
    );
    assert_eq!(u.usage(B).bytes, 32 * 1024);
    assert_eq!(u.recv(B, b2, 0, 64 * 1024), Got::Ok(Done::Count(32 * 1024)));
    assert_eq!(u.usage(B).bytes, 0);
    // A reads its bytes: its share is free again.
    assert_eq!(u.recv(A, a2, 0, 64 * 1024), Got::Ok(Done::Count(32 * 1024)));
    assert_eq!(
        u.send(A, a1, MSG_DONTWAIT, b"again"),
        Got::Ok(Done::Count(5))
    );
    for f in [a1, a2, a3, _a4, b1, b2] {
        u.close(f);
    }
    assert!(u.done.contains_key(&blocked));
    assert_eq!(u.device.user_count(), 0);
    assert_eq!(u.device.stats().bytes_buffered, 0);
}

#[test]
fn a_user_at_its_share_of_pending_requests_gets_enobufs_and_the_other_waits_as_usual() {
    let mut u = Users::new(halves());
    let (a1, a2) = u.pair(A);
    let mut waiting = Vec::new();
    for _ in 0..8 {
        match u.recv(A, a2, 0, 16) {
            Got::Pending(t) => waiting.push(t),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(u.usage(A).pending, 8);
    // The 9th would wait: refused, as are an accept and a connect that would wait.
    assert_eq!(u.recv(A, a1, 0, 16), Got::Err(Errno::ENOBUFS));
    let l = u.listener(A, 1);
    let fresh = u.socket(A).unwrap();
    assert_eq!(u.accept(A, l, fresh), Got::Err(Errno::ENOBUFS));
    assert_eq!(u.poll(A, a1, &[(a1, POLLIN)]), Got::Err(Errno::ENOBUFS));
    // What completes at once is not refused.
    assert_eq!(u.recv(A, a1, MSG_DONTWAIT, 16), Got::Err(Errno::EAGAIN));
    // B waits as usual, and its requests complete.
    let (b1, b2) = u.pair(B);
    let Got::Pending(t) = u.recv(B, b2, 0, 16) else {
        panic!("B's recv should wait");
    };
    let Got::Pending(p) = u.poll(B, b1, &[(b1, POLLIN)]) else {
        panic!("B's poll should wait");
    };
    let (lb, into) = (u.listener(B, 2), u.socket(B).unwrap());
    let Got::Pending(acc) = u.accept(B, lb, into) else {
        panic!("B's accept should wait");
    };
    assert_eq!(u.send(B, b1, 0, b"hi"), Got::Ok(Done::Count(2)));
    assert_eq!(u.done.get(&t), Some(&Ok(Done::Count(2))));
    assert_eq!(u.send(B, b2, 0, b"yo"), Got::Ok(Done::Count(2)));
    assert!(matches!(u.done.get(&p), Some(Ok(Done::Polled(_)))));
    let c = u.socket(B).unwrap();
    assert_eq!(u.connect(B, c, 2), Got::Ok(Done::Ok));
    assert!(matches!(u.done.get(&acc), Some(Ok(Done::Address(_)))));
    // A's cancelled requests give their share back.
    for t in waiting.drain(..4) {
        assert!(u.device.cancel(t, &mut u.bufs));
        u.drain();
        assert_eq!(u.done.get(&t), Some(&Err(Errno::ECANCELED)));
    }
    assert_eq!(u.usage(A).pending, 4);
    assert!(matches!(u.accept(A, l, fresh), Got::Pending(_)));
    assert!(matches!(u.poll(A, a1, &[(a1, POLLIN)]), Got::Pending(_)));
    // Closing completes the rest and frees A's share.
    for f in [a1, a2, l, fresh] {
        u.close(f);
    }
    assert_eq!(u.usage(A), UserUsage::default());
}

#[test]
fn a_user_at_its_share_of_locked_bytes_gets_enobufs_for_a_request_that_would_wait() {
    let mut u = Users::new(Limits {
        global_buffer_cap: 1 << 20,
        max_pending: 1024,
        ..halves()
    });
    let (a1, a2) = u.pair(A);
    // A pending RECV's buffer stays locked while it waits: 32 KiB is A's share.
    let Got::Pending(r) = u.recv(A, a2, 0, 32 * 1024) else {
        panic!("should wait");
    };
    assert_eq!(u.usage(A).locked_bytes, 32 * 1024);
    let (a3, a4) = u.pair(A);
    assert_eq!(u.recv(A, a4, 0, 1), Got::Err(Errno::ENOBUFS));
    // A blocking SEND that would have to wait holding its buffer is refused (with nothing
    // queued; one that moved some bytes first would return their count).
    let big = vec![1u8; 300 * 1024];
    assert_eq!(u.send(A, a3, 0, &big), Got::Err(Errno::ENOBUFS));
    assert_eq!(u.usage(A).bytes, 0);
    // B's requests wait, with their buffers.
    let (b1, b2) = u.pair(B);
    let Got::Pending(rb) = u.recv(B, b2, 0, 32 * 1024) else {
        panic!("B's recv should wait");
    };
    assert_eq!(u.usage(B).locked_bytes, 32 * 1024);
    assert_eq!(u.device.engine.locked_bytes(), 64 * 1024);
    assert_eq!(u.send(B, b1, 0, b"data"), Got::Ok(Done::Count(4)));
    assert_eq!(u.done.get(&rb), Some(&Ok(Done::Count(4))));
    assert_eq!(u.usage(B).locked_bytes, 0);
    // A's recv completes and its share is free again.
    assert_eq!(u.send(A, a1, 0, b"data"), Got::Ok(Done::Count(4)));
    assert_eq!(u.done.get(&r), Some(&Ok(Done::Count(4))));
    assert_eq!(u.usage(A).locked_bytes, 0);
    assert!(matches!(u.recv(A, a2, 0, 32 * 1024), Got::Pending(_)));
    for f in [a1, a2, a3, a4, b1, b2] {
        u.close(f);
    }
    assert_eq!(u.device.user_count(), 0);
    assert_eq!(u.device.engine.locked_bytes(), 0);
}

#[test]
fn a_user_at_its_share_of_poll_entries_leaves_the_others_theirs() {
    let mut u = Users::new(Limits {
        max_pending: 1 << 20,
        ..halves()
    });
    let (a1, _a2) = u.pair(A);
    let entries = vec![(a1, POLLIN); 1024];
    let share = MAX_PENDING_POLL_ENTRIES / 2;
    let mut polls = Vec::new();
    for _ in 0..share / 1024 {
        match u.poll(A, a1, &entries) {
            Got::Pending(t) => polls.push(t),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(u.usage(A).poll_entries, share);
    assert_eq!(u.poll(A, a1, &[(a1, POLLIN)]), Got::Err(Errno::ENOBUFS));
    // B's polls wait and complete.
    let (b1, b2) = u.pair(B);
    let Got::Pending(p) = u.poll(B, b1, &vec![(b1, POLLIN); 1024]) else {
        panic!("B's poll should wait");
    };
    assert_eq!(u.send(B, b2, 0, b"!"), Got::Ok(Done::Count(1)));
    assert!(matches!(u.done.get(&p), Some(Ok(Done::Polled(_)))));
    // A's expired poll gives its entries back.
    assert!(u.device.expire(polls[0]));
    u.drain();
    assert!(matches!(u.poll(A, a1, &[(a1, POLLIN)]), Got::Pending(_)));
    for f in [a1, _a2, b1, b2] {
        u.close(f);
    }
    assert_eq!(u.device.user_count(), 0);
}

#[test]
fn the_table_of_users_is_bounded_and_a_user_that_leaves_makes_room() {
    let mut u = Users::new(Limits {
        max_users: 2,
        ..halves()
    });
    let a = u.socket(A).unwrap();
    let b = u.socket(B).unwrap();
    assert_eq!(u.socket(C), Err(Errno::ENOBUFS));
    assert_eq!(u.device.user_count(), 2);
    u.close(a);
    assert_eq!(u.device.user_count(), 1);
    let c = u.socket(C).unwrap();
    u.close(b);
    u.close(c);
    assert_eq!(u.device.user_count(), 0);
}
