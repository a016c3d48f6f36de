//! The request path with a host whose file system reuses file identities at will, as ext4
//! (and so Wine), FAT and exFAT do after a delete.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use afunix_proto::decode::decode;
use afunix_proto::encode;
use afunix_proto::handle::HandleAccess;
use afunix_proto::ioctl::{
    IOCTL_AFUNIX_ACCEPT, IOCTL_AFUNIX_BIND, IOCTL_AFUNIX_CONNECT, IOCTL_AFUNIX_GETPEERNAME,
    IOCTL_AFUNIX_LISTEN, IOCTL_AFUNIX_POLL, IOCTL_AFUNIX_SOCKET, IOCTL_AFUNIX_SOCKETPAIR,
};
use zerocopy::IntoBytes;

use super::*;
use crate::{Limits, OwnedBuffers};

/// A file on the fake volume: its identity and content (a secret, or nothing).
#[derive(Clone, Copy, Debug)]
struct FakeFile {
    identity: FileIdentity,
    secret: Option<u128>,
    /// The type a bind recorded in it (the reparse payload's `socket_type`).
    ty: Option<SockType>,
}

/// A host over a map of paths, which gives every new file the same identity (the worst
/// reuse a file system can do), and whose secrets count up.
struct FakeHost {
    device: Device,
    files: BTreeMap<String, FakeFile>,
    next_secret: u128,
    /// Whether the random source answers.
    random_fails: bool,
    removed: Vec<String>,
    /// Every handle value the path asked the host to resolve, and for what.
    referenced: Vec<(u64, HandleAccess)>,
    /// Fault injection: the failing allocator armed around each request's decoding,
    /// resolving, execution and settling (see the last test), never around this host's
    /// own work.
    faults: bool,
    /// Requests during which an allocation failed.
    injected: u64,
    /// Socket files opened (CONNECT, SENDTO).
    opened: usize,
    /// Objects passed (SENDMSG) and released, by key.
    passed: Vec<u64>,
    released: Vec<u64>,
}

/// Where a fake path lives: `//server/...` on a share (which reports any identity and
/// content its server likes), `//./pipe/...` on the pipe file system, anything else on a
/// local disk. As a real host asks the open directory's file system.
fn device_of(path: &str) -> VolumeDevice {
    const NAMED_PIPE: u32 = 0x11;
    if path.starts_with("//./pipe/") {
        VolumeDevice {
            device_type: NAMED_PIPE,
            characteristics: 0,
        }
    } else if path.starts_with("//") {
        VolumeDevice {
            device_type: VolumeDevice::DISK,
            characteristics: 0x10,
        }
    } else {
        VolumeDevice {
            device_type: VolumeDevice::DISK,
            characteristics: 0x20,
        }
    }
}

const REUSED: FileIdentity = FileIdentity {
    volume: 7,
    file_id: 42,
};

impl FakeHost {
    fn new() -> FakeHost {
        FakeHost {
            device: Device::new(Limits::default()),
            files: BTreeMap::new(),
            next_secret: 1000,
            random_fails: false,
            removed: Vec::new(),
            referenced: Vec::new(),
            faults: false,
            injected: 0,
            opened: 0,
            passed: Vec::new(),
            released: Vec::new(),
        }
    }

    fn path(path: NtPath<'_>) -> String {
        char::decode_utf16(path.units())
            .map(|c| c.unwrap_or('?'))
            .collect()
    }

    /// Runs one request: the whole path, as a front end does.
    fn request(
        &mut self,
        file: u64,
        code: u32,
        input: &[u8],
        out: &mut [u8],
    ) -> Result<usize, Errno> {
        if !self.faults {
            return self.request_inner(file, code, input, out);
        }
        let before = fault_alloc::failed();
        fault_alloc::arm();
        let r = self.request_inner(file, code, input, out);
        fault_alloc::disarm();
        if fault_alloc::failed() != before {
            self.injected += 1;
            if let Err(e) = r {
                assert!(
                    matches!(e, Errno::ENOBUFS | Errno::ENOMEM),
                    "request {code:#x} answered {e:?} when an allocation failed"
                );
            }
        }
        r
    }

    fn request_inner(
        &mut self,
        file: u64,
        code: u32,
        input: &[u8],
        out: &mut [u8],
    ) -> Result<usize, Errno> {
        let request = decode(code, input, out.len()).map_err(|_| Errno::EINVAL)?;
        let mut prepared = Prepared::new(self, FileId(file), request, 0)?;
        let reply = prepared.execute(
            &mut self.device,
            Token(u64::from(code)),
            &mut OwnedBuffers::new(),
        );
        prepared.settle(self, reply.failed());
        match reply {
            // A POLL's reply is its own request with revents filled, as in a system buffer.
            Reply::Ready(Ok(done)) if code == IOCTL_AFUNIX_POLL => {
                let request = out.get_mut(..input.len()).ok_or(Errno::EFAULT)?;
                request.copy_from_slice(input);
                write_reply(&done, Some(ReplyBuffer::InOut(request)))
            }
            Reply::Ready(Ok(done)) => write_reply(&done, Some(ReplyBuffer::Out(out))),
            Reply::Ready(Err(e)) => Err(e),
            Reply::Pending => Err(Errno::EINPROGRESS),
        }
    }

