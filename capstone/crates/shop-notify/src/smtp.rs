//! A small SMTP client (RFC 5321), enough to hand a message to a mail server on the network.
//!
//! What this module shows:
//! - the conversation: the server's `220` greeting, `EHLO` (`HELO` for an old server),
//!   `MAIL FROM`, `RCPT TO`, `DATA`, the message ended by a line holding one dot, `QUIT`;
//! - replies read line by line, a multi-line reply (`250-...` lines, then `250 ...`) as one,
//!   with limits on their length: a server is a peer, and a peer's bytes are input;
//! - every step under a timeout, so a server that accepts the connection and then says nothing
//!   costs seconds, not a worker;
//! - a reply's class as the retry decision: 4xx means "try later" (the consumer retries
//!   through its delay queue), 5xx means "never" (the event goes to the dead-letter queue);
//! - the message itself: headers without line breaks (a subject with `\r\n` in it would let
//!   its author add headers), a UTF-8 subject as an RFC 2047 encoded word, the body in base64
//!   so no line of it can be read as the end of the data.
//!
//! Not here: TLS (`STARTTLS`) and authentication, which a real submission server (port 587)
//! requires. The client speaks to a relay on a trusted network, as a shop's own mail relay or a
//! local sink; a deployment that mails through a provider uses the provider's client.

use std::fmt::Write as _;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::ExposeSecret;
use shop_domain::Email;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::net::TcpStream;

use crate::mail::{BoxFuture, Mail, MailError, Mailer};

/// The longest reply line read (RFC 5321 allows 512 bytes; some servers send more).
const MAX_REPLY_LINE: u64 = 2_048;
/// The most lines one reply may have.
const MAX_REPLY_LINES: usize = 64;

