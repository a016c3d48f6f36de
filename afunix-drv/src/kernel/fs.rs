//! Socket files: BIND creates one, CONNECT opens one, both in the caller's context with the
//! access check done for the caller (OBJ_FORCE_ACCESS_CHECK), and both key the binding by the
//! file's identity: volume serial number and file ID.

use core::ffi::c_void;
use core::mem::size_of;
use core::ptr;
use core::sync::atomic::{AtomicU32, Ordering};

use afunix_core::{Errno, PathKey};
use afunix_ntos::{
    OBJ_CASE_INSENSITIVE, OBJ_FORCE_ACCESS_CHECK, OBJ_KERNEL_HANDLE, RtlRandomEx, ZwCreateFile,
    ZwFsControlFile, ZwQueryInformationFile, ZwQueryVolumeInformationFile, ZwSetInformationFile,
};
use afunix_proto::decode::NtPath;
use reparse::{SocketFile, SocketType};
use windows_sys::Wdk::Foundation::OBJECT_ATTRIBUTES;
use windows_sys::Win32::Foundation::{HANDLE, NTSTATUS, UNICODE_STRING};
use windows_sys::Win32::System::IO::IO_STATUS_BLOCK;

use super::debug::kprint;
use super::handles::KernelHandle;

const FILE_READ_ATTRIBUTES: u32 = 0x80;
const FILE_WRITE_DATA: u32 = 0x2;
const FILE_WRITE_ATTRIBUTES: u32 = 0x100;
const DELETE: u32 = 0x1_0000;
const SYNCHRONIZE: u32 = 0x10_0000;
const FILE_SHARE_ALL: u32 = 0x7;
const FILE_ATTRIBUTE_NORMAL: u32 = 0x80;
const FILE_OPEN: u32 = 1;
const FILE_CREATE: u32 = 2;
const FILE_SYNCHRONOUS_IO_NONALERT: u32 = 0x20;
const FILE_NON_DIRECTORY_FILE: u32 = 0x40;
const FILE_OPEN_REPARSE_POINT: u32 = 0x20_0000;
const FSCTL_SET_REPARSE_POINT: u32 = 0x0009_00A4;
const FSCTL_GET_REPARSE_POINT: u32 = 0x0009_00A8;
/// FILE_INFORMATION_CLASS values.
const FILE_BASIC_INFORMATION: i32 = 4;
const FILE_INTERNAL_INFORMATION: i32 = 6;
const FILE_DISPOSITION_INFORMATION: i32 = 13;
/// FS_INFORMATION_CLASS::FileFsVolumeInformation.
const FILE_FS_VOLUME_INFORMATION: i32 = 1;

const STATUS_BUFFER_OVERFLOW: NTSTATUS = 0x8000_0005_u32 as i32;
const STATUS_ACCESS_DENIED: NTSTATUS = 0xC000_0022_u32 as i32;
const STATUS_OBJECT_NAME_INVALID: NTSTATUS = 0xC000_0033_u32 as i32;
const STATUS_OBJECT_NAME_NOT_FOUND: NTSTATUS = 0xC000_0034_u32 as i32;
const STATUS_OBJECT_NAME_COLLISION: NTSTATUS = 0xC000_0035_u32 as i32;
const STATUS_OBJECT_PATH_NOT_FOUND: NTSTATUS = 0xC000_003A_u32 as i32;
const STATUS_NOT_A_DIRECTORY: NTSTATUS = 0xC000_0103_u32 as i32;
const STATUS_FILE_IS_A_DIRECTORY: NTSTATUS = 0xC000_00BA_u32 as i32;
const STATUS_NAME_TOO_LONG: NTSTATUS = 0xC000_0106_u32 as i32;
const STATUS_SHARING_VIOLATION: NTSTATUS = 0xC000_0043_u32 as i32;
const STATUS_DELETE_PENDING: NTSTATUS = 0xC000_0056_u32 as i32;

/// A socket file we opened (closed on drop).
pub struct SocketFileHandle(KernelHandle);

impl SocketFileHandle {
    /// A synchronous FSCTL on the file: its status and the bytes it returned.
    fn fsctl(&self, code: u32, input: &[u8], output: &mut [u8]) -> (NTSTATUS, usize) {
        let mut io = IO_STATUS_BLOCK::default();
        let in_len = u32::try_from(input.len()).unwrap_or(0);
        let out_len = u32::try_from(output.len()).unwrap_or(0);
        // SAFETY:
        // 1. The handle was opened for synchronous I/O, so the call completes before it
        //    returns; both buffers are valid for the lengths passed (empty ones are passed as
        //    null), and the status block lives on this frame.
        let status = unsafe {
            ZwFsControlFile(
                self.0.0,
                ptr::null_mut(),
                ptr::null(),
                ptr::null(),
                &mut io,
                code,
                if input.is_empty() {
                    ptr::null()
                } else {
                    input.as_ptr().cast()
                },
                in_len,
                if output.is_empty() {
                    ptr::null_mut()
                } else {
                    output.as_mut_ptr().cast()
                },
                out_len,
            )
        };
        (status, io.Information)
    }

