//! Linux errno values: the engine's error language.
//!
//! The engine speaks Linux errno names and numbers (x86-64 / asm-generic values). How they
//! travel through NTSTATUS and Winsock without loss is `afunix-proto`'s business
//! (`afunix_proto::status`), not the engine's.

/// A Linux errno. The discriminant is the Linux number. Not `non_exhaustive`: the mappings
/// in `afunix-proto` match every variant, so a new errno cannot go unmapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u16)]
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
    /// Not a directory (a path runs through a file).
    ENOTDIR = 20,
    /// Is a directory.
    EISDIR = 21,
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
    /// Read-only file system.
    EROFS = 30,
    /// Broken pipe.
    EPIPE = 32,
    /// File name too long.
    ENAMETOOLONG = 36,
    /// Too many levels of symbolic links.
    ELOOP = 40,
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
    /// Too many references: the sender has too many objects in flight (SCM_RIGHTS), or an
    /// object would nest too deep.
    ETOOMANYREFS = 109,
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
pub const ALL_ERRNOS: [Errno; 43] = [
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
    Errno::ENOTDIR,
    Errno::EISDIR,
    Errno::EINVAL,
    Errno::ENFILE,
    Errno::EMFILE,
    Errno::ENOTTY,
    Errno::ENOSPC,
    Errno::EROFS,
    Errno::EPIPE,
    Errno::ENAMETOOLONG,
    Errno::ELOOP,
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
    Errno::ETOOMANYREFS,
    Errno::ETIMEDOUT,
    Errno::ECONNREFUSED,
    Errno::EALREADY,
    Errno::EINPROGRESS,
    Errno::ECANCELED,
];

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
            Self::ENOTDIR => "ENOTDIR",
            Self::EISDIR => "EISDIR",
            Self::EINVAL => "EINVAL",
            Self::ENFILE => "ENFILE",
            Self::EMFILE => "EMFILE",
            Self::ENOSPC => "ENOSPC",
            Self::EROFS => "EROFS",
            Self::EPIPE => "EPIPE",
            Self::ELOOP => "ELOOP",
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
            Self::ETOOMANYREFS => "ETOOMANYREFS",
            Self::ETIMEDOUT => "ETIMEDOUT",
            Self::ECONNREFUSED => "ECONNREFUSED",
            Self::EALREADY => "EALREADY",
            Self::EINPROGRESS => "EINPROGRESS",
            Self::ECANCELED => "ECANCELED",
        }
    }
}

impl core::fmt::Display for Errno {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} ({})", self.name(), self.number())
    }
}
