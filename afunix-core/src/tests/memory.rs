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

#[test]
fn blocking_send_beyond_global_cap_reports_what_went() {
    let mut fx = Fx::with(Limits {
        global_buffer_cap: 1000,
        ..Limits::default()
    });
    let (a, _b) = fx.pair();
    let t = fx.token();
    // 1000 fit; holding the other 500 for later would pass the cap: a partial send.
    assert_eq!(
        fx.e.send(a, &vec![0u8; 1500], SendFlags::default(), t),
        Outcome::Ready(Ok(1000))
    );
    assert_eq!(fx.e.pending_count(), 0);
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
