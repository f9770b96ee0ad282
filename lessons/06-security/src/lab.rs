//! The lab: one axum application with every vulnerable endpoint beside its fix, the login, a
//! rate-limited JSON API, and the function that serves it.
//!
//! The vulnerable routes get none of the hardening on purpose, so each attack shows what one
//! mistake does on its own; the fixed routes sit behind the security headers. Everything binds
//! to loopback. Never deploy the `/vulnerable` half: it is a loaded gun.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use shop_http::{RunningServer, ServeError, Server};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::csrf::{self, Sessions};
use crate::headers::{cors, with_security_headers};
use crate::ratelimit::{RateLimitState, rate_limit};
use crate::sqli;
use crate::ssrf::{self, Fetchers};
use crate::throttle::{self, DemoAccounts, LoginThrottle, SharedThrottle, ThrottlePolicy};
use crate::xss::{self, Comments};

/// The demo user's password. (A lab constant, not a secret: nothing real sits behind it.)
pub const DEMO_PASSWORD: &str = "correct horse battery staple";

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct LabState {
    db: Option<PgPool>,
    pub comments: Comments,
    pub sessions: Sessions,
    pub ssrf: Arc<Fetchers>,
    pub accounts: DemoAccounts,
    pub throttle: SharedThrottle,
    /// Peers whose `X-Forwarded-For` is believed. The lab trusts loopback, where the demo's
    /// client plays a load balancer forwarding requests from many addresses.
    pub trusted_proxies: Vec<IpAddr>,
}

impl LabState {
    /// `db` is `None` when PostgreSQL is not reachable: the SQL routes then answer 503.
    pub fn new(db: Option<PgPool>, fetchers: Fetchers, policy: ThrottlePolicy) -> Self {
        LabState {
            db,
            comments: Comments::default(),
            sessions: Sessions::default(),
            ssrf: Arc::new(fetchers),
            accounts: DemoAccounts::new([("ada", DEMO_PASSWORD), ("grace", DEMO_PASSWORD)]),
            throttle: Arc::new(Mutex::new(LoginThrottle::new(policy))),
            trusted_proxies: loopback(),
        }
    }

    pub fn db(&self) -> Option<&PgPool> {
        self.db.as_ref()
    }
}

/// 127.0.0.1 and ::1.
pub fn loopback() -> Vec<IpAddr> {
    vec![
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ]
}

// ANCHOR: router
/// The whole lab. `limiter` guards the JSON API under `/api`.
pub fn router(state: LabState, limiter: RateLimitState) -> Router {
    let vulnerable = Router::new()
        .route("/products", get(sqli::search_vulnerable))
        .route(
            "/comments",
            get(xss::page_vulnerable).post(xss::post_comment),
        )
        .route("/fetch", get(ssrf::fetch_vulnerable))
        .route("/account", get(csrf::account_page))
        .route("/account/email", post(csrf::change_email_vulnerable));
    let fixed = Router::new()
        .route("/products", get(sqli::search_fixed))
        .route("/comments", get(xss::page_fixed).post(xss::post_comment))
        .route("/fetch", get(ssrf::fetch_fixed))
        .route("/account", get(csrf::account_page))
        .route("/account/email", post(csrf::change_email_fixed));
    let api = Router::new()
        .route("/orders", get(orders))
        .layer(middleware::from_fn_with_state(limiter, rate_limit))
        .layer(cors());
    let hardened = Router::new()
        .nest("/fixed", fixed)
        .nest("/api", api)
        .route("/session", post(csrf::sign_in))
        .route("/login", post(throttle::login));
    Router::new()
        .nest("/vulnerable", vulnerable)
        .merge(with_security_headers(hardened))
        .with_state(state)
}
// ANCHOR_END: router

/// `GET /api/orders`: something for the rate limiter and CORS to guard.
async fn orders() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "orders": [{ "id": 1001, "total_cents": 2500 }] }))
}

/// Serves `app` over plain HTTP on `addr` (port 0: any free port) until `shutdown`, with
/// shop-http's server, the one lesson 03 teaches: connection limits per address and in total,
/// header and idle timeouts, and a graceful shutdown. Each request carries the peer's address
/// (`ConnectInfo<SocketAddr>`), which the rate limiter and the login throttle key on.
pub async fn serve_http(
    addr: SocketAddr,
    app: Router,
    shutdown: CancellationToken,
) -> Result<RunningServer, ServeError> {
    // A child token: `begin_shutdown` ends this server only, and cancelling the parent ends it
    // too.
    Ok(Server::bind(addr).await?.spawn(app, shutdown.child_token()))
}
