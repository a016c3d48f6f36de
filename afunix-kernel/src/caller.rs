//! Who is calling: the credentials recorded at connect, listen and socketpair and reported to
//! the peer.
//!
//! Every part but the process id comes from one token: the one the system would check the
//! caller's access with. That is the calling thread's impersonation token when the thread
//! impersonates, else its process's primary token. Under impersonation:
//!
//! - at SecurityImpersonation or SecurityDelegation, the credentials are the impersonated
//!   client's (user, integrity level, AppContainer, restrictions), flagged
//!   `PEERCRED_IMPERSONATING`, with the process id of the process that connected. A socket
//!   file's access check, made in the same thread, uses that same token.
//! - at SecurityIdentification or SecurityAnonymous, the request is refused with EACCES:
//!   such a token may be looked at, never acted as (the system refuses an open made with it,
//!   STATUS_BAD_IMPERSONATION_LEVEL), so a server holding one must not pass as its client.
//!
//! The thread and process are opened by the ids `PsGetCurrentThreadId` and
//! `PsGetCurrentProcessId` give in a dispatch routine, which are the caller's on Windows and
//! under Wine (where the driver runs in winedevice.exe, so `NtCurrentThread()` would be
//! winedevice's own thread). The caller's thread is inside this request, so its id cannot
//! name another thread meanwhile.

use alloc::vec::Vec;
use core::ptr;

use afunix_core::{Credentials, Errno};
use afunix_proto::security::{WellKnownSid, token_groups_hold_enabled};
use afunix_proto::wire::{PEERCRED_APP_CONTAINER, PEERCRED_IMPERSONATING, PEERCRED_RESTRICTED};
use zerocopy::IntoBytes;

use afunix_ntos::{
    ClientId, OBJ_KERNEL_HANDLE, PROCESS_QUERY_LIMITED_INFORMATION, PsGetCurrentProcessId,
    PsGetCurrentThreadId, SECURITY_IMPERSONATION, STATUS_NO_TOKEN,
    THREAD_QUERY_LIMITED_INFORMATION, TOKEN_GROUPS_CLASS, TOKEN_IMPERSONATION_LEVEL_CLASS,
    TOKEN_INTEGRITY_LEVEL_CLASS, TOKEN_IS_APP_CONTAINER_CLASS, TOKEN_QUERY,
    TOKEN_RESTRICTED_SIDS_CLASS, TOKEN_USER_CLASS, ZwOpenProcess, ZwOpenProcessTokenEx,
    ZwOpenThread, ZwOpenThreadTokenEx, ZwQueryInformationToken,
};
use windows_sys::Wdk::Foundation::OBJECT_ATTRIBUTES;
use windows_sys::Win32::Foundation::{HANDLE, NTSTATUS};

use crate::handles::KernelHandle;

/// `SECURITY_MAX_SID_SIZE`.
const MAX_SID: usize = 68;

/// Room for a SID_AND_ATTRIBUTES (pointer + u32: 16 bytes) and the SID after it: TOKEN_USER
/// and TOKEN_MANDATORY_LABEL.
#[repr(C, align(8))]
struct SidBuffer([u8; 16 + MAX_SID + 16]);

/// The caller's credentials, from the token its access is checked with (module comment).
/// Call in the caller's context (a dispatch routine). EACCES when the caller impersonates
/// below SecurityImpersonation; when the token cannot be read at all, the credentials carry
/// the pid alone, with no SID, integrity 0 (Untrusted) and `PEERCRED_RESTRICTED`: never more
/// trust than the system vouched for.
pub fn credentials() -> Result<Credentials, Errno> {
    let pid = pid();
    let (token, impersonating) = match effective_token(pid) {
        Ok(found) => found,
        Err(Refused) => return Err(Errno::EACCES),
        Err(Unreadable) => {
            return Ok(Credentials {
                pid,
                sid: Vec::new(),
                integrity: 0,
                flags: PEERCRED_RESTRICTED,
            });
        }
    };
    let mut flags = 0;
    if impersonating {
        flags |= PEERCRED_IMPERSONATING;
    }
    // A token that cannot say is treated as the more restricted answer.
    if query_u32(&token, TOKEN_IS_APP_CONTAINER_CLASS) != Some(0) {
        flags |= PEERCRED_APP_CONTAINER;
    }
    if restricting_sids(&token) != Some(0) {
        flags |= PEERCRED_RESTRICTED;
    }
    Ok(Credentials {
        pid,
        sid: user_sid(&token).unwrap_or_default(),
        integrity: integrity(&token).unwrap_or(0),
        flags,
    })
}