    fn socket(&mut self, file: u64) {
        self.device.open(FileId(file)).unwrap();
        self.request(
            file,
            IOCTL_AFUNIX_SOCKET,
            encode::socket(1, true).as_bytes(),
            &mut [],
        )
        .unwrap();
    }

    fn address(path: &str) -> Vec<u8> {
        let mut sockaddr = vec![1, 0];
        sockaddr.extend_from_slice(path.as_bytes());
        let nt: Vec<u16> = path.encode_utf16().collect();
        encode::address(&sockaddr, &nt).unwrap()
    }

    fn bind(&mut self, file: u64, path: &str) -> Result<usize, Errno> {
        self.request(file, IOCTL_AFUNIX_BIND, &Self::address(path), &mut [])
    }

    fn connect(&mut self, file: u64, path: &str) -> Result<usize, Errno> {
        self.request(file, IOCTL_AFUNIX_CONNECT, &Self::address(path), &mut [])
    }

    fn listen(&mut self, file: u64) {
        self.request(
            file,
            IOCTL_AFUNIX_LISTEN,
            encode::listen(8).as_bytes(),
            &mut [],
        )
        .unwrap();
    }

    /// Accepts on `listener` onto `new_file` and returns the peer name's length.
    fn accept(&mut self, listener: u64, new_file: u64) -> Result<usize, Errno> {
        self.socket(new_file);
        let mut out = [0u8; 128];
        self.request(
            listener,
            IOCTL_AFUNIX_ACCEPT,
            encode::handle(new_file).as_bytes(),
            &mut out,
        )
    }

    /// `rm path`.
    fn delete(&mut self, path: &str) {
        self.files.remove(path).unwrap();
    }
}

impl Host for FakeHost {
    type SocketFile = String;
    type HandleRef = ();

    /// Handle values below 0x40 are the files of those numbers; 0xBAD is no handle; any other
    /// is some other object. The key is the handle plus 1000.
    fn pass(&mut self, handle: u64) -> Result<Object, Errno> {
        if handle == 0xBAD {
            return Err(Errno::EBADF);
        }
        let key = handle + 1000;
        self.passed.push(key);
        Ok(Object {
            key,
            file: (handle < 0x40).then_some(FileId(handle)),
        })
    }

    fn release(&mut self, key: u64) {
        self.released.push(key);
    }

    fn credentials(&mut self) -> Result<Credentials, Errno> {
        Ok(Credentials {
            pid: 99,
            ..Credentials::default()
        })
    }

    fn secret(&mut self) -> Result<u128, Errno> {
        if self.random_fails {
            return Err(Errno::ENOMEM);
        }
        self.next_secret += 1;
        Ok(self.next_secret)
    }

    fn create_socket_file(
        &mut self,
        path: NtPath<'_>,
        secret: u128,
        ty: SockType,
    ) -> Result<(FileIdentity, String), FsError> {
        fault_alloc::disarmed(|| self.create_file(path, secret, ty))
    }

    fn remove_socket_file(&mut self, path: String) {
        fault_alloc::disarmed(|| {
            self.files.remove(&path);
            self.removed.push(path);
        });
    }

    fn open_socket_file(
        &mut self,
        path: NtPath<'_>,
    ) -> Result<(FileIdentity, Option<u128>), FsError> {
        fault_alloc::disarmed(|| self.open_file(path))
    }

    /// Handles below 100 are the caller's; above, as a real handle table says of a value it
    /// does not hold.
    fn reference(&mut self, handle: u64, access: HandleAccess) -> Result<(FileId, ()), Errno> {
        fault_alloc::disarmed(|| self.referenced.push((handle, access)));
        if handle < 100 {
            Ok((FileId(handle), ()))
        } else {
            Err(Errno::EBADF)
        }
    }

    fn with_device<R>(&mut self, f: impl FnOnce(&mut Device) -> R) -> Result<R, Errno> {
        Ok(f(&mut self.device))
    }
}

impl FakeHost {
    fn create_file(
        &mut self,
        path: NtPath<'_>,
        secret: u128,
        ty: SockType,
    ) -> Result<(FileIdentity, String), FsError> {
        let path = Self::path(path);
        device_of(&path).check()?;
        if self.files.contains_key(&path) {
            return Err(FsError::Exists);
        }
        self.files.insert(
            path.clone(),
            FakeFile {
                identity: REUSED,
                secret: Some(secret),
                ty: Some(ty),
            },
        );
        Ok((REUSED, path))
    }

    fn open_file(&mut self, path: NtPath<'_>) -> Result<(FileIdentity, Option<u128>), FsError> {
        self.opened += 1;
        let path = Self::path(path);
        device_of(&path).check()?;
        self.files
            .get(&path)
            .map(|f| (f.identity, f.secret))
            .ok_or(FsError::NotFound)
    }
}

