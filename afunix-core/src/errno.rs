//! Linux errno values, and how they travel through NTSTATUS and Winsock.
//!
//! The engine speaks Linux errno names and numbers (x86-64 / asm-generic values). Later layers
//! carry them without loss:
//!
//! - **NTSTATUS.** The driver completes an IRP with [`Errno::to_ntstatus`]: a *customer* status
//!   code (bit 29 set) with severity `ERROR`, facility [`NTSTATUS_FACILITY`] (0x0AF, "AF") and
//!   the errno in the low 16 bits: `0xE0AF_0000 | errno`. User mode recovers the exact errno
//!   with [`Errno::from_ntstatus`]. The one exception is [`Errno::ECANCELED`], which maps to
//!   the system's `STATUS_CANCELLED` (0xC000_0120) so that CancelIoEx reports what Windows
//!   programs expect; `from_ntstatus` maps it back. [`Errno::nt_equivalent`] gives the closest
//!   *system* NTSTATUS for logs and for callers that must not see customer codes.
//! - **Winsock.** [`Errno::to_wsa`] gives the WSA error code a provider reports (`WSAE*`,
//!   10000 + BSD number where one exists; errors Winsock has no name for map to the nearest).

/// A Linux errno. The discriminant is the Linux number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u16)]
#[non_exhaustive]
pub enum Errno {
    /// Operation not permitted.
    EPERM = 1,
    /// No such file or directory.
    ENOENT = 2,
    /// Interrupted system call.
    EINTR = 4,
    /// Bad file descriptor (here: a stale or unknown `SocketId`).
    EBADF = 9,
    /// Resource temporarily unavailable (would block).
    EAGAIN = 11,
    /// Out of memory.
    ENOMEM = 12,
    /// Permission denied.
    EACCES = 13,
    /// Bad address.
    EFAULT = 14,
    /// Device or resource busy.
    EBUSY = 16,
    /// File exists.
    EEXIST = 17,
    /// Invalid argument.
    EINVAL = 22,
    /// Too many open files in system (the socket table is full).
    ENFILE = 23,
    /// Too many open files.
    EMFILE = 24,
    /// Inappropriate ioctl for device (an IOCTL the driver does not define).
    ENOTTY = 25,
    /// No space left on device (autobind ran out of names).
    ENOSPC = 28,
    /// Broken pipe.
    EPIPE = 32,
    /// File name too long.
    ENAMETOOLONG = 36,
    /// Socket operation on non-socket.
    ENOTSOCK = 88,
    /// Destination address required.
    EDESTADDRREQ = 89,
    /// Message too long.
    EMSGSIZE = 90,
    /// Protocol wrong type for socket.
    EPROTOTYPE = 91,
    /// Protocol not available.
    ENOPROTOOPT = 92,
    /// Protocol not supported.
    EPROTONOSUPPORT = 93,
    /// Socket type not supported (`unix_create` for a type it does not know).
    ESOCKTNOSUPPORT = 94,
    /// Operation not supported.
    EOPNOTSUPP = 95,
    /// Address family not supported.
    EAFNOSUPPORT = 97,
    /// Address already in use.
    EADDRINUSE = 98,
    /// Cannot assign requested address.
    EADDRNOTAVAIL = 99,
    /// Software caused connection abort.
    ECONNABORTED = 103,
    /// Connection reset by peer.
    ECONNRESET = 104,
    /// No buffer space available.
    ENOBUFS = 105,
    /// Transport endpoint is already connected.
    EISCONN = 106,
    /// Transport endpoint is not connected.
    ENOTCONN = 107,
    /// Connection timed out.
    ETIMEDOUT = 110,
    /// Connection refused.
    ECONNREFUSED = 111,
    /// Operation already in progress.
    EALREADY = 114,
    /// Operation now in progress.
    EINPROGRESS = 115,
    /// Operation canceled (cancel(token), or the socket closed under a pending operation).
    ECANCELED = 125,
}

