//! Watching a TCP connection from the client's side, for tests of a server's connection limits
//! and timeouts; and [`Gate`], a loopback forwarder a test opens and shuts to make a shared
//! service (RabbitMQ, say) unreachable for one client without stopping it for everybody.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

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

/// A TCP forwarder on a loopback port to `target`. Open, it relays bytes both ways; shut, it
/// cuts every relayed connection and closes each new one as soon as it is accepted, which a
/// client sees as a service that has gone away. Stops when dropped.
#[derive(Debug)]
pub struct Gate {
    addr: SocketAddr,
    open: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Gate {
    /// A gate to `target`, shut or open to begin with.
    ///
    /// # Panics
    /// When no loopback port can be bound (a test set-up failure).
    pub async fn start(target: SocketAddr, open: bool) -> Gate {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("a loopback port for the gate");
        let addr = listener.local_addr().expect("the gate's address");
        let (state, watching) = watch::channel(open);
        let task = tokio::spawn(async move {
            let mut relays = JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let mut open = watching.clone();
                if !*open.borrow_and_update() {
                    drop(client);
                    continue;
                }
                relays.spawn(async move {
                    let Ok(mut server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let mut client = client;
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = open.wait_for(|open| !*open) => {}
                    }
                });
                while relays.try_join_next().is_some() {}
            }
        });
        Gate {
            addr,
            open: state,
            task,
        }
    }

    /// Where clients connect instead of the target.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Lets connections through.
    pub fn open(&self) {
        self.open.send_replace(true);
    }

    /// Cuts the relayed connections and refuses new ones.
    pub fn shut(&self) {
        self.open.send_replace(false);
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.task.abort();
    }
}
