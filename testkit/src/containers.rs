//! Step 3 of discovery: when neither the URL variable nor the default port answers but a
//! Docker engine does, start a throwaway container for the service.
//!
//! One container per service per test binary: starting PostgreSQL takes seconds, a fresh
//! database inside it takes milliseconds, so tests share the server and isolate inside it (as
//! they do with a local server). Containers live until the test binary exits; testcontainers'
//! reaper removes them.

use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};
use tokio::sync::OnceCell;

use crate::discover::{Endpoint, Origin, Service, docker_engine_answers};

// Statics are fine in test support: they hold one container per test process, which is
// exactly the lifetime we want. Application code never does this.
static POSTGRES: OnceCell<Option<(ContainerAsync<GenericImage>, String)>> = OnceCell::const_new();
static REDIS: OnceCell<Option<(ContainerAsync<GenericImage>, String)>> = OnceCell::const_new();
static RABBITMQ: OnceCell<Option<(ContainerAsync<GenericImage>, String)>> = OnceCell::const_new();
static MONGODB: OnceCell<Option<(ContainerAsync<GenericImage>, String)>> = OnceCell::const_new();

/// Starts (once per test binary) a container for `service`; `None` without a Docker engine,
/// and for Prometheus, which tests run as a program of their own (see [`crate::prometheus`]).
pub async fn start(service: Service) -> Option<Endpoint> {
    let cell = match service {
        Service::Postgres => &POSTGRES,
        Service::Redis => &REDIS,
        Service::RabbitMq => &RABBITMQ,
        Service::MongoDb => &MONGODB,
        Service::Prometheus | Service::PgReplica => return None,
    };
    let started = cell.get_or_init(|| launch(service)).await;
    started.as_ref().map(|(_, url)| Endpoint {
        service,
        url: url.clone(),
        origin: Origin::Container,
    })
}

async fn launch(service: Service) -> Option<(ContainerAsync<GenericImage>, String)> {
    if !docker_engine_answers() {
        return None;
    }
    // The same images and versions as docker-compose.yml.
    let (image, tag, ready) = match service {
        Service::Postgres => (
            "postgres",
            "18-alpine",
            "database system is ready to accept connections",
        ),
        Service::Redis => ("redis", "8-alpine", "Ready to accept connections"),
        Service::RabbitMq => ("rabbitmq", "4-management-alpine", "Server startup complete"),
        Service::MongoDb => ("mongo", "8", "Waiting for connections"),
        Service::Prometheus | Service::PgReplica => return None,
    };
    let port = service.default_port();
    let mut request = GenericImage::new(image, tag)
        .with_exposed_port(port.tcp())
        .with_wait_for(match service {
            // PostgreSQL says "ready" twice: first the image's init-time server (through
            // pg_ctl, on stdout), which stops again, then the real one, on stderr.
            Service::Postgres => WaitFor::message_on_stderr(ready),
            _ => WaitFor::message_on_stdout(ready),
        })
        .with_env_var("POSTGRES_PASSWORD", "postgres");
    if service == Service::Postgres {
        request = request.with_env_var("POSTGRES_HOST_AUTH_METHOD", "trust");
    }
    let container = match request.start().await {
        Ok(container) => container,
        Err(e) => {
            eprintln!("testkit: could not start a {service} container: {e}");
            return None;
        }
    };
    let host_port = container.get_host_port_ipv4(port).await.ok()?;
    let url = service
        .default_url()
        .replace(&format!(":{port}"), &format!(":{host_port}"));
    Some((container, url))
}
