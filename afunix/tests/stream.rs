//! The library over the in-process transport: what a program sees, with real threads.

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use afunix::{Net, SocketAddr, UnixListener};

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("afunix-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn listening(net: &Net, name: &str) -> (UnixListener, SocketAddr) {
    let addr = SocketAddr::from_abstract_name(name).unwrap();
    (net.bind_addr(&addr).unwrap(), addr)
}

#[test]
fn connect_errors_match_linux() {
    let net = Net::in_process();
    let dir = tempdir("connect-errors");
    // No file: ENOENT.
    let err = net.connect(dir.join("missing")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    // A file that no socket is bound to: ECONNREFUSED.
    std::fs::write(dir.join("plain"), b"").unwrap();
    assert_eq!(
        net.connect(dir.join("plain")).unwrap_err().kind(),
        ErrorKind::ConnectionRefused
    );
    // An abstract name nobody has: ECONNREFUSED.
    let nobody = SocketAddr::from_abstract_name("nobody").unwrap();
    assert_eq!(
        net.connect_addr(&nobody).unwrap_err().kind(),
        ErrorKind::ConnectionRefused
    );
}

#[test]
fn binding_an_existing_name_is_addr_in_use_and_the_file_stays() {
    let net = Net::in_process();
    let dir = tempdir("addr-in-use");
    let path = dir.join("s");
    let first = net.bind(&path).unwrap();
    assert_eq!(net.bind(&path).unwrap_err().kind(), ErrorKind::AddrInUse);
    drop(first);
    assert!(path.exists(), "the socket file outlives the socket");
    // Until someone deletes it, the name stays taken, as on Linux.
    assert_eq!(net.bind(&path).unwrap_err().kind(), ErrorKind::AddrInUse);
    std::fs::remove_file(&path).unwrap();
    net.bind(&path).unwrap();
}

#[test]
fn relative_paths_resolve_against_the_current_directory() {
    let net = Net::in_process();
    let dir = tempdir("relative");
    let absolute = dir.join("rel.sock");
    let relative = absolute
        .strip_prefix(std::env::current_dir().unwrap())
        .map(PathBuf::from)
        .unwrap_or(absolute.clone());
    let listener = net.bind(&relative).unwrap();
    // getsockname reports the path as given, as Linux does.
    assert_eq!(
        listener.local_addr().unwrap().as_pathname(),
        Some(relative.as_path())
    );
    let client = net.connect(&absolute).unwrap();
    assert_eq!(
        client.peer_addr().unwrap().as_pathname(),
        Some(relative.as_path())
    );
}

#[test]
fn a_blocked_reader_is_woken_by_the_writer() {
    let net = Net::in_process();
    let (a, b) = net.pair().unwrap();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 5];
        (&b).read_exact(&mut buf).unwrap();
        buf
    });
    std::thread::sleep(Duration::from_millis(50));
    (&a).write_all(b"wake!").unwrap();
    assert_eq!(&reader.join().unwrap(), b"wake!");
}

#[test]
fn a_blocked_accept_is_woken_by_a_connect() {
    let net = Net::in_process();
    let (listener, addr) = listening(&net, "accept-wakes");
    let server = std::thread::spawn(move || {
        let (stream, peer) = listener.accept().unwrap();
        (stream, peer)
    });
    std::thread::sleep(Duration::from_millis(50));
    let mut client = net.connect_addr(&addr).unwrap();
    let (mut stream, peer) = server.join().unwrap();
    assert!(peer.is_unnamed());
    client.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    stream.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
}

#[test]
fn read_timeouts_expire_without_consuming_anything() {
    let net = Net::in_process();
    let (a, b) = net.pair().unwrap();
    b.set_read_timeout(Some(Duration::from_millis(30))).unwrap();
    assert_eq!(b.read_timeout().unwrap(), Some(Duration::from_millis(30)));
    let start = Instant::now();
    let err = (&b).read(&mut [0u8; 4]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldBlock);
    assert!(start.elapsed() >= Duration::from_millis(30));
    (&a).write_all(b"late").unwrap();
    let mut buf = [0u8; 4];
    (&b).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"late");
    assert_eq!(
        b.set_read_timeout(Some(Duration::ZERO)).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
}

