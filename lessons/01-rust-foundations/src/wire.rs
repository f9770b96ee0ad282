//! The line protocol both IPC demos speak: the asker writes one SKU per line; the pricer
//! answers each with `<sku> <cents> <pid>`. Text, so you can try it by hand:
//! `echo SKU-0007 | cargo run -q -p lesson-01 -- --pipe-child`.

use crate::price::{Price, Sku, list_price};

/// A parsed answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priced {
    pub sku: Sku,
    pub price: Price,
    /// The process that computed the price.
    pub pid: u32,
}

/// The pricer's side: the answer line for one request line (without the newline).
pub fn answer(request: &str) -> String {
    let sku = Sku::new(request.trim());
    format!("{sku} {} {}", list_price(&sku).cents(), std::process::id())
}

// ANCHOR: parse_answer
/// The asker's side. `None` for anything that is not a well-formed answer.
pub fn parse_answer(line: &str) -> Option<Priced> {
    let mut fields = line.split_whitespace();
    let sku = Sku::new(fields.next()?);
    let price = Price::from_cents(fields.next()?.parse().ok()?);
    let pid = fields.next()?.parse().ok()?;
    fields
        .next()
        .is_none()
        .then_some(Priced { sku, price, pid })
}
// ANCHOR_END: parse_answer

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_parses_back_into_what_was_priced() {
        let sku = Sku::numbered(12);
        let priced = parse_answer(&answer(&format!(" {sku}\n"))).unwrap();
        assert_eq!(
            priced,
            Priced {
                price: list_price(&sku),
                sku,
                pid: std::process::id()
            }
        );
        assert_eq!(parse_answer("SKU-1 12 34 extra"), None);
        assert_eq!(parse_answer("SKU-1 twelve 34"), None);
    }
}