#[test]
fn a_file_that_reuses_a_deleted_socket_files_identity_reaches_no_listener() {
    let mut host = FakeHost::new();
    host.socket(1);
    host.bind(1, "/run/s").unwrap();
    host.listen(1);
    host.delete("/run/s");
    // Someone makes a plain file there, which gets the deleted file's identity.
    host.files.insert(
        String::from("/run/s"),
        FakeFile {
            identity: REUSED,
            secret: None,
            ty: None,
        },
    );
    host.socket(2);
    assert_eq!(host.connect(2, "/run/s"), Err(Errno::ECONNREFUSED));
    // Even one that copies another binding's identity and guesses wrong.
    host.files.insert(
        String::from("/elsewhere"),
        FakeFile {
            identity: REUSED,
            secret: Some(1),
            ty: None,
        },
    );
    assert_eq!(host.connect(2, "/elsewhere"), Err(Errno::ECONNREFUSED));
    assert_eq!(
        host.device.stats().sockets,
        2,
        "the old listener is untouched"
    );
}

#[test]
fn binding_again_after_the_socket_file_was_deleted_reaches_the_new_listener() {
    let mut host = FakeHost::new();
    host.socket(1);
    host.bind(1, "/run/s").unwrap();
    host.listen(1);
    host.delete("/run/s");
    // unix_bind_bsd makes a new node: the name is free again, whatever its identity.
    host.socket(2);
    host.bind(2, "/run/s").unwrap();
    host.listen(2);
    host.socket(3);
    host.connect(3, "/run/s").unwrap();
    // The connection is queued on the new listener; the old one (non-blocking) has none.
    assert_eq!(host.accept(1, 5), Err(Errno::EAGAIN));
    host.accept(2, 4).unwrap();
    let mut name = [0u8; 128];
    host.request(
        4,
        IOCTL_AFUNIX_GETPEERNAME,
        encode::empty().as_bytes(),
        &mut name,
    )
    .unwrap();
}

#[test]
fn a_bind_that_fails_after_making_its_file_removes_it() {
    let mut host = FakeHost::new();
    host.socket(1);
    host.bind(1, "/run/a").unwrap();
    // Already bound: EINVAL, and the second file is gone again (unix_bind_bsd's unlink).
    assert_eq!(host.bind(1, "/run/b"), Err(Errno::EINVAL));
    assert_eq!(host.removed, vec![String::from("/run/b")]);
    assert!(!host.files.contains_key("/run/b"));
    assert!(host.files.contains_key("/run/a"));
}

#[test]
fn path_errors_map_as_linux_names_them_for_bind_and_for_connect() {
    let cases = [
        (FsError::NotFound, Errno::ENOENT, Errno::ENOENT),
        (FsError::NotADirectory, Errno::ENOTDIR, Errno::ENOTDIR),
        (
            FsError::IsADirectory,
            Errno::EADDRINUSE,
            Errno::ECONNREFUSED,
        ),
        (FsError::Exists, Errno::EADDRINUSE, Errno::ECONNREFUSED),
        (FsError::NotAFile, Errno::EADDRINUSE, Errno::ECONNREFUSED),
        (FsError::AccessDenied, Errno::EACCES, Errno::EACCES),
        (
            FsError::NameTooLong,
            Errno::ENAMETOOLONG,
            Errno::ENAMETOOLONG,
        ),
        (FsError::Loop, Errno::ELOOP, Errno::ELOOP),
        (FsError::ReadOnly, Errno::EROFS, Errno::EROFS),
        (FsError::Other(Errno::ENOSPC), Errno::ENOSPC, Errno::ENOSPC),
        (
            FsError::NotLocalDisk,
            Errno::EOPNOTSUPP,
            Errno::ECONNREFUSED,
        ),
    ];
    for (error, bind, connect) in cases {
        assert_eq!(error.for_bind(), bind, "{error:?}");
        assert_eq!(error.for_connect(), connect, "{error:?}");
    }
}

#[test]
fn only_a_local_disk_holds_socket_files() {
    let local = |device_type, characteristics| {
        VolumeDevice {
            device_type,
            characteristics,
        }
        .check()
    };
    // NTFS, ReFS, FAT; removable (0x1) and virtual (0x40) disks; Wine's drives (mounted, 0x20).
    for characteristics in [0, 0x1, 0x20, 0x40, 0x100] {
        assert_eq!(local(VolumeDevice::DISK, characteristics), Ok(()));
        assert_eq!(
            local(VolumeDevice::DISK_FILE_SYSTEM, characteristics),
            Ok(())
        );
    }
    // A disk that says it is remote: SMB, a remote desktop client's drive, WebDAV, a VM's host.
    for remote in [0x10, 0x1000, 0x2000, 0x8_0000, 0x10 | 0x20] {
        assert_eq!(
            local(VolumeDevice::DISK, remote),
            Err(FsError::NotLocalDisk),
            "{remote:#x}"
        );
    }
    // Named pipes, mailslots, network and DFS file systems, CDs, virtual disks, the null
    // device, an unknown type.
    for other in [0x11, 0x0C, 0x14, 0x35, 0x2, 0x3, 0x24, 0x15, 0x22, 0] {
        assert_eq!(local(other, 0), Err(FsError::NotLocalDisk), "{other:#x}");
    }
}

