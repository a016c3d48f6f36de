//! Who is calling: the process id and user SID recorded as peer credentials.

use alloc::vec::Vec;
use core::ptr;

use afunix_core::Credentials;

use afunix_ntos::{
    CURRENT_PROCESS, OBJ_KERNEL_HANDLE, PsGetCurrentProcessId, TOKEN_QUERY, TOKEN_USER_CLASS,
    ZwOpenProcessTokenEx, ZwQueryInformationToken,
};
use windows_sys::Win32::Foundation::HANDLE;

use super::handles::KernelHandle;

/// `SECURITY_MAX_SID_SIZE`.
const MAX_SID: usize = 68;

/// Room for TOKEN_USER (a SID_AND_ATTRIBUTES: pointer + u32, 16 bytes) and the SID after it.
#[repr(C, align(8))]
struct TokenUserBuffer([u8; 16 + MAX_SID + 16]);

/// The calling process's id and its token's user SID. Call in the caller's context (a
/// dispatch routine). If the SID cannot be read, the credentials carry the pid alone rather
/// than fail the request.
pub fn credentials() -> Credentials {
    Credentials {
        pid: pid(),
        sid: user_sid().unwrap_or_default(),
    }
}

/// The calling process's id. Call in the caller's context.
pub fn pid() -> u32 {
    // SAFETY:
    // 1. PsGetCurrentProcessId has no preconditions.
    let pid = unsafe { PsGetCurrentProcessId() };
    pid as usize as u32
}

fn user_sid() -> Option<Vec<u8>> {
    let mut token: HANDLE = ptr::null_mut();
    // SAFETY:
    // 1. CURRENT_PROCESS is the pseudo-handle of the caller's process (we run in its context);
    //    `token` is a valid out pointer; the handle is a kernel handle, closed when `token` drops.
    let status = unsafe {
        ZwOpenProcessTokenEx(CURRENT_PROCESS, TOKEN_QUERY, OBJ_KERNEL_HANDLE, &mut token)
    };
    if status < 0 {
        return None;
    }
    let token = KernelHandle(token);
    let mut buffer = TokenUserBuffer([0; 16 + MAX_SID + 16]);
    let mut returned = 0u32;
    // SAFETY:
    // 1. `token` is open with TOKEN_QUERY; the buffer is writable and 8-aligned for its length.
    let status = unsafe {
        ZwQueryInformationToken(
            token.0,
            TOKEN_USER_CLASS,
            buffer.0.as_mut_ptr().cast(),
            buffer.0.len() as u32,
            &mut returned,
        )
    };
    drop(token);
    if status < 0 {
        return None;
    }
    // TOKEN_USER.User.Sid points into the buffer; find the SID by that pointer's offset and
    // check it against the buffer before reading.
    let sid_ptr = usize::from_ne_bytes(buffer.0.get(..8)?.try_into().ok()?);
    let offset = sid_ptr.checked_sub(buffer.0.as_ptr() as usize)?;
    let sid = buffer.0.get(offset..)?;
    // A SID: revision, sub-authority count, 6 bytes authority, 4 bytes per sub-authority.
    let count = usize::from(*sid.get(1)?);
    let len = 8usize.checked_add(count.checked_mul(4)?)?;
    let bytes = sid.get(..len)?;
    let mut out = Vec::new();
    out.try_reserve_exact(len).ok()?;
    out.extend_from_slice(bytes);
    Some(out)
}
