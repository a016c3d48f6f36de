//! `usermode-test driver`: the library against the real driver (on Windows, or under Wine).
//! On other systems the same checks run against the library's in-process engine, so one
//! list of behaviours holds for both.
//!
//! Each check is a behaviour a program would notice. The checks print one line each and a
//! closing `N passed, N failed` line; any failure makes the command fail.

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use afunix::{Net, SocketAddr, UnixListener, UnixStream};

type Check = fn(&Net) -> Result<(), String>;

fn checks() -> Vec<(&'static str, Check)> {
    #[cfg_attr(not(windows), allow(unused_mut))]
    let mut checks: Vec<(&'static str, Check)> = vec![
        ("abstract names: bind, connect, accept, echo", abstract_echo),
        (
            "socket files: bind creates, connect finds, names reported",
            pathname_echo,
        ),
        (
            "connect errors: ENOENT, ECONNREFUSED; bind EADDRINUSE",
            errors,
        ),
        (
            "a deleted socket file is gone: rebinding serves the new socket, a file made there refuses",
            deleted_socket_file,
        ),
        (
            "path errors: through a file ENOTDIR, missing ENOENT, trailing slash",
            path_errors,
        ),
        ("socketpair and peer credentials", pair_and_credentials),
        ("non-blocking reads, shutdown and EOF", nonblocking_and_eof),
        (
            "a read timeout cancels the pending read (CancelIoEx)",
            read_timeout,
        ),
        (
            "a blocked reader is woken by a write from another thread",
            wakeup,
        ),
        ("closing with unread data resets the peer", reset),
        ("4 MiB in random-size chunks arrive intact", bulk),
        (
            "POLL with a timeout completes with nothing ready",
            poll_timeout,
        ),
        (
            "a deadline already past still waits for its request to end",
            past_deadline,
        ),
        (
            "malformed requests are refused and the driver keeps serving",
            bad_input,
        ),
        ("requests in the wrong state get Linux's errno", wrong_state),
    ];
    // Handles of other kinds exist only on Windows.
    #[cfg(windows)]
    checks.push((
        "handles that are not the caller's sockets: ENOTSOCK, or POLLNVAL",
        foreign_handles,
    ));
    #[cfg(windows)]
    checks.push((
        "each request needs the access its code declares",
        access_bits,
    ));
    #[cfg(windows)]
    checks.push((
        "credentials come from the token the caller acts with (impersonation)",
        impersonation,
    ));
    #[cfg(windows)]
    checks.push((
        "a named pipe's path: connect ECONNREFUSED and no pipe client, bind EOPNOTSUPP",
        named_pipe_path,
    ));
    #[cfg(windows)]
    checks.push((
        "a blocked 32 MiB write waits in its own pages, not the driver's memory",
        big_write_in_place,
    ));
    #[cfg(windows)]
    checks.push((
        "datagram and seqpacket pairs through raw IOCTLs: boundaries, MSG_TRUNC, FIONREAD",
        message_pairs,
    ));
    #[cfg(windows)]
    checks.push((
        "sockets as handles: into and from OwnedHandle and raw handles, duplicated, lent by the async types",
        handle_conversions,
    ));
    checks
}

/// A socket given up as a handle and taken back, by every conversion, still talks to its
/// peer; a duplicate of its handle is the same socket; the async types lend the same handle.
#[cfg(windows)]
fn handle_conversions(net: &Net) -> Result<(), String> {
    use std::os::windows::io::{AsHandle, AsRawHandle, FromRawHandle, IntoRawHandle, OwnedHandle};

    let (a, b) = net.pair().map_err(fail("pair"))?;
    let raw = a.as_raw_handle();
    if raw != afunix::sys::raw_handle(&a) || a.as_handle().as_raw_handle() != raw {
        return Err("as_raw_handle and as_handle disagree with the socket's handle".into());
    }
    // Through OwnedHandle and back.
    let owned = OwnedHandle::from(a);
    if owned.as_raw_handle() != raw {
        return Err("OwnedHandle::from gave another handle".into());
    }
    let a = UnixStream::from(owned);
    (&a).write_all(b"one")
        .map_err(fail("write after OwnedHandle"))?;
    // Through a raw handle and back.
    let raw_b = b.into_raw_handle();
    // SAFETY:
    // 1. `raw_b` was just given up by `into_raw_handle`, and is taken back once.
    let b = unsafe { UnixStream::from_raw_handle(raw_b) };
    let mut got = [0u8; 3];
    (&b).read_exact(&mut got)
        .map_err(fail("read after from_raw_handle"))?;
    if &got != b"one" {
        return Err(format!("read {got:?}"));
    }
    // A duplicate handle (DuplicateHandle) is the same socket.
    let dup = UnixStream::from(
        b.as_handle()
            .try_clone_to_owned()
            .map_err(fail("duplicate"))?,
    );
    (&a).write_all(b"two").map_err(fail("write"))?;
    (&dup)
        .read_exact(&mut got)
        .map_err(fail("read through the duplicate"))?;
    if &got != b"two" {
        return Err(format!("read {got:?} through the duplicate"));
    }
    // The async types lend the handle of the socket they were made from.
    let async_a = afunix::tokio::UnixStream::from_std(a).map_err(fail("from_std"))?;
    if async_a.as_raw_handle() != raw {
        return Err("the async stream lends another handle".into());
    }
    Ok(())
}

