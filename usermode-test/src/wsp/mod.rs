//! `usermode-test wsp`: the Winsock provider DLL driven through its SPI entry points, as
//! ws2_32 would drive it, against the real driver (on Windows, or under Wine, whose ws2_32
//! cannot register a provider: DESIGN.md).
//!
//! Each check is a behaviour a Winsock program would notice; one line each, then a count.
//! `wsp-server` and `wsp-client` speak the line protocol of `server` and `client`, so a
//! Winsock program and a library program can talk across processes.

mod messages;
pub mod provider;

use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, WAIT_OBJECT_0};
use windows_sys::Win32::Networking::WinSock::{SOCKET, WSABUF};
use windows_sys::Win32::Storage::FileSystem::{ReadFile, WriteFile};
use windows_sys::Win32::System::IO::{
    CancelIoEx, CreateIoCompletionPort, GetQueuedCompletionStatus, OVERLAPPED,
};
use windows_sys::Win32::System::Threading::{
    CreateEventW, GetCurrentProcessId, SleepEx, WaitForSingleObject,
};

use provider::{CATALOG_ENTRY_ID, LAST_CATALOG_ID, Provider, REGISTERED, Wsa};

// Winsock's numbers as a program compiled against winsock2.h has them (windows-sys has
// them from Windows' own metadata), in the types the SPI takes.
use windows_sys::Win32::Networking::WinSock::{
    self as ws, POLLHUP, POLLRDNORM, POLLWRNORM, SIO_AF_UNIX_GETPEERPID, SIO_BSP_HANDLE_POLL,
    SO_ACCEPTCONN, SO_DEBUG, SO_DONTLINGER, SO_ERROR, SO_KEEPALIVE, SO_LINGER, SO_PROTOCOL_INFOW,
    SO_RCVTIMEO, SO_REUSEADDR, SO_SNDBUF, SO_TYPE, SOL_SOCKET, WSA_IO_INCOMPLETE,
    WSA_OPERATION_ABORTED, WSAEADDRINUSE, WSAEAFNOSUPPORT, WSAECONNREFUSED, WSAECONNRESET,
    WSAEFAULT, WSAEINVAL, WSAENOPROTOOPT, WSAENOTCONN, WSAENOTSOCK, WSAEPROTONOSUPPORT,
    WSAESHUTDOWN, WSAESOCKTNOSUPPORT, WSAETIMEDOUT, WSAEWOULDBLOCK,
};
const MSG_PEEK: u32 = ws::MSG_PEEK as u32;
const MSG_WAITALL: u32 = ws::MSG_WAITALL as u32;
const FD_READ: i32 = ws::FD_READ as i32;
const FD_WRITE: i32 = ws::FD_WRITE as i32;
const FD_ACCEPT: i32 = ws::FD_ACCEPT as i32;
const FD_CONNECT: i32 = ws::FD_CONNECT as i32;
const FD_CLOSE: i32 = ws::FD_CLOSE as i32;

pub(super) type Check = fn(&Provider) -> Result<(), String>;

fn checks() -> Vec<(&'static str, Check)> {
    let streams: Vec<(&'static str, Check)> = vec![
        (
            "WSPStartup, WSPSocket and WPUModifyIFSHandle",
            startup_and_socket,
        ),
        (
            "client and server: bind, listen, connect, accept, echo, names",
            echo,
        ),
        (
            "errors are WSA codes: EADDRINUSE, ECONNREFUSED, ENOTSOCK ...",
            errors,
        ),
        (
            "non-blocking mode: WSAEWOULDBLOCK for recv and accept",
            nonblocking,
        ),
        (
            "several WSABUFs: gathered sends, scattered receives, MSG_PEEK, MSG_WAITALL",
            buffers,
        ),
        ("shutdown, end of file, reset", shutdown_and_reset),
        (
            "socket options: SO_TYPE, SO_SNDBUF, SO_ERROR, SO_ACCEPTCONN, SO_PROTOCOL_INFOW, SO_KEEPALIVE, SO_REUSEADDR, SO_LINGER, SO_DONTLINGER",
            options,
        ),
        (
            "SO_RCVTIMEO: a blocking recv gives WSAETIMEDOUT",
            receive_timeout,
        ),
        (
            "peer credentials: SIO_AF_UNIX_GETPEERPID (4 bytes) and SIO_AFUNIX_PEERCRED",
            credentials,
        ),
        (
            "overlapped recv with an event, on blocking and non-blocking sockets",
            overlapped_event,
        ),
        (
            "overlapped recv with a completion routine",
            completion_routine,
        ),
        (
            "an IOCP gets the completion of an overlapped recv",
            completion_port,
        ),
        (
            "IFS handles: ReadFile and WriteFile on the SOCKET",
            ifs_handles,
        ),
        (
            "CancelIoEx on a pending overlapped recv: WSA_OPERATION_ABORTED",
            cancel,
        ),
        ("WSPSelect: readable, writable, accept, timeout", select),
        (
            "WSAPoll (SIO_EXT_POLL): POLLRDNORM, POLLWRNORM, POLLHUP",
            wsapoll,
        ),
        ("WSPEventSelect and WSPEnumNetworkEvents", event_select),
        (
            "WSPDuplicateSocket and WSPSocket(FROM_PROTOCOL_INFO)",
            duplicate,
        ),
    ];
    streams.into_iter().chain(messages::checks()).collect()
}

fn wsa<T>(what: &str, r: Wsa<T>) -> Result<T, String> {
    r.map_err(|e| format!("{what}: WSA error {e}"))
}

fn expect_err<T: std::fmt::Debug>(what: &str, r: Wsa<T>, code: i32) -> Result<(), String> {
    match r {
        Err(e) if e == code => Ok(()),
        other => Err(format!("{what}: expected WSA error {code}, got {other:?}")),
    }
}

fn ensure(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond { Ok(()) } else { Err(what()) }
}

/// A `sockaddr_un` for `path` (UTF-8 bytes, NUL-terminated, as C programs fill it), with
/// `namelen` = 110, as `sizeof(SOCKADDR_UN)`.
fn sockaddr(path: &str) -> Vec<u8> {
    let mut a = vec![0u8; 110];
    a[..2].copy_from_slice(&1u16.to_ne_bytes());
    for (slot, b) in a[2..109].iter_mut().zip(path.as_bytes()) {
        *slot = *b;
    }
    a
}

fn abstract_addr(name: &str) -> Vec<u8> {
    let mut a = 1u16.to_ne_bytes().to_vec();
    a.push(0);
    a.extend_from_slice(name.as_bytes());
    a
}

static UNIQUE: AtomicU32 = AtomicU32::new(0);

