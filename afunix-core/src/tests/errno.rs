//! The errno mappings.

use crate::*;

#[test]
fn ntstatus_round_trips_every_errno() {
    for e in ALL_ERRNOS {
        let st = e.to_ntstatus();
        assert_eq!(Errno::from_ntstatus(st), Some(e), "{e}");
        assert!(st & 0xC000_0000 == 0xC000_0000, "{e} is an error status");
        assert_eq!(Errno::from_number(e.number()), Some(e));
        assert!(e.to_wsa() >= 995, "{e}");
    }
    assert_eq!(Errno::ECONNRESET.to_ntstatus(), 0xE0AF_0068);
    assert_eq!(Errno::ECANCELED.to_ntstatus(), STATUS_CANCELLED);
    assert_eq!(Errno::from_ntstatus(0xC000_0001), None);
}

#[test]
fn linux_numbers_and_wsa_codes() {
    assert_eq!(Errno::EAGAIN.number(), 11);
    assert_eq!(Errno::ECONNREFUSED.number(), 111);
    assert_eq!(Errno::EAGAIN.to_wsa(), 10035);
    assert_eq!(Errno::ECONNRESET.to_wsa(), 10054);
    assert_eq!(Errno::EPIPE.to_wsa(), 10058);
}
