//! GETSOCKOPT and SETSOCKOPT: Linux's `SOL_SOCKET` options (`sk_getsockopt`,
//! `sock_setsockopt`), by Linux's numbers ([`afunix_proto::sockopt`]).

use afunix_core::{AF_UNIX, Buffers, Errno, SocketFlag, SocketId};
use afunix_proto::decode::OptValue;
use afunix_proto::sockopt::{
    SO_ACCEPTCONN, SO_AFUNIX_LINGER_SECONDS, SO_DOMAIN, SO_ERROR, SO_KEEPALIVE, SO_LINGER,
    SO_PASSCRED, SO_PROTOCOL, SO_RCVBUF, SO_REUSEADDR, SO_SNDBUF, SO_TYPE, SOL_SOCKET,
};

use crate::Device;

/// The options that are one flag each.
const fn flag(name: i32) -> Option<SocketFlag> {
    match name {
        SO_PASSCRED => Some(SocketFlag::PassCred),
        SO_KEEPALIVE => Some(SocketFlag::KeepAlive),
        SO_REUSEADDR => Some(SocketFlag::ReuseAddr),
        _ => None,
    }
}

impl Device {
    pub(crate) fn getsockopt(&mut self, id: SocketId, level: i32, name: i32) -> Result<i32, Errno> {
        if level != SOL_SOCKET {
            // unix_stream_ops has no getsockopt of its own: sock_no_getsockopt.
            return Err(Errno::EOPNOTSUPP);
        }
        if let Some(flag) = flag(name) {
            return self.engine.flag(id, flag).map(i32::from);
        }
        let as_int = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
        match name {
            SO_TYPE => self.engine.socket_type(id).map(|t| t as i32),
            SO_ERROR => self
                .engine
                .take_error(id)
                .map(|e| e.map_or(0, |e| i32::from(e.number()))),
            SO_SNDBUF => self.engine.sndbuf(id).map(as_int),
            SO_RCVBUF => self.engine.rcvbuf(id).map(as_int),
            SO_ACCEPTCONN => self.engine.is_listening(id).map(i32::from),
            // sk_family; sk_protocol, which unix_create never sets (socket(AF_UNIX,
            // SOCK_STREAM, PF_UNIX) reports 0 as well).
            SO_DOMAIN => self.engine.socket_type(id).map(|_| i32::from(AF_UNIX)),
            SO_PROTOCOL => self.engine.socket_type(id).map(|_| 0),
            // The reply holds one int: l_onoff here, l_linger by our own option number.
            SO_LINGER => self.engine.linger(id).map(|l| l.onoff),
            SO_AFUNIX_LINGER_SECONDS => self.engine.linger(id).map(|l| l.seconds),
            _ => Err(Errno::ENOPROTOOPT),
        }
    }

    /// `bufs`: a larger SO_SNDBUF may let a blocked in-place send move and complete.
    pub(crate) fn setsockopt(
        &mut self,
        id: SocketId,
        level: i32,
        name: i32,
        value: OptValue,
        bufs: &mut dyn Buffers,
    ) -> Result<(), Errno> {
        if level != SOL_SOCKET {
            return Err(Errno::EOPNOTSUPP);
        }
        if let Some(flag) = flag(name) {
            return self.engine.set_flag(id, flag, value.int);
        }
        match name {
            SO_SNDBUF => self.engine.set_sndbuf(id, value.int, bufs),
            SO_RCVBUF => self.engine.set_rcvbuf(id, value.int),
            SO_LINGER => self.engine.set_linger(id, value.int, value.linger),
            // sock_setsockopt: SO_TYPE, SO_ERROR, SO_ACCEPTCONN, SO_DOMAIN and SO_PROTOCOL
            // are read-only (ENOPROTOOPT), and so is our SO_AFUNIX_LINGER_SECONDS.
            _ => Err(Errno::ENOPROTOOPT),
        }
    }
}
