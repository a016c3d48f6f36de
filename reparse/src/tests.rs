use afunix_proto::socketfile::IO_REPARSE_TAG_AF_UNIX;
use proptest::prelude::*;

use super::*;

fn sample() -> SocketFile {
    SocketFile {
        socket_type: SocketType::Stream,
        creator_pid: 0x1234,
        nonce: *b"0123456789abcdef",
        created: 133_000_000_000_000_000,
    }
}

#[test]
fn emits_the_documented_layout() {
    let bytes = sample().to_bytes();
    assert_eq!(bytes.len(), 56);
    assert_eq!(bytes[0..4], 0x0000_AF05u32.to_le_bytes());
    assert_eq!(bytes[4..6], 32u16.to_le_bytes());
    assert_eq!(bytes[6..8], [0, 0]);
    assert_eq!(bytes[8..24], AFUNIXRS_REPARSE_GUID.to_bytes());
    assert_eq!(bytes[24..26], 1u16.to_le_bytes());
    assert_eq!(bytes[26..28], 1u16.to_le_bytes());
    assert_eq!(bytes[28..32], 0x1234u32.to_le_bytes());
    assert_eq!(&bytes[32..48], b"0123456789abcdef");
    assert_eq!(bytes[48..56], 133_000_000_000_000_000u64.to_le_bytes());
}

#[test]
fn emit_refuses_a_short_buffer_and_writes_nothing_past_it() {
    let mut out = [0xAAu8; BUFFER_LEN - 1];
    assert_eq!(sample().emit(&mut out), Err(BufferTooSmall));
    let mut out = [0u8; BUFFER_LEN + 8];
    assert_eq!(sample().emit(&mut out), Ok(BUFFER_LEN));
    assert_eq!(out[BUFFER_LEN..], [0; 8]);
}

#[test]
fn parses_what_it_emits() {
    for socket_type in [SocketType::Stream, SocketType::Dgram, SocketType::SeqPacket] {
        let file = SocketFile {
            socket_type,
            ..sample()
        };
        assert_eq!(SocketFile::parse(&file.to_bytes()), Ok(file));
    }
}

#[test]
fn refuses_other_tags_including_microsofts_af_unix() {
    let mut bytes = sample().to_bytes();
    bytes[0..4].copy_from_slice(&IO_REPARSE_TAG_AF_UNIX.to_le_bytes());
    assert_eq!(
        SocketFile::parse(&bytes),
        Err(ParseError::WrongTag(IO_REPARSE_TAG_AF_UNIX))
    );
    // A symbolic link's tag.
    bytes[0..4].copy_from_slice(&0xA000_000Cu32.to_le_bytes());
    assert_eq!(
        SocketFile::parse(&bytes),
        Err(ParseError::WrongTag(0xA000_000C))
    );
}

#[test]
fn refuses_another_guid() {
    let mut bytes = sample().to_bytes();
    bytes[23] ^= 1;
    assert_eq!(SocketFile::parse(&bytes), Err(ParseError::WrongGuid));
}

#[test]
fn refuses_bad_lengths() {
    let bytes = sample().to_bytes();
    for cut in 0..HEADER_LEN {
        assert_eq!(
            SocketFile::parse(&bytes[..cut]),
            Err(ParseError::Truncated),
            "cut at {cut}"
        );
    }
    for cut in HEADER_LEN..BUFFER_LEN {
        assert_eq!(
            SocketFile::parse(&bytes[..cut]),
            Err(ParseError::Truncated),
            "cut at {cut}"
        );
    }
    let mut longer = [0u8; BUFFER_LEN + 1];
    longer[..BUFFER_LEN].copy_from_slice(&bytes);
    assert_eq!(SocketFile::parse(&longer), Err(ParseError::LengthMismatch));
    // The header claims a shorter payload than version 1 has.
    let mut short_claim = bytes;
    short_claim[4..6].copy_from_slice(&16u16.to_le_bytes());
    assert_eq!(
        SocketFile::parse(&short_claim[..HEADER_LEN + 16]),
        Err(ParseError::LengthMismatch)
    );
}

#[test]
fn refuses_more_than_16_kib() {
    let mut huge = [0u8; MAXIMUM_REPARSE_DATA_BUFFER_SIZE + 1];
    huge[..BUFFER_LEN].copy_from_slice(&sample().to_bytes());
    assert_eq!(SocketFile::parse(&huge), Err(ParseError::TooLarge));
}

#[test]
fn refuses_reserved_bits_versions_and_types_it_does_not_know() {
    let mut bytes = sample().to_bytes();
    bytes[6] = 1;
    assert_eq!(SocketFile::parse(&bytes), Err(ParseError::ReservedNotZero));
    let mut bytes = sample().to_bytes();
    bytes[24..26].copy_from_slice(&2u16.to_le_bytes());
    assert_eq!(
        SocketFile::parse(&bytes),
        Err(ParseError::UnknownVersion(2))
    );
    let mut bytes = sample().to_bytes();
    bytes[26..28].copy_from_slice(&3u16.to_le_bytes());
    assert_eq!(
        SocketFile::parse(&bytes),
        Err(ParseError::UnknownSocketType(3))
    );
}

fn socket_type() -> impl Strategy<Value = SocketType> {
    prop_oneof![
        Just(SocketType::Stream),
        Just(SocketType::Dgram),
        Just(SocketType::SeqPacket)
    ]
}

prop_compose! {
    fn socket_file()(socket_type in socket_type(), creator_pid in any::<u32>(),
                     nonce in any::<[u8; 16]>(), created in any::<u64>()) -> SocketFile {
        SocketFile { socket_type, creator_pid, nonce, created }
    }
}

proptest! {
    #[test]
    fn round_trips(file in socket_file()) {
        prop_assert_eq!(SocketFile::parse(&file.to_bytes()), Ok(file));
    }

    /// Any bytes at all: an answer, never a panic, and an accepted buffer re-emits to itself.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(file) = SocketFile::parse(&bytes) {
            prop_assert_eq!(&file.to_bytes()[..], &bytes[..]);
        }
    }

    /// A corrupted header or version byte is always rejected; a corrupted payload value
    /// (type, pid, nonce, time) parses only as a different file, never as the same one.
    #[test]
    fn single_byte_corruption(file in socket_file(), at in 0..BUFFER_LEN, flip in 1u8..) {
        let mut bytes = file.to_bytes();
        bytes[at] ^= flip;
        match SocketFile::parse(&bytes) {
            Ok(parsed) => {
                prop_assert!(at >= 26, "header byte {} changed but the buffer still parsed", at);
                prop_assert_ne!(parsed, file);
            }
            // Bytes 26..28 are the socket type, which may become an unknown one.
            Err(_) => prop_assert!(at < 28, "byte {} is free data but was rejected", at),
        }
    }

    #[test]
    fn any_socket_type_byte_flip_is_caught(file in socket_file(), flip in 1u16..) {
        let mut bytes = file.to_bytes();
        let raw = file.socket_type.to_raw() ^ flip;
        bytes[26..28].copy_from_slice(&raw.to_le_bytes());
        match SocketFile::parse(&bytes) {
            Ok(parsed) => prop_assert_eq!(Some(parsed.socket_type), SocketType::from_raw(raw)),
            Err(e) => prop_assert_eq!(e, ParseError::UnknownSocketType(raw)),
        }
    }
}
