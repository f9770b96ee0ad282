//! Telling a real MongoDB server from the workspace's MongoDB stand-in, using nothing but `std`.
//!
//! Where no MongoDB server can be installed and no Docker engine runs, `cargo xtask services up`
//! starts a stand-in (`xtask/mongo-standin/`: Python's `mockupdb` speaking the wire protocol,
//! `mongomock-ng` executing the commands). It is good enough for CRUD, cursors, aggregation and
//! unique indexes, but it has no transactions, no isolation and no query planner. Tests that
//! depend on those are named `needs_mongodb_real`; the runner skips them, and
//! [`crate::mongodb_real`] refuses to run them, when the stand-in is what answers.
//!
//! The stand-in marks its `hello` reply with a `backendRsStandIn` field. Asking for it takes one
//! OP_MSG round trip, which is simple enough to write by hand here, so `xtask` can ask too
//! without compiling the MongoDB driver.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::discover::{Service, host_port, redact};

/// What the name of a test that needs a real MongoDB server contains. It contains
/// `needs_mongodb` too, so such a test is also skipped when no MongoDB answers at all.
pub const REAL_SERVER_MARKER: &str = "needs_mongodb_real";

/// The field the stand-in adds to its `hello` reply; its value describes the stand-in.
pub const MARKER_FIELD: &str = "backendRsStandIn";

/// What answered on a MongoDB address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MongoFlavor {
    /// A MongoDB server (mongod or mongos).
    Server,
    /// The workspace's stand-in; the text says what it is built from.
    StandIn(String),
}

impl MongoFlavor {
    pub fn is_stand_in(&self) -> bool {
        matches!(self, MongoFlavor::StandIn(_))
    }
}

const OP_MSG: i32 = 2013;
const TIMEOUT: Duration = Duration::from_secs(2);

/// Who answers at a MongoDB URL (its first host, for a seed list).
pub fn mongodb_flavor_at(url: &str) -> Result<MongoFlavor, String> {
    let (host, port) = host_port(url, Service::MongoDb.default_port())
        .ok_or_else(|| format!("{} is not a MongoDB URL", redact(url)))?;
    mongodb_flavor(&host, port)
}

/// Sends `{hello: 1, $db: "admin"}` to `host:port` and reads who answered.
pub fn mongodb_flavor(host: &str, port: u16) -> Result<MongoFlavor, String> {
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("{host}:{port} does not resolve: {e}"))?
        .next()
        .ok_or_else(|| format!("{host}:{port} resolves to no address"))?;
    let mut stream =
        TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| format!("{addr}: {e}"))?;
    let io = |e: std::io::Error| format!("hello to {addr} failed: {e}");
    stream.set_read_timeout(Some(TIMEOUT)).map_err(io)?;
    stream.set_write_timeout(Some(TIMEOUT)).map_err(io)?;
    stream.write_all(&hello_message()).map_err(io)?;

    let mut header = [0u8; 16];
    stream.read_exact(&mut header).map_err(io)?;
    let length = i32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let length = usize::try_from(length)
        .ok()
        .filter(|len| (16..=16 * 1024 * 1024).contains(len))
        .ok_or_else(|| format!("{addr} sent a reply with an impossible length {length}"))?;
    let mut body = vec![0u8; length - 16];
    stream.read_exact(&mut body).map_err(io)?;
    Ok(match string_field(&body, MARKER_FIELD) {
        Some(what) => MongoFlavor::StandIn(what),
        None => MongoFlavor::Server,
    })
}

/// An OP_MSG with one body section holding the BSON document `{hello: 1, $db: "admin"}`.
fn hello_message() -> Vec<u8> {
    let mut doc = Vec::new();
    doc.extend_from_slice(&[0; 4]); // document length, patched below
    doc.push(0x10); // int32 element
    doc.extend_from_slice(b"hello\0");
    doc.extend_from_slice(&1i32.to_le_bytes());
    doc.push(0x02); // string element
    doc.extend_from_slice(b"$db\0");
    doc.extend_from_slice(&6i32.to_le_bytes()); // "admin" plus its NUL
    doc.extend_from_slice(b"admin\0");
    doc.push(0); // end of document
    patch_length(&mut doc);

    let mut message = Vec::new();
    message.extend_from_slice(&[0; 4]); // message length, patched below
    message.extend_from_slice(&1i32.to_le_bytes()); // request id
    message.extend_from_slice(&0i32.to_le_bytes()); // response to
    message.extend_from_slice(&OP_MSG.to_le_bytes());
    message.extend_from_slice(&0u32.to_le_bytes()); // flag bits
    message.push(0); // section kind 0: the body document
    message.extend_from_slice(&doc);
    patch_length(&mut message);
    message
}

fn patch_length(bytes: &mut [u8]) {
    let len = i32::try_from(bytes.len()).unwrap_or(i32::MAX).to_le_bytes();
    bytes[..4].copy_from_slice(&len);
}

/// Finds the string element `name` in a reply (a top-level field of the `hello` document).
/// Searching for "type byte, name, NUL" is exact enough here: the name cannot appear as a
/// field of a real server's reply.
fn string_field(body: &[u8], name: &str) -> Option<String> {
    let mut needle = vec![0x02];
    needle.extend_from_slice(name.as_bytes());
    needle.push(0);
    let at = body.windows(needle.len()).position(|w| w == needle)? + needle.len();
    let len_bytes: [u8; 4] = body.get(at..at + 4)?.try_into().ok()?;
    let len = usize::try_from(i32::from_le_bytes(len_bytes)).ok()?;
    let text = body.get(at + 4..at + 4 + len.checked_sub(1)?)?;
    Some(String::from_utf8_lossy(text).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_is_a_well_formed_op_msg() {
        let message = hello_message();
        let len = i32::from_le_bytes([message[0], message[1], message[2], message[3]]);
        assert_eq!(usize::try_from(len).ok(), Some(message.len()));
        assert_eq!(&message[12..16], &OP_MSG.to_le_bytes());
        let doc = &message[21..];
        let doc_len = i32::from_le_bytes([doc[0], doc[1], doc[2], doc[3]]);
        assert_eq!(usize::try_from(doc_len).ok(), Some(doc.len()));
        assert_eq!(doc.last(), Some(&0));
    }

    #[test]
    fn the_marker_is_found_and_its_value_read() {
        let mut body = vec![0, 0, 0, 0, 0, 9, 9, 9, 9];
        body.push(0x02);
        body.extend_from_slice(b"backendRsStandIn\0");
        body.extend_from_slice(&5i32.to_le_bytes());
        body.extend_from_slice(b"mock\0");
        body.push(0);
        assert_eq!(string_field(&body, MARKER_FIELD).as_deref(), Some("mock"));
        assert_eq!(string_field(&body[..10], MARKER_FIELD), None);
        assert_eq!(string_field(b"\x02ismaster\0", MARKER_FIELD), None);
    }
}
