//! The Service Control Manager's view of the driver service.

use std::io;
use std::ptr;

use windows_sys::Win32::Foundation::{ERROR_INSUFFICIENT_BUFFER, ERROR_SERVICE_DOES_NOT_EXIST};
use windows_sys::Win32::System::Services::{
    CloseServiceHandle, OpenSCManagerW, OpenServiceW, QUERY_SERVICE_CONFIGW, QueryServiceConfigW,
    QueryServiceStatusEx, SC_HANDLE, SC_MANAGER_CONNECT, SC_STATUS_PROCESS_INFO,
    SERVICE_QUERY_CONFIG, SERVICE_QUERY_STATUS, SERVICE_STATUS_PROCESS,
};

use super::wide;
use crate::status::ServiceStatus;

/// What querying the service found.
#[derive(Debug)]
pub enum Query {
    Found(ServiceStatus),
    /// The Service Control Manager knows no such service.
    Missing,
}

pub(super) struct ScHandle(pub(super) SC_HANDLE);

impl Drop for ScHandle {
    fn drop(&mut self) {
        // SAFETY:
        // 1. The handle came from OpenSCManagerW or OpenServiceW and is closed once.
        unsafe { CloseServiceHandle(self.0) };
    }
}

/// Queries `name`'s status and configuration.
pub fn query(name: &str) -> io::Result<Query> {
    // SAFETY:
    // 1. Null machine and database names mean the local, active database.
    let manager = unsafe { OpenSCManagerW(ptr::null(), ptr::null(), SC_MANAGER_CONNECT) };
    if manager.is_null() {
        return Err(io::Error::last_os_error());
    }
    let manager = ScHandle(manager);
    let wide_name = wide(name);
    // SAFETY:
    // 1. `manager` is open; `wide_name` is NUL-terminated and outlives the call.
    let service = unsafe {
        OpenServiceW(
            manager.0,
            wide_name.as_ptr(),
            SERVICE_QUERY_STATUS | SERVICE_QUERY_CONFIG,
        )
    };
    if service.is_null() {
        let error = io::Error::last_os_error();
        if error.raw_os_error() == Some(ERROR_SERVICE_DOES_NOT_EXIST as i32) {
            return Ok(Query::Missing);
        }
        return Err(error);
    }
    let service = ScHandle(service);
    let status = status(&service)?;

    // Should the configuration be unreadable, the status alone still answers.
    let (binary_path, start_type) = config(&service).unwrap_or_default();

    Ok(Query::Found(ServiceStatus {
        name: name.to_owned(),
        service_type: status.dwServiceType,
        state: status.dwCurrentState,
        controls_accepted: status.dwControlsAccepted,
        win32_exit_code: status.dwWin32ExitCode,
        service_exit_code: status.dwServiceSpecificExitCode,
        checkpoint: status.dwCheckPoint,
        wait_hint: status.dwWaitHint,
        binary_path,
        start_type,
    }))
}

/// `QueryServiceStatusEx` of a service opened with SERVICE_QUERY_STATUS.
pub(super) fn status(service: &ScHandle) -> io::Result<SERVICE_STATUS_PROCESS> {
    // SAFETY:
    // 1. SERVICE_STATUS_PROCESS is plain old data; all-zero is a valid value.
    let mut status: SERVICE_STATUS_PROCESS = unsafe { std::mem::zeroed() };
    let mut needed = 0u32;
    // SAFETY:
    // 1. `service` is open with SERVICE_QUERY_STATUS; the buffer is a SERVICE_STATUS_PROCESS
    //    of the size we pass.
    let ok = unsafe {
        QueryServiceStatusEx(
            service.0,
            SC_STATUS_PROCESS_INFO,
            (&mut status as *mut SERVICE_STATUS_PROCESS).cast(),
            std::mem::size_of::<SERVICE_STATUS_PROCESS>() as u32,
            &mut needed,
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(status)
}

pub(super) fn config(service: &ScHandle) -> io::Result<(Option<String>, Option<u32>)> {
    let mut needed = 0u32;
    // SAFETY:
    // 1. A null buffer of size 0 asks only for the size needed.
    let ok = unsafe { QueryServiceConfigW(service.0, ptr::null_mut(), 0, &mut needed) };
    let error = io::Error::last_os_error();
    if ok != 0 || error.raw_os_error() != Some(ERROR_INSUFFICIENT_BUFFER as i32) {
        return Err(error);
    }
    // A u64 buffer keeps QUERY_SERVICE_CONFIGW's pointers aligned.
    let mut buffer = vec![0u64; (needed as usize).div_ceil(8)];
    let size = u32::try_from(buffer.len() * 8).map_err(|_| io::ErrorKind::InvalidData)?;
    // SAFETY:
    // 1. `buffer` holds at least `needed` bytes, 8-aligned, and outlives the call.
    let ok =
        unsafe { QueryServiceConfigW(service.0, buffer.as_mut_ptr().cast(), size, &mut needed) };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY:
    // 1. On success the buffer starts with a QUERY_SERVICE_CONFIGW, suitably aligned.
    let config = unsafe { &*(buffer.as_ptr() as *const QUERY_SERVICE_CONFIGW) };
    let path = if config.lpBinaryPathName.is_null() {
        None
    } else {
        // SAFETY:
        // 1. lpBinaryPathName points at a NUL-terminated string inside `buffer`.
        let len = unsafe { wcslen(config.lpBinaryPathName) };
        // SAFETY:
        // 1. `len` units are readable there (see above).
        let units = unsafe { std::slice::from_raw_parts(config.lpBinaryPathName, len) };
        Some(String::from_utf16_lossy(units))
    };
    Ok((path, Some(config.dwStartType)))
}

/// Length of a NUL-terminated UTF-16 string.
///
/// # Safety
/// `s` must point at a NUL-terminated UTF-16 string.
unsafe fn wcslen(s: *const u16) -> usize {
    let mut len = 0;
    loop {
        // SAFETY:
        // 1. Every unit up to and including the terminator is inside the string (the caller's
        //    promise), and we stop at the terminator.
        let unit = unsafe { s.add(len) };
        // SAFETY:
        // 1. `unit` is inside the string (see above) and u16-aligned.
        if unsafe { unit.read() } == 0 {
            return len;
        }
        len += 1;
    }
}
