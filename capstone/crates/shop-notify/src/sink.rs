//! An SMTP server that keeps what it receives: the shop's mail goes here in tests and on a
//! laptop, where no real mail should leave the machine.
//!
//! It speaks enough SMTP for any client (greeting, `EHLO`/`HELO`, `MAIL`, `RCPT`, `DATA` with
//! the dot-stuffing undone, `RSET`, `NOOP`, `QUIT`), binds a loopback port, and can be told to
//! refuse messages with a given reply, which is how the tests make a mail server fail.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// The longest command or data line accepted (RFC 5321: 1,000 with the CRLF).
const MAX_LINE: u64 = 1_000;
/// The largest message kept.
const MAX_MESSAGE: usize = 1 << 20;
/// How long a silent client keeps its connection.
const IDLE: Duration = Duration::from_secs(30);

/// One message as the sink received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The `MAIL FROM` address.
    pub from: String,
    /// The `RCPT TO` addresses.
    pub to: Vec<String>,
    /// The message after `DATA`, dot-stuffing undone, lines ended by CRLF.
    pub data: String,
}

impl Received {
    /// The first header called `name` (case-insensitive), unfolded.
    pub fn header(&self, name: &str) -> Option<&str> {
        let head = self.data.split("\r\n\r\n").next()?;
        head.split("\r\n").find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    /// The body as text, decoded from base64 when the message says it is.
    pub fn text(&self) -> Option<String> {
        let (_, body) = self.data.split_once("\r\n\r\n")?;
        let base64 = (self.header("Content-Transfer-Encoding"))
            .is_some_and(|cte| cte.eq_ignore_ascii_case("base64"));
        if base64 {
            let bytes = STANDARD.decode(body.replace("\r\n", "")).ok()?;
            String::from_utf8(bytes).ok()
        } else {
            Some(body.to_owned())
        }
    }
}

#[derive(Debug, Default)]
struct State {
    received: Vec<Received>,
    /// Answer the end of `DATA` with this instead of accepting.
    refuse_with: Option<(u16, String)>,
    refused: usize,
}

/// A running sink; stops (with its connections) when dropped.
#[derive(Debug)]
pub struct SmtpSink {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    count: watch::Receiver<usize>,
    task: tokio::task::JoinHandle<()>,
}

impl SmtpSink {
    /// Starts a sink on a free loopback port.
    ///
    /// # Errors
    /// When no port can be bound.
    pub async fn start() -> std::io::Result<SmtpSink> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let (counter, count) = watch::channel(0);
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            let counter = Arc::new(counter);
            // Owned here, so aborting this task drops the connections with it.
            let mut connections = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let state = Arc::clone(&shared);
                let counter = Arc::clone(&counter);
                connections.spawn(async move {
                    let _ = session(stream, &state, &counter).await;
                });
                while connections.try_join_next().is_some() {}
            }
        });
        Ok(SmtpSink {
            addr,
            state,
            count,
            task,
        })
    }

    /// Where it listens, as `host:port` for a client's settings.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every message accepted so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    /// How many messages were refused because of [`SmtpSink::refuse_with`].
    pub fn refused(&self) -> usize {
        self.lock().refused
    }

    /// From now on, answer every message's end with `code text` (e.g. `451 try later`)
    /// instead of accepting it; `None` accepts again.
    pub fn refuse_with(&self, reply: Option<(u16, &str)>) {
        self.lock().refuse_with = reply.map(|(code, text)| (code, text.to_owned()));
    }

    /// Waits until at least `n` messages were accepted, for at most `timeout`; returns how
    /// many there are.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> usize {
        let mut count = self.count.clone();
        let _ = tokio::time::timeout(timeout, count.wait_for(|&seen| seen >= n)).await;
        *count.borrow()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn session(
    stream: TcpStream,
    state: &Mutex<State>,
    counter: &watch::Sender<usize>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    write
        .write_all(b"220 sink.localhost ESMTP ready\r\n")
        .await?;
    let mut from: Option<String> = None;
    let mut to: Vec<String> = Vec::new();
    loop {
        let Some(line) = read_line(&mut read).await? else {
            return Ok(());
        };
        let upper = line.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") {
            "250-sink.localhost\r\n250 8BITMIME".to_owned()
        } else if upper.starts_with("HELO") || upper == "NOOP" {
            "250 ok".to_owned()
        } else if upper == "RSET" {
            (from, to) = (None, Vec::new());
            "250 ok".to_owned()
        } else if upper.starts_with("MAIL FROM:") {
            from = Some(path(&line["MAIL FROM:".len()..]));
            to.clear();
            "250 ok".to_owned()
        } else if upper.starts_with("RCPT TO:") {
            if from.is_none() {
                "503 MAIL first".to_owned()
            } else {
                to.push(path(&line["RCPT TO:".len()..]));
                "250 ok".to_owned()
            }
        } else if upper == "DATA" {
            let Some(sender) = from.take().filter(|_| !to.is_empty()) else {
                write.write_all(b"503 MAIL and RCPT first\r\n").await?;
                continue;
            };
            write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
            let Some(data) = read_data(&mut read).await? else {
                return Ok(());
            };
            let recipients = std::mem::take(&mut to);
            let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
            match &state.refuse_with {
                Some((code, text)) => {
                    let reply = format!("{code} {text}");
                    state.refused += 1;
                    reply
                }
                None => {
                    state.received.push(Received {
                        from: sender,
                        to: recipients,
                        data,
                    });
                    counter.send_replace(state.received.len());
                    "250 queued".to_owned()
                }
            }
        } else if upper == "QUIT" {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            "502 not implemented".to_owned()
        };
        write.write_all(reply.as_bytes()).await?;
        write.write_all(b"\r\n").await?;
    }
}

