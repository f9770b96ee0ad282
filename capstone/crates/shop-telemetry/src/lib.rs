//! Telemetry for every service of the shop, written once (lesson 07) and used by the capstone's
//! API, its inventory service and the lessons that come after.
//!
//! - [`logs`]: one JSON object per line on stdout, with the fields of the event and of every
//!   span around it, and a redaction pass that keeps secrets and personal data out.
//! - [`metrics`]: RED metrics (rate, errors, duration) for every HTTP request, as a tower
//!   layer, and the Prometheus text exposition a scraper reads at `/metrics`.
//! - [`propagation`]: W3C `traceparent` in and out of HTTP headers, so one request is one
//!   trace across services.
//! - [`capture`]: log lines kept in memory, for demonstrations and tests.
//! - [`setup`]: the subscriber that ties them together, with OpenTelemetry's OTLP export
//!   switched on only when an endpoint is configured.

pub mod capture;
pub mod logs;
pub mod metrics;
pub mod propagation;
pub mod setup;
