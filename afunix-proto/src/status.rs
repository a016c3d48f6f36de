//! How an errno travels through NTSTATUS and Winsock, without loss.
//!
//! - **NTSTATUS.** The driver completes an IRP with [`ErrnoCodes::to_ntstatus`]: a *customer*
//!   status code (bit 29 set) with severity `ERROR`, facility [`NTSTATUS_FACILITY`] (0x0AF,
//!   "AF") and the errno in the low 16 bits: `0xE0AF_0000 | errno`. User mode recovers the
//!   exact errno with [`errno_from_ntstatus`]. The one exception is `ECANCELED`, which maps to
//!   the system's `STATUS_CANCELLED` (0xC000_0120) so that CancelIoEx reports what Windows
//!   programs expect; `errno_from_ntstatus` maps it back. [`ErrnoCodes::nt_equivalent`] gives
//!   the closest *system* NTSTATUS for logs and for callers that must not see customer codes.
//! - **Winsock.** [`ErrnoCodes::to_wsa`] gives the WSA error code a provider reports (`WSAE*`,
//!   10000 + BSD number where one exists; errors Winsock has no name for map to the nearest).

use afunix_core::Errno;

/// The facility of afunix-rs customer NTSTATUS codes ("AF").
pub const NTSTATUS_FACILITY: u32 = 0x0AF;
/// Severity ERROR (0b11 << 30) | customer bit (1 << 29) | facility << 16.
const NTSTATUS_CUSTOMER_BASE: u32 = 0xC000_0000 | 0x2000_0000 | (NTSTATUS_FACILITY << 16);
/// `STATUS_CANCELLED`.
pub const STATUS_CANCELLED: u32 = 0xC000_0120;

/// The codes an [`Errno`] travels as.
pub trait ErrnoCodes {
    /// The NTSTATUS the driver completes an IRP with: `0xE0AF_0000 | errno`, except
    /// `ECANCELED`, which is `STATUS_CANCELLED`. Lossless: see [`errno_from_ntstatus`].
    fn to_ntstatus(self) -> u32;
    /// The closest system NTSTATUS, for logs and for callers that must not see customer
    /// codes.
    fn nt_equivalent(self) -> u32;
    /// The Winsock error code (`WSAE*`) a provider reports for this errno.
    fn to_wsa(self) -> u32;
}

impl ErrnoCodes for Errno {
    fn to_ntstatus(self) -> u32 {
        match self {
            Errno::ECANCELED => STATUS_CANCELLED,
            other => NTSTATUS_CUSTOMER_BASE | other as u32,
        }
    }

