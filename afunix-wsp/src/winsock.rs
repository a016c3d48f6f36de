//! Winsock's names for what the driver speaks in Linux terms: flags, options, poll bits and
//! the network events of `WSAEventSelect`. Portable, so it is tested on any host.

use afunix_core::{Errno, PollMask};
use windows_sys::Win32::Networking::WinSock as ws;

// Winsock's numbers, from windows-sys (which has them from Windows' own metadata), in the
// types the SPI uses them in.

/// `SOL_SOCKET` and the socket options this provider knows.
pub const SOL_SOCKET: i32 = ws::SOL_SOCKET;
pub const SO_ACCEPTCONN: i32 = ws::SO_ACCEPTCONN;
pub const SO_SNDBUF: i32 = ws::SO_SNDBUF;
pub const SO_RCVBUF: i32 = ws::SO_RCVBUF;
pub const SO_SNDTIMEO: i32 = ws::SO_SNDTIMEO;
pub const SO_RCVTIMEO: i32 = ws::SO_RCVTIMEO;
pub const SO_ERROR: i32 = ws::SO_ERROR;
pub const SO_TYPE: i32 = ws::SO_TYPE;
pub const SO_PROTOCOL_INFOW: i32 = ws::SO_PROTOCOL_INFOW;
pub const SO_REUSEADDR: i32 = ws::SO_REUSEADDR;
pub const SO_KEEPALIVE: i32 = ws::SO_KEEPALIVE;
pub const SO_LINGER: i32 = ws::SO_LINGER;
pub const SO_DONTLINGER: i32 = ws::SO_DONTLINGER;
pub const SO_MAX_MSG_SIZE: i32 = ws::SO_MAX_MSG_SIZE;

/// Winsock's socket types (the catalog's `iSocketType`), as `WSPSocket` receives them.
pub const SOCK_STREAM: i32 = ws::SOCK_STREAM;
pub const SOCK_DGRAM: i32 = ws::SOCK_DGRAM;
pub const SOCK_SEQPACKET: i32 = ws::SOCK_SEQPACKET;

/// `send`/`recv` flags, as the SPI passes them (a DWORD).
pub const MSG_OOB: u32 = ws::MSG_OOB as u32;
pub const MSG_PEEK: u32 = ws::MSG_PEEK as u32;
pub const MSG_DONTROUTE: u32 = ws::MSG_DONTROUTE as u32;
pub const MSG_WAITALL: u32 = ws::MSG_WAITALL as u32;
pub const MSG_PUSH_IMMEDIATE: u32 = ws::MSG_PUSH_IMMEDIATE as u32;
pub const MSG_PARTIAL: u32 = ws::MSG_PARTIAL;

/// `WSAEventSelect`'s network events (a LONG), and how many error codes
/// `WSANETWORKEVENTS.iErrorCode` holds (one per event bit, by index).
pub const FD_READ: i32 = ws::FD_READ as i32;
pub const FD_WRITE: i32 = ws::FD_WRITE as i32;
pub const FD_ACCEPT: i32 = ws::FD_ACCEPT as i32;
pub const FD_CONNECT: i32 = ws::FD_CONNECT as i32;
pub const FD_CLOSE: i32 = ws::FD_CLOSE as i32;
pub const FD_MAX_EVENTS: usize = ws::FD_MAX_EVENTS as usize;

/// `WSAPoll`'s bits (they differ from Linux's).
pub const POLLRDNORM: i16 = ws::POLLRDNORM;
pub const POLLRDBAND: i16 = ws::POLLRDBAND;
pub const POLLWRNORM: i16 = ws::POLLWRNORM;
pub const POLLWRBAND: i16 = ws::POLLWRBAND;
pub const POLLERR: i16 = ws::POLLERR;
pub const POLLHUP: i16 = ws::POLLHUP;
pub const POLLNVAL: i16 = ws::POLLNVAL;