fn unique(tag: &str) -> String {
    format!(
        "wsp-{tag}-{}-{}",
        std::process::id(),
        UNIQUE.fetch_add(1, Ordering::SeqCst)
    )
}

/// A connected pair through a listener on an abstract name: (listener, client, server).
fn connected(p: &Provider) -> Result<(SOCKET, SOCKET, SOCKET), String> {
    let l = wsa("socket", p.socket())?;
    wsa("bind", p.bind(l, &abstract_addr(&unique("pair"))))?;
    wsa("listen", p.listen(l, 4))?;
    let name = wsa("getsockname", p.name(l, false, 110))?;
    let c = wsa("socket", p.socket())?;
    wsa("connect", p.connect(c, &name))?;
    let (s, _) = wsa("accept", p.accept(l))?;
    Ok((l, c, s))
}

fn close_all(p: &Provider, sockets: &[SOCKET]) {
    for &s in sockets {
        let _ = p.close(s);
    }
}

struct Event(HANDLE);

impl Event {
    fn new() -> Result<Event, String> {
        // SAFETY:
        // 1. An anonymous manual-reset event.
        let h = unsafe { CreateEventW(ptr::null(), 1, 0, ptr::null()) };
        if h.is_null() {
            return Err("CreateEvent failed".into());
        }
        Ok(Event(h))
    }

    fn wait(&self, ms: u32) -> bool {
        // SAFETY:
        // 1. Our own event handle.
        unsafe { WaitForSingleObject(self.0, ms) == WAIT_OBJECT_0 }
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        // SAFETY:
        // 1. Our own handle, closed once.
        unsafe { CloseHandle(self.0) };
    }
}

fn zeroed_overlapped(event: HANDLE) -> Box<OVERLAPPED> {
    // SAFETY:
    // 1. OVERLAPPED is plain data; all-zero is its initial state.
    let mut ov: Box<OVERLAPPED> = Box::new(unsafe { std::mem::zeroed() });
    ov.hEvent = event;
    ov
}

// ---- the checks ------------------------------------------------------------------------

fn startup_and_socket(p: &Provider) -> Result<(), String> {
    ensure(p.version == 0x0202, || {
        format!("WSPDATA.wVersion {:#x}", p.version)
    })?;
    ensure(!p.description.is_empty(), || "no description".into())?;
    let before = REGISTERED.load(Ordering::SeqCst);
    let s = wsa("socket", p.socket())?;
    ensure(REGISTERED.load(Ordering::SeqCst) == before + 1, || {
        "WPUModifyIFSHandle was not called for the new socket".into()
    })?;
    ensure(
        LAST_CATALOG_ID.load(Ordering::SeqCst) == CATALOG_ENTRY_ID,
        || "WPUModifyIFSHandle got another catalog id".into(),
    )?;
    wsa("closesocket", p.close(s))?;
    expect_err("AF_INET", p.socket_with(2, 1, 0), WSAEAFNOSUPPORT)?;
    // SOCK_RAW, which Linux takes as SOCK_DGRAM, has no catalog entry.
    expect_err("SOCK_RAW", p.socket_with(1, 3, 0), WSAESOCKTNOSUPPORT)?;
    expect_err("SOCK_RDM", p.socket_with(1, 4, 0), WSAESOCKTNOSUPPORT)?;
    expect_err("protocol 6", p.socket_with(1, 1, 6), WSAEPROTONOSUPPORT)?;
    let s = wsa("socket(AF_UNIX, SOCK_STREAM, 0)", p.socket_with(1, 1, 0))?;
    wsa("closesocket", p.close(s))
}

fn echo(p: &Provider) -> Result<(), String> {
    let dir = std::env::temp_dir().join(unique("echo"));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let path = dir.join("echo.sock");
    let addr = sockaddr(&path.to_string_lossy());
    let l = wsa("socket", p.socket())?;
    wsa("bind", p.bind(l, &addr))?;
    ensure(path.exists(), || "bind made no socket file".into())?;
    wsa("listen", p.listen(l, 8))?;
    let c = wsa("socket", p.socket())?;
    wsa("connect", p.connect(c, &addr))?;
    let (s, peer) = wsa("accept", p.accept(l))?;
    // An unbound client: its address is the family alone.
    ensure(peer == 1u16.to_ne_bytes(), || {
        format!("accept's address {peer:?}")
    })?;
    let bound = wsa("getsockname", p.name(l, false, 110))?;
    let want = &addr[..2 + path.to_string_lossy().len() + 1];
    ensure(bound == want, || {
        format!("getsockname {bound:?}, bound {want:?}")
    })?;
    let peer_name = wsa("getpeername", p.name(c, true, 110))?;
    ensure(peer_name == want, || format!("getpeername {peer_name:?}"))?;
    let server = std::thread::scope(|scope| {
        let t = scope.spawn(|| -> Result<(), String> {
            let mut buf = [0u8; 64];
            let n = wsa("server recv", p.recv(s, &mut buf, 0))?;
            let upper = buf[..n].to_ascii_uppercase();
            wsa("server send", p.send(s, &upper)).map(|_| ())
        });
        let sent = wsa("client send", p.send(c, b"hello, provider"))?;
        ensure(sent == 15, || format!("sent {sent}"))?;
        let mut buf = [0u8; 64];
        let n = wsa("client recv", p.recv(c, &mut buf, 0))?;
        ensure(&buf[..n] == b"HELLO, PROVIDER", || {
            format!("reply {:?}", String::from_utf8_lossy(&buf[..n]))
        })?;
        t.join().map_err(|_| "server thread panicked".to_string())?
    });
    close_all(p, &[c, s, l]);
    let _ = std::fs::remove_dir_all(&dir);
    server
}

fn errors(p: &Provider) -> Result<(), String> {
    let name = abstract_addr(&unique("errors"));
    let a = wsa("socket", p.socket())?;
    wsa("bind", p.bind(a, &name))?;
    let b = wsa("socket", p.socket())?;
    expect_err("bind to a name in use", p.bind(b, &name), WSAEADDRINUSE)?;
    expect_err(
        "connect to a name nobody listens on",
        p.connect(b, &name),
        WSAECONNREFUSED,
    )?;
    expect_err(
        "connect with a short address",
        p.connect(b, &[1]),
        WSAEINVAL,
    )?;
    expect_err("getpeername unconnected", p.name(b, true, 110), WSAENOTCONN)?;
    // Linux's unix_stream_recvmsg: EINVAL on a socket that is not connected.
    expect_err("recv unconnected", p.recv(b, &mut [0; 4], 0), WSAEINVAL)?;
    wsa("listen", p.listen(a, 1))?;
    expect_err("getsockname into 4 bytes", p.name(a, false, 4), WSAEFAULT)?;
    close_all(p, &[a, b]);
    expect_err("a closed socket", p.listen(a, 1), WSAENOTSOCK)?;
    expect_err(
        "a SOCKET that is not ours",
        p.send(0x1234, b"x"),
        WSAENOTSOCK,
    )
}

