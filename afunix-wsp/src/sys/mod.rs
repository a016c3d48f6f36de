//! The Windows side: `WSPStartup`, the socket table and the SPI entry points.

mod overlapped;
mod spi;
mod table;
mod watcher;

use std::os::windows::io::{BorrowedHandle, RawHandle};
use std::sync::Mutex;

use windows_sys::Win32::Networking::WinSock::{
    SOCKET, WSAPROTOCOL_INFOW, WSPDATA, WSPPROC_TABLE, WSPUPCALLTABLE,
};

use crate::winsock::{WSAEFAULT, WSAVERNOTSUPPORTED};

/// Winsock 2.2, the only version there is.
const VERSION: u16 = 0x0202;

/// What ws2_32 gave `WSPStartup`: its upcalls and our catalog entry.
#[derive(Clone, Copy)]
struct Provider {
    upcalls: WSPUPCALLTABLE,
    info: WSAPROTOCOL_INFOW,
    /// `WSPStartup` calls not yet matched by `WSPCleanup`.
    startups: u32,
}

static PROVIDER: Mutex<Option<Provider>> = Mutex::new(None);

fn provider() -> Option<Provider> {
    *PROVIDER.lock().unwrap_or_else(|p| p.into_inner())
}

/// The catalog entry of a socket of type `ty` made from catalog entry `entry`, as
/// `SO_PROTOCOL_INFOW` and `WSPDuplicateSocket` report it: the protocol's registered entry
/// (`afunix::sys::catalog`, what `afunixctl install` registers) with the id ws2_32 gave it.
fn protocol_info(ty: afunix_core::SockType, entry: u32) -> Option<WSAPROTOCOL_INFOW> {
    provider()?;
    let mut info = afunix::sys::catalog::protocol_info_for(ty as i32)?;
    info.dwCatalogEntryId = entry;
    Some(info)
}

/// The catalog entry `WSPStartup` was given: the id for a socket whose `WSPSocket` came
/// without protocol info.
fn startup_entry() -> Option<u32> {
    provider().map(|p| p.info.dwCatalogEntryId)
}

/// The handle of socket `s` for a request on it. A SOCKET of ours is the driver handle
/// itself (an IFS handle).
fn borrowed(s: &SOCKET) -> BorrowedHandle<'_> {
    // SAFETY:
    // 1. `s` is a socket handle ws2_32 passed us, or one this provider just opened: open for
    //    the duration of the call, as Winsock requires of a program. A program that closes
    //    a socket while another thread uses it gets an invalid-handle error from the
    //    request, never another object's I/O: the driver checks every handle it is given.
    unsafe { BorrowedHandle::borrow_raw(*s as RawHandle) }
}

/// Writes a WSA error code where the SPI caller asked for it.
fn set_errno(lperrno: *const i32, code: i32) {
    if !lperrno.is_null() {
        // SAFETY:
        // 1. ws2_32 passes a valid, writable int for the error (the SPI contract); null was
        //    ruled out. Some windows-sys signatures type it `*const`: it is written all the
        //    same, as the C prototypes say.
        unsafe { lperrno.cast_mut().write(code) };
    }
}

/// `WPUModifyIFSHandle`: ws2_32 registers the handle as a socket of catalog entry `entry`
/// and returns the SOCKET value programs will see (for an IFS provider, the handle itself).
fn register_with_ws2(handle: SOCKET, entry: u32) -> Result<SOCKET, i32> {
    let p = provider().ok_or(crate::winsock::WSAEINVAL)?;
    let modify = p.upcalls.lpWPUModifyIFSHandle.ok_or(WSAEFAULT)?;
    let mut errno = 0;
    // SAFETY:
    // 1. The upcall is ws2_32's (or the test harness's) function, valid while we are
    //    started; the handle is ours and `errno` a valid out pointer.
    let socket = unsafe { modify(entry, handle, &mut errno) };
    if socket == windows_sys::Win32::Networking::WinSock::INVALID_SOCKET {
        return Err(if errno == 0 { WSAEFAULT } else { errno });
    }
    Ok(socket)
}

/// The provider's entry point: ws2_32 calls it once per `WSAStartup` that reaches us.
///
/// # Safety
///
/// Called by ws2_32 (or a test harness standing in for it) with the pointers the SPI
/// defines: `lpwspdata` and `lpproctable` writable, `lpprotocolinfo` readable.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn WSPStartup(
    version: u16,
    lpwspdata: *const WSPDATA,
    lpprotocolinfo: *const WSAPROTOCOL_INFOW,
    upcalls: WSPUPCALLTABLE,
    lpproctable: *mut WSPPROC_TABLE,
) -> i32 {
    let [major, minor] = version.to_le_bytes();
    if (major, minor) < (2, 2) {
        return WSAVERNOTSUPPORTED;
    }
    if lpwspdata.is_null() || lpprotocolinfo.is_null() || lpproctable.is_null() {
        return WSAEFAULT;
    }
    // SAFETY:
    // 1. Non-null, and ws2_32 passes a readable WSAPROTOCOL_INFOW.
    let info = unsafe { lpprotocolinfo.read() };
    let mut data = WSPDATA {
        wVersion: VERSION,
        wHighVersion: VERSION,
        szDescription: [0; 256],
    };
    for (slot, unit) in data
        .szDescription
        .iter_mut()
        .zip("afunix-rs AF_UNIX provider".encode_utf16())
    {
        *slot = unit;
    }
    // SAFETY:
    // 1. Non-null, and ws2_32 passes a writable WSPDATA (windows-sys types it `*const`).
    unsafe { lpwspdata.cast_mut().write(data) };
    // SAFETY:
    // 1. Non-null and writable: ws2_32's procedure table for us.
    unsafe { lpproctable.write(spi::table()) };
    let mut guard = PROVIDER.lock().unwrap_or_else(|p| p.into_inner());
    let startups = guard.map_or(0, |p| p.startups).saturating_add(1);
    *guard = Some(Provider {
        upcalls,
        info,
        startups,
    });
    0
}

/// `WSPCleanup`: the last one stops the event-select watcher, so nothing of ours runs once
/// ws2_32 may unload the DLL.
fn cleanup() -> Result<(), i32> {
    let last = {
        let mut guard = PROVIDER.lock().unwrap_or_else(|p| p.into_inner());
        let p = guard
            .as_mut()
            .ok_or(windows_sys::Win32::Networking::WinSock::WSANOTINITIALISED)?;
        p.startups = p.startups.saturating_sub(1);
        p.startups == 0
    };
    if last {
        watcher::stop();
        table::close_all();
    }
    Ok(())
}
