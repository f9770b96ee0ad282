//! `--serve`: the API without the demo, for curl.

use std::net::SocketAddr;

use tokio_util::sync::CancellationToken;

use super::StepError;
use crate::api::{self, AppState};
use crate::config::AuthConfig;
use crate::password::Password;
use crate::rbac::Role;
use crate::server;

/// Serves the API on `addr` with an administrator account until `shutdown` is cancelled.
pub async fn serve(
    addr: SocketAddr,
    config: AuthConfig,
    shutdown: CancellationToken,
) -> Result<(), StepError> {
    let state = AppState::new(&config)?;
    state
        .accounts
        .add_user(
            "root@shop.test",
            Password::new("administrator passphrase"),
            Role::Admin,
        )
        .await?;
    let server = server::start(addr, api::router(state), shutdown.clone()).await?;
    let base = server.base_url();
    println!("Lesson 04 · the API is listening on {base}. Try:");
    println!();
    println!(
        "  curl -i {base}/auth/register -H 'content-type: application/json' \\\n       -d '{{\"email\": \"you@shop.test\", \"password\": \"a long passphrase\"}}'"
    );
    println!(
        "  TOKEN=$(curl -s {base}/auth/login -H 'content-type: application/json' \\\n       -d '{{\"email\": \"you@shop.test\", \"password\": \"a long passphrase\"}}' | jq -r .access_token)"
    );
    println!("  curl -i {base}/me -H \"authorization: Bearer $TOKEN\"");
    println!(
        "  curl -i {base}/admin/users -H \"authorization: Bearer $TOKEN\"     # 403: a customer"
    );
    println!(
        "  (root@shop.test / 'administrator passphrase' is an admin; its token gets 200 there)"
    );
    for name in &config.generated {
        println!(
            "  Note: {name} is not set, so a random one is used; tokens die with the process."
        );
    }
    println!();
    println!("Ctrl-C stops the server gracefully.");

    shutdown.cancelled().await;
    server::stop(server).await?;
    println!("Stopped.");
    Ok(())
}
