//! IPC over a socket: `UnixStream::pair` gives two connected sockets; a pricer task holds one
//! end, the asker the other. Unix only (Linux, macOS).
//!
//! Unlike a pipe, a socket goes both ways, and it has the same `AsyncRead`/`AsyncWrite`
//! interface as a TCP connection: swap the pair for `TcpStream::connect` and the same code
//! talks across machines, which is where lesson 03 picks up. Step 8 of `cargo run -p lesson-01`.

use std::io;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use crate::price::Sku;
use crate::wire::{self, Priced};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketSession {
    pub answers: Vec<Priced>,
    pub bytes_sent: usize,
    pub bytes_received: usize,
    /// Requests the pricer task served before it saw the end of the stream.
    pub served: usize,
}

// ANCHOR: socket_pair
pub async fn price_over_socket(skus: &[Sku]) -> io::Result<SocketSession> {
    let (asker, pricer) = UnixStream::pair()?;
    let pricer = tokio::spawn(serve_socket(pricer));

    // Owned halves: reading and writing are independent, as on any full-duplex socket.
    let (from_pricer, mut to_pricer) = asker.into_split();
    let mut answers_in = BufReader::new(from_pricer).lines();
    let mut session = SocketSession {
        answers: Vec::new(),
        bytes_sent: 0,
        bytes_received: 0,
        served: 0,
    };
    for sku in skus {
        let request = format!("{sku}\n");
        to_pricer.write_all(request.as_bytes()).await?;
        session.bytes_sent += request.len();
        let line = answers_in
            .next_line()
            .await?
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        session.bytes_received += line.len() + 1;
        let answer = wire::parse_answer(&line).ok_or(io::ErrorKind::InvalidData)?;
        session.answers.push(answer);
    }
    // Dropping the write half shuts down our sending direction: the pricer reads end-of-stream.
    drop(to_pricer);
    session.served = pricer.await.map_err(io::Error::other)??;
    Ok(session)
}

async fn serve_socket(socket: UnixStream) -> io::Result<usize> {
    let (from_asker, mut to_asker) = socket.into_split();
    let mut requests = BufReader::new(from_asker).lines();
    let mut served = 0;
    while let Some(request) = requests.next_line().await? {
        to_asker
            .write_all(format!("{}\n", wire::answer(&request)).as_bytes())
            .await?;
        served += 1;
    }
    Ok(served)
}
// ANCHOR_END: socket_pair

#[cfg(test)]
mod tests {
    use super::*;
    use crate::price::list_price;

    #[tokio::test]
    async fn a_socket_pair_carries_requests_and_answers_both_ways() {
        let skus = [Sku::numbered(3), Sku::numbered(4)];
        let session = price_over_socket(&skus).await.unwrap();
        let priced: Vec<_> = session
            .answers
            .iter()
            .map(|a| (a.sku.clone(), a.price))
            .collect();
        assert_eq!(
            priced,
            skus.iter()
                .map(|s| (s.clone(), list_price(s)))
                .collect::<Vec<_>>()
        );
        assert_eq!(
            session.served, 2,
            "the pricer saw end-of-stream and finished"
        );
        assert_eq!(session.bytes_sent, 2 * "SKU-0003\n".len());
    }
}
