//! The afunix-rs socket engine.
//!
//! Sans-IO AF_UNIX semantics (addresses, namespace, states, buffers, pending operations),
//! shared by the driver and by user-mode tests. `no_std` + `alloc`, no `unsafe`, no panics:
//! every growth is fallible and reported as ENOMEM/ENOBUFS.
//!
//! # Contract
//!
//! - [`Engine`] holds every socket, addressed by [`SocketId`] (slot + generation).
//! - Inputs are method calls named after the socket calls (`bind`, `connect`, `send` ...).
//!   Operations that may wait (`connect`, `accept`, `send`, `recv`) take a caller-chosen
//!   [`Token`] and return [`Outcome::Ready`] with the result, or [`Outcome::Pending`].
//! - Outputs for pending operations are [`Completion`]s, drained with
//!   [`Engine::poll_completion`] after every call. Every pending token is completed exactly
//!   once: by progress, by [`Engine::cancel`], or by [`Engine::close`].
//! - Bytes: [`Engine::send`] and [`Engine::recv`] name their data by token, and the engine
//!   reaches the caller's own buffers (the driver: the IRPs' buffers) through the [`Buffers`]
//!   trait, now and while the request pends, so a byte moves once from a waiting writer to a
//!   waiting reader ([`Completed::Received`] counts what is in the recv's buffer). Every
//!   call that can move bytes takes the caller's `Buffers` ([`OwnedBuffers`] keeps them in
//!   `Vec`s); a caller without any passes [`NoBuffers`], and bytes that would move through
//!   them stay where they are.
//! - Anything that varies (caller identity, the file system, the autobind seed, limits) is
//!   passed in. Pathname sockets are keyed by a [`PathKey`] the caller derives from the file.
//! - Behaviour follows Linux's `net/unix/af_unix.c`; each rule names the function it mirrors.

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

mod addr;
mod buffers;
mod engine;
mod errno;
mod queue;
mod ring;
mod slab;
mod socket;
mod types;
mod util;

#[cfg(test)]
mod tests;

pub use addr::{
    AF_UNIX, BindRequest, ConnectRequest, SOCKADDR_UN_LEN, SUN_PATH_LEN, SUN_PATH_OFFSET, UnixAddr,
    parse_bind_addr, parse_connect_addr,
};
pub use buffers::{OwnedBuffers, byte_range, byte_range_mut};
pub use engine::{
    Buffers, Engine, LINGER_FOREVER_SECONDS, Linger, MSG_OVERHEAD, NoBuffers, RIGHT_OVERHEAD,
    SCM_MAX_FD, SocketFlag, UserId, UserUsage,
};
pub use errno::{ALL_ERRNOS, Errno};
pub use slab::SocketId;
pub use types::{
    BindTarget, Completed, Completion, ConnectTarget, Credentials, Limits, Outcome, Passed,
    PathKey, PollMask, Received, RecvFlags, SOCK_MIN_RCVBUF, SOCK_MIN_SNDBUF, SendFlags, Shutdown,
    SockType, Token, UserShare,
};
pub use util::{KeyedHash, KeyedHasher, KeyedMap, SortedMap};