#[test]
fn a_share_that_copies_a_socket_files_identity_and_secret_reaches_no_listener() {
    let mut host = FakeHost::new();
    host.socket(1);
    host.bind(1, "/run/s").unwrap();
    host.listen(1);
    let real = host.files["/run/s"];
    // A server the user runs claims the same volume, file ID and secret for a file of its own.
    host.files.insert(String::from("//evil/share/s"), real);
    host.socket(2);
    assert_eq!(host.connect(2, "//evil/share/s"), Err(Errno::ECONNREFUSED));
    // Nor can a socket be bound there, where its identity would be the server's to choose.
    assert_eq!(host.bind(2, "//evil/share/t"), Err(Errno::EOPNOTSUPP));
    assert!(!host.files.contains_key("//evil/share/t"));
    // A pipe's name is refused the same way, before anything is opened in it.
    assert_eq!(host.connect(2, "//./pipe/p"), Err(Errno::ECONNREFUSED));
    assert_eq!(host.bind(2, "//./pipe/p"), Err(Errno::EOPNOTSUPP));
    // The real one still works.
    host.connect(2, "/run/s").unwrap();
}

#[test]
fn a_bind_without_a_random_secret_fails_and_makes_no_file() {
    let mut host = FakeHost::new();
    host.random_fails = true;
    host.socket(1);
    assert_eq!(host.bind(1, "/run/s"), Err(Errno::ENOMEM));
    assert!(host.files.is_empty());
    host.random_fails = false;
    host.bind(1, "/run/s").unwrap();
}

#[test]
fn sendto_on_a_stream_refuses_any_address_as_linux_does() {
    use afunix_proto::ioctl::{IOCTL_AFUNIX_SENDTO, IOCTL_AFUNIX_SOCKETPAIR};
    let mut host = FakeHost::new();
    let to = encode::send_to(0, &[1, 0, 0, b'x'], &[]).unwrap();
    host.socket(1);
    // Unconnected: EOPNOTSUPP, before the address is even looked at.
    assert_eq!(
        host.request(1, IOCTL_AFUNIX_SENDTO, &to, &mut []),
        Err(Errno::EOPNOTSUPP)
    );
    host.socket(2);
    host.request(
        1,
        IOCTL_AFUNIX_SOCKETPAIR,
        encode::handle(2).as_bytes(),
        &mut [],
    )
    .unwrap();
    // Connected: EISCONN; an empty address is a plain send.
    assert_eq!(
        host.request(1, IOCTL_AFUNIX_SENDTO, &to, &mut []),
        Err(Errno::EISCONN)
    );
    let none = encode::send_to(0, &[], &[]).unwrap();
    assert_eq!(host.request(1, IOCTL_AFUNIX_SENDTO, &none, &mut []), Ok(0));
}

#[test]
fn recvfrom_names_the_sender_and_nothing_at_end_of_file() {
    use afunix_proto::decode::RECVFROM_HEADER;
    use afunix_proto::ioctl::{IOCTL_AFUNIX_RECVFROM, IOCTL_AFUNIX_SHUTDOWN};
    use afunix_proto::wire::AddressOut;
    use zerocopy::FromBytes;
    let mut host = FakeHost::new();
    host.socket(1);
    host.bind(1, "/run/l").unwrap();
    host.listen(1);
    host.socket(2);
    host.bind(2, "/run/c").unwrap();
    host.connect(2, "/run/l").unwrap();
    host.accept(1, 3).unwrap();
    // The client sends through the device's own data path.
    let mut bufs = OwnedBuffers::new();
    bufs.insert_send(Token(500), b"hi".to_vec()).unwrap();
    let me = host.credentials().unwrap();
    let sent = host.device.execute(
        FileId(2),
        Token(500),
        Op::Send {
            flags: afunix_proto::decode::MsgFlags(0),
            len: 2,
            to: None,
        },
        &me,
        &mut bufs,
    );
    assert_eq!(sent, Reply::Ready(Ok(Done::Count(2))));
    // RECVFROM as a front end runs it: the data after room for the address.
    let input = encode::data(0);
    let request = decode(IOCTL_AFUNIX_RECVFROM, input.as_bytes(), 200).unwrap();
    assert_eq!(data_offset(&request), RECVFROM_HEADER);
    let mut prepared = Prepared::new(&mut host, FileId(3), request, 200 - RECVFROM_HEADER).unwrap();
    let mut bufs = OwnedBuffers::new();
    bufs.insert_recv(Token(500), vec![0; 200 - RECVFROM_HEADER])
        .unwrap();
    let reply = prepared.execute(&mut host.device, Token(500), &mut bufs);
    let Reply::Ready(Ok(done)) = reply else {
        panic!("{reply:?}")
    };
    let mut header = [0u8; RECVFROM_HEADER];
    let n = write_reply(&done, Some(ReplyBuffer::Out(&mut header))).unwrap();
    assert_eq!(n, RECVFROM_HEADER + 2);
    assert_eq!(&bufs.get(Token(500)).unwrap()[..2], b"hi");
    let from = AddressOut::read_from_bytes(&header).unwrap();
    assert_eq!(from.sockaddr(), b"\x01\x00/run/c\0");
    // End of file: no address (length 0), as Linux reports it.
    host.request(
        2,
        IOCTL_AFUNIX_SHUTDOWN,
        encode::shutdown(1).as_bytes(),
        &mut [],
    )
    .unwrap();
    let mut out = [0u8; 64 + RECVFROM_HEADER];
    let request = decode(IOCTL_AFUNIX_RECVFROM, input.as_bytes(), out.len()).unwrap();
    let mut prepared = Prepared::new(&mut host, FileId(3), request, 64).unwrap();
    let mut bufs = OwnedBuffers::new();
    bufs.insert_recv(Token(500), vec![0; 64]).unwrap();
    let Reply::Ready(Ok(done)) = prepared.execute(&mut host.device, Token(500), &mut bufs) else {
        panic!("end of file is ready")
    };
    let (header, _) = out.split_at_mut(RECVFROM_HEADER);
    assert_eq!(
        write_reply(&done, Some(ReplyBuffer::Out(header))),
        Ok(RECVFROM_HEADER)
    );
    assert_eq!(AddressOut::read_from_bytes(header).unwrap().addr_len, 0);
}

