//! Socket files: BIND creates one, CONNECT opens one, both in the caller's context with the
//! access check done for the caller (OBJ_FORCE_ACCESS_CHECK). The binding is keyed by the
//! file's identity (volume and 128-bit file ID) and the secret BIND writes into it (see
//! `afunix_device::path`).

use core::ffi::c_void;
use core::mem::size_of;
use core::ptr;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use afunix_core::Errno;
use afunix_device::{FileIdentity, FsError};
use afunix_ntos::{
    KeQueryInterruptTime, OBJ_CASE_INSENSITIVE, OBJ_FORCE_ACCESS_CHECK, OBJ_KERNEL_HANDLE,
    RtlRandomEx, ZwCreateFile, ZwFsControlFile, ZwQueryInformationFile,
    ZwQueryVolumeInformationFile, ZwReadFile, ZwSetInformationFile, ZwWriteFile,
};
use afunix_proto::decode::NtPath;
use reparse::{SocketFile, SocketType};
use windows_sys::Wdk::Foundation::OBJECT_ATTRIBUTES;
use windows_sys::Win32::Foundation::{HANDLE, NTSTATUS, UNICODE_STRING};
use windows_sys::Win32::System::IO::IO_STATUS_BLOCK;

use super::debug::kprint;
use super::handles::KernelHandle;

