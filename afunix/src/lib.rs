//! User-mode access to afunix-rs sockets.
//!
//! Today this crate holds what `afunixctl` and the test programs share: opening the driver's
//! device and reading its statistics ([`sys`], Windows only), and the service-status report
//! that `afunixctl status` prints ([`status`], portable and tested everywhere). The
//! `std::os::unix::net`-shaped socket API arrives with the contract issue.

pub mod status;

#[cfg(windows)]
pub mod sys;
