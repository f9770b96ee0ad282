//! The shop's domain primitives: the small types every other capstone crate speaks in.
//!
//! Lesson 01 starts this crate (book chapter 01, "Capstone"). Each type follows "parse, don't
//! validate": private fields, a fallible constructor that checks and normalises once, and serde
//! that goes through the same constructor, so a value of the type is proof it is well formed.
//!
//! - [`Money`] and [`Currency`]: integer minor units, checked arithmetic, allocation by ratios;
//! - typed ids ([`ProductId`], [`UserId`], [`OrderId`], [`CategoryId`]): UUID v7 newtypes that
//!   cannot be mixed up;
//! - [`Email`]: a practical address parser;
//! - [`Sku`]: stock-keeping units in one canonical spelling;
//! - [`Role`]: customer, support or admin (chapter 04);
//! - [`order`]: the order state machine ([`OrderStatus`]) and the order as a fold over its
//!   events ([`Order`], [`OrderEvent`]) (chapter 08).
//!
//! Every invariant has a property test in `tests/`; run them all with
//! `cargo test -p shop-domain`.

pub mod email;
pub mod id;
pub mod money;
pub mod order;
pub mod role;
pub mod sku;

pub use email::{Email, EmailError};
pub use id::{CategoryId, OrderId, ParseIdError, ProductId, UserId};
pub use money::{
    AllocationError, Currency, Money, MoneyError, ParseCurrencyError, ParseMoneyError,
};
pub use order::{
    IllegalTransition, Order, OrderAction, OrderCommand, OrderEvent, OrderStatus,
    ParseOrderActionError, ParseOrderStatusError, ReplayError,
};
pub use role::{ParseRoleError, Role};
pub use sku::{Sku, SkuError};
