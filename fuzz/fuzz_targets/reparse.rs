//! The socket file's reparse-buffer parser against arbitrary bytes: an answer, never a
//! crash, and a buffer it accepts re-emits to exactly the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reparse::SocketFile;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(file) = SocketFile::parse(bytes) {
        assert_eq!(&file.to_bytes()[..], bytes);
    }
});
