//! Memory caps: per-socket SO_SNDBUF and the global cap; nothing lost.

use alloc::vec;

use super::fixtures::*;
use crate::*;

#[test]
fn global_cap_gives_enobufs_without_losing_queued_bytes() {
    let mut fx = Fx::with(Limits {
        global_buffer_cap: 1000,
        ..Limits::default()
    });
    let (a, b) = fx.pair();
    let (c, d) = fx.pair();
    assert_eq!(fx.send(a, &vec![1u8; 800]), Ok(800));
    assert_eq!(
        fx.send(c, &vec![2u8; 800]),
        Ok(200),
        "only what the cap allows"
    );
    assert_eq!(fx.send(c, &[2]), Err(Errno::ENOBUFS));
    assert_eq!(fx.e.memory_used(), 1000);
    assert_eq!(fx.recv(b, 1000).map(|v| v.len()), Ok(800));
    assert_eq!(fx.recv(d, 1000).map(|v| v.len()), Ok(200));
    assert_eq!(fx.e.memory_used(), 0);
    assert_eq!(fx.send(c, &[2]), Ok(1));
}

/// A socket whose send would fail with ENOBUFS for want of room under the global cap is not
/// writable either, and becomes writable again once a reader frees memory: what an async
/// writer waits for instead of failing.
#[test]
fn no_room_under_the_global_cap_is_not_writable_until_memory_is_freed() {
    let mut fx = Fx::with(Limits {
        global_buffer_cap: 1000,
        ..Limits::default()
    });
    let (a, b) = fx.pair();
    let (c, _d) = fx.pair();
    let writable = |fx: &Fx, s| fx.e.poll(s).unwrap().0 & PollMask::OUT != 0;
    assert!(writable(&fx, c));
    assert_eq!(fx.send(a, &vec![1u8; 1000]), Ok(1000));
    assert_eq!(fx.send(c, &[2]), Err(Errno::ENOBUFS));
    assert!(!writable(&fx, c), "writable with no room under the cap");
    assert_eq!(fx.recv(b, 10).map(|v| v.len()), Ok(10));
    assert!(writable(&fx, c), "not writable once memory was freed");
    assert_eq!(fx.send(c, &[2]), Ok(1));
}

#[test]
fn blocking_send_beyond_global_cap_waits_in_its_own_buffer_and_loses_nothing() {
    let mut fx = Fx::with(Limits {
        global_buffer_cap: 1000,
        ..Limits::default()
    });
    let (a, b) = fx.pair();
    let t = fx.token();
    let data: alloc::vec::Vec<u8> = (0..1500u32).map(|i| (i % 251) as u8).collect();
    // The bytes stay in the sender's buffer: the engine never holds more than its cap.
    assert!(fx.e.send(a, &data, SendFlags::default(), t).is_pending());
    assert!(fx.e.memory_used() + fx.e.memory_reserved() <= 1000);
    let mut got = alloc::vec::Vec::new();
    while got.len() < data.len() {
        let part = fx.recv(b, 400).unwrap();
        assert!(!part.is_empty());
        got.extend_from_slice(&part);
    }
    assert_eq!(got, data);
    let c = fx.completions();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].result, Ok(Completed::Sent(1500)));
    assert_eq!(fx.e.memory_used(), 0);
}

#[test]
fn socket_table_cap_is_enfile() {
    let mut fx = Fx::with(Limits {
        max_sockets: 3,
        ..Limits::default()
    });
    let _ = fx.pair();
    let _ = fx.e.socket().unwrap();
    assert_eq!(fx.e.socket(), Err(Errno::ENFILE));
    assert_eq!(fx.e.socketpair(&cred(1)), Err(Errno::ENFILE));
    assert_eq!(fx.e.socket_count(), 3);
}

/// Empty receive rings are kept for reuse only within a budget (an eighth of the global
/// cap), so idle sockets cannot pin memory beyond the caps; closing gives theirs back.
#[test]
fn idle_rings_are_kept_only_within_their_budget() {
    let mut fx = Fx::with(Limits {
        global_buffer_cap: 8 * 8192,
        ..Limits::default()
    });
    // Each burst of 5000 bytes leaves an 8 KiB ring behind (powers of two).
    let pairs: alloc::vec::Vec<_> = (0..4).map(|_| fx.pair()).collect();
    for &(a, b) in &pairs {
        assert_eq!(fx.send(a, &vec![7u8; 5000]), Ok(5000));
        assert_eq!(fx.recv(b, 5000).map(|v| v.len()), Ok(5000));
    }
    // The budget (8 KiB here) keeps one ring; the others were given back.
    assert_eq!(fx.e.idle_ring_bytes(), 8192);
    assert_eq!(fx.e.memory_used(), 0);
    // A kept ring in use again is not idle; emptied, it is counted again.
    let (a, b) = pairs[0];
    assert_eq!(fx.send(a, &[1, 2, 3]), Ok(3));
    assert!(fx.e.idle_ring_bytes() <= 8192);
    assert_eq!(fx.recv(b, 3), Ok(vec![1, 2, 3]));
    assert_eq!(fx.e.idle_ring_bytes(), 8192);
    // Closing every socket leaves nothing counted.
    for (a, b) in pairs {
        fx.e.close(a).unwrap();
        fx.e.close(b).unwrap();
    }
    let _ = fx.completions();
    assert_eq!(fx.e.idle_ring_bytes(), 0);
}
