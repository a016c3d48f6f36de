//! Cancellation under the real driver: `usermode-test cancel` (1000 pending reads cancelled
//! with CancelIoEx) and `usermode-test hold` (a process that dies holding pending reads).
//! Both end by checking the driver's STATS: no socket and no pending IRP left.

#[cfg(windows)]
mod imp {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::ptr;
    use std::time::{Duration, Instant};

    use afunix::{Errno, Net};

    use crate::faults::{expect_empty, stats};
    use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
    use windows_sys::Wdk::Storage::FileSystem::NtReadFile;
    use windows_sys::Win32::Foundation::STATUS_PENDING;
    use windows_sys::Win32::Foundation::{ERROR_OPERATION_ABORTED, GetLastError, HANDLE};
    use windows_sys::Win32::System::IO::IO_STATUS_BLOCK;
    use windows_sys::Win32::System::IO::{CancelIoEx, GetOverlappedResult, OVERLAPPED};
    use windows_sys::Win32::System::Threading::CreateEventW;

    pub(crate) struct PendingRead {
        overlapped: Box<OVERLAPPED>,
        buffer: Box<[u8; 64]>,
        handle: HANDLE,
        /// Each read has its own event: with several reads outstanding on one handle, waiting
        /// on the handle itself would wake for any of them.
        _event: OwnedHandle,
    }

    impl PendingRead {
        /// Cancels this read (CancelIoEx on exactly it).
        pub(crate) fn cancel(&self) {
            // SAFETY:
            // 1. Cancels exactly this read, on its own handle.
            unsafe { CancelIoEx(self.handle, &*self.overlapped) };
        }

        /// Waits for this read to end: Ok(bytes read), or Err(the Win32 error).
        pub(crate) fn wait(&self) -> Result<u32, u32> {
            let mut n = 0u32;
            // SAFETY:
            // 1. Waits for this read, issued with this OVERLAPPED on this handle.
            let ok = unsafe { GetOverlappedResult(self.handle, &*self.overlapped, &mut n, 1) };
            if ok != 0 {
                return Ok(n);
            }
            // SAFETY:
            // 1. Reads the thread's last-error value.
            Err(unsafe { GetLastError() })
        }
    }

    /// An OVERLAPPED for one request, with a fresh manual-reset event, its status pending as
    /// ReadFile and WSARecv set it (GetOverlappedResult waits only while it says so).
    pub(crate) fn overlapped_with_event() -> Result<(OwnedHandle, Box<OVERLAPPED>), String> {
        // SAFETY:
        // 1. Null attributes and name are allowed: an anonymous manual-reset event.
        let event = unsafe { CreateEventW(ptr::null(), 1, 0, ptr::null()) };
        if event.is_null() {
            return Err("CreateEventW failed".into());
        }
        // SAFETY:
        // 1. A fresh, valid handle that nothing else owns.
        let event = unsafe { OwnedHandle::from_raw_handle(event) };
        // SAFETY:
        // 1. OVERLAPPED is plain data; all-zero is its documented initial state.
        let mut overlapped: OVERLAPPED = unsafe { std::mem::zeroed() };
        overlapped.hEvent = event.as_raw_handle() as HANDLE;
        overlapped.Internal = STATUS_PENDING as usize;
        Ok((event, Box::new(overlapped)))
    }

    pub(crate) fn start_read(handle: HANDLE) -> Result<PendingRead, String> {
        match try_start_read(handle)? {
            Ok(read) => Ok(read),
            Err(errno) => Err(format!("a read on an empty socket did not pend: {errno:?}")),
        }
    }

    /// A read on an empty socket: pending, or refused by the driver with this errno.
    pub(crate) fn try_start_read(handle: HANDLE) -> Result<Result<PendingRead, Errno>, String> {
        let (event, overlapped) = overlapped_with_event()?;
        let mut read = PendingRead {
            overlapped,
            buffer: Box::new([0; 64]),
            handle,
            _event: event,
        };
        // NtReadFile rather than ReadFile: its status is the driver's own, which carries the
        // errno (ReadFile's Win32 error would lose it). The OVERLAPPED's first two fields are
        // an IO_STATUS_BLOCK, which is what ReadFile passes too, so GetOverlappedResult and
        // CancelIoEx work on it as on a ReadFile.
        let io_status = ptr::from_mut(&mut *read.overlapped).cast::<IO_STATUS_BLOCK>();
        // SAFETY:
        // 1. The socket handle is open for overlapped I/O; the buffer and OVERLAPPED are boxed,
        //    so they stay put until the read completes (every caller waits for each one).
        let status = unsafe {
            NtReadFile(
                handle,
                read.overlapped.hEvent,
                None,
                ptr::null(),
                io_status,
                read.buffer.as_mut_ptr().cast(),
                64,
                ptr::null(),
                ptr::null(),
            )
        };
        if status == STATUS_PENDING {
            return Ok(Ok(read));
        }
        if status < 0 {
            return Ok(Err(afunix::sys::status_errno(status)));
        }
        Err(format!(
            "a read on an empty socket did not pend (status {status:#x})"
        ))
    }

