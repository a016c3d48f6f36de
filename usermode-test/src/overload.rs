//! The driver at its caps, under Wine: `usermode-test overload`. Run with the driver loaded
//! with `Parameters\UserShareDivisor` 1, so that the one user Wine has may reach the global
//! caps (with the default quarter shares it meets EMFILE first, which `shares` checks).
//!
//! 1. Sockets: exactly the cap (STATS' max_sockets, 16,384), then one more is refused with
//!    EMFILE (the user's share, which is then the whole cap, is checked first); closing them all brings STATS back to zero.
//! 2. Bytes: many connections write, non-blocking, until the driver's global cap on buffered
//!    bytes (64 MiB) is reached: each write is accepted whole, in part (a partial count), or
//!    refused with EAGAIN (its own buffers full) or ENOBUFS (the global cap), as documented;
//!    STATS then shows exactly the cap buffered, and one more byte on every connection is
//!    refused. Every reader then drains exactly what its writer was told was accepted, byte
//!    for byte (a position-derived pattern), and STATS returns to zero.

#[cfg(windows)]
mod imp {
    use std::io::{Read, Write};
    use std::time::Instant;

    use afunix::{Errno, Net, UnixStream};

    use crate::faults::{expect_empty, sockets_until_refused, stats};

    fn pattern(id: usize, offset: u64) -> u8 {
        (offset
            .wrapping_mul(11)
            .wrapping_add(offset >> 9)
            .wrapping_add(id as u64 * 29)
            % 253) as u8
    }

    fn sockets() -> Result<(), String> {
        let net = Net::system();
        let s = stats()?;
        let cap = s.max_sockets as usize;
        let start = Instant::now();
        let (sockets, error) = sockets_until_refused(&net, cap)?;
        let s = stats()?;
        println!(
            "overload: {} sockets made in {:?}, then {error} ({:?}); STATS: {} of {} sockets",
            sockets.len(),
            start.elapsed(),
            afunix::errno_of(&error),
            s.sockets,
            s.max_sockets
        );
        // With UserShareDivisor 1 the one user's share is the whole cap, and the engine
        // checks the share first: EMFILE (ENFILE would be the global check's answer).
        if sockets.len() != cap
            || !matches!(
                afunix::errno_of(&error),
                Some(Errno::EMFILE | Errno::ENFILE)
            )
        {
            return Err(format!(
                "expected {cap} sockets, then EMFILE or ENFILE (is UserShareDivisor 1?)"
            ));
        }
        if s.sockets != cap as u64 {
            return Err("STATS does not show the cap of sockets".into());
        }
        drop(sockets);
        expect_empty("overload: sockets closed")
    }

    struct Connection {
        writer: UnixStream,
        reader: UnixStream,
        accepted: u64,
    }

    fn bytes(connections: usize) -> Result<(), String> {
        let net = Net::system();
        let cap = stats()?.max_bytes_buffered;
        let mut conns = Vec::with_capacity(connections);
        for _ in 0..connections {
            let (writer, reader) = net.pair().map_err(|e| format!("pair: {e}"))?;
            writer
                .set_nonblocking(true)
                .map_err(|e| format!("set_nonblocking: {e}"))?;
            reader
                .set_nonblocking(true)
                .map_err(|e| format!("set_nonblocking: {e}"))?;
            conns.push(Connection {
                writer,
                reader,
                accepted: 0,
            });
        }
        let start = Instant::now();
        let (mut partial, mut eagain, mut enobufs) = (0u64, 0u64, 0u64);
        let mut chunk = vec![0u8; 64 * 1024];
        for (id, c) in conns.iter_mut().enumerate() {
            loop {
                for (i, byte) in chunk.iter_mut().enumerate() {
                    *byte = pattern(id, c.accepted + i as u64);
                }
                match (&c.writer).write(&chunk) {
                    Ok(0) => return Err(format!("connection {id}: a write accepted 0 bytes")),
                    Ok(n) => {
                        if n < chunk.len() {
                            partial += 1;
                        }
                        c.accepted += n as u64;
                    }
                    Err(e) => match afunix::errno_of(&e) {
                        Some(Errno::EAGAIN) => {
                            eagain += 1;
                            break;
                        }
                        Some(Errno::ENOBUFS) => {
                            enobufs += 1;
                            break;
                        }
                        _ => return Err(format!("connection {id}: write: {e}")),
                    },
                }
            }
        }
        let accepted: u64 = conns.iter().map(|c| c.accepted).sum();
        let s = stats()?;
        println!(
            "overload: {connections} connections filled in {:?}: {accepted} bytes accepted ({partial} partial counts), {eagain} writers stopped by EAGAIN (their buffers full), {enobufs} by ENOBUFS (the global cap); STATS: {} of {} bytes buffered",
            start.elapsed(),
            s.bytes_buffered,
            s.max_bytes_buffered
        );
        if s.bytes_buffered != accepted {
            return Err(format!(
                "STATS shows {} bytes buffered, the writers were told {accepted}",
                s.bytes_buffered
            ));
        }
        if accepted != cap || enobufs == 0 {
            return Err(format!(
                "expected the global cap ({cap} bytes) reached and ENOBUFS (is UserShareDivisor 1?)"
            ));
        }
        // At the cap, one more byte is refused on every connection.
        let mut refused_again = 0;
        for (id, c) in conns.iter().enumerate() {
            match (&c.writer).write(&[pattern(id, c.accepted)]) {
                Err(e) if matches!(afunix::errno_of(&e), Some(Errno::ENOBUFS | Errno::EAGAIN)) => {
                    refused_again += 1;
                }
                other => {
                    return Err(format!(
                        "connection {id}: one more byte at the cap gave {other:?}"
                    ));
                }
            }
        }
        println!("overload: at the cap, one more byte refused on all {refused_again} connections");
        // Every reader drains exactly what was accepted, in order.
        let mut buf = vec![0u8; 64 * 1024];
        for (id, c) in conns.iter().enumerate() {
            let mut received = 0u64;
            loop {
                match (&c.reader).read(&mut buf) {
                    Ok(0) => return Err(format!("connection {id}: EOF")),
                    Ok(n) => {
                        for (i, byte) in buf[..n].iter().enumerate() {
                            if *byte != pattern(id, received + i as u64) {
                                return Err(format!(
                                    "connection {id}: byte {} is wrong",
                                    received + i as u64
                                ));
                            }
                        }
                        received += n as u64;
                    }
                    Err(e) if afunix::errno_of(&e) == Some(Errno::EAGAIN) => break,
                    Err(e) => return Err(format!("connection {id}: read: {e}")),
                }
            }
            if received != c.accepted {
                return Err(format!(
                    "connection {id}: {} bytes accepted, {received} read",
                    c.accepted
                ));
            }
        }
        let s = stats()?;
        println!(
            "overload: every reader drained exactly what was accepted, in order; STATS: {} bytes buffered",
            s.bytes_buffered
        );
        if s.bytes_buffered != 0 {
            return Err("bytes still buffered after every reader drained".into());
        }
        drop(conns);
        expect_empty("overload: connections closed")
    }

    pub fn run(connections: usize) -> Result<(), String> {
        expect_empty("overload: before")?;
        sockets()?;
        bytes(connections)
    }
}

#[cfg(windows)]
pub use imp::run;

#[cfg(not(windows))]
pub fn run(_connections: usize) -> Result<(), String> {
    Err("overload drives the afunixrs driver: run the Windows build".into())
}