    fn nt_equivalent(self) -> u32 {
        match self {
            Errno::EPERM | Errno::EACCES => 0xC000_0022, // STATUS_ACCESS_DENIED
            Errno::ENOENT => 0xC000_0034,                // STATUS_OBJECT_NAME_NOT_FOUND
            Errno::EINTR | Errno::ECANCELED => STATUS_CANCELLED, // STATUS_CANCELLED
            Errno::EBADF | Errno::ENOTSOCK => 0xC000_0008, // STATUS_INVALID_HANDLE
            Errno::EAGAIN => 0xC000_00D8,                // STATUS_CANT_WAIT
            Errno::ENOMEM | Errno::ENOBUFS | Errno::ENFILE | Errno::EMFILE | Errno::ENOSPC => {
                0xC000_009A // STATUS_INSUFFICIENT_RESOURCES
            }
            Errno::EFAULT => 0xC000_0005,  // STATUS_ACCESS_VIOLATION
            Errno::EBUSY => 0xC000_00BF,   // STATUS_NETWORK_BUSY
            Errno::EEXIST => 0xC000_0035,  // STATUS_OBJECT_NAME_COLLISION
            Errno::ENOTDIR => 0xC000_0103, // STATUS_NOT_A_DIRECTORY
            Errno::EISDIR => 0xC000_00BA,  // STATUS_FILE_IS_A_DIRECTORY
            Errno::ELOOP => 0xC000_0280,   // STATUS_REPARSE_POINT_NOT_RESOLVED
            Errno::EROFS => 0xC000_00A2,   // STATUS_MEDIA_WRITE_PROTECTED
            Errno::ENAMETOOLONG => 0xC000_0033, // STATUS_OBJECT_NAME_INVALID
            Errno::EPIPE => 0xC000_014B,   // STATUS_PIPE_BROKEN
            Errno::EMSGSIZE => 0xC000_0023, // STATUS_BUFFER_TOO_SMALL
            Errno::EOPNOTSUPP => 0xC000_00BB, // STATUS_NOT_SUPPORTED
            Errno::EADDRINUSE => 0xC000_020A, // STATUS_ADDRESS_ALREADY_EXISTS
            Errno::EADDRNOTAVAIL => 0xC000_0207, // STATUS_INVALID_ADDRESS_COMPONENT
            Errno::ECONNABORTED => 0xC000_0241, // STATUS_CONNECTION_ABORTED
            Errno::ECONNRESET => 0xC000_020D, // STATUS_CONNECTION_RESET
            Errno::EISCONN => 0xC000_0238, // STATUS_ADDRESS_ALREADY_ASSOCIATED
            Errno::ENOTCONN => 0xC000_020C, // STATUS_CONNECTION_DISCONNECTED
            Errno::ETOOMANYREFS => 0xC000_0044, // STATUS_QUOTA_EXCEEDED
            Errno::ETIMEDOUT => 0xC000_00B5, // STATUS_IO_TIMEOUT
            Errno::ECONNREFUSED => 0xC000_0236, // STATUS_CONNECTION_REFUSED
            Errno::EALREADY | Errno::EINPROGRESS => 0xC000_0239, // STATUS_ADDRESS_NOT_ASSOCIATED
            Errno::EINVAL
            | Errno::EDESTADDRREQ
            | Errno::EPROTOTYPE
            | Errno::ENOPROTOOPT
            | Errno::EPROTONOSUPPORT
            | Errno::ESOCKTNOSUPPORT
            | Errno::EAFNOSUPPORT => 0xC000_000D, // STATUS_INVALID_PARAMETER
            Errno::ENOTTY => 0xC000_0010,  // STATUS_INVALID_DEVICE_REQUEST
        }
    }

