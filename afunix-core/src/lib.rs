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
//! - Bytes: [`Engine::send`] / [`Engine::recv`] take slices; a pending recv's bytes then
//!   travel in its completion ([`Completed::Received`]) and a pending send's rest is copied
//!   into the engine. The in-place calls [`Engine::send_in_place`] / [`Engine::recv_in_place`]
//!   instead reach the caller's own buffers (the driver: the IRPs' buffers) through the
//!   [`Buffers`] trait, by token, so a byte moves once from a waiting writer to a waiting
//!   reader ([`Completed::ReceivedInPlace`]). A caller using them passes its `Buffers` to
//!   every `*_in_place` call; calls without buffers leave such bytes where they are.
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
mod engine;
mod errno;
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
pub use engine::{Buffers, Engine, LINGER_FOREVER_SECONDS, Linger, NoBuffers, SocketFlag};
pub use errno::{ALL_ERRNOS, Errno, NTSTATUS_FACILITY, STATUS_CANCELLED};
pub use slab::SocketId;
pub use types::{
    BindTarget, Completed, Completion, ConnectTarget, Credentials, Limits, Outcome, PathKey,
    PollMask, RecvFlags, SOCK_MIN_RCVBUF, SOCK_MIN_SNDBUF, SendFlags, Shutdown, SockType, Token,
};
pub use util::SortedMap;
