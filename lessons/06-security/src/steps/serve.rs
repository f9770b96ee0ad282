//! `--serve`: the lab stays up for curl and a browser until Ctrl-C.

use std::net::SocketAddr;

use narrate::{say, show};
use tokio_util::sync::CancellationToken;

use super::{API_BURST, API_PER_SECOND, StepError, demo_throttle_policy, describe};
use crate::lab::{self, LabState};
use crate::ratelimit::RateLimitState;
use crate::ssrf::InternalServices;

/// Serves the lab on `addr` (without PostgreSQL unless `db` is given) until `shutdown`.
pub async fn serve(
    addr: SocketAddr,
    db: Option<sqlx::PgPool>,
    shutdown: CancellationToken,
) -> Result<(), StepError> {
    let services = InternalServices::start(shutdown.clone()).await?;
    let state = LabState::new(db, services.fetchers()?, demo_throttle_policy());
    let limiter = RateLimitState::new(API_BURST, API_PER_SECOND, lab::loopback());
    let server = lab::serve_http(addr, lab::router(state, limiter), shutdown.clone()).await?;
    let base = describe(server.addr());
    println!("Serving the lab on {base}. Ctrl-C stops it.");
    say("Open the two comment pages in a browser after posting a payload:");
    show(format_args!(
        "curl -s -o /dev/null {base}/vulnerable/comments --data-urlencode 'author=mallory' \
         --data-urlencode 'text=<img src=x onerror=alert(document.domain)>'"
    ));
    show(format_args!(
        "{base}/vulnerable/comments   and   {base}/fixed/comments"
    ));
    show(format_args!(
        "curl -s '{base}/vulnerable/fetch?url=http://127.0.0.1:{}/latest/credentials'",
        services.metadata.port()
    ));
    show(format_args!(
        "curl -si '{base}/fixed/fetch?url=http://127.0.0.1:{}/latest/credentials'",
        services.metadata.port()
    ));
    show(format_args!(
        "for i in 1 2 3 4 5 6 7; do curl -s -o /dev/null -w '%{{http_code}} ' {base}/api/orders; done"
    ));
    shutdown.cancelled().await;
    server.begin_shutdown();
    server.stopped().await?;
    println!("Stopped.");
    Ok(())
}