const FILE_READ_DATA: u32 = 0x1;
const FILE_READ_ATTRIBUTES: u32 = 0x80;
const FILE_WRITE_DATA: u32 = 0x2;
const FILE_WRITE_ATTRIBUTES: u32 = 0x100;
const DELETE: u32 = 0x1_0000;
const SYNCHRONIZE: u32 = 0x10_0000;
const FILE_SHARE_ALL: u32 = 0x7;
const FILE_ATTRIBUTE_NORMAL: u32 = 0x80;
const FILE_OPEN: u32 = 1;
const FILE_CREATE: u32 = 2;
const FILE_DIRECTORY_FILE: u32 = 0x1;
const FILE_SYNCHRONOUS_IO_NONALERT: u32 = 0x20;
const FILE_NON_DIRECTORY_FILE: u32 = 0x40;
const FILE_OPEN_REPARSE_POINT: u32 = 0x20_0000;
const FSCTL_SET_REPARSE_POINT: u32 = 0x0009_00A4;
const FSCTL_GET_REPARSE_POINT: u32 = 0x0009_00A8;
/// FILE_INFORMATION_CLASS values.
const FILE_BASIC_INFORMATION: i32 = 4;
const FILE_INTERNAL_INFORMATION: i32 = 6;
const FILE_DISPOSITION_INFORMATION: i32 = 13;
const FILE_ID_INFORMATION: i32 = 59;
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
const STATUS_MEDIA_WRITE_PROTECTED: NTSTATUS = 0xC000_00A2_u32 as i32;
const STATUS_TOO_MANY_LINKS: NTSTATUS = 0xC000_0265_u32 as i32;
const STATUS_REPARSE_POINT_NOT_RESOLVED: NTSTATUS = 0xC000_0280_u32 as i32;

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

    /// Writes the binding's secret as the file's content.
    fn write_secret(&self, secret: u128) -> Result<(), FsError> {
        let bytes = secret.to_le_bytes();
        let offset = 0i64;
        let mut io = IO_STATUS_BLOCK::default();
        // SAFETY:
        // 1. The handle is open for synchronous writing, so the call completes before it
        //    returns; the buffer, offset and status block live on this frame.
        let status = unsafe {
            ZwWriteFile(
                self.0.0,
                ptr::null_mut(),
                ptr::null(),
                ptr::null(),
                &mut io,
                bytes.as_ptr().cast(),
                16,
                &offset,
                ptr::null(),
            )
        };
        if status < 0 || io.Information != 16 {
            return Err(fs_error(status));
        }
        Ok(())
    }

    /// Reads the file's first bytes into `buffer`: how many, or None on failure.
    fn read_at_start(&self, buffer: &mut [u8]) -> Option<usize> {
        let offset = 0i64;
        let len = u32::try_from(buffer.len()).ok()?;
        let mut io = IO_STATUS_BLOCK::default();
        // SAFETY:
        // 1. The handle is open for synchronous reading, so the call completes before it
        //    returns; the buffer is writable for its length; offset and status block live
        //    on this frame.
        let status = unsafe {
            ZwReadFile(
                self.0.0,
                ptr::null_mut(),
                ptr::null(),
                ptr::null(),
                &mut io,
                buffer.as_mut_ptr().cast(),
                len,
                &offset,
                ptr::null(),
            )
        };
        (status >= 0).then_some(io.Information.min(buffer.len()))
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

/// Opens `path` in the caller's context, with the caller's access check
/// (OBJ_FORCE_ACCESS_CHECK: the open succeeds only if the caller may do it).
fn open(
    path: &[u8],
    access: u32,
    disposition: u32,
    options: u32,
) -> Result<SocketFileHandle, NTSTATUS> {
    if path.as_ptr().align_offset(2) != 0 {
        return Err(STATUS_OBJECT_NAME_INVALID);
    }
    let len = u16::try_from(path.len()).map_err(|_| STATUS_NAME_TOO_LONG)?;
    // The decoder checked the path is whole UTF-16 units; the system buffer keeps it alive.
    let name = UNICODE_STRING {
        Length: len,
        MaximumLength: len,
        Buffer: path.as_ptr().cast_mut().cast(),
    };
    let object_flags = OBJ_KERNEL_HANDLE | OBJ_CASE_INSENSITIVE | OBJ_FORCE_ACCESS_CHECK;
    let attributes = OBJECT_ATTRIBUTES {
        Length: size_of::<OBJECT_ATTRIBUTES>() as u32,
        RootDirectory: ptr::null_mut(),
        ObjectName: &name,
        Attributes: object_flags,
        SecurityDescriptor: ptr::null(),
        SecurityQualityOfService: ptr::null(),
    };
    let mut handle: HANDLE = ptr::null_mut();
    let mut io = IO_STATUS_BLOCK::default();
    // SAFETY:
    // 1. All pointers are valid for the call: the name over the request's system buffer, the
    //    attributes and status block on this frame; no EA buffer. The access check is
    //    forced for the caller, in whose context this runs.
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
            options | FILE_SYNCHRONOUS_IO_NONALERT,
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

/// Opens a socket file itself: never a directory, and never through our own reparse point.
const SOCKET_FILE: u32 = FILE_NON_DIRECTORY_FILE | FILE_OPEN_REPARSE_POINT;

/// What a failed open says, in path-lookup terms.
fn fs_error(status: NTSTATUS) -> FsError {
    match status {
        // Someone holds the file without sharing it: the caller cannot use it, as with a
        // denied permission.
        STATUS_ACCESS_DENIED | STATUS_SHARING_VIOLATION => FsError::AccessDenied,
        // A file being deleted is as good as gone (Linux unlinks at once).
        STATUS_OBJECT_NAME_NOT_FOUND | STATUS_OBJECT_PATH_NOT_FOUND | STATUS_DELETE_PENDING => {
            FsError::NotFound
        }
        STATUS_NOT_A_DIRECTORY => FsError::NotADirectory,
        STATUS_FILE_IS_A_DIRECTORY => FsError::IsADirectory,
        STATUS_OBJECT_NAME_COLLISION => FsError::Exists,
        STATUS_NAME_TOO_LONG => FsError::NameTooLong,
        STATUS_REPARSE_POINT_NOT_RESOLVED | STATUS_TOO_MANY_LINKS => FsError::Loop,
        STATUS_MEDIA_WRITE_PROTECTED => FsError::ReadOnly,
        _ => FsError::Other(Errno::EINVAL),
    }
}

/// The separator `\\` as a UTF-16 unit.
const SEPARATOR: u16 = b'\\' as u16;

/// The most directory levels a failed lookup is retraced through.
const MAX_DEPTH: usize = 64;

/// The byte offsets of a UTF-16LE path's separators, last first.
fn separators(path: &[u8]) -> impl Iterator<Item = usize> + '_ {
    units(path)
        .rev()
        .filter(|(_, unit)| *unit == SEPARATOR)
        .map(|(offset, _)| offset)
}

/// The error a failed lookup of `path` gives, as Linux would name it. Windows reports a path
/// that runs through a file as "path not found"; Linux says ENOTDIR. So on "path not found"
/// the ancestors are retraced (with the caller's check, asking only to read attributes):
/// the nearest one that exists decides: a directory means something below it is missing
/// (ENOENT), a file means the path runs through it (ENOTDIR).
fn path_error(path: &[u8], status: NTSTATUS) -> FsError {
    if status != STATUS_OBJECT_PATH_NOT_FOUND {
        return fs_error(status);
    }
    let root = root_len(path);
    for end in separators(path).take(MAX_DEPTH) {
        // The volume's root is a directory; opening `\??\C:` itself would open the volume.
        if end <= root {
            break;
        }
        let Some(ancestor) = path.get(..end) else {
            break;
        };
        match open(ancestor, 0, FILE_OPEN, FILE_DIRECTORY_FILE) {
            Ok(_) => return FsError::NotFound,
            Err(STATUS_NOT_A_DIRECTORY) => return FsError::NotADirectory,
            Err(STATUS_OBJECT_NAME_NOT_FOUND | STATUS_OBJECT_PATH_NOT_FOUND) => {}
            Err(_) => return FsError::NotFound,
        }
    }
    FsError::NotFound
}

/// The UTF-16 units of a path, with their byte offsets.
fn units(path: &[u8]) -> impl DoubleEndedIterator<Item = (usize, u16)> + '_ {
    path.chunks_exact(2).enumerate().map(|(i, u)| {
        let unit = u16::from_le_bytes([
            u.first().copied().unwrap_or(0),
            u.get(1).copied().unwrap_or(0),
        ]);
        (i.saturating_mul(2), unit)
    })
}

