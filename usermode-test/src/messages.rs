//! `usermode-test messages`: datagram and seqpacket sockets through the driver, between two
//! processes (this one and a child it starts, `messages-child`), by socket files and by
//! abstract names; a full receiver blocking its sender until it drains; RECVFROMs left
//! pending and cancelled with CancelIoEx. It ends with the driver's STATS back at zero.

use std::path::{Path, PathBuf};

/// The messages each exchange sends, by length: empty ones are real messages too.
const SIZES: [usize; 7] = [1, 0, 7, 1000, 4096, 65_536, 100_000];

/// Message `i` of `len` bytes: each byte depends on both, so a message delivered in another
/// place or cut short is caught.
fn message(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|j| (i * 31 + j * 7) as u8).collect()
}

/// What the receiver answers to `m`: its bytes reversed.
fn answer(m: &[u8]) -> Vec<u8> {
    m.iter().rev().copied().collect()
}

/// How many datagrams the flooding child sends, and how long each is.
const FLOOD: usize = 300;
const FLOOD_LEN: usize = 8192;

/// Where the two processes meet: a socket file, or an abstract name.
#[derive(Clone, Debug)]
enum Place {
    Path(PathBuf),
    Abstract(String),
}

impl Place {
    fn addr(&self) -> Result<afunix::SocketAddr, String> {
        match self {
            Place::Path(p) => afunix::SocketAddr::from_pathname(p),
            Place::Abstract(n) => afunix::SocketAddr::from_abstract_name(n),
        }
        .map_err(|e| format!("address {self:?}: {e}"))
    }

    /// The child's own name, next to the parent's.
    fn child(&self) -> Place {
        match self {
            Place::Path(p) => Place::Path(p.with_extension("child")),
            Place::Abstract(n) => Place::Abstract(format!("{n}-child")),
        }
    }

    #[cfg_attr(not(windows), allow(dead_code))]
    fn args(&self) -> [String; 2] {
        match self {
            Place::Path(p) => ["--path".into(), p.display().to_string()],
            Place::Abstract(n) => ["--abstract".into(), n.clone()],
        }
    }

    /// Removes a socket file left by an earlier run.
    #[cfg_attr(not(windows), allow(dead_code))]
    fn clear(&self) {
        if let Place::Path(p) = self {
            let _ = std::fs::remove_file(p);
            let _ = std::fs::remove_file(p.with_extension("child"));
        }
    }
}

/// Which exchange `messages-child` takes part in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Sends every message by `send_to` from its own name, checks each answer.
    Datagram,
    /// Connects, sends every message, checks each answer and then the end.
    Seqpacket,
    /// Connects and sends FLOOD datagrams, blocking whenever the receiver is full.
    Flood,
}

/// `messages-child ROLE (--path P | --abstract N)`.
pub fn child(role: Role, path: Option<&Path>, name: Option<&str>) -> Result<(), String> {
    let place = match (path, name) {
        (Some(p), None) => Place::Path(p.to_path_buf()),
        (None, Some(n)) => Place::Abstract(n.to_string()),
        _ => return Err("give one of --path and --abstract".into()),
    };
    let net = afunix::Net::system();
    let to = place.addr()?;
    match role {
        Role::Datagram => {
            let me = net
                .bind_datagram_addr(&place.child().addr()?)
                .map_err(|e| format!("child bind: {e}"))?;
            for (i, &len) in SIZES.iter().enumerate() {
                let m = message(i, len);
                let n = me
                    .send_to_addr(&m, &to)
                    .map_err(|e| format!("child send_to message {i}: {e}"))?;
                if n != len {
                    return Err(format!("child: sent {n} of {len}"));
                }
            }
            let mut buf = vec![0u8; 200_000];
            for (i, &len) in SIZES.iter().enumerate() {
                let (n, from) = me
                    .recv_from(&mut buf)
                    .map_err(|e| format!("child recv_from answer {i}: {e}"))?;
                if buf[..n] != answer(&message(i, len)) {
                    return Err(format!("child: answer {i} is wrong ({n} bytes)"));
                }
                if from != to {
                    return Err(format!("child: answer {i} came from {from:?}, not {to:?}"));
                }
            }
        }
        Role::Seqpacket => {
            let conn = net
                .connect_seqpacket_addr(&to)
                .map_err(|e| format!("child connect: {e}"))?;
            for (i, &len) in SIZES.iter().enumerate() {
                conn.send(&message(i, len))
                    .map_err(|e| format!("child send message {i}: {e}"))?;
            }
            let mut buf = vec![0u8; 200_000];
            for (i, &len) in SIZES.iter().enumerate() {
                let n = conn
                    .recv(&mut buf)
                    .map_err(|e| format!("child recv answer {i}: {e}"))?;
                if buf[..n] != answer(&message(i, len)) {
                    return Err(format!("child: answer {i} is wrong ({n} bytes)"));
                }
            }
            // One message longer than the parent's buffer, then one that must arrive whole.
            conn.send(&[b'x'; 100])
                .and_then(|_| conn.send(b"tail"))
                .map_err(|e| format!("child send: {e}"))?;
            let n = conn
                .recv(&mut buf)
                .map_err(|e| format!("child recv: {e}"))?;
            if &buf[..n] != b"bye" {
                return Err(format!("child: expected bye, got {n} bytes"));
            }
            // The parent has closed: the end of the connection.
            let n = conn
                .recv(&mut buf)
                .map_err(|e| format!("child recv: {e}"))?;
            if n != 0 {
                return Err(format!("child: {n} bytes after the parent closed"));
            }
        }
        Role::Flood => {
            let me = net
                .unbound_datagram()
                .map_err(|e| format!("child socket: {e}"))?;
            me.connect_addr(&to)
                .map_err(|e| format!("child connect: {e}"))?;
            for seq in 0..FLOOD {
                let mut m = message(seq, FLOOD_LEN);
                m[..4].copy_from_slice(&(seq as u32).to_le_bytes());
                me.send(&m).map_err(|e| format!("child send {seq}: {e}"))?;
            }
        }
    }
    Ok(())
}

