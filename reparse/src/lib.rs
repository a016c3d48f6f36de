//! The reparse point that marks an afunix-rs socket file: parse and emit.
//!
//! `bind` creates the socket file and sets on it a `REPARSE_GUID_DATA_BUFFER` carrying our tag
//! ([`IO_REPARSE_TAG_AFUNIXRS`]), our GUID ([`AFUNIXRS_REPARSE_GUID`]) and a small versioned
//! payload ([`SocketFile`]): the socket type, the creating process, a random nonce and the
//! creation time. `connect` reads it back and checks tag and GUID before it looks the binding
//! up by file ID.
//!
//! The payload is a marker, never an authority. The driver's binding table (volume serial +
//! file ID -> socket) decides where a connect goes; anyone who can write a file can forge this
//! payload, and a forged file is simply a file with no binding, so connecting to it is
//! refused. The nonce and time help a person (or a tool) tell one binding's file from an
//! older one at the same path; they grant nothing.
//!
//! # Why our own tag, not Microsoft's `IO_REPARSE_TAG_AF_UNIX`
//!
//! Microsoft's afunix.sys marks its socket files with `IO_REPARSE_TAG_AF_UNIX` (0x80000023).
//! Reusing it would buy recognition: Go's `os.Stat` and Python's `stat` report such a file as
//! a socket (`ModeSocket`, `S_IFSOCK`), and so do tools built on them. It would also bring
//! confusion we cannot afford:
//!
//! - Microsoft's driver would treat our files as its own: a Winsock `connect` to our path
//!   would go to afunix.sys, find no listener of its own and fail with `WSAECONNREFUSED`,
//!   and its `bind` semantics (and any future change to them) would apply to our files.
//! - The tag is Microsoft's (M bit set). A third party may not define what its buffer holds,
//!   so its payload layout is not ours to choose, and a Microsoft tag carries no GUID to tell
//!   the two apart.
//!
//! So we use a non-Microsoft tag with a GUID of our own; [`IO_REPARSE_TAG_AFUNIXRS`]'s
//! documentation says how it was chosen. The cost is that stat-based tools show our socket
//! files as plain reparse points.
//!
//! # Layout (little-endian)
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | `ReparseTag` = [`IO_REPARSE_TAG_AFUNIXRS`] |
//! | 4 | 2 | `ReparseDataLength` = 32 (the payload's length) |
//! | 6 | 2 | `Reserved` = 0 |
//! | 8 | 16 | `ReparseGuid` = [`AFUNIXRS_REPARSE_GUID`] |
//! | 24 | 2 | payload `version` = 1 |
//! | 26 | 2 | payload `socket_type`: 1 stream, 2 datagram, 5 seqpacket (Linux's `SOCK_*`) |
//! | 28 | 4 | payload `creator_pid` |
//! | 32 | 16 | payload `nonce`, random per bind |
//! | 48 | 8 | payload `created`: FILETIME, 100 ns units since 1601-01-01 UTC |
//!
//! On volumes that cannot hold reparse points (FAT, exFAT, some shares, and Wine) the socket
//! file stays a plain empty file and none of this is written; the binding by file ID works
//! the same.

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

use core::mem::{offset_of, size_of};

pub use afunix_proto::socketfile::{
    AFUNIXRS_REPARSE_GUID, IO_REPARSE_TAG_AFUNIXRS, MAXIMUM_REPARSE_DATA_BUFFER_SIZE,
};
use static_assertions::const_assert_eq;
use zerocopy::byteorder::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// The payload version this crate writes and reads.
pub const PAYLOAD_VERSION: u16 = 1;

/// The fixed part of a `REPARSE_GUID_DATA_BUFFER`.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
struct GuidHeader {
    reparse_tag: U32,
    reparse_data_length: U16,
    reserved: U16,
    reparse_guid: [u8; 16],
}

/// Our payload, version 1.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
struct PayloadV1 {
    version: U16,
    socket_type: U16,
    creator_pid: U32,
    nonce: [u8; 16],
    created: U64,
}

/// `REPARSE_GUID_DATA_BUFFER_HEADER_SIZE`.
pub const HEADER_LEN: usize = 24;
/// The payload's length in version 1.
pub const PAYLOAD_LEN: usize = 32;
/// The whole buffer [`SocketFile::emit`] writes, and `FSCTL_GET_REPARSE_POINT` returns.
pub const BUFFER_LEN: usize = HEADER_LEN + PAYLOAD_LEN;

const_assert_eq!(size_of::<GuidHeader>(), HEADER_LEN);
const_assert_eq!(offset_of!(GuidHeader, reparse_data_length), 4);
const_assert_eq!(offset_of!(GuidHeader, reparse_guid), 8);
const_assert_eq!(size_of::<PayloadV1>(), PAYLOAD_LEN);
const_assert_eq!(offset_of!(PayloadV1, creator_pid), 4);
const_assert_eq!(offset_of!(PayloadV1, nonce), 8);
const_assert_eq!(offset_of!(PayloadV1, created), 24);
const_assert_eq!(BUFFER_LEN, 56);

/// The socket types a socket file can be bound by, numbered as Linux's `SOCK_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SocketType {
    Stream,
    Dgram,
    SeqPacket,
}

impl SocketType {
    pub const fn to_raw(self) -> u16 {
        match self {
            SocketType::Stream => 1,
            SocketType::Dgram => 2,
            SocketType::SeqPacket => 5,
        }
    }

