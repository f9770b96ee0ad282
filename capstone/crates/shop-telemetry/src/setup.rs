//! One call that sets up a service's telemetry: logs, span ids, and trace export.
//!
//! What this module shows (chapter 07):
//! - A `tracing` subscriber is a stack of layers over one registry: a filter (`RUST_LOG` or a
//!   default), the redacting [`LogLayer`], and the OpenTelemetry layer that gives every span a
//!   trace id and a span id.
//! - Export is a separate decision from instrumentation. The OpenTelemetry layer is always
//!   there (ids propagate, log lines name their trace); spans leave the process only when an
//!   OTLP endpoint is configured, in batches, from a background thread, so a slow collector
//!   never slows a request.
//! - That background thread is not a tokio worker, so the exporter's HTTP client hands each
//!   request to the tokio runtime that set telemetry up ([`TokioReqwest`]).
//! - [`Telemetry`] is a guard: dropping it (at the end of `main`) flushes the spans still
//!   queued, so the last requests before a shutdown are not lost.
//!
//! Run its tests with `cargo test -p shop-telemetry setup`.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{HttpClient, HttpError};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::logs::{Format, LogLayer, Redactor};

/// How long one export may take before the batch is dropped (and reported on stderr).
pub const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

// ANCHOR: settings
/// What [`init`] sets up.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The `service.name` every span carries (`shop-api`, `inventory`).
    pub service: String,
    /// Log lines as JSON (production, pipes) or readable text (a terminal).
    pub format: Format,
    /// The filter used when `RUST_LOG` is unset, e.g. `shop_api=info,tower_http=info,warn`.
    pub default_filter: String,
    /// Where to send spans: the full OTLP/HTTP traces URL of a collector, Jaeger or Tempo
    /// (`http://127.0.0.1:4318/v1/traces`). `None` exports nothing.
    pub otlp_endpoint: Option<String>,
}
// ANCHOR_END: settings

/// Setting telemetry up failed.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("the log filter {filter:?} is not valid: {reason}")]
    Filter { filter: String, reason: String },
    #[error("the OTLP endpoint {endpoint:?} cannot be used: {reason}")]
    Exporter { endpoint: String, reason: String },
    #[error("OTLP export needs a tokio runtime: call this from inside one")]
    NoRuntime,
    #[error("a global subscriber is already installed")]
    AlreadyInstalled,
}

/// Flushes and stops trace export when dropped.
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    /// Exports the spans still queued now, waiting for the collector to take them.
    pub fn flush(&self) {
        // Errors here (collector unreachable) are reported by the SDK on stderr; a
        // service shutting down has nothing better to do with them.
        let _ = self.provider.force_flush();
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        let _ = self.provider.shutdown();
    }
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Telemetry")
    }
}

// ANCHOR: init
/// Installs the global subscriber: filter, redacted logs on stdout, OpenTelemetry spans.
pub fn init(settings: &Settings) -> Result<Telemetry, SetupError> {
    let (subscriber, telemetry) = subscriber(settings, std::io::stdout)?;
    subscriber
        .try_init()
        .map_err(|_| SetupError::AlreadyInstalled)?;
    Ok(telemetry)
}

/// The subscriber [`init`] installs, writing to `make_writer`, for a caller that installs it
/// itself (a test with `tracing::subscriber::with_default`, a demonstration capturing lines).
pub fn subscriber<W>(
    settings: &Settings,
    make_writer: W,
) -> Result<(impl Subscriber + Send + Sync + 'static, Telemetry), SetupError>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = match std::env::var(EnvFilter::DEFAULT_ENV) {
        Ok(directives) if !directives.trim().is_empty() => directives,
        _ => settings.default_filter.clone(),
    };
    let filter = EnvFilter::try_new(&filter).map_err(|error| SetupError::Filter {
        filter: filter.clone(),
        reason: error.to_string(),
    })?;
    let provider = tracer_provider(settings)?;
    let tracer = provider.tracer(settings.service.clone());
    let subscriber = tracing_subscriber::registry()
        .with(filter)
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .with(LogLayer::new(make_writer, settings.format, Redactor::default()).with_trace_ids());
    Ok((subscriber, Telemetry { provider }))
}
// ANCHOR_END: init

// ANCHOR: provider
fn tracer_provider(settings: &Settings) -> Result<SdkTracerProvider, SetupError> {
    let resource = Resource::builder()
        .with_service_name(settings.service.clone())
        .build();
    let builder = SdkTracerProvider::builder().with_resource(resource);
    let Some(endpoint) = &settings.otlp_endpoint else {
        return Ok(builder.build());
    };
    let exporter_error = |reason: String| SetupError::Exporter {
        endpoint: endpoint.clone(),
        reason,
    };
    let url = reqwest::Url::parse(endpoint).map_err(|error| exporter_error(error.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(exporter_error(
            "it must be an http:// or https:// URL".into(),
        ));
    }
    let handle = tokio::runtime::Handle::try_current().map_err(|_| SetupError::NoRuntime)?;
    let client = reqwest::Client::builder()
        .timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|error| exporter_error(error.to_string()))?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(TokioReqwest { client, handle })
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(endpoint.clone())
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|error| exporter_error(error.to_string()))?;
    Ok(builder.with_batch_exporter(exporter).build())
}
// ANCHOR_END: provider

// ANCHOR: client
/// The exporter's HTTP client: the workspace's async reqwest, run on the tokio runtime whose
/// handle it holds. The batch processor calls it from its own thread, outside any runtime,
/// so each request is spawned onto the runtime and its result awaited across threads.
#[derive(Clone, Debug)]
pub struct TokioReqwest {
    client: reqwest::Client,
    handle: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for TokioReqwest {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        let sent = self.handle.spawn(async move {
            let request = reqwest::Request::try_from(request.map(reqwest::Body::from))?;
            let response = client.execute(request).await?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await?;
            let mut answer = Response::new(body);
            *answer.status_mut() = status;
            *answer.headers_mut() = headers;
            Ok::<_, reqwest::Error>(answer)
        });
        Ok(sent.await??)
    }
}
// ANCHOR_END: client

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(endpoint: Option<&str>) -> Settings {
        Settings {
            service: "test".into(),
            format: Format::Json,
            default_filter: "info".into(),
            otlp_endpoint: endpoint.map(str::to_owned),
        }
    }

    #[tokio::test]
    async fn a_bad_endpoint_is_refused_with_its_reason() {
        for endpoint in ["not a url", "ftp://127.0.0.1/v1/traces"] {
            let error = subscriber(&settings(Some(endpoint)), std::io::sink)
                .err()
                .expect("refused");
            let text = error.to_string();
            assert!(text.contains(endpoint), "{text}");
        }
    }

    #[test]
    fn export_outside_a_runtime_is_a_clear_error() {
        let error = subscriber(
            &settings(Some("http://127.0.0.1:4318/v1/traces")),
            std::io::sink,
        )
        .err()
        .expect("refused");
        assert!(matches!(error, SetupError::NoRuntime), "{error}");
    }

    #[test]
    fn spans_get_trace_ids_even_when_nothing_is_exported() {
        let (subscriber, _telemetry) = subscriber(&settings(None), std::io::sink).unwrap();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request");
            let id = crate::propagation::trace_id(&span).expect("a trace id");
            assert_eq!(id.len(), 32);
            // And a child shares it.
            let _entered = span.enter();
            let child = tracing::info_span!("child");
            assert_eq!(crate::propagation::trace_id(&child), Some(id));
        });
    }
}
