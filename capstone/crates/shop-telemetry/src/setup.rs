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
//! - That background thread is not a tokio worker, so the exporter's HTTP client brings its own
//!   small runtime ([`ExportClient`]): export never competes with requests for the service's
//!   workers, and a shutdown that waits for the last export cannot deadlock on them.
//! - Redaction covers traces too ([`RedactingProcessor`]): span fields become span attributes
//!   and log events inside a span become span events, so the exporter gets the same scrubbing
//!   as the log lines.
//! - [`Telemetry`] is a guard: dropping it (at the end of `main`) flushes the spans still
//!   queued, so the last requests before a shutdown are not lost.
//!
//! Run its tests with `cargo test -p shop-telemetry setup`.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{KeyValue, Value};
use opentelemetry_http::{HttpClient, HttpError};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider, SpanData, SpanProcessor};
use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::logs::{Format, LogLayer, REDACTED, Redactor};

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
    let client = ExportClient::new().map_err(exporter_error)?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(endpoint.clone())
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|error| exporter_error(error.to_string()))?;
    // Finished spans queue in memory and leave in batches from the processor's own thread.
    let batches = BatchSpanProcessor::builder(exporter).build();
    Ok(builder
        .with_span_processor(RedactingProcessor::new(batches, Redactor::default()))
        .build())
}
// ANCHOR_END: provider

// ANCHOR: redacting_processor
/// Scrubs every finished span with the [`Redactor`] the logs use (attribute names and values,
/// event names, which hold log messages, and event attributes) before passing it on.
#[derive(Debug)]
pub struct RedactingProcessor<P> {
    inner: P,
    redactor: Redactor,
}

impl<P> RedactingProcessor<P> {
    pub fn new(inner: P, redactor: Redactor) -> Self {
        Self { inner, redactor }
    }

    fn scrub_attributes(&self, attributes: &mut [KeyValue]) {
        for attribute in attributes {
            if self.redactor.is_sensitive_name(attribute.key.as_str()) {
                attribute.value = Value::from(REDACTED);
            } else if let Value::String(text) = &attribute.value
                && let Cow::Owned(scrubbed) = self.redactor.scrub(text.as_str())
            {
                attribute.value = Value::from(scrubbed);
            }
        }
    }
}

impl<P: SpanProcessor> SpanProcessor for RedactingProcessor<P> {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &opentelemetry::Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, mut span: SpanData) {
        self.scrub_attributes(&mut span.attributes);
        for event in span.events.events.iter_mut() {
            if let Cow::Owned(scrubbed) = self.redactor.scrub(&event.name) {
                event.name = Cow::Owned(scrubbed);
            }
            self.scrub_attributes(&mut event.attributes);
        }
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
// ANCHOR_END: redacting_processor

// ANCHOR: client
/// The exporter's HTTP client: the workspace's async reqwest on a one-thread tokio runtime of
/// its own. The batch processor calls it from its own thread, outside any runtime, and waits
/// for the answer, so each export simply runs to completion on this runtime. Borrowing the
/// service's runtime instead would tie export to its workers: a shutdown that blocks a worker
/// while it waits for the last export could wait on itself.
#[derive(Clone, Debug)]
pub struct ExportClient {
    client: reqwest::Client,
    runtime: Arc<OwnRuntime>,
}

impl ExportClient {
    pub fn new() -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| format!("cannot start the exporter's runtime: {error}"))?;
        let client = reqwest::Client::builder()
            .timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|error| error.to_string())?;
        Ok(Self {
            client,
            runtime: Arc::new(OwnRuntime(Some(runtime))),
        })
    }
}

/// A runtime that may be dropped anywhere: `shutdown_background` neither blocks nor panics
/// inside another runtime, where a plain drop would.
#[derive(Debug)]
struct OwnRuntime(Option<tokio::runtime::Runtime>);

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

#[async_trait::async_trait]
impl HttpClient for ExportClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(
                "the exporter's client must be called from the batch processor's \
                        thread, not from inside a tokio runtime"
                    .into(),
            );
        }
        let Some(runtime) = &self.runtime.0 else {
            return Err("the exporter's runtime has stopped".into());
        };
        let client = self.client.clone();
        let answer = runtime.block_on(async move {
            let request = reqwest::Request::try_from(request.map(reqwest::Body::from))?;
            let response = client.execute(request).await?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await?;
            let mut answer = Response::new(body);
            *answer.status_mut() = status;
            *answer.headers_mut() = headers;
            Ok::<_, reqwest::Error>(answer)
        })?;
        Ok(answer)
    }
}
// ANCHOR_END: client

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

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

    /// Keeps every span it is given.
    #[derive(Clone, Debug, Default)]
    struct Recording(Arc<std::sync::Mutex<Vec<SpanData>>>);

    impl SpanProcessor for Recording {
        fn on_start(&self, _: &mut opentelemetry_sdk::trace::Span, _: &opentelemetry::Context) {}
        fn on_end(&self, span: SpanData) {
            self.0.lock().unwrap().push(span);
        }
        fn force_flush(&self) -> OTelSdkResult {
            Ok(())
        }
        fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
            Ok(())
        }
    }

    #[test]
    fn exported_spans_are_redacted_like_log_lines() {
        let recording = Recording::default();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(RedactingProcessor::new(
                recording.clone(),
                Redactor::default(),
            ))
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "login",
                api_key = "k_live_1",
                customer = "jane.doe@example.com",
                items = 3
            );
            let _entered = span.enter();
            tracing::info!(
                card = "4242 4242 4242 4242",
                "signed in as jane.doe@example.com"
            );
        });
        let spans = recording.0.lock().unwrap();
        let text = format!("{spans:?}");
        for leak in ["k_live_1", "jane.doe", "4242 4242 4242 4242"] {
            assert!(!text.contains(leak), "{leak} exported: {text}");
        }
        let span = &spans[0];
        let value = |key: &str| {
            span.attributes
                .iter()
                .find(|kv| kv.key.as_str() == key)
                .map(|kv| kv.value.to_string())
        };
        assert_eq!(value("api_key").as_deref(), Some(REDACTED));
        assert_eq!(value("customer").as_deref(), Some("j***@example.com"));
        assert_eq!(value("items").as_deref(), Some("3"));
        assert_eq!(span.events.events[0].name, "signed in as j***@example.com");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn export_and_shutdown_work_on_a_one_thread_runtime() {
        // Nothing listens on port 1: the export fails, and shutdown still returns instead of
        // waiting on the very thread it blocks.
        let (subscriber, telemetry) = subscriber(
            &settings(Some("http://127.0.0.1:1/v1/traces")),
            std::io::sink,
        )
        .unwrap();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info_span!("request").in_scope(|| tracing::info!("answered"));
        });
        telemetry.flush();
        drop(telemetry);
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