/// Why a message was not handed over. The text never holds the message, only the server's
/// answer and the step it came at.
#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    #[error("cannot connect to the mail server: {0}")]
    Connect(std::io::ErrorKind),
    #[error("the mail server did not answer {stage} within {timeout:?}")]
    Timeout {
        stage: &'static str,
        timeout: Duration,
    },
    #[error("the mail server answered {stage} with {code} {text}")]
    Refused {
        stage: &'static str,
        code: u16,
        text: String,
    },
    #[error("the mail server's answer to {stage} is not SMTP")]
    Protocol { stage: &'static str },
    #[error("the connection to the mail server failed during {stage}: {kind}")]
    Io {
        stage: &'static str,
        kind: std::io::ErrorKind,
    },
    #[error("the {0} header would hold a line break")]
    HeaderBreak(&'static str),
}

impl SmtpError {
    /// True for what trying again cannot fix: a 5xx answer, or a message that cannot be
    /// written. A refused connection, a timeout or a 4xx answer may pass.
    pub fn is_permanent(&self) -> bool {
        match self {
            SmtpError::Refused { code, .. } => *code >= 500,
            SmtpError::HeaderBreak(_) => true,
            _ => false,
        }
    }
}

/// Sends mail through one SMTP server. Each message is one connection: a worker that sends a
/// few mails a second gains nothing from keeping one open, and loses nothing when the server
/// restarts between two of them.
#[derive(Debug, Clone)]
pub struct SmtpMailer {
    server: String,
    from: Email,
    hello: String,
    timeout: Duration,
}

impl SmtpMailer {
    /// A mailer that hands messages to `server` (`host:port`) as `from`, introducing itself
    /// as `localhost`, with 10 s for each step.
    pub fn new(server: impl Into<String>, from: Email) -> Self {
        SmtpMailer {
            server: server.into(),
            from,
            hello: "localhost".to_owned(),
            timeout: Duration::from_secs(10),
        }
    }

    /// The longest any one step (connecting, each reply) may take.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The name given in `EHLO`: this host's name as the server should know it.
    pub fn with_hello(mut self, hello: impl Into<String>) -> Self {
        self.hello = hello.into();
        self
    }

    // ANCHOR: deliver
    /// Hands `mail` to the server: returns once the server has accepted responsibility for
    /// it (its `250` after the data), which is all SMTP can promise.
    ///
    /// # Errors
    /// [`SmtpError`]: what failed and at which step; [`SmtpError::is_permanent`] tells
    /// whether to try again.
    pub async fn deliver(&self, mail: &Mail) -> Result<(), SmtpError> {
        let message = self.message(mail, OffsetDateTime::now_utc())?;
        let stream = self
            .step("connecting", TcpStream::connect(&self.server))
            .await?
            .map_err(|e| SmtpError::Connect(e.kind()))?;
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);

        self.expect(&mut read, "the greeting", &[220]).await?;
        let ehlo = format!("EHLO {}", self.hello);
        if let Err(refused) = self.command(&mut read, &mut write, &ehlo, &[250]).await {
            // A server from before ESMTP knows only HELO; a 5xx to EHLO says so.
            if !matches!(
                refused,
                SmtpError::Refused {
                    code: 500..=504,
                    ..
                }
            ) {
                return Err(refused);
            }
            let helo = format!("HELO {}", self.hello);
            self.command(&mut read, &mut write, &helo, &[250]).await?;
        }
        let from = format!("MAIL FROM:<{}>", self.from);
        self.command(&mut read, &mut write, &from, &[250]).await?;
        let to = format!("RCPT TO:<{}>", mail.to);
        self.command(&mut read, &mut write, &to, &[250, 251])
            .await?;
        self.command(&mut read, &mut write, "DATA", &[354]).await?;
        let mut data = dot_stuff(&message);
        data.push_str(".\r\n");
        self.send(&mut write, "the message", &data).await?;
        self.expect(&mut read, "the end of the message", &[250])
            .await?;
        // The message is the server's now: a failed goodbye changes nothing.
        let _ = self.command(&mut read, &mut write, "QUIT", &[221]).await;
        Ok(())
    }
    // ANCHOR_END: deliver

    /// The message as sent after `DATA` (before dot-stuffing): headers, a blank line, the body
    /// in base64, every line ended by CRLF.
    ///
    /// # Errors
    /// [`SmtpError::HeaderBreak`] when the subject or the message id holds a line break.
    pub fn message(&self, mail: &Mail, now: OffsetDateTime) -> Result<String, SmtpError> {
        let subject = header_value("Subject", &mail.subject)?;
        let id = match &mail.message_id {
            Some(id) => header_value("Message-ID", id)?.to_owned(),
            None => format!("{}@{}", uuid::Uuid::now_v7(), self.from.domain()),
        };
        let date = now
            .format(&Rfc2822)
            .map_err(|_| SmtpError::HeaderBreak("Date"))?;
        let mut message = String::new();
        let mut line = |text: &str| {
            message.push_str(text);
            message.push_str("\r\n");
        };
        line(&format!("Date: {date}"));
        line(&format!("From: <{}>", self.from));
        line(&format!("To: <{}>", mail.to));
        line(&format!("Subject: {}", encode_word(subject)));
        line(&format!("Message-ID: <{id}>"));
        line("MIME-Version: 1.0");
        line("Content-Type: text/plain; charset=utf-8");
        line("Content-Transfer-Encoding: base64");
        line("");
        let body = STANDARD.encode(mail.body.expose_secret().as_bytes());
        for chunk in body.as_bytes().chunks(76) {
            // Base64 is ASCII: every chunk is valid UTF-8.
            line(std::str::from_utf8(chunk).unwrap_or_default());
        }
        Ok(message)
    }

    async fn command<R, W>(
        &self,
        read: &mut R,
        write: &mut W,
        command: &str,
        ok: &[u16],
    ) -> Result<(u16, String), SmtpError>
    where
        R: AsyncBufRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        // The stage named in errors is the verb, never the argument (an address).
        let stage = verb(command);
        self.send(write, stage, &format!("{command}\r\n")).await?;
        self.expect(read, stage, ok).await
    }

    async fn send<W: AsyncWrite + Unpin>(
        &self,
        write: &mut W,
        stage: &'static str,
        text: &str,
    ) -> Result<(), SmtpError> {
        let io = |e: std::io::Error| SmtpError::Io {
            stage,
            kind: e.kind(),
        };
        self.step(stage, write.write_all(text.as_bytes()))
            .await?
            .map_err(io)?;
        self.step(stage, write.flush()).await?.map_err(io)
    }

    async fn expect<R: AsyncBufRead + Unpin>(
        &self,
        read: &mut R,
        stage: &'static str,
        ok: &[u16],
    ) -> Result<(u16, String), SmtpError> {
        let (code, text) = self.step(stage, read_reply(read, stage)).await??;
        if ok.contains(&code) {
            Ok((code, text))
        } else {
            Err(SmtpError::Refused { stage, code, text })
        }
    }

    async fn step<T>(
        &self,
        stage: &'static str,
        future: impl Future<Output = T>,
    ) -> Result<T, SmtpError> {
        (tokio::time::timeout(self.timeout, future).await).map_err(|_| SmtpError::Timeout {
            stage,
            timeout: self.timeout,
        })
    }
}