pub fn run(filter: Option<&str>) -> Result<(), String> {
    let net = Net::system();
    let (mut passed, mut failed) = (0, 0);
    for (name, check) in checks() {
        if filter.is_some_and(|f| !name.contains(f)) {
            continue;
        }
        let start = Instant::now();
        match check(&net) {
            Ok(()) => {
                passed += 1;
                println!("PASS  {name} ({} ms)", start.elapsed().as_millis());
            }
            Err(e) => {
                failed += 1;
                println!("FAIL  {name}: {e}");
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        Ok(())
    } else {
        Err(format!("{failed} driver check(s) failed"))
    }
}

fn fail<E: std::fmt::Debug>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{what}: {e:?}")
}

fn unique(name: &str) -> String {
    format!("afunix-{name}-{}-{:?}", std::process::id(), Instant::now())
}

pub fn temp_dir(name: &str) -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("afunix-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(fail("create a temporary directory"))?;
    Ok(dir)
}

fn echo_once(listener: UnixListener, client: UnixStream) -> Result<(), String> {
    let server = std::thread::spawn(move || -> Result<SocketAddr, String> {
        let (stream, peer) = listener.accept().map_err(fail("accept"))?;
        let mut buf = [0u8; 5];
        (&stream)
            .read_exact(&mut buf)
            .map_err(fail("server read"))?;
        buf.make_ascii_uppercase();
        (&stream).write_all(&buf).map_err(fail("server write"))?;
        Ok(peer)
    });
    (&client)
        .write_all(b"hello")
        .map_err(fail("client write"))?;
    let mut reply = [0u8; 5];
    (&client)
        .read_exact(&mut reply)
        .map_err(fail("client read"))?;
    let peer = server
        .join()
        .map_err(|_| "server thread panicked".to_string())??;
    if &reply != b"HELLO" {
        return Err(format!("reply {reply:?}"));
    }
    if !peer.is_unnamed() {
        return Err(format!("accept reported {peer:?} for an unnamed client"));
    }
    Ok(())
}

fn abstract_echo(net: &Net) -> Result<(), String> {
    let addr = SocketAddr::from_abstract_name(unique("abstract")).map_err(fail("address"))?;
    let listener = net.bind_addr(&addr).map_err(fail("bind"))?;
    if listener.local_addr().map_err(fail("getsockname"))? != addr {
        return Err("getsockname differs from the bound name".into());
    }
    let client = net.connect_addr(&addr).map_err(fail("connect"))?;
    if client.peer_addr().map_err(fail("getpeername"))? != addr {
        return Err("getpeername differs from the listener's name".into());
    }
    echo_once(listener, client)
}

fn pathname_echo(net: &Net) -> Result<(), String> {
    let dir = temp_dir("pathname")?;
    let path = dir.join("echo.sock");
    let listener = net.bind(&path).map_err(fail("bind"))?;
    if !path.exists() {
        return Err("bind made no socket file".into());
    }
    let local = listener.local_addr().map_err(fail("getsockname"))?;
    if local.as_pathname() != Some(path.as_path()) {
        return Err(format!("getsockname gave {local:?}"));
    }
    let client = net.connect(&path).map_err(fail("connect"))?;
    echo_once(listener, client)?;
    if !path.exists() {
        return Err("the socket file went away with the socket".into());
    }
    Ok(())
}

fn expect_kind<T: std::fmt::Debug>(
    result: std::io::Result<T>,
    kind: ErrorKind,
    what: &str,
) -> Result<(), String> {
    match result {
        Err(e) if e.kind() == kind => Ok(()),
        other => Err(format!("{what}: expected {kind:?}, got {other:?}")),
    }
}

fn errors(net: &Net) -> Result<(), String> {
    let dir = temp_dir("errors")?;
    expect_kind(
        net.connect(dir.join("missing")),
        ErrorKind::NotFound,
        "connect to a missing file",
    )?;
    std::fs::write(dir.join("plain"), b"").map_err(fail("write a plain file"))?;
    expect_kind(
        net.connect(dir.join("plain")),
        ErrorKind::ConnectionRefused,
        "connect to a plain file",
    )?;
    let path = dir.join("taken");
    let _first = net.bind(&path).map_err(fail("bind"))?;
    expect_kind(
        net.bind(&path),
        ErrorKind::AddrInUse,
        "bind an existing name",
    )?;
    let nobody = SocketAddr::from_abstract_name(unique("nobody")).map_err(fail("address"))?;
    expect_kind(
        net.connect_addr(&nobody),
        ErrorKind::ConnectionRefused,
        "connect to an unbound abstract name",
    )
}

fn deleted_socket_file(net: &Net) -> Result<(), String> {
    let dir = temp_dir("deleted")?;
    let path = dir.join("s");
    let old = net.bind(&path).map_err(fail("bind"))?;
    old.set_nonblocking(true).map_err(fail("set_nonblocking"))?;
    std::fs::remove_file(&path).map_err(fail("delete the socket file"))?;
    // A plain file made at once at the same path (under Wine it often gets the same file
    // ID, the ext4 inode): no socket behind it.
    std::fs::write(&path, b"").map_err(fail("make a plain file"))?;
    expect_kind(
        net.connect(&path),
        ErrorKind::ConnectionRefused,
        "connect to a plain file where a socket file was",
    )?;
    std::fs::remove_file(&path).map_err(fail("delete the plain file"))?;
    let new = net.bind(&path).map_err(fail("bind the path again"))?;
    let client = net
        .connect(&path)
        .map_err(fail("connect to the new socket"))?;
    (&client).write_all(b"new").map_err(fail("write"))?;
    let (mut served, _) = new.accept().map_err(fail("accept on the new socket"))?;
    let mut got = [0u8; 3];
    served.read_exact(&mut got).map_err(fail("read"))?;
    if &got != b"new" {
        return Err(format!("read {got:?}"));
    }
    match old.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(()),
        other => Err(format!(
            "the old listener must have no connection: {other:?}"
        )),
    }
}

fn path_errors(net: &Net) -> Result<(), String> {
    let dir = temp_dir("path-errors")?;
    std::fs::write(dir.join("file"), b"").map_err(fail("make a file"))?;
    std::fs::create_dir(dir.join("d")).map_err(fail("make a directory"))?;
    let errno = |r: std::io::Result<()>| -> Option<afunix::Errno> {
        r.err().and_then(|e| afunix::errno_of(&e))
    };
    let cases: [(&str, bool, afunix::Errno); 6] = [
        ("file/x", true, afunix::Errno::ENOTDIR),
        ("file/x", false, afunix::Errno::ENOTDIR),
        ("missing/x", true, afunix::Errno::ENOENT),
        ("d", true, afunix::Errno::EADDRINUSE),
        ("d", false, afunix::Errno::ECONNREFUSED),
        ("new/", true, afunix::Errno::ENOENT),
    ];
    for (name, bind, want) in cases {
        let path = dir.join(name);
        let got = if bind {
            errno(net.bind(&path).map(|_| ()))
        } else {
            errno(net.connect(&path).map(|_| ()))
        };
        if got != Some(want) {
            let call = if bind { "bind" } else { "connect" };
            return Err(format!("{call} {name}: {got:?}, Linux gives {want:?}"));
        }
    }
    Ok(())
}

fn pair_and_credentials(net: &Net) -> Result<(), String> {
    let (a, b) = net.pair().map_err(fail("pair"))?;
    (&a).write_all(b"x").map_err(fail("write"))?;
    let mut one = [0u8; 1];
    (&b).read_exact(&mut one).map_err(fail("read"))?;
    let cred = b.peer_cred().map_err(fail("peer_cred"))?;
    if cred.pid != std::process::id() {
        return Err(format!(
            "peer pid {} but ours is {}",
            cred.pid,
            std::process::id()
        ));
    }
    if cred.sid.len() < 8 || cred.sid[0] != 1 {
        return Err(format!("peer SID {:?} is not a SID", cred.sid));
    }
    #[cfg(windows)]
    {
        // The driver read the same token this process reads.
        let own = own_integrity().ok_or("this process cannot read its own integrity level")?;
        if cred.integrity != own || cred.app_container || cred.impersonating {
            return Err(format!(
                "peer integrity {:#x} (ours {own:#x}), AppContainer {}, impersonating {}",
                cred.integrity, cred.app_container, cred.impersonating
            ));
        }
    }
    Ok(())
}

