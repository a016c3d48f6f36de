//! Socket options kept per socket that change nothing else in the engine but `SO_PASSCRED`,
//! which makes connect autobind. `sock_setsockopt`/`sk_getsockopt` in Linux's
//! `net/core/sock.c`.

use crate::socket::SocketOptions;
use crate::{BindTarget, Errno, SocketId};

use super::Engine;

/// A boolean socket option: set by any non-zero value (`valbool` in `sock_setsockopt`), read
/// back as 0 or 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketFlag {
    /// `SO_PASSCRED` (`SOCK_PASSCRED`): with it, an unbound socket autobinds when it connects
    /// (`unix_stream_connect`), and an accepted socket has its listener's.
    PassCred,
    /// `SO_KEEPALIVE` (`SOCK_KEEPOPEN`): no effect on AF_UNIX, only read back.
    KeepAlive,
    /// `SO_REUSEADDR` (`sk_reuse`): no effect on AF_UNIX, only read back.
    ReuseAddr,
}

/// `SO_LINGER` as getsockopt reports it: `struct linger { l_onoff, l_linger }`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Linger {
    /// `l_onoff`: 0 or 1 (`SOCK_LINGER`).
    pub onoff: i32,
    /// `l_linger`: `sk_lingertime / HZ`.
    pub seconds: i32,
}

/// `l_linger` as Linux reports it after a negative one was set: `sock_setsockopt` reads the
/// negative `int` as a huge `unsigned long`, stores `MAX_SCHEDULE_TIMEOUT` (`LONG_MAX`), and
/// `sk_getsockopt` reports `LONG_MAX / HZ` truncated to an `int`. With `CONFIG_HZ=250` (Debian's
/// and this project's reference kernel; seen on Linux 6.18) that is -1752346657.
pub const LINGER_FOREVER_SECONDS: i32 = forever_seconds(250);

#[allow(
    clippy::cast_possible_truncation,
    clippy::arithmetic_side_effects,
    clippy::integer_division
)]
const fn forever_seconds(hz: i64) -> i32 {
    // Const-evaluated with a non-zero constant; the truncation is Linux's own.
    (i64::MAX / hz) as i32
}

impl SocketOptions {
    fn flag_mut(&mut self, flag: SocketFlag) -> &mut bool {
        match flag {
            SocketFlag::PassCred => &mut self.passcred,
            SocketFlag::KeepAlive => &mut self.keepalive,
            SocketFlag::ReuseAddr => &mut self.reuseaddr,
        }
    }
}

impl Engine {
    /// A boolean option's value (`sk_getsockopt`: 0 or 1).
    pub fn flag(&self, id: SocketId, flag: SocketFlag) -> Result<bool, Errno> {
        let o = &self.sock(id)?.options;
        Ok(match flag {
            SocketFlag::PassCred => o.passcred,
            SocketFlag::KeepAlive => o.keepalive,
            SocketFlag::ReuseAddr => o.reuseaddr,
        })
    }

    /// `setsockopt` of a boolean option: any non-zero `val` sets it.
    pub fn set_flag(&mut self, id: SocketId, flag: SocketFlag, val: i32) -> Result<(), Errno> {
        *self.sock_mut(id)?.options.flag_mut(flag) = val != 0;
        Ok(())
    }

    /// `getsockopt(SO_LINGER)`.
    pub fn linger(&self, id: SocketId) -> Result<Linger, Errno> {
        Ok(self.sock(id)?.options.linger)
    }

    /// `setsockopt(SO_LINGER, {l_onoff, l_linger})` as `sock_setsockopt` does it: a zero
    /// `l_onoff` only clears `SOCK_LINGER` (the time stays); a non-zero one sets it and the
    /// time, a negative `l_linger` meaning for ever ([`LINGER_FOREVER_SECONDS`]).
    pub fn set_linger(&mut self, id: SocketId, onoff: i32, seconds: i32) -> Result<(), Errno> {
        let linger = &mut self.sock_mut(id)?.options.linger;
        if onoff == 0 {
            linger.onoff = 0;
        } else {
            linger.onoff = 1;
            linger.seconds = if seconds < 0 {
                LINGER_FOREVER_SECONDS
            } else {
                seconds
            };
        }
        Ok(())
    }

    /// What `unix_stream_connect` does once the address is valid and before it looks for the
    /// listener: with `SO_PASSCRED` (`unix_may_passcred`) an unbound socket autobinds, and
    /// keeps that name even if the connect then fails. The caller of a pathname connect calls
    /// this before it opens the socket file (whose absence is ENOENT); [`Engine::connect`]
    /// calls it too, so calling it twice changes nothing.
    pub fn autobind_to_connect(&mut self, id: SocketId) -> Result<(), Errno> {
        let s = self.sock(id)?;
        // A socket reserved by a pending accept is refused by connect itself (EINVAL).
        if !s.options.passcred || s.addr.is_some() || s.reserved_by.is_some() {
            return Ok(());
        }
        self.bind(id, BindTarget::Autobind)
    }
}
