//! Each user's share of the driver's caps, under Wine: `usermode-test shares`.
//!
//! Wine runs every process as one user (its token's user SID is always
//! S-1-5-21-0-0-0-1000, and it can make no other: ntdll has no NtCreateToken, `LogonUserW`
//! returns a dummy handle, `CreateRestrictedToken` and impersonation keep the SID; a second
//! Unix user gets a wineserver, and so a driver, of its own). So what two users do is tested
//! on the host (`afunix-device/src/quota_tests.rs`); here one user reaches its share of
//! sockets and of pending requests, gets the errno the README documents while STATS shows
//! the rest of the driver's caps unused, and once it lets go, works again.

#[cfg(windows)]
mod imp {
    use std::io::{Read, Write};
    use std::os::windows::io::BorrowedHandle;
    use std::time::{Duration, Instant};

    use afunix::{Errno, Net};
    use windows_sys::Win32::Foundation::{ERROR_OPERATION_ABORTED, HANDLE};

    use crate::cancel::start_read;
    use crate::faults::{expect_empty, sockets_until_refused, stats};

    /// Bytes `a` writes reach `b`.
    fn exchange(net: &Net) -> Result<(), String> {
        let (mut a, mut b) = net.pair().map_err(|e| format!("pair: {e}"))?;
        a.write_all(b"after").map_err(|e| format!("write: {e}"))?;
        let mut buf = [0u8; 5];
        b.read_exact(&mut buf).map_err(|e| format!("read: {e}"))?;
        if &buf != b"after" {
            return Err(format!("read {buf:?}"));
        }
        Ok(())
    }

    pub fn run() -> Result<(), String> {
        let limits = afunix_device::driver_limits();
        let socket_share = limits.user_share.of(limits.max_sockets);
        let pending_share = limits.user_share.of(limits.max_pending);
        expect_empty("shares: before")?;
        let net = Net::system();

        // Sockets: exactly the share, then EMFILE.
        let start = Instant::now();
        let (sockets, error) = sockets_until_refused(&net, socket_share)?;
        let s = stats()?;
        println!(
            "shares: {} sockets made in {:?}, then {error} ({:?}); STATS: {} of {} sockets",
            sockets.len(),
            start.elapsed(),
            afunix::errno_of(&error),
            s.sockets,
            s.max_sockets
        );
        if sockets.len() != socket_share || afunix::errno_of(&error) != Some(Errno::EMFILE) {
            return Err(format!("expected {socket_share} sockets, then EMFILE"));
        }
        if s.sockets != socket_share as u64 {
            return Err("STATS does not show the user's sockets".into());
        }
        drop(sockets);
        expect_empty("shares: sockets closed")?;
        exchange(&net)?;

        // Pending requests: exactly the share wait, the next is refused with ENOBUFS.
        let (a, b) = net.pair().map_err(|e| format!("pair: {e}"))?;
        let handle = afunix::sys::raw_handle(&b) as HANDLE;
        let mut reads = Vec::with_capacity(pending_share);
        for _ in 0..pending_share {
            reads.push(start_read(handle)?);
        }
        let mut buf = [0u8; 16];
        // SAFETY:
        // 1. `b` owns this handle and outlives the borrow, which ends with this read.
        let borrowed = unsafe { BorrowedHandle::borrow_raw(afunix::sys::raw_handle(&b)) };
        let refused = afunix::sys::read(
            borrowed,
            &mut buf,
            Some(Instant::now() + Duration::from_secs(5)),
        );
        let s = stats()?;
        println!(
            "shares: {} reads pending, the next one: {refused:?}; STATS: {} pending IRPs",
            reads.len(),
            s.pending_irps
        );
        if refused != Err(Errno::ENOBUFS) {
            return Err("expected ENOBUFS past the share of pending requests".into());
        }
        if s.pending_irps != pending_share as u64 {
            return Err(format!("expected {pending_share} pending IRPs"));
        }
        // One completes: its share is free for the next request.
        (&a).write_all(b"x").map_err(|e| format!("write: {e}"))?;
        if reads.remove(0).wait() != Ok(1) {
            return Err("the first pending read did not get the byte".into());
        }
        reads.push(start_read(handle)?);
        for read in &reads {
            read.cancel();
        }
        for read in &reads {
            if read.wait() != Err(ERROR_OPERATION_ABORTED) {
                return Err("a cancelled read did not end as cancelled".into());
            }
        }
        drop(reads);
        drop((a, b));
        expect_empty("shares: reads cancelled")?;
        exchange(&net)?;
        println!("shares: after letting go, the user makes sockets and moves bytes again");
        Ok(())
    }
}

#[cfg(windows)]
pub use imp::run;

#[cfg(not(windows))]
pub fn run() -> Result<(), String> {
    Err("shares drives the afunixrs driver: run the Windows build".into())
}