#[cfg(windows)]
mod imp {
    use std::process::{Child, Command};
    use std::ptr;
    use std::time::{Duration, Instant};

    use afunix::{Net, UnixDatagram};
    use afunix_proto::decode::RECVFROM_HEADER;
    use afunix_proto::encode;
    use afunix_proto::ioctl::IOCTL_AFUNIX_RECVFROM;
    use std::os::windows::io::OwnedHandle;
    use windows_sys::Wdk::System::IO::NtDeviceIoControlFile;
    use windows_sys::Win32::Foundation::{
        ERROR_OPERATION_ABORTED, GetLastError, HANDLE, STATUS_PENDING,
    };
    use windows_sys::Win32::System::IO::{
        CancelIoEx, GetOverlappedResult, IO_STATUS_BLOCK, OVERLAPPED,
    };
    use zerocopy::IntoBytes;

    use super::{FLOOD, FLOOD_LEN, Place, Role, SIZES, answer, message};
    use crate::faults::{expect_empty, stats};

    fn spawn(role: Role, place: &Place) -> Result<Child, String> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let role = match role {
            Role::Datagram => "datagram",
            Role::Seqpacket => "seqpacket",
            Role::Flood => "flood",
        };
        Command::new(exe)
            .arg("messages-child")
            .arg(role)
            .args(place.args())
            .spawn()
            .map_err(|e| format!("spawn: {e}"))
    }

    fn finish(mut child: Child, what: &str) -> Result<(), String> {
        let status = child.wait().map_err(|e| format!("wait: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("{what}: the child failed ({status})"))
        }
    }

    /// Datagrams between two processes: every message arrives whole, from the child's name,
    /// and the answer sent back to that name reaches it.
    fn datagrams(place: &Place) -> Result<(), String> {
        place.clear();
        let me = Net::system()
            .bind_datagram_addr(&place.addr()?)
            .map_err(|e| format!("bind {place:?}: {e}"))?;
        let child = spawn(Role::Datagram, place)?;
        let child_name = place.child().addr()?;
        let mut buf = vec![0u8; 200_000];
        for (i, &len) in SIZES.iter().enumerate() {
            let (n, from) = me
                .recv_from(&mut buf)
                .map_err(|e| format!("recv_from message {i}: {e}"))?;
            if buf[..n] != message(i, len) {
                return Err(format!(
                    "message {i}: {n} bytes, expected {len}, or other bytes"
                ));
            }
            if from != child_name {
                return Err(format!("message {i} came from {from:?}"));
            }
            me.send_to_addr(&answer(&buf[..n]), &from)
                .map_err(|e| format!("send_to answer {i}: {e}"))?;
        }
        finish(child, "datagrams")?;
        println!(
            "messages: {} datagrams ({:?} bytes) each way between two processes at {place:?}",
            SIZES.len(),
            SIZES
        );
        place.clear();
        Ok(())
    }

    /// Seqpacket between two processes: accepted from the child (its pid), every record
    /// whole, a record longer than the buffer cut short without touching the next, and the
    /// end of the connection seen by the child.
    fn seqpacket(place: &Place) -> Result<(), String> {
        place.clear();
        let listener = Net::system()
            .bind_seqpacket_addr(&place.addr()?)
            .map_err(|e| format!("bind {place:?}: {e}"))?;
        let child = spawn(Role::Seqpacket, place)?;
        let (conn, _) = listener.accept().map_err(|e| format!("accept: {e}"))?;
        let pid = conn.peer_cred().map_err(|e| format!("peer_cred: {e}"))?.pid;
        if pid != child.id() {
            return Err(format!(
                "peer_cred says pid {pid}, the child is {}",
                child.id()
            ));
        }
        let mut buf = vec![0u8; 200_000];
        for (i, &len) in SIZES.iter().enumerate() {
            let n = conn
                .recv(&mut buf)
                .map_err(|e| format!("recv message {i}: {e}"))?;
            if buf[..n] != message(i, len) {
                return Err(format!(
                    "record {i}: {n} bytes, expected {len}, or other bytes"
                ));
            }
            conn.send(&answer(&buf[..n]))
                .map_err(|e| format!("send answer {i}: {e}"))?;
        }
        let mut small = [0u8; 10];
        let cut = conn.recv(&mut small).map_err(|e| format!("recv: {e}"))?;
        let next = conn.recv(&mut buf).map_err(|e| format!("recv: {e}"))?;
        if cut != 10 || small != [b'x'; 10] || &buf[..next] != b"tail" {
            return Err(format!(
                "a 100-byte record into 10 bytes gave {cut}, then the next gave {next} bytes"
            ));
        }
        conn.send(b"bye").map_err(|e| format!("send: {e}"))?;
        drop(conn);
        finish(child, "seqpacket")?;
        println!(
            "messages: seqpacket, {} records each way with pid {pid} at {place:?}; a record cut short left the next whole",
            SIZES.len()
        );
        place.clear();
        Ok(())
    }

    /// A receiver that does not read: the child's sends fill it and then wait in the
    /// driver (a pending IRP, the child still running); then every datagram is read, in
    /// order, and the child finishes.
    fn flood(place: &Place) -> Result<(), String> {
        place.clear();
        let me = Net::system()
            .bind_datagram_addr(&place.addr()?)
            .map_err(|e| format!("bind {place:?}: {e}"))?;
        let mut child = spawn(Role::Flood, place)?;
        let deadline = Instant::now() + Duration::from_secs(20);
        let (blocked, buffered) = loop {
            let s = stats()?;
            if s.pending_irps >= 1 && s.bytes_buffered > 0 {
                break (s.pending_irps, s.bytes_buffered);
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "the flooding child ended ({status}) without waiting"
                ));
            }
            if Instant::now() > deadline {
                return Err("the flooding child's send never waited".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // Still waiting a while later: the send is held, not failed or dropped.
        std::thread::sleep(Duration::from_millis(300));
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "the child ended ({status}) while the receiver was full"
            ));
        }
        let mut buf = vec![0u8; FLOOD_LEN * 2];
        for seq in 0..FLOOD {
            let n = me.recv(&mut buf).map_err(|e| format!("recv {seq}: {e}"))?;
            let mut want = message(seq, FLOOD_LEN);
            want[..4].copy_from_slice(&(seq as u32).to_le_bytes());
            if buf[..n] != want {
                let got = buf
                    .get(..4)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                return Err(format!("datagram {seq}: {n} bytes, sequence {got:?}"));
            }
        }
        finish(child, "flood")?;
        println!(
            "messages: a full receiver ({buffered} bytes buffered) held the sender ({blocked} pending IRP(s)); {FLOOD} datagrams of {FLOOD_LEN} bytes then read in order"
        );
        place.clear();
        Ok(())
    }

    /// One RECVFROM issued overlapped, as a program's WSARecvFrom is.
    struct PendingRecvFrom {
        overlapped: Box<OVERLAPPED>,
        buffer: Vec<u8>,
        handle: HANDLE,
        _event: OwnedHandle,
    }

    fn start_recv_from(handle: HANDLE) -> Result<PendingRecvFrom, String> {
        let (event, overlapped) = crate::cancel::overlapped_with_event()?;
        let mut pending = PendingRecvFrom {
            overlapped,
            buffer: vec![0u8; RECVFROM_HEADER + 64],
            handle,
            _event: event,
        };
        let input = encode::data(0);
        let io_status = ptr::from_mut(&mut *pending.overlapped).cast::<IO_STATUS_BLOCK>();
        let out_len = pending.buffer.len() as u32;
        // SAFETY:
        // 1. The socket handle is open for overlapped I/O; the input is copied by the I/O
        //    manager (METHOD_BUFFERED input), the output buffer is a Vec and the
        //    OVERLAPPED is boxed, so both stay put until the request ends: every one is
        //    waited for before `pending` is dropped.
        let status = unsafe {
            NtDeviceIoControlFile(
                handle,
                pending.overlapped.hEvent,
                None,
                ptr::null(),
                io_status,
                IOCTL_AFUNIX_RECVFROM,
                input.as_bytes().as_ptr().cast(),
                input.as_bytes().len() as u32,
                pending.buffer.as_mut_ptr().cast(),
                out_len,
            )
        };
        if status != STATUS_PENDING {
            return Err(format!(
                "a RECVFROM on an empty datagram socket did not pend (status {status:#x})"
            ));
        }
        Ok(pending)
    }

    /// RECVFROMs left pending on datagram sockets, cancelled with CancelIoEx: each ends as
    /// cancelled, and the sockets still deliver what is sent afterwards.
    fn cancelled_recv_from(count: usize) -> Result<(), String> {
        let net = Net::system();
        let pairs: Vec<(UnixDatagram, UnixDatagram)> = (0..10)
            .map(|_| net.datagram_pair())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("pair: {e}"))?;
        let before = stats()?.pending_irps;
        let mut pending = Vec::with_capacity(count);
        for i in 0..count {
            let (_, b) = &pairs[i % pairs.len()];
            pending.push(start_recv_from(afunix::sys::raw_handle(b) as HANDLE)?);
        }
        let held = stats()?.pending_irps.saturating_sub(before);
        if held != count as u64 {
            return Err(format!(
                "{count} RECVFROMs issued, STATS shows {held} pending"
            ));
        }
        for p in &pending {
            // SAFETY:
            // 1. Cancels exactly this request, on its own handle.
            unsafe { CancelIoEx(p.handle, &*p.overlapped) };
        }
        for p in &pending {
            let mut n = 0u32;
            // SAFETY:
            // 1. Waits for this request, issued with this OVERLAPPED on this handle.
            let ok = unsafe { GetOverlappedResult(p.handle, &*p.overlapped, &mut n, 1) };
            // SAFETY:
            // 1. Reads the thread's last-error value.
            let error = unsafe { GetLastError() };
            if ok != 0 || error != ERROR_OPERATION_ABORTED {
                return Err(format!(
                    "a cancelled RECVFROM ended with ok={ok}, {n} bytes, error {error}"
                ));
            }
        }
        drop(pending);
        let mut buf = [0u8; 64];
        for (i, (a, b)) in pairs.iter().enumerate() {
            let m = message(i, 40);
            a.send(&m)
                .map_err(|e| format!("send after the cancel: {e}"))?;
            let n = b
                .recv(&mut buf)
                .map_err(|e| format!("recv after the cancel: {e}"))?;
            if buf[..n] != m {
                return Err("a datagram sent after the cancel arrived changed".into());
            }
        }
        println!(
            "messages: {count} pending RECVFROMs cancelled with CancelIoEx, each ERROR_OPERATION_ABORTED; the sockets then delivered whole"
        );
        Ok(())
    }

    pub fn run() -> Result<(), String> {
        let pid = std::process::id();
        let dir = std::path::PathBuf::from(r"C:\users\Public");
        datagrams(&Place::Path(dir.join(format!("afunix-msg-{pid}.dgram"))))?;
        datagrams(&Place::Abstract(format!("afunix-msg-{pid}-dgram")))?;
        seqpacket(&Place::Path(
            dir.join(format!("afunix-msg-{pid}.seqpacket")),
        ))?;
        seqpacket(&Place::Abstract(format!("afunix-msg-{pid}-seqpacket")))?;
        flood(&Place::Path(dir.join(format!("afunix-msg-{pid}.flood"))))?;
        flood(&Place::Abstract(format!("afunix-msg-{pid}-flood")))?;
        cancelled_recv_from(100)?;
        expect_empty("messages")
    }
}

#[cfg(windows)]
pub use imp::run;

#[cfg(not(windows))]
pub fn run() -> Result<(), String> {
    Err("messages drives the afunixrs driver across processes: run the Windows build".into())
}
