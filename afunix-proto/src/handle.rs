//! Handles named inside a request: ACCEPT's new socket, SOCKETPAIR's second socket, POLL's
//! entries.
//!
//! A request may only name the caller's own handles. Two facts make that checkable before
//! any handle table is consulted:
//!
//! 1. A user-mode handle value is an index into the process's handle table times four (plus
//!    two tag bits the system ignores). The table holds at most 2^24 entries, so every value
//!    the system hands to user mode is below 2^26.
//! 2. Everything else a 64-bit value could name is negative or has bit 31 set: kernel
//!    handles (`0xFFFFFFFF8xxxxxxx`, looked up in the system's handle table whenever a
//!    kernel-mode caller names them), the 32-bit kernel-handle flag `0x80000000`, and the
//!    pseudo-handles (-1 the current process, -2 the current thread, -3 to -6 its tokens).
//!
//! [`is_user_handle`] therefore accepts exactly `1..2^31`: a margin of 32 above the largest
//! real value, and nothing a kernel-mode lookup would resolve in the system's table.

/// The largest value [`is_user_handle`] accepts.
pub const MAX_USER_HANDLE: u64 = 0x7FFF_FFFF;

/// Whether `value` can be a handle in a user-mode process's own table. Anything else is
/// refused before any lookup, with the error every other handle that is not one of the
/// caller's sockets gets.
pub const fn is_user_handle(value: u64) -> bool {
    value != 0 && value <= MAX_USER_HANDLE
}

/// What the caller's handle must have been opened for, in `FILE_*` access rights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandleAccess {
    /// Asking about the socket (POLL): `FILE_READ_DATA`.
    Read,
    /// Attaching a connection to the socket (ACCEPT, SOCKETPAIR), which then carries data
    /// both ways: `FILE_READ_DATA | FILE_WRITE_DATA`.
    ReadWrite,
}

/// `FILE_READ_DATA`.
pub const FILE_READ_DATA: u32 = 0x1;
/// `FILE_WRITE_DATA`.
pub const FILE_WRITE_DATA: u32 = 0x2;

impl HandleAccess {
    /// The access mask a handle's granted access must include.
    pub const fn rights(self) -> u32 {
        match self {
            HandleAccess::Read => FILE_READ_DATA,
            HandleAccess::ReadWrite => FILE_READ_DATA | FILE_WRITE_DATA,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_and_pseudo_handles_are_not_user_handles() {
        // A kernel handle as 64-bit Windows writes it, and with the 32-bit flag alone.
        assert!(!is_user_handle(0xFFFF_FFFF_8000_0004));
        assert!(!is_user_handle(0x8000_0004));
        // NtCurrentProcess, NtCurrentThread and the token pseudo-handles.
        for pseudo in 1..=6i64 {
            assert!(!is_user_handle((-pseudo) as u64));
        }
        // The null handle, and values whose low 32 bits alone would name a handle (a
        // front end that truncated to 32 bits would otherwise see handle 4).
        assert!(!is_user_handle(0));
        assert!(!is_user_handle(0x1_0000_0004));
    }

    #[test]
    fn every_value_a_handle_table_can_hold_is_accepted() {
        assert!(is_user_handle(4));
        // 2^24 entries, times four, plus the two tag bits.
        assert!(is_user_handle((1 << 26) - 1));
        assert!(is_user_handle(MAX_USER_HANDLE));
    }
}
