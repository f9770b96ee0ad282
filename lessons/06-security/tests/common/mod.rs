//! What the lab's tests share: a lab on a free port, with its internal stand-ins, and a router
//! for in-process tests.

#![allow(dead_code)] // each test file uses some of these

use std::net::{Ipv4Addr, SocketAddr};

use axum::Router;
use axum::extract::connect_info::MockConnectInfo;
use lesson_06::lab::{self, LabState};
use lesson_06::ratelimit::RateLimitState;
use lesson_06::ssrf::InternalServices;
use lesson_06::throttle::ThrottlePolicy;
use shop_http::RunningServer;
use tokio_util::sync::CancellationToken;

pub struct TestLab {
    pub server: RunningServer,
    pub services: InternalServices,
    pub state: LabState,
    shutdown: CancellationToken,
}

impl TestLab {
    /// The lab on a free loopback port; `db` as the SQL routes' database.
    pub async fn start(db: Option<sqlx::PgPool>) -> TestLab {
        let shutdown = CancellationToken::new();
        let services = InternalServices::start(shutdown.clone())
            .await
            .expect("the stand-ins start on free ports");
        let state = LabState::new(
            db,
            services.fetchers().expect("the fetchers build"),
            ThrottlePolicy::default(),
        );
        let limiter = RateLimitState::new(100, 100.0, lab::loopback());
        let app = lab::router(state.clone(), limiter);
        let server = lab::serve_http((Ipv4Addr::LOCALHOST, 0).into(), app, shutdown.clone())
            .await
            .expect("the lab starts on a free port");
        TestLab {
            server,
            services,
            state,
            shutdown,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url())
    }
}

impl Drop for TestLab {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The lab's router for `oneshot`, every request seeming to come from `peer`.
pub async fn router(limiter_burst: u32, policy: ThrottlePolicy, peer: SocketAddr) -> Router {
    let shutdown = CancellationToken::new();
    let services = InternalServices::start(shutdown.clone())
        .await
        .expect("the stand-ins start on free ports");
    let state = LabState::new(
        None,
        services.fetchers().expect("the fetchers build"),
        policy,
    );
    let limiter = RateLimitState::new(limiter_burst, 1.0, lab::loopback());
    // The stand-ins are not used by these tests; leaving them to the runtime's end is fine.
    lab::router(state, limiter).layer(MockConnectInfo(peer))
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("the client builds")
}
