//! Watching a TCP connection from the client's side, for tests of a server's connection limits
//! and timeouts.

use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// Waits for the server to close `stream` (a read returns end of file, or the connection is
/// reset), reading and discarding whatever it sends first. False if it is still open after
/// `ceiling`: a generous bound for the outcome, not a measure of how fast it came.
pub async fn closed_by_server(stream: &mut TcpStream, ceiling: Duration) -> bool {
    let mut buffer = [0_u8; 256];
    tokio::time::timeout(ceiling, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}