impl Mailer for SmtpMailer {
    fn send(&self, mail: Mail) -> BoxFuture<'_, Result<(), MailError>> {
        Box::pin(
            async move { (self.deliver(&mail).await).map_err(|error| MailError(Box::new(error))) },
        )
    }
}

/// Reads one reply: its code and its text, the lines of a multi-line reply joined by `\n`.
async fn read_reply<R: AsyncBufRead + Unpin>(
    read: &mut R,
    stage: &'static str,
) -> Result<(u16, String), SmtpError> {
    let mut text = String::new();
    for _ in 0..MAX_REPLY_LINES {
        let mut line = String::new();
        let n = (&mut *read)
            .take(MAX_REPLY_LINE)
            .read_line(&mut line)
            .await
            .map_err(|e| SmtpError::Io {
                stage,
                kind: e.kind(),
            })?;
        // End of stream, or a line longer than the limit (no newline within it).
        if n == 0 || !line.ends_with('\n') {
            return Err(SmtpError::Protocol { stage });
        }
        let line = line.trim_end_matches(['\r', '\n']);
        let (code, rest) = parse_reply_line(line).ok_or(SmtpError::Protocol { stage })?;
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(rest.get(1..).unwrap_or_default());
        if !rest.starts_with('-') {
            return Ok((code, text));
        }
    }
    Err(SmtpError::Protocol { stage })
}

/// `250-text` → (250, "-text"); `250 text` and `250` → (250, " text") and (250, "").
fn parse_reply_line(line: &str) -> Option<(u16, &str)> {
    let code = line.get(..3)?;
    let rest = line.get(3..)?;
    if !code.bytes().all(|b| b.is_ascii_digit())
        || !matches!(rest.bytes().next(), None | Some(b' ' | b'-'))
    {
        return None;
    }
    let code: u16 = code.parse().ok()?;
    (200..600).contains(&code).then_some((code, rest))
}

// ANCHOR: dot_stuff
/// Makes `message` safe to send after `DATA`: a line that starts with a dot gets a second one
/// (the server removes it), so no line of the message can be the lone `.` that ends it. Bare
/// `\n` line ends become `\r\n`, and the result ends with one.
pub fn dot_stuff(message: &str) -> String {
    let mut out = String::with_capacity(message.len() + 8);
    for line in message.lines() {
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out
}
// ANCHOR_END: dot_stuff

/// A header's value, refused if it holds a line break (which would start a new header).
fn header_value<'a>(header: &'static str, value: &'a str) -> Result<&'a str, SmtpError> {
    if value.contains(['\r', '\n']) {
        Err(SmtpError::HeaderBreak(header))
    } else {
        Ok(value)
    }
}

/// Plain ASCII as it is; anything else as an RFC 2047 encoded word, `=?UTF-8?B?...?=`.
fn encode_word(text: &str) -> String {
    if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return text.to_owned();
    }
    let mut out = String::new();
    let _ = write!(out, "=?UTF-8?B?{}?=", STANDARD.encode(text));
    out
}