/// The WSA codes used here that no errno maps to, or that are used by name.
pub const WSAEWOULDBLOCK: i32 = ws::WSAEWOULDBLOCK;
pub const WSAEINVAL: i32 = ws::WSAEINVAL;
pub const WSAEFAULT: i32 = ws::WSAEFAULT;
pub const WSAENOTSOCK: i32 = ws::WSAENOTSOCK;
pub const WSAEOPNOTSUPP: i32 = ws::WSAEOPNOTSUPP;
pub const WSAENOPROTOOPT: i32 = ws::WSAENOPROTOOPT;
pub const WSAETIMEDOUT: i32 = ws::WSAETIMEDOUT;
pub const WSAECONNRESET: i32 = ws::WSAECONNRESET;
pub const WSAEAFNOSUPPORT: i32 = ws::WSAEAFNOSUPPORT;
pub const WSAESOCKTNOSUPPORT: i32 = ws::WSAESOCKTNOSUPPORT;
pub const WSAEPROTONOSUPPORT: i32 = ws::WSAEPROTONOSUPPORT;
pub const WSAENOBUFS: i32 = ws::WSAENOBUFS;
pub const WSAENETDOWN: i32 = ws::WSAENETDOWN;
pub const WSAEACCES: i32 = ws::WSAEACCES;
pub const WSAEMSGSIZE: i32 = ws::WSAEMSGSIZE;
pub const WSAVERNOTSUPPORTED: i32 = ws::WSAVERNOTSUPPORTED;
pub const WSA_IO_PENDING: i32 = ws::WSA_IO_PENDING;
pub const WSA_IO_INCOMPLETE: i32 = ws::WSA_IO_INCOMPLETE;

/// The WSA code for a failure to open the driver's device (`afunix::DriverUnavailable`):
/// WSAENETDOWN when the driver is not running (Winsock's "the network subsystem has
/// failed"), WSAEACCES when the device refused this process, WSAENOBUFS otherwise.
#[must_use]
pub fn device_open_error(not_running: bool, error: &std::io::Error) -> i32 {
    if not_running {
        WSAENETDOWN
    } else if error.kind() == std::io::ErrorKind::PermissionDenied {
        WSAEACCES
    } else {
        WSAENOBUFS
    }
}

/// The WSA code of an errno (`afunix_proto::ErrnoCodes::to_wsa`, documented there).
#[must_use]
pub fn wsa(errno: Errno) -> i32 {
    // Every WSA code is below 11000.
    use afunix_proto::ErrnoCodes;
    i32::try_from(errno.to_wsa()).unwrap_or(WSAEINVAL)
}

/// Linux `recv` flags for Winsock's. Out-of-band data does not exist on AF_UNIX.
pub fn recv_flags(flags: u32) -> Result<u32, i32> {
    use afunix_proto::wire;
    if flags & MSG_OOB != 0 {
        return Err(WSAEOPNOTSUPP);
    }
    if flags & !(MSG_PEEK | MSG_WAITALL | MSG_PUSH_IMMEDIATE | MSG_PARTIAL) != 0 {
        return Err(WSAEOPNOTSUPP);
    }
    let mut linux = 0;
    if flags & MSG_PEEK != 0 {
        linux |= wire::MSG_PEEK;
    }
    if flags & MSG_WAITALL != 0 {
        linux |= wire::MSG_WAITALL;
    }
    Ok(linux)
}

/// Linux `recv` flags for Winsock's on a message socket (datagram or seqpacket): as
/// [`recv_flags`], but `MSG_WAITALL` is refused, as Winsock documents it ("not supported by
/// datagram sockets or message-oriented sockets"; Linux would ignore it).
pub fn message_recv_flags(flags: u32) -> Result<u32, i32> {
    if flags & MSG_WAITALL != 0 {
        return Err(WSAEOPNOTSUPP);
    }
    recv_flags(flags)
}

/// What a receive on a message socket reports to a Winsock program: the bytes copied, or
/// WSAEMSGSIZE when the message was longer than the buffers (they hold its first part and
/// the rest is gone, as on Linux). `lpFlags` never gets MSG_PARTIAL: that flag promises the
/// rest to a later receive, and AF_UNIX keeps no rest.
pub fn message_received(copied: usize, truncated: bool) -> Result<u32, i32> {
    if truncated {
        return Err(WSAEMSGSIZE);
    }
    Ok(u32::try_from(copied).unwrap_or(u32::MAX))
}