#[test]
fn nonblocking_reads_would_block_and_eof_reads_zero() {
    let net = Net::in_process();
    let (a, b) = net.pair().unwrap();
    b.set_nonblocking(true).unwrap();
    assert_eq!(
        (&b).read(&mut [0u8; 4]).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    a.shutdown(Shutdown::Write).unwrap();
    assert_eq!((&b).read(&mut [0u8; 4]).unwrap(), 0);
    // Writing after our own SHUT_WR is EPIPE.
    assert_eq!((&a).write(b"x").unwrap_err().kind(), ErrorKind::BrokenPipe);
}

#[test]
fn closing_with_unread_data_resets_the_peer() {
    let net = Net::in_process();
    let (a, b) = net.pair().unwrap();
    (&a).write_all(b"unread").unwrap();
    drop(b);
    // unix_release_sock: the peer of a socket closed with unread data sees ECONNRESET.
    assert_eq!(
        (&a).read(&mut [0u8; 4]).unwrap_err().kind(),
        ErrorKind::ConnectionReset
    );
}

#[test]
fn try_clone_shares_the_socket_and_its_timeouts() {
    let net = Net::in_process();
    let (a, b) = net.pair().unwrap();
    let b2 = b.try_clone().unwrap();
    b2.set_read_timeout(Some(Duration::from_millis(10)))
        .unwrap();
    assert_eq!(b.read_timeout().unwrap(), Some(Duration::from_millis(10)));
    (&a).write_all(b"12").unwrap();
    let mut one = [0u8; 1];
    (&b).read_exact(&mut one).unwrap();
    (&b2).read_exact(&mut one).unwrap();
    assert_eq!(&one, b"2");
    // The socket stays open while a clone does.
    drop(b);
    (&a).write_all(b"3").unwrap();
    (&b2).read_exact(&mut one).unwrap();
    assert_eq!(&one, b"3");
}

#[test]
fn peer_credentials_name_this_process() {
    let net = Net::in_process();
    let (listener, addr) = listening(&net, "cred");
    let client = net.connect_addr(&addr).unwrap();
    let (server, _) = listener.accept().unwrap();
    for side in [&client, &server] {
        let cred = side.peer_cred().unwrap();
        assert_eq!(cred.pid, std::process::id());
        assert!(!cred.sid.is_empty());
    }
}

#[test]
fn abstract_and_autobound_names_are_reported() {
    let net = Net::in_process();
    let (listener, addr) = listening(&net, "with\0nul");
    assert_eq!(
        listener.local_addr().unwrap().as_abstract_name(),
        Some(&b"with\0nul"[..])
    );
    let client = net.connect_addr(&addr).unwrap();
    assert!(client.local_addr().unwrap().is_unnamed());
    assert_eq!(client.peer_addr().unwrap(), addr);
}

#[test]
fn many_megabytes_between_threads_arrive_intact_and_in_order() {
    let net = Net::in_process();
    let (a, b) = net.pair().unwrap();
    const TOTAL: usize = 8 << 20;
    let writer = std::thread::spawn(move || {
        let mut sent = 0usize;
        let mut chunk = vec![0u8; 7001];
        while sent < TOTAL {
            let n = chunk.len().min(TOTAL - sent);
            for (i, byte) in chunk[..n].iter_mut().enumerate() {
                *byte = ((sent + i) % 251) as u8;
            }
            (&a).write_all(&chunk[..n]).unwrap();
            sent += n;
        }
    });
    let mut received = 0usize;
    let mut buf = vec![0u8; 65536];
    while received < TOTAL {
        let n = (&b).read(&mut buf).unwrap();
        assert!(n > 0, "early EOF at {received}");
        for (i, byte) in buf[..n].iter().enumerate() {
            assert_eq!(*byte, ((received + i) % 251) as u8, "byte {}", received + i);
        }
        received += n;
    }
    writer.join().unwrap();
    assert_eq!(received, TOTAL);
}

#[cfg(unix)]
#[test]
fn connecting_needs_write_permission_on_the_socket_file() {
    use std::os::unix::fs::PermissionsExt;
    let net = Net::in_process();
    let dir = tempdir("perm");
    let path = dir.join("s");
    let _listener = net.bind(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    let result = net.connect(&path);
    // Root may write anything (as on Linux, where root's connect succeeds here too).
    if is_root() {
        assert!(result.is_ok());
    } else {
        assert_eq!(result.unwrap_err().kind(), ErrorKind::PermissionDenied);
    }
}

#[cfg(unix)]
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

#[test]
fn connecting_a_connected_socket_is_eisconn_when_the_name_listens() {
    use afunix::Errno;
    let net = Net::in_process();
    let listener = net.socket().unwrap();
    // Failed requests first leave no trace on the socket.
    assert_eq!(listener.getpeername().map(drop), Err(Errno::ENOTCONN));
    assert_eq!(listener.send(b"x", 0), Err(Errno::ENOTCONN));
    assert_eq!(listener.accept().map(drop), Err(Errno::EINVAL));
    assert_eq!(listener.shutdown(7), Err(Errno::EINVAL));
    let (a, b) = (net.socket().unwrap(), net.socket().unwrap());
    a.pair_with(&b).unwrap();
    assert_eq!(a.listen(1), Err(Errno::EINVAL));
    let addr = SocketAddr::from_abstract_name("eisconn")
        .unwrap()
        .to_sockaddr_bytes();
    listener.bind_raw(&addr).unwrap();
    assert_eq!(listener.bind_raw(&addr), Err(Errno::EINVAL));
    // unix_stream_connect finds the peer first: not listening yet, so refused.
    assert_eq!(a.connect_raw(&addr), Err(Errno::ECONNREFUSED));
    listener.listen(1).unwrap();
    assert_eq!(a.connect_raw(&addr), Err(Errno::EISCONN));
}

#[test]
fn poll_with_a_timeout_reports_nothing_ready_when_the_time_is_up() {
    let net = Net::in_process();
    let (a, b) = (net.socket().unwrap(), net.socket().unwrap());
    a.pair_with(&b).unwrap();
    let start = Instant::now();
    assert_eq!(afunix::RawSocket::poll(&[(&b, 0x1)], 40), Ok(vec![0]));
    assert!(start.elapsed() >= Duration::from_millis(40));
    a.send(b"x", 0).unwrap();
    assert_eq!(afunix::RawSocket::poll(&[(&b, 0x1)], 1000), Ok(vec![0x1]));
}
