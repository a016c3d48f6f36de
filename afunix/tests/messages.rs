//! Datagram and seqpacket sockets through the library (the in-process engine): what a
//! program would notice beyond what `datagram_parity.rs` compares with std.

use std::io::{ErrorKind, IoSlice, IoSliceMut};
use std::net::Shutdown;
use std::thread;
use std::time::Duration;

use afunix::{Net, SocketAddr, UnixDatagram, UnixSeqpacketConn};

fn fresh_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("afunix-msg-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Sends on `from` until the receiver's queue refuses more (non-blocking): how many went.
fn fill(from: &UnixDatagram, message: &[u8]) -> usize {
    from.set_nonblocking(true).unwrap();
    let mut sent = 0;
    loop {
        match from.send(message) {
            Ok(n) => {
                assert_eq!(n, message.len());
                sent += 1;
            }
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::WouldBlock, "{e}");
                break;
            }
        }
        assert!(sent < 100_000, "the receiver never filled");
    }
    from.set_nonblocking(false).unwrap();
    sent
}

mod datagram {
    use super::*;

    #[test]
    fn peek_leaves_the_message_and_peek_from_names_its_sender() {
        let net = Net::in_process();
        let dir = fresh_dir("peek");
        let a = net.bind_datagram(dir.join("a")).unwrap();
        let b = net.bind_datagram(dir.join("b")).unwrap();
        b.send_to(b"look twice", dir.join("a")).unwrap();
        let mut buf = [0u8; 4];
        assert_eq!(a.peek(&mut buf).unwrap(), 4);
        assert_eq!(&buf, b"look");
        let (n, from) = a.peek_from(&mut buf).unwrap();
        assert_eq!((n, from.as_pathname()), (4, Some(dir.join("b").as_path())));
        let mut all = [0u8; 32];
        assert_eq!(a.recv(&mut all).unwrap(), 10);
        assert_eq!(&all[..10], b"look twice");
        a.set_nonblocking(true).unwrap();
        assert_eq!(a.peek(&mut all).unwrap_err().kind(), ErrorKind::WouldBlock);
    }

    #[test]
    fn a_receiver_that_waits_gets_the_whole_message_and_its_sender() {
        let net = Net::in_process();
        let name = SocketAddr::from_abstract_name("msg-wait").unwrap();
        let a = net.bind_datagram_addr(&name).unwrap();
        let sender = net.unbound_datagram().unwrap();
        let reader = thread::spawn(move || {
            let mut buf = [0u8; 64];
            let (n, from) = a.recv_from(&mut buf).unwrap();
            (buf[..n].to_vec(), from.is_unnamed())
        });
        thread::sleep(Duration::from_millis(50));
        sender.send_to_addr(b"late message", &name).unwrap();
        assert_eq!(reader.join().unwrap(), (b"late message".to_vec(), true));
    }

    #[test]
    fn a_full_receiver_blocks_its_sender_until_it_reads() {
        let net = Net::in_process();
        let (a, b) = net.datagram_pair().unwrap();
        let sent = fill(&a, &[7u8; 1000]);
        assert!(sent > 0);
        // Blocking now: the send waits for room rather than failing or dropping.
        let writer = thread::spawn(move || {
            a.send(b"the last one").unwrap();
            a
        });
        thread::sleep(Duration::from_millis(100));
        assert!(
            !writer.is_finished(),
            "a send to a full receiver did not wait"
        );
        let mut buf = [0u8; 2000];
        assert_eq!(b.recv(&mut buf).unwrap(), 1000);
        let _a = writer.join().unwrap();
        for _ in 1..sent {
            assert_eq!(b.recv(&mut buf).unwrap(), 1000);
            assert_eq!(buf[..1000], [7u8; 1000]);
        }
        assert_eq!(b.recv(&mut buf).unwrap(), 12);
        assert_eq!(&buf[..12], b"the last one");
    }

    #[test]
    fn a_send_that_waits_for_room_times_out() {
        let net = Net::in_process();
        let (a, _b) = net.datagram_pair().unwrap();
        fill(&a, &[1u8; 1000]);
        a.set_write_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        assert_eq!(a.send(b"x").unwrap_err().kind(), ErrorKind::WouldBlock);
    }

    #[test]
    fn a_message_larger_than_the_send_buffer_is_refused_whole() {
        let net = Net::in_process();
        let (a, b) = net.datagram_pair().unwrap();
        let huge = vec![0u8; 4 << 20];
        assert_eq!(
            afunix::errno_of(&a.send(&huge).unwrap_err()),
            Some(afunix::Errno::EMSGSIZE)
        );
        b.set_nonblocking(true).unwrap();
        assert_eq!(
            b.recv(&mut [0u8; 8]).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
    }

    #[test]
    fn a_stream_is_not_reached_through_a_datagram_name() {
        let net = Net::in_process();
        let dir = fresh_dir("prototype");
        let _listener = net.bind(dir.join("stream")).unwrap();
        let d = net.unbound_datagram().unwrap();
        // EPROTOTYPE, as Linux: the file is a socket of another type.
        let err = d.send_to(b"x", dir.join("stream")).unwrap_err();
        assert_eq!(afunix::errno_of(&err), Some(afunix::Errno::EPROTOTYPE));
        assert_eq!(
            afunix::errno_of(&d.connect(dir.join("stream")).unwrap_err()),
            Some(afunix::Errno::EPROTOTYPE)
        );
    }
}

mod seqpacket {
    use super::*;

