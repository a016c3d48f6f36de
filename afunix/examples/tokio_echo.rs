//! A tokio echo server and a few clients through `afunix::tokio`, in one process: on Windows
//! through the afunixrs driver, elsewhere through the library's in-process engine.
//!
//! `cargo run -p afunix --example tokio_echo [CLIENTS]`

use afunix::tokio::{UnixListener, UnixStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let clients: usize = std::env::args()
        .nth(1)
        .map_or(Ok(8), |n| n.parse())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let path = std::env::temp_dir().join(format!("afunix-tokio-echo-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    println!("echo server on {}", path.display());

    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let (mut reader, mut writer) = stream.split();
                let _ = tokio::io::copy(&mut reader, &mut writer).await;
                let _ = writer.shutdown().await;
            });
        }
    });

    let mut tasks = Vec::new();
    for i in 0..clients {
        let path = path.clone();
        tasks.push(tokio::spawn(async move {
            let mut stream = UnixStream::connect(&path).await?;
            let message = format!("hello from client {i}");
            stream.write_all(message.as_bytes()).await?;
            stream.shutdown().await?;
            let mut echo = String::new();
            stream.read_to_string(&mut echo).await?;
            assert_eq!(echo, message);
            println!(
                "client {i}: {echo:?} (peer pid {})",
                stream.peer_cred()?.pid
            );
            std::io::Result::Ok(())
        }));
    }
    for task in tasks {
        task.await.expect("a client task panicked")?;
    }
    let _ = std::fs::remove_file(&path);
    Ok(())
}
