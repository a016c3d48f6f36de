//! The Windows side: talking to the driver, to the Service Control Manager and to the Winsock
//! catalog.

pub mod catalog;
pub mod device;
mod iocp;
pub mod scm;
pub mod service;
pub mod setup;
mod transport;

use std::io;
use std::os::windows::io::{AsRawHandle, OwnedHandle};

pub(crate) use transport::{DriverHandle, DriverTransport};

/// Raw access to the driver for the Winsock provider, which keeps its sockets as plain
/// handles: open a handle, issue a request and wait for it, resolve a socket path.
pub use crate::channel::Data;
pub use transport::{errno_of as status_errno, ioctl, nt_path, open_handle, read, write};

/// The raw handle of a socket on the driver (a `UnixStream`, `UnixDatagram` or
/// `UnixSeqpacketConn`), for tests that issue I/O on it directly.
pub fn raw_handle<S: HasHandle>(socket: &S) -> std::os::windows::io::RawHandle {
    socket.handle_value() as std::os::windows::io::RawHandle
}

/// The socket types [`raw_handle`] takes.
pub trait HasHandle: sealed::Sealed {
    #[doc(hidden)]
    fn handle_value(&self) -> u64;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::UnixStream {}
    impl Sealed for crate::UnixDatagram {}
    impl Sealed for crate::UnixSeqpacketConn {}
}

impl HasHandle for crate::UnixStream {
    fn handle_value(&self) -> u64 {
        self.raw_handle_value()
    }
}

impl HasHandle for crate::UnixDatagram {
    fn handle_value(&self) -> u64 {
        self.raw_handle_value()
    }
}

impl HasHandle for crate::UnixSeqpacketConn {
    fn handle_value(&self) -> u64 {
        self.raw_handle_value()
    }
}

/// A NUL-terminated UTF-16 copy of `s`, for the `W` functions.
pub(crate) fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

/// A file's identity for the in-process transport's bindings: volume serial and file index,
/// what the driver's FileInternalInformation gives.
pub(crate) fn file_identity(file: &std::fs::File) -> io::Result<afunix_device::FileIdentity> {
    use windows_sys::Win32::Storage::FileSystem::{
        BY_HANDLE_FILE_INFORMATION, GetFileInformationByHandle,
    };
    // SAFETY:
    // 1. BY_HANDLE_FILE_INFORMATION is plain data; all-zero is valid.
    let mut info: BY_HANDLE_FILE_INFORMATION = unsafe { std::mem::zeroed() };
    // SAFETY:
    // 1. The handle is an open file; `info` is a valid out pointer.
    let ok = unsafe { GetFileInformationByHandle(file.as_raw_handle() as _, &mut info) };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    let index = (u128::from(info.nFileIndexHigh) << 32) | u128::from(info.nFileIndexLow);
    Ok(afunix_device::FileIdentity {
        volume: u64::from(info.dwVolumeSerialNumber),
        file_id: index,
    })
}

/// The SID of the user this process runs as, in binary form.
pub(crate) fn token_user_sid() -> io::Result<Vec<u8>> {
    use std::os::windows::io::{FromRawHandle, OwnedHandle};
    use windows_sys::Win32::Security::{
        GetLengthSid, GetTokenInformation, TOKEN_QUERY, TOKEN_USER, TokenUser,
    };
    use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

    let mut token = std::ptr::null_mut();
    // SAFETY:
    // 1. GetCurrentProcess has no preconditions; it returns a pseudo-handle that needs no
    //    closing.
    let process = unsafe { GetCurrentProcess() };
    // SAFETY:
    // 1. `process` is the current process's pseudo-handle; `token` is a valid out pointer.
    if unsafe { OpenProcessToken(process, TOKEN_QUERY, &mut token) } == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY:
    // 1. `token` is the fresh handle just opened, owned by nobody else.
    let token = unsafe { OwnedHandle::from_raw_handle(token) };
    // TOKEN_USER plus the SID it points into: 256 bytes is ample (a SID is at most 68).
    let mut buffer = [0u64; 32];
    let mut needed = 0u32;
    // SAFETY:
    // 1. `buffer` is 256 writable, 8-aligned bytes, as the size passed says.
    let ok = unsafe {
        GetTokenInformation(
            token.as_raw_handle() as _,
            TokenUser,
            buffer.as_mut_ptr().cast(),
            256,
            &mut needed,
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY:
    // 1. On success the buffer starts with a TOKEN_USER, suitably aligned.
    let user = unsafe { &*(buffer.as_ptr() as *const TOKEN_USER) };
    // SAFETY:
    // 1. `user.User.Sid` points at a valid SID inside `buffer`.
    let len = unsafe { GetLengthSid(user.User.Sid) } as usize;
    // SAFETY:
    // 1. The SID is `len` readable bytes inside `buffer`, which outlives the slice.
    let bytes = unsafe { std::slice::from_raw_parts(user.User.Sid as *const u8, len) };
    Ok(bytes.to_vec())
}

/// `CreateFileW` on `\\.\AfUnixRs` with this access and these flags. A failure is a
/// [`crate::DriverUnavailable`]: the driver is not running, or its device did not open.
pub fn open_device(access: u32, flags: u32) -> io::Result<OwnedHandle> {
    use std::os::windows::io::FromRawHandle;
    use windows_sys::Win32::Foundation::INVALID_HANDLE_VALUE;
    use windows_sys::Win32::Storage::FileSystem::{
        CreateFileW, FILE_SHARE_READ, FILE_SHARE_WRITE, OPEN_EXISTING,
    };

    let path = wide(afunix_proto::names::USER_DEVICE_PATH);
    // SAFETY:
    // 1. `path` is NUL-terminated and outlives the call; null security and template are
    //    allowed.
    let handle = unsafe {
        CreateFileW(
            path.as_ptr(),
            access,
            FILE_SHARE_READ | FILE_SHARE_WRITE,
            std::ptr::null(),
            OPEN_EXISTING,
            flags,
            std::ptr::null_mut(),
        )
    };
    if handle == INVALID_HANDLE_VALUE {
        // Never the bare Win32 error: "file not found" here would read as a missing socket
        // file to whoever called bind or connect.
        let code = io::Error::last_os_error().raw_os_error().unwrap_or(0);
        return Err(crate::DriverUnavailable::from_open_error(code));
    }
    // SAFETY:
    // 1. `handle` is a fresh, valid handle that nothing else owns.
    Ok(unsafe { OwnedHandle::from_raw_handle(handle) })
}
