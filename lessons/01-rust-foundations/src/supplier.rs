//! The `Supplier` trait and the simulated suppliers the aggregator talks to.
//!
//! Shows traits as interfaces, a trait object (`Arc<dyn Supplier>`) for a list of different
//! supplier types, and a deterministic simulation: latency, prices and failures are derived
//! from the SKU, so every run of `cargo run -p lesson-01` tells the same story.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use crate::gauge::Gauge;
use crate::price::{Price, Quote, Sku, list_price, stable_hash};

// ANCHOR: supplier_trait
/// What a supplier itself can answer instead of a price. Timeouts and cancellation are not
/// here: a supplier cannot report that it was too slow; the caller decides that
/// (see `fan_out::FetchError`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SupplierError {
    #[error("out of stock")]
    OutOfStock,
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// The future `quote` returns, boxed. Why not write `async fn quote(..)` in the trait? That
/// works (since Rust 1.75) with generics, but makes the trait unusable as `dyn Supplier`:
/// every implementation's future is a different, unnamed type, and a vtable needs one
/// signature. We want `dyn Supplier`, so each implementation boxes its future: one small heap
/// allocation per call buys one return type for all. (`#[async_trait]` generates exactly this.)
pub type QuoteFuture<'a> = Pin<Box<dyn Future<Output = Result<Quote, SupplierError>> + Send + 'a>>;

/// Anyone we can ask for a price. `Send + Sync` because one supplier is shared by many tasks,
/// possibly on different threads at the same time.
pub trait Supplier: Send + Sync {
    fn name(&self) -> &str;

    /// Asks for a quote. Nothing happens until the returned future is awaited, and dropping
    /// the future cancels the request: that is how timeouts and cancellation work in Rust.
    fn quote<'a>(&'a self, sku: &'a Sku) -> QuoteFuture<'a>;

    fn describe(&self) -> String {
        "a supplier".to_owned()
    }
}
// ANCHOR_END: supplier_trait

// ANCHOR: behaviour
/// How a simulated supplier behaves; which SKUs are affected is derived from the SKU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Answers every request after its latency.
    Answers,
    /// Says "out of stock" for one SKU in `n` (`1`: every SKU, `0`: none).
    OutOfStockOneIn(u64),
    /// Never answers: the request hangs until whoever waits for it gives up.
    Hangs,
}
// ANCHOR_END: behaviour

/// A remote supplier, simulated: it sleeps for its latency, then answers with its markup on
/// the list price (or fails, or hangs, as configured).
#[derive(Debug, Clone)]
pub struct SimulatedSupplier {
    name: String,
    markup_percent: u64,
    base_latency: Duration,
    jitter_ms: u64,
    behaviour: Behaviour,
    // Shared with whoever wants to check that cancelled calls really stopped.
    open_calls: Arc<Gauge>,
}

impl SimulatedSupplier {
    /// A supplier that answers instantly at `markup_percent` of the list price; configure the
    /// rest with the builder methods below.
    pub fn new(name: impl Into<String>, markup_percent: u64) -> Self {
        Self {
            name: name.into(),
            markup_percent,
            base_latency: Duration::ZERO,
            jitter_ms: 0,
            behaviour: Behaviour::Answers,
            open_calls: Arc::default(),
        }
    }

    /// Answers after `base` plus 0..=`jitter` (the same extra delay for the same SKU, always).
    pub fn latency(mut self, base: Duration, jitter: Duration) -> Self {
        self.base_latency = base;
        self.jitter_ms = u64::try_from(jitter.as_millis()).unwrap_or(u64::MAX);
        self
    }

    pub fn behaviour(mut self, behaviour: Behaviour) -> Self {
        self.behaviour = behaviour;
        self
    }

    /// Counts this supplier's in-progress calls on `gauge` (several suppliers may share one).
    pub fn open_calls(mut self, gauge: Arc<Gauge>) -> Self {
        self.open_calls = gauge;
        self
    }

    pub fn latency_for(&self, sku: &Sku) -> Duration {
        let jitter = stable_hash(&[&self.name, sku.as_str()]) % self.jitter_ms.saturating_add(1);
        self.base_latency
            .saturating_add(Duration::from_millis(jitter))
    }

    // ANCHOR: is_out_of_stock
    fn is_out_of_stock(&self, sku: &Sku) -> bool {
        match self.behaviour {
            // A different hash from the latency's, so "slow" and "out of stock" are unrelated.
            Behaviour::OutOfStockOneIn(n) => {
                stable_hash(&[sku.as_str(), &self.name]).checked_rem(n) == Some(0)
            }
            Behaviour::Answers | Behaviour::Hangs => false,
        }
    }
    // ANCHOR_END: is_out_of_stock
}

// ANCHOR: simulated_quote
impl Supplier for SimulatedSupplier {
    fn name(&self) -> &str {
        &self.name
    }