    /// 1000 pending reads, each cancelled with CancelIoEx: each ends with
    /// ERROR_OPERATION_ABORTED, and the driver lets go of every one.
    ///
    /// With `faults` (the driver refusing allocations on purpose), a pair or a read refused
    /// with ENOBUFS or ENOMEM is counted and asked for again; the counts must still be exact.
    pub fn cancel(count: usize, faults: bool) -> Result<(), String> {
        let net = Net::system();
        let mut refusals = 0u64;
        let pairs: Vec<_> = (0..10)
            .map(|_| {
                if faults {
                    crate::faults::retry(&mut refusals, || net.pair())
                } else {
                    net.pair()
                }
            })
            .collect::<Result<_, _>>()
            .map_err(|e| format!("pair: {e}"))?;
        let mut reads = Vec::with_capacity(count);
        for i in 0..count {
            let (_, b) = &pairs[i % pairs.len()];
            let handle = afunix::sys::raw_handle(b) as HANDLE;
            let mut tries = 0;
            loop {
                match try_start_read(handle)? {
                    Ok(read) => {
                        reads.push(read);
                        break;
                    }
                    Err(Errno::ENOBUFS | Errno::ENOMEM) if faults && tries < 10_000 => {
                        refusals += 1;
                        tries += 1;
                    }
                    Err(errno) => {
                        return Err(format!("a read on an empty socket did not pend: {errno:?}"));
                    }
                }
            }
        }
        if faults {
            println!("cancel: {refusals} requests refused with ENOBUFS/ENOMEM and asked again");
        }
        let s = stats()?;
        println!(
            "cancel: {count} reads pending; STATS shows {} pending IRPs",
            s.pending_irps
        );
        if s.pending_irps != count as u64 {
            return Err(format!("expected {count} pending IRPs"));
        }
        let start = Instant::now();
        for read in &mut reads {
            // SAFETY:
            // 1. Cancels exactly this read, on its own handle.
            unsafe { CancelIoEx(read.handle, &*read.overlapped) };
        }
        for read in &mut reads {
            let mut n = 0u32;
            // SAFETY:
            // 1. Waits for this read (which must complete after the cancel) to finish.
            let ok = unsafe { GetOverlappedResult(read.handle, &*read.overlapped, &mut n, 1) };
            // SAFETY:
            // 1. Reads the thread's last-error value.
            let error = unsafe { GetLastError() };
            if ok != 0 || error != ERROR_OPERATION_ABORTED {
                return Err(format!(
                    "a cancelled read ended with ok={ok}, {n} bytes, error {error}, not ERROR_OPERATION_ABORTED"
                ));
            }
        }
        println!(
            "cancel: all {count} completed as cancelled in {:?}",
            start.elapsed()
        );
        drop(reads);
        drop(pairs);
        expect_empty(if faults {
            "cancel with faults"
        } else {
            "cancel"
        })
    }

    /// The child side of `hold`: sockets with reads pending on them, then wait to be killed.
    pub fn hold_child(count: usize) -> Result<(), String> {
        let net = Net::system();
        let pairs: Vec<_> = (0..count)
            .map(|_| net.pair())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("pair: {e}"))?;
        let reads: Vec<_> = pairs
            .iter()
            .map(|(_, b)| start_read(afunix::sys::raw_handle(b) as HANDLE))
            .collect::<Result<_, _>>()?;
        println!("ready {}", reads.len());
        std::thread::sleep(Duration::from_secs(600));
        drop(reads);
        Ok(())
    }

    /// A process holding pending reads is killed: the driver cancels them and closes its
    /// sockets.
    pub fn hold(count: usize) -> Result<(), String> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let mut child = Command::new(exe)
            .args(["hold-child", "--count", &count.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawn: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| format!("read the child: {e}"))?;
        if !line.starts_with("ready") {
            let _ = child.kill();
            return Err(format!("the child said {line:?}"));
        }
        let s = stats()?;
        println!(
            "hold: child holds {} sockets and {} pending IRPs; killing it",
            s.sockets, s.pending_irps
        );
        if s.pending_irps < count as u64 {
            let _ = child.kill();
            return Err(format!("expected {count} pending IRPs"));
        }
        child.kill().map_err(|e| format!("kill: {e}"))?;
        let _ = child.wait();
        expect_empty("hold")
    }
}

#[cfg(windows)]
pub use imp::{cancel, hold, hold_child};
#[cfg(windows)]
pub(crate) use imp::{overlapped_with_event, start_read};

#[cfg(not(windows))]
pub fn cancel(_count: usize, _faults: bool) -> Result<(), String> {
    Err("cancel drives the afunixrs driver's IRPs: run the Windows build".into())
}

#[cfg(not(windows))]
pub fn hold(_count: usize) -> Result<(), String> {
    Err("hold drives the afunixrs driver's IRPs: run the Windows build".into())
}

#[cfg(not(windows))]
pub fn hold_child(_count: usize) -> Result<(), String> {
    Err("hold drives the afunixrs driver's IRPs: run the Windows build".into())
}
