//! Socket files: BIND creates one, CONNECT opens one, both in the caller's context with the
//! access check done for the caller (OBJ_FORCE_ACCESS_CHECK) and identification-only
//! quality of service, and only on a local disk's file system ([`Lookup`] says why no open
//! reaches another device or a named pipe). The binding is keyed by the file's identity
//! (volume and 128-bit file ID) and the secret BIND writes into it (see
//! `afunix_device::path`).

use core::ffi::c_void;
use core::mem::size_of;
use core::ptr;
use core::sync::atomic::{AtomicU64, Ordering};

use afunix_core::{Errno, SockType};
use afunix_device::ntpath::{Parts, holds_stream_name, without_trailing_separators};
use afunix_device::{FileIdentity, FsError, VolumeDevice};
use afunix_ntos::{
    BCRYPT_USE_SYSTEM_PREFERRED_RNG, BCryptGenRandom, OBJ_CASE_INSENSITIVE, OBJ_FORCE_ACCESS_CHECK,
    OBJ_KERNEL_HANDLE, ZwCreateFile, ZwFsControlFile, ZwQueryInformationFile,
    ZwQueryVolumeInformationFile, ZwReadFile, ZwSetInformationFile, ZwWriteFile,
};
use afunix_proto::decode::NtPath;
use reparse::{SocketFile, SocketType};
use windows_sys::Wdk::Foundation::OBJECT_ATTRIBUTES;
use windows_sys::Win32::Foundation::{HANDLE, NTSTATUS, UNICODE_STRING};
use windows_sys::Win32::Security::{SECURITY_QUALITY_OF_SERVICE, SecurityIdentification};
use windows_sys::Win32::System::IO::IO_STATUS_BLOCK;

use crate::debug::kprint;
use crate::handles::KernelHandle;

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
/// FS_INFORMATION_CLASS::FileFsDeviceInformation.
const FILE_FS_DEVICE_INFORMATION: i32 = 4;

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

/// A socket file, or a directory on the way to one, that we opened (closed on drop).
#[derive(Debug)]
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

/// How far whoever serves an open may act as the caller: identification only (it may learn
/// who the caller is, never act as the caller), a static copy of the token, only what is
/// enabled in it. An open with no quality of service lets a named-pipe server impersonate its
/// client; a privileged program connecting to a path someone else chose must never lend its
/// token that way. Every open below carries it, although none should ever reach a pipe.
const IDENTIFICATION_ONLY: SECURITY_QUALITY_OF_SERVICE = SECURITY_QUALITY_OF_SERVICE {
    Length: size_of::<SECURITY_QUALITY_OF_SERVICE>() as u32,
    ImpersonationLevel: SecurityIdentification,
    ContextTrackingMode: 0, // SECURITY_STATIC_TRACKING
    EffectiveOnly: true,
};

