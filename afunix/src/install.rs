//! The portable decisions behind `afunixctl install` and `uninstall`: the catalog order that
//! `--prefer` writes, whether a service's configured binary is the file we install, and how a
//! failed step is reported.
//!
//! The Windows calls are in `crate::sys` (Windows only); what is here is plain logic, tested
//! on every host.

use std::fmt;

/// The catalog order `install --prefer` writes: every entry of ours first, in the order the
/// catalog lists them, then every other entry in its existing relative order.
///
/// `catalog` is `(catalog entry id, is ours)` in the order `WSCEnumProtocols` returns it.
/// Returns `None` when the catalog is already in that order, so nothing need be written.
///
/// The other entries keep their relative order, so removing ours again (uninstall) leaves the
/// catalog in exactly the order it had before install.
#[must_use]
pub fn preferred_order(catalog: &[(u32, bool)]) -> Option<Vec<u32>> {
    let ours = catalog.iter().filter(|(_, mine)| *mine);
    let others = catalog.iter().filter(|(_, mine)| !*mine);
    let order: Vec<u32> = ours.chain(others).map(|(id, _)| *id).collect();
    let current: Vec<u32> = catalog.iter().map(|(id, _)| *id).collect();
    (order != current).then_some(order)
}

/// Whether a service's configured binary path names `installed`, the full Win32 path of the
/// file we install (for example `C:\Windows\system32\drivers\afunixrs.sys`).
///
/// The Service Control Manager and setupapi spell the same file in several ways:
/// `\??\C:\...`, `\SystemRoot\System32\drivers\...`, `System32\drivers\...` (relative to the
/// Windows directory), with any case. `windows_dir` is the Windows directory (`C:\Windows`).
#[must_use]
pub fn same_binary_path(configured: &str, installed: &str, windows_dir: &str) -> bool {
    normalize_path(configured, windows_dir) == normalize_path(installed, windows_dir)
}

fn normalize_path(path: &str, windows_dir: &str) -> String {
    let path = path.trim().trim_matches('"');
    let windows_dir = windows_dir.trim_end_matches('\\');
    let lower = path.to_ascii_lowercase();
    let full = if let Some(rest) = lower.strip_prefix(r"\??\") {
        rest.to_owned()
    } else if let Some(rest) = lower.strip_prefix(r"\systemroot\") {
        format!(r"{windows_dir}\{rest}")
    } else if lower.starts_with(r"system32\") {
        format!(r"{windows_dir}\{lower}")
    } else {
        lower
    };
    full.to_ascii_lowercase().replace('/', "\\")
}

/// A step of install or uninstall that failed, with the Windows error it failed with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepError {
    /// What was being done, e.g. `WSCInstallProvider` or `copying a.sys to b.sys`.
    pub step: String,
    /// The Windows error code (Win32 or WSA), when there is one.
    pub code: Option<i32>,
    /// The system's own text for the error, or the whole reason when there is no code.
    pub detail: String,
    /// What the user can do about it.
    pub hint: Option<String>,
}

impl StepError {
    /// A failure with a Windows error code; `detail` is the system's message for it.
    pub fn code(step: impl Into<String>, code: i32, detail: impl Into<String>) -> Self {
        StepError {
            step: step.into(),
            code: Some(code),
            detail: detail.into(),
            hint: None,
        }
    }