    #[test]
    fn messages_keep_their_boundaries_and_a_short_buffer_drops_the_rest() {
        let (a, b) = Net::in_process().seqpacket_pair().unwrap();
        assert_eq!(a.send(b"first").unwrap(), 5);
        assert_eq!(a.send(b"second packet").unwrap(), 13);
        assert_eq!(a.send(b"").unwrap(), 0);
        assert_eq!(a.send(b"third").unwrap(), 5);
        let mut big = [0u8; 64];
        assert_eq!(b.recv(&mut big).unwrap(), 5);
        assert_eq!(&big[..5], b"first");
        let mut small = [0u8; 6];
        assert_eq!(b.peek(&mut small).unwrap(), 6);
        assert_eq!(b.recv(&mut small).unwrap(), 6);
        assert_eq!(&small, b"second");
        assert_eq!(b.recv(&mut big).unwrap(), 0);
        assert_eq!(b.recv(&mut big).unwrap(), 5);
        assert_eq!(&big[..5], b"third");
    }

    #[test]
    fn vectored_calls_are_one_message() {
        let (a, b) = Net::in_process().seqpacket_pair().unwrap();
        let parts = [IoSlice::new(b"one "), IoSlice::new(b"message")];
        assert_eq!(a.send_vectored(&parts).unwrap(), 11);
        a.send(b"next").unwrap();
        let (mut x, mut y) = ([0u8; 3], [0u8; 20]);
        let n = b
            .recv_vectored(&mut [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)])
            .unwrap();
        assert_eq!((n, &x, &y[..8]), (11, b"one", &b" message"[..]));
        assert_eq!(b.recv(&mut y).unwrap(), 4);
    }

    #[test]
    fn a_listener_accepts_by_path_and_by_abstract_name() {
        let net = Net::in_process();
        let dir = fresh_dir("seqpacket");
        let path = dir.join("listener");
        let listener = net.bind_seqpacket(&path).unwrap();
        assert_eq!(
            listener.local_addr().unwrap().as_pathname(),
            Some(path.as_path())
        );
        let client = net.connect_seqpacket(&path).unwrap();
        let (server, from) = listener.accept().unwrap();
        assert!(from.is_unnamed());
        assert_eq!(
            client.peer_addr().unwrap().as_pathname(),
            Some(path.as_path())
        );
        client.send(b"ping").unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(server.recv(&mut buf).unwrap(), 4);
        server.send(b"pong!").unwrap();
        assert_eq!(client.recv(&mut buf).unwrap(), 5);
        assert_eq!(server.peer_cred().unwrap().pid, std::process::id());

        let name = SocketAddr::from_abstract_name("msg-seqpacket").unwrap();
        let listener = net.bind_seqpacket_addr(&name).unwrap();
        let client = net.connect_seqpacket_addr(&name).unwrap();
        let (server, _) = listener.accept_unix_addr().unwrap();
        client.send(b"abstract").unwrap();
        assert_eq!(server.recv(&mut buf).unwrap(), 8);
        // A stream cannot reach a seqpacket listener's abstract name: the namespaces differ.
        assert_eq!(
            net.connect_addr(&name).unwrap_err().kind(),
            ErrorKind::ConnectionRefused
        );
    }

    #[test]
    fn the_end_of_the_connection_reads_as_zero_and_sends_fail() {
        let (a, b) = Net::in_process().seqpacket_pair().unwrap();
        a.send(b"last words").unwrap();
        drop(a);
        let mut buf = [0u8; 16];
        assert_eq!(b.recv(&mut buf).unwrap(), 10);
        assert_eq!(b.recv(&mut buf).unwrap(), 0);
        assert_eq!(b.send(b"x").unwrap_err().kind(), ErrorKind::BrokenPipe);
    }

    #[test]
    fn timeouts_nonblocking_and_shutdown() {
        let (a, b): (UnixSeqpacketConn, UnixSeqpacketConn) =
            Net::in_process().seqpacket_pair().unwrap();
        let mut buf = [0u8; 8];
        b.set_read_timeout(Some(Duration::from_millis(30))).unwrap();
        assert_eq!(b.read_timeout().unwrap(), Some(Duration::from_millis(30)));
        assert_eq!(b.recv(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
        assert_eq!(
            b.set_write_timeout(Some(Duration::ZERO))
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidInput
        );
        b.set_read_timeout(None).unwrap();
        b.set_nonblocking(true).unwrap();
        assert_eq!(b.recv(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
        let clone = a.try_clone().unwrap();
        clone.shutdown(Shutdown::Write).unwrap();
        assert_eq!(a.send(b"x").unwrap_err().kind(), ErrorKind::BrokenPipe);
        assert_eq!(b.recv(&mut buf).unwrap(), 0);
        assert!(a.take_error().unwrap().is_none());
    }

    #[test]
    fn a_nonblocking_listener_has_nothing_to_accept() {
        let net = Net::in_process();
        let listener = net
            .bind_seqpacket_addr(&SocketAddr::from_abstract_name("msg-nb").unwrap())
            .unwrap();
        listener.set_nonblocking(true).unwrap();
        assert_eq!(listener.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
        listener.set_nonblocking(false).unwrap();
        listener
            .set_timeout(Some(Duration::from_millis(30)))
            .unwrap();
        assert_eq!(listener.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
    }
}