/// This process's integrity level (the RID of its token's label), as a program reads it.
#[cfg(windows)]
pub fn own_integrity() -> Option<u32> {
    use windows_sys::Win32::Foundation::{CloseHandle, HANDLE};
    use windows_sys::Win32::Security::{GetTokenInformation, TOKEN_QUERY, TokenIntegrityLevel};
    use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY:
    // 1. GetCurrentProcess has no preconditions (a pseudo-handle).
    let me = unsafe { GetCurrentProcess() };
    // SAFETY:
    // 1. Our own process; `token` is a valid out pointer.
    if unsafe { OpenProcessToken(me, TOKEN_QUERY, &mut token) } == 0 {
        return None;
    }
    // TOKEN_MANDATORY_LABEL: a pointer to the SID, attributes, then the SID (S-1-16-RID).
    let mut buffer = [0u64; 16];
    let mut returned = 0u32;
    // SAFETY:
    // 1. `token` is open for query; `buffer` is writable and 8-aligned for its length.
    let ok = unsafe {
        GetTokenInformation(
            token,
            TokenIntegrityLevel,
            buffer.as_mut_ptr().cast(),
            size_of_val(&buffer) as u32,
            &mut returned,
        )
    };
    // SAFETY:
    // 1. The token handle we opened, closed once.
    unsafe { CloseHandle(token) };
    if ok == 0 {
        return None;
    }
    let bytes: Vec<u8> = buffer.iter().flat_map(|w| w.to_ne_bytes()).collect();
    let sid_at = usize::try_from(buffer[0])
        .ok()?
        .checked_sub(buffer.as_ptr() as usize)?;
    let sid = bytes.get(sid_at..)?;
    let count = usize::from(*sid.get(1)?);
    let last = 8 + 4 * count.checked_sub(1)?;
    Some(u32::from_le_bytes(
        sid.get(last..last + 4)?.try_into().ok()?,
    ))
}

/// Credentials come from the token the caller acts with. A thread impersonating a token at
/// SecurityIdentification (one it may look at, not act as) is refused; a thread
/// impersonating at SecurityImpersonation connects as that token, and the peer sees it was
/// an impersonation.
#[cfg(windows)]
pub fn impersonation(net: &Net) -> Result<(), String> {
    use windows_sys::Win32::Foundation::{CloseHandle, HANDLE};
    use windows_sys::Win32::Security::{
        DuplicateTokenEx, RevertToSelf, SecurityIdentification, SecurityImpersonation,
        TOKEN_ALL_ACCESS, TokenImpersonation,
    };
    use windows_sys::Win32::System::Threading::{
        GetCurrentProcess, OpenProcessToken, SetThreadToken,
    };

    /// Impersonates this process's own token at `level` on this thread until dropped.
    struct Impersonating;
    impl Impersonating {
        fn start(level: i32) -> Result<Impersonating, String> {
            let mut token: HANDLE = std::ptr::null_mut();
            // SAFETY:
            // 1. GetCurrentProcess has no preconditions (a pseudo-handle).
            let me = unsafe { GetCurrentProcess() };
            // SAFETY:
            // 1. Our own process; `token` is a valid out pointer.
            if unsafe { OpenProcessToken(me, TOKEN_ALL_ACCESS, &mut token) } == 0 {
                return Err(format!(
                    "OpenProcessToken: {}",
                    std::io::Error::last_os_error()
                ));
            }
            let mut copy: HANDLE = std::ptr::null_mut();
            // SAFETY:
            // 1. `token` is open for duplication; `copy` is a valid out pointer.
            let ok = unsafe {
                DuplicateTokenEx(
                    token,
                    TOKEN_ALL_ACCESS,
                    std::ptr::null(),
                    level,
                    TokenImpersonation,
                    &mut copy,
                )
            };
            // SAFETY:
            // 1. The token handle we opened, closed once.
            unsafe { CloseHandle(token) };
            if ok == 0 {
                return Err(format!(
                    "DuplicateTokenEx: {}",
                    std::io::Error::last_os_error()
                ));
            }
            // SAFETY:
            // 1. Null names this thread; `copy` is an impersonation token we hold.
            let ok = unsafe { SetThreadToken(std::ptr::null(), copy) };
            // SAFETY:
            // 1. The thread keeps its own reference; ours is closed once.
            unsafe { CloseHandle(copy) };
            if ok == 0 {
                return Err(format!(
                    "SetThreadToken: {}",
                    std::io::Error::last_os_error()
                ));
            }
            Ok(Impersonating)
        }
    }
    impl Drop for Impersonating {
        fn drop(&mut self) {
            // SAFETY:
            // 1. Ends this thread's impersonation; no preconditions.
            unsafe { RevertToSelf() };
        }
    }

    let listener = net.socket().map_err(fail("socket"))?;
    let name = SocketAddr::from_abstract_name(unique("imp")).map_err(fail("addr"))?;
    listener
        .bind_raw(&name.to_sockaddr_bytes())
        .map_err(|e| format!("bind: {e}"))?;
    listener.listen(4).map_err(|e| format!("listen: {e}"))?;

    {
        let client = net.socket().map_err(fail("socket"))?;
        let (a, b) = (
            net.socket().map_err(fail("socket"))?,
            net.socket().map_err(fail("socket"))?,
        );
        let _identifying = Impersonating::start(SecurityIdentification)?;
        let expect_eacces = |what: &str, got: Result<(), afunix::Errno>| match got {
            Err(afunix::Errno::EACCES) => Ok(()),
            other => Err(format!(
                "{what} while impersonating at SecurityIdentification: expected EACCES, got \
                 {other:?}"
            )),
        };
        expect_eacces(
            "socket",
            net.socket()
                .map(drop)
                .map_err(|e| afunix::errno_of(&e).unwrap_or(afunix::Errno::EINVAL)),
        )?;
        expect_eacces("connect", client.connect_raw(&name.to_sockaddr_bytes()))?;
        expect_eacces("socketpair", a.pair_with(&b))?;
    }
    let client = {
        let _acting = Impersonating::start(SecurityImpersonation)?;
        let client = net.socket().map_err(fail("socket"))?;
        client
            .connect_raw(&name.to_sockaddr_bytes())
            .map_err(|e| format!("connect while impersonating: {e}"))?;
        client
    };
    let (server, _) = listener.accept().map_err(|e| format!("accept: {e}"))?;
    let cred = server.peer_cred().map_err(fail("peer_cred"))?;
    if !cred.impersonating || cred.pid != std::process::id() {
        return Err(format!(
            "the server sees pid {} impersonating {} (expected ours, true)",
            cred.pid, cred.impersonating
        ));
    }
    // After RevertToSelf the same thread acts as its process again.
    let again = net.socket().map_err(fail("socket"))?;
    again
        .connect_raw(&name.to_sockaddr_bytes())
        .map_err(|e| format!("connect after reverting: {e}"))?;
    let (server2, _) = listener.accept().map_err(|e| format!("accept: {e}"))?;
    let cred = server2.peer_cred().map_err(fail("peer_cred"))?;
    if cred.impersonating {
        return Err("after RevertToSelf the peer still looks impersonated".into());
    }
    drop(client);
    Ok(())
}