/// The command's verb, for error messages: `MAIL FROM:<a@b>` → `MAIL`.
fn verb(command: &str) -> &'static str {
    match command.split([' ', ':']).next().unwrap_or_default() {
        "EHLO" => "EHLO",
        "HELO" => "HELO",
        "MAIL" => "MAIL FROM",
        "RCPT" => "RCPT TO",
        "DATA" => "DATA",
        "QUIT" => "QUIT",
        _ => "a command",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_that_starts_with_a_dot_gets_a_second_one() {
        assert_eq!(dot_stuff("a\n.\n..b\nc."), "a\r\n..\r\n...b\r\nc.\r\n");
        assert_eq!(dot_stuff("one\r\ntwo\r\n"), "one\r\ntwo\r\n");
    }

    #[test]
    fn reply_lines_parse_into_code_and_continuation() {
        assert_eq!(
            parse_reply_line("250-PIPELINING"),
            Some((250, "-PIPELINING"))
        );
        assert_eq!(parse_reply_line("250 OK"), Some((250, " OK")));
        assert_eq!(parse_reply_line("221"), Some((221, "")));
        for bad in ["25", "abc ok", "250x", "199 low", "600 high", ""] {
            assert_eq!(parse_reply_line(bad), None, "{bad:?}");
        }
    }

    #[tokio::test]
    async fn a_multi_line_reply_is_one_reply_and_a_hostile_one_is_an_error() {
        let mut ok = "250-first\r\n250-second\r\n250 last\r\n".as_bytes();
        let reply = read_reply(&mut ok, "EHLO").await.unwrap();
        assert_eq!(reply, (250, "first\nsecond\nlast".to_owned()));

        let endless = "250-x\r\n".repeat(MAX_REPLY_LINES + 1);
        let error = read_reply(&mut endless.as_bytes(), "EHLO").await;
        assert!(
            matches!(error, Err(SmtpError::Protocol { .. })),
            "{error:?}"
        );
        let long = format!(
            "250 {}\r\n",
            "x".repeat(usize::try_from(MAX_REPLY_LINE).unwrap())
        );
        let error = read_reply(&mut long.as_bytes(), "EHLO").await;
        assert!(
            matches!(error, Err(SmtpError::Protocol { .. })),
            "{error:?}"
        );
        let cut = read_reply(&mut "250-more to co".as_bytes(), "EHLO").await;
        assert!(matches!(cut, Err(SmtpError::Protocol { .. })), "{cut:?}");
    }

    fn mail(subject: &str) -> Mail {
        Mail {
            to: Email::parse("ada@example.test").unwrap(),
            subject: subject.to_owned(),
            body: "Line one\n.\nThanks".to_owned().into(),
            message_id: Some("order.placed.0190@shop.example.test".to_owned()),
        }
    }

    #[test]
    fn the_message_has_its_headers_and_a_base64_body() {
        let mailer = SmtpMailer::new("127.0.0.1:25", Email::parse("shop@example.test").unwrap());
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let message = mailer.message(&mail("Your order"), now).unwrap();
        let (head, body) = message.split_once("\r\n\r\n").unwrap();
        assert!(head.contains("\r\nSubject: Your order\r\n"), "{head}");
        assert!(
            head.contains("Message-ID: <order.placed.0190@shop.example.test>"),
            "{head}"
        );
        assert!(
            head.starts_with("Date: Fri, 15 Jan 2027 08:00:00 +0000\r\n"),
            "{head}"
        );
        let decoded = STANDARD.decode(body.replace("\r\n", "")).unwrap();
        assert_eq!(decoded, b"Line one\n.\nThanks");

        let accented = mailer.message(&mail("Reçu"), now).unwrap();
        assert!(
            accented.contains("Subject: =?UTF-8?B?UmXDp3U=?=\r\n"),
            "{accented}"
        );
    }

    #[test]
    fn a_line_break_in_a_header_is_refused_not_sent() {
        let mailer = SmtpMailer::new("127.0.0.1:25", Email::parse("shop@example.test").unwrap());
        let now = OffsetDateTime::now_utc();
        let error = mailer
            .message(&mail("Hi\r\nBcc: everyone@example.test"), now)
            .unwrap_err();
        assert!(matches!(error, SmtpError::HeaderBreak("Subject")));
        assert!(error.is_permanent());
        let mut bad_id = mail("Hi");
        bad_id.message_id = Some("x\n@y".to_owned());
        assert!(mailer.message(&bad_id, now).is_err());
    }
}