/// One line without its line end; `None` at the end of the stream or after the idle timeout.
async fn read_line(
    read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> std::io::Result<Option<String>> {
    let mut line = String::new();
    let mut limited = (&mut *read).take(MAX_LINE);
    match tokio::time::timeout(IDLE, limited.read_line(&mut line)).await {
        Ok(Ok(0)) | Err(_) => Ok(None),
        Ok(Ok(_)) if !line.ends_with('\n') => Err(std::io::ErrorKind::InvalidData.into()),
        Ok(Ok(_)) => Ok(Some(line.trim_end_matches(['\r', '\n']).to_owned())),
        Ok(Err(e)) => Err(e),
    }
}

/// The data up to the line holding one dot, with the extra dots removed.
async fn read_data(
    read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> std::io::Result<Option<String>> {
    let mut data = String::new();
    loop {
        let Some(line) = read_line(read).await? else {
            return Ok(None);
        };
        if line == "." {
            return Ok(Some(data));
        }
        data.push_str(line.strip_prefix('.').unwrap_or(&line));
        data.push_str("\r\n");
        if data.len() > MAX_MESSAGE {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
    }
}

/// `<ada@example.test>` (with optional parameters after it) → `ada@example.test`.
fn path(argument: &str) -> String {
    let argument = argument.trim();
    let end = argument.find('>').map_or(argument.len(), |i| i + 1);
    argument[..end]
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_owned()
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;
    use shop_domain::Email;

    use super::*;
    use crate::mail::Mail;
    use crate::smtp::{SmtpError, SmtpMailer};

    fn mail(body: &str) -> Mail {
        Mail {
            to: Email::parse("ada@example.test").unwrap(),
            subject: "Test".to_owned(),
            body: SecretString::from(body.to_owned()),
            message_id: None,
        }
    }

    fn mailer(sink: &SmtpSink) -> SmtpMailer {
        let from = Email::parse("shop@example.test").unwrap();
        SmtpMailer::new(sink.addr().to_string(), from).with_timeout(Duration::from_secs(5))
    }

    #[tokio::test]
    async fn the_client_and_the_sink_agree_on_every_byte() {
        let sink = SmtpSink::start().await.unwrap();
        let body = "Dear Ada,\n.\n..two dots\nend.";
        mailer(&sink).deliver(&mail(body)).await.unwrap();
        let received = sink.received();
        assert_eq!(received.len(), 1);
        assert_eq!(received[0].from, "shop@example.test");
        assert_eq!(received[0].to, ["ada@example.test"]);
        assert_eq!(received[0].header("subject"), Some("Test"));
        assert!(
            received[0]
                .header("Message-ID")
                .is_some_and(|id| id.ends_with("@example.test>"))
        );
        assert_eq!(received[0].text().as_deref(), Some(body));
    }

    #[tokio::test]
    async fn a_4xx_is_worth_a_retry_and_a_5xx_is_not() {
        let sink = SmtpSink::start().await.unwrap();
        sink.refuse_with(Some((451, "try again later")));
        let error = mailer(&sink).deliver(&mail("x")).await.unwrap_err();
        assert!(
            matches!(error, SmtpError::Refused { code: 451, .. }),
            "{error}"
        );
        assert!(!error.is_permanent());
        sink.refuse_with(Some((554, "no thanks")));
        let error = mailer(&sink).deliver(&mail("x")).await.unwrap_err();
        assert!(error.is_permanent(), "{error}");
        assert_eq!((sink.refused(), sink.received().len()), (2, 0));
        sink.refuse_with(None);
        mailer(&sink).deliver(&mail("x")).await.unwrap();
        assert_eq!(sink.wait_for(1, Duration::from_secs(1)).await, 1);
    }

    #[tokio::test]
    async fn a_closed_port_and_a_silent_server_are_errors_within_the_timeout() {
        let closed = closed_port().await;
        let from = Email::parse("shop@example.test").unwrap();
        let error = SmtpMailer::new(closed.to_string(), from.clone())
            .deliver(&mail("x"))
            .await
            .unwrap_err();
        assert!(matches!(error, SmtpError::Connect(_)), "{error}");
        assert!(!error.is_permanent());

        // Accepts, then says nothing.
        let silent = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = silent.local_addr().unwrap();
        let _hold = tokio::spawn(async move {
            let kept = silent.accept().await;
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(kept);
        });
        let error = SmtpMailer::new(addr.to_string(), from)
            .with_timeout(Duration::from_millis(200))
            .deliver(&mail("x"))
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                SmtpError::Timeout {
                    stage: "the greeting",
                    ..
                }
            ),
            "{error}"
        );
    }

    /// A loopback port nothing listens on (bound, then released).
    async fn closed_port() -> SocketAddr {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        listener.local_addr().unwrap()
    }
}