fn nonblocking(p: &Provider) -> Result<(), String> {
    let (l, c, s) = connected(p)?;
    wsa("FIONBIO", p.set_nonblocking(c, true))?;
    expect_err(
        "recv with nothing to read",
        p.recv(c, &mut [0; 8], 0),
        WSAEWOULDBLOCK,
    )?;
    wsa("FIONBIO listener", p.set_nonblocking(l, true))?;
    expect_err("accept with nobody connecting", p.accept(l), WSAEWOULDBLOCK)?;
    // An accepted socket inherits the listener's non-blocking mode (Winsock).
    let c2 = wsa("socket", p.socket())?;
    let name = wsa("getsockname", p.name(l, false, 110))?;
    wsa("connect", p.connect(c2, &name))?;
    let (s2, _) = wsa("accept", p.accept(l))?;
    expect_err(
        "recv on the accepted socket",
        p.recv(s2, &mut [0; 8], 0),
        WSAEWOULDBLOCK,
    )?;
    wsa("send", p.send(s, b"abc"))?;
    let n = wsa("recv after data", p.recv(c, &mut [0; 8], 0))?;
    ensure(n == 3, || format!("received {n}"))?;
    close_all(p, &[l, c, s, c2, s2]);
    Ok(())
}

fn buffers(p: &Provider) -> Result<(), String> {
    let (l, c, s) = connected(p)?;
    let parts: [&[u8]; 3] = [b"one ", b"", b"two three"];
    let bufs: Vec<WSABUF> = parts
        .iter()
        .map(|b| WSABUF {
            len: b.len() as u32,
            buf: b.as_ptr().cast_mut(),
        })
        .collect();
    let n = wsa("gathered send", p.send_bufs(c, &bufs))?;
    ensure(n == 13, || format!("sent {n}"))?;
    let mut peek = [0u8; 4];
    let n = wsa("MSG_PEEK", p.recv(s, &mut peek, MSG_PEEK))?;
    ensure(&peek[..n] == b"one ", || "peek".into())?;
    let mut a = [0u8; 5];
    let mut b = [0u8; 20];
    let out = [
        WSABUF {
            len: 5,
            buf: a.as_mut_ptr(),
        },
        WSABUF {
            len: 20,
            buf: b.as_mut_ptr(),
        },
    ];
    let n = wsa("scattered recv", p.recv_bufs(s, &out, 0))?;
    ensure(n == 13 && &a == b"one t" && &b[..8] == b"wo three", || {
        format!("scattered {n}: {a:?} {:?}", &b[..8])
    })?;
    // MSG_WAITALL waits for the whole buffer, across two sends.
    let waiter = std::thread::scope(|scope| {
        let t = scope.spawn(|| {
            let mut buf = [0u8; 6];
            p.recv(s, &mut buf, MSG_WAITALL).map(|n| buf[..n].to_vec())
        });
        std::thread::sleep(Duration::from_millis(50));
        let _ = p.send(c, b"abc");
        std::thread::sleep(Duration::from_millis(50));
        let _ = p.send(c, b"def");
        t.join()
    });
    let got = waiter.map_err(|_| "waitall thread panicked".to_string())?;
    ensure(got == Ok(b"abcdef".to_vec()), || {
        format!("MSG_WAITALL got {got:?}")
    })?;
    close_all(p, &[l, c, s]);
    Ok(())
}

fn shutdown_and_reset(p: &Provider) -> Result<(), String> {
    let (l, c, s) = connected(p)?;
    wsa("send", p.send(c, b"last"))?;
    wsa("shutdown(SD_SEND)", p.shutdown(c, 1))?;
    expect_err("send after SD_SEND", p.send(c, b"x"), WSAESHUTDOWN)?;
    let mut buf = [0u8; 16];
    let n = wsa("recv", p.recv(s, &mut buf, 0))?;
    ensure(&buf[..n] == b"last", || "data before end of file".into())?;
    let n = wsa("recv at end of file", p.recv(s, &mut buf, 0))?;
    ensure(n == 0, || format!("end of file read {n}"))?;
    // Closing with unread data resets the peer.
    wsa("send unread", p.send(s, b"unread"))?;
    wsa("closesocket with unread data", p.close(c))?;
    expect_err(
        "recv after the peer reset",
        p.recv(s, &mut buf, 0),
        WSAECONNRESET,
    )?;
    close_all(p, &[l, s]);
    Ok(())
}

