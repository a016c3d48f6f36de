//! The crate documentation's claim: a program for `std::os::unix::net` runs on afunix by
//! changing its `use` line. This is that program, with that line changed.

// was: use std::os::unix::net::{UnixListener, UnixStream};
use afunix::{UnixListener, UnixStream};
use std::io::{BufRead, BufReader, Write};

#[test]
fn an_echo_server_ported_by_its_use_line() -> std::io::Result<()> {
    let dir = tempdir();
    let path = dir.join("echo.sock");

    let listener = UnixListener::bind(&path)?;
    let server = std::thread::spawn(move || -> std::io::Result<()> {
        for stream in listener.incoming().take(2) {
            let stream = stream?;
            let mut line = String::new();
            BufReader::new(&stream).read_line(&mut line)?;
            (&stream).write_all(line.to_uppercase().as_bytes())?;
        }
        Ok(())
    });

    for word in ["hello", "again"] {
        let mut client = UnixStream::connect(&path)?;
        writeln!(client, "{word}")?;
        let mut reply = String::new();
        BufReader::new(&client).read_line(&mut reply)?;
        assert_eq!(reply, format!("{}\n", word.to_uppercase()));
    }
    server.join().unwrap()?;
    // As on Linux, the socket file stays after the listener is gone.
    assert!(path.exists());
    Ok(())
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("afunix-port-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
