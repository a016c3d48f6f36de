//! `usermode-test rights`: handles passed over Unix sockets (SCM_RIGHTS) through the driver,
//! between two processes (this one and `rights-child`), with the library's ancillary API.
//!
//! 1. This process passes a file, the write end of an anonymous pipe, and a listening stream
//!    socket to the child over a seqpacket connection. The child reads the file through its
//!    new handle, writes the pipe, and accepts on the listener a connection this process
//!    makes, echoing what it reads.
//! 2. A receiver whose control buffer is too small gets what fits and MSG_CTRUNC, and no copy
//!    of what did not fit stays open: the objects passed are a pipe's write end, whose reader
//!    sees the end once every copy is closed.
//! 3. A socket sent over itself and then closed, and a two-socket cycle (refused, see the
//!    README), leave STATS at zero sockets and zero bytes.

#[cfg(not(windows))]
use std::path::Path;

/// What the passed file holds.
const FILE_TEXT: &str = "a file passed by handle over a Unix socket";
/// What the child writes into the passed pipe.
const PIPE_TEXT: &[u8] = b"written by the child through the passed pipe";
/// What this process sends through the connection the child accepted on the passed listener.
const ECHO_TEXT: &[u8] = b"through the passed listener";

#[cfg(windows)]
mod imp {
    use std::fs::File;
    use std::io::{IoSlice, IoSliceMut, Read, Seek, SeekFrom, Write};
    use std::os::windows::io::{AsHandle, AsRawHandle, FromRawHandle, OwnedHandle, RawHandle};
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use afunix::{
        AncillaryData, SocketAncillary, UnixDatagram, UnixListener, UnixSeqpacketConn,
        UnixSeqpacketListener, UnixStream,
    };
    use windows_sys::Win32::Foundation::HANDLE;
    use windows_sys::Win32::System::Pipes::CreatePipe;

    use super::{ECHO_TEXT, FILE_TEXT, PIPE_TEXT};
    use crate::faults::expect_empty;

    /// The handles an ancillary buffer received, owned.
    fn received(ancillary: &SocketAncillary<'_>) -> Result<Vec<OwnedHandle>, String> {
        let mut out = Vec::new();
        for m in ancillary.messages() {
            match m.map_err(|e| format!("a control message: {e:?}"))? {
                AncillaryData::ScmRights(rights) => {
                    for raw in rights {
                        // SAFETY:
                        // 1. The driver made this handle in our process for this receive;
                        //    nothing else owns it.
                        out.push(unsafe { OwnedHandle::from_raw_handle(raw) });
                    }
                }
            }
        }
        Ok(out)
    }

    fn pipe() -> Result<(File, OwnedHandle), String> {
        let mut read: HANDLE = std::ptr::null_mut();
        let mut write: HANDLE = std::ptr::null_mut();
        // SAFETY:
        // 1. Valid out pointers; no security attributes; the default size.
        if unsafe { CreatePipe(&mut read, &mut write, std::ptr::null(), 0) } == 0 {
            return Err(format!("CreatePipe: {}", std::io::Error::last_os_error()));
        }
        // SAFETY:
        // 1. CreatePipe made both handles for us alone.
        let read = unsafe { File::from_raw_handle(read as RawHandle) };
        // SAFETY:
        // 1. As above.
        let write = unsafe { OwnedHandle::from_raw_handle(write as RawHandle) };
        Ok((read, write))
    }