    /// Deletes the file (a bind that failed after creating it, as `unix_bind` unlinks).
    pub fn delete(self) {
        let delete: u8 = 1;
        let mut io = IO_STATUS_BLOCK::default();
        // SAFETY:
        // 1. The handle was opened with DELETE; FILE_DISPOSITION_INFORMATION is one BOOLEAN.
        let status = unsafe {
            ZwSetInformationFile(
                self.0.0,
                &mut io,
                ptr::from_ref(&delete).cast(),
                1,
                FILE_DISPOSITION_INFORMATION,
            )
        };
        if status < 0 {
            kprint!(
                "could not delete a socket file after a failed bind: {:#010x}",
                status
            );
        }
    }
}

fn open(path: NtPath<'_>, access: u32, disposition: u32) -> Result<SocketFileHandle, NTSTATUS> {
    let bytes = path.as_bytes();
    if bytes.as_ptr().align_offset(2) != 0 {
        return Err(STATUS_OBJECT_NAME_INVALID);
    }
    let len = u16::try_from(bytes.len()).map_err(|_| STATUS_NAME_TOO_LONG)?;
    // The decoder checked the path is whole UTF-16 units; the system buffer keeps it alive.
    let name = UNICODE_STRING {
        Length: len,
        MaximumLength: len,
        Buffer: bytes.as_ptr().cast_mut().cast(),
    };
    let attributes = OBJECT_ATTRIBUTES {
        Length: size_of::<OBJECT_ATTRIBUTES>() as u32,
        RootDirectory: ptr::null_mut(),
        ObjectName: &name,
        Attributes: OBJ_KERNEL_HANDLE | OBJ_CASE_INSENSITIVE | OBJ_FORCE_ACCESS_CHECK,
        SecurityDescriptor: ptr::null(),
        SecurityQualityOfService: ptr::null(),
    };
    let mut handle: HANDLE = ptr::null_mut();
    let mut io = IO_STATUS_BLOCK::default();
    // SAFETY:
    // 1. All pointers are valid for the call: the name over the request's system buffer, the
    //    attributes and status block on this frame; no EA buffer. The access check is forced
    //    for the caller, in whose context this runs.
    let status = unsafe {
        ZwCreateFile(
            &mut handle,
            access | SYNCHRONIZE | FILE_READ_ATTRIBUTES,
            &attributes,
            &mut io,
            ptr::null(),
            FILE_ATTRIBUTE_NORMAL,
            FILE_SHARE_ALL,
            disposition,
            FILE_NON_DIRECTORY_FILE | FILE_SYNCHRONOUS_IO_NONALERT | FILE_OPEN_REPARSE_POINT,
            ptr::null(),
            0,
        )
    };
    if status < 0 {
        Err(status)
    } else {
        Ok(SocketFileHandle(KernelHandle(handle)))
    }
}

fn path_errno(status: NTSTATUS) -> Errno {
    match status {
        // Someone holds the file without sharing it: the caller cannot use it, as with a
        // denied permission.
        STATUS_ACCESS_DENIED | STATUS_SHARING_VIOLATION => Errno::EACCES,
        // A file being deleted is as good as gone (Linux unlinks at once).
        STATUS_OBJECT_NAME_NOT_FOUND
        | STATUS_OBJECT_PATH_NOT_FOUND
        | STATUS_NOT_A_DIRECTORY
        | STATUS_DELETE_PENDING => Errno::ENOENT,
        STATUS_NAME_TOO_LONG => Errno::ENAMETOOLONG,
        _ => Errno::EINVAL,
    }
}

/// `unix_bind_bsd` on Windows: creates the socket file (EADDRINUSE if the name exists,
/// EACCES if the caller may not create it), marks it with our reparse point where the volume
/// can hold one, and returns its key and the open handle (for [`SocketFileHandle::delete`]).
pub fn create(path: NtPath<'_>, pid: u32) -> Result<(PathKey, SocketFileHandle), Errno> {
    let file = open(
        path,
        FILE_WRITE_DATA | FILE_WRITE_ATTRIBUTES | DELETE,
        FILE_CREATE,
    )
    .map_err(|status| match status {
        STATUS_OBJECT_NAME_COLLISION | STATUS_FILE_IS_A_DIRECTORY => Errno::EADDRINUSE,
        other => path_errno(other),
    })?;
    let key = match key_of(&file) {
        Ok(key) => key,
        Err(e) => {
            file.delete();
            return Err(e);
        }
    };
    mark(&file, key, pid);
    Ok((key, file))
}

