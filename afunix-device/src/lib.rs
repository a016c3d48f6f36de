//! The device layer: what the driver does with a request once it has decoded it, without the
//! driver. Shared by `afunixrs.sys` and by the library's in-process transport, so that every
//! test that goes through the library also exercises the driver's logic.
//!
//! A handle opened on the device is a *file* ([`FileId`], chosen by the caller: the driver
//! uses the FILE_OBJECT's address). A file starts unconfigured; SOCKET makes it an engine
//! socket. The caller does what needs its own context before calling in (creating or opening
//! a socket file and turning it into a [`PathKey`], turning a handle into a [`FileId`],
//! reading the caller's identity), then hands a [`Op`] to [`Device::execute`] with a token.
//! The reply is ready or pending; pending ones come back from [`Device::poll_completion`],
//! each token exactly once, whether by progress, [`Device::cancel`], [`Device::expire`] (a
//! POLL's timeout) or [`Device::close`].
//!
//! `no_std`, no `unsafe`, no panics, all growth fallible, like the engine it drives.

#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

extern crate alloc;

mod device;
pub mod ntpath;
mod op;
mod options;
pub mod path;
pub mod ratelimit;
pub mod rendezvous;

pub use afunix_core::{Credentials, Errno, Limits, PathKey, SockType, SocketId, Token};

/// The limits the driver runs its engine with: Linux's default socket buffers and backlog
/// (`net.core.*` as Linux ships them), and caps that keep a machine's kernel memory safe: at
/// most 16384 sockets, 64 MiB buffered over all of them, 16384 pending requests whose data
/// buffers (locked in memory while they wait) span at most 256 MiB, and 1024 users; each
/// user (SID) may hold a quarter of each cap (4096 sockets, 16 MiB, 4096 pending requests,
/// 64 MiB of locked buffers, 1024 waiting POLLs naming 4096 sockets), so one user at all
/// its limits leaves three quarters to the others. A Linux machine whose
/// `net.core.wmem_max`/`rmem_max` were raised grants larger buffers than these.
#[must_use]
pub fn driver_limits() -> Limits {
    driver_limits_shared(DEFAULT_USER_SHARE_DIVISOR)
}

/// The default of the driver's `Parameters\UserShareDivisor` registry value: each user may
/// hold a quarter of each cap.
pub const DEFAULT_USER_SHARE_DIVISOR: usize = 4;

/// [`driver_limits`] with each user's share of each cap set to `1 / divisor` (the
/// administrator's `Parameters\UserShareDivisor`; 1 gives a user the whole cap, 0 is taken
/// as 1).
#[must_use]
pub fn driver_limits_shared(divisor: usize) -> Limits {
    Limits {
        max_sockets: 16_384,
        global_buffer_cap: 64 << 20,
        max_pending: 16_384,
        max_locked_bytes: 256 << 20,
        user_share: afunix_core::UserShare {
            divisor: divisor.max(1),
        },
        max_users: 1024,
        ..Limits::default()
    }
}
pub use afunix_core::OwnedBuffers;
pub use device::{Device, DeviceStats, FileId};
pub use op::{Done, MessageDone, Object, Op, PollEntry, Reply, SendTo};
pub use path::{
    FileIdentity, FsError, Host, Prepared, ReplyBuffer, Resolution, VolumeDevice, data_offset,
    deliver_objects, write_reply,
};

#[cfg(test)]
mod tests;

#[cfg(test)]
mod quota_tests;

#[cfg(test)]
extern crate std;

#[cfg(test)]
mod fault_tests;