    fn quote<'a>(&'a self, sku: &'a Sku) -> QuoteFuture<'a> {
        Box::pin(async move {
            // Lives as long as the call: dropped on return *and* when the caller drops this
            // future half-way (timeout, cancellation).
            let _open = self.open_calls.enter();
            if self.behaviour == Behaviour::Hangs {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(self.latency_for(sku)).await;
            if self.is_out_of_stock(sku) {
                return Err(SupplierError::OutOfStock);
            }
            let price = list_price(sku)
                .percent(self.markup_percent)
                .ok_or_else(|| SupplierError::Unavailable("price out of range".to_owned()))?;
            Ok(Quote {
                supplier: self.name.clone(),
                sku: sku.clone(),
                price,
            })
        })
    }

    fn describe(&self) -> String {
        let markup = self.markup_percent;
        let min = self.base_latency.as_millis();
        let max = min + u128::from(self.jitter_ms);
        match self.behaviour {
            Behaviour::Answers => format!("{markup}% of list price, answers in {min}-{max} ms"),
            Behaviour::OutOfStockOneIn(_) => {
                format!("{markup}% of list price, answers in {min}-{max} ms, often out of stock")
            }
            Behaviour::Hangs => format!("{markup}% of list price, but never answers"),
        }
    }
}
// ANCHOR_END: simulated_quote

/// Our own warehouse: a price list in memory. A second, unrelated type behind the same trait;
/// it has nothing to wait for, so it returns an already-completed future.
#[derive(Debug, Clone)]
pub struct Warehouse {
    name: String,
    stock: HashMap<Sku, Price>,
}

impl Warehouse {
    pub fn new(name: impl Into<String>, stock: HashMap<Sku, Price>) -> Self {
        Self {
            name: name.into(),
            stock,
        }
    }
}

// ANCHOR: warehouse_quote
impl Supplier for Warehouse {
    fn name(&self) -> &str {
        &self.name
    }

    fn quote<'a>(&'a self, sku: &'a Sku) -> QuoteFuture<'a> {
        let answer = match self.stock.get(sku) {
            Some(&price) => Ok(Quote {
                supplier: self.name.clone(),
                sku: sku.clone(),
                price,
            }),
            None => Err(SupplierError::OutOfStock),
        };
        Box::pin(std::future::ready(answer))
    }

    fn describe(&self) -> String {
        format!(
            "in-house price list ({} SKUs in stock), answers at once",
            self.stock.len()
        )
    }
}
// ANCHOR_END: warehouse_quote

// ANCHOR: roster
/// The demo's five suppliers. Two different concrete types in one `Vec`, so the element type
/// must be a trait object: `Arc<dyn Supplier>` (a pointer to the value plus a pointer to its
/// vtable). `Arc` rather than `Box` because every spawned task needs its own handle to the
/// same supplier.
pub fn demo_roster(open_calls: &Arc<Gauge>) -> Vec<Arc<dyn Supplier>> {
    let ms = Duration::from_millis;
    let simulated = |name: &str, markup, base, jitter, behaviour| {
        SimulatedSupplier::new(name, markup)
            .latency(ms(base), ms(jitter))
            .behaviour(behaviour)
            .open_calls(Arc::clone(open_calls))
    };
    // Every fifth part is stocked in-house, slightly under list price.
    let stock = (1..=40)
        .filter(|n| n % 5 == 0)
        .map(Sku::numbered)
        .filter_map(|sku| list_price(&sku).percent(95).map(|price| (sku, price)))
        .collect();
    vec![
        Arc::new(Warehouse::new("Our Warehouse", stock)),
        Arc::new(simulated("Acme Parts", 100, 40, 60, Behaviour::Answers)),
        Arc::new(simulated("Budget Bulk", 82, 80, 160, Behaviour::Answers)),
        Arc::new(simulated(
            "Dodgy Dealer",
            90,
            20,
            40,
            Behaviour::OutOfStockOneIn(3),
        )),
        Arc::new(simulated("Sleepy Supply", 70, 0, 0, Behaviour::Hangs)),
    ]
}
// ANCHOR_END: roster

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn simulated_supplier_answers_after_its_latency_with_its_markup() {
        let sku = Sku::numbered(7);
        let acme =
            SimulatedSupplier::new("Acme", 50).latency(Duration::from_millis(80), Duration::ZERO);
        let started = tokio::time::Instant::now();
        let quote = acme.quote(&sku).await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_millis(80));
        assert_eq!(quote.price.cents(), list_price(&sku).cents() / 2);
        assert_eq!(quote.supplier, "Acme");
    }

    #[tokio::test]
    async fn warehouse_quotes_only_what_it_stocks() {
        let stocked = Sku::numbered(1);
        let stock = HashMap::from([(stocked.clone(), Price::from_cents(999))]);
        let warehouse = Warehouse::new("Home", stock);
        assert_eq!(
            warehouse.quote(&stocked).await.unwrap().price,
            Price::from_cents(999)
        );
        assert_eq!(
            warehouse.quote(&Sku::numbered(2)).await,
            Err(SupplierError::OutOfStock)
        );
    }
}