/// The byte length of a path's volume root: `\??\C:`, `\??\UNC\server\share`, or for any other
/// form (`\Device\HarddiskVolume1\...`) its first two components. Nothing at or above it is
/// looked up as a directory.
fn root_len(path: &[u8]) -> usize {
    let unc = path.get(..8) == Some(&[b'\\', 0, b'?', 0, b'?', 0, b'\\', 0])
        && path
            .get(8..16)
            .is_some_and(|u| u.eq_ignore_ascii_case(&[b'U', 0, b'N', 0, b'C', 0, b'\\', 0]));
    // Separators: the first two bound `??`; a drive's root ends at the third (`\\??\\C:`), a
    // share's at the fifth (`\\??\\UNC\\server\\share`), any other form's at the third.
    units(path)
        .filter(|(_, unit)| *unit == SEPARATOR)
        .map(|(offset, _)| offset)
        .nth(if unc { 4 } else { 2 })
        .unwrap_or(path.len())
}

/// A name Windows cannot hold as a file: a `:` past the volume root names a stream of
/// another file (`notes.txt:x`), which a socket file must never be.
fn holds_stream_name(path: &[u8]) -> bool {
    let root = root_len(path);
    units(path).any(|(offset, u)| offset >= root && u == u16::from(b':'))
}

/// The path without trailing separators, if it had any ("name\" from `sun_path` "name/").
fn without_trailing_separators(path: &[u8]) -> Option<&[u8]> {
    let mut end = path.len();
    while end >= 2 && path.get(end.saturating_sub(2)..end) == Some(&[b'\\', 0]) {
        end = end.saturating_sub(2);
    }
    (end != path.len() && end > 0)
        .then(|| path.get(..end))
        .flatten()
}

