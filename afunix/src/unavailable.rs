//! The error for "the driver is not there": when `\\.\AfUnixRs` cannot be opened, every entry
//! point (bind, connect, pair, socket, accept, and the tools' device access) fails with a
//! [`DriverUnavailable`] that names the cause, never with an error that seems to be about the
//! socket path.
//!
//! Portable, so that the classification and the messages are tested on any host; only Windows
//! ever makes one.

use std::fmt;
use std::io;

/// Win32 error codes that mean the device does not exist: the driver is not loaded (not
/// installed, stopped, or its host process is gone).
const NOT_RUNNING_CODES: [i32; 3] = [
    2,  // ERROR_FILE_NOT_FOUND: what CreateFileW gives for a missing device, on Windows and Wine
    3,  // ERROR_PATH_NOT_FOUND
    55, // ERROR_DEV_NOT_EXIST
];

/// `ERROR_ACCESS_DENIED`.
const ACCESS_DENIED: i32 = 5;

/// The afunixrs driver could not be reached: its device `\\.\AfUnixRs` did not open.
///
/// Carried inside the `io::Error` that the library's calls return (find it with
/// [`DriverUnavailable::of`]). The error's `kind()` says which case it is:
///
/// - [`io::ErrorKind::NetworkDown`]: the driver is not running (the device does not exist:
///   the driver is not installed, is stopped, or its host died). Winsock's `WSAENETDOWN`,
///   "the network subsystem has failed", is the same condition for a Winsock program.
/// - [`io::ErrorKind::PermissionDenied`]: the device exists but this process may not open it.
/// - anything else: the device exists but did not open, for the reason [`Self::os_error`]
///   gives.
#[derive(Debug)]
pub struct DriverUnavailable {
    running: bool,
    os_error: io::Error,
}

impl DriverUnavailable {
    /// The error to return when opening the device failed with Win32 error `code`.
    #[cfg_attr(not(windows), allow(dead_code))]
    pub(crate) fn from_open_error(code: i32) -> io::Error {
        let running = !NOT_RUNNING_CODES.contains(&code);
        let kind = if !running {
            io::ErrorKind::NetworkDown
        } else if code == ACCESS_DENIED {
            io::ErrorKind::PermissionDenied
        } else {
            io::ErrorKind::Other
        };
        io::Error::new(
            kind,
            DriverUnavailable {
                running,
                os_error: io::Error::from_raw_os_error(code),
            },
        )
    }

    /// The `DriverUnavailable` inside `error`, if that is what it is.
    pub fn of(error: &io::Error) -> Option<&DriverUnavailable> {
        error.get_ref()?.downcast_ref::<DriverUnavailable>()
    }

    /// True when the driver is not running (the device does not exist), false when the
    /// device exists but did not open.
    pub fn not_running(&self) -> bool {
        !self.running
    }

    /// The operating system's own error from opening the device.
    pub fn os_error(&self) -> &io::Error {
        &self.os_error
    }
}

impl fmt::Display for DriverUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let device = afunix_proto::names::USER_DEVICE_PATH;
        let service = afunix_proto::names::SERVICE_NAME;
        if self.running {
            write!(
                f,
                "cannot open the {service} driver's device {device}: {}",
                self.os_error
            )
        } else {
            write!(
                f,
                "the {service} driver is not running (there is no device {device}): start it \
                 with `sc start {service}`, or install and start it with `afunixctl install`"
            )
        }
    }
}

impl std::error::Error for DriverUnavailable {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.os_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_device_is_the_driver_not_running() {
        for code in NOT_RUNNING_CODES {
            let e = DriverUnavailable::from_open_error(code);
            assert_eq!(e.kind(), io::ErrorKind::NetworkDown, "code {code}");
            let inner = DriverUnavailable::of(&e).expect("a DriverUnavailable inside");
            assert!(inner.not_running());
            assert_eq!(inner.os_error().raw_os_error(), Some(code));
            let text = e.to_string();
            assert_eq!(
                text,
                "the afunixrs driver is not running (there is no device \\\\.\\AfUnixRs): \
                 start it with `sc start afunixrs`, or install and start it with \
                 `afunixctl install`"
            );
            // Nothing that reads as a missing socket file.
            assert!(!text.to_lowercase().contains("file not found"), "{text}");
            assert!(!text.contains("No such file"), "{text}");
        }
    }

    #[test]
    fn a_device_that_does_not_open_says_so_with_the_reason() {
        let e = DriverUnavailable::from_open_error(ACCESS_DENIED);
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        let inner = DriverUnavailable::of(&e).expect("a DriverUnavailable inside");
        assert!(!inner.not_running());
        let text = e.to_string();
        assert!(
            text.starts_with("cannot open the afunixrs driver's device \\\\.\\AfUnixRs: "),
            "{text}"
        );
        assert!(text.ends_with(&io::Error::from_raw_os_error(5).to_string()));

        // ERROR_NOT_ENOUGH_MEMORY: some other reason, kept as the OS gave it.
        let e = DriverUnavailable::from_open_error(8);
        assert_eq!(e.kind(), io::ErrorKind::Other);
        assert_eq!(
            DriverUnavailable::of(&e).map(|d| d.os_error().raw_os_error()),
            Some(Some(8))
        );
    }

    #[test]
    fn other_errors_are_not_mistaken_for_it() {
        let plain = io::Error::from_raw_os_error(2);
        assert!(DriverUnavailable::of(&plain).is_none());
        let other = io::Error::other("something else");
        assert!(DriverUnavailable::of(&other).is_none());
    }
}