#[test]
fn kernel_and_pseudo_handle_values_never_reach_the_host() {
    let mut host = FakeHost::new();
    host.socket(1);
    host.socket(2);
    let kernel = [
        0xFFFF_FFFF_8000_0004u64,
        0x8000_0010,
        u64::MAX,
        (-2i64) as u64,
        0x1_0000_0002,
        0,
    ];
    for value in kernel {
        let input = encode::handle(value);
        for code in [IOCTL_AFUNIX_SOCKETPAIR, IOCTL_AFUNIX_ACCEPT] {
            let got = host.request(1, code, input.as_bytes(), &mut [0u8; 128]);
            assert_eq!(got, Err(Errno::ENOTSOCK), "{code:#x} with {value:#x}");
        }
        // POLL reports it invalid and still answers for the caller's socket.
        let input = encode::poll(&[(2, 0x4), (value, 0x1)], 0).unwrap();
        let mut out = vec![0u8; input.len()];
        host.request(1, IOCTL_AFUNIX_POLL, &input, &mut out)
            .unwrap();
        let revents: Vec<u32> = afunix_proto::wire::revents(&out).collect();
        // The fresh socket: POLLOUT and POLLHUP, as Linux reports an unconnected stream.
        assert_eq!(revents, [0x14, 0x20], "POLL with {value:#x}");
    }
    // Only the caller's socket in the POLLs was ever looked up.
    assert!(host.referenced.iter().all(|(h, _)| *h == 2));
}

#[test]
fn a_handle_the_caller_does_not_hold_gets_the_same_error_as_one_that_is_no_socket() {
    let mut host = FakeHost::new();
    host.socket(1);
    host.socket(2);
    host.device.open(FileId(3)).unwrap();
    // 500: the host holds no such handle (EBADF from its table); 3: open on the device, never
    // made a socket. Both are simply not the caller's socket.
    for value in [500u64, 3] {
        let input = encode::handle(value);
        assert_eq!(
            host.request(1, IOCTL_AFUNIX_SOCKETPAIR, input.as_bytes(), &mut []),
            Err(Errno::ENOTSOCK),
            "SOCKETPAIR with {value}"
        );
    }
    // The pair and the accept ask for a handle open for reading and writing; POLL for reading.
    assert!(
        host.referenced
            .iter()
            .all(|(_, a)| *a == HandleAccess::ReadWrite)
    );
    let input = encode::handle(2);
    host.request(1, IOCTL_AFUNIX_SOCKETPAIR, input.as_bytes(), &mut [])
        .unwrap();
    let input = encode::poll(&[(2, 0x4)], 0).unwrap();
    let mut out = vec![0u8; input.len()];
    host.request(1, IOCTL_AFUNIX_POLL, &input, &mut out)
        .unwrap();
    assert_eq!(host.referenced.last(), Some(&(2, HandleAccess::Read)));
}