fn options(p: &Provider) -> Result<(), String> {
    let (l, c, s) = connected(p)?;
    let ty = wsa("SO_TYPE", p.getsockopt_int(c, SOL_SOCKET, SO_TYPE))?;
    ensure(ty == 1, || format!("SO_TYPE {ty}"))?;
    wsa(
        "set SO_SNDBUF",
        p.setsockopt(c, SOL_SOCKET, SO_SNDBUF, &65536i32.to_ne_bytes()),
    )?;
    let size = wsa("SO_SNDBUF", p.getsockopt_int(c, SOL_SOCKET, SO_SNDBUF))?;
    ensure(size >= 65536, || format!("SO_SNDBUF {size}"))?;
    let err = wsa("SO_ERROR", p.getsockopt_int(c, SOL_SOCKET, SO_ERROR))?;
    ensure(err == 0, || format!("SO_ERROR {err}"))?;
    let listening = wsa(
        "SO_ACCEPTCONN",
        p.getsockopt_int(l, SOL_SOCKET, SO_ACCEPTCONN),
    )?;
    let connected = wsa(
        "SO_ACCEPTCONN",
        p.getsockopt_int(c, SOL_SOCKET, SO_ACCEPTCONN),
    )?;
    ensure(listening == 1 && connected == 0, || {
        format!("SO_ACCEPTCONN {listening} {connected}")
    })?;
    let size = size_of::<windows_sys::Win32::Networking::WinSock::WSAPROTOCOL_INFOW>();
    let raw = wsa(
        "SO_PROTOCOL_INFOW",
        p.getsockopt(c, SOL_SOCKET, SO_PROTOCOL_INFOW, size),
    )?;
    ensure(raw.len() == size, || {
        format!("SO_PROTOCOL_INFOW {} bytes", raw.len())
    })?;
    // dwCatalogEntryId follows the five flags and the GUID: offset 36.
    let id = u32::from_ne_bytes(raw[36..40].try_into().unwrap_or([0; 4]));
    ensure(id == CATALOG_ENTRY_ID, || format!("catalog entry {id}"))?;
    // SO_KEEPALIVE and SO_REUSEADDR are kept and read back as 0 or 1, as Linux does.
    for (name, what) in [
        (SO_KEEPALIVE, "SO_KEEPALIVE"),
        (SO_REUSEADDR, "SO_REUSEADDR"),
    ] {
        let before = wsa(what, p.getsockopt_int(c, SOL_SOCKET, name))?;
        wsa(what, p.setsockopt(c, SOL_SOCKET, name, &5i32.to_ne_bytes()))?;
        let after = wsa(what, p.getsockopt_int(c, SOL_SOCKET, name))?;
        ensure(before == 0 && after == 1, || {
            format!("{what}: {before} then {after} after setting 5")
        })?;
    }
    // SO_LINGER is Winsock's LINGER (two u_shorts); SO_DONTLINGER is !l_onoff.
    let linger = |p: &Provider| -> Result<(u16, u16), String> {
        let raw = wsa("SO_LINGER", p.getsockopt(c, SOL_SOCKET, SO_LINGER, 4))?;
        match raw[..] {
            [a, b, x, y] => Ok((u16::from_ne_bytes([a, b]), u16::from_ne_bytes([x, y]))),
            _ => Err(format!("SO_LINGER: {} bytes", raw.len())),
        }
    };
    let set_linger = |p: &Provider, onoff: u16, seconds: u16| {
        let mut v = onoff.to_ne_bytes().to_vec();
        v.extend_from_slice(&seconds.to_ne_bytes());
        wsa("set SO_LINGER", p.setsockopt(c, SOL_SOCKET, SO_LINGER, &v))
    };
    let dontlinger = |p: &Provider| {
        wsa(
            "SO_DONTLINGER",
            p.getsockopt_int(c, SOL_SOCKET, SO_DONTLINGER),
        )
    };
    ensure(linger(p)? == (0, 0), || {
        "SO_LINGER not {0, 0} at first".into()
    })?;
    set_linger(p, 1, 30)?;
    ensure(linger(p)? == (1, 30) && dontlinger(p)? == 0, || {
        "SO_LINGER {1, 30}".into()
    })?;
    wsa(
        "set SO_DONTLINGER",
        p.setsockopt(c, SOL_SOCKET, SO_DONTLINGER, &1i32.to_ne_bytes()),
    )?;
    ensure(linger(p)? == (0, 30) && dontlinger(p)? == 1, || {
        "SO_DONTLINGER keeps the time and clears l_onoff".into()
    })?;
    wsa(
        "clear SO_DONTLINGER",
        p.setsockopt(c, SOL_SOCKET, SO_DONTLINGER, &0i32.to_ne_bytes()),
    )?;
    ensure(linger(p)? == (1, 30), || "lingering again for 30 s".into())?;
    expect_err(
        "SO_LINGER from 2 bytes",
        p.setsockopt(c, SOL_SOCKET, SO_LINGER, &[1, 0]),
        WSAEFAULT,
    )?;
    expect_err(
        "SO_DEBUG",
        p.getsockopt_int(c, SOL_SOCKET, SO_DEBUG),
        WSAENOPROTOOPT,
    )?;
    expect_err(
        "SO_TYPE into 2 bytes",
        p.getsockopt(c, SOL_SOCKET, SO_TYPE, 2),
        WSAEFAULT,
    )?;
    let mut handle = [0u8; 8];
    let n = wsa(
        "SIO_BSP_HANDLE_POLL",
        p.ioctl(c, SIO_BSP_HANDLE_POLL, &[], &mut handle),
    )?;
    ensure(n == 8 && usize::from_ne_bytes(handle) == c, || {
        "SIO_BSP_HANDLE_POLL is not the socket itself".into()
    })?;
    wsa("send", p.send(s, b"12345"))?;
    let n = wsa("FIONREAD", p.fionread(c))?;
    ensure(n == 5, || format!("FIONREAD {n}"))?;
    close_all(p, &[l, c, s]);
    Ok(())
}

fn receive_timeout(p: &Provider) -> Result<(), String> {
    let (l, c, s) = connected(p)?;
    wsa(
        "SO_RCVTIMEO",
        p.setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &200u32.to_ne_bytes()),
    )?;
    let back = wsa("SO_RCVTIMEO", p.getsockopt_int(c, SOL_SOCKET, SO_RCVTIMEO))?;
    ensure(back == 200, || format!("SO_RCVTIMEO read back {back}"))?;
    let start = Instant::now();
    expect_err(
        "recv with a timeout",
        p.recv(c, &mut [0; 4], 0),
        WSAETIMEDOUT,
    )?;
    let waited = start.elapsed();
    ensure(waited >= Duration::from_millis(190), || {
        format!("returned after {waited:?}")
    })?;
    // The socket still works.
    wsa("send", p.send(s, b"ok"))?;
    let n = wsa("recv", p.recv(c, &mut [0; 4], 0))?;
    ensure(n == 2, || format!("recv {n}"))?;
    close_all(p, &[l, c, s]);
    Ok(())
}

fn credentials(p: &Provider) -> Result<(), String> {
    let (l, c, s) = connected(p)?;
    let mut out = [0u8; 4];
    let n = wsa(
        "SIO_AF_UNIX_GETPEERPID",
        p.ioctl(c, SIO_AF_UNIX_GETPEERPID, &[], &mut out),
    )?;
    // SAFETY:
    // 1. No preconditions.
    let pid = unsafe { GetCurrentProcessId() };
    ensure(n == 4 && u32::from_ne_bytes(out) == pid, || {
        format!(
            "GETPEERPID returned {n} bytes, pid {}",
            u32::from_ne_bytes(out)
        )
    })?;
    let mut cred = [0u8; size_of::<afunix_proto::wire::PeerCredOut>()];
    let n = wsa(
        "SIO_AFUNIX_PEERCRED",
        p.ioctl(c, afunix_proto::ioctl::SIO_AFUNIX_PEERCRED, &[], &mut cred),
    )?;
    let word = |at: usize| u32::from_ne_bytes(cred[at..at + 4].try_into().unwrap_or([0; 4]));
    let (cred_pid, sid_len, integrity) = (word(0), word(4), word(76));
    // Same process, same token: the level the driver read is the one this process has.
    let own = crate::driver::own_integrity().unwrap_or(u32::MAX);
    ensure(
        n == cred.len() && cred_pid == pid && sid_len >= 8 && cred[8] == 1 && integrity == own,
        || {
            format!(
                "PEERCRED {n} bytes, pid {cred_pid}, SID {sid_len} bytes, revision {}, \
                 integrity {integrity:#x} (ours {own:#x})",
                cred[8]
            )
        },
    )?;
    expect_err(
        "GETPEERPID into 2 bytes",
        p.ioctl(c, SIO_AF_UNIX_GETPEERPID, &[], &mut [0; 2]),
        WSAEFAULT,
    )?;
    close_all(p, &[l, c, s]);
    Ok(())
}