/// Checks `send` flags: none changes what a stream socket does, but out-of-band data does not
/// exist on AF_UNIX.
pub fn check_send_flags(flags: u32) -> Result<(), i32> {
    if flags & MSG_OOB != 0 || flags & !(MSG_DONTROUTE | MSG_PARTIAL) != 0 {
        return Err(WSAEOPNOTSUPP);
    }
    Ok(())
}

/// What a Winsock socket option is here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockOpt {
    /// An option the driver keeps: its Linux level and name.
    Driver(i32, i32),
    /// `SO_SNDTIMEO` or `SO_RCVTIMEO`, kept by the provider (milliseconds).
    SendTimeout,
    ReceiveTimeout,
    /// `SO_PROTOCOL_INFOW`: the catalog entry of the socket.
    ProtocolInfo,
    /// `SO_LINGER`: Winsock's `LINGER { u_short l_onoff; u_short l_linger; }` for the
    /// driver's `struct linger`.
    Linger,
    /// `SO_DONTLINGER`: a BOOL, `!l_onoff`.
    DontLinger,
    /// `SO_MAX_MSG_SIZE` (read only): the largest message a send takes, SO_SNDBUF - 32 on a
    /// message socket; a stream has no messages (WSAENOPROTOOPT).
    MaxMessageSize,
}

/// Linux's `SOL_SOCKET` and the option numbers the driver answers.
pub use afunix_proto::sockopt::{
    SO_ACCEPTCONN as LINUX_SO_ACCEPTCONN, SO_AFUNIX_LINGER_SECONDS as LINUX_SO_LINGER_SECONDS,
    SO_ERROR as LINUX_SO_ERROR, SO_KEEPALIVE as LINUX_SO_KEEPALIVE, SO_LINGER as LINUX_SO_LINGER,
    SO_RCVBUF as LINUX_SO_RCVBUF, SO_REUSEADDR as LINUX_SO_REUSEADDR, SO_SNDBUF as LINUX_SO_SNDBUF,
    SO_TYPE as LINUX_SO_TYPE, SOL_SOCKET as LINUX_SOL_SOCKET,
};

/// The `LINGER` a Winsock program reads for the driver's `(l_onoff, l_linger)`. Winsock's
/// fields are `u_short`: a time beyond 65535 seconds, or Linux's "for ever" (a negative
/// `l_linger` set), reads as 65535.
#[must_use]
pub fn winsock_linger(onoff: i32, seconds: i32) -> [u8; 4] {
    let onoff = u16::from(onoff != 0);
    let seconds = u16::try_from(seconds).unwrap_or(u16::MAX);
    let mut out = [0u8; 4];
    let (a, b) = out.split_at_mut(2);
    a.copy_from_slice(&onoff.to_ne_bytes());
    b.copy_from_slice(&seconds.to_ne_bytes());
    out
}

/// The driver's `(l_onoff, l_linger)` for a Winsock program's `LINGER` (at least 4 bytes,
/// else WSAEFAULT, as Winsock checks `optlen`).
pub fn linux_linger(value: &[u8]) -> Result<(i32, i32), i32> {
    let field = |range: core::ops::Range<usize>| -> Result<i32, i32> {
        let bytes: [u8; 2] = value
            .get(range)
            .ok_or(WSAEFAULT)?
            .try_into()
            .map_err(|_| WSAEFAULT)?;
        Ok(i32::from(u16::from_ne_bytes(bytes)))
    };
    Ok((field(0..2)?, field(2..4)?))
}

/// Maps a Winsock `(level, name)`; None is `WSAENOPROTOOPT`.
#[must_use]
pub fn sockopt(level: i32, name: i32) -> Option<SockOpt> {
    if level != SOL_SOCKET {
        return None;
    }
    let linux = match name {
        SO_TYPE => LINUX_SO_TYPE,
        SO_ERROR => LINUX_SO_ERROR,
        SO_SNDBUF => LINUX_SO_SNDBUF,
        SO_RCVBUF => LINUX_SO_RCVBUF,
        SO_ACCEPTCONN => LINUX_SO_ACCEPTCONN,
        SO_REUSEADDR => LINUX_SO_REUSEADDR,
        SO_KEEPALIVE => LINUX_SO_KEEPALIVE,
        SO_LINGER => return Some(SockOpt::Linger),
        SO_DONTLINGER => return Some(SockOpt::DontLinger),
        SO_SNDTIMEO => return Some(SockOpt::SendTimeout),
        SO_RCVTIMEO => return Some(SockOpt::ReceiveTimeout),
        SO_PROTOCOL_INFOW => return Some(SockOpt::ProtocolInfo),
        SO_MAX_MSG_SIZE => return Some(SockOpt::MaxMessageSize),
        _ => return None,
    };
    Some(SockOpt::Driver(LINUX_SOL_SOCKET, linux))
}

