//! The shop's telemetry: the RED metrics of every request (from `shop-telemetry`), the
//! business metrics only this service can count, and the `/metrics` endpoint Prometheus
//! scrapes (chapter 07).
//!
//! Each [`AppState`](crate::AppState) has its own registry, never a global one, so tests
//! running side by side in one process each see only their own counts.

use std::io::IsTerminal;

use std::fmt::Write as _;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use shop_telemetry::logs::Format;
use shop_telemetry::metrics::{Exposition, HttpMetrics};
use shop_telemetry::setup::{self, Settings, SetupError, Telemetry};

use crate::config::{LogFormat, TelemetrySettings};

// ANCHOR: init
/// Installs the process's logging and tracing from the `[telemetry]` settings; the returned
/// guard flushes queued spans when dropped.
pub fn init(settings: &TelemetrySettings, service: &str) -> Result<Telemetry, SetupError> {
    let format = match settings.log_format {
        LogFormat::Json => Format::Json,
        LogFormat::Text => Format::Text,
        LogFormat::Auto if std::io::stdout().is_terminal() => Format::Text,
        LogFormat::Auto => Format::Json,
    };
    setup::init(&Settings {
        service: service.to_owned(),
        format,
        default_filter: settings.log_filter.clone(),
        otlp_endpoint: settings.otlp_endpoint.clone(),
    })
}
// ANCHOR_END: init

/// How a sign-in ended, as a metric label.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum SignIn {
    Success,
    /// A wrong address or password.
    Failure,
    Throttled,
}

impl SignIn {
    /// The label value, as PromQL queries name it: `shop_sign_ins_total{outcome="failure"}`.
    pub fn as_str(self) -> &'static str {
        match self {
            SignIn::Success => "success",
            SignIn::Failure => "failure",
            SignIn::Throttled => "throttled",
        }
    }
}

impl EncodeLabelValue for SignIn {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        encoder.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SignInLabels {
    outcome: SignIn,
}

/// Why a payment failed: the provider's decline codes, and `provider_unavailable`. A closed
/// set, so the number of series stays small.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PaymentFailureLabels {
    reason: String,
}

// ANCHOR: business_metrics
/// Counts what the business asks about, beside what the HTTP layer already counts: a spike
/// of failed sign-ins is credential stuffing long before it is a 5xx.
#[derive(Clone, Debug)]
pub struct ShopMetrics {
    sign_ins: Family<SignInLabels, Counter>,
    accounts_registered: Counter,
    orders_placed: Counter,
    payment_failures: Family<PaymentFailureLabels, Counter>,
}

/// Counters that are not registered yet count into nothing anyone reads (what a part built
/// on its own, in a unit test, holds until the service registers its metrics).
impl Default for ShopMetrics {
    fn default() -> Self {
        ShopMetrics {
            sign_ins: Family::default(),
            accounts_registered: Counter::default(),
            orders_placed: Counter::default(),
            payment_failures: Family::default(),
        }
    }
}

impl ShopMetrics {
    fn register(registry: &mut Registry) -> Self {
        let metrics = ShopMetrics::default();
        registry.register(
            "shop_accounts_registered",
            "New accounts created (a sign-up with a taken address is not one)",
            metrics.accounts_registered.clone(),
        );
        registry.register(
            "shop_sign_ins",
            "Sign-in attempts by outcome: success, failure (wrong address or password), throttled",
            metrics.sign_ins.clone(),
        );
        registry.register(
            "shop_orders_placed",
            "Checkouts that placed an order with its stock reserved and its payment accepted",
            metrics.orders_placed.clone(),
        );
        registry.register(
            "shop_payment_failures",
            "Payments that failed, by reason: the provider's decline code, or provider_unavailable",
            metrics.payment_failures.clone(),
        );
        metrics
    }

    pub fn account_registered(&self) {
        self.accounts_registered.inc();
    }

    /// Accounts created so far.
    pub fn accounts_registered(&self) -> u64 {
        self.accounts_registered.get()
    }

    pub fn sign_in(&self, outcome: SignIn) {
        self.sign_ins.get_or_create(&SignInLabels { outcome }).inc();
    }

    /// Sign-ins with this outcome so far.
    pub fn sign_ins(&self, outcome: SignIn) -> u64 {
        self.sign_ins.get_or_create(&SignInLabels { outcome }).get()
    }

    pub fn order_placed(&self) {
        self.orders_placed.inc();
    }

    /// `reason` is one of a closed set: a provider decline code or `provider_unavailable`.
    pub fn payment_failed(&self, reason: &'static str) {
        let labels = PaymentFailureLabels {
            reason: reason.to_owned(),
        };
        self.payment_failures.get_or_create(&labels).inc();
    }
}
// ANCHOR_END: business_metrics

/// The service's metrics, registered together and exposed together.
#[derive(Clone)]
pub struct Observability {
    pub http: HttpMetrics,
    pub shop: ShopMetrics,
    pub exposition: Exposition,
}

impl Observability {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let http = HttpMetrics::register(&mut registry);
        let shop = ShopMetrics::register(&mut registry);
        Observability {
            http,
            shop,
            exposition: Exposition::new(registry),
        }
    }
}

impl Default for Observability {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Observability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Observability")
    }
}