    /// A failure that has no error code (a check of ours that did not hold).
    pub fn reason(step: impl Into<String>, reason: impl Into<String>) -> Self {
        StepError {
            step: step.into(),
            code: None,
            detail: reason.into(),
            hint: None,
        }
    }

    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for StepError {
    /// `WSCInstallProvider failed: WSAEACCES (10013)`, or with the system's text when the code
    /// has no name here.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) => match error_name(code) {
                Some(name) => write!(f, "{} failed: {name} ({code})", self.step)?,
                None => write!(f, "{} failed: error {code}: {}", self.step, self.detail)?,
            },
            None => write!(f, "{} failed: {}", self.step, self.detail)?,
        }
        if let Some(hint) = &self.hint {
            write!(f, "; {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for StepError {}

/// The symbolic name of a Win32 or Winsock error code that install and uninstall can meet.
#[must_use]
pub fn error_name(code: i32) -> Option<&'static str> {
    Some(match code {
        2 => "ERROR_FILE_NOT_FOUND",
        3 => "ERROR_PATH_NOT_FOUND",
        5 => "ERROR_ACCESS_DENIED",
        6 => "ERROR_INVALID_HANDLE",
        8 => "ERROR_NOT_ENOUGH_MEMORY",
        32 => "ERROR_SHARING_VIOLATION",
        87 => "ERROR_INVALID_PARAMETER",
        122 => "ERROR_INSUFFICIENT_BUFFER",
        123 => "ERROR_INVALID_NAME",
        193 => "ERROR_BAD_EXE_FORMAT",
        577 => "ERROR_INVALID_IMAGE_HASH",
        1051 => "ERROR_DEPENDENT_SERVICES_RUNNING",
        1052 => "ERROR_INVALID_SERVICE_CONTROL",
        1053 => "ERROR_SERVICE_REQUEST_TIMEOUT",
        1056 => "ERROR_SERVICE_ALREADY_RUNNING",
        1058 => "ERROR_SERVICE_DISABLED",
        1060 => "ERROR_SERVICE_DOES_NOT_EXIST",
        1061 => "ERROR_SERVICE_CANNOT_ACCEPT_CTRL",
        1062 => "ERROR_SERVICE_NOT_ACTIVE",
        1072 => "ERROR_SERVICE_MARKED_FOR_DELETE",
        1073 => "ERROR_SERVICE_EXISTS",
        1275 => "ERROR_DRIVER_BLOCKED",
        10013 => "WSAEACCES",
        10014 => "WSAEFAULT",
        10022 => "WSAEINVAL",
        10055 => "WSAENOBUFS",
        10091 => "WSASYSNOTREADY",
        10093 => "WSANOTINITIALISED",
        10104 => "WSAEINVALIDPROCTABLE",
        10105 => "WSAEINVALIDPROVIDER",
        10106 => "WSAEPROVIDERFAILEDINIT",
        10107 => "WSASYSCALLFAILURE",
        11002 => "WSATRY_AGAIN",
        11003 => "WSANO_RECOVERY",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    mod preferred_order {
        use super::*;

        #[test]
        fn moves_ours_first_and_keeps_the_others_in_order() {
            let catalog = [(1001, false), (1002, false), (1019, true), (1003, false)];
            assert_eq!(
                preferred_order(&catalog),
                Some(vec![1019, 1001, 1002, 1003])
            );
        }

        #[test]
        fn keeps_several_of_ours_in_their_own_order() {
            let catalog = [(7, false), (30, true), (8, false), (31, true), (9, false)];
            assert_eq!(preferred_order(&catalog), Some(vec![30, 31, 7, 8, 9]));
        }

        #[test]
        fn writes_nothing_when_ours_are_already_first() {
            assert_eq!(preferred_order(&[(30, true), (1, false), (2, false)]), None);
            assert_eq!(preferred_order(&[(30, true), (31, true), (2, false)]), None);
        }

        #[test]
        fn writes_nothing_without_entries_of_ours() {
            assert_eq!(preferred_order(&[(1, false), (2, false)]), None);
            assert_eq!(preferred_order(&[]), None);
        }

        #[test]
        fn removing_ours_afterwards_gives_back_the_original_order() {
            let before = [1001u32, 1002, 1005, 1006];
            let mut installed: Vec<(u32, bool)> = before.iter().map(|&id| (id, false)).collect();
            installed.push((1019, true)); // WSCInstallProvider appends.
            let preferred = preferred_order(&installed).unwrap();
            let after_uninstall: Vec<u32> =
                preferred.into_iter().filter(|&id| id != 1019).collect();
            assert_eq!(after_uninstall, before);
        }
    }

    mod binary_path {
        use super::*;

        const WANTED: &str = r"C:\windows\system32\drivers\afunixrs.sys";

        #[test]
        fn every_spelling_of_the_same_file_matches() {
            for configured in [
                r"C:\windows\system32\drivers\afunixrs.sys",
                r"C:\Windows\System32\DRIVERS\afunixrs.sys",
                r"\??\C:\windows\system32\drivers\afunixrs.sys",
                r"\SystemRoot\System32\drivers\afunixrs.sys",
                r"System32\drivers\afunixrs.sys",
                r#""C:\windows\system32\drivers\afunixrs.sys""#,
            ] {
                assert!(
                    same_binary_path(configured, WANTED, r"C:\windows\"),
                    "{configured}"
                );
            }
        }

        #[test]
        fn another_file_does_not_match() {
            for configured in [
                r"C:\temp\afunixrs.sys",
                r"\SystemRoot\System32\drivers\afunix.sys",
                r"D:\windows\system32\drivers\afunixrs.sys",
            ] {
                assert!(
                    !same_binary_path(configured, WANTED, r"C:\windows"),
                    "{configured}"
                );
            }
        }
    }

    mod step_error {
        use super::*;

        #[test]
        fn names_the_step_and_the_windows_error() {
            let e = StepError::code("WSCInstallProvider", 10013, "An attempt was made ...");
            assert_eq!(
                e.to_string(),
                "WSCInstallProvider failed: WSAEACCES (10013)"
            );
        }

        #[test]
        fn unnamed_codes_carry_the_system_text() {
            let e = StepError::code("StartServiceW", 4242, "Something odd.");
            assert_eq!(
                e.to_string(),
                "StartServiceW failed: error 4242: Something odd."
            );
        }

        #[test]
        fn hints_follow_the_error() {
            let e = StepError::code(r"deleting C:\x.dll", 5, "Access is denied.")
                .with_hint("run afunixctl as Administrator");
            assert_eq!(
                e.to_string(),
                r"deleting C:\x.dll failed: ERROR_ACCESS_DENIED (5); run afunixctl as Administrator"
            );
            let e = StepError::reason("waiting for afunixrs to stop", "still STOP_PENDING");
            assert_eq!(
                e.to_string(),
                "waiting for afunixrs to stop failed: still STOP_PENDING"
            );
        }
    }
}