/// The Linux poll events for `WSAPoll` events (errors and hang-ups are always reported).
#[must_use]
pub fn poll_events(events: i16) -> u32 {
    let mut linux = 0;
    if events & (POLLRDNORM | POLLRDBAND) != 0 {
        linux |= PollMask::IN | PollMask::RDHUP;
    }
    if events & (POLLWRNORM | POLLWRBAND) != 0 {
        linux |= PollMask::OUT;
    }
    linux
}

/// The `WSAPoll` revents for the driver's Linux revents, given what was asked for: readable
/// data (or end of file) is POLLRDNORM, room to write POLLWRNORM; errors, hang-ups and bad
/// sockets are always reported.
#[must_use]
pub fn poll_revents(revents: u32, events: i16) -> i16 {
    let mut out = 0;
    if revents & PollMask::NVAL != 0 {
        return POLLNVAL;
    }
    if revents & (PollMask::IN | PollMask::RDHUP) != 0 && events & POLLRDNORM != 0 {
        out |= POLLRDNORM;
    }
    if revents & PollMask::OUT != 0 && events & POLLWRNORM != 0 {
        out |= POLLWRNORM;
    }
    if revents & PollMask::ERR != 0 {
        out |= POLLERR;
    }
    if revents & PollMask::HUP != 0 {
        out |= POLLHUP;
    }
    out
}

/// The Linux events `select` waits for in its read and write sets (its except set asks for
/// nothing: errors are always reported).
pub const SELECT_READ: u32 = PollMask::IN | PollMask::RDHUP;
pub const SELECT_WRITE: u32 = PollMask::OUT;

/// `select`'s three sets for a socket's Linux revents: readable when there is data, a
/// connection to accept, end of file or an error; writable when there is room; exceptional
/// when there is an error (Winsock's sign of a failed connect).
#[must_use]
pub fn select_ready(revents: u32) -> (bool, bool, bool) {
    let read = revents & (PollMask::IN | PollMask::RDHUP | PollMask::HUP | PollMask::ERR) != 0;
    let write = revents & PollMask::OUT != 0;
    let except = revents & PollMask::ERR != 0;
    (read, write, except)
}

/// What a socket is, for the network events that can happen to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A stream or seqpacket socket neither listening nor connected: nothing to watch yet.
    Idle,
    Listening,
    Connected,
    /// A datagram socket, connected or not: only FD_READ and FD_WRITE happen to it (there
    /// is no connection to accept, complete or close).
    Datagram,
}

/// One socket's `WSAEventSelect` state: which events the program asked for, which of them
/// may be recorded now (Winsock records each once, until a "re-enabling" call: recv for
/// FD_READ, send that would block for FD_WRITE, accept for FD_ACCEPT), what has been
/// recorded, and the error of each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetEvents {
    /// The event object, as a handle value.
    pub event: usize,
    selected: i32,
    enabled: i32,
    recorded: i32,
    errors: [i32; FD_MAX_EVENTS],
    /// End of file (or a reset) has been seen: no more data will come.
    eof: bool,
}

fn bit_index(event: i32) -> usize {
    event.trailing_zeros() as usize
}

impl NetEvents {
    /// `WSAEventSelect(s, event, selected)`: every selected event may be recorded.
    #[must_use]
    pub fn new(event: usize, selected: i32) -> NetEvents {
        NetEvents {
            event,
            selected,
            enabled: selected,
            recorded: 0,
            errors: [0; FD_MAX_EVENTS],
            eof: false,
        }
    }