/// Every errno the engine knows, for mapping tables and tests.
pub const ALL_ERRNOS: [Errno; 38] = [
    Errno::EPERM,
    Errno::ENOENT,
    Errno::EINTR,
    Errno::EBADF,
    Errno::EAGAIN,
    Errno::ENOMEM,
    Errno::EACCES,
    Errno::EFAULT,
    Errno::EBUSY,
    Errno::EEXIST,
    Errno::EINVAL,
    Errno::ENFILE,
    Errno::EMFILE,
    Errno::ENOTTY,
    Errno::ENOSPC,
    Errno::EPIPE,
    Errno::ENAMETOOLONG,
    Errno::ENOTSOCK,
    Errno::EDESTADDRREQ,
    Errno::EMSGSIZE,
    Errno::EPROTOTYPE,
    Errno::ENOPROTOOPT,
    Errno::EPROTONOSUPPORT,
    Errno::ESOCKTNOSUPPORT,
    Errno::EOPNOTSUPP,
    Errno::EAFNOSUPPORT,
    Errno::EADDRINUSE,
    Errno::EADDRNOTAVAIL,
    Errno::ECONNABORTED,
    Errno::ECONNRESET,
    Errno::ENOBUFS,
    Errno::EISCONN,
    Errno::ENOTCONN,
    Errno::ETIMEDOUT,
    Errno::ECONNREFUSED,
    Errno::EALREADY,
    Errno::EINPROGRESS,
    Errno::ECANCELED,
];

/// The facility of afunix-rs customer NTSTATUS codes ("AF").
pub const NTSTATUS_FACILITY: u32 = 0x0AF;
/// Severity ERROR (0b11 << 30) | customer bit (1 << 29) | facility << 16.
const NTSTATUS_CUSTOMER_BASE: u32 = 0xC000_0000 | 0x2000_0000 | (NTSTATUS_FACILITY << 16);
/// `STATUS_CANCELLED`.
pub const STATUS_CANCELLED: u32 = 0xC000_0120;

impl Errno {
    /// The Linux errno number.
    #[must_use]
    pub const fn number(self) -> u16 {
        self as u16
    }

    /// The errno with Linux number `n`, if the engine knows it.
    #[must_use]
    pub fn from_number(n: u16) -> Option<Self> {
        ALL_ERRNOS.iter().copied().find(|e| e.number() == n)
    }