fn overlapped_event(p: &Provider) -> Result<(), String> {
    let (l, c, s) = connected(p)?;
    let event = Event::new()?;
    let mut ov = zeroed_overlapped(event.0);
    let mut buf = vec![0u8; 32];
    // SAFETY:
    // 1. `ov` and `buf` live until the request is complete: it is waited for below.
    let started = unsafe { p.start_overlapped(c, &mut buf, true, &mut *ov, None) };
    ensure(started == Ok(None), || {
        format!("overlapped recv should pend: {started:?}")
    })?;
    expect_err(
        "WSPGetOverlappedResult before completion",
        p.overlapped_result(c, &*ov, false),
        WSA_IO_INCOMPLETE,
    )?;
    wsa("send", p.send(s, b"overlapped"))?;
    ensure(event.wait(5000), || {
        "the OVERLAPPED's event was not signalled".into()
    })?;
    let n = wsa("WSPGetOverlappedResult", p.overlapped_result(c, &*ov, true))?;
    ensure(&buf[..n] == b"overlapped", || {
        format!("received {:?}", &buf[..n])
    })?;
    // A send that completes at once returns 0 and its count.
    let mut data = b"at once".to_vec();
    let mut ov2 = zeroed_overlapped(event.0);
    // SAFETY:
    // 1. As above.
    let sent = unsafe { p.start_overlapped(s, &mut data, false, &mut *ov2, None) };
    ensure(sent == Ok(Some(7)), || format!("overlapped send {sent:?}"))?;
    let n = wsa("result of the send", p.overlapped_result(s, &*ov2, true))?;
    ensure(n == 7, || format!("send result {n}"))?;
    // Overlapped requests wait even on a non-blocking socket, as Winsock's do.
    wsa("FIONBIO", p.set_nonblocking(c, true))?;
    let drained = wsa("recv", p.recv(c, &mut buf, 0))?;
    ensure(drained == 7, || format!("drained {drained}"))?;
    // SAFETY:
    // 1. Our own event.
    unsafe { windows_sys::Win32::System::Threading::ResetEvent(event.0) };
    let mut ov3 = zeroed_overlapped(event.0);
    // SAFETY:
    // 1. As above.
    let started = unsafe { p.start_overlapped(c, &mut buf, true, &mut *ov3, None) };
    ensure(started == Ok(None), || {
        format!("overlapped recv on a non-blocking socket should pend: {started:?}")
    })?;
    wsa("send", p.send(s, b"later"))?;
    ensure(event.wait(5000), || "not signalled".into())?;
    let n = wsa("result", p.overlapped_result(c, &*ov3, true))?;
    ensure(&buf[..n] == b"later", || {
        format!("received {:?}", &buf[..n])
    })?;
    close_all(p, &[l, c, s]);
    Ok(())
}

static ROUTINE_CALLS: AtomicU32 = AtomicU32::new(0);
static ROUTINE_BYTES: AtomicU32 = AtomicU32::new(0);
static ROUTINE_ERROR: AtomicU32 = AtomicU32::new(u32::MAX);

unsafe extern "system" fn routine(error: u32, bytes: u32, _ov: *mut OVERLAPPED, _flags: u32) {
    ROUTINE_ERROR.store(error, Ordering::SeqCst);
    ROUTINE_BYTES.store(bytes, Ordering::SeqCst);
    ROUTINE_CALLS.fetch_add(1, Ordering::SeqCst);
}

fn alertable_wait(ms: u32, until: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_millis(u64::from(ms));
    while !until() && Instant::now() < deadline {
        // SAFETY:
        // 1. An alertable sleep: queued APCs (completion routines) run here.
        unsafe { SleepEx(50, 1) };
    }
}

fn completion_routine(p: &Provider) -> Result<(), String> {
    let (l, c, s) = connected(p)?;
    ROUTINE_CALLS.store(0, Ordering::SeqCst);
    let mut ov = zeroed_overlapped(ptr::null_mut());
    let mut buf = vec![0u8; 32];
    // SAFETY:
    // 1. `ov` and `buf` outlive the request: the routine's call is waited for below.
    let started = unsafe { p.start_overlapped(c, &mut buf, true, &mut *ov, Some(routine)) };
    ensure(started == Ok(None), || format!("should pend: {started:?}"))?;
    wsa("send", p.send(s, b"routine"))?;
    alertable_wait(5000, || ROUTINE_CALLS.load(Ordering::SeqCst) > 0);
    ensure(ROUTINE_CALLS.load(Ordering::SeqCst) == 1, || {
        format!(
            "the completion routine ran {} times",
            ROUTINE_CALLS.load(Ordering::SeqCst)
        )
    })?;
    let (error, bytes) = (
        ROUTINE_ERROR.load(Ordering::SeqCst),
        ROUTINE_BYTES.load(Ordering::SeqCst),
    );
    ensure(error == 0 && bytes == 7 && &buf[..7] == b"routine", || {
        format!("routine got error {error}, {bytes} bytes")
    })?;
    // A request that finishes at once returns 0, and its routine still runs, once.
    wsa("send", p.send(s, b"now"))?;
    let mut ov1 = zeroed_overlapped(ptr::null_mut());
    // SAFETY:
    // 1. As above: the routine's call is waited for below.
    let at_once = unsafe { p.start_overlapped(c, &mut buf, true, &mut *ov1, Some(routine)) };
    ensure(at_once == Ok(Some(3)), || {
        format!("a recv with data waiting: {at_once:?}")
    })?;
    alertable_wait(5000, || ROUTINE_CALLS.load(Ordering::SeqCst) > 1);
    ensure(ROUTINE_CALLS.load(Ordering::SeqCst) == 2, || {
        format!(
            "the routine of a request that finished at once ran {} times",
            ROUTINE_CALLS.load(Ordering::SeqCst) - 1
        )
    })?;
    ensure(ROUTINE_BYTES.load(Ordering::SeqCst) == 3, || {
        "its count".into()
    })?;
    // A request that fails at once reports its error and never runs the routine.
    let u = wsa("socket", p.socket())?;
    let mut ov2 = zeroed_overlapped(ptr::null_mut());
    // SAFETY:
    // 1. As above; the request fails at once.
    let failed = unsafe { p.start_overlapped(u, &mut buf, true, &mut *ov2, Some(routine)) };
    ensure(failed == Err(WSAEINVAL), || {
        format!("unconnected overlapped recv: {failed:?}")
    })?;
    alertable_wait(200, || false);
    ensure(ROUTINE_CALLS.load(Ordering::SeqCst) == 2, || {
        "the routine ran for a request that failed at once".into()
    })?;
    close_all(p, &[l, c, s, u]);
    Ok(())
}

