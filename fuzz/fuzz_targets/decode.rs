//! The driver's request decoder against arbitrary bytes, for every IOCTL it defines and for
//! codes it does not: an answer, never a crash; and anything it accepts, it accepts again
//! unchanged (decoding has no hidden state).
#![no_main]

use afunix_proto::decode::decode;
use afunix_proto::ioctl::ALL_IOCTLS;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u8, u32, u16, &[u8])| {
    let (which, raw_code, output_len, bytes) = input;
    let code = match ALL_IOCTLS.get(usize::from(which)) {
        Some(code) => *code,
        None => raw_code,
    };
    let first = decode(code, bytes, usize::from(output_len));
    let second = decode(code, bytes, usize::from(output_len));
    assert_eq!(first, second);
});