/// Whether the caller may read STATS: the token it acts with (as for [`credentials`]) is
/// LocalSystem's or holds BUILTIN\Administrators enabled and not deny-only
/// (`afunix_proto::security::may_read_stats`). Call in the caller's context. Anything that
/// cannot be read, and impersonation below SecurityImpersonation, is a no.
///
/// The groups are read here rather than asked of `SeTokenIsAdmin` or a privilege check:
/// under Wine 8 `SeTokenIsAdmin` is a stub (calling it aborts the driver host) and
/// `SeSinglePrivilegeCheck` answers yes to everyone; a privilege is not a group either.
pub(crate) fn may_read_stats() -> bool {
    let Ok((token, _)) = effective_token(pid()) else {
        return false;
    };
    let user = user_sid(&token).unwrap_or_default();
    afunix_proto::security::may_read_stats(&user, administrators_enabled(&token))
}

/// The most TOKEN_GROUPS we read: a token in a thousand groups fits.
const MAX_GROUPS_BYTES: u32 = 96 * 1024;

/// Whether the token's groups hold BUILTIN\Administrators enabled and not deny-only.
fn administrators_enabled(token: &KernelHandle) -> Option<bool> {
    let mut needed = 0u32;
    // SAFETY:
    // 1. `token` is open with TOKEN_QUERY; a zero length with a null buffer asks only for
    //    the size, written to `needed`.
    let status = unsafe {
        ZwQueryInformationToken(token.0, TOKEN_GROUPS_CLASS, ptr::null_mut(), 0, &mut needed)
    };
    if status >= 0 || needed == 0 || needed > MAX_GROUPS_BYTES {
        return None;
    }
    // u64s: TOKEN_GROUPS holds pointers, so its buffer is 8-aligned.
    let words = usize::try_from(needed.div_ceil(8)).ok()?;
    let mut buffer: Vec<u64> = Vec::new();
    buffer.try_reserve_exact(words).ok()?;
    buffer.resize(words, 0);
    let bytes = buffer.as_mut_bytes();
    let length = u32::try_from(bytes.len()).ok()?;
    let mut returned = 0u32;
    // SAFETY:
    // 1. `token` is open with TOKEN_QUERY; `bytes` is writable for `length` bytes, 8-aligned.
    let status = unsafe {
        ZwQueryInformationToken(
            token.0,
            TOKEN_GROUPS_CLASS,
            bytes.as_mut_ptr().cast(),
            length,
            &mut returned,
        )
    };
    if status < 0 {
        return None;
    }
    let base = bytes.as_ptr() as usize;
    token_groups_hold_enabled(bytes, base, WellKnownSid::BuiltinAdministrators)
}

/// The calling process's id. Call in the caller's context.
pub fn pid() -> u32 {
    // SAFETY:
    // 1. PsGetCurrentProcessId has no preconditions.
    let pid = unsafe { PsGetCurrentProcessId() };
    pid as usize as u32
}

/// Why no token was found.
enum NoToken {
    /// The caller impersonates at a level that may not act.
    Refused,
    /// The system would not give it.
    Unreadable,
}
use NoToken::{Refused, Unreadable};

fn kernel_attributes() -> OBJECT_ATTRIBUTES {
    OBJECT_ATTRIBUTES {
        Length: size_of::<OBJECT_ATTRIBUTES>() as u32,
        RootDirectory: ptr::null_mut(),
        ObjectName: ptr::null(),
        Attributes: OBJ_KERNEL_HANDLE,
        SecurityDescriptor: ptr::null(),
        SecurityQualityOfService: ptr::null(),
    }
}

/// The token the caller acts with, and whether it is an impersonation token.
fn effective_token(pid: u32) -> Result<(KernelHandle, bool), NoToken> {
    // SAFETY:
    // 1. PsGetCurrentThreadId has no preconditions.
    let tid = unsafe { PsGetCurrentThreadId() };
    let client = ClientId {
        process: pid as usize as HANDLE,
        thread: tid,
    };
    let attributes = kernel_attributes();
    let mut thread: HANDLE = ptr::null_mut();
    // SAFETY:
    // 1. `attributes` and `client` are valid for the call; `thread` is a valid out pointer;
    //    the handle is a kernel handle, closed when the KernelHandle below drops.
    let status = unsafe {
        ZwOpenThread(
            &mut thread,
            THREAD_QUERY_LIMITED_INFORMATION,
            &attributes,
            &client,
        )
    };
    if status < 0 {
        return Err(Unreadable);
    }
    let thread = KernelHandle(thread);
    let mut token: HANDLE = ptr::null_mut();
    // SAFETY:
    // 1. `thread` is open for THREAD_QUERY_LIMITED_INFORMATION; OpenAsSelf (1) opens the token
    //    with the driver's own context rather than the impersonated one; `token` is a valid
    //    out pointer to a kernel handle.
    let status =
        unsafe { ZwOpenThreadTokenEx(thread.0, TOKEN_QUERY, 1, OBJ_KERNEL_HANDLE, &mut token) };
    drop(thread);
    if status >= 0 {
        let token = KernelHandle(token);
        return match query_u32(&token, TOKEN_IMPERSONATION_LEVEL_CLASS) {
            Some(level) if level >= SECURITY_IMPERSONATION => Ok((token, true)),
            Some(_) => Err(Refused),
            None => Err(Unreadable),
        };
    }
    if status != STATUS_NO_TOKEN {
        return Err(Unreadable);
    }
    process_token(client.process).map(|t| (t, false))
}