/// `unix_bind_bsd` on Windows: creates the socket file (an existing name is
/// [`FsError::Exists`], a denied create [`FsError::AccessDenied`]), marks it with our reparse
/// point carrying the binding's secret where the volume can hold one, and otherwise writes the
/// secret as the file's content. Returns its identity and the open handle (for
/// [`SocketFileHandle::delete`]).
pub fn create(
    path: NtPath<'_>,
    secret: u128,
    pid: u32,
) -> Result<(FileIdentity, SocketFileHandle), FsError> {
    let path = path.as_bytes();
    if holds_stream_name(path) {
        return Err(FsError::Other(Errno::EINVAL));
    }
    if let Some(name) = without_trailing_separators(path) {
        if name.len() <= root_len(name) {
            // A volume's root exists.
            return Err(FsError::Exists);
        }
        // "name/": never made; Linux reports the name taken if it exists.
        return Err(match open(name, 0, FILE_OPEN, FILE_OPEN_REPARSE_POINT) {
            Ok(_) => FsError::Exists,
            Err(status) => path_error(name, status),
        });
    }
    let file = open(
        path,
        FILE_WRITE_DATA | FILE_WRITE_ATTRIBUTES | DELETE,
        FILE_CREATE,
        SOCKET_FILE,
    )
    .map_err(|status| path_error(path, status))?;
    let marked = identity_of(&file).and_then(|identity| {
        mark(&file, identity, secret, pid)?;
        Ok(identity)
    });
    match marked {
        Ok(identity) => Ok((identity, file)),
        Err(e) => {
            file.delete();
            Err(e)
        }
    }
}

/// Volumes whose missing reparse-point support was logged, so that it is said once per volume
/// and not once per bind.
static LOGGED_PLAIN_VOLUMES: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];

/// Marks the file with our reparse point. A volume that cannot hold one (FAT, exFAT, some
/// shares, Wine) keeps a plain file whose content is the secret.
fn mark(
    file: &SocketFileHandle,
    identity: FileIdentity,
    secret: u128,
    pid: u32,
) -> Result<(), FsError> {
    let buffer = SocketFile {
        socket_type: SocketType::Stream,
        creator_pid: pid,
        nonce: secret.to_le_bytes(),
        created: creation_time(file).unwrap_or(0),
    }
    .to_bytes();
    let (status, _) = file.fsctl(FSCTL_SET_REPARSE_POINT, &buffer, &mut []);
    if status >= 0 {
        return Ok(());
    }
    if first_report(identity.volume) {
        kprint!(
            "volume {:#x} holds no reparse points (FSCTL_SET_REPARSE_POINT gave {:#010x}): \
             its socket files are plain files holding their secret",
            identity.volume,
            status
        );
    }
    file.write_secret(secret)
}

/// Whether `volume`'s lack of reparse points is reported for the first time (true once per
/// volume; quiet once eight volumes have been reported).
fn first_report(volume: u64) -> bool {
    let volume = volume.max(1);
    for slot in &LOGGED_PLAIN_VOLUMES {
        match slot.compare_exchange(0, volume, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return true,
            Err(seen) if seen == volume => return false,
            Err(_) => {}
        }
    }
    false
}

/// `unix_find_bsd` on Windows: opens the socket file asking to write it (the caller's check:
/// [`FsError::AccessDenied`] if it may not, [`FsError::NotFound`] if it is missing), and reads
/// the binding's secret from our reparse point, or from a plain file's content. Someone
/// else's reparse point is no socket file of ours ([`FsError::NotAFile`]).
pub fn open_for_connect(path: NtPath<'_>) -> Result<(FileIdentity, Option<u128>), FsError> {
    let path = path.as_bytes();
    if holds_stream_name(path) {
        return Err(FsError::Other(Errno::EINVAL));
    }
    if let Some(name) = without_trailing_separators(path) {
        if name.len() <= root_len(name) {
            // A volume's root is a directory.
            return Err(FsError::IsADirectory);
        }
        // "name/" names a directory: one is no socket, a file is on the way.
        return Err(match open(name, 0, FILE_OPEN, FILE_DIRECTORY_FILE) {
            Ok(_) => FsError::IsADirectory,
            Err(status) => path_error(name, status),
        });
    }
    let file = open(path, FILE_WRITE_DATA, FILE_OPEN, SOCKET_FILE)
        .map_err(|status| path_error(path, status))?;
    let identity = identity_of(&file)?;
    let mut buffer = [0u8; reparse::BUFFER_LEN + 8];
    let (status, returned) = file.fsctl(FSCTL_GET_REPARSE_POINT, &[], &mut buffer);
    if status >= 0 {
        let len = returned.min(buffer.len());
        return match SocketFile::parse(buffer.get(..len).unwrap_or(&[])) {
            Ok(ours) => Ok((identity, Some(u128::from_le_bytes(ours.nonce)))),
            // Another kind of reparse point, or a forged one: not one of our socket files.
            Err(_) => Err(FsError::NotAFile),
        };
    }
    if status == STATUS_BUFFER_OVERFLOW {
        // Larger than ours: someone else's reparse point.
        return Err(FsError::NotAFile);
    }
    // A plain file (no reparse point, or a volume without them): its content.
    Ok((identity, read_secret(path, identity)))
}

