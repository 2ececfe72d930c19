//! Exact conversion between Alipay yuan strings ("88.88") and integer fen.
//!
//! Alipay sends and expects amounts as decimal strings with at most two
//! fraction digits. Going through `f64` would turn "0.07" into 6.999… fen and
//! make order/notify comparisons flaky, so both directions work on digits only.

/// Formats `fen` as a yuan string with exactly two fraction digits:
/// `1` → `"0.01"`, `8888` → `"88.88"`, `100_000_000` → `"1000000.00"`.
///
/// Amounts are assumed non-negative (Alipay has no negative amounts; refunds
/// are separate positive amounts). A negative input does not panic: it is
/// rendered with a leading `-` (e.g. `-1` → `"-0.01"`), which [`parse_yuan`]
/// deliberately refuses, so it can never round-trip into a request unnoticed.
pub fn to_yuan(fen: i64) -> String {
    // unsigned_abs: i64::MIN has no positive i64 counterpart.
    let abs = fen.unsigned_abs();
    let sign = if fen < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// Parses a yuan string into fen, accepting exactly `^[0-9]{1,10}(\.[0-9]{1,2})?$`
/// (ASCII digits only): `"88.88"` → 8888, `"1"` → 100, `"1.5"` → 150,
/// `"0.01"` → 1.
///
/// Everything else is `None`: signs (including `+`), spaces, exponents, a
/// trailing or leading `.`, more than two fraction digits (never rounded, a
/// third digit means the amount is not what we think it is) and more than ten
/// integer digits. Ten digits keep the result far below `i64::MAX`, so no
/// overflow is possible.
pub fn parse_yuan(s: &str) -> Option<i64> {
    let (int, frac) = match s.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (s, None),
    };
    if int.is_empty() || int.len() > 10 || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut fen: i64 = 0;
    for b in int.bytes() {
        fen = fen * 10 + i64::from(b - b'0');
    }
    fen *= 100;
    if let Some(frac) = frac {
        let digits = frac.as_bytes();
        if digits.is_empty() || digits.len() > 2 || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let tenths = i64::from(digits[0] - b'0');
        let hundredths = digits.get(1).map_or(0, |d| i64::from(d - b'0'));
        fen += tenths * 10 + hundredths;
    }
    Some(fen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats_examples() {
        assert_eq!(to_yuan(0), "0.00");
        assert_eq!(to_yuan(1), "0.01");
        assert_eq!(to_yuan(10), "0.10");
        assert_eq!(to_yuan(8888), "88.88");
        assert_eq!(to_yuan(100_000_000), "1000000.00");
        assert_eq!(to_yuan(-1), "-0.01");
        assert_eq!(to_yuan(i64::MIN), "-92233720368547758.08");
    }

    #[test]
    fn parses_examples() {
        assert_eq!(parse_yuan("88.88"), Some(8888));
        assert_eq!(parse_yuan("1"), Some(100));
        assert_eq!(parse_yuan("1.5"), Some(150));
        assert_eq!(parse_yuan("0.01"), Some(1));
        assert_eq!(parse_yuan("0.00"), Some(0));
        assert_eq!(parse_yuan("007.5"), Some(750));
        assert_eq!(parse_yuan("9999999999.99"), Some(999_999_999_999));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            ".",
            "1.",
            ".5",
            "+1",
            "-1",
            " 1",
            "1 ",
            "1e2",
            "1.234",
            "0.001",
            "1,00",
            "12345678901",
            "1.5.5",
            "١",
            "1.٥",
            "NaN",
            "inf",
            "0x10",
            "1..2",
        ] {
            assert_eq!(parse_yuan(bad), None, "{bad:?} must be rejected");
        }
    }

    proptest! {
        #[test]
        fn round_trip(fen in 0i64..=100_000_000_000) {
            prop_assert_eq!(parse_yuan(&to_yuan(fen)), Some(fen));
        }

        #[test]
        fn parse_never_panics(s in any::<String>()) {
            let _ = parse_yuan(&s);
        }

        #[test]
        fn three_decimals_rejected(s in "[0-9]{1,10}\\.[0-9]{3}") {
            prop_assert_eq!(parse_yuan(&s), None);
        }

        #[test]
        fn accepted_values_format_back(s in "[0-9]{1,10}(\\.[0-9]{1,2})?") {
            let fen = parse_yuan(&s);
            prop_assert!(fen.is_some());
            let fen = fen.unwrap_or_default();
            // Same number: compare after padding the fraction to two digits.
            let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
            let int = int.trim_start_matches('0');
            let int = if int.is_empty() { "0" } else { int };
            prop_assert_eq!(to_yuan(fen), format!("{int}.{frac:0<2}"));
        }
    }
}
