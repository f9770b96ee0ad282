//! Steps 6 and 7: connections and protocols, then graceful shutdown.

use std::collections::BTreeSet;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use narrate::{Table, duration, heading, say, show};
use reqwest::StatusCode;
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use super::{Demo, StepError, expect};
use crate::client::{ApiClient, Protocol};

/// Requests per measurement.
const REQUESTS: usize = 5;

/// One row of step 6's table.
struct Trial {
    label: &'static str,
    protocol: Protocol,
    at_once: bool,
}

pub async fn protocols(demo: &Demo) -> Result<(), StepError> {
    heading(6, "HTTP/1.1 keep-alive and HTTP/2 multiplexing (h2c)");
    say("The server counts the TCP connections it accepts. Each row uses a fresh client and");
    say(format_args!(
        "sends {REQUESTS} requests, one after another or all at once; those sent at once go to"
    ));
    say("`/slow`, which holds each for 150 ms, so that they overlap:");
    let trials = [
        Trial {
            label: "HTTP/1.1, keep-alive",
            protocol: Protocol::Http1KeepAlive,
            at_once: false,
        },
        Trial {
            label: "HTTP/1.1, no reuse",
            protocol: Protocol::Http1NoReuse,
            at_once: false,
        },
        Trial {
            label: "HTTP/1.1, keep-alive",
            protocol: Protocol::Http1KeepAlive,
            at_once: true,
        },
        Trial {
            label: "HTTP/2 prior knowledge",
            protocol: Protocol::Http2PriorKnowledge,
            at_once: true,
        },
    ];
    let mut table = Table::new(["client", "requests", "connections>", "answered over"]);
    for trial in trials {
        let client = ApiClient::new(demo.server.base_url(), trial.protocol)?;
        let before = demo.server.stats().accepted;
        let versions = send_batch(&client, trial.at_once).await?;
        let opened = demo.server.stats().accepted - before;
        let sent = if trial.at_once {
            "all at once"
        } else {
            "one after another"
        };
        table.row([trial.label, sent, &opened.to_string(), &versions]);
    }
    print!("{table}");
    say("Keep-alive reuses one connection for requests in sequence, sparing a TCP handshake");
    say("(and with TLS, a TLS handshake) per request. But an HTTP/1.1 connection carries one");
    say("request at a time, so five at once need five connections. HTTP/2 interleaves all five");
    say("as streams of one connection. `h2c` is HTTP/2 without TLS; the client opens with the");
    say("HTTP/2 preface (\"prior knowledge\"), and the server recognises it on the same port.");
    Ok(())
}

/// Sends the batch and returns the protocol versions the responses came back with.
async fn send_batch(client: &ApiClient, at_once: bool) -> Result<String, StepError> {
    let mut versions = BTreeSet::new();
    if at_once {
        let mut requests = JoinSet::new();
        for _ in 0..REQUESTS {
            let client = client.clone();
            requests.spawn(async move { client.get("/slow?delay_ms=150").send().await });
        }
        while let Some(exchange) = requests.join_next().await {
            let exchange = exchange??;
            expect(&exchange, StatusCode::OK)?;
            versions.insert(format!("{:?}", exchange.version));
        }
    } else {
        for _ in 0..REQUESTS {
            let exchange = client.get("/products?limit=1").send().await?;
            // The client returns a connection to its pool a moment after the body is read,
            // once the connection's task has seen the response end. A pause like a real
            // client's think time lets the next request find it there.
            tokio::time::sleep(Duration::from_millis(5)).await;
            expect(&exchange, StatusCode::OK)?;
            versions.insert(format!("{:?}", exchange.version));
        }
    }
    Ok(versions.into_iter().collect::<Vec<_>>().join(", "))
}

pub async fn graceful_shutdown(demo: Demo) -> Result<(), StepError> {
    heading(7, "Graceful shutdown");
    say("A request that takes 600 ms is running when shutdown begins.");
    let client = ApiClient::new(demo.server.base_url(), Protocol::Http1KeepAlive)?;
    let in_flight = tokio::spawn(async move { client.get("/slow?delay_ms=600").send().await });
    demo.requests.wait_for_in_flight(1).await;

    let began = Instant::now();
    demo.server.begin_shutdown();
    show(format_args!(
        "shutdown began with {} request(s) in flight",
        demo.requests.in_flight()
    ));
    match refused_after_shutdown(demo.server.addr()).await {
        Some(after) => show(format_args!(
            "a new connection {} later: refused (the listener is closed)",
            duration(after)
        )),
        None => show("a new connection: still accepted (the listener had not closed yet)"),
    }

    let exchange = in_flight.await??;
    expect(&exchange, StatusCode::OK)?;
    exchange.print(&[]);
    show(format_args!(
        "the request in flight completed {} after shutdown began; `connection: close`",
        duration(began.elapsed())
    ));
    show("told the client not to send another request on this connection");

    let completed = demo.requests.completed();
    let connections = demo.server.stats().accepted;
    demo.server.stopped().await?;
    show(format_args!(
        "server stopped {} after shutdown began; {completed} requests served over \
         {connections} connections, none cut off",
        duration(began.elapsed())
    ));
    say("Graceful shutdown is two halves, as in lesson 01: stop taking new work (close the");
    say("listener, close idle keep-alive connections), then let work in flight finish, with a");
    say(format_args!(
        "deadline (here {}) after which the server cuts off what still runs.",
        duration(demo.config.limits.drain_timeout)
    ));
    Ok(())
}

/// How long after shutdown began a new TCP connection was refused; `None` if it never was
/// within half a second.
async fn refused_after_shutdown(addr: SocketAddr) -> Option<Duration> {
    let started = Instant::now();
    for _ in 0..50 {
        match TcpStream::connect(addr).await {
            Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => {
                return Some(started.elapsed());
            }
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    None
}
