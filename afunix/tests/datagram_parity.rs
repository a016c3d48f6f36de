//! A program written for `std::os::unix::net::UnixDatagram` runs on `afunix::net` with its
//! `use` lines changed and nothing else. The program is written once, in a macro, and
//! compiled twice: against afunix (the in-process engine, everywhere) and, on Linux, against
//! std's own sockets. Each run records what every call returned; the two records must agree.

/// The program: every line it records is what a call returned, with paths cut to their
/// file names (the two runs use two directories).
macro_rules! datagram_program {
    ($module:ident { $($imports:item)* }) => {
        mod $module {
            $($imports)*
            use std::net::Shutdown;
            use std::path::Path;
            use std::time::Duration;

            fn name(addr: &SocketAddr) -> String {
                if let Some(path) = addr.as_pathname() {
                    return format!("path {:?}", path.file_name());
                }
                match addr.as_abstract_name() {
                    Some(name) => format!("abstract {name:?}"),
                    None => "unnamed".to_string(),
                }
            }

            fn kind<T: std::fmt::Debug>(r: std::io::Result<T>) -> String {
                match r {
                    Ok(v) => format!("ok {v:?}"),
                    Err(e) => format!("err {:?}", e.kind()),
                }
            }

            pub fn run(dir: &Path, tag: &str) -> std::io::Result<Vec<String>> {
                let mut seen = Vec::new();
                let a_path = dir.join("a.sock");
                let b_path = dir.join("b.sock");
                let a = UnixDatagram::bind(&a_path)?;
                let b = UnixDatagram::bind(&b_path)?;
                seen.push(format!("a is {}", name(&a.local_addr()?)));
                seen.push(format!("a's peer: {}", kind(a.peer_addr().map(|x| name(&x)))));
                // Unconnected: send has nowhere to go.
                seen.push(format!("send unconnected: {}", kind(a.send(b"x"))));

                // Messages keep their boundaries, and a short buffer drops the rest of one.
                assert_eq!(b.send_to(b"first message", &a_path)?, 13);
                assert_eq!(b.send_to(b"second", &a_path)?, 6);
                assert_eq!(b.send_to(b"", &a_path)?, 0);
                let mut buf = [0u8; 5];
                let (n, from) = a.recv_from(&mut buf)?;
                seen.push(format!("recv_from {:?} from {}", &buf[..n], name(&from)));
                // (peek and peek_from are not stable in std: tests/datagram.rs has them.)
                let mut big = [0u8; 64];
                let n = a.recv(&mut big)?;
                seen.push(format!("recv {:?}", &big[..n]));
                let (n, from) = a.recv_from(&mut big)?;
                seen.push(format!("empty message: {n} from {}", name(&from)));

                // Nothing queued: non-blocking and timed-out receives.
                a.set_nonblocking(true)?;
                seen.push(format!("nonblocking recv: {}", kind(a.recv(&mut big))));
                a.set_nonblocking(false)?;
                seen.push(format!("zero timeout: {}", kind(a.set_read_timeout(Some(Duration::ZERO)))));
                a.set_read_timeout(Some(Duration::from_millis(50)))?;
                // (Linux reads a timeout back rounded to its clock's ticks: not compared.)
                seen.push(format!("read timeout set: {}", a.read_timeout()?.is_some()));
                seen.push(format!("timed-out recv: {}", kind(a.recv_from(&mut big).map(|(n, _)| n))));
                a.set_read_timeout(None)?;
                a.set_write_timeout(Some(Duration::from_secs(2)))?;
                seen.push(format!("write timeout {:?}", a.write_timeout()?));

                // An unbound sender is reported as unnamed.
                let anon = UnixDatagram::unbound()?;
                anon.send_to(b"anon", &a_path)?;
                let (n, from) = a.recv_from(&mut big)?;
                seen.push(format!("from unbound: {:?} {}", &big[..n], name(&from)));

                // Connected: send goes to the peer, and only the peer is heard.
                a.connect(&b_path)?;
                seen.push(format!("a's peer now {}", name(&a.peer_addr()?)));
                a.send(b"to b")?;
                let (n, from) = b.recv_from(&mut big)?;
                seen.push(format!("b got {:?} from {}", &big[..n], name(&from)));
                seen.push(format!(
                    "a connected elsewhere hears from anon: {}",
                    kind(anon.send_to(b"no", &a_path))
                ));

                // Names that no socket holds.
                let gone = dir.join("gone.sock");
                seen.push(format!("to a missing file: {}", kind(anon.send_to(b"x", &gone))));
                let c_path = dir.join("c.sock");
                drop(UnixDatagram::bind(&c_path)?);
                seen.push(format!("to a closed socket's file: {}", kind(anon.send_to(b"x", &c_path))));
                seen.push(format!("bind a taken path: {}", kind(UnixDatagram::bind(&a_path).map(|_| ()))));

                // Abstract names.
                let abs = SocketAddr::from_abstract_name(format!("afunix-dgram-parity-{tag}"))?;
                let c = UnixDatagram::bind_addr(&abs)?;
                anon.send_to_addr(b"abstract", &abs)?;
                let (n, from) = c.recv_from(&mut big)?;
                seen.push(format!("abstract got {:?} from {}", &big[..n], name(&from)));
                anon.connect_addr(&abs)?;
                anon.send(b"again")?;
                let n = c.recv(&mut big)?;
                seen.push(format!("abstract recv {:?}", &big[..n]));

                // A pair, a clone, shutdown.
                let (p, q) = UnixDatagram::pair()?;
                let q2 = q.try_clone()?;
                p.send(b"pair")?;
                let n = q2.recv(&mut big)?;
                seen.push(format!("pair: {:?} via the clone", &big[..n]));
                seen.push(format!("pair names {} {}", name(&p.local_addr()?), name(&p.peer_addr()?)));
                p.shutdown(Shutdown::Write)?;
                seen.push(format!("send after shutdown: {}", kind(p.send(b"x"))));
                q.shutdown(Shutdown::Read)?;
                seen.push(format!("recv after shutdown: {}", kind(q.recv(&mut big))));
                seen.push(format!("take_error: {:?}", a.take_error()?.map(|e| e.kind())));
                let (r, s) = UnixDatagram::pair()?;
                drop(s);
                seen.push(format!("send to a closed peer: {}", kind(r.send(b"x"))));
                seen.push(format!("its peer then: {}", kind(r.peer_addr().map(|x| name(&x)))));
                Ok(seen)
            }
        }
    };
}

