//! The built binary, as an operator runs it: `--migrate` on a fresh database and port 0, a
//! "listening" line, a call, SIGTERM, exit 0; and a refusal without `--migrate`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use shop_inventory::InventoryClient;
use sqlx::ConnectOptions;

use crate::helpers::{dependency, soon};

const BIN: &str = env!("CARGO_BIN_EXE_shop-inventory");

fn command(database_url: &str) -> Command {
    let mut command = Command::new(BIN);
    command
        .env("SHOP_INVENTORY__DATABASE_URL", database_url)
        .env("SHOP_INVENTORY__LISTEN", "127.0.0.1:0")
        .env("SHOP_INVENTORY__TELEMETRY__LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

#[cfg(unix)]
#[tokio::test]
async fn the_binary_migrates_serves_and_stops_on_sigterm() {
    let db = testkit::postgres().await;
    let url = db.connect_options().to_url_lossy().to_string();
    let mut child = command(&url)
        .arg("--migrate")
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("piped");

    // The address is on the "listening" line; read on a thread, since reading blocks.
    let (found, address) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let Ok(line) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if let Some(addr) = line["fields"]["addr"].as_str() {
                let _ = found.send(addr.to_owned());
            }
        }
    });
    let addr = tokio::task::spawn_blocking(move || address.recv_timeout(Duration::from_secs(60)))
        .await
        .expect("the reader thread answers");
    let Ok(addr) = addr else {
        let _ = child.kill();
        let output = child.wait_with_output().expect("waits");
        panic!(
            "no listening line: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };

    let client = InventoryClient::connect_lazy(&format!("http://{addr}"), dependency())
        .expect("a valid endpoint");
    let levels = client.stock(&[], soon()).await.expect("the probe answers");
    assert!(levels.is_empty());
    drop(client);

    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("joins")
        .expect("the binary can be waited for");
    assert!(status.success(), "SIGTERM is a clean stop: {status}");
}

#[tokio::test]
async fn without_migrate_the_binary_refuses_a_database_that_is_behind() {
    let db = testkit::postgres().await;
    let url = db.connect_options().to_url_lossy().to_string();
    let output = tokio::task::spawn_blocking(move || command(&url).output())
        .await
        .expect("joins")
        .expect("the binary runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--migrate"), "says what to do: {stderr}");
}
