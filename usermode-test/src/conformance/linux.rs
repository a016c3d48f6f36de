//! The `linux` backend: real AF_UNIX sockets on this machine, non-blocking, errno read back.

use std::io::Error;

use afunix_proto::cmsg;
use zerocopy::IntoBytes;

use super::backend::{Backend, EBADF, FromOut, Res, RightsOut};
use super::scenario::{SLOTS, SockOpt, SockTy};

/// Real sockets, one fd per slot.
#[derive(Debug)]
pub struct LinuxBackend {
    fds: [Option<libc::c_int>; SLOTS],
}

impl Default for LinuxBackend {
    fn default() -> Self {
        Self::new()
    }
}

fn last_errno() -> i32 {
    Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn check(r: libc::c_int) -> Res<libc::c_int> {
    if r < 0 { Err(last_errno()) } else { Ok(r) }
}

fn check_size(r: libc::ssize_t) -> Res<usize> {
    usize::try_from(r).map_err(|_| last_errno())
}

/// A `sockaddr_un` holding `raw` (at most 128 bytes are passed, the kernel's own limit).
fn storage(raw: &[u8]) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let n = raw.len().min(std::mem::size_of::<libc::sockaddr_storage>());
    let dst = std::ptr::addr_of_mut!(ss).cast::<u8>();
    // SAFETY: (1) `dst` points to `ss`, which is `size_of::<sockaddr_storage>()` bytes long;
    // (2) `n` is at most that size and at most `raw.len()`; (3) the regions do not overlap.
    unsafe { std::ptr::copy_nonoverlapping(raw.as_ptr(), dst, n) };
    (ss, libc::socklen_t::try_from(raw.len()).unwrap_or(0))
}

/// Closes descriptors this backend opened.
fn close_all(fds: &[libc::c_int]) {
    for f in fds {
        // SAFETY: (1) our own descriptor, closed once.
        unsafe { libc::close(*f) };
    }
}

/// A memfd holding marker `m` (4 bytes, little-endian): an object a receiver can name.
fn marker_file(m: u32) -> Res<libc::c_int> {
    // SAFETY: (1) a NUL-terminated name and flags; nothing is kept.
    let f = check(unsafe { libc::memfd_create(c"afx-object".as_ptr(), libc::MFD_CLOEXEC) })?;
    let bytes = m.to_le_bytes();
    // SAFETY: (1) `bytes` is 4 readable bytes for the call.
    if unsafe { libc::write(f, bytes.as_ptr().cast(), bytes.len()) } != 4 {
        let e = last_errno();
        close_all(&[f]);
        return Err(e);
    }
    Ok(f)
}

/// The marker a received descriptor's file holds (`u32::MAX` if it holds none).
fn read_marker(f: libc::c_int) -> u32 {
    let mut bytes = [0u8; 4];
    // SAFETY: (1) `bytes` is 4 writable bytes for the call; a bad descriptor fails cleanly.
    let got = unsafe { libc::pread(f, bytes.as_mut_ptr().cast(), 4, 0) };
    if got == 4 {
        u32::from_le_bytes(bytes)
    } else {
        u32::MAX
    }
}

impl LinuxBackend {
    /// No sockets yet.
    #[must_use]
    pub fn new() -> Self {
        Self { fds: [None; SLOTS] }
    }

    fn fd(&self, s: usize) -> Res<libc::c_int> {
        self.fds.get(s).copied().flatten().ok_or(EBADF)
    }

    fn set(&mut self, s: usize, fd: libc::c_int) {
        if let Some(slot) = self.fds.get_mut(s) {
            *slot = Some(fd);
        }
    }
}

impl Drop for LinuxBackend {
    fn drop(&mut self) {
        for s in 0..SLOTS {
            let _ = self.close(s);
        }
    }
}

const SOCK_FLAGS: libc::c_int = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;

impl Backend for LinuxBackend {
    fn is_open(&self, s: usize) -> bool {
        self.fd(s).is_ok()
    }

    fn socket(&mut self, s: usize, ty: SockTy) -> Res<()> {
        // SAFETY: socket(2) takes no pointers.
        let fd = check(unsafe { libc::socket(libc::AF_UNIX, ty.raw() | SOCK_FLAGS, 0) })?;
        self.set(s, fd);
        Ok(())
    }

