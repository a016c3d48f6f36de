//! The provider's message sockets, SOCK_DGRAM and SOCK_SEQPACKET, through the SPI: what a
//! Winsock program that opens them notices (addresses on datagrams, record boundaries,
//! WSAEMSGSIZE for a buffer too short, readiness).

use std::mem::offset_of;
use std::ptr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use windows_sys::Win32::Networking::WinSock::{
    self as ws, POLLHUP, POLLRDNORM, POLLWRNORM, SO_MAX_MSG_SIZE, SO_PROTOCOL_INFOW, SO_SNDBUF,
    SO_TYPE, SOCK_DGRAM, SOCK_SEQPACKET, SOCKET, SOL_SOCKET, WSAECONNREFUSED, WSAEMSGSIZE,
    WSAENOPROTOOPT, WSAENOTCONN, WSAEOPNOTSUPP, WSAPROTOCOL_INFOW, XP1_CONNECTIONLESS,
    XP1_GUARANTEED_DELIVERY, XP1_IFS_HANDLES, XP1_MESSAGE_ORIENTED, XP1_PARTIAL_MESSAGE,
};

use super::provider::{LAST_CATALOG_ID, Provider, catalog_id};
use super::{
    Check, Event, FD_CLOSE, FD_CONNECT, FD_READ, FD_WRITE, MSG_PEEK, MSG_WAITALL, abstract_addr,
    close_all, ensure, enum_until, expect_err, sockaddr, unique, wsa, zeroed_overlapped,
};

const MSG_PARTIAL: u32 = ws::MSG_PARTIAL;

pub(super) fn checks() -> Vec<(&'static str, Check)> {
    vec![
        (
            "SOCK_DGRAM: sendto and recvfrom with names, connect, AF_UNSPEC, empty datagrams, errors",
            datagram,
        ),
        (
            "message truncation: WSAEMSGSIZE with the first part, the rest gone, no MSG_PARTIAL; SO_MAX_MSG_SIZE",
            truncation,
        ),
        (
            "SOCK_SEQPACKET: listen, connect, accept, records kept apart, names, end of file",
            seqpacket,
        ),
        (
            "select, WSAPoll and WSPEventSelect on SOCK_DGRAM and SOCK_SEQPACKET",
            readiness,
        ),
        (
            "overlapped WSPSendTo on SOCK_DGRAM; an overlapped WSPRecvFrom asking for the address is refused",
            overlapped_datagram,
        ),
        (
            "WSASendMsg and WSARecvMsg from SIO_GET_EXTENSION_FUNCTION_POINTER: a pipe's handle passed in an SCM_RIGHTS control message works in the receiver; too small a control buffer gets MSG_CTRUNC",
            send_and_recv_msg,
        ),
    ]
}

type SendMsg = unsafe extern "system" fn(
    SOCKET,
    *const ws::WSAMSG,
    u32,
    *mut u32,
    *mut windows_sys::Win32::System::IO::OVERLAPPED,
    ws::LPWSAOVERLAPPED_COMPLETION_ROUTINE,
) -> i32;
type RecvMsg = unsafe extern "system" fn(
    SOCKET,
    *mut ws::WSAMSG,
    *mut u32,
    *mut windows_sys::Win32::System::IO::OVERLAPPED,
    ws::LPWSAOVERLAPPED_COMPLETION_ROUTINE,
) -> i32;

/// The extension function `guid` names, as a program asks for it.
fn extension(p: &Provider, s: SOCKET, guid: &windows_sys::core::GUID) -> Result<usize, i32> {
    let mut input = Vec::new();
    input.extend_from_slice(&guid.data1.to_ne_bytes());
    input.extend_from_slice(&guid.data2.to_ne_bytes());
    input.extend_from_slice(&guid.data3.to_ne_bytes());
    input.extend_from_slice(&guid.data4);
    let mut out = [0u8; 8];
    let n = p.ioctl(s, ws::SIO_GET_EXTENSION_FUNCTION_POINTER, &input, &mut out)?;
    if n != 8 {
        return Err(0);
    }
    Ok(usize::from_ne_bytes(out))
}