    pub const fn from_raw(raw: u16) -> Option<Self> {
        match raw {
            1 => Some(SocketType::Stream),
            2 => Some(SocketType::Dgram),
            5 => Some(SocketType::SeqPacket),
            _ => None,
        }
    }
}

/// What a socket file's reparse point says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SocketFile {
    pub socket_type: SocketType,
    pub creator_pid: u32,
    pub nonce: [u8; 16],
    /// FILETIME: 100 ns units since 1601-01-01 UTC.
    pub created: u64,
}

/// Why a buffer is not one of our socket files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Shorter than the header, or than the length the header claims.
    Truncated,
    /// Longer than `MAXIMUM_REPARSE_DATA_BUFFER_SIZE`.
    TooLarge,
    /// Another reparse tag: not our file (a symlink, a mount point, Microsoft's AF_UNIX ...).
    WrongTag(u32),
    /// Our tag with another GUID: not our file.
    WrongGuid,
    /// The header's reserved field is not zero.
    ReservedNotZero,
    /// `ReparseDataLength` does not match the bytes that follow, or the payload's version.
    LengthMismatch,
    /// A payload version this build does not know.
    UnknownVersion(u16),
    /// A socket type we do not define.
    UnknownSocketType(u16),
}

impl core::fmt::Display for ParseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ParseError::Truncated => f.write_str("reparse buffer truncated"),
            ParseError::TooLarge => f.write_str("reparse buffer larger than 16 KiB"),
            ParseError::WrongTag(tag) => write!(f, "reparse tag {tag:#010x} is not afunix-rs'"),
            ParseError::WrongGuid => f.write_str("reparse GUID is not afunix-rs'"),
            ParseError::ReservedNotZero => f.write_str("reserved field not zero"),
            ParseError::LengthMismatch => f.write_str("reparse data length does not match"),
            ParseError::UnknownVersion(v) => write!(f, "unknown payload version {v}"),
            ParseError::UnknownSocketType(t) => write!(f, "unknown socket type {t}"),
        }
    }
}

/// Why a buffer could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferTooSmall;

impl SocketFile {
    /// Writes the whole reparse buffer (header and payload) to the start of `out` and returns
    /// its length, [`BUFFER_LEN`].
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let header = GuidHeader {
            reparse_tag: U32::new(IO_REPARSE_TAG_AFUNIXRS),
            reparse_data_length: U16::new(PAYLOAD_LEN as u16),
            reserved: U16::ZERO,
            reparse_guid: AFUNIXRS_REPARSE_GUID.to_bytes(),
        };
        let payload = PayloadV1 {
            version: U16::new(PAYLOAD_VERSION),
            socket_type: U16::new(self.socket_type.to_raw()),
            creator_pid: U32::new(self.creator_pid),
            nonce: self.nonce,
            created: U64::new(self.created),
        };
        let out = out.get_mut(..BUFFER_LEN).ok_or(BufferTooSmall)?;
        let (head, body) = out.split_at_mut(HEADER_LEN);
        header.write_to(head).map_err(|_| BufferTooSmall)?;
        payload.write_to(body).map_err(|_| BufferTooSmall)?;
        Ok(BUFFER_LEN)
    }

    /// The reparse buffer as an array.
    pub fn to_bytes(&self) -> [u8; BUFFER_LEN] {
        let mut out = [0u8; BUFFER_LEN];
        // The array is exactly BUFFER_LEN long, so this cannot fail.
        let _ = self.emit(&mut out);
        out
    }

    /// Parses a reparse buffer as `FSCTL_GET_REPARSE_POINT` returns it, checking every field.
    ///
    /// Trailing bytes beyond `HEADER_LEN + ReparseDataLength` are refused, since the file
    /// system returns exactly what was set.
    pub fn parse(bytes: &[u8]) -> Result<SocketFile, ParseError> {
        if bytes.len() > MAXIMUM_REPARSE_DATA_BUFFER_SIZE {
            return Err(ParseError::TooLarge);
        }
        let (header, rest) =
            GuidHeader::read_from_prefix(bytes).map_err(|_| ParseError::Truncated)?;
        let tag = header.reparse_tag.get();
        if tag != IO_REPARSE_TAG_AFUNIXRS {
            return Err(ParseError::WrongTag(tag));
        }
        if header.reparse_guid != AFUNIXRS_REPARSE_GUID.to_bytes() {
            return Err(ParseError::WrongGuid);
        }
        if header.reserved.get() != 0 {
            return Err(ParseError::ReservedNotZero);
        }
        let data_len = usize::from(header.reparse_data_length.get());
        if rest.len() < data_len {
            return Err(ParseError::Truncated);
        }
        if rest.len() > data_len {
            return Err(ParseError::LengthMismatch);
        }
        // The version comes first in every payload version, so it can be read alone.
        let version = U16::read_from_prefix(rest)
            .map_err(|_| ParseError::Truncated)?
            .0
            .get();
        if version != PAYLOAD_VERSION {
            return Err(ParseError::UnknownVersion(version));
        }
        if data_len != PAYLOAD_LEN {
            return Err(ParseError::LengthMismatch);
        }
        let payload = PayloadV1::read_from_bytes(rest).map_err(|_| ParseError::LengthMismatch)?;
        let raw_type = payload.socket_type.get();
        let socket_type =
            SocketType::from_raw(raw_type).ok_or(ParseError::UnknownSocketType(raw_type))?;
        Ok(SocketFile {
            socket_type,
            creator_pid: payload.creator_pid.get(),
            nonce: payload.nonce,
            created: payload.created.get(),
        })
    }
}

#[cfg(test)]
mod tests;
