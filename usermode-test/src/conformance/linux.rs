//! The `linux` backend: real AF_UNIX sockets on this machine, non-blocking, errno read back.

use std::io::Error;

use super::backend::{Backend, EBADF, FromOut, Res};
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
