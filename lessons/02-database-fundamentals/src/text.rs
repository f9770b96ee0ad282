//! Money for people: euros from cents, with thousands separators. The rest of the demo's
//! formatting (tables, durations, sparklines) comes from the shared `narrate` crate.

use narrate::thousands;

/// Cents as euros with separators: `123456789` → `1,234,567.89`.
pub fn euros(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    let whole = i64::try_from(cents / 100).unwrap_or(i64::MAX);
    format!("{sign}{}.{:02}", thousands(whole), cents % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn euros_keep_two_decimals() {
        assert_eq!(euros(0), "0.00");
        assert_eq!(euros(5), "0.05");
        assert_eq!(euros(2_499), "24.99");
        assert_eq!(euros(123_456_789), "1,234,567.89");
        assert_eq!(euros(-150), "-1.50");
    }
}