fn send_and_recv_msg(p: &Provider) -> Result<(), String> {
    use std::io::{Read, Write};
    use std::os::windows::io::FromRawHandle;
    let (l, c, srv) = seqpacket_pair(p)?;
    let send = wsa("WSASendMsg", extension(p, c, &ws::WSAID_WSASENDMSG))?;
    let recv = wsa("WSARecvMsg", extension(p, srv, &ws::WSAID_WSARECVMSG))?;
    expect_err(
        "an extension we do not have",
        extension(p, c, &ws::WSAID_TRANSMITPACKETS),
        WSAEOPNOTSUPP,
    )?;
    // SAFETY:
    // 1. The provider returned its WSASendMsg and WSARecvMsg, of these prototypes.
    let send: SendMsg = unsafe { std::mem::transmute::<usize, SendMsg>(send) };
    // SAFETY:
    // 1. As above.
    let recv: RecvMsg = unsafe { std::mem::transmute::<usize, RecvMsg>(recv) };
    let mut read_end: windows_sys::Win32::Foundation::HANDLE = ptr::null_mut();
    let mut write_end: windows_sys::Win32::Foundation::HANDLE = ptr::null_mut();
    // SAFETY:
    // 1. Valid out pointers, default attributes and size.
    let made = unsafe {
        windows_sys::Win32::System::Pipes::CreatePipe(&mut read_end, &mut write_end, ptr::null(), 0)
    };
    ensure(made != 0, || "CreatePipe".into())?;
    // SAFETY:
    // 1. CreatePipe made both handles for us alone.
    let mut reader = unsafe { std::fs::File::from_raw_handle(read_end) };
    // SAFETY:
    // 1. As above.
    let writer = unsafe { std::fs::File::from_raw_handle(write_end) };

    let round = |room: usize, count: usize| -> Result<(Vec<u64>, u32, u32), String> {
        let mut control = vec![0u64; 8];
        let bytes = control.len() * 8;
        // SAFETY:
        // 1. `control` is 64 writable bytes, viewed as bytes for the call.
        let control_bytes =
            unsafe { std::slice::from_raw_parts_mut(control.as_mut_ptr().cast::<u8>(), bytes) };
        let handles = vec![write_end as u64; count];
        let used = afunix_proto::cmsg::write_rights(control_bytes, &handles)
            .ok_or("the control message does not fit")?;
        let mut data = *b"with handles";
        let mut buf = ws::WSABUF {
            len: data.len() as u32,
            buf: data.as_mut_ptr(),
        };
        let msg = ws::WSAMSG {
            name: ptr::null_mut(),
            namelen: 0,
            lpBuffers: &mut buf,
            dwBufferCount: 1,
            Control: ws::WSABUF {
                len: used as u32,
                buf: control_bytes.as_mut_ptr(),
            },
            dwFlags: 0,
        };
        let mut sent = 0u32;
        // SAFETY:
        // 1. WSASendMsg's contract: the WSAMSG and everything it points to outlive the call.
        let r = unsafe { send(c, &msg, 0, &mut sent, ptr::null_mut(), None) };
        ensure(r == 0 && sent == 12, || {
            format!("WSASendMsg {r} sent {sent}")
        })?;

        let mut in_control = vec![0u64; 8];
        // SAFETY:
        // 1. `in_control` is 64 writable bytes.
        let in_bytes =
            unsafe { std::slice::from_raw_parts_mut(in_control.as_mut_ptr().cast::<u8>(), 64) };
        let mut got = [0u8; 32];
        let mut rbuf = ws::WSABUF {
            len: got.len() as u32,
            buf: got.as_mut_ptr(),
        };
        let mut from = [0u8; 110];
        let mut rmsg = ws::WSAMSG {
            name: from.as_mut_ptr().cast(),
            namelen: from.len() as i32,
            lpBuffers: &mut rbuf,
            dwBufferCount: 1,
            Control: ws::WSABUF {
                len: afunix_proto::cmsg::len(room * 8) as u32,
                buf: in_bytes.as_mut_ptr(),
            },
            dwFlags: 0,
        };
        let mut received = 0u32;
        // SAFETY:
        // 1. WSARecvMsg's contract: the WSAMSG and its buffers outlive the call.
        let r = unsafe { recv(srv, &mut rmsg, &mut received, ptr::null_mut(), None) };
        ensure(
            r == 0 && &got[..received as usize] == b"with handles",
            || format!("WSARecvMsg {r}, {received} bytes"),
        )?;
        let mut out = Vec::new();
        for m in afunix_proto::cmsg::parse(&in_bytes[..rmsg.Control.len as usize]) {
            let m = m.map_err(|e| format!("{e:?}"))?;
            out.extend(afunix_proto::cmsg::handles(m.data));
        }
        Ok((out, rmsg.dwFlags, rmsg.Control.len))
    };

    // Room for two of two: both arrive, each a working handle to the pipe's write end.
    let (handles, flags, _) = round(2, 2)?;
    ensure(handles.len() == 2 && flags & ws::MSG_CTRUNC == 0, || {
        format!("{} handles, flags {flags:#x}", handles.len())
    })?;
    for (i, h) in handles.iter().enumerate() {
        // SAFETY:
        // 1. WSARecvMsg made this handle in our process; nothing else owns it.
        let mut pipe = unsafe { std::fs::File::from_raw_handle(*h as _) };
        pipe.write_all(&[b'0' + i as u8])
            .map_err(|e| format!("write through a received handle: {e}"))?;
    }
    let mut two = [0u8; 2];
    reader
        .read_exact(&mut two)
        .map_err(|e| format!("read the pipe: {e}"))?;
    ensure(&two == b"01", || format!("the pipe carried {two:?}"))?;
    // Room for one of three: MSG_CTRUNC, one handle, the others closed.
    let (handles, flags, _) = round(1, 3)?;
    ensure(handles.len() == 1 && flags & ws::MSG_CTRUNC != 0, || {
        format!("{} handles, flags {flags:#x}", handles.len())
    })?;
    // SAFETY:
    // 1. As above.
    drop(unsafe { std::fs::File::from_raw_handle(handles[0] as _) });
    // No room at all: MSG_CTRUNC, no control message.
    let (handles, flags, len) = round(0, 1)?;
    ensure(
        handles.is_empty() && flags & ws::MSG_CTRUNC != 0 && len == 0,
        || format!("{} handles, flags {flags:#x}, control {len}", handles.len()),
    )?;
    // Every copy of the write end is closed now but ours: closing it ends the pipe.
    drop(writer);
    let end = std::thread::spawn(move || {
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).map(|_| rest.len())
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !end.is_finished() {
        ensure(std::time::Instant::now() < deadline, || {
            "the pipe never ended: a passed copy of its write end is still open".into()
        })?;
        std::thread::sleep(Duration::from_millis(20));
    }
    ensure(matches!(end.join(), Ok(Ok(0))), || "the pipe's end".into())?;
    close_all(p, &[l, c, srv]);
    Ok(())
}

/// The fields of SO_PROTOCOL_INFOW a program looks at: (service flags, catalog entry id,
/// socket type, message size).
fn protocol_info(p: &Provider, s: SOCKET) -> Result<(u32, u32, i32, u32), String> {
    let size = size_of::<WSAPROTOCOL_INFOW>();
    let raw = wsa(
        "SO_PROTOCOL_INFOW",
        p.getsockopt(s, SOL_SOCKET, SO_PROTOCOL_INFOW, size),
    )?;
    ensure(raw.len() == size, || {
        format!("SO_PROTOCOL_INFOW {} bytes", raw.len())
    })?;
    let u32_at = |at: usize| u32::from_ne_bytes(raw[at..at + 4].try_into().unwrap_or([0; 4]));
    Ok((
        u32_at(offset_of!(WSAPROTOCOL_INFOW, dwServiceFlags1)),
        u32_at(offset_of!(WSAPROTOCOL_INFOW, dwCatalogEntryId)),
        u32_at(offset_of!(WSAPROTOCOL_INFOW, iSocketType)) as i32,
        u32_at(offset_of!(WSAPROTOCOL_INFOW, dwMessageSize)),
    ))
}

/// A datagram socket bound to a fresh abstract name: (socket, its name).
fn bound_datagram(p: &Provider, tag: &str) -> Result<(SOCKET, Vec<u8>), String> {
    let s = wsa("socket(SOCK_DGRAM)", p.socket_of(SOCK_DGRAM))?;
    let name = abstract_addr(&unique(tag));
    wsa("bind", p.bind(s, &name))?;
    Ok((s, name))
}

/// A connected seqpacket pair through a listener: (listener, client, server).
fn seqpacket_pair(p: &Provider) -> Result<(SOCKET, SOCKET, SOCKET), String> {
    let l = wsa("socket(SOCK_SEQPACKET)", p.socket_of(SOCK_SEQPACKET))?;
    wsa("bind", p.bind(l, &abstract_addr(&unique("seq"))))?;
    wsa("listen", p.listen(l, 4))?;
    let name = wsa("getsockname", p.name(l, false, 110))?;
    let c = wsa("socket(SOCK_SEQPACKET)", p.socket_of(SOCK_SEQPACKET))?;
    wsa("connect", p.connect(c, &name))?;
    let (s, _) = wsa("accept", p.accept(l))?;
    Ok((l, c, s))
}

fn datagram(p: &Provider) -> Result<(), String> {
    let dir = std::env::temp_dir().join(unique("dgram"));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let path = dir.join("a.sock");
    let a_addr = sockaddr(&path.to_string_lossy());
    let a = wsa("socket(SOCK_DGRAM)", p.socket_of(SOCK_DGRAM))?;
    ensure(
        LAST_CATALOG_ID.load(Ordering::SeqCst) == catalog_id(SOCK_DGRAM),
        || "WPUModifyIFSHandle did not get the datagram entry's id".into(),
    )?;
    let ty = wsa("SO_TYPE", p.getsockopt_int(a, SOL_SOCKET, SO_TYPE))?;
    ensure(ty == SOCK_DGRAM, || format!("SO_TYPE {ty}"))?;
    let (flags, entry, info_type, size) = protocol_info(p, a)?;
    ensure(
        flags & (XP1_CONNECTIONLESS | XP1_MESSAGE_ORIENTED | XP1_IFS_HANDLES)
            == XP1_CONNECTIONLESS | XP1_MESSAGE_ORIENTED | XP1_IFS_HANDLES
            && flags & (XP1_GUARANTEED_DELIVERY | XP1_PARTIAL_MESSAGE) == 0
            && entry == catalog_id(SOCK_DGRAM)
            && info_type == SOCK_DGRAM
            && size > 0,
        || {
            format!(
                "SO_PROTOCOL_INFOW: flags {flags:#x}, entry {entry}, type {info_type}, size {size}"
            )
        },
    )?;
    wsa("bind (pathname)", p.bind(a, &a_addr))?;
    let a_name = wsa("getsockname", p.name(a, false, 110))?;
    let (b, b_name) = bound_datagram(p, "dgram-b")?;
    let c = wsa("socket(SOCK_DGRAM)", p.socket_of(SOCK_DGRAM))?;

    // To a socket file, from a named socket: the receiver learns the sender's name.
    let sent = wsa("sendto a pathname", p.send_to(b, b"one", &a_addr))?;
    ensure(sent == 3, || format!("sendto sent {sent}"))?;
    let mut buf = [0u8; 64];
    let r = p.recv_from(a, &mut buf, 0, 110);
    ensure(
        r.result == Ok(3) && &buf[..3] == b"one" && r.from == b_name && r.flags == 0,
        || format!("recvfrom: {r:?}"),
    )?;
    // From an unnamed socket: no address (length 0, as Linux's recvfrom).
    wsa(
        "sendto from an unnamed socket",
        p.send_to(c, b"anon", &a_addr),
    )?;
    let r = p.recv_from(a, &mut buf, 0, 110);
    ensure(r.result == Ok(4) && r.fromlen == 0, || {
        format!("recvfrom an unnamed sender: {r:?}")
    })?;
    // An empty datagram is a datagram, to an abstract name, from a pathname socket.
    let sent = wsa("sendto an empty datagram", p.send_to(a, b"", &b_name))?;
    ensure(sent == 0, || format!("sent {sent}"))?;
    let r = p.recv_from(b, &mut buf, 0, 110);
    ensure(r.result == Ok(0) && r.from == a_name, || {
        format!("recvfrom an empty datagram: {r:?}")
    })?;
    // No destination and no peer; then a peer by connect; then none again by AF_UNSPEC.
    expect_err("send without a peer", p.send(c, b"x"), WSAENOTCONN)?;
    wsa("connect", p.connect(c, &b_name))?;
    let peer = wsa("getpeername", p.name(c, true, 110))?;
    ensure(peer == b_name, || format!("getpeername {peer:?}"))?;
    wsa("send to the connected peer", p.send(c, b"connected"))?;
    let n = wsa("recv", p.recv(b, &mut buf, 0))?;
    ensure(&buf[..n] == b"connected", || {
        format!("recv {:?}", String::from_utf8_lossy(&buf[..n]))
    })?;
    wsa("connect(AF_UNSPEC)", p.connect(c, &[0, 0]))?;
    expect_err(
        "getpeername after AF_UNSPEC",
        p.name(c, true, 110),
        WSAENOTCONN,
    )?;
    expect_err("send after AF_UNSPEC", p.send(c, b"x"), WSAENOTCONN)?;
    expect_err(
        "sendto a name nobody holds",
        p.send_to(c, b"x", &abstract_addr(&unique("nobody"))),
        WSAECONNREFUSED,
    )?;
    expect_err("listen on a datagram socket", p.listen(a, 1), WSAEOPNOTSUPP)?;
    close_all(p, &[a, b, c]);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn truncation(p: &Provider) -> Result<(), String> {
    let (a, a_name) = bound_datagram(p, "trunc-a")?;
    let (b, b_name) = bound_datagram(p, "trunc-b")?;
    wsa("sendto", p.send_to(b, b"0123456789", &a_name))?;
    wsa("sendto", p.send_to(b, b"next", &a_name))?;
    let mut four = [0u8; 4];
    // A peek that does not fit: WSAEMSGSIZE, the first part and the sender; the message
    // stays.
    let r = p.recv_from(a, &mut four, MSG_PEEK, 110);
    ensure(
        r.result == Err(WSAEMSGSIZE) && &four == b"0123" && r.from == b_name,
        || format!("peek into 4 bytes: {r:?}, {four:?}"),
    )?;
    let (got, flags) = p.recv_flags(a, &mut four, 0);
    ensure(
        got == Err(WSAEMSGSIZE) && &four == b"0123" && flags & MSG_PARTIAL == 0,
        || format!("recv into 4 bytes: {got:?}, flags {flags:#x}, {four:?}"),
    )?;
    // The rest of that datagram is gone: the next receive gets the next one.
    let mut buf = [0u8; 64];
    let n = wsa("recv", p.recv(a, &mut buf, 0))?;
    ensure(&buf[..n] == b"next", || {
        format!(
            "after a cut datagram: {:?}",
            String::from_utf8_lossy(&buf[..n])
        )
    })?;
    expect_err(
        "MSG_WAITALL on a datagram socket",
        p.recv(a, &mut buf, MSG_WAITALL),
        WSAEOPNOTSUPP,
    )?;

    // The largest datagram: SO_MAX_MSG_SIZE is SO_SNDBUF - 32; one byte more is refused.
    let sndbuf = wsa("SO_SNDBUF", p.getsockopt_int(b, SOL_SOCKET, SO_SNDBUF))?;
    let max = wsa(
        "SO_MAX_MSG_SIZE",
        p.getsockopt_int(b, SOL_SOCKET, SO_MAX_MSG_SIZE),
    )?;
    ensure(max == sndbuf - 32, || {
        format!("SO_MAX_MSG_SIZE {max} with SO_SNDBUF {sndbuf}")
    })?;
    let max = usize::try_from(max).map_err(|e| e.to_string())?;
    let big = vec![7u8; max + 1];
    expect_err(
        "sendto one byte over SO_MAX_MSG_SIZE",
        p.send_to(b, &big, &a_name),
        WSAEMSGSIZE,
    )?;
    wsa("FIONBIO", p.set_nonblocking(b, true))?;
    let sent = wsa(
        "sendto SO_MAX_MSG_SIZE bytes",
        p.send_to(b, &big[..max], &a_name),
    )?;
    let mut whole = vec![0u8; max + 16];
    let n = wsa("recv the largest datagram", p.recv(a, &mut whole, 0))?;
    ensure(sent == max && n == max, || {
        format!("sent {sent}, received {n} of {max}")
    })?;

    // A seqpacket record cut short: the same.
    let (l, c, s) = seqpacket_pair(p)?;
    wsa("send", p.send(c, b"abcdefgh"))?;
    wsa("send", p.send(c, b"ij"))?;
    let mut three = [0u8; 3];
    let (got, flags) = p.recv_flags(s, &mut three, 0);
    ensure(
        got == Err(WSAEMSGSIZE) && &three == b"abc" && flags & MSG_PARTIAL == 0,
        || format!("seqpacket recv into 3 bytes: {got:?}, flags {flags:#x}"),
    )?;
    let n = wsa("recv", p.recv(s, &mut buf, 0))?;
    ensure(&buf[..n] == b"ij", || {
        format!(
            "after a cut record: {:?}",
            String::from_utf8_lossy(&buf[..n])
        )
    })?;
    // A stream has no messages.
    let stream = wsa("socket", p.socket())?;
    expect_err(
        "SO_MAX_MSG_SIZE on a stream",
        p.getsockopt_int(stream, SOL_SOCKET, SO_MAX_MSG_SIZE),
        WSAENOPROTOOPT,
    )?;
    close_all(p, &[a, b, l, c, s, stream]);
    Ok(())
}

fn seqpacket(p: &Provider) -> Result<(), String> {
    let (l, c, s) = seqpacket_pair(p)?;
    ensure(
        LAST_CATALOG_ID.load(Ordering::SeqCst) == catalog_id(SOCK_SEQPACKET),
        || "the accepted socket was not registered with the seqpacket entry's id".into(),
    )?;
    let ty = wsa("SO_TYPE", p.getsockopt_int(s, SOL_SOCKET, SO_TYPE))?;
    ensure(ty == SOCK_SEQPACKET, || format!("SO_TYPE {ty}"))?;
    let (flags, entry, info_type, _) = protocol_info(p, s)?;
    ensure(
        flags & (XP1_MESSAGE_ORIENTED | XP1_GUARANTEED_DELIVERY)
            == XP1_MESSAGE_ORIENTED | XP1_GUARANTEED_DELIVERY
            && flags & XP1_CONNECTIONLESS == 0
            && entry == catalog_id(SOCK_SEQPACKET)
            && info_type == SOCK_SEQPACKET,
        || format!("SO_PROTOCOL_INFOW: flags {flags:#x}, entry {entry}, type {info_type}"),
    )?;
    // Two sends are two records, however large the receive buffer.
    wsa("send", p.send(c, b"first"))?;
    wsa("send", p.send(c, b"second"))?;
    let mut buf = [0u8; 64];
    let n = wsa("recv", p.recv(s, &mut buf, 0))?;
    ensure(&buf[..n] == b"first", || {
        format!("first record {:?}", String::from_utf8_lossy(&buf[..n]))
    })?;
    let n = wsa("recv", p.recv(s, &mut buf, 0))?;
    ensure(&buf[..n] == b"second", || {
        format!("second record {:?}", String::from_utf8_lossy(&buf[..n]))
    })?;
    // recvfrom names the peer: an accepted socket has its listener's name.
    let l_name = wsa("getsockname", p.name(l, false, 110))?;
    wsa("send", p.send(s, b"hi"))?;
    let r = p.recv_from(c, &mut buf, 0, 110);
    ensure(r.result == Ok(2) && r.from == l_name, || {
        format!("recvfrom on seqpacket: {r:?}")
    })?;
    // A connection-oriented socket ignores sendto's address (Winsock).
    let sent = wsa(
        "sendto with an address",
        p.send_to(c, b"ignored", &abstract_addr(&unique("elsewhere"))),
    )?;
    let n = wsa("recv", p.recv(s, &mut buf, 0))?;
    ensure(sent == 7 && &buf[..n] == b"ignored", || {
        format!("sendto's record: {:?}", String::from_utf8_lossy(&buf[..n]))
    })?;
    expect_err(
        "MSG_WAITALL on seqpacket",
        p.recv(s, &mut buf, MSG_WAITALL),
        WSAEOPNOTSUPP,
    )?;
    wsa("shutdown(SD_SEND)", p.shutdown(c, 1))?;
    let n = wsa("recv at end of file", p.recv(s, &mut buf, 0))?;
    ensure(n == 0, || format!("recv after shutdown: {n}"))?;
    close_all(p, &[l, c, s]);
    Ok(())
}

fn readiness(p: &Provider) -> Result<(), String> {
    let (a, a_name) = bound_datagram(p, "ready-a")?;
    let (b, b_name) = bound_datagram(p, "ready-b")?;
    let (n, sets) = wsa(
        "select, nothing queued",
        p.select(&[a], &[a], &[], Some(Duration::ZERO)),
    )?;
    ensure(n == 1 && sets[0].is_empty() && sets[1] == [a], || {
        format!("idle datagram socket: {n} {sets:?}")
    })?;
    let (r, rev) = wsa("WSAPoll", p.wsapoll(&[(a, POLLRDNORM | POLLWRNORM)], 0))?;
    ensure(r == 1 && rev == [POLLWRNORM], || {
        format!("idle: {r} {rev:?}")
    })?;
    wsa("sendto", p.send_to(b, b"x", &a_name))?;
    let (n, sets) = wsa(
        "select after a datagram",
        p.select(&[a, b], &[], &[], Some(Duration::ZERO)),
    )?;
    ensure(n == 1 && sets[0] == [a], || {
        format!("after a datagram: {n} {sets:?}")
    })?;
    let (r, rev) = wsa("WSAPoll", p.wsapoll(&[(a, POLLRDNORM | POLLWRNORM)], 0))?;
    ensure(r == 1 && rev == [POLLRDNORM | POLLWRNORM], || {
        format!("queued: {r} {rev:?}")
    })?;
    // A blocking select wakes for a datagram.
    let woke = std::thread::scope(|scope| {
        let t = scope.spawn(|| p.select(&[b], &[], &[], Some(Duration::from_secs(5))));
        std::thread::sleep(Duration::from_millis(100));
        let sent = p.send_to(a, b"y", &b_name);
        (sent, t.join().ok())
    });
    ensure(
        matches!(&woke, (Ok(1), Some(Ok((1, sets)))) if sets[0] == [b]),
        || format!("a blocking select for a datagram: {woke:?}"),
    )?;
    let mut buf = [0u8; 8];
    wsa("recv", p.recv(a, &mut buf, 0))?;
    wsa("recv", p.recv(b, &mut buf, 0))?;
    // WSPEventSelect: FD_WRITE at once, FD_READ for a datagram; a datagram socket never
    // records FD_CONNECT or FD_CLOSE, not when it connects, nor when its peer closes.
    let event = Event::new()?;
    wsa(
        "WSPEventSelect(datagram)",
        p.event_select(a, event.0, FD_READ | FD_WRITE | FD_CONNECT | FD_CLOSE),
    )?;
    enum_until(p, a, &event, FD_WRITE)?;
    wsa("sendto", p.send_to(b, b"z", &a_name))?;
    enum_until(p, a, &event, FD_READ)?;
    wsa("recv", p.recv(a, &mut buf, 0))?;
    wsa("connect", p.connect(a, &b_name))?;
    wsa("closesocket the peer", p.close(b))?;
    std::thread::sleep(Duration::from_millis(300));
    let seen = wsa("WSPEnumNetworkEvents", p.enum_events(a, event.0))?;
    ensure(seen.lNetworkEvents & (FD_CONNECT | FD_CLOSE) == 0, || {
        format!("a datagram socket recorded {:#x}", seen.lNetworkEvents)
    })?;

    // Seqpacket: as a stream.
    let (l, c, s) = seqpacket_pair(p)?;
    let (n, sets) = wsa(
        "select on seqpacket",
        p.select(&[c], &[c], &[], Some(Duration::ZERO)),
    )?;
    ensure(n == 1 && sets[1] == [c], || {
        format!("idle seqpacket: {n} {sets:?}")
    })?;
    let sevent = Event::new()?;
    wsa(
        "WSPEventSelect(seqpacket)",
        p.event_select(c, sevent.0, FD_READ | FD_CLOSE),
    )?;
    wsa("send", p.send(s, b"rec"))?;
    enum_until(p, c, &sevent, FD_READ)?;
    let (r, rev) = wsa("WSAPoll", p.wsapoll(&[(c, POLLRDNORM)], 0))?;
    ensure(r == 1 && rev == [POLLRDNORM], || {
        format!("seqpacket data: {r} {rev:?}")
    })?;
    wsa("recv", p.recv(c, &mut buf, 0))?;
    wsa("closesocket", p.close(s))?;
    enum_until(p, c, &sevent, FD_CLOSE)?;
    let (r, rev) = wsa("WSAPoll", p.wsapoll(&[(c, POLLRDNORM)], 1000))?;
    ensure(r == 1 && rev[0] & POLLHUP != 0, || {
        format!("seqpacket after close: {r} {rev:?}")
    })?;
    close_all(p, &[a, l, c]);
    Ok(())
}

fn overlapped_datagram(p: &Provider) -> Result<(), String> {
    let (a, a_name) = bound_datagram(p, "ov-a")?;
    let (b, b_name) = bound_datagram(p, "ov-b")?;
    let event = Event::new()?;
    let mut ov = zeroed_overlapped(event.0);
    let data = b"overlapped datagram".to_vec();
    // SAFETY:
    // 1. `ov` and `data` live until the request has completed: it is waited for below.
    let started = unsafe { p.send_to_overlapped(b, &data, &a_name, ptr::from_mut(&mut *ov)) };
    wsa("overlapped WSPSendTo", started)?;
    let n = wsa(
        "WSPGetOverlappedResult",
        p.overlapped_result(b, ptr::from_ref(&*ov), true),
    )?;
    ensure(n == data.len(), || format!("overlapped sendto sent {n}"))?;
    ensure(event.wait(0), || "the event was not set".into())?;
    let mut buf = [0u8; 64];
    let r = p.recv_from(a, &mut buf, 0, 110);
    ensure(
        r.result == Ok(data.len()) && buf[..data.len()] == data[..] && r.from == b_name,
        || format!("recvfrom after an overlapped sendto: {r:?}"),
    )?;
    let refused = p.recv_from_overlapped_error(a);
    ensure(refused == Some(WSAEOPNOTSUPP), || {
        format!("overlapped WSPRecvFrom with an address: {refused:?}")
    })?;
    close_all(p, &[a, b]);
    Ok(())
}