    /// The pipe read through `read` ends (every copy of its write end is closed) within 10
    /// seconds, with nothing more to read.
    fn expect_end(mut read: File) -> Result<(), String> {
        let reader = std::thread::spawn(move || {
            let mut rest = Vec::new();
            read.read_to_end(&mut rest).map(|_| rest.len())
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !reader.is_finished() {
            if std::time::Instant::now() > deadline {
                return Err(
                    "the pipe never ended: a passed copy of its write end is still open".into(),
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        match reader.join() {
            Ok(Ok(0)) => Ok(()),
            other => Err(format!("the pipe's reader: {other:?}")),
        }
    }

    /// Part 1, this side: passes a file, a pipe's write end and a listener to the child.
    fn across_processes(dir: &Path) -> Result<(), String> {
        let pid = std::process::id();
        let meet = dir.join(format!("afunix-rights-{pid}.seqpacket"));
        let listen_at = dir.join(format!("afunix-rights-{pid}.listener"));
        let file_at = dir.join(format!("afunix-rights-{pid}.txt"));
        for p in [&meet, &listen_at, &file_at] {
            let _ = std::fs::remove_file(p);
        }
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&file_at)
            .map_err(|e| format!("create {}: {e}", file_at.display()))?;
        file.write_all(FILE_TEXT.as_bytes())
            .map_err(|e| format!("write the file: {e}"))?;
        let (pipe_read, pipe_write) = pipe()?;
        let mut pipe_read = pipe_read;
        let listener =
            UnixListener::bind(&listen_at).map_err(|e| format!("bind the listener: {e}"))?;
        let rendezvous =
            UnixSeqpacketListener::bind(&meet).map_err(|e| format!("bind {meet:?}: {e}"))?;

        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let mut child = Command::new(exe)
            .arg("rights-child")
            .arg(&meet)
            .spawn()
            .map_err(|e| format!("spawn: {e}"))?;
        let (conn, _) = rendezvous
            .accept()
            .map_err(|e| format!("accept the child: {e}"))?;

        let mut buffer = [0u8; 128];
        let mut ancillary = SocketAncillary::new(&mut buffer);
        let handles = [
            file.as_handle(),
            pipe_write.as_handle(),
            listener.as_handle(),
        ];
        if !ancillary.add_handles(&handles) {
            return Err("three handles do not fit 128 bytes".into());
        }
        let sent = conn
            .send_vectored_with_ancillary(&[IoSlice::new(b"three objects")], &mut ancillary)
            .map_err(|e| format!("send the handles: {e}"))?;
        if sent != 13 {
            return Err(format!("sent {sent} bytes of 13"));
        }
        // Ours are no longer needed: the child's handles keep the objects.
        drop(pipe_write);
        drop(listener);
        drop(file);

        let mut echo = UnixStream::connect(&listen_at)
            .map_err(|e| format!("connect to the passed listener: {e}"))?;
        echo.write_all(ECHO_TEXT)
            .map_err(|e| format!("write to the child's accepted socket: {e}"))?;
        let mut back = vec![0u8; ECHO_TEXT.len()];
        echo.read_exact(&mut back)
            .map_err(|e| format!("read the echo: {e}"))?;
        if back != ECHO_TEXT {
            return Err("the echo through the passed listener differs".into());
        }
        let mut from_pipe = vec![0u8; PIPE_TEXT.len()];
        pipe_read
            .read_exact(&mut from_pipe)
            .map_err(|e| format!("read the pipe: {e}"))?;
        if from_pipe != PIPE_TEXT {
            return Err(format!(
                "the pipe carried {:?}",
                String::from_utf8_lossy(&from_pipe)
            ));
        }
        // The child closed its copy: no other may be left open, the driver's included.
        expect_end(pipe_read)?;
        let mut done = [0u8; 64];
        let n = conn
            .recv(&mut done)
            .map_err(|e| format!("the child's report: {e}"))?;
        let report = String::from_utf8_lossy(&done[..n]).to_string();
        let status = child.wait().map_err(|e| format!("wait: {e}"))?;
        if !status.success() || report != "ok" {
            return Err(format!("the child failed ({status}): {report}"));
        }
        println!(
            "rights: a file, a pipe and a listening socket passed to another process: it read the file ({} bytes), wrote the pipe ({} bytes) and accepted a connection that echoed {} bytes",
            FILE_TEXT.len(),
            PIPE_TEXT.len(),
            ECHO_TEXT.len()
        );
        let _ = std::fs::remove_file(&file_at);
        Ok(())
    }

    /// Part 1, the child's side.
    pub fn child(meet: &Path) -> Result<(), String> {
        let conn = UnixSeqpacketConn::connect(meet).map_err(|e| format!("child connect: {e}"))?;
        let result = child_inner(&conn);
        let report = match &result {
            Ok(()) => "ok".to_string(),
            Err(e) => e.clone(),
        };
        let _ = conn.send(report.as_bytes());
        result
    }

    fn child_inner(conn: &UnixSeqpacketConn) -> Result<(), String> {
        let mut data = [0u8; 64];
        let mut buffer = [0u8; 128];
        let mut ancillary = SocketAncillary::new(&mut buffer);
        let (n, cut) = conn
            .recv_vectored_with_ancillary(&mut [IoSliceMut::new(&mut data)], &mut ancillary)
            .map_err(|e| format!("child recv: {e}"))?;
        if &data[..n] != b"three objects" || cut || ancillary.truncated() {
            return Err(format!("child got {n} bytes, cut {cut}"));
        }
        let mut handles = received(&ancillary)?.into_iter();
        let (Some(file), Some(pipe), Some(listener), None) = (
            handles.next(),
            handles.next(),
            handles.next(),
            handles.next(),
        ) else {
            return Err("the child did not receive exactly three handles".into());
        };
        let mut file = File::from(file);
        file.seek(SeekFrom::Start(0))
            .map_err(|e| format!("child seek: {e}"))?;
        let mut text = String::new();
        file.read_to_string(&mut text)
            .map_err(|e| format!("child read the file: {e}"))?;
        if text != FILE_TEXT {
            return Err(format!("child read {text:?} from the file"));
        }
        let mut pipe = File::from(pipe);
        pipe.write_all(PIPE_TEXT)
            .map_err(|e| format!("child write the pipe: {e}"))?;
        drop(pipe);
        let listener = UnixListener::from(listener);
        let (mut s, _) = listener
            .accept()
            .map_err(|e| format!("child accept on the passed listener: {e}"))?;
        let mut got = vec![0u8; ECHO_TEXT.len()];
        s.read_exact(&mut got)
            .map_err(|e| format!("child read: {e}"))?;
        s.write_all(&got).map_err(|e| format!("child echo: {e}"))?;
        Ok(())
    }

    /// Part 2: too small a control buffer, many times. What is passed is the write end of a
    /// pipe, so that a copy left open anywhere (in this process, or the driver's own
    /// reference) keeps the pipe from ending: once every handle we know of is closed, its
    /// reader must see the end.
    fn truncated() -> Result<(), String> {
        let (pipe_read, pipe_write) = pipe()?;
        let (a, b) = UnixDatagram::pair().map_err(|e| format!("pair: {e}"))?;
        let rounds = 200;
        for round in 0..rounds {
            let mut out = [0u8; 128];
            let mut send = SocketAncillary::new(&mut out);
            let three = [pipe_write.as_handle(); 3];
            if !send.add_handles(&three) {
                return Err("three handles do not fit".into());
            }
            a.send_vectored_with_ancillary(&[IoSlice::new(b"m")], &mut send)
                .map_err(|e| format!("send: {e}"))?;
            // Room for one handle (16 bytes of header, 8 of handle), or for none.
            let room = if round % 2 == 0 { 24 } else { 16 };
            let mut small = [0u8; 24];
            let mut recv = SocketAncillary::new(&mut small[..room]);
            let mut data = [0u8; 4];
            b.recv_vectored_with_ancillary(&mut [IoSliceMut::new(&mut data)], &mut recv)
                .map_err(|e| format!("recv: {e}"))?;
            if !recv.truncated() {
                return Err(format!(
                    "a receive with {room} bytes of control buffer for 3 handles was not MSG_CTRUNC"
                ));
            }
            let got = received(&recv)?;
            let expected = usize::from(room == 24);
            if got.len() != expected {
                return Err(format!(
                    "{} handles received with room for {expected}",
                    got.len()
                ));
            }
        }
        drop(pipe_write);
        expect_end(pipe_read)?;
        println!(
            "rights: {rounds} receives with room for 1 or 0 of 3 handles, MSG_CTRUNC each time; every copy of the passed pipe end closed (its reader saw the end)"
        );
        Ok(())
    }

    /// A RECVMSG that waits: handles sent while it pends reach it (the driver keeps the
    /// receiving process while it waits); one that times out is cancelled and gets nothing.
    fn pending() -> Result<(), String> {
        let (a, b) = UnixSeqpacketConn::pair().map_err(|e| format!("pair: {e}"))?;
        let (pipe_read, pipe_write) = pipe()?;
        let waiter = std::thread::spawn(move || -> Result<usize, String> {
            let mut buffer = [0u8; 64];
            let mut ancillary = SocketAncillary::new(&mut buffer);
            let mut data = [0u8; 16];
            let (n, _) = b
                .recv_vectored_with_ancillary(&mut [IoSliceMut::new(&mut data)], &mut ancillary)
                .map_err(|e| format!("the waiting receive: {e}"))?;
            let got = received(&ancillary)?;
            let mut pipe = got
                .into_iter()
                .next()
                .map(File::from)
                .ok_or("the waiting receive got no handle")?;
            pipe.write_all(b"late").map_err(|e| format!("write: {e}"))?;
            b.set_read_timeout(Some(std::time::Duration::from_millis(100)))
                .map_err(|e| format!("set_read_timeout: {e}"))?;
            let mut again = SocketAncillary::new(&mut buffer);
            match b.recv_vectored_with_ancillary(&mut [IoSliceMut::new(&mut data)], &mut again) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(n),
                other => Err(format!("a receive that timed out gave {other:?}")),
            }
        });
        std::thread::sleep(std::time::Duration::from_millis(300));
        let mut buffer = [0u8; 64];
        let mut ancillary = SocketAncillary::new(&mut buffer);
        ancillary.add_handles(&[pipe_write.as_handle()]);
        a.send_vectored_with_ancillary(&[IoSlice::new(b"late")], &mut ancillary)
            .map_err(|e| format!("send to the waiting receive: {e}"))?;
        drop(pipe_write);
        let n = waiter
            .join()
            .map_err(|_| "the waiting receive panicked".to_string())??;
        let mut pipe_read = pipe_read;
        let mut got = [0u8; 4];
        pipe_read
            .read_exact(&mut got)
            .map_err(|e| format!("read the pipe: {e}"))?;
        if n != 4 || &got != b"late" {
            return Err("the waiting receive's handle did not reach the pipe".into());
        }
        expect_end(pipe_read)?;
        println!(
            "rights: a RECVMSG waiting 300 ms received the handle sent meanwhile; one that timed out was cancelled"
        );
        Ok(())
    }

    /// A peek gets new handles to the objects and leaves them with the message (Linux's
    /// `unix_peek_fds`); the receive after it gets its own. Both work, and once all are
    /// closed nothing holds the object.
    fn peeked() -> Result<(), String> {
        use afunix_proto::wire::{MSG_CTRUNC, MSG_PEEK, SOCK_DGRAM};
        let net = afunix::Net::system();
        let a = net
            .socket_typed(SOCK_DGRAM)
            .map_err(|e| format!("socket: {e}"))?;
        let b = net
            .socket_typed(SOCK_DGRAM)
            .map_err(|e| format!("socket: {e}"))?;
        a.pair_with(&b).map_err(|e| format!("pair: {e}"))?;
        let (mut pipe_read, pipe_write) = pipe()?;
        let value = pipe_write.as_raw_handle() as u64;
        a.send_with_handles(b"p", 0, &[value], None)
            .map_err(|e| format!("send: {e}"))?;
        drop(pipe_write);
        let mut buf = [0u8; 4];
        let mut got = Vec::new();
        for (what, flags) in [("peek", MSG_PEEK), ("receive", 0)] {
            let (m, handles) = b
                .recv_with_handles(&mut buf, flags, 4)
                .map_err(|e| format!("{what}: {e}"))?;
            let [h] = handles[..] else {
                return Err(format!("the {what} got {} handles", handles.len()));
            };
            if m.msg_flags & MSG_CTRUNC != 0 {
                return Err(format!("the {what} reported MSG_CTRUNC"));
            }
            // SAFETY:
            // 1. The driver made this handle in our process for this receive.
            got.push(unsafe { File::from_raw_handle(h as RawHandle) });
        }
        for (i, mut pipe) in got.into_iter().enumerate() {
            pipe.write_all(&[b'a' + i as u8])
                .map_err(|e| format!("write through handle {i}: {e}"))?;
        }
        let mut two = [0u8; 2];
        pipe_read
            .read_exact(&mut two)
            .map_err(|e| format!("read the pipe: {e}"))?;
        if &two != b"ab" {
            return Err(format!("the pipe carried {two:?}"));
        }
        expect_end(pipe_read)?;
        println!(
            "rights: a peek got a working handle and left the object with the message; the receive after it got its own"
        );
        Ok(())
    }

    /// Only file objects travel, and only the sender's own handles: a process handle, an
    /// event and a value the sender does not hold are EBADF, and nothing is left in flight.
    fn refused() -> Result<(), String> {
        use std::os::windows::io::{BorrowedHandle, OwnedHandle};
        use windows_sys::Win32::System::Threading::{
            CreateEventW, OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION,
        };
        let (a, _b) = UnixDatagram::pair().map_err(|e| format!("pair: {e}"))?;
        // SAFETY:
        // 1. Opens our own process for querying; the handle is ours.
        let process =
            unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, std::process::id()) };
        // SAFETY:
        // 1. Default attributes, auto-reset, not signalled, no name.
        let event = unsafe { CreateEventW(std::ptr::null(), 0, 0, std::ptr::null()) };
        if process.is_null() || event.is_null() {
            return Err("OpenProcess or CreateEventW failed".into());
        }
        // SAFETY:
        // 1. Both were just made for us alone.
        let process = unsafe { OwnedHandle::from_raw_handle(process as RawHandle) };
        // SAFETY:
        // 1. As above.
        let event = unsafe { OwnedHandle::from_raw_handle(event as RawHandle) };
        // SAFETY:
        // 1. A value nothing in this process holds, only passed along, never used as one.
        let stranger = unsafe { BorrowedHandle::borrow_raw(0x7FF0 as RawHandle) };
        for (what, h) in [
            ("a process handle", process.as_handle()),
            ("an event", event.as_handle()),
            ("a value this process does not hold", stranger),
        ] {
            let mut buffer = [0u8; 64];
            let mut ancillary = SocketAncillary::new(&mut buffer);
            ancillary.add_handles(&[h]);
            match a.send_vectored_with_ancillary(&[IoSlice::new(b"x")], &mut ancillary) {
                Err(e) if afunix::errno_of(&e) == Some(afunix::Errno::EBADF) => {}
                other => return Err(format!("passing {what}: {other:?}, not EBADF")),
            }
        }
        println!("rights: a process handle, an event and a value not held refused with EBADF");
        Ok(())
    }

    /// Part 3: a socket over itself, and a two-socket cycle.
    fn cycles() -> Result<(), String> {
        let (x, y) = UnixSeqpacketConn::pair().map_err(|e| format!("pair: {e}"))?;
        let mut buffer = [0u8; 64];
        let mut ancillary = SocketAncillary::new(&mut buffer);
        ancillary.add_handles(&[x.as_handle()]);
        x.send_vectored_with_ancillary(&[IoSlice::new(b"self")], &mut ancillary)
            .map_err(|e| format!("send x over itself: {e}"))?;
        // y's queue holds x; y passing itself into x's queue would close a cycle.
        let mut ancillary = SocketAncillary::new(&mut buffer);
        ancillary.add_handles(&[y.as_handle()]);
        match y.send_vectored_with_ancillary(&[IoSlice::new(b"cycle")], &mut ancillary) {
            Err(e) if afunix::errno_of(&e) == Some(afunix::Errno::ETOOMANYREFS) => {}
            other => return Err(format!("a two-socket cycle was not refused: {other:?}")),
        }
        drop(x);
        drop(y);
        expect_empty("rights (cycles)")?;
        println!(
            "rights: a socket sent over itself and closed, and a refused two-socket cycle, leave STATS at zero"
        );
        Ok(())
    }

    pub fn run() -> Result<(), String> {
        let dir = PathBuf::from(r"C:\users\Public");
        across_processes(&dir)?;
        truncated()?;
        pending()?;
        peeked()?;
        refused()?;
        cycles()?;
        expect_empty("rights")
    }
}

#[cfg(windows)]
pub use imp::{child, run};

#[cfg(not(windows))]
pub fn run() -> Result<(), String> {
    Err("rights passes handles through the afunixrs driver: run the Windows build".into())
}

#[cfg(not(windows))]
pub fn child(_meet: &Path) -> Result<(), String> {
    let _ = (FILE_TEXT, PIPE_TEXT, ECHO_TEXT);
    Err("rights-child runs under the Windows build".into())
}