    /// A new `WSAEventSelect` on a socket that already had one: as Winsock documents, it
    /// clears the record, and every selected event may be recorded again. What is known of
    /// the connection (end of file) stays.
    pub fn reselect(&mut self, event: usize, selected: i32) {
        self.event = event;
        self.selected = selected;
        self.enabled = selected;
        self.recorded = 0;
        self.errors = [0; FD_MAX_EVENTS];
    }

    /// A re-enabling call was made (FD_READ, FD_WRITE or FD_ACCEPT); true if that enabled
    /// an event that was not (so what to wait for changed).
    pub fn reenable(&mut self, events: i32) -> bool {
        let before = self.enabled;
        self.enabled |= events & self.selected & (FD_READ | FD_WRITE | FD_ACCEPT);
        self.enabled != before
    }

    /// Records `event` with `error` if it is selected and enabled; true if it was.
    pub fn record(&mut self, event: i32, error: i32) -> bool {
        if self.selected & self.enabled & event == 0 {
            return false;
        }
        self.enabled &= !event;
        self.recorded |= event;
        if let Some(slot) = self.errors.get_mut(bit_index(event)) {
            *slot = error;
        }
        true
    }

    /// The Linux poll events to wait for on a socket in `role`; 0 when there is nothing to
    /// wait for.
    #[must_use]
    pub fn wanted(&self, role: Role) -> u32 {
        let on = self.selected & self.enabled;
        match role {
            Role::Idle => 0,
            Role::Datagram => {
                let mut wanted = 0;
                if on & FD_READ != 0 {
                    wanted |= PollMask::IN;
                }
                if on & FD_WRITE != 0 {
                    wanted |= PollMask::OUT;
                }
                wanted
            }
            Role::Listening => {
                if on & FD_ACCEPT != 0 {
                    PollMask::IN
                } else {
                    0
                }
            }
            Role::Connected => {
                let mut wanted = 0;
                if on & FD_READ != 0 {
                    wanted |= PollMask::IN | PollMask::RDHUP;
                }
                if on & FD_WRITE != 0 {
                    wanted |= PollMask::OUT;
                }
                if on & FD_CLOSE != 0 {
                    wanted |= PollMask::RDHUP;
                }
                wanted
            }
        }
    }

    /// Takes a POLL result for this socket; true if something new was recorded (the event
    /// object is to be signalled). `has_data` says whether bytes are waiting to be read
    /// (asked only after end of file, when POLLIN alone does not tell).
    ///
    /// Each call either records an event or disables one that can never happen again, so a
    /// watcher that polls again does not spin on a condition that stays true.
    pub fn on_revents(
        &mut self,
        revents: u32,
        role: Role,
        has_data: impl FnOnce() -> bool,
    ) -> bool {
        let before = (self.enabled, self.recorded);
        let mut signal = false;
        if revents & PollMask::NVAL != 0 {
            self.enabled = 0;
            return false;
        }
        match role {
            Role::Idle => {}
            Role::Datagram => {
                if revents & PollMask::IN != 0 {
                    signal |= self.record(FD_READ, 0);
                }
                if revents & PollMask::OUT != 0 {
                    signal |= self.record(FD_WRITE, 0);
                }
            }
            Role::Listening => {
                if revents & PollMask::IN != 0 {
                    signal |= self.record(FD_ACCEPT, 0);
                }
            }
            Role::Connected => {
                let dead = revents & (PollMask::HUP | PollMask::ERR) != 0;
                let closed = dead || revents & PollMask::RDHUP != 0;
                if closed {
                    self.eof = true;
                }
                if revents & PollMask::IN != 0 && self.selected & self.enabled & FD_READ != 0 {
                    if !self.eof || has_data() {
                        signal |= self.record(FD_READ, 0);
                    } else {
                        // End of file with nothing left: FD_READ cannot happen again.
                        self.enabled &= !FD_READ;
                    }
                }
                if revents & PollMask::OUT != 0 && !dead {
                    signal |= self.record(FD_WRITE, 0);
                }
                if closed {
                    let error = if revents & PollMask::ERR != 0 {
                        WSAECONNRESET
                    } else {
                        0
                    };
                    signal |= self.record(FD_CLOSE, error);
                }
                if dead {
                    // Nothing can be written to a connection that is gone.
                    self.enabled &= !FD_WRITE;
                }
            }
        }
        if revents != 0 && (self.enabled, self.recorded) == before {
            // Reported but nothing to record: park until the program makes a call.
            self.enabled = 0;
        }
        signal
    }

