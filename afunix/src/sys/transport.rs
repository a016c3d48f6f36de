//! The driver transport: socket handles on `\\.\AfUnixRs`, requests as overlapped
//! DeviceIoControl calls that the library waits on, so timeouts and cancellation work.
//!
//! Errors cross the boundary without loss: the driver completes a failed request with a
//! customer NTSTATUS carrying the errno (`afunix_proto::ErrnoCodes::to_ntstatus`). Win32's error translation
//! would turn it into ERROR_MR_MID_NOT_FOUND, so the library reads the NTSTATUS itself from
//! `OVERLAPPED.Internal`, where the I/O manager leaves it.

use std::io;
use std::os::windows::io::{AsHandle, AsRawHandle, BorrowedHandle, FromRawHandle, OwnedHandle};
use std::path::Path;
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use afunix_core::Errno;
use windows_sys::Wdk::Storage::FileSystem::{NtReadFile, NtWriteFile};
use windows_sys::Wdk::System::IO::NtDeviceIoControlFile;
use windows_sys::Win32::Foundation::{
    ERROR_IO_INCOMPLETE, GENERIC_READ, GENERIC_WRITE, GetLastError, HANDLE, STATUS_PENDING,
    WAIT_TIMEOUT,
};
use windows_sys::Win32::Storage::FileSystem::{FILE_FLAG_OVERLAPPED, GetFullPathNameW};
use windows_sys::Win32::System::IO::{
    CancelIoEx, GetOverlappedResult, GetOverlappedResultEx, IO_STATUS_BLOCK, OVERLAPPED,
};
use windows_sys::Win32::System::Threading::CreateEventW;

use super::wide;
use crate::channel::{Data, Endpoint, InFlight, Transport};

/// `STATUS_CANCELLED`.
pub(crate) const STATUS_CANCELLED: i32 = afunix_proto::status::STATUS_CANCELLED as i32;

#[derive(Debug)]
pub(crate) struct DriverTransport;

impl Transport for DriverTransport {
    fn open(&self) -> io::Result<Arc<dyn Endpoint>> {
        Ok(Arc::new(DriverHandle::new(open_handle()?)))
    }

    fn absolute_path(&self, path: &Path) -> io::Result<Vec<u16>> {
        nt_path(path)
    }

    fn stats(&self) -> Option<afunix_device::DeviceStats> {
        None
    }
}

/// Opens a new overlapped handle on `\\.\AfUnixRs`: a socket once SOCKET is sent on it.
pub fn open_handle() -> io::Result<OwnedHandle> {
    super::open_device(GENERIC_READ | GENERIC_WRITE, FILE_FLAG_OVERLAPPED)
}