/// Issue 19: the request path (decoding, `Prepared`, the device, settling) with each
/// allocation it reaches failed in turn, and then every one from there on. A request that
/// met a failure answers ENOBUFS or ENOMEM or succeeds; a bind that failed leaves no socket
/// file and one that succeeded leaves its file; once the handles close, STATS is zero.
#[test]
fn the_request_path_keeps_its_promises_when_allocations_fail() {
    use fault_alloc::Plan;
    let script = |host: &mut FakeHost| {
        let mut open = Vec::new();
        for file in [1, 2, 3] {
            let opened = fault_alloc::armed(|| host.device.open(FileId(file)));
            if opened.is_ok() {
                fault_alloc::disarmed(|| open.push(file));
                let _ = host.request(
                    file,
                    IOCTL_AFUNIX_SOCKET,
                    encode::socket(1, true).as_bytes(),
                    &mut [],
                );
            }
        }
        let address = fault_alloc::disarmed(|| FakeHost::address("/run/s"));
        let bound = host.request(1, IOCTL_AFUNIX_BIND, &address, &mut []);
        fault_alloc::disarmed(|| {
            assert_eq!(
                bound.is_ok(),
                host.files.contains_key("/run/s"),
                "{bound:?}"
            );
        });
        let _ = host.request(
            1,
            IOCTL_AFUNIX_LISTEN,
            encode::listen(8).as_bytes(),
            &mut [],
        );
        let _ = host.request(2, IOCTL_AFUNIX_CONNECT, &address, &mut []);
        let mut out = [0u8; 128];
        let _ = host.request(
            1,
            IOCTL_AFUNIX_ACCEPT,
            encode::handle(3).as_bytes(),
            &mut out,
        );
        let _ = host.request(3, IOCTL_AFUNIX_GETPEERNAME, &[], &mut out);
        let input = fault_alloc::disarmed(|| encode::poll(&[(2, 0x4), (3, 0x1)], 0).unwrap());
        let mut polled = fault_alloc::disarmed(|| vec![0u8; input.len()]);
        let _ = host.request(2, IOCTL_AFUNIX_POLL, &input, &mut polled);
        open
    };
    let run = |plan: Plan| {
        fault_alloc::start(plan);
        let mut host = FakeHost::new();
        host.faults = true;
        let open = script(&mut host);
        let seen = fault_alloc::seen();
        for file in open {
            fault_alloc::armed(|| host.device.close(FileId(file), &mut OwnedBuffers::new()));
        }
        let failed = fault_alloc::failed();
        fault_alloc::start(Plan::Count);
        assert_eq!(
            host.device.stats(),
            crate::DeviceStats::default(),
            "{plan:?}"
        );
        assert_eq!(host.device.user_count(), 0);
        (seen, failed, host.injected)
    };
    let (total, _, _) = run(Plan::Count);
    assert!(total > 0);
    let (mut runs, mut injected, mut requests) = (0u64, 0u64, 0u64);
    for n in 1..=total + 1 {
        for plan in [Plan::FailAt(n), Plan::FailFrom(n)] {
            let (_, f, r) = run(plan);
            runs += 1;
            injected += f;
            requests += r;
        }
    }
    std::println!(
        "request path fault injection: {runs} runs, {injected} allocations failed, in {requests} requests"
    );
    assert!(injected > 0);
}

impl FakeHost {
    fn typed(&mut self, file: u64, ty: u32) {
        self.device.open(FileId(file)).unwrap();
        self.request(
            file,
            IOCTL_AFUNIX_SOCKET,
            encode::socket(ty, true).as_bytes(),
            &mut [],
        )
        .unwrap();
    }

    /// SENDTO of no data to `path` (a pathname) through the whole path.
    fn send_to_path(&mut self, file: u64, path: &str) -> Result<usize, Errno> {
        use afunix_proto::ioctl::IOCTL_AFUNIX_SENDTO;
        let mut sockaddr = vec![1, 0];
        sockaddr.extend_from_slice(path.as_bytes());
        let nt: Vec<u16> = path.encode_utf16().collect();
        let input = encode::send_to(0, &sockaddr, &nt).unwrap();
        self.request(file, IOCTL_AFUNIX_SENDTO, &input, &mut [])
    }

    fn lookups(&self) -> usize {
        self.opened
    }
}

#[test]
fn a_pathname_bind_records_the_sockets_type_in_its_file() {
    let mut host = FakeHost::new();
    for (file, ty, path, recorded) in [
        (1, 1, "/run/stream", SockType::Stream),
        (2, 2, "/run/dgram", SockType::Dgram),
        (3, 3, "/run/raw", SockType::Dgram),
        (4, 5, "/run/seqpacket", SockType::SeqPacket),
    ] {
        host.typed(file, ty);
        host.bind(file, path).unwrap();
        assert_eq!(host.files[path].ty, Some(recorded), "{path}");
    }
}