datagram_program! {
    on_afunix {
        use afunix::net::{SocketAddr, UnixDatagram};
    }
}

#[cfg(target_os = "linux")]
datagram_program! {
    on_std {
        use std::os::linux::net::SocketAddrExt;
        use std::os::unix::net::{SocketAddr, UnixDatagram};
    }
}

fn fresh_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("afunix-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn show(seen: &[String]) -> String {
    seen.join("\n")
}

/// What the program records on Linux 6.18 (std's sockets), so the check holds where std's
/// sockets are not there to compare with.
const LINUX: &str = r#"a is path Some("a.sock")
a's peer: err NotConnected
send unconnected: err NotConnected
recv_from [102, 105, 114, 115, 116] from path Some("b.sock")
recv [115, 101, 99, 111, 110, 100]
empty message: 0 from path Some("b.sock")
nonblocking recv: err WouldBlock
zero timeout: err InvalidInput
read timeout set: true
timed-out recv: err WouldBlock
write timeout Some(2s)
from unbound: [97, 110, 111, 110] unnamed
a's peer now path Some("b.sock")
b got [116, 111, 32, 98] from path Some("a.sock")
a connected elsewhere hears from anon: err PermissionDenied
to a missing file: err NotFound
to a closed socket's file: err ConnectionRefused
bind a taken path: err AddrInUse
abstract got [97, 98, 115, 116, 114, 97, 99, 116] from unnamed
abstract recv [97, 103, 97, 105, 110]
pair: [112, 97, 105, 114] via the clone
pair names unnamed unnamed
send after shutdown: err BrokenPipe
recv after shutdown: ok 0
take_error: None
send to a closed peer: err ConnectionRefused
its peer then: err NotConnected"#;

#[test]
fn the_program_runs_on_afunix() {
    let seen = on_afunix::run(&fresh_dir("dgram-afunix"), "afunix").unwrap();
    assert_eq!(show(&seen), LINUX);
}

#[cfg(target_os = "linux")]
#[test]
fn the_program_agrees_with_std() {
    let ours = on_afunix::run(&fresh_dir("dgram-ours"), "ours").unwrap();
    let std = on_std::run(&fresh_dir("dgram-std"), "std").unwrap();
    assert_eq!(show(&ours), show(&std));
    assert_eq!(show(&std), LINUX, "Linux itself has changed");
}