    /// `WSAEnumNetworkEvents`: the recorded events and their errors, cleared.
    pub fn take(&mut self) -> (i32, [i32; FD_MAX_EVENTS]) {
        let taken = (self.recorded, self.errors);
        self.recorded = 0;
        self.errors = [0; FD_MAX_EVENTS];
        taken
    }

    /// The events the program selected.
    #[must_use]
    pub fn selected(&self) -> i32 {
        self.selected
    }
}

/// `SO_RCVTIMEO`/`SO_SNDTIMEO` as Winsock takes them: a DWORD of milliseconds, 0 for none.
#[must_use]
pub fn timeout_ms(value: &[u8]) -> Option<u32> {
    let bytes: [u8; 4] = value.get(..4)?.try_into().ok()?;
    Some(u32::from_ne_bytes(bytes))
}

#[cfg(test)]
mod device_tests {
    use super::*;

    #[test]
    fn a_driver_that_is_not_running_is_the_network_being_down() {
        let other = std::io::Error::other("x");
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert_eq!(device_open_error(true, &other), WSAENETDOWN);
        assert_eq!(device_open_error(false, &denied), WSAEACCES);
        assert_eq!(device_open_error(false, &other), WSAENOBUFS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IN: u32 = PollMask::IN;
    const OUT: u32 = PollMask::OUT;
    const RDHUP: u32 = PollMask::RDHUP;
    const HUP: u32 = PollMask::HUP;
    const ERR: u32 = PollMask::ERR;

    #[test]
    fn recv_flags_translate_and_refuse_out_of_band() {
        assert_eq!(recv_flags(0), Ok(0));
        assert_eq!(
            recv_flags(MSG_PEEK | MSG_WAITALL),
            Ok(afunix_proto::wire::MSG_PEEK | afunix_proto::wire::MSG_WAITALL)
        );
        assert_eq!(recv_flags(MSG_OOB), Err(WSAEOPNOTSUPP));
        assert_eq!(recv_flags(0x4000_0000), Err(WSAEOPNOTSUPP));
        assert_eq!(check_send_flags(MSG_DONTROUTE), Ok(()));
        assert_eq!(check_send_flags(MSG_OOB), Err(WSAEOPNOTSUPP));
    }

    #[test]
    fn socket_options_map_to_linux_numbers() {
        assert_eq!(sockopt(SOL_SOCKET, SO_SNDBUF), Some(SockOpt::Driver(1, 7)));
        assert_eq!(sockopt(SOL_SOCKET, SO_TYPE), Some(SockOpt::Driver(1, 3)));
        assert_eq!(
            sockopt(SOL_SOCKET, SO_RCVTIMEO),
            Some(SockOpt::ReceiveTimeout)
        );
        assert_eq!(
            sockopt(SOL_SOCKET, 0x0008),
            Some(SockOpt::Driver(1, 9)),
            "SO_KEEPALIVE"
        );
        assert_eq!(
            sockopt(SOL_SOCKET, 0x0004),
            Some(SockOpt::Driver(1, 2)),
            "SO_REUSEADDR"
        );
        assert_eq!(sockopt(SOL_SOCKET, 0x0080), Some(SockOpt::Linger));
        assert_eq!(sockopt(SOL_SOCKET, !0x0080), Some(SockOpt::DontLinger));
        assert_eq!(sockopt(SOL_SOCKET, 0x0001), None, "SO_DEBUG");
        assert_eq!(sockopt(6, 1), None, "IPPROTO_TCP");
    }

    #[test]
    fn linger_fields_are_u_short_in_winsock() {
        let read = |b: [u8; 4]| {
            let [a0, a1, b0, b1] = b;
            (u16::from_ne_bytes([a0, a1]), u16::from_ne_bytes([b0, b1]))
        };
        assert_eq!(read(winsock_linger(1, 7)), (1, 7));
        assert_eq!(read(winsock_linger(0, 65535)), (0, 65535));
        assert_eq!(read(winsock_linger(1, 65536)), (1, 65535));
        assert_eq!(
            read(winsock_linger(1, afunix_core::LINGER_FOREVER_SECONDS)),
            (1, 65535)
        );
        assert_eq!(linux_linger(&winsock_linger(1, 300)), Ok((1, 300)));
        assert_eq!(linux_linger(&[1, 0, 0xFF, 0xFF, 9]), Ok((1, 65535)));
        assert_eq!(linux_linger(&[1, 0, 5]), Err(WSAEFAULT));
    }

    #[test]
    fn wsapoll_bits_round_trip_through_linux_bits() {
        let asked = POLLRDNORM | POLLWRNORM;
        assert_eq!(poll_events(asked), IN | RDHUP | OUT);
        assert_eq!(poll_revents(IN | OUT, asked), POLLRDNORM | POLLWRNORM);
        assert_eq!(poll_revents(OUT, POLLRDNORM), 0, "not asked for");
        assert_eq!(
            poll_revents(IN | RDHUP | HUP, POLLRDNORM),
            POLLRDNORM | POLLHUP
        );
        assert_eq!(poll_revents(ERR, 0), POLLERR, "errors are always reported");
        assert_eq!(poll_revents(PollMask::NVAL, asked), POLLNVAL);
    }

    #[test]
    fn select_sets_follow_winsock() {
        assert_eq!(select_ready(IN), (true, false, false));
        assert_eq!(select_ready(OUT), (false, true, false));
        assert_eq!(select_ready(RDHUP | IN), (true, false, false));
        assert_eq!(select_ready(ERR | HUP), (true, false, true));
        assert_eq!(select_ready(0), (false, false, false));
    }

    #[test]
    fn fd_read_is_recorded_once_until_recv_reenables_it() {
        let mut n = NetEvents::new(7, FD_READ | FD_CLOSE);
        assert_eq!(
            n.wanted(Role::Idle),
            0,
            "nothing to watch before connecting"
        );
        assert_eq!(n.wanted(Role::Connected), IN | RDHUP);
        assert!(n.on_revents(IN | OUT, Role::Connected, || true));
        assert_eq!(n.wanted(Role::Connected), RDHUP, "FD_READ waits for recv");
        assert_eq!(n.take().0, FD_READ);
        assert_eq!(n.take().0, 0, "taking clears the record");
        assert!(n.reenable(FD_READ));
        assert!(!n.reenable(FD_READ), "already enabled: nothing changes");
        assert_eq!(n.wanted(Role::Connected), IN | RDHUP);
    }

    #[test]
    fn a_new_selection_clears_the_record() {
        let mut n = NetEvents::new(7, FD_READ | FD_WRITE);
        assert!(n.on_revents(IN | OUT, Role::Connected, || true));
        n.reselect(8, FD_READ);
        assert_eq!(n.take(), (0, [0; FD_MAX_EVENTS]));
        assert_eq!(n.event, 8);
        assert_eq!(n.wanted(Role::Connected), IN | RDHUP);
    }

    #[test]
    fn graceful_close_records_fd_close_and_data_left_records_fd_read() {
        let mut n = NetEvents::new(7, FD_READ | FD_CLOSE);
        assert!(n.on_revents(IN | RDHUP, Role::Connected, || true));
        let (events, errors) = n.take();
        assert_eq!(events, FD_READ | FD_CLOSE);
        assert_eq!(errors, [0; FD_MAX_EVENTS]);
        n.reenable(FD_READ);
        // The data is drained; end of file alone is not FD_READ, and never will be again.
        assert!(!n.on_revents(IN | RDHUP, Role::Connected, || false));
        assert_eq!(n.wanted(Role::Connected), 0, "nothing left to wait for");
    }

    #[test]
    fn reset_records_fd_close_with_wsaeconnreset() {
        let mut n = NetEvents::new(7, FD_WRITE | FD_CLOSE);
        assert!(n.on_revents(ERR | HUP | OUT, Role::Connected, || false));
        let (events, errors) = n.take();
        assert_eq!(events, FD_CLOSE, "no FD_WRITE on a dead connection");
        assert_eq!(errors.get(5), Some(&WSAECONNRESET));
        assert_eq!(n.wanted(Role::Connected), 0);
    }

    #[test]
    fn fd_write_waits_for_a_send_that_would_block() {
        let mut n = NetEvents::new(7, FD_WRITE);
        assert!(n.on_revents(OUT, Role::Connected, || false));
        assert_eq!(n.wanted(Role::Connected), 0);
        n.reenable(FD_WRITE);
        assert_eq!(n.wanted(Role::Connected), OUT);
    }

    #[test]
    fn listeners_record_fd_accept() {
        let mut n = NetEvents::new(7, FD_ACCEPT | FD_READ);
        assert_eq!(n.wanted(Role::Listening), IN);
        assert!(n.on_revents(IN, Role::Listening, || false));
        assert_eq!(n.take().0, FD_ACCEPT, "no FD_READ on a listener");
        assert_eq!(n.wanted(Role::Listening), 0);
        n.reenable(FD_ACCEPT);
        assert_eq!(n.wanted(Role::Listening), IN);
    }

    #[test]
    fn unselected_events_park_the_socket_instead_of_spinning() {
        // HUP and ERR are reported whatever was asked: with FD_CLOSE already recorded and
        // FD_READ waiting for recv, a hang-up must not be reported again and again.
        let mut n = NetEvents::new(7, FD_CLOSE | FD_READ);
        assert!(n.on_revents(HUP | RDHUP | IN, Role::Connected, || true));
        assert!(!n.on_revents(HUP, Role::Connected, || true));
        assert_eq!(n.wanted(Role::Connected), 0);
        // A closed socket: the driver says POLLNVAL.
        let mut m = NetEvents::new(7, FD_READ);
        assert!(!m.on_revents(PollMask::NVAL, Role::Connected, || true));
        assert_eq!(m.wanted(Role::Connected), 0);
    }

    #[test]
    fn fd_connect_is_recorded_once() {
        let mut n = NetEvents::new(7, FD_CONNECT | FD_WRITE);
        assert!(n.record(FD_CONNECT, 0));
        assert!(!n.record(FD_CONNECT, 0));
        n.reenable(FD_CONNECT);
        assert!(!n.record(FD_CONNECT, 0), "connect is not re-enabled");
        assert_eq!(n.take().0, FD_CONNECT);
    }

    #[test]
    fn datagram_sockets_record_only_fd_read_and_fd_write() {
        let all = FD_READ | FD_WRITE | FD_CLOSE | FD_CONNECT | FD_ACCEPT;
        let mut n = NetEvents::new(7, all);
        assert_eq!(
            n.wanted(Role::Datagram),
            IN | OUT,
            "no RDHUP: nothing closes"
        );
        assert!(n.on_revents(IN | OUT | HUP | RDHUP, Role::Datagram, || true));
        assert_eq!(n.take().0, FD_READ | FD_WRITE);
        assert_eq!(
            n.wanted(Role::Datagram),
            0,
            "each waits for its re-enabling call"
        );
        assert!(n.reenable(FD_READ));
        assert_eq!(n.wanted(Role::Datagram), IN);
        // A hang-up alone records nothing and parks the socket instead of spinning.
        let mut m = NetEvents::new(7, FD_CLOSE);
        assert!(!m.on_revents(HUP, Role::Datagram, || false));
        assert_eq!(m.wanted(Role::Datagram), 0);
    }

    #[test]
    fn message_receives_refuse_waitall_and_report_truncation() {
        assert_eq!(message_recv_flags(MSG_WAITALL), Err(WSAEOPNOTSUPP));
        assert_eq!(
            message_recv_flags(MSG_PEEK),
            Ok(afunix_proto::wire::MSG_PEEK)
        );
        assert_eq!(message_recv_flags(MSG_OOB), Err(WSAEOPNOTSUPP));
        assert_eq!(message_received(5, false), Ok(5));
        assert_eq!(message_received(0, false), Ok(0), "an empty datagram");
        assert_eq!(message_received(4, true), Err(WSAEMSGSIZE));
        assert_eq!(
            sockopt(SOL_SOCKET, SO_MAX_MSG_SIZE),
            Some(SockOpt::MaxMessageSize)
        );
    }

    #[test]
    fn timeouts_read_a_dword() {
        assert_eq!(timeout_ms(&250u32.to_ne_bytes()), Some(250));
        assert_eq!(timeout_ms(&[1, 2]), None);
    }
}
