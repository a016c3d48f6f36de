//! The request path with a host whose file system reuses file identities at will, as ext4
//! (and so Wine), FAT and exFAT do after a delete.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use afunix_proto::decode::decode;
use afunix_proto::encode;
use afunix_proto::ioctl::{
    IOCTL_AFUNIX_ACCEPT, IOCTL_AFUNIX_BIND, IOCTL_AFUNIX_CONNECT, IOCTL_AFUNIX_GETPEERNAME,
    IOCTL_AFUNIX_LISTEN, IOCTL_AFUNIX_SOCKET,
};
use zerocopy::IntoBytes;

use super::*;
use crate::{Limits, OwnedBuffers};

/// A file on the fake volume: its identity and content (a secret, or nothing).
#[derive(Clone, Copy, Debug)]
struct FakeFile {
    identity: FileIdentity,
    secret: Option<u128>,
}

/// A host over a map of paths, which gives every new file the same identity (the worst
/// reuse a file system can do), and whose secrets count up.
struct FakeHost {
    device: Device,
    files: BTreeMap<String, FakeFile>,
    next_secret: u128,
    removed: Vec<String>,
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
            removed: Vec::new(),
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
        let request = decode(code, input, out.len()).map_err(|_| Errno::EINVAL)?;
        let prepared = Prepared::new(self, FileId(file), request, 0)?;
        let reply = prepared.execute(
            &mut self.device,
            Token(u64::from(code)),
            &mut OwnedBuffers::new(),
        );
        prepared.settle(self, reply.failed());
        match reply {
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

    fn credentials(&mut self) -> Credentials {
        Credentials {
            pid: 99,
            sid: Vec::new(),
        }
    }

    fn secret(&mut self) -> u128 {
        self.next_secret += 1;
        self.next_secret
    }

    fn create_socket_file(
        &mut self,
        path: NtPath<'_>,
        secret: u128,
    ) -> Result<(FileIdentity, String), FsError> {
        let path = Self::path(path);
        if self.files.contains_key(&path) {
            return Err(FsError::Exists);
        }
        self.files.insert(
            path.clone(),
            FakeFile {
                identity: REUSED,
                secret: Some(secret),
            },
        );
        Ok((REUSED, path))
    }

    fn remove_socket_file(&mut self, path: String) {
        self.files.remove(&path);
        self.removed.push(path);
    }

    fn open_socket_file(
        &mut self,
        path: NtPath<'_>,
    ) -> Result<(FileIdentity, Option<u128>), FsError> {
        self.files
            .get(&Self::path(path))
            .map(|f| (f.identity, f.secret))
            .ok_or(FsError::NotFound)
    }

    fn reference(&mut self, handle: u64) -> Result<(FileId, ()), Errno> {
        Ok((FileId(handle), ()))
    }

    fn with_device<R>(&mut self, f: impl FnOnce(&mut Device) -> R) -> Result<R, Errno> {
        Ok(f(&mut self.device))
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
    ];
    for (error, bind, connect) in cases {
        assert_eq!(error.for_bind(), bind, "{error:?}");
        assert_eq!(error.for_connect(), connect, "{error:?}");
    }
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
    let me = host.credentials();
    let sent = host.device.execute(
        FileId(2),
        Token(500),
        Op::Send {
            flags: afunix_proto::decode::MsgFlags(0),
            len: 2,
            to: false,
        },
        &me,
        &mut bufs,
    );
    assert_eq!(sent, Reply::Ready(Ok(Done::Count(2))));
    // RECVFROM as a front end runs it: the data after room for the address.
    let input = encode::data(0);
    let request = decode(IOCTL_AFUNIX_RECVFROM, input.as_bytes(), 200).unwrap();
    assert_eq!(data_offset(&request), RECVFROM_HEADER);
    let prepared = Prepared::new(&mut host, FileId(3), request, 200 - RECVFROM_HEADER).unwrap();
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
    let prepared = Prepared::new(&mut host, FileId(3), request, 64).unwrap();
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
