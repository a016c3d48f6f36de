//! Where a program would see `afunix` behave otherwise than `std::os::unix::net`: each test
//! pins down std's behaviour on Linux, and on Linux hosts some also run the same calls on
//! std's own sockets and compare.

use std::io::{ErrorKind, IoSlice, IoSliceMut, Read, Write};
use std::net::Shutdown;
use std::time::Duration;

use afunix::{Net, SocketAddr, UnixStream};

#[track_caller]
fn read_now(stream: &UnixStream, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    let n = (&*stream).read(&mut buf).unwrap();
    buf.truncate(n);
    buf
}

mod vectored {
    use super::*;

    #[test]
    fn a_vectored_write_sends_every_buffer() {
        let (a, b) = Net::in_process().pair().unwrap();
        let bufs = [IoSlice::new(b"ab"), IoSlice::new(b""), IoSlice::new(b"cde")];
        assert_eq!((&a).write_vectored(&bufs).unwrap(), 5);
        assert_eq!(read_now(&b, 16), b"abcde");
    }

    #[test]
    fn a_vectored_write_is_one_send_so_a_waiting_reader_gets_it_whole() {
        let (a, b) = Net::in_process().pair().unwrap();
        // A send per buffer would complete the waiting read with the first buffer alone.
        let reader = std::thread::spawn(move || read_now(&b, 64));
        std::thread::sleep(Duration::from_millis(50));
        let bufs = [
            IoSlice::new(b"one "),
            IoSlice::new(b"two "),
            IoSlice::new(b"three"),
        ];
        assert_eq!((&a).write_vectored(&bufs).unwrap(), 13);
        assert_eq!(reader.join().unwrap(), b"one two three");
    }

    #[test]
    fn a_vectored_read_fills_the_buffers_in_order() {
        let (a, b) = Net::in_process().pair().unwrap();
        (&a).write_all(b"0123456789").unwrap();
        let (mut x, mut y, mut z) = ([0u8; 3], [0u8; 0], [0u8; 4]);
        let mut bufs = [
            IoSliceMut::new(&mut x),
            IoSliceMut::new(&mut y),
            IoSliceMut::new(&mut z),
        ];
        assert_eq!((&b).read_vectored(&mut bufs).unwrap(), 7);
        assert_eq!((&x, &z), (b"012", b"3456"));
        let (mut x, mut z) = ([0u8; 2], [0u8; 4]);
        let mut bufs = [IoSliceMut::new(&mut x), IoSliceMut::new(&mut z)];
        assert_eq!((&b).read_vectored(&mut bufs).unwrap(), 3);
        assert_eq!((&x, &z[..1]), (b"78", &b"9"[..]));
    }

    #[test]
    fn a_vectored_read_is_one_receive_so_one_write_spreads_across_the_buffers() {
        let (a, mut b) = Net::in_process().pair().unwrap();
        let reader = std::thread::spawn(move || {
            let (mut x, mut z) = ([0u8; 2], [0u8; 8]);
            let n = b
                .read_vectored(&mut [IoSliceMut::new(&mut x), IoSliceMut::new(&mut z)])
                .unwrap();
            (n, x, z)
        });
        std::thread::sleep(Duration::from_millis(50));
        (&a).write_all(b"hello").unwrap();
        let (n, x, z) = reader.join().unwrap();
        assert_eq!((n, &x, &z[..3]), (5, b"he", &b"llo"[..]));
    }