/// The absolute NT path BIND and CONNECT carry for `path`: `GetFullPathNameW`, then the NT
/// form the driver opens, `\??\C:\dir\name`, `\??\UNC\server\share\name` for a UNC path, or
/// `\??\pipe\name` for a device path (`\\.\pipe\name`, which the driver refuses).
/// Relative paths are resolved against this process's current directory.
pub fn nt_path(path: &Path) -> io::Result<Vec<u16>> {
    let text = wide(path.to_str().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "socket paths must be valid Unicode",
        )
    })?);
    let mut buffer = vec![0u16; 512];
    loop {
        let size = u32::try_from(buffer.len()).map_err(|_| io::ErrorKind::InvalidInput)?;
        // SAFETY:
        // 1. `text` is NUL-terminated; `buffer` holds `size` units; the file-part pointer
        //    may be null.
        let len =
            unsafe { GetFullPathNameW(text.as_ptr(), size, buffer.as_mut_ptr(), ptr::null_mut()) }
                as usize;
        if len == 0 {
            return Err(io::Error::last_os_error());
        }
        if len < buffer.len() {
            buffer.truncate(len);
            break;
        }
        buffer.resize(len + 1, 0);
    }
    let full = String::from_utf16_lossy(&buffer);
    // `\\?\` and `\\.\` (a device: `\\.\pipe\name`) both mean `\??\`, as Win32 reads them.
    let nt = if let Some(rest) = full
        .strip_prefix(r"\\?\")
        .or_else(|| full.strip_prefix(r"\\.\"))
    {
        format!(r"\??\{rest}")
    } else if let Some(rest) = full.strip_prefix(r"\\") {
        format!(r"\??\UNC\{rest}")
    } else {
        format!(r"\??\{full}")
    };
    Ok(nt.encode_utf16().collect())
}

#[derive(Debug)]
pub(crate) struct DriverHandle {
    handle: OwnedHandle,
    /// Associated with the completion port ([`super::iocp`]), once a request was submitted.
    associated: AtomicBool,
}

impl DriverHandle {
    pub(crate) fn new(handle: OwnedHandle) -> DriverHandle {
        DriverHandle {
            handle,
            associated: AtomicBool::new(false),
        }
    }
}

/// An event handle closed on drop.
struct Event(OwnedHandle);

impl Event {
    fn new() -> Result<Event, Errno> {
        // SAFETY:
        // 1. Null attributes and name are allowed: an anonymous manual-reset event.
        let event = unsafe { CreateEventW(ptr::null(), 1, 0, ptr::null()) };
        if event.is_null() {
            return Err(Errno::ENOMEM);
        }
        // SAFETY:
        // 1. A fresh, valid handle that nothing else owns.
        Ok(Event(unsafe { OwnedHandle::from_raw_handle(event) }))
    }
}

/// Issues one request with `start` (given the event and the status block to use), waits
/// for it until `deadline`, cancels it then, and returns its byte count or its errno.
///
/// The Nt* calls are used rather than DeviceIoControl, ReadFile and WriteFile: they
/// return the request's own NTSTATUS, where the Win32 calls would translate a failure
/// into a Win32 error and lose the errno it carries. The OVERLAPPED's first two fields
/// are the IO_STATUS_BLOCK, so CancelIoEx and GetOverlappedResultEx still find the
/// request.
fn issue(
    handle: HANDLE,
    deadline: Option<Instant>,
    start: impl FnOnce(HANDLE, *mut IO_STATUS_BLOCK) -> i32,
) -> Result<usize, Errno> {
    let event = Event::new()?;
    // SAFETY:
    // 1. OVERLAPPED is plain data; all-zero is its documented initial state.
    let mut overlapped: OVERLAPPED = unsafe { std::mem::zeroed() };
    overlapped.hEvent = event.0.as_raw_handle() as HANDLE;
    // What ReadFile and DeviceIoControl do before issuing: GetOverlappedResult waits only
    // while the status block says STATUS_PENDING.
    overlapped.Internal = STATUS_PENDING as usize;
    let returned = start(
        overlapped.hEvent,
        ptr::from_mut(&mut overlapped).cast::<IO_STATUS_BLOCK>(),
    );
    if returned < 0 {
        // Failed at once: the status block need not have been written; the return value
        // is the status.
        return Err(errno_of(returned));
    }
    let mut timed_out = false;
    if returned == STATUS_PENDING {
        let wait_ms = match deadline {
            None => u32::MAX, // INFINITE
            // Rounded up: waking before the deadline would report a timeout too early.
            Some(d) => u32::try_from(
                d.saturating_duration_since(Instant::now())
                    .as_micros()
                    .div_ceil(1000),
            )
            .unwrap_or(u32::MAX - 1),
        };
        let mut transferred = 0u32;
        // SAFETY:
        // 1. `overlapped` is the one the request was issued with and lives on this frame.
        let done =
            unsafe { GetOverlappedResultEx(handle, &overlapped, &mut transferred, wait_ms, 0) };
        // SAFETY:
        // 1. Reads the calling thread's last-error value; no memory is touched.
        let error = unsafe { GetLastError() };
        // A wait of 0 ms (the deadline already passed) reports ERROR_IO_INCOMPLETE rather
        // than WAIT_TIMEOUT: both mean the time is up with the request still in flight.
        if done == 0 && (error == WAIT_TIMEOUT || error == ERROR_IO_INCOMPLETE) {
            timed_out = true;
            // SAFETY:
            // 1. Cancels only this request (this OVERLAPPED) on our own handle.
            unsafe { CancelIoEx(handle, &overlapped) };
        }
        // Never return with the request in flight: its buffers and this OVERLAPPED are on
        // the caller's stack. After a cancel, or any wait that did not see it finish,
        // wait for it to end.
        // SAFETY:
        // 1. The kernel may still write the status block: read it without tearing.
        let still_pending =
            unsafe { ptr::read_volatile(&overlapped.Internal) } == STATUS_PENDING as usize;
        if timed_out || still_pending {
            // SAFETY:
            // 1. Waits (bWait = TRUE) for this request to finish, cancelled or not.
            unsafe { GetOverlappedResult(handle, &overlapped, &mut transferred, 1) };
        }
    }
    // The request has completed: its NTSTATUS and byte count are in the status block.
    let status = overlapped.Internal as i32;
    let information = overlapped.InternalHigh;
    if status >= 0 {
        return Ok(information);
    }
    if status == STATUS_CANCELLED && timed_out {
        // Cancelled by our timeout: what it achieved counts; nothing achieved is EAGAIN,
        // as SO_RCVTIMEO and SO_SNDTIMEO report it.
        return if information > 0 {
            Ok(information)
        } else {
            Err(Errno::EAGAIN)
        };
    }
    Err(errno_of(status))
}

/// The errno a failed request carries. The driver answers an IOCTL it does not define with
/// STATUS_INVALID_DEVICE_REQUEST, as Windows drivers do: ENOTTY, as Linux's ioctl says. Any
/// other status the driver did not make is EINVAL.
pub fn errno_of(status: i32) -> Errno {
    // Statuses the I/O manager (or Wine) gives before the driver sees the request.
    const STATUS_ACCESS_VIOLATION: i32 = 0xC000_0005_u32 as i32;
    const STATUS_INVALID_HANDLE: i32 = 0xC000_0008_u32 as i32;
    const STATUS_INVALID_DEVICE_REQUEST: i32 = 0xC000_0010_u32 as i32;
    const STATUS_INSUFFICIENT_RESOURCES: i32 = 0xC000_009A_u32 as i32;
    const STATUS_INVALID_USER_BUFFER: i32 = 0xC000_00E8_u32 as i32;
    match status {
        STATUS_INVALID_DEVICE_REQUEST => Errno::ENOTTY,
        STATUS_INVALID_HANDLE => Errno::EBADF,
        STATUS_ACCESS_VIOLATION | STATUS_INVALID_USER_BUFFER => Errno::EFAULT,
        STATUS_INSUFFICIENT_RESOURCES => Errno::ENOMEM,
        _ => afunix_proto::errno_from_ntstatus(status as u32).unwrap_or(Errno::EINVAL),
    }
}

impl Endpoint for DriverHandle {
    fn handle_value(&self) -> u64 {
        self.handle.as_raw_handle() as u64
    }

    fn duplicate(&self) -> io::Result<Arc<dyn Endpoint>> {
        Ok(Arc::new(DriverHandle::new(self.handle.try_clone()?)))
    }

    fn submit(&self, code: u32, input: &[u8], output: Vec<u8>) -> Result<Arc<dyn InFlight>, Errno> {
        let handle = self.handle.as_raw_handle() as HANDLE;
        super::iocp::associate(handle, &self.associated)?;
        let block: Arc<dyn InFlight> = super::iocp::submit(handle, code, input, output)?;
        Ok(block)
    }

    fn borrow_handle(&self) -> Option<BorrowedHandle<'_>> {
        Some(self.handle.as_handle())
    }

    fn into_owned_handle(self: Arc<Self>) -> Option<OwnedHandle> {
        match Arc::try_unwrap(self) {
            Ok(this) => Some(this.handle),
            // Shared (a request in progress on another thread holds it): a handle of its
            // own, on the same socket.
            Err(shared) => shared.handle.try_clone().ok(),
        }
    }

    fn ioctl(
        &self,
        code: u32,
        input: &[u8],
        data: Data<'_>,
        deadline: Option<Instant>,
    ) -> Result<usize, Errno> {
        if let Data::In(bytes) = data {
            // Wine probes every DeviceIoControl output buffer for write access, so data in
            // read-only memory (a string literal) is refused with STATUS_INVALID_USER_BUFFER
            // before the driver sees it, though METHOD_IN_DIRECT only reads it. Windows
            // probes it for reading. Retry from a writable copy when that happens.
            return match self.ioctl_raw(code, input, Data::In(bytes), deadline) {
                Err(Errno::EFAULT) => {
                    let mut copy = bytes.to_vec();
                    self.ioctl_raw(code, input, Data::Out(&mut copy), deadline)
                }
                other => other,
            };
        }
        self.ioctl_raw(code, input, data, deadline)
    }

    fn read(&self, buf: &mut [u8], deadline: Option<Instant>) -> Result<usize, Errno> {
        read(self.handle.as_handle(), buf, deadline)
    }

    fn write(&self, data: &[u8], deadline: Option<Instant>) -> Result<usize, Errno> {
        write(self.handle.as_handle(), data, deadline)
    }
}

impl DriverHandle {
    fn ioctl_raw(
        &self,
        code: u32,
        input: &[u8],
        data: Data<'_>,
        deadline: Option<Instant>,
    ) -> Result<usize, Errno> {
        ioctl(self.handle.as_handle(), code, input, data, deadline)
    }
}

/// Issues IOCTL `code` on `handle` (a handle from [`open_handle`]) and waits for it until
/// `deadline` (None: for ever); at the deadline it is cancelled, and what it achieved is
/// returned, or `EAGAIN` if nothing. Returns the bytes written to, or taken from, `data`.
pub fn ioctl(
    handle: BorrowedHandle<'_>,
    code: u32,
    input: &[u8],
    data: Data<'_>,
    deadline: Option<Instant>,
) -> Result<usize, Errno> {
    let in_len = u32::try_from(input.len()).map_err(|_| Errno::EINVAL)?;
    let (data_ptr, data_len) = match data {
        Data::None => (ptr::null_mut(), 0),
        // METHOD_IN_DIRECT only reads this buffer.
        Data::In(bytes) => (bytes.as_ptr().cast_mut(), bytes.len()),
        Data::Out(bytes) => (bytes.as_mut_ptr(), bytes.len()),
    };
    let data_len = u32::try_from(data_len).map_err(|_| Errno::EINVAL)?;
    let handle = handle.as_raw_handle() as HANDLE;
    issue(handle, deadline, |event, io_status| {
        // SAFETY:
        // 1. The handle was opened for overlapped I/O; `input` and the data buffer are
        //    valid for their lengths and outlive the request: `issue` does not return
        //    before the request completes (it waits, and cancels and waits on timeout).
        // 2. `io_status` is the OVERLAPPED in `issue`'s frame, alive as long; the event
        //    is `issue`'s.
        unsafe {
            NtDeviceIoControlFile(
                handle,
                event,
                None,
                ptr::null(),
                io_status,
                code,
                if input.is_empty() {
                    ptr::null()
                } else {
                    input.as_ptr().cast()
                },
                in_len,
                data_ptr.cast(),
                data_len,
            )
        }
    })
}

/// RECV without flags (`NtReadFile`) on `handle`, waited for as [`ioctl`] waits.
pub fn read(
    handle: BorrowedHandle<'_>,
    buf: &mut [u8],
    deadline: Option<Instant>,
) -> Result<usize, Errno> {
    let len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
    let handle = handle.as_raw_handle() as HANDLE;
    issue(handle, deadline, |event, io_status| {
        // SAFETY:
        // 1. As in `ioctl`: the buffer outlives the request, which `issue` waits for.
        unsafe {
            NtReadFile(
                handle,
                event,
                None,
                ptr::null(),
                io_status,
                buf.as_mut_ptr().cast(),
                len,
                ptr::null(),
                ptr::null(),
            )
        }
    })
}

/// SEND without flags (`NtWriteFile`) on `handle`, waited for as [`ioctl`] waits.
pub fn write(
    handle: BorrowedHandle<'_>,
    data: &[u8],
    deadline: Option<Instant>,
) -> Result<usize, Errno> {
    let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
    let handle = handle.as_raw_handle() as HANDLE;
    issue(handle, deadline, |event, io_status| {
        // SAFETY:
        // 1. As in `ioctl`: the data outlives the request, which `issue` waits for.
        unsafe {
            NtWriteFile(
                handle,
                event,
                None,
                ptr::null(),
                io_status,
                data.as_ptr().cast(),
                len,
                ptr::null(),
                ptr::null(),
            )
        }
    })
}