    fn to_wsa(self) -> u32 {
        match self {
            Errno::EPERM | Errno::EACCES => 10013,   // WSAEACCES
            Errno::EINTR => 10004,                   // WSAEINTR
            Errno::EBADF => 10009,                   // WSAEBADF
            Errno::EAGAIN => 10035,                  // WSAEWOULDBLOCK
            Errno::ENOMEM | Errno::ENOBUFS => 10055, // WSAENOBUFS
            Errno::EFAULT => 10014,                  // WSAEFAULT
            Errno::ENOENT => 10022,                  // no WSAENOENT; afunix.sys reports WSAEINVAL
            Errno::EBUSY | Errno::EEXIST => 10048,   // WSAEADDRINUSE
            Errno::EINVAL => 10022,                  // WSAEINVAL
            Errno::ENOTDIR | Errno::EISDIR => 10022, // no WSA name: WSAEINVAL, as for ENOENT
            Errno::ELOOP => 10062,                   // WSAELOOP
            Errno::EROFS => 10013,                   // WSAEACCES
            Errno::ENFILE | Errno::EMFILE => 10024,  // WSAEMFILE
            Errno::ENOSPC => 10049,                  // WSAEADDRNOTAVAIL (no autobind name left)
            Errno::EPIPE => 10058,                   // WSAESHUTDOWN
            Errno::ENAMETOOLONG => 10063,            // WSAENAMETOOLONG
            Errno::ENOTSOCK => 10038,                // WSAENOTSOCK
            Errno::EDESTADDRREQ => 10039,            // WSAEDESTADDRREQ
            Errno::EMSGSIZE => 10040,                // WSAEMSGSIZE
            Errno::EPROTOTYPE => 10041,              // WSAEPROTOTYPE
            Errno::ENOPROTOOPT => 10042,             // WSAENOPROTOOPT
            Errno::EPROTONOSUPPORT => 10043,         // WSAEPROTONOSUPPORT
            Errno::ESOCKTNOSUPPORT => 10044,         // WSAESOCKTNOSUPPORT
            Errno::ENOTTY => 10045,                  // WSAEOPNOTSUPP: no such control
            Errno::EOPNOTSUPP => 10045,              // WSAEOPNOTSUPP
            Errno::EAFNOSUPPORT => 10047,            // WSAEAFNOSUPPORT
            Errno::EADDRINUSE => 10048,              // WSAEADDRINUSE
            Errno::EADDRNOTAVAIL => 10049,           // WSAEADDRNOTAVAIL
            Errno::ECONNABORTED => 10053,            // WSAECONNABORTED
            Errno::ECONNRESET => 10054,              // WSAECONNRESET
            Errno::EISCONN => 10056,                 // WSAEISCONN
            Errno::ENOTCONN => 10057,                // WSAENOTCONN
            Errno::ETOOMANYREFS => 10059,            // WSAETOOMANYREFS
            Errno::ETIMEDOUT => 10060,               // WSAETIMEDOUT
            Errno::ECONNREFUSED => 10061,            // WSAECONNREFUSED
            Errno::EALREADY => 10037,                // WSAEALREADY
            Errno::EINPROGRESS => 10036,             // WSAEINPROGRESS
            Errno::ECANCELED => 995, // ERROR_OPERATION_ABORTED / WSA_OPERATION_ABORTED
        }
    }
}

/// The errno carried by an NTSTATUS made by [`ErrnoCodes::to_ntstatus`].
#[must_use]
pub fn errno_from_ntstatus(status: u32) -> Option<Errno> {
    if status == STATUS_CANCELLED {
        return Some(Errno::ECANCELED);
    }
    if status & 0xFFFF_0000 != NTSTATUS_CUSTOMER_BASE {
        return None;
    }
    u16::try_from(status & 0xFFFF)
        .ok()
        .and_then(Errno::from_number)
}

#[cfg(test)]
mod tests {
    use afunix_core::ALL_ERRNOS;

    use super::*;

    #[test]
    fn ntstatus_round_trips_every_errno() {
        for e in ALL_ERRNOS {
            let st = e.to_ntstatus();
            assert_eq!(errno_from_ntstatus(st), Some(e), "{e}");
            assert!(st & 0xC000_0000 == 0xC000_0000, "{e} is an error status");
            assert_eq!(Errno::from_number(e.number()), Some(e));
            assert!(e.to_wsa() >= 995, "{e}");
            assert!(e.nt_equivalent() & 0xC000_0000 == 0xC000_0000, "{e}");
        }
        assert_eq!(Errno::ECONNRESET.to_ntstatus(), 0xE0AF_0068);
        assert_eq!(Errno::ECANCELED.to_ntstatus(), STATUS_CANCELLED);
        assert_eq!(errno_from_ntstatus(0xC000_0001), None);
    }

    #[test]
    fn linux_numbers_and_wsa_codes() {
        assert_eq!(Errno::EAGAIN.number(), 11);
        assert_eq!(Errno::ECONNREFUSED.number(), 111);
        assert_eq!(Errno::ENOTDIR.number(), 20);
        assert_eq!(Errno::ELOOP.number(), 40);
        assert_eq!(Errno::EAGAIN.to_wsa(), 10035);
        assert_eq!(Errno::ECONNRESET.to_wsa(), 10054);
        assert_eq!(Errno::EPIPE.to_wsa(), 10058);
        assert_eq!(Errno::ELOOP.to_wsa(), 10062);
    }
}