fn completion_port(p: &Provider) -> Result<(), String> {
    let (l, c, s) = connected(p)?;
    // SAFETY:
    // 1. Creates a port and associates the socket handle with key 77.
    let port = unsafe { CreateIoCompletionPort(c as HANDLE, ptr::null_mut(), 77, 0) };
    if port.is_null() {
        return Err("CreateIoCompletionPort failed".into());
    }
    let mut ov = zeroed_overlapped(ptr::null_mut());
    let mut buf = vec![0u8; 32];
    // SAFETY:
    // 1. `ov` and `buf` outlive the request: its packet is dequeued below.
    let started = unsafe { p.start_overlapped(c, &mut buf, true, &mut *ov, None) };
    let result = (|| {
        ensure(started == Ok(None), || format!("should pend: {started:?}"))?;
        wsa("send", p.send(s, b"iocp"))?;
        let (mut bytes, mut key, mut got) = (0u32, 0usize, ptr::null_mut());
        // SAFETY:
        // 1. Our port and valid out pointers.
        let ok = unsafe { GetQueuedCompletionStatus(port, &mut bytes, &mut key, &mut got, 5000) };
        ensure(
            ok != 0 && key == 77 && std::ptr::eq(got, &*ov) && bytes == 4,
            || {
                format!(
                    "packet ok {ok}, key {key}, {bytes} bytes, right OVERLAPPED {}",
                    std::ptr::eq(got, &*ov)
                )
            },
        )?;
        ensure(&buf[..4] == b"iocp", || "data".into())
    })();
    // SAFETY:
    // 1. Our port, closed once.
    unsafe { CloseHandle(port) };
    close_all(p, &[l, c, s]);
    result
}

fn ifs_handles(p: &Provider) -> Result<(), String> {
    let (l, c, s) = connected(p)?;
    let event = Event::new()?;
    let data = b"through WriteFile";
    let mut ov = zeroed_overlapped(event.0);
    let mut n = 0u32;
    // SAFETY:
    // 1. The SOCKET is a file handle (IFS); `data` and `ov` outlive the request, which is
    //    waited for below.
    unsafe {
        WriteFile(
            c as HANDLE,
            data.as_ptr(),
            data.len() as u32,
            &mut n,
            &mut *ov,
        )
    };
    ensure(event.wait(5000), || "WriteFile did not complete".into())?;
    let mut buf = [0u8; 32];
    let got = wsa("recv", p.recv(s, &mut buf, 0))?;
    ensure(&buf[..got] == data, || {
        format!("received {:?}", &buf[..got])
    })?;
    // SAFETY:
    // 1. Our own event.
    unsafe { windows_sys::Win32::System::Threading::ResetEvent(event.0) };
    // A ReadFile that pends until the peer sends.
    let mut ov2 = zeroed_overlapped(event.0);
    // SAFETY:
    // 1. As above, reading into `buf`, which outlives the request.
    unsafe {
        ReadFile(
            c as HANDLE,
            buf.as_mut_ptr(),
            buf.len() as u32,
            &mut n,
            &mut *ov2,
        )
    };
    ensure(!event.wait(100), || {
        "ReadFile completed with nothing sent".into()
    })?;
    wsa("send", p.send(s, b"to ReadFile"))?;
    ensure(event.wait(5000), || "ReadFile did not complete".into())?;
    let got = wsa("result", p.overlapped_result(c, &*ov2, true))?;
    ensure(&buf[..got] == b"to ReadFile", || {
        format!("ReadFile got {:?}", &buf[..got])
    })?;
    close_all(p, &[l, c, s]);
    Ok(())
}

fn cancel(p: &Provider) -> Result<(), String> {
    let (l, c, s) = connected(p)?;
    let event = Event::new()?;
    let mut ov = zeroed_overlapped(event.0);
    let mut buf = vec![0u8; 16];
    // SAFETY:
    // 1. `ov` and `buf` outlive the request: it is cancelled and waited for below.
    let started = unsafe { p.start_overlapped(c, &mut buf, true, &mut *ov, None) };
    ensure(started == Ok(None), || format!("should pend: {started:?}"))?;
    // SAFETY:
    // 1. Cancels this request on the socket handle.
    let ok = unsafe { CancelIoEx(c as HANDLE, &*ov) };
    ensure(ok != 0, || "CancelIoEx found nothing to cancel".into())?;
    expect_err(
        "cancelled recv",
        p.overlapped_result(c, &*ov, true),
        WSA_OPERATION_ABORTED,
    )?;
    // Nothing was lost: the next recv gets the next data.
    wsa("send", p.send(s, b"after"))?;
    let n = wsa("recv", p.recv(c, &mut buf, 0))?;
    ensure(&buf[..n] == b"after", || "data after the cancel".into())?;
    close_all(p, &[l, c, s]);
    Ok(())
}

fn select(p: &Provider) -> Result<(), String> {
    let (l, c, s) = connected(p)?;
    let (n, sets) = wsa(
        "select, nothing to read",
        p.select(&[c], &[], &[], Some(Duration::ZERO)),
    )?;
    ensure(n == 0 && sets[0].is_empty(), || format!("select said {n}"))?;
    let (n, sets) = wsa(
        "select for writing",
        p.select(&[], &[c], &[], Some(Duration::ZERO)),
    )?;
    ensure(n == 1 && sets[1] == [c], || format!("writable: {n}"))?;
    let start = Instant::now();
    let (n, _) = wsa(
        "select with a timeout",
        p.select(&[c], &[], &[], Some(Duration::from_millis(150))),
    )?;
    let waited = start.elapsed();
    ensure(n == 0 && waited >= Duration::from_millis(140), || {
        format!("timed select: {n} after {waited:?}")
    })?;
    wsa("send", p.send(s, b"x"))?;
    let (n, sets) = wsa("select after data", p.select(&[c, s], &[s], &[c], None))?;
    ensure(
        n == 2 && sets[0] == [c] && sets[1] == [s] && sets[2].is_empty(),
        || format!("select after data: {n} {sets:?}"),
    )?;
    // A pending connection makes the listener readable; a blocking select wakes for it.
    let name = wsa("getsockname", p.name(l, false, 110))?;
    let woke = std::thread::scope(|scope| {
        let t = scope.spawn(|| p.select(&[l], &[], &[], Some(Duration::from_secs(5))));
        std::thread::sleep(Duration::from_millis(100));
        let c2 = p.socket();
        if let Ok(c2) = c2 {
            let _ = p.connect(c2, &name);
            let r = t.join();
            let _ = p.accept(l).map(|(a, _)| p.close(a));
            let _ = p.close(c2);
            r.ok()
        } else {
            None
        }
    });
    ensure(
        matches!(&woke, Some(Ok((1, sets))) if sets[0] == [l]),
        || format!("select on the listener: {woke:?}"),
    )?;
    expect_err(
        "select on no sockets",
        p.select(&[], &[], &[], Some(Duration::ZERO)),
        WSAEINVAL,
    )?;
    close_all(p, &[l, c, s]);
    Ok(())
}

