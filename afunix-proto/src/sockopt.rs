//! Socket option numbers as the driver speaks them: Linux's, for `SOL_SOCKET`, plus one of
//! our own.
//!
//! GETSOCKOPT replies with one `int` ([`crate::wire::IntOut`]). `SO_LINGER`'s value is two:
//! GETSOCKOPT of `SO_LINGER` reports `l_onoff`, the first `int` of `struct linger` (what
//! Linux's `getsockopt(SO_LINGER)` copies into a 4-byte `optval`), and GETSOCKOPT of
//! [`SO_AFUNIX_LINGER_SECONDS`] reports `l_linger`. SETSOCKOPT of `SO_LINGER` carries the whole
//! `struct linger` in one request ([`crate::wire::SockoptIn`]).

/// `SOL_SOCKET`.
pub const SOL_SOCKET: i32 = 1;
pub const SO_REUSEADDR: i32 = 2;
pub const SO_TYPE: i32 = 3;
pub const SO_ERROR: i32 = 4;
pub const SO_SNDBUF: i32 = 7;
pub const SO_RCVBUF: i32 = 8;
pub const SO_KEEPALIVE: i32 = 9;
pub const SO_LINGER: i32 = 13;
pub const SO_PASSCRED: i32 = 16;
pub const SO_ACCEPTCONN: i32 = 30;
pub const SO_PROTOCOL: i32 = 38;
pub const SO_DOMAIN: i32 = 39;

/// Ours, read-only: `SO_LINGER`'s `l_linger` as Linux's getsockopt reports it. Far above any
/// Linux option number.
pub const SO_AFUNIX_LINGER_SECONDS: i32 = 0x0AF0_0001;