    fn socketpair(&mut self, a: usize, b: usize, ty: SockTy) -> Res<()> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` is a writable array of two c_ints, as socketpair(2) requires.
        check(unsafe {
            libc::socketpair(libc::AF_UNIX, ty.raw() | SOCK_FLAGS, 0, fds.as_mut_ptr())
        })?;
        self.set(a, fds[0]);
        self.set(b, fds[1]);
        Ok(())
    }

    fn bind(&mut self, s: usize, raw: &[u8]) -> Res<()> {
        let fd = self.fd(s)?;
        let (ss, len) = storage(raw);
        // SAFETY: `ss` is a valid sockaddr_storage of at least `len` bytes (or `len` is larger
        // than it, which the kernel rejects before reading: the Oversize case is 111 < 128).
        check(unsafe { libc::bind(fd, std::ptr::addr_of!(ss).cast(), len) }).map(|_| ())
    }

    fn listen(&mut self, s: usize, backlog: i32) -> Res<()> {
        let fd = self.fd(s)?;
        // SAFETY: listen(2) takes no pointers.
        check(unsafe { libc::listen(fd, backlog) }).map(|_| ())
    }

    fn connect(&mut self, s: usize, raw: &[u8]) -> Res<()> {
        let fd = self.fd(s)?;
        let (ss, len) = storage(raw);
        // SAFETY: as for bind.
        check(unsafe { libc::connect(fd, std::ptr::addr_of!(ss).cast(), len) }).map(|_| ())
    }

    fn accept(&mut self, l: usize, into: usize) -> Res<()> {
        let fd = self.fd(l)?;
        // SAFETY: null address pointers are allowed by accept4(2).
        let new = check(unsafe {
            libc::accept4(
                fd,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            )
        })?;
        self.set(into, new);
        Ok(())
    }

    fn send(&mut self, s: usize, data: &[u8]) -> Res<usize> {
        let fd = self.fd(s)?;
        // SAFETY: `data` is readable for `data.len()` bytes.
        check_size(unsafe {
            libc::send(
                fd,
                data.as_ptr().cast(),
                data.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        })
    }

    fn recv(&mut self, s: usize, len: usize, peek: bool, waitall: bool) -> Res<Vec<u8>> {
        let fd = self.fd(s)?;
        let mut buf = vec![0u8; len];
        let mut flags = libc::MSG_DONTWAIT;
        if peek {
            flags |= libc::MSG_PEEK;
        }
        if waitall {
            flags |= libc::MSG_WAITALL;
        }
        // SAFETY: `buf` is writable for `len` bytes.
        let n = check_size(unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), len, flags) })?;
        buf.truncate(n);
        Ok(buf)
    }

    fn send_to(&mut self, s: usize, data: &[u8], raw: &[u8]) -> Res<usize> {
        let fd = self.fd(s)?;
        let (ss, len) = storage(raw);
        // SAFETY: `data` is readable for its length; `ss` as for bind.
        check_size(unsafe {
            libc::sendto(
                fd,
                data.as_ptr().cast(),
                data.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                std::ptr::addr_of!(ss).cast(),
                len,
            )
        })
    }

    fn recv_from(&mut self, s: usize, len: usize, peek: bool, trunc: bool) -> Res<FromOut> {
        let fd = self.fd(s)?;
        let mut buf = vec![0u8; len];
        let mut flags = libc::MSG_DONTWAIT;
        if peek {
            flags |= libc::MSG_PEEK;
        }
        if trunc {
            flags |= libc::MSG_TRUNC;
        }
        // SAFETY: all-zero is a valid sockaddr_un.
        let mut sun: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        let cap = std::mem::size_of::<libc::sockaddr_un>();
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: len,
        };
        // SAFETY: all-zero is a valid msghdr (no name, no iovecs, no control).
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = std::ptr::addr_of_mut!(sun).cast();
        msg.msg_namelen = libc::socklen_t::try_from(cap).unwrap_or(0);
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        // SAFETY: `msg` points to `sun` (writable for `msg_namelen` bytes) and to one iovec
        // over `buf` (writable for `len` bytes); all three outlive the call.
        let ret = check_size(unsafe { libc::recvmsg(fd, &mut msg, flags) })?;
        // With MSG_TRUNC a message socket returns the whole length: the copy is the smaller.
        buf.truncate(ret.min(len));
        let reported = usize::try_from(msg.msg_namelen).unwrap_or(0);
        let copied = reported.min(cap);
        // SAFETY: `sun` is `cap` bytes long and `copied <= cap`.
        let from =
            unsafe { std::slice::from_raw_parts(std::ptr::addr_of!(sun).cast::<u8>(), copied) };
        Ok(FromOut {
            bytes: buf,
            ret,
            truncated: msg.msg_flags & libc::MSG_TRUNC != 0,
            from_len: reported,
            from: from.to_vec(),
        })
    }

    fn send_rights(&mut self, s: usize, data: &[u8], markers: &[u32]) -> Res<usize> {
        let fd = self.fd(s)?;
        let mut files = Vec::new();
        for m in markers {
            match marker_file(*m) {
                Ok(f) => files.push(f),
                Err(e) => {
                    close_all(&files);
                    return Err(e);
                }
            }
        }
        // One SCM_RIGHTS message, laid out as `cmsghdr` is on x86-64 (and as Winsock's is:
        // `afunix_proto::cmsg`), in 8-byte words so that it is aligned as the kernel wants.
        let fd_bytes: Vec<u8> = files.iter().flat_map(|f| f.to_ne_bytes()).collect();
        let mut control = vec![0u64; cmsg::space(fd_bytes.len()) / 8];
        {
            let bytes = control.as_mut_bytes();
            bytes[..8].copy_from_slice(&(cmsg::len(fd_bytes.len()) as u64).to_ne_bytes());
            bytes[8..12].copy_from_slice(&libc::SOL_SOCKET.to_ne_bytes());
            bytes[12..16].copy_from_slice(&libc::SCM_RIGHTS.to_ne_bytes());
            bytes[16..16 + fd_bytes.len()].copy_from_slice(&fd_bytes);
        }
        let mut iov = libc::iovec {
            iov_base: data.as_ptr().cast_mut().cast(),
            iov_len: data.len(),
        };
        // SAFETY: all-zero is a valid msghdr.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = control.len() * 8;
        // SAFETY: (1) `msg` points to one iovec over `data` (read only) and to `control`,
        // which holds one well-formed control message; (2) all of them outlive the call.
        let r =
            check_size(unsafe { libc::sendmsg(fd, &msg, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) });
        // The message holds its own references: ours go either way.
        close_all(&files);
        r
    }

    fn recv_rights(&mut self, s: usize, len: usize, room: usize, peek: bool) -> Res<RightsOut> {
        let fd = self.fd(s)?;
        let mut buf = vec![0u8; len];
        // With SO_PASSCRED, SCM_CREDENTIALS comes first: room for it too, so that `room`
        // counts descriptors only (`scm_detach_fds` fits (controllen - 16) / 4 of them).
        let passcred = self.getsockopt(s, SockOpt::PassCred).unwrap_or(0) != 0;
        let creds = if passcred {
            cmsg::space(std::mem::size_of::<libc::ucred>())
        } else {
            0
        };
        let controllen = creds + cmsg::len(room * std::mem::size_of::<libc::c_int>());
        let mut control = vec![0u64; controllen.div_ceil(8)];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: len,
        };
        // SAFETY: all-zero is a valid msghdr.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = controllen;
        let mut flags = libc::MSG_DONTWAIT;
        if peek {
            flags |= libc::MSG_PEEK;
        }
        // SAFETY: (1) `msg` points to one iovec over `buf` and to `control`, writable for
        // `len` and `controllen` bytes; (2) both outlive the call.
        let ret = check_size(unsafe { libc::recvmsg(fd, &mut msg, flags) })?;
        buf.truncate(ret.min(len));
        let written = msg.msg_controllen.min(controllen);
        let mut markers = Vec::new();
        for m in cmsg::parse(&control.as_bytes()[..written]).flatten() {
            if m.level != libc::SOL_SOCKET || m.ty != libc::SCM_RIGHTS {
                continue;
            }
            for chunk in m.data.chunks_exact(4) {
                let f = libc::c_int::from_ne_bytes(chunk.try_into().unwrap_or([0xFF; 4]));
                markers.push(read_marker(f));
                close_all(&[f]);
            }
        }
        Ok(RightsOut {
            bytes: buf,
            truncated: msg.msg_flags & libc::MSG_TRUNC != 0,
            ctrunc: msg.msg_flags & libc::MSG_CTRUNC != 0,
            markers,
        })
    }

    fn shutdown(&mut self, s: usize, how: i32) -> Res<()> {
        let fd = self.fd(s)?;
        // SAFETY: shutdown(2) takes no pointers.
        check(unsafe { libc::shutdown(fd, how) }).map(|_| ())
    }

    fn close(&mut self, s: usize) -> Res<()> {
        let fd = self.fd(s)?;
        if let Some(slot) = self.fds.get_mut(s) {
            *slot = None;
        }
        // SAFETY: `fd` is an fd this backend opened and no longer refers to.
        check(unsafe { libc::close(fd) }).map(|_| ())
    }

    fn name(&mut self, s: usize, peer: bool) -> Res<(usize, Vec<u8>)> {
        let fd = self.fd(s)?;
        // SAFETY: all-zero is a valid sockaddr_un.
        let mut sun: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        let cap = std::mem::size_of::<libc::sockaddr_un>();
        let mut len = libc::socklen_t::try_from(cap).unwrap_or(0);
        let p = std::ptr::addr_of_mut!(sun).cast::<libc::sockaddr>();
        let r = if peer {
            // SAFETY: `p` points to a sockaddr_un of `len` bytes; `len` is writable.
            unsafe { libc::getpeername(fd, p, &mut len) }
        } else {
            // SAFETY: as above.
            unsafe { libc::getsockname(fd, p, &mut len) }
        };
        check(r)?;
        let reported = usize::try_from(len).unwrap_or(0);
        let copied = reported.min(cap);
        // SAFETY: `sun` is `cap` bytes long and `copied <= cap`.
        let bytes =
            unsafe { std::slice::from_raw_parts(std::ptr::addr_of!(sun).cast::<u8>(), copied) };
        Ok((reported, bytes.to_vec()))
    }

    fn fionread(&mut self, s: usize) -> Res<i64> {
        let fd = self.fd(s)?;
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one c_int to the pointer.
        check(unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) })?;
        Ok(i64::from(n))
    }

    fn getsockopt(&mut self, s: usize, opt: SockOpt) -> Res<i64> {
        let fd = self.fd(s)?;
        let name = match opt {
            SockOpt::SndBuf => libc::SO_SNDBUF,
            SockOpt::RcvBuf => libc::SO_RCVBUF,
            SockOpt::Error => libc::SO_ERROR,
            SockOpt::Type => libc::SO_TYPE,
            SockOpt::Domain => libc::SO_DOMAIN,
            SockOpt::Protocol => libc::SO_PROTOCOL,
            SockOpt::PassCred => libc::SO_PASSCRED,
            SockOpt::KeepAlive => libc::SO_KEEPALIVE,
            SockOpt::ReuseAddr => libc::SO_REUSEADDR,
        };
        let mut v: libc::c_int = 0;
        let mut len = libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>()).unwrap_or(4);
        // SAFETY: `v` and `len` are writable and `len` is the size of `v`.
        check(unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                name,
                std::ptr::addr_of_mut!(v).cast(),
                &mut len,
            )
        })?;
        Ok(i64::from(v))
    }

    fn setsockopt(&mut self, s: usize, opt: SockOpt, val: i32) -> Res<()> {
        let fd = self.fd(s)?;
        let name = match opt {
            SockOpt::SndBuf => libc::SO_SNDBUF,
            SockOpt::RcvBuf => libc::SO_RCVBUF,
            SockOpt::Error => libc::SO_ERROR,
            SockOpt::Type => libc::SO_TYPE,
            SockOpt::Domain => libc::SO_DOMAIN,
            SockOpt::Protocol => libc::SO_PROTOCOL,
            SockOpt::PassCred => libc::SO_PASSCRED,
            SockOpt::KeepAlive => libc::SO_KEEPALIVE,
            SockOpt::ReuseAddr => libc::SO_REUSEADDR,
        };
        let len = libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>()).unwrap_or(4);
        // SAFETY: `val` is readable for `len` bytes.
        check(unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                name,
                std::ptr::addr_of!(val).cast(),
                len,
            )
        })
        .map(|_| ())
    }

    fn linger(&mut self, s: usize) -> Res<(i32, i32)> {
        let fd = self.fd(s)?;
        let mut v = libc::linger {
            l_onoff: 0,
            l_linger: 0,
        };
        let mut len = libc::socklen_t::try_from(std::mem::size_of::<libc::linger>()).unwrap_or(8);
        // SAFETY: `v` and `len` are writable and `len` is the size of `v`.
        check(unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                std::ptr::addr_of_mut!(v).cast(),
                &mut len,
            )
        })?;
        Ok((v.l_onoff, v.l_linger))
    }

    fn set_linger(&mut self, s: usize, onoff: i32, seconds: i32) -> Res<()> {
        let fd = self.fd(s)?;
        let v = libc::linger {
            l_onoff: onoff,
            l_linger: seconds,
        };
        let len = libc::socklen_t::try_from(std::mem::size_of::<libc::linger>()).unwrap_or(8);
        // SAFETY: `v` is readable for `len` bytes.
        check(unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                std::ptr::addr_of!(v).cast(),
                len,
            )
        })
        .map(|_| ())
    }

    fn poll(&mut self, s: usize) -> Res<u32> {
        let fd = self.fd(s)?;
        let events = libc::POLLIN
            | libc::POLLOUT
            | libc::POLLRDHUP
            | libc::POLLRDNORM
            | libc::POLLWRNORM
            | libc::POLLWRBAND;
        let mut p = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        // SAFETY: `p` is one valid pollfd.
        check(unsafe { libc::poll(&mut p, 1, 0) })?;
        Ok(u32::from(p.revents as u16))
    }
}