    /// The Linux name, for reports and traces.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::EPERM => "EPERM",
            Self::ENOENT => "ENOENT",
            Self::EINTR => "EINTR",
            Self::EBADF => "EBADF",
            Self::EAGAIN => "EAGAIN",
            Self::ENOMEM => "ENOMEM",
            Self::EACCES => "EACCES",
            Self::EFAULT => "EFAULT",
            Self::EBUSY => "EBUSY",
            Self::EEXIST => "EEXIST",
            Self::EINVAL => "EINVAL",
            Self::ENFILE => "ENFILE",
            Self::EMFILE => "EMFILE",
            Self::ENOSPC => "ENOSPC",
            Self::EPIPE => "EPIPE",
            Self::ENAMETOOLONG => "ENAMETOOLONG",
            Self::ENOTSOCK => "ENOTSOCK",
            Self::EDESTADDRREQ => "EDESTADDRREQ",
            Self::EMSGSIZE => "EMSGSIZE",
            Self::EPROTOTYPE => "EPROTOTYPE",
            Self::ENOPROTOOPT => "ENOPROTOOPT",
            Self::EPROTONOSUPPORT => "EPROTONOSUPPORT",
            Self::ESOCKTNOSUPPORT => "ESOCKTNOSUPPORT",
            Self::ENOTTY => "ENOTTY",
            Self::EOPNOTSUPP => "EOPNOTSUPP",
            Self::EAFNOSUPPORT => "EAFNOSUPPORT",
            Self::EADDRINUSE => "EADDRINUSE",
            Self::EADDRNOTAVAIL => "EADDRNOTAVAIL",
            Self::ECONNABORTED => "ECONNABORTED",
            Self::ECONNRESET => "ECONNRESET",
            Self::ENOBUFS => "ENOBUFS",
            Self::EISCONN => "EISCONN",
            Self::ENOTCONN => "ENOTCONN",
            Self::ETIMEDOUT => "ETIMEDOUT",
            Self::ECONNREFUSED => "ECONNREFUSED",
            Self::EALREADY => "EALREADY",
            Self::EINPROGRESS => "EINPROGRESS",
            Self::ECANCELED => "ECANCELED",
        }
    }

    /// The NTSTATUS the driver completes an IRP with: `0xE0AF_0000 | errno`, except
    /// `ECANCELED`, which is `STATUS_CANCELLED`. Lossless: see [`Errno::from_ntstatus`].
    #[must_use]
    pub const fn to_ntstatus(self) -> u32 {
        match self {
            Self::ECANCELED => STATUS_CANCELLED,
            other => NTSTATUS_CUSTOMER_BASE | other as u32,
        }
    }

    /// The errno carried by an NTSTATUS made by [`Errno::to_ntstatus`].
    #[must_use]
    pub fn from_ntstatus(status: u32) -> Option<Self> {
        if status == STATUS_CANCELLED {
            return Some(Self::ECANCELED);
        }
        if status & 0xFFFF_0000 != NTSTATUS_CUSTOMER_BASE {
            return None;
        }
        u16::try_from(status & 0xFFFF)
            .ok()
            .and_then(Self::from_number)
    }

    /// The closest system NTSTATUS, for logs and for callers that must not see customer codes.
    #[must_use]
    pub const fn nt_equivalent(self) -> u32 {
        match self {
            Self::EPERM | Self::EACCES => 0xC000_0022, // STATUS_ACCESS_DENIED
            Self::ENOENT => 0xC000_0034,               // STATUS_OBJECT_NAME_NOT_FOUND
            Self::EINTR | Self::ECANCELED => STATUS_CANCELLED, // STATUS_CANCELLED
            Self::EBADF | Self::ENOTSOCK => 0xC000_0008, // STATUS_INVALID_HANDLE
            Self::EAGAIN => 0xC000_00D8,               // STATUS_CANT_WAIT
            Self::ENOMEM | Self::ENOBUFS | Self::ENFILE | Self::EMFILE | Self::ENOSPC => {
                0xC000_009A // STATUS_INSUFFICIENT_RESOURCES
            }
            Self::EFAULT => 0xC000_0005,       // STATUS_ACCESS_VIOLATION
            Self::EBUSY => 0xC000_00BF,        // STATUS_NETWORK_BUSY
            Self::EEXIST => 0xC000_0035,       // STATUS_OBJECT_NAME_COLLISION
            Self::ENAMETOOLONG => 0xC000_0033, // STATUS_OBJECT_NAME_INVALID
            Self::EPIPE => 0xC000_014B,        // STATUS_PIPE_BROKEN
            Self::EMSGSIZE => 0xC000_0023,     // STATUS_BUFFER_TOO_SMALL
            Self::EOPNOTSUPP => 0xC000_00BB,   // STATUS_NOT_SUPPORTED
            Self::EADDRINUSE => 0xC000_020A,   // STATUS_ADDRESS_ALREADY_EXISTS
            Self::EADDRNOTAVAIL => 0xC000_0207, // STATUS_INVALID_ADDRESS_COMPONENT
            Self::ECONNABORTED => 0xC000_0241, // STATUS_CONNECTION_ABORTED
            Self::ECONNRESET => 0xC000_020D,   // STATUS_CONNECTION_RESET
            Self::EISCONN => 0xC000_0238,      // STATUS_ADDRESS_ALREADY_ASSOCIATED
            Self::ENOTCONN => 0xC000_020C,     // STATUS_CONNECTION_DISCONNECTED
            Self::ETIMEDOUT => 0xC000_00B5,    // STATUS_IO_TIMEOUT
            Self::ECONNREFUSED => 0xC000_0236, // STATUS_CONNECTION_REFUSED
            Self::EALREADY | Self::EINPROGRESS => 0xC000_0239, // STATUS_ADDRESS_NOT_ASSOCIATED
            Self::EINVAL
            | Self::EDESTADDRREQ
            | Self::EPROTOTYPE
            | Self::ENOPROTOOPT
            | Self::EPROTONOSUPPORT
            | Self::ESOCKTNOSUPPORT
            | Self::EAFNOSUPPORT => 0xC000_000D, // STATUS_INVALID_PARAMETER
            Self::ENOTTY => 0xC000_0010,       // STATUS_INVALID_DEVICE_REQUEST
        }
    }

    /// The Winsock error code (`WSAE*`) a provider reports for this errno.
    #[must_use]
    pub const fn to_wsa(self) -> u32 {
        match self {
            Self::EPERM | Self::EACCES => 10013,   // WSAEACCES
            Self::EINTR => 10004,                  // WSAEINTR
            Self::EBADF => 10009,                  // WSAEBADF
            Self::EAGAIN => 10035,                 // WSAEWOULDBLOCK
            Self::ENOMEM | Self::ENOBUFS => 10055, // WSAENOBUFS
            Self::EFAULT => 10014,                 // WSAEFAULT
            Self::ENOENT => 10022,                 // no WSAENOENT; afunix.sys reports WSAEINVAL
            Self::EBUSY | Self::EEXIST => 10048,   // WSAEADDRINUSE
            Self::EINVAL => 10022,                 // WSAEINVAL
            Self::ENFILE | Self::EMFILE => 10024,  // WSAEMFILE
            Self::ENOSPC => 10049,                 // WSAEADDRNOTAVAIL (no autobind name left)
            Self::EPIPE => 10058,                  // WSAESHUTDOWN
            Self::ENAMETOOLONG => 10063,           // WSAENAMETOOLONG
            Self::ENOTSOCK => 10038,               // WSAENOTSOCK
            Self::EDESTADDRREQ => 10039,           // WSAEDESTADDRREQ
            Self::EMSGSIZE => 10040,               // WSAEMSGSIZE
            Self::EPROTOTYPE => 10041,             // WSAEPROTOTYPE
            Self::ENOPROTOOPT => 10042,            // WSAENOPROTOOPT
            Self::EPROTONOSUPPORT => 10043,        // WSAEPROTONOSUPPORT
            Self::ESOCKTNOSUPPORT => 10044,        // WSAESOCKTNOSUPPORT
            Self::ENOTTY => 10045,                 // WSAEOPNOTSUPP: no such control
            Self::EOPNOTSUPP => 10045,             // WSAEOPNOTSUPP
            Self::EAFNOSUPPORT => 10047,           // WSAEAFNOSUPPORT
            Self::EADDRINUSE => 10048,             // WSAEADDRINUSE
            Self::EADDRNOTAVAIL => 10049,          // WSAEADDRNOTAVAIL
            Self::ECONNABORTED => 10053,           // WSAECONNABORTED
            Self::ECONNRESET => 10054,             // WSAECONNRESET
            Self::EISCONN => 10056,                // WSAEISCONN
            Self::ENOTCONN => 10057,               // WSAENOTCONN
            Self::ETIMEDOUT => 10060,              // WSAETIMEDOUT
            Self::ECONNREFUSED => 10061,           // WSAECONNREFUSED
            Self::EALREADY => 10037,               // WSAEALREADY
            Self::EINPROGRESS => 10036,            // WSAEINPROGRESS
            Self::ECANCELED => 995, // ERROR_OPERATION_ABORTED / WSA_OPERATION_ABORTED
        }
    }
}

impl core::fmt::Display for Errno {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} ({})", self.name(), self.number())
    }
}