fn process_token(pid: HANDLE) -> Result<KernelHandle, NoToken> {
    let client = ClientId {
        process: pid,
        thread: ptr::null_mut(),
    };
    let attributes = kernel_attributes();
    let mut process: HANDLE = ptr::null_mut();
    // SAFETY:
    // 1. `attributes` and `client` are valid for the call; `process` is a valid out pointer
    //    to a kernel handle, closed when the KernelHandle below drops.
    let status = unsafe {
        ZwOpenProcess(
            &mut process,
            PROCESS_QUERY_LIMITED_INFORMATION,
            &attributes,
            &client,
        )
    };
    if status < 0 {
        return Err(Unreadable);
    }
    let process = KernelHandle(process);
    let mut token: HANDLE = ptr::null_mut();
    // SAFETY:
    // 1. `process` is open for PROCESS_QUERY_LIMITED_INFORMATION; `token` is a valid out
    //    pointer to a kernel handle.
    let status =
        unsafe { ZwOpenProcessTokenEx(process.0, TOKEN_QUERY, OBJ_KERNEL_HANDLE, &mut token) };
    if status < 0 {
        return Err(Unreadable);
    }
    Ok(KernelHandle(token))
}

/// Queries `class` of `token` into `buffer`.
fn query(token: &KernelHandle, class: i32, buffer: &mut [u8]) -> NTSTATUS {
    let mut returned = 0u32;
    // SAFETY:
    // 1. `token` is open with TOKEN_QUERY; `buffer` is writable for its length.
    unsafe {
        ZwQueryInformationToken(
            token.0,
            class,
            buffer.as_mut_ptr().cast(),
            u32::try_from(buffer.len()).unwrap_or(0),
            &mut returned,
        )
    }
}

/// A token class whose answer is one u32.
fn query_u32(token: &KernelHandle, class: i32) -> Option<u32> {
    let mut value = [0u8; 4];
    if query(token, class, &mut value) < 0 {
        return None;
    }
    Some(u32::from_ne_bytes(value))
}

/// How many restricting SIDs the token has (TOKEN_GROUPS starts with its count).
fn restricting_sids(token: &KernelHandle) -> Option<u32> {
    let mut buffer = SidBuffer([0; 16 + MAX_SID + 16]);
    let status = query(token, TOKEN_RESTRICTED_SIDS_CLASS, &mut buffer.0);
    // A restricted token's list may not fit; its count is then still "not zero".
    const STATUS_BUFFER_TOO_SMALL: NTSTATUS = 0xC000_0023_u32 as i32;
    if status == STATUS_BUFFER_TOO_SMALL {
        return Some(u32::MAX);
    }
    if status < 0 {
        return None;
    }
    Some(u32::from_ne_bytes(buffer.0.get(..4)?.try_into().ok()?))
}

/// The SID a SID_AND_ATTRIBUTES at the start of `buffer` points to, within `buffer`.
fn sid_in(buffer: &SidBuffer) -> Option<&[u8]> {
    let sid_ptr = usize::from_ne_bytes(buffer.0.get(..8)?.try_into().ok()?);
    let offset = sid_ptr.checked_sub(buffer.0.as_ptr() as usize)?;
    let sid = buffer.0.get(offset..)?;
    // A SID: revision, sub-authority count, 6 bytes authority, 4 bytes per sub-authority.
    let count = usize::from(*sid.get(1)?);
    let len = 8usize.checked_add(count.checked_mul(4)?)?;
    sid.get(..len)
}

fn user_sid(token: &KernelHandle) -> Option<Vec<u8>> {
    let mut buffer = SidBuffer([0; 16 + MAX_SID + 16]);
    if query(token, TOKEN_USER_CLASS, &mut buffer.0) < 0 {
        return None;
    }
    let bytes = sid_in(&buffer)?;
    let mut out = Vec::new();
    out.try_reserve_exact(bytes.len()).ok()?;
    out.extend_from_slice(bytes);
    Some(out)
}

/// The integrity level: the last sub-authority of the token's label SID (S-1-16-RID).
fn integrity(token: &KernelHandle) -> Option<u32> {
    let mut buffer = SidBuffer([0; 16 + MAX_SID + 16]);
    if query(token, TOKEN_INTEGRITY_LEVEL_CLASS, &mut buffer.0) < 0 {
        return None;
    }
    let sid = sid_in(&buffer)?;
    if *sid.get(1)? == 0 {
        return None;
    }
    let last = sid.len().checked_sub(4)?;
    Some(u32::from_ne_bytes(sid.get(last..)?.try_into().ok()?))
}