/// Opens `name` in the caller's context, with the caller's access check
/// (OBJ_FORCE_ACCESS_CHECK: the open succeeds only if the caller may do it) and
/// [`IDENTIFICATION_ONLY`]: by absolute name when `directory` is None, else relative to that
/// open directory, whose file system alone then parses the name. A directory is opened
/// asking for nothing but SYNCHRONIZE (its device and a relative open need no access on it),
/// so a lookup asks no more than Linux's search permission (traverse, which Windows grants
/// by default); a file asks to read its attributes too.
fn open(
    directory: Option<&SocketFileHandle>,
    name: &[u8],
    access: u32,
    disposition: u32,
    options: u32,
) -> Result<SocketFileHandle, NTSTATUS> {
    if name.as_ptr().align_offset(2) != 0 {
        return Err(STATUS_OBJECT_NAME_INVALID);
    }
    let len = u16::try_from(name.len()).map_err(|_| STATUS_NAME_TOO_LONG)?;
    // The decoder checked the path is whole UTF-16 units; the system buffer keeps it alive.
    let name = UNICODE_STRING {
        Length: len,
        MaximumLength: len,
        Buffer: name.as_ptr().cast_mut().cast(),
    };
    let object_flags = OBJ_KERNEL_HANDLE | OBJ_CASE_INSENSITIVE | OBJ_FORCE_ACCESS_CHECK;
    let quality = IDENTIFICATION_ONLY;
    let attributes = OBJECT_ATTRIBUTES {
        Length: size_of::<OBJECT_ATTRIBUTES>() as u32,
        RootDirectory: directory.map_or(ptr::null_mut(), |d| d.0.0),
        ObjectName: &name,
        Attributes: object_flags,
        SecurityDescriptor: ptr::null(),
        SecurityQualityOfService: ptr::from_ref(&quality).cast(),
    };
    let access = if options & FILE_DIRECTORY_FILE != 0 {
        access | SYNCHRONIZE
    } else {
        access | SYNCHRONIZE | FILE_READ_ATTRIBUTES
    };
    let mut handle: HANDLE = ptr::null_mut();
    let mut io = IO_STATUS_BLOCK::default();
    // SAFETY:
    // 1. All pointers are valid for the call: the name over the request's system buffer, the
    //    attributes, quality of service and status block on this frame, the root directory
    //    an open handle of ours; no EA buffer. The access check is forced for the caller, in
    //    whose context this runs.
    let status = unsafe {
        ZwCreateFile(
            &mut handle,
            access,
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

/// Opens a socket file itself: never a directory, and never through a reparse point (a
/// symbolic link or junction as the last component is opened, not followed, so the file
/// stays on its directory's volume).
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

/// The most directory levels a failed lookup is retraced through.
const MAX_DEPTH: usize = 64;

/// Whether the open file or directory is on a local disk's file system (see
/// `VolumeDevice::check`); a file system that does not answer is not one.
fn local_disk(file: &SocketFileHandle) -> Result<(), FsError> {
    // FILE_FS_DEVICE_INFORMATION: DeviceType, Characteristics.
    let mut device = [0u32; 2];
    let mut io = IO_STATUS_BLOCK::default();
    // SAFETY:
    // 1. The handle is open; the buffer is writable, 4-aligned, 8 bytes.
    let status = unsafe {
        ZwQueryVolumeInformationFile(
            file.0.0,
            &mut io,
            device.as_mut_ptr().cast(),
            8,
            FILE_FS_DEVICE_INFORMATION,
        )
    };
    if status < 0 {
        kprint!(
            "refused a socket path: its file system gave no device information ({:#010x})",
            status
        );
        return Err(FsError::NotLocalDisk);
    }
    let [device_type, characteristics] = device;
    let device = VolumeDevice {
        device_type,
        characteristics,
    };
    device.check().inspect_err(|_| {
        kprint!(
            "refused a socket path on device type {:#x}, characteristics {:#x}: not a local disk",
            device_type,
            characteristics
        );
    })
}

/// A socket path being looked up: its volume's root, opened and found to be a local disk.
///
/// Why nothing here reaches a file on another device, or a named pipe: the first open of a
/// path is of its volume's root directory (`\??\C:\`, `\??\pipe\`, `\??\UNC\srv\share\`),
/// which on any file system is a directory open and acts on nothing (a pipe file system's
/// root is not a pipe), and its device is checked before anything below it is opened. The
/// parent directory is then opened relative to that root, and checked too (a junction or
/// link on the way may lead elsewhere; opening the leaf below anything but a local disk is
/// refused). The socket file is opened relative to the parent with FILE_OPEN_REPARSE_POINT,
/// so its own name is parsed by the parent's file system and never followed off it; it is
/// checked as well (under Wine, a Unix symbolic link is followed whatever the flag says).
/// Every follow-up (identity, creation time, FSCTLs, the secret's write, delete) is made on
/// a handle from these opens, so it acts on the object the caller's check allowed and on no
/// other, whatever happens to the names meanwhile.
struct Lookup<'p> {
    parts: Parts<'p>,
    root: SocketFileHandle,
}

/// An open directory that holds a socket file: the volume's root itself, or one below it.
enum Directory<'l> {
    Root(&'l SocketFileHandle),
    Below(SocketFileHandle),
}

impl Directory<'_> {
    fn handle(&self) -> &SocketFileHandle {
        match self {
            Directory::Root(root) => root,
            Directory::Below(directory) => directory,
        }
    }
}

impl<'p> Lookup<'p> {
    /// Opens the root of `path`'s volume (the caller's check, asking for nothing but
    /// SYNCHRONIZE) and checks its device. `root_name` is the error for a path that names
    /// no file below its root (the root itself).
    fn new(path: &'p [u8], root_name: FsError) -> Result<Lookup<'p>, FsError> {
        let parts = Parts::of(path).ok_or(root_name)?;
        let root = open(None, parts.root, 0, FILE_OPEN, FILE_DIRECTORY_FILE).map_err(fs_error)?;
        local_disk(&root)?;
        Ok(Lookup { parts, root })
    }

    /// Opens the directory that holds the socket file, relative to the root, and checks
    /// its device.
    fn parent(&self) -> Result<Directory<'_>, FsError> {
        if self.parts.parent.is_empty() {
            // Wine refuses an open with an empty name relative to a directory.
            return Ok(Directory::Root(&self.root));
        }
        let parent = open(
            Some(&self.root),
            self.parts.parent,
            0,
            FILE_OPEN,
            FILE_DIRECTORY_FILE,
        )
        .map_err(|status| self.parent_error(status))?;
        local_disk(&parent)?;
        Ok(Directory::Below(parent))
    }

    /// The error a failed open of the parent gives, as Linux would name it. Windows
    /// reports a path that runs through a file as "path not found"; Linux says ENOTDIR. So
    /// on "path not found" the ancestors are retraced (relative to the root, with the
    /// caller's check, asking for nothing but SYNCHRONIZE): the nearest one that exists
    /// decides: a directory means something below it is missing (ENOENT), a file means the
    /// path runs through it (ENOTDIR).
    fn parent_error(&self, status: NTSTATUS) -> FsError {
        if status != STATUS_OBJECT_PATH_NOT_FOUND {
            return fs_error(status);
        }
        for ancestor in self.parts.ancestors(MAX_DEPTH).skip(1) {
            match open(
                Some(&self.root),
                ancestor,
                0,
                FILE_OPEN,
                FILE_DIRECTORY_FILE,
            ) {
                Ok(_) => return FsError::NotFound,
                Err(STATUS_NOT_A_DIRECTORY) => return FsError::NotADirectory,
                Err(STATUS_OBJECT_NAME_NOT_FOUND | STATUS_OBJECT_PATH_NOT_FOUND) => {}
                Err(_) => return FsError::NotFound,
            }
        }
        FsError::NotFound
    }

    /// Opens the socket file (the last component) relative to `directory`, and checks its
    /// device.
    fn leaf(
        &self,
        directory: &Directory<'_>,
        access: u32,
        disposition: u32,
        options: u32,
    ) -> Result<SocketFileHandle, FsError> {
        let file = open(
            Some(directory.handle()),
            self.parts.leaf,
            access,
            disposition,
            options,
        )
        .map_err(fs_error)?;
        local_disk(&file)?;
        Ok(file)
    }
}

/// `unix_bind_bsd` on Windows: creates the socket file (an existing name is
/// [`FsError::Exists`], a denied create [`FsError::AccessDenied`], a path off local disks
/// [`FsError::NotLocalDisk`]), marks it with our reparse point carrying the binding's secret
/// where the volume can hold one (and `ty`, the binding socket's type), and otherwise writes
/// the secret as the file's content.
/// Returns its identity and the open handle (for [`SocketFileHandle::delete`]).
pub fn create(
    path: NtPath<'_>,
    secret: u128,
    ty: SockType,
    pid: u32,
) -> Result<(FileIdentity, SocketFileHandle), FsError> {
    let path = path.as_bytes();
    if holds_stream_name(path) {
        return Err(FsError::Other(Errno::EINVAL));
    }
    if let Some(name) = without_trailing_separators(path) {
        // "name/": never made; Linux reports the name taken if it exists (a volume's root
        // exists).
        let lookup = Lookup::new(name, FsError::Exists)?;
        let parent = lookup.parent()?;
        lookup.leaf(&parent, 0, FILE_OPEN, FILE_OPEN_REPARSE_POINT)?;
        return Err(FsError::Exists);
    }
    let lookup = Lookup::new(path, FsError::Exists)?;
    let parent = lookup.parent()?;
    let file = open(
        Some(parent.handle()),
        lookup.parts.leaf,
        FILE_WRITE_DATA | FILE_WRITE_ATTRIBUTES | DELETE,
        FILE_CREATE,
        SOCKET_FILE,
    )
    .map_err(fs_error)?;
    let marked = local_disk(&file)
        .and_then(|()| identity_of(&file))
        .and_then(|identity| {
            mark(&file, identity, secret, ty, pid)?;
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

/// The reparse payload's name for a socket type.
fn reparse_type(ty: SockType) -> SocketType {
    match ty {
        SockType::Stream => SocketType::Stream,
        SockType::Dgram => SocketType::Dgram,
        SockType::SeqPacket => SocketType::SeqPacket,
    }
}

/// Volumes whose missing reparse-point support was logged, so that it is said once per volume
/// and not once per bind.
static LOGGED_PLAIN_VOLUMES: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];

/// Marks the file with our reparse point. A volume that cannot hold one (FAT, exFAT, Wine)
/// keeps a plain file whose content is the secret.
fn mark(
    file: &SocketFileHandle,
    identity: FileIdentity,
    secret: u128,
    ty: SockType,
    pid: u32,
) -> Result<(), FsError> {
    let buffer = SocketFile {
        socket_type: reparse_type(ty),
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
/// [`FsError::AccessDenied`] if it may not, [`FsError::NotFound`] if it is missing,
/// [`FsError::NotLocalDisk`] off local disks), and reads the binding's secret from our
/// reparse point, or from a plain file's content. Someone else's reparse point is no socket
/// file of ours ([`FsError::NotAFile`]).
pub fn open_for_connect(path: NtPath<'_>) -> Result<(FileIdentity, Option<u128>), FsError> {
    let path = path.as_bytes();
    if holds_stream_name(path) {
        return Err(FsError::Other(Errno::EINVAL));
    }
    if let Some(name) = without_trailing_separators(path) {
        // "name/" names a directory: one is no socket (a volume's root is one), a file is on
        // the way.
        let lookup = Lookup::new(name, FsError::IsADirectory)?;
        let parent = lookup.parent()?;
        lookup.leaf(&parent, 0, FILE_OPEN, FILE_DIRECTORY_FILE)?;
        return Err(FsError::IsADirectory);
    }
    let lookup = Lookup::new(path, FsError::IsADirectory)?;
    let parent = lookup.parent()?;
    let file = lookup.leaf(&parent, FILE_WRITE_DATA, FILE_OPEN, SOCKET_FILE)?;
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
    Ok((identity, read_secret(&lookup, &parent, identity)))
}

/// The secret in a plain socket file's content: 16 bytes, exactly. The caller's handle asked
/// only to write, so the file is opened again to read it, with the caller's access check
/// too: the driver never opens a name on the caller's behalf without it. The second open is
/// by the same name relative to the same open directory, and must give the same identity
/// (volume and 128-bit file ID) as the first. The first handle stays open meanwhile, so no
/// other file can have that identity (a file's ID is freed only when its last handle
/// closes): if the name was renamed or replaced between the two opens, the identities
/// differ and no secret is read. A caller that may write the file but not read it gets no
/// secret (ECONNREFUSED). That happens only where a plain file stands in for the reparse
/// point: on FAT and exFAT, which keep no permissions, and under Wine.
///
/// (Reopening through the first handle, with an empty name relative to it, would avoid the
/// second lookup; Wine refuses that open.)
fn read_secret(
    lookup: &Lookup<'_>,
    parent: &Directory<'_>,
    identity: FileIdentity,
) -> Option<u128> {
    let reader = lookup
        .leaf(parent, FILE_READ_DATA, FILE_OPEN, SOCKET_FILE)
        .ok()?;
    if identity_of(&reader).ok()? != identity {
        return None;
    }
    let mut bytes = [0u8; 17];
    let read = reader.read_at_start(&mut bytes)?;
    let secret: [u8; 16] = bytes.get(..16)?.try_into().ok()?;
    (read == 16).then(|| u128::from_le_bytes(secret))
}

/// 128 bits for a binding's secret, from the kernel's cryptographic random source
/// (`BCryptGenRandom` with the system-preferred RNG; under Wine, Wine's bcrypt, which reads
/// the host's). ENOMEM if the source fails: a binding is never keyed by a guessable secret.
pub fn secret() -> Result<u128, Errno> {
    let mut bytes = [0u8; 16];
    // SAFETY:
    // 1. No algorithm handle with BCRYPT_USE_SYSTEM_PREFERRED_RNG; the buffer is writable
    //    for the 16 bytes passed. We run at PASSIVE_LEVEL (the dispatch routine, before any
    //    lock is taken), within the function's DISPATCH_LEVEL limit.
    let status = unsafe {
        BCryptGenRandom(
            ptr::null_mut(),
            bytes.as_mut_ptr(),
            16,
            BCRYPT_USE_SYSTEM_PREFERRED_RNG,
        )
    };
    if status < 0 {
        kprint!("BCryptGenRandom failed: {:#010x}", status);
        return Err(Errno::ENOMEM);
    }
    Ok(u128::from_le_bytes(bytes))
}

/// The volume's identity and the file's 128-bit ID (FileIdInformation), or, where a file
/// system does not answer that class, the volume serial and the 64-bit file index. ReFS,
/// whose 64-bit index is documented as not unique, answers the 128-bit class; the fallback
/// serves file systems whose index is their whole ID (FAT).
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