    #[test]
    fn no_bytes_asked_for_is_zero_without_asking_the_socket() {
        // readv(2) and writev(2) of zero bytes return 0 before the socket is looked at.
        let (a, b) = Net::in_process().pair().unwrap();
        b.set_nonblocking(true).unwrap();
        let mut empty: [IoSliceMut<'_>; 2] = [IoSliceMut::new(&mut []), IoSliceMut::new(&mut [])];
        assert_eq!((&b).read_vectored(&mut empty).unwrap(), 0);
        assert_eq!((&b).read_vectored(&mut []).unwrap(), 0);
        // A plain read of nothing still asks, and would block.
        assert_eq!(
            (&b).read(&mut []).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        a.shutdown(Shutdown::Write).unwrap();
        assert_eq!((&a).write_vectored(&[IoSlice::new(b"")]).unwrap(), 0);
        assert_eq!(
            (&a).write_vectored(&[IoSlice::new(b""), IoSlice::new(b"x")])
                .unwrap_err()
                .kind(),
            ErrorKind::BrokenPipe
        );
    }

    #[test]
    fn at_most_iov_max_buffers_move_in_one_call() {
        let (a, b) = Net::in_process().pair().unwrap();
        let many = vec![IoSlice::new(b"z"); 2000];
        assert_eq!((&a).write_vectored(&many).unwrap(), 1024);
        let mut store = vec![[0u8; 1]; 2000];
        let mut bufs: Vec<IoSliceMut<'_>> = store.iter_mut().map(|b| IoSliceMut::new(b)).collect();
        assert_eq!((&b).read_vectored(&mut bufs).unwrap(), 1024);
    }

    /// The same vectored calls on std's sockets and on ours give the same counts and bytes.
    #[cfg(target_os = "linux")]
    #[test]
    fn vectored_calls_agree_with_std() {
        use std::os::unix::net::UnixStream as StdStream;

        fn run<S>(a: S, b: S) -> Vec<String>
        where
            for<'a> &'a S: Read + Write,
        {
            let mut seen = Vec::new();
            let parts = [
                IoSlice::new(b"ab"),
                IoSlice::new(b""),
                IoSlice::new(b"cdefgh"),
            ];
            seen.push(format!(
                "{:?}",
                (&a).write_vectored(&parts).map_err(|e| e.kind())
            ));
            for sizes in [[1usize, 0, 3], [0, 0, 0], [5, 5, 5]] {
                let mut store: Vec<Vec<u8>> = sizes.iter().map(|&n| vec![0; n]).collect();
                let mut bufs: Vec<IoSliceMut<'_>> =
                    store.iter_mut().map(|v| IoSliceMut::new(v)).collect();
                let n = (&b).read_vectored(&mut bufs).map_err(|e| e.kind());
                seen.push(format!("{n:?} {store:?}"));
            }
            seen
        }
        let (sa, sb) = StdStream::pair().unwrap();
        let (aa, ab) = Net::in_process().pair().unwrap();
        assert_eq!(run(aa, ab), run(sa, sb));
    }
}

mod addresses {
    use super::*;

    #[test]
    fn debug_quotes_abstract_names_as_std_does() {
        let cases: [(&[u8], &str); 5] = [
            (b"\0foo", r#""\0foo" (abstract)"#),
            (b"plain", r#""plain" (abstract)"#),
            ("é".as_bytes(), r#""é" (abstract)"#),
            (b"a\x01\xff\"\\\n'", r#""a\x01\xff\"\\\n\'" (abstract)"#),
            (b"", r#""" (abstract)"#),
        ];
        for (name, debug) in cases {
            let addr = SocketAddr::from_abstract_name(name).unwrap();
            assert_eq!(format!("{addr:?}"), debug);
        }
        let path = SocketAddr::from_pathname("/tmp/sock").unwrap();
        assert_eq!(format!("{path:?}"), r#""/tmp/sock" (pathname)"#);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn debug_of_every_kind_of_address_is_std_s() {
        use std::os::linux::net::SocketAddrExt;
        use std::os::unix::net::SocketAddr as StdAddr;
        let names: [&[u8]; 7] = [
            b"\0",
            b"x\0y\0",
            b"tab\there",
            "ünïcödé\u{301}".as_bytes(),
            b"\xc3(\x80bad",
            b"\x7f\x1b[0m",
            b"",
        ];
        for name in names {
            assert_eq!(
                format!("{:?}", SocketAddr::from_abstract_name(name).unwrap()),
                format!("{:?}", StdAddr::from_abstract_name(name).unwrap()),
                "abstract {name:?}"
            );
        }
        for path in ["/tmp/s", "rel/s", "quote\"nl\n", "é", ""] {
            assert_eq!(
                format!("{:?}", SocketAddr::from_pathname(path).unwrap()),
                format!("{:?}", StdAddr::from_pathname(path).unwrap()),
                "pathname {path:?}"
            );
        }
        let (std_a, _std_b) = std::os::unix::net::UnixStream::pair().unwrap();
        let (a, _b) = Net::in_process().pair().unwrap();
        assert_eq!(
            format!("{:?}", a.local_addr().unwrap()),
            format!("{:?}", std_a.local_addr().unwrap())
        );
    }

    #[test]
    fn the_empty_path_is_the_unnamed_address() {
        let addr = SocketAddr::from_pathname("").unwrap();
        assert!(addr.is_unnamed());
        assert_eq!(addr.as_pathname(), None);
        assert_eq!(format!("{addr:?}"), "(unnamed)");
    }

    #[test]
    fn binding_the_empty_path_autobinds_and_connecting_to_it_is_einval() {
        let net = Net::in_process();
        // unix_bind with only the family: unix_autobind, a five-character abstract name.
        let listener = net.bind("").unwrap();
        let name = listener.local_addr().unwrap();
        assert_eq!(name.as_abstract_name().map(<[u8]>::len), Some(5));
        let client = net.connect_addr(&name).unwrap();
        assert_eq!(client.peer_addr().unwrap(), name);
        assert_eq!(net.connect("").unwrap_err().kind(), ErrorKind::InvalidInput);
    }
}

mod listener {
    use super::*;

    #[test]
    fn incoming_says_it_never_ends() {
        let net = Net::in_process();
        let listener = net
            .bind_addr(&SocketAddr::from_abstract_name("parity-incoming").unwrap())
            .unwrap();
        assert_eq!(listener.incoming().size_hint(), (usize::MAX, None));
        assert_eq!((&listener).into_iter().size_hint(), (usize::MAX, None));
    }
}

mod timeouts {
    use super::*;

    #[test]
    fn the_longest_timeout_waits_rather_than_panicking() {
        // std accepts Duration::MAX; Linux takes a timeout it cannot count to as none.
        let (a, b) = Net::in_process().pair().unwrap();
        a.set_write_timeout(Some(Duration::MAX)).unwrap();
        b.set_read_timeout(Some(Duration::MAX)).unwrap();
        assert_eq!((&a).write(b"now").unwrap(), 3);
        assert_eq!(read_now(&b, 8), b"now");
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            (&a).write_all(b"later").unwrap();
        });
        assert_eq!(read_now(&b, 8), b"later");
        writer.join().unwrap();
    }
}