/// Sets our reparse point. A volume that cannot hold one (FAT, exFAT, some shares, Wine)
/// keeps a plain file: the binding is by file ID either way, so this is a marker for people
/// and tools, not something connect depends on.
fn mark(file: &SocketFileHandle, key: PathKey, pid: u32) {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let created = creation_time(file).unwrap_or(0);
    let mut seed =
        (key.file_id as u32) ^ (created as u32) ^ pid ^ COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut nonce = [0u8; 16];
    for chunk in nonce.chunks_exact_mut(4) {
        // SAFETY:
        // 1. `seed` is a valid in/out pointer.
        chunk.copy_from_slice(&unsafe { RtlRandomEx(&mut seed) }.to_le_bytes());
    }
    let buffer = SocketFile {
        socket_type: SocketType::Stream,
        creator_pid: pid,
        nonce,
        created,
    }
    .to_bytes();
    let (status, _) = file.fsctl(FSCTL_SET_REPARSE_POINT, &buffer, &mut []);
    if status < 0 {
        kprint!(
            "socket file stays a plain file: FSCTL_SET_REPARSE_POINT gave {:#010x}",
            status
        );
    }
}

/// `unix_find_bsd` on Windows: opens the socket file asking to write it (EACCES if the caller
/// may not, ENOENT if it is missing), refuses a reparse point that is not ours
/// (ECONNREFUSED), and returns the key to look the binding up by.
pub fn open_for_connect(path: NtPath<'_>) -> Result<PathKey, Errno> {
    let file = open(path, FILE_WRITE_DATA, FILE_OPEN).map_err(|status| match status {
        STATUS_FILE_IS_A_DIRECTORY => Errno::ECONNREFUSED,
        other => path_errno(other),
    })?;
    let mut buffer = [0u8; reparse::BUFFER_LEN + 8];
    let (status, returned) = file.fsctl(FSCTL_GET_REPARSE_POINT, &[], &mut buffer);
    if status >= 0 {
        let len = returned.min(buffer.len());
        if SocketFile::parse(buffer.get(..len).unwrap_or(&[])).is_err() {
            // Another kind of reparse point, or a forged one: not one of our socket files.
            return Err(Errno::ECONNREFUSED);
        }
    } else if status == STATUS_BUFFER_OVERFLOW {
        // Larger than ours: someone else's reparse point.
        return Err(Errno::ECONNREFUSED);
    }
    // Otherwise a plain file (no reparse point, or a volume without them): the binding
    // table decides.
    key_of(&file)
}

/// Volume serial number and file ID.
fn key_of(file: &SocketFileHandle) -> Result<PathKey, Errno> {
    // FILE_FS_VOLUME_INFORMATION: creation time (8), serial (4), label length (4), supports
    // objects (1), label...; the label may not fit, which only truncates it.
    let mut volume = [0u64; 8];
    let mut io = IO_STATUS_BLOCK::default();
    // SAFETY:
    // 1. The handle is open; the buffer is writable, 8-aligned, 64 bytes.
    let status = unsafe {
        ZwQueryVolumeInformationFile(
            file.0.0,
            &mut io,
            volume.as_mut_ptr().cast(),
            64,
            FILE_FS_VOLUME_INFORMATION,
        )
    };
    if status < 0 && status != STATUS_BUFFER_OVERFLOW {
        return Err(Errno::EINVAL);
    }
    let serial = volume.get(1).map_or(0, |w| *w & 0xFFFF_FFFF);
    let mut internal = 0i64;
    let mut io = IO_STATUS_BLOCK::default();
    // SAFETY:
    // 1. FILE_INTERNAL_INFORMATION is one LARGE_INTEGER; the out pointer is valid for it.
    let status = unsafe {
        ZwQueryInformationFile(
            file.0.0,
            &mut io,
            ptr::from_mut(&mut internal).cast::<c_void>(),
            8,
            FILE_INTERNAL_INFORMATION,
        )
    };
    if status < 0 {
        return Err(Errno::EINVAL);
    }
    Ok(PathKey {
        volume: serial,
        file_id: u128::from(internal as u64),
    })
}

/// The file's creation time (FILETIME), from FILE_BASIC_INFORMATION.
fn creation_time(file: &SocketFileHandle) -> Option<u64> {
    // Four LARGE_INTEGER times and a ULONG of attributes: 40 bytes.
    let mut basic = [0u64; 5];
    let mut io = IO_STATUS_BLOCK::default();
    // SAFETY:
    // 1. The handle is open; the buffer is writable, 8-aligned, 40 bytes.
    let status = unsafe {
        ZwQueryInformationFile(
            file.0.0,
            &mut io,
            basic.as_mut_ptr().cast(),
            40,
            FILE_BASIC_INFORMATION,
        )
    };
    if status < 0 {
        None
    } else {
        basic.first().copied()
    }
}