fn wsapoll(p: &Provider) -> Result<(), String> {
    let (l, c, s) = connected(p)?;
    let (r, rev) = wsa("WSAPoll", p.wsapoll(&[(c, POLLRDNORM | POLLWRNORM)], 0))?;
    ensure(r == 1 && rev == [POLLWRNORM], || {
        format!("idle: {r} {rev:?}")
    })?;
    wsa("send", p.send(s, b"x"))?;
    let (r, rev) = wsa(
        "WSAPoll",
        p.wsapoll(
            &[(c, POLLRDNORM), (usize::MAX, POLLRDNORM), (s, POLLRDNORM)],
            0,
        ),
    )?;
    ensure(r == 1 && rev == [POLLRDNORM, 0, 0], || {
        format!("data: {r} {rev:?}")
    })?;
    wsa("closesocket", p.close(s))?;
    let (r, rev) = wsa("WSAPoll", p.wsapoll(&[(c, POLLRDNORM)], 1000))?;
    ensure(r == 1 && rev[0] & POLLHUP != 0, || {
        format!("after close: {r} {rev:?}")
    })?;
    close_all(p, &[l, c]);
    Ok(())
}

fn enum_until(
    p: &Provider,
    s: SOCKET,
    event: &Event,
    want: i32,
) -> Result<(i32, [i32; 10]), String> {
    let mut seen = 0;
    let mut errors = [0; 10];
    let deadline = Instant::now() + Duration::from_secs(5);
    while seen & want != want && Instant::now() < deadline {
        event.wait(100);
        let ev = wsa("WSPEnumNetworkEvents", p.enum_events(s, event.0))?;
        seen |= ev.lNetworkEvents;
        for (slot, e) in errors.iter_mut().zip(ev.iErrorCode) {
            if e != 0 {
                *slot = e;
            }
        }
    }
    if seen & want == want {
        Ok((seen, errors))
    } else {
        Err(format!(
            "waited for network events {want:#x}, saw {seen:#x}"
        ))
    }
}

fn event_select(p: &Provider) -> Result<(), String> {
    let l = wsa("socket", p.socket())?;
    wsa("bind", p.bind(l, &abstract_addr(&unique("events"))))?;
    wsa("listen", p.listen(l, 4))?;
    let name = wsa("getsockname", p.name(l, false, 110))?;
    let levent = Event::new()?;
    // The usual server: FD_ACCEPT with FD_READ and FD_CLOSE on the listener, which its
    // accepted sockets inherit (Winsock's rule).
    wsa(
        "WSPEventSelect(FD_ACCEPT | FD_READ | FD_CLOSE)",
        p.event_select(l, levent.0, FD_ACCEPT | FD_READ | FD_CLOSE),
    )?;
    expect_err(
        "FIONBIO off while selected",
        p.set_nonblocking(l, false),
        WSAEINVAL,
    )?;
    let c = wsa("socket", p.socket())?;
    let cevent = Event::new()?;
    wsa(
        "WSPEventSelect(client)",
        p.event_select(c, cevent.0, FD_CONNECT | FD_WRITE | FD_READ | FD_CLOSE),
    )?;
    let connected = p.connect(c, &name);
    ensure(connected.is_ok(), || {
        format!("connect on an event-selected socket: {connected:?}")
    })?;
    enum_until(p, c, &cevent, FD_CONNECT | FD_WRITE)?;
    enum_until(p, l, &levent, FD_ACCEPT)?;
    let (s, _) = wsa("accept", p.accept(l))?;
    // The accepted socket inherits FD_ACCEPT | FD_READ | FD_CLOSE and the listener's event.
    wsa("send", p.send(c, b"ping"))?;
    enum_until(p, s, &levent, FD_READ)?;
    // Recorded once: no second FD_READ until recv re-enables it.
    ensure(!levent.wait(200), || {
        "the event was signalled again without a recv".into()
    })?;
    let mut buf = [0u8; 8];
    let n = wsa("recv", p.recv(s, &mut buf, 0))?;
    ensure(n == 4, || format!("recv {n}"))?;
    wsa("send", p.send(c, b"pong"))?;
    enum_until(p, s, &levent, FD_READ)?;
    wsa("recv", p.recv(s, &mut buf, 0))?;
    // A new WSAEventSelect clears what was recorded and not yet taken.
    wsa("send", p.send(c, b"more"))?;
    ensure(levent.wait(5000), || "no FD_READ for more data".into())?;
    let sevent = Event::new()?;
    wsa(
        "WSPEventSelect(server, FD_CLOSE)",
        p.event_select(s, sevent.0, FD_CLOSE),
    )?;
    let after = wsa("WSPEnumNetworkEvents", p.enum_events(s, sevent.0))?;
    ensure(after.lNetworkEvents == 0, || {
        format!(
            "a new selection kept the old record: {:#x}",
            after.lNetworkEvents
        )
    })?;
    wsa("recv", p.recv(s, &mut buf, 0))?;
    wsa("closesocket client", p.close(c))?;
    let (_, errors) = enum_until(p, s, &sevent, FD_CLOSE)?;
    ensure(errors[5] == 0, || format!("FD_CLOSE error {}", errors[5]))?;
    // Reset: FD_CLOSE with WSAECONNRESET.
    let c2 = wsa("socket", p.socket())?;
    wsa("connect", p.connect(c2, &name))?;
    enum_until(p, l, &levent, FD_ACCEPT)?;
    let (s2, _) = wsa("accept", p.accept(l))?;
    let e2 = Event::new()?;
    wsa("WSPEventSelect", p.event_select(s2, e2.0, FD_CLOSE))?;
    wsa("send", p.send(s2, b"unread"))?;
    wsa("closesocket with unread data", p.close(c2))?;
    let (_, errors) = enum_until(p, s2, &e2, FD_CLOSE)?;
    ensure(errors[5] == WSAECONNRESET, || {
        format!("FD_CLOSE after a reset: error {}", errors[5])
    })?;
    close_all(p, &[l, s, s2]);
    Ok(())
}