fn nonblocking_and_eof(net: &Net) -> Result<(), String> {
    let (a, b) = net.pair().map_err(fail("pair"))?;
    b.set_nonblocking(true).map_err(fail("set_nonblocking"))?;
    expect_kind(
        (&b).read(&mut [0u8; 4]),
        ErrorKind::WouldBlock,
        "non-blocking read of nothing",
    )?;
    a.shutdown(Shutdown::Write).map_err(fail("shutdown"))?;
    match (&b).read(&mut [0u8; 4]) {
        Ok(0) => {}
        other => return Err(format!("read after the peer's SHUT_WR: {other:?}")),
    }
    expect_kind(
        (&a).write(b"x"),
        ErrorKind::BrokenPipe,
        "write after SHUT_WR",
    )
}

fn read_timeout(net: &Net) -> Result<(), String> {
    let (a, b) = net.pair().map_err(fail("pair"))?;
    b.set_read_timeout(Some(Duration::from_millis(50)))
        .map_err(fail("set_read_timeout"))?;
    let start = Instant::now();
    expect_kind(
        (&b).read(&mut [0u8; 4]),
        ErrorKind::WouldBlock,
        "read with a timeout",
    )?;
    if start.elapsed() < Duration::from_millis(50) {
        return Err(format!("timed out after {:?}", start.elapsed()));
    }
    (&a).write_all(b"late").map_err(fail("write"))?;
    let mut buf = [0u8; 4];
    (&b).read_exact(&mut buf)
        .map_err(fail("read after the timeout"))?;
    if &buf != b"late" {
        return Err(format!("read {buf:?} after the timeout"));
    }
    Ok(())
}

fn wakeup(net: &Net) -> Result<(), String> {
    let (a, b) = net.pair().map_err(fail("pair"))?;
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 5];
        (&b).read_exact(&mut buf).map(|()| buf)
    });
    std::thread::sleep(Duration::from_millis(50));
    (&a).write_all(b"wake!").map_err(fail("write"))?;
    let buf = reader
        .join()
        .map_err(|_| "reader panicked".to_string())?
        .map_err(fail("read"))?;
    if &buf != b"wake!" {
        return Err(format!("read {buf:?}"));
    }
    Ok(())
}

fn reset(net: &Net) -> Result<(), String> {
    let (a, b) = net.pair().map_err(fail("pair"))?;
    (&a).write_all(b"unread").map_err(fail("write"))?;
    drop(b);
    expect_kind(
        (&a).read(&mut [0u8; 4]),
        ErrorKind::ConnectionReset,
        "read after the peer closed with unread data",
    )
}

fn bulk(net: &Net) -> Result<(), String> {
    let (a, b) = net.pair().map_err(fail("pair"))?;
    const TOTAL: usize = 4 << 20;
    let writer = std::thread::spawn(move || -> std::io::Result<()> {
        let mut sent = 0usize;
        let mut seed = 0x2545_F491u32;
        let mut chunk = vec![0u8; 65536];
        while sent < TOTAL {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let n = (1 + seed as usize % chunk.len()).min(TOTAL - sent);
            for (i, byte) in chunk[..n].iter_mut().enumerate() {
                *byte = ((sent + i) % 251) as u8;
            }
            (&a).write_all(&chunk[..n])?;
            sent += n;
        }
        Ok(())
    });
    let mut received = 0usize;
    let mut buf = vec![0u8; 100_000];
    while received < TOTAL {
        let n = (&b).read(&mut buf).map_err(fail("read"))?;
        if n == 0 {
            return Err(format!("EOF after {received} bytes"));
        }
        if let Some(i) = buf[..n]
            .iter()
            .enumerate()
            .position(|(i, &x)| x != ((received + i) % 251) as u8)
        {
            return Err(format!("byte {} is wrong", received + i));
        }
        received += n;
    }
    writer
        .join()
        .map_err(|_| "writer panicked".to_string())?
        .map_err(fail("write"))
}

/// Requests the driver must refuse, each with its errno, after which it must still serve.
pub fn bad_input(net: &Net) -> Result<(), String> {
    use afunix::Errno;
    use afunix_proto::ioctl::*;
    let socket = net.socket().map_err(fail("socket"))?;
    let mut out = [0u8; 256];
    let mut refused = 0;
    for &code in &ALL_IOCTLS {
        if code == IOCTL_AFUNIX_STATS {
            continue;
        }
        // Every request starts with a u16 version and a reserved u16; the shortest is 4 bytes.
        // Version 1 is the layout before AddressOut grew: refused, as any other.
        let version = afunix_proto::wire::WIRE_VERSION.to_ne_bytes();
        let cases: [(&str, Vec<u8>); 6] = [
            ("empty", vec![]),
            ("truncated", vec![version[0]]),
            ("version 1", [vec![1, 0, 0, 0], vec![0; 12]].concat()),
            (
                "a later version",
                [vec![0xFF, 0x7F, 0, 0], vec![0; 12]].concat(),
            ),
            (
                "reserved bits",
                [version.to_vec(), vec![1, 0], vec![0; 12]].concat(),
            ),
            ("oversized garbage", vec![0xAA; 200]),
        ];
        for (what, input) in &cases {
            match socket.raw_request(code, input, &mut out) {
                Err(Errno::EINVAL) => refused += 1,
                other => {
                    return Err(format!(
                        "IOCTL {code:#x} {what}: expected EINVAL, got {other:?}"
                    ));
                }
            }
        }
    }
    match socket.raw_request(0xAF05_3FFC, &[], &mut out) {
        Err(Errno::ENOTTY) => {}
        other => return Err(format!("an unknown IOCTL: expected ENOTTY, got {other:?}")),
    }
    // A reply buffer too small for the reply.
    let small = &mut [0u8; 8];
    let empty = afunix_proto::encode::empty();
    match socket.raw_request(
        IOCTL_AFUNIX_GETSOCKNAME,
        zerocopy::IntoBytes::as_bytes(&empty),
        small,
    ) {
        Err(Errno::EINVAL) => {}
        other => {
            return Err(format!(
                "GETSOCKNAME into 8 bytes: expected EINVAL, got {other:?}"
            ));
        }
    }
    println!("      {refused} malformed requests refused with EINVAL");
    // And the driver still serves.
    abstract_echo(net)
}