/// The secret in a plain socket file's content: 16 bytes, exactly. The caller's handle asked
/// only to write, so the file is opened again, by name, to read it, with the caller's access
/// check too: the driver never opens a path on the caller's behalf without it. The first
/// handle stays open, so the file's identity cannot be reused meanwhile, and the second must
/// have the same identity; a name that now resolves elsewhere (a rename, a link, a drive
/// letter redefined between the two opens) reaches at most what the caller may read, and
/// then fails the comparison. A caller that may write the file but not read it gets no
/// secret (ECONNREFUSED). That happens only where a plain file stands in for the reparse
/// point: on FAT and exFAT, which keep no permissions, and under Wine.
///
/// (Reopening through the first handle, with an empty name relative to it, would avoid the
/// second lookup; Wine refuses that open.)
fn read_secret(path: &[u8], identity: FileIdentity) -> Option<u128> {
    let reader = open(path, FILE_READ_DATA, FILE_OPEN, SOCKET_FILE).ok()?;
    if identity_of(&reader).ok()? != identity {
        return None;
    }
    let mut bytes = [0u8; 17];
    let read = reader.read_at_start(&mut bytes)?;
    let secret: [u8; 16] = bytes.get(..16)?.try_into().ok()?;
    (read == 16).then(|| u128::from_le_bytes(secret))
}

/// 128 bits for a binding's secret: five 31-bit outputs of `RtlRandomEx`, whose seed is chained
/// across calls and stirred with the interrupt time of each call. This is a generator, not a
/// cryptographic source: the import rules (ntoskrnl.exe only, none of Wine's stubs) leave no
/// kernel CNG here; the "security" issue replaces it.
pub fn secret() -> u128 {
    static SEED: AtomicU32 = AtomicU32::new(0x9E37_79B9);
    // SAFETY:
    // 1. KeQueryInterruptTime has no preconditions and is callable at any IRQL.
    let now = unsafe { KeQueryInterruptTime() };
    let mut seed = SEED.load(Ordering::Relaxed) ^ (now as u32) ^ ((now >> 32) as u32);
    let mut secret = 0u128;
    for _ in 0..5 {
        // SAFETY:
        // 1. `seed` is a valid in/out pointer.
        let word = unsafe { RtlRandomEx(&mut seed) };
        secret = (secret << 31) | u128::from(word & 0x7FFF_FFFF);
    }
    SEED.store(seed, Ordering::Relaxed);
    secret
}

/// The volume's identity and the file's 128-bit ID (FileIdInformation), or, where a file
/// system does not answer that class, the volume serial and the 64-bit file index.
fn identity_of(file: &SocketFileHandle) -> Result<FileIdentity, FsError> {
    // FILE_ID_INFORMATION: VolumeSerialNumber (8), FileId (16).
    let mut id = [0u64; 3];
    let mut io = IO_STATUS_BLOCK::default();
    // SAFETY:
    // 1. The handle is open; the buffer is writable, 8-aligned, 24 bytes.
    let status = unsafe {
        ZwQueryInformationFile(
            file.0.0,
            &mut io,
            id.as_mut_ptr().cast(),
            24,
            FILE_ID_INFORMATION,
        )
    };
    if status >= 0 {
        let [volume, low, high] = id;
        return Ok(FileIdentity {
            volume,
            file_id: (u128::from(high) << 64) | u128::from(low),
        });
    }
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
        return Err(FsError::Other(Errno::EINVAL));
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
        return Err(FsError::Other(Errno::EINVAL));
    }
    Ok(FileIdentity {
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
