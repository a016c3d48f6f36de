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
    ]
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