#[test]
fn a_datagrams_pathname_destination_is_opened_as_connect_opens_it() {
    let mut host = FakeHost::new();
    host.typed(1, 2);
    host.bind(1, "/run/d").unwrap();
    host.typed(2, 2);
    assert_eq!(host.send_to_path(2, "/run/d"), Ok(0));
    assert_eq!(host.lookups(), 1);
    // The empty datagram arrived: a non-blocking read finds it (and then nothing).
    let mut read = || {
        host.device.execute(
            FileId(1),
            Token(9),
            Op::Recv {
                flags: afunix_proto::decode::MsgFlags(afunix_proto::wire::MSG_DONTWAIT),
                len: 0,
                from: false,
            },
            &Credentials::default(),
            &mut OwnedBuffers::new(),
        )
    };
    assert_eq!(read(), Reply::Ready(Ok(Done::Count(0))));
    assert_eq!(read(), Reply::Ready(Err(Errno::EAGAIN)));
    // The path's errors are connect's: missing ENOENT, a file that is no socket
    // ECONNREFUSED, a stream's socket file EPROTOTYPE.
    assert_eq!(host.send_to_path(2, "/run/missing"), Err(Errno::ENOENT));
    host.files.insert(
        String::from("/run/plain"),
        FakeFile {
            identity: FileIdentity {
                volume: 7,
                file_id: 1,
            },
            secret: None,
            ty: None,
        },
    );
    assert_eq!(host.send_to_path(2, "/run/plain"), Err(Errno::ECONNREFUSED));
    host.delete("/run/d");
    host.socket(3);
    host.bind(3, "/run/s").unwrap();
    host.listen(3);
    assert_eq!(host.send_to_path(2, "/run/s"), Err(Errno::EPROTOTYPE));
    // A stream never looks a destination up (EOPNOTSUPP before the address), nor does a
    // seqpacket socket, which ignores it (ENOTCONN when unconnected).
    let before = host.lookups();
    host.socket(4);
    assert_eq!(host.send_to_path(4, "/run/missing"), Err(Errno::EOPNOTSUPP));
    host.typed(5, 5);
    assert_eq!(host.send_to_path(5, "/run/missing"), Err(Errno::ENOTCONN));
    assert_eq!(host.lookups(), before);
}