fn duplicate(p: &Provider) -> Result<(), String> {
    let (l, c, s) = connected(p)?;
    // SAFETY:
    // 1. No preconditions.
    let pid = unsafe { GetCurrentProcessId() };
    let info = wsa("WSPDuplicateSocket", p.duplicate(c, pid))?;
    ensure(info.dwProviderReserved != 0, || {
        "no handle in the protocol info".into()
    })?;
    let d = wsa("WSPSocket(FROM_PROTOCOL_INFO)", p.socket_from(&info))?;
    ensure(d != c, || "the duplicate is the same SOCKET".into())?;
    wsa("closesocket original", p.close(c))?;
    wsa("send on the duplicate", p.send(d, b"dup"))?;
    let mut buf = [0u8; 8];
    let n = wsa("recv", p.recv(s, &mut buf, 0))?;
    ensure(&buf[..n] == b"dup", || "data through the duplicate".into())?;
    // A duplicated listener is a listener: SO_ACCEPTCONN, accept and FD_ACCEPT work on it.
    let info = wsa("WSPDuplicateSocket(listener)", p.duplicate(l, pid))?;
    let dl = wsa("WSPSocket(FROM_PROTOCOL_INFO)", p.socket_from(&info))?;
    expect_err(
        "adopting the same info twice",
        p.socket_from(&info),
        WSAEINVAL,
    )?;
    let listening = wsa(
        "SO_ACCEPTCONN",
        p.getsockopt_int(dl, SOL_SOCKET, SO_ACCEPTCONN),
    )?;
    ensure(listening == 1, || {
        format!("SO_ACCEPTCONN of the duplicate: {listening}")
    })?;
    let event = Event::new()?;
    wsa("WSPEventSelect", p.event_select(dl, event.0, FD_ACCEPT))?;
    let name = wsa("getsockname", p.name(l, false, 110))?;
    let c2 = wsa("socket", p.socket())?;
    wsa("connect", p.connect(c2, &name))?;
    enum_until(p, dl, &event, FD_ACCEPT)?;
    let (s2, _) = wsa("accept on the duplicate", p.accept(dl))?;
    close_all(p, &[dl, c2, s2]);
    close_all(p, &[l, d, s]);
    Ok(())
}

// ---- the commands --------------------------------------------------------------------

/// The provider next to this program, where the package puts it.
pub fn default_dll() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| {
            p.parent()
                .map(|d| d.join(afunix_proto::names::PROVIDER_FILE))
        })
        .unwrap_or_else(|| PathBuf::from(afunix_proto::names::PROVIDER_FILE))
}

/// Runs every check (or those whose name contains `only`), then replays `trace` through
/// the provider if given.
pub fn run(dll: &Path, only: Option<&str>, trace: Option<&Path>) -> Result<(), String> {
    let p = Provider::load(dll)?;
    println!("loaded {} ({})", dll.display(), p.description);
    let (mut passed, mut failed) = (0, 0);
    for (name, check) in checks() {
        if only.is_some_and(|o| !name.contains(o)) {
            continue;
        }
        match check(&p) {
            Ok(()) => {
                passed += 1;
                println!("ok    {name}");
            }
            Err(e) => {
                failed += 1;
                println!("FAIL  {name}: {e}");
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if let Some(trace) = trace {
        let r = crate::conformance::replay_wsp(trace, &p)?;
        if r != 0 {
            failed += 1;
        }
    }
    if failed > 0 {
        return Err(format!("{failed} provider checks failed"));
    }
    Ok(())
}

/// `wsp-server`: the `server` program through the provider.
pub fn server(dll: &Path, path: &Path, connections: usize) -> Result<(), String> {
    let p = Provider::load(dll)?;
    let l = wsa("socket", p.socket())?;
    wsa("bind", p.bind(l, &sockaddr(&path.to_string_lossy())))?;
    wsa("listen", p.listen(l, 8))?;
    println!("wsp-server: listening on {}", path.display());
    for _ in 0..connections {
        let (s, _) = wsa("accept", p.accept(l))?;
        let mut line = Vec::new();
        let mut buf = [0u8; 256];
        loop {
            let n = wsa("recv", p.recv(s, &mut buf, 0))?;
            if n == 0 {
                break;
            }
            line.extend_from_slice(&buf[..n]);
            while let Some(end) = line.iter().position(|&b| b == b'\n') {
                let rest = line.split_off(end + 1);
                let reply = line.to_ascii_uppercase();
                let mut sent = 0;
                while sent < reply.len() {
                    sent += wsa("send", p.send(s, &reply[sent..]))?;
                }
                line = rest;
            }
        }
        wsa("closesocket", p.close(s))?;
        println!("wsp-server: a connection ended");
    }
    wsa("closesocket", p.close(l))?;
    let _ = std::fs::remove_file(path);
    Ok(())
}

/// `wsp-client`: the `client` program through the provider.
pub fn client(dll: &Path, path: &Path, message: &str) -> Result<(), String> {
    let p = Provider::load(dll)?;
    let addr = sockaddr(&path.to_string_lossy());
    let c = wsa("socket", p.socket())?;
    // The server may still be starting.
    let deadline = Instant::now() + Duration::from_secs(20);
    while let Err(e) = p.connect(c, &addr) {
        if Instant::now() > deadline {
            return Err(format!("connect: WSA error {e}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for word in message.split_whitespace() {
        let line = format!("{word}\n");
        wsa("send", p.send(c, line.as_bytes()))?;
        let mut reply = Vec::new();
        let mut buf = [0u8; 256];
        while !reply.ends_with(b"\n") {
            let n = wsa("recv", p.recv(c, &mut buf, 0))?;
            if n == 0 {
                return Err("the server closed early".into());
            }
            reply.extend_from_slice(&buf[..n]);
        }
        let want = line.to_uppercase();
        if reply != want.as_bytes() {
            return Err(format!(
                "sent {line:?}, got {:?}",
                String::from_utf8_lossy(&reply)
            ));
        }
        println!("wsp-client: {} -> {}", word, want.trim_end());
    }
    wsa("shutdown", p.shutdown(c, 1))?;
    wsa("closesocket", p.close(c))
}