/// Handles that are not the caller's sockets, passed where a socket handle is expected: every
/// one gets ENOTSOCK (POLLNVAL in a POLL), whatever it is. Among them, values the driver must
/// never look up at all: kernel handles, pseudo-handles, and a socket's handle with high bits
/// set (Wine's handle tables are 32-bit: truncated, it would name the socket). And a handle
/// to one of the caller's sockets opened without the access the request needs.
#[cfg(windows)]
pub fn foreign_handles(net: &Net) -> Result<(), String> {
    use afunix::Errno;
    use std::os::windows::io::AsRawHandle;
    use windows_sys::Win32::Foundation::{CloseHandle, DuplicateHandle, HANDLE};
    use windows_sys::Win32::System::Threading::GetCurrentProcess;

    /// A duplicate of `handle` in this process, open for `access` only; closed on drop.
    struct Dup(HANDLE);
    impl Drop for Dup {
        fn drop(&mut self) {
            // SAFETY:
            // 1. A handle DuplicateHandle gave us, closed once.
            unsafe { CloseHandle(self.0) };
        }
    }
    fn dup(handle: u64, access: u32) -> Result<Dup, String> {
        let mut out: HANDLE = std::ptr::null_mut();
        // SAFETY:
        // 1. GetCurrentProcess has no preconditions (a pseudo-handle).
        let me = unsafe { GetCurrentProcess() };
        // SAFETY:
        // 1. Our own process and a live handle of ours; `out` is a valid out pointer.
        let ok = unsafe { DuplicateHandle(me, handle as HANDLE, me, &mut out, access, 0, 0) };
        if ok == 0 {
            return Err(format!(
                "DuplicateHandle: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(Dup(out))
    }
    const FILE_READ_DATA: u32 = 0x1;
    const FILE_READ_ATTRIBUTES: u32 = 0x80;
    const SYNCHRONIZE: u32 = 0x0010_0000;

    let listener = net.socket().map_err(fail("socket"))?;
    listener
        .bind_raw(
            &SocketAddr::from_abstract_name(unique("foreign"))
                .map_err(fail("addr"))?
                .to_sockaddr_bytes(),
        )
        .map_err(|e| format!("bind: {e}"))?;
    listener.listen(1).map_err(|e| format!("listen: {e}"))?;
    let file = std::fs::File::open(std::env::current_exe().map_err(fail("current_exe"))?)
        .map_err(fail("open a file"))?;
    let fresh = net.socket().map_err(fail("socket"))?;
    // A fresh socket of ours, through a handle that may only read its attributes.
    let no_access = dup(fresh.handle(), FILE_READ_ATTRIBUTES | SYNCHRONIZE)?;
    let cases: [(&str, u64); 9] = [
        ("a plain file's handle", file.as_raw_handle() as u64),
        ("no handle at all", 0xDEAD_BEE0),
        ("the null handle", 0),
        ("a kernel handle value", 0xFFFF_FFFF_8000_0004),
        ("a 32-bit kernel handle value", 0x8000_0004),
        ("the current-process pseudo-handle", u64::MAX),
        ("the current-thread pseudo-handle", (-2i64) as u64),
        (
            "a socket's handle with bit 32 set",
            fresh.handle() | 1 << 32,
        ),
        (
            "a socket's handle opened without read and write",
            no_access.0 as u64,
        ),
    ];
    for (what, handle) in cases {
        let input = afunix_proto::encode::handle(handle);
        let mut out = [0u8; size_of::<afunix_proto::wire::AddressOut>()];
        let got = listener.raw_request(
            afunix_proto::ioctl::IOCTL_AFUNIX_SOCKETPAIR,
            zerocopy::IntoBytes::as_bytes(&input),
            &mut [],
        );
        if got != Err(Errno::ENOTSOCK) {
            return Err(format!(
                "SOCKETPAIR with {what}: expected ENOTSOCK, got {got:?}"
            ));
        }
        let got = listener.raw_request(
            afunix_proto::ioctl::IOCTL_AFUNIX_ACCEPT,
            zerocopy::IntoBytes::as_bytes(&input),
            &mut out,
        );
        if got != Err(Errno::ENOTSOCK) {
            return Err(format!(
                "ACCEPT onto {what}: expected ENOTSOCK, got {got:?}"
            ));
        }
    }
    // The socket those handles named is untouched: still fresh, it pairs.
    let other = net.socket().map_err(fail("socket"))?;
    other
        .pair_with(&fresh)
        .map_err(|e| format!("pairing the socket the refused handles named: {e}"))?;

    // POLL reports each foreign value as POLLNVAL and still reports the rest; a handle open
    // for reading is enough to ask.
    let (a, b) = (
        net.socket().map_err(fail("socket"))?,
        net.socket().map_err(fail("socket"))?,
    );
    a.pair_with(&b).map_err(|e| format!("pair: {e}"))?;
    let read_only = dup(a.handle(), FILE_READ_DATA | SYNCHRONIZE)?;
    let b_no_access = dup(b.handle(), FILE_READ_ATTRIBUTES | SYNCHRONIZE)?;
    let entries = [
        (read_only.0 as u64, 0x4),
        (file.as_raw_handle() as u64, 0x1),
        (0xFFFF_FFFF_8000_0004, 0x1),
        (b.handle() | 1 << 32, 0x1),
        (b_no_access.0 as u64, 0x4),
    ];
    let input = afunix_proto::encode::poll(&entries, 0).map_err(|e| format!("{e:?}"))?;
    let mut out = vec![0u8; input.len()];
    a.raw_request(afunix_proto::ioctl::IOCTL_AFUNIX_POLL, &input, &mut out)
        .map_err(|e| format!("poll: {e}"))?;
    let got: Vec<u32> = afunix_proto::wire::revents(&out).collect();
    if got != [0x4, 0x20, 0x20, 0x20, 0x20] {
        return Err(format!(
            "POLL revents {got:x?}, expected POLLOUT through the read-only handle, then POLLNVAL"
        ));
    }
    Ok(())
}

/// Each request needs the access its IOCTL code declares: a handle opened for reading alone
/// cannot make a socket (FILE_WRITE_DATA), one opened for writing alone cannot read the
/// socket's name (FILE_READ_DATA), and one opened for neither can still ask for STATS. The
/// refusal comes before the driver (the I/O manager reads the code's access bits).
#[cfg(windows)]
pub fn access_bits(_net: &Net) -> Result<(), String> {
    use afunix_proto::ioctl::{IOCTL_AFUNIX_GETSOCKNAME, IOCTL_AFUNIX_SOCKET, IOCTL_AFUNIX_STATS};
    use std::os::windows::io::OwnedHandle;
    use windows_sys::Win32::Foundation::ERROR_ACCESS_DENIED;

    /// The device opened for `access` only, synchronous (no FILE_FLAG_OVERLAPPED).
    fn open(access: u32) -> Result<OwnedHandle, String> {
        afunix::sys::open_device(access, 0).map_err(|e| format!("open for {access:#x}: {e}"))
    }
    /// A synchronous request: Ok, or the Win32 error.
    fn request(
        device: &OwnedHandle,
        code: u32,
        input: &[u8],
        output: &mut [u8],
    ) -> Result<(), u32> {
        sync_request(device, code, input, output).map(drop)
    }
    const FILE_READ_DATA: u32 = 0x1;
    const FILE_WRITE_DATA: u32 = 0x2;
    const SYNCHRONIZE: u32 = 0x0010_0000;
    let socket_in = afunix_proto::encode::socket(1, false);
    let socket_in = zerocopy::IntoBytes::as_bytes(&socket_in);
    let empty = afunix_proto::encode::empty();
    let empty = zerocopy::IntoBytes::as_bytes(&empty);

    let reader = open(FILE_READ_DATA | SYNCHRONIZE)?;
    if request(&reader, IOCTL_AFUNIX_SOCKET, socket_in, &mut []) != Err(ERROR_ACCESS_DENIED) {
        return Err("SOCKET through a handle opened for reading only was not refused".into());
    }
    let writer = open(FILE_WRITE_DATA | SYNCHRONIZE)?;
    request(&writer, IOCTL_AFUNIX_SOCKET, socket_in, &mut [])
        .map_err(|e| format!("SOCKET through a handle opened for writing: error {e}"))?;
    let mut name = [0u8; size_of::<afunix_proto::wire::AddressOut>()];
    if request(&writer, IOCTL_AFUNIX_GETSOCKNAME, empty, &mut name) != Err(ERROR_ACCESS_DENIED) {
        return Err("GETSOCKNAME through a handle opened for writing only was not refused".into());
    }
    let neither = open(SYNCHRONIZE)?;
    let mut stats = vec![0u8; 4096];
    request(&neither, IOCTL_AFUNIX_STATS, &[], &mut stats)
        .map_err(|e| format!("STATS through a handle opened for no data access: error {e}"))?;
    if request(&neither, IOCTL_AFUNIX_SOCKET, socket_in, &mut []) != Err(ERROR_ACCESS_DENIED) {
        return Err("SOCKET through a handle opened for no data access was not refused".into());
    }
    Ok(())
}

/// Requests in the wrong state get Linux's errno.
pub fn wrong_state(net: &Net) -> Result<(), String> {
    use afunix::Errno;
    let expect = |what: &str, got: Result<(), Errno>, want: Errno| -> Result<(), String> {
        if got == Err(want) {
            Ok(())
        } else {
            Err(format!("{what}: expected {want}, got {got:?}"))
        }
    };
    let fresh = net.socket().map_err(fail("socket"))?;
    expect(
        "getpeername unconnected",
        fresh.getpeername().map(drop),
        Errno::ENOTCONN,
    )?;
    expect(
        "send unconnected",
        fresh.send(b"x", 0).map(drop),
        Errno::ENOTCONN,
    )?;
    expect(
        "accept on a socket that is not listening",
        fresh.accept().map(drop),
        Errno::EINVAL,
    )?;
    expect("shutdown with how = 7", fresh.shutdown(7), Errno::EINVAL)?;
    let (a, b) = (
        net.socket().map_err(fail("socket"))?,
        net.socket().map_err(fail("socket"))?,
    );
    a.pair_with(&b).map_err(|e| format!("pair: {e}"))?;
    expect("listen on a connected socket", a.listen(1), Errno::EINVAL)?;
    let addr = SocketAddr::from_abstract_name(unique("state"))
        .map_err(fail("addr"))?
        .to_sockaddr_bytes();
    fresh.bind_raw(&addr).map_err(|e| format!("bind: {e}"))?;
    expect("bind twice", fresh.bind_raw(&addr), Errno::EINVAL)?;
    // unix_stream_connect finds the peer first: a name nobody listens on is ECONNREFUSED
    // even for a connected socket; a listening one gets as far as our own state.
    expect(
        "connect to a name that is not listening",
        a.connect_raw(&addr),
        Errno::ECONNREFUSED,
    )?;
    fresh.listen(1).map_err(|e| format!("listen: {e}"))?;
    expect(
        "connect a connected socket",
        a.connect_raw(&addr),
        Errno::EISCONN,
    )?;
    expect("MSG_OOB", a.send(b"x", 1).map(drop), Errno::EOPNOTSUPP)?;
    Ok(())
}

/// POLL has no timer in the driver: the library cancels it at the deadline, and it reports
/// nothing ready; something ready is reported at once.
fn poll_timeout(net: &Net) -> Result<(), String> {
    let (a, b) = (
        net.socket().map_err(fail("socket"))?,
        net.socket().map_err(fail("socket"))?,
    );
    a.pair_with(&b).map_err(|e| format!("pair: {e}"))?;
    let start = Instant::now();
    let got = afunix::RawSocket::poll(&[(&b, 0x1)], 60).map_err(|e| format!("poll: {e}"))?;
    if got != [0] || start.elapsed() < Duration::from_millis(60) {
        return Err(format!(
            "poll(POLLIN, 60 ms) gave {got:?} after {:?}",
            start.elapsed()
        ));
    }
    a.send(b"x", 0).map_err(|e| format!("send: {e}"))?;
    let got = afunix::RawSocket::poll(&[(&b, 0x1)], 10_000).map_err(|e| format!("poll: {e}"))?;
    if got != [0x1] {
        return Err(format!("poll after a send gave {got:?}"));
    }
    Ok(())
}

/// A timeout so short that the deadline has passed before the wait starts: the read must
/// still be cancelled and waited for (its buffer is the caller's), and report WouldBlock;
/// the bytes sent afterwards arrive whole.
fn past_deadline(net: &Net) -> Result<(), String> {
    let (a, b) = net.pair().map_err(fail("pair"))?;
    b.set_read_timeout(Some(Duration::from_nanos(1)))
        .map_err(fail("set_read_timeout"))?;
    for _ in 0..200 {
        expect_kind(
            (&b).read(&mut [0u8; 16]),
            ErrorKind::WouldBlock,
            "read with a 1 ns timeout",
        )?;
    }
    b.set_read_timeout(None).map_err(fail("set_read_timeout"))?;
    (&a).write_all(b"intact").map_err(fail("write"))?;
    let mut buf = [0u8; 6];
    (&b).read_exact(&mut buf).map_err(fail("read"))?;
    if &buf != b"intact" {
        return Err(format!("read {buf:?}"));
    }
    Ok(())
}

/// A 32 MiB write to a peer that does not read pends with its bytes in the writer's own
/// (locked) pages: the driver buffers only what fits the peer's queue. Then every byte
/// arrives, in order.
#[cfg(windows)]
pub fn big_write_in_place(net: &Net) -> Result<(), String> {
    const LEN: usize = 32 << 20;
    let stats = || -> Result<afunix_proto::DriverStats, String> {
        afunix::sys::device::Device::open()
            .and_then(|d| d.stats())
            .map_err(|e| format!("STATS: {e}"))
    };
    let (a, mut b) = net.pair().map_err(fail("pair"))?;
    let data: Vec<u8> = (0..LEN).map(|i| (i % 253) as u8).collect();
    let expected = data.clone();
    let writer = std::thread::spawn(move || (&a).write_all(&data).map(|()| a));
    // Wait until the write is pending in the driver.
    let deadline = Instant::now() + Duration::from_secs(10);
    let during = loop {
        let s = stats()?;
        if s.pending_irps >= 1 || Instant::now() > deadline {
            break s;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if during.pending_irps == 0 {
        return Err("the 32 MiB write never pended".into());
    }
    if during.bytes_buffered > 4 << 20 {
        return Err(format!(
            "the driver buffers {} bytes for a blocked write (its tail should stay in the writer's pages)",
            during.bytes_buffered
        ));
    }
    let mut got = vec![0u8; LEN];
    b.read_exact(&mut got).map_err(fail("read"))?;
    let a = writer
        .join()
        .map_err(|_| "writer panicked".to_string())?
        .map_err(fail("write"))?;
    drop(a);
    if got != expected {
        return Err("the bytes arrived changed or out of order".into());
    }
    println!(
        "      (while blocked: {} bytes buffered in the driver, {} pending IRPs)",
        during.bytes_buffered, during.pending_irps
    );
    Ok(())
}

/// A socket path that names a named pipe: the driver never opens the pipe (a privileged
/// program connecting to a path someone else chose must not become that pipe server's
/// client), and refuses the path as on no local disk.
#[cfg(windows)]
pub fn named_pipe_path(net: &Net) -> Result<(), String> {
    use afunix::Errno;
    use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
    use windows_sys::Win32::Foundation::{ERROR_IO_INCOMPLETE, ERROR_IO_PENDING, GetLastError};
    use windows_sys::Win32::Storage::FileSystem::{FILE_FLAG_OVERLAPPED, PIPE_ACCESS_DUPLEX};
    use windows_sys::Win32::System::IO::{GetOverlappedResult, OVERLAPPED};
    use windows_sys::Win32::System::Pipes::{
        ConnectNamedPipe, CreateNamedPipeW, PIPE_READMODE_BYTE, PIPE_TYPE_BYTE, PIPE_WAIT,
    };
    use windows_sys::Win32::System::Threading::CreateEventW;

    let name = format!(r"\\.\pipe\afunix-{}", std::process::id());
    let wide: Vec<u16> = name.encode_utf16().chain([0]).collect();
    // SAFETY:
    // 1. `wide` is NUL-terminated; no security attributes.
    let pipe = unsafe {
        CreateNamedPipeW(
            wide.as_ptr(),
            PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
            PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT,
            1,
            4096,
            4096,
            0,
            std::ptr::null(),
        )
    };
    if pipe.is_null() || pipe as isize == -1 {
        return Err(format!(
            "CreateNamedPipeW: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY:
    // 1. `pipe` is a handle we just opened and own.
    let pipe = unsafe { OwnedHandle::from_raw_handle(pipe) };
    // SAFETY:
    // 1. No attributes, no name: a manual-reset event, not signalled.
    let event = unsafe { CreateEventW(std::ptr::null(), 1, 0, std::ptr::null()) };
    if event.is_null() {
        return Err(format!("CreateEventW: {}", std::io::Error::last_os_error()));
    }
    // SAFETY:
    // 1. `event` is a handle we just opened and own.
    let event = unsafe { OwnedHandle::from_raw_handle(event) };
    let mut overlapped = Box::new(OVERLAPPED {
        hEvent: event.as_raw_handle(),
        ..Default::default()
    });
    // The server waits for a client, overlapped.
    // SAFETY:
    // 1. The pipe was opened overlapped; `overlapped` is boxed and outlives the wait, which
    //    ends when the pipe handle closes at the end of this function (after the box).
    let connected = unsafe { ConnectNamedPipe(pipe.as_raw_handle(), &mut *overlapped) };
    // SAFETY:
    // 1. GetLastError has no preconditions.
    let error = unsafe { GetLastError() };
    if connected != 0 || error != ERROR_IO_PENDING {
        return Err(format!("ConnectNamedPipe: {connected}, error {error}"));
    }
    let errno = |r: std::io::Result<()>| r.err().and_then(|e| afunix::errno_of(&e));
    let connect = errno(net.connect(&name).map(|_| ()));
    let bind = errno(net.bind(format!("{name}-new")).map(|_| ()));
    let bind_existing = errno(net.bind(&name).map(|_| ()));
    let mut moved = 0u32;
    // SAFETY:
    // 1. The pipe and `overlapped` are those of the pending ConnectNamedPipe; no wait.
    let done = unsafe { GetOverlappedResult(pipe.as_raw_handle(), &*overlapped, &mut moved, 0) };
    // SAFETY:
    // 1. GetLastError has no preconditions.
    let still_waiting = done == 0 && unsafe { GetLastError() } == ERROR_IO_INCOMPLETE;
    // Closing the pipe ends the pending wait before `overlapped` goes.
    drop(pipe);
    drop(overlapped);
    if !still_waiting {
        return Err(String::from(
            "the pipe server got a client: the driver opened the pipe",
        ));
    }
    let want = [
        ("connect to the pipe", connect, Errno::ECONNREFUSED),
        ("bind a new name beside the pipes", bind, Errno::EOPNOTSUPP),
        ("bind the pipe's own name", bind_existing, Errno::EOPNOTSUPP),
    ];
    for (what, got, errno) in want {
        if got != Some(errno) {
            return Err(format!("{what}: {got:?}, expected {errno:?}"));
        }
    }
    Ok(())
}

/// The driver's message sockets, through raw IOCTLs on synchronous handles (the library's
/// datagram and seqpacket types are checked elsewhere): SOCKET of type 2 and 5, SOCKETPAIR
/// of each, messages kept whole, a short buffer cutting one (RECVFROM's `MSG_TRUNC` and
/// `msg_len`, the rest dropped), FIONREAD the next datagram's length.
#[cfg(windows)]
fn message_pairs(_net: &Net) -> Result<(), String> {
    use afunix_proto::decode::RECVFROM_HEADER;
    use afunix_proto::encode;
    use afunix_proto::ioctl::*;
    use afunix_proto::wire::{
        AddressOut, IntOut, MSG_TRUNC, SOCK_DGRAM, SOCK_SEQPACKET, SOCKET_FLAG_NONBLOCK,
    };
    use std::os::windows::io::{AsRawHandle, OwnedHandle};
    use windows_sys::Win32::Foundation::{GENERIC_READ, GENERIC_WRITE};
    use zerocopy::{FromBytes, IntoBytes};

    /// A synchronous request: the reply's length, or the Win32 error, named.
    fn request(
        socket: &OwnedHandle,
        code: u32,
        input: &[u8],
        output: &mut [u8],
    ) -> Result<usize, String> {
        sync_request(socket, code, input, output).map_err(|e| {
            let error = std::io::Error::from_raw_os_error(i32::try_from(e).unwrap_or(i32::MAX));
            format!("IOCTL {code:#x}: {error}")
        })
    }
    /// Two fresh sockets of `ty`, paired.
    fn pair(ty: u32) -> Result<(OwnedHandle, OwnedHandle), String> {
        let open = || {
            let socket = afunix::sys::open_device(GENERIC_READ | GENERIC_WRITE, 0)
                .map_err(|e| format!("open the device: {e}"))?;
            let input = encode::socket(ty, SOCKET_FLAG_NONBLOCK != 0);
            request(&socket, IOCTL_AFUNIX_SOCKET, input.as_bytes(), &mut [])
                .map_err(|e| format!("SOCKET of type {ty}: {e}"))?;
            Ok::<_, String>(socket)
        };
        let (a, b) = (open()?, open()?);
        let input = encode::handle(b.as_raw_handle() as u64);
        request(&a, IOCTL_AFUNIX_SOCKETPAIR, input.as_bytes(), &mut [])
            .map_err(|e| format!("SOCKETPAIR of type {ty}: {e}"))?;
        Ok((a, b))
    }
    fn send(socket: &OwnedHandle, data: &[u8]) -> Result<(), String> {
        let mut data = data.to_vec();
        let n = request(
            socket,
            IOCTL_AFUNIX_SEND,
            encode::data(0).as_bytes(),
            &mut data,
        )?;
        if n != data.len() {
            return Err(format!("SEND of {} bytes sent {n}", data.len()));
        }
        Ok(())
    }
    /// RECVFROM into `room` bytes: the data and the reply's header.
    fn recv_from(socket: &OwnedHandle, room: usize) -> Result<(Vec<u8>, AddressOut), String> {
        let mut out = vec![0u8; RECVFROM_HEADER + room];
        let n = request(
            socket,
            IOCTL_AFUNIX_RECVFROM,
            encode::data(0).as_bytes(),
            &mut out,
        )?;
        let header = AddressOut::read_from_bytes(&out[..RECVFROM_HEADER])
            .map_err(|_| "RECVFROM's header".to_string())?;
        Ok((out[RECVFROM_HEADER..n].to_vec(), header))
    }
    fn recv(socket: &OwnedHandle, room: usize) -> Result<Vec<u8>, String> {
        let mut out = vec![0u8; room];
        let n = request(
            socket,
            IOCTL_AFUNIX_RECV,
            encode::data(0).as_bytes(),
            &mut out,
        )?;
        out.truncate(n);
        Ok(out)
    }

    for ty in [SOCK_DGRAM, SOCK_SEQPACKET] {
        let (a, b) = pair(ty)?;
        send(&a, b"hello")?;
        send(&a, b"")?;
        send(&a, b"world!!")?;
        if ty == SOCK_DGRAM {
            let mut int = [0u8; size_of::<IntOut>()];
            request(
                &b,
                IOCTL_AFUNIX_FIONREAD,
                encode::empty().as_bytes(),
                &mut int,
            )?;
            let next = IntOut::read_from_bytes(&int).map_err(|_| "FIONREAD's reply")?;
            if next.value != 5 {
                return Err(format!(
                    "FIONREAD on a datagram socket gave {}, expected the next datagram's 5",
                    next.value
                ));
            }
        }
        // A 3-byte buffer cuts "hello": MSG_TRUNC, its whole length, the rest dropped.
        let (data, header) = recv_from(&b, 3)?;
        if data != b"hel" || header.msg_flags != MSG_TRUNC || header.msg_len != 5 {
            return Err(format!(
                "type {ty}: RECVFROM into 3 bytes gave {data:?}, msg_flags {:#x}, msg_len {}; \
                 expected \"hel\", MSG_TRUNC, 5",
                header.msg_flags, header.msg_len
            ));
        }
        // The empty message is a message of its own, then the next one whole.
        let (data, header) = recv_from(&b, 64)?;
        if !data.is_empty() || header.msg_flags != 0 || header.msg_len != 0 {
            return Err(format!(
                "type {ty}: the empty message read as {data:?} ({:#x}, {})",
                header.msg_flags, header.msg_len
            ));
        }
        let data = recv(&b, 64)?;
        if data != b"world!!" {
            return Err(format!("type {ty}: the third message read as {data:?}"));
        }
        println!("      type {ty}: boundaries kept, a cut message reported whole (5 bytes)");
    }
    Ok(())
}

/// A synchronous DeviceIoControl on `handle`: the reply's length, or the Win32 error.
#[cfg(windows)]
fn sync_request(
    handle: &std::os::windows::io::OwnedHandle,
    code: u32,
    input: &[u8],
    output: &mut [u8],
) -> Result<usize, u32> {
    use std::os::windows::io::AsRawHandle;
    use windows_sys::Win32::System::IO::DeviceIoControl;
    let mut returned = 0u32;
    // SAFETY:
    // 1. A synchronous handle; both buffers are valid for their lengths during the call.
    let ok = unsafe {
        DeviceIoControl(
            handle.as_raw_handle(),
            code,
            input.as_ptr().cast(),
            input.len() as u32,
            output.as_mut_ptr().cast(),
            output.len() as u32,
            &mut returned,
            std::ptr::null_mut(),
        )
    };
    if ok == 0 {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0) as u32)
    } else {
        Ok(returned as usize)
    }
}