/// SENDMSG and RECVMSG down the whole path: objects resolved by the host, carried by the
/// engine, made handles by the front end's `give`, and written into the reply's head.
#[test]
fn sendmsg_passes_objects_that_recvmsg_delivers_or_releases() {
    use afunix_proto::ioctl::{IOCTL_AFUNIX_RECVMSG, IOCTL_AFUNIX_SENDMSG};
    use afunix_proto::wire::{MSG_CTRUNC, RecvMsgOut, recvmsg_header_len};
    use zerocopy::FromBytes;
    let mut host = FakeHost::new();
    for f in [1, 2] {
        host.device.open(FileId(f)).unwrap();
        host.request(
            f,
            IOCTL_AFUNIX_SOCKET,
            encode::socket(5, true).as_bytes(),
            &mut [],
        )
        .unwrap();
    }
    host.request(
        1,
        IOCTL_AFUNIX_SOCKETPAIR,
        encode::handle(2).as_bytes(),
        &mut [],
    )
    .unwrap();

    let send = |host: &mut FakeHost, handles: &[u64], data: &[u8]| {
        let input = encode::send_msg(0, handles, None).unwrap();
        let request = decode(IOCTL_AFUNIX_SENDMSG, &input, data.len()).unwrap();
        let mut bufs = OwnedBuffers::new();
        bufs.insert_send(Token(600), data.to_vec()).unwrap();
        let mut prepared = Prepared::new(host, FileId(1), request, data.len())?;
        let reply = prepared.execute(&mut host.device, Token(600), &mut bufs);
        let failed = reply.failed();
        prepared.settle(host, failed);
        match reply {
            Reply::Ready(r) => r,
            Reply::Pending => panic!("pending"),
        }
    };
    let recv = |host: &mut FakeHost, room: usize, flags: u32| {
        let input = encode::recv_msg(flags, room as u32);
        let head = recvmsg_header_len(room);
        let request = decode(IOCTL_AFUNIX_RECVMSG, input.as_bytes(), head + 64).unwrap();
        assert_eq!(data_offset(&request), head);
        let mut prepared = Prepared::new(host, FileId(2), request, 64).unwrap();
        let mut bufs = OwnedBuffers::new();
        bufs.insert_recv(Token(700), vec![0; 64]).unwrap();
        let Reply::Ready(Ok(Done::Message(mut done))) =
            prepared.execute(&mut host.device, Token(700), &mut bufs)
        else {
            panic!("a message is ready")
        };
        // The front end makes the objects handles: key 1096 cannot be made.
        let mut released = Vec::new();
        deliver_objects(
            &mut done,
            |key, _keep| {
                if key == 1096 {
                    Err(Errno::EMFILE)
                } else {
                    Ok(key + 5000)
                }
            },
            |key| released.push(key),
        );
        let mut out = vec![0u8; head];
        let n = write_reply(&Done::Message(done), Some(ReplyBuffer::Out(&mut out))).unwrap();
        let reply = RecvMsgOut::read_from_bytes(&out[..size_of::<RecvMsgOut>()]).unwrap();
        let handles: Vec<u64> = out[size_of::<RecvMsgOut>()..]
            .chunks_exact(8)
            .take(reply.count as usize)
            .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
            .collect();
        let data = bufs.get(Token(700)).unwrap()[..n - head].to_vec();
        (reply, handles, data, released)
    };

    // The receiver into its own queue: a cycle, refused, and released.
    assert_eq!(send(&mut host, &[2], b"own"), Err(Errno::ETOOMANYREFS));
    assert_eq!(host.released, [1002]);
    // Two objects, one of them our own socket file 1, the sender: both arrive, in order.
    assert_eq!(send(&mut host, &[1, 0x44], b"two"), Ok(Done::Count(3)));
    assert_eq!(host.device.objects_in_flight(), 2);
    let (reply, handles, data, released) = recv(&mut host, 4, 0);
    assert_eq!(data, b"two");
    assert_eq!(handles, [6001, 6068]);
    assert_eq!(reply.addr.msg_flags & MSG_CTRUNC, 0);
    assert!(released.is_empty());

    // Room for one: the second is released by the device, MSG_CTRUNC.
    assert_eq!(send(&mut host, &[0x48, 0x4C], b"x"), Ok(Done::Count(1)));
    let (reply, handles, _, _) = recv(&mut host, 1, 0);
    assert_eq!(handles, [6072]);
    assert_ne!(reply.addr.msg_flags & MSG_CTRUNC, 0);
    assert_eq!(host.device.poll_released(), Some(1076));
    assert_eq!(host.device.poll_released(), None);

    // A peek's objects are pinned until the front end has copied them: a receive of the
    // same message meanwhile that releases them is held back until the last unpin.
    assert_eq!(send(&mut host, &[0x70], b"k"), Ok(Done::Count(1)));
    let input = encode::recv_msg(afunix_proto::wire::MSG_PEEK, 1);
    let head = recvmsg_header_len(1);
    let request = decode(IOCTL_AFUNIX_RECVMSG, input.as_bytes(), head + 8).unwrap();
    let mut prepared = Prepared::new(&mut host, FileId(2), request, 8).unwrap();
    let mut bufs = OwnedBuffers::new();
    bufs.insert_recv(Token(701), vec![0; 8]).unwrap();
    let Reply::Ready(Ok(Done::Message(peeked))) =
        prepared.execute(&mut host.device, Token(701), &mut bufs)
    else {
        panic!("the peek is ready")
    };
    assert!(peeked.peeked);
    assert_eq!(peeked.objects.len(), 1);
    let key = peeked.objects[0].key;
    assert_eq!(key, 1112);
    // The message is received (room 0: its object is released by the device), while pinned.
    let (reply, handles, _, _) = recv(&mut host, 0, 0);
    assert!(handles.is_empty() && reply.addr.msg_flags & MSG_CTRUNC != 0);
    assert_eq!(host.device.poll_released(), None, "held back while pinned");
    assert!(host.device.unpin(key), "the last unpin hands it back");
    assert!(!host.device.unpin(key));
    // Pinned and then released by a front end directly (a receive it delivered).
    assert_eq!(send(&mut host, &[0x74], b"k"), Ok(Done::Count(1)));
    let request = decode(IOCTL_AFUNIX_RECVMSG, input.as_bytes(), head + 8).unwrap();
    let mut prepared = Prepared::new(&mut host, FileId(2), request, 8).unwrap();
    bufs.insert_recv(Token(702), vec![0; 8]).unwrap();
    let Reply::Ready(Ok(Done::Message(peeked))) =
        prepared.execute(&mut host.device, Token(702), &mut bufs)
    else {
        panic!("the peek is ready")
    };
    let key = peeked.objects[0].key;
    assert!(!host.device.may_release(key), "pinned: its release waits");
    assert!(host.device.unpin(key));
    assert!(host.device.may_release(key), "unpinned: released at once");
    let _ = recv(&mut host, 4, 0);

    // A handle the front end cannot make: it and the ones after it are released.

    assert_eq!(
        send(&mut host, &[0x50, 0x60, 0x54], b"y"),
        Ok(Done::Count(1))
    );
    let (reply, handles, _, released) = recv(&mut host, 4, 0);
    assert_eq!(handles, [6080]);
    assert_eq!(released, [1096, 1084]);
    assert_ne!(reply.addr.msg_flags & MSG_CTRUNC, 0);

    // One of our files that is not a socket yet: EBADF (it would travel uncounted).
    host.released.clear();
    host.device.open(FileId(9)).unwrap();
    assert_eq!(send(&mut host, &[9], b"f"), Err(Errno::EBADF));
    assert_eq!(host.released, [1009]);
    // A handle the caller does not hold: EBADF, and what was taken is released.

    host.released.clear();
    assert_eq!(send(&mut host, &[0x58, 0xBAD], b"z"), Err(Errno::EBADF));
    assert_eq!(host.released, [1088]);
    // A send that fails in the engine gives its objects back to the host (settle).
    host.released.clear();
    host.request(
        1,
        afunix_proto::ioctl::IOCTL_AFUNIX_SHUTDOWN,
        encode::shutdown(1).as_bytes(),
        &mut [],
    )
    .unwrap();
    assert_eq!(send(&mut host, &[0x5C], b"z"), Err(Errno::EPIPE));
    assert_eq!(host.released, [1092]);
    assert_eq!(host.device.objects_in_flight(), 0);
}
