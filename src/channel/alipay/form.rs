//! `application/x-www-form-urlencoded` codec for Alipay notifies and gateway
//! requests.
//!
//! Encoding uses `url::form_urlencoded::Serializer` as is. Decoding does not use
//! `form_urlencoded::parse`, because that parser is lossy on purpose (bad UTF-8
//! becomes U+FFFD, malformed `%` escapes pass through literally) and silently
//! keeps repeated keys. For a signed notify every one of those is a way for
//! the text we verify to differ from the text we act on, so `decode` splits and
//! percent-decodes the same way but refuses instead of repairing. On every
//! body it accepts, the result equals what `form_urlencoded::parse` yields
//! (checked by a property test below).

use std::collections::btree_map::{BTreeMap, Entry};

use url::form_urlencoded;

/// Why a form body was refused. Values are never echoed (they may hold
/// personal data); a repeated key is named because that is what to look for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormError {
    /// The same key appears twice (after decoding), so which value was signed
    /// is ambiguous.
    #[error("form key {0:?} appears more than once")]
    DuplicateKey(String),
    /// A pair such as `=value` has no name.
    #[error("form pair with an empty key")]
    EmptyKey,
    /// A `%` not followed by two hex digits.
    #[error("malformed percent escape in form body")]
    BadEscape,
    /// A key or value is not UTF-8 once percent-decoded.
    #[error("form key or value is not valid UTF-8 after percent-decoding")]
    InvalidUtf8,
}

/// Decodes a form body into a map, refusing repeated keys, empty keys,
/// malformed `%` escapes and anything that is not UTF-8 after decoding.
///
/// As in the WHATWG parser: pairs are split on `&`, empty pairs are skipped,
/// the name ends at the first `=` (no `=` means an empty value), and `+` means
/// a space.
pub fn decode(body: &[u8]) -> Result<BTreeMap<String, String>, FormError> {
    let mut fields = BTreeMap::new();
    for pair in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &[][..]),
        };
        let name = percent_decode_strict(name)?;
        if name.is_empty() {
            return Err(FormError::EmptyKey);
        }
        let value = percent_decode_strict(value)?;
        match fields.entry(name) {
            Entry::Occupied(e) => return Err(FormError::DuplicateKey(e.key().clone())),
            Entry::Vacant(e) => {
                e.insert(value);
            }
        }
    }
    Ok(fields)
}

/// Encodes fields (in key order) as a form body: `+` for space, everything
/// outside `[A-Za-z0-9*-._]` percent-encoded as UTF-8.
pub fn encode(fields: &BTreeMap<String, String>) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

/// `+` → space, `%XY` → byte, then strict UTF-8.
fn percent_decode_strict(input: &[u8]) -> Result<String, FormError> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        match b {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hi = input.get(i + 1).and_then(|&h| hex_value(h));
                let lo = input.get(i + 2).and_then(|&l| hex_value(l));
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                    _ => return Err(FormError::BadEscape),
                }
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| FormError::InvalidUtf8)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn decodes_plus_percent_and_utf8() {
        let got = decode(b"subject=%E5%B9%B4+%E5%BA%A6&gmt=2026-11-22+14%3A13%3A19&flag&&x=a%2Bb");
        assert_eq!(
            got,
            Ok(map(&[
                ("subject", "年 度"),
                ("gmt", "2026-11-22 14:13:19"),
                ("flag", ""),
                ("x", "a+b"),
            ]))
        );
        assert_eq!(decode(b""), Ok(BTreeMap::new()));
    }

    #[test]
    fn refuses_repeated_key_naming_it() {
        assert_eq!(
            decode(b"total_amount=0.01&total_amount=88.88"),
            Err(FormError::DuplicateKey("total_amount".into()))
        );
        // Duplicate only after decoding still counts.
        assert_eq!(
            decode(b"a=1&%61=2"),
            Err(FormError::DuplicateKey("a".into()))
        );
        let msg = FormError::DuplicateKey("sign".into()).to_string();
        assert!(msg.contains("\"sign\""), "{msg}");
    }

    #[test]
    fn refuses_bad_input() {
        assert_eq!(decode(b"=x"), Err(FormError::EmptyKey));
        assert_eq!(decode(b"a=%E5%B9"), Err(FormError::InvalidUtf8));
        assert_eq!(decode(b"a=\xff"), Err(FormError::InvalidUtf8));
        assert_eq!(decode(b"%ff=1"), Err(FormError::InvalidUtf8));
        assert_eq!(decode(b"a=%zz"), Err(FormError::BadEscape));
        assert_eq!(decode(b"a=%4"), Err(FormError::BadEscape));
        assert_eq!(decode(b"a=100%"), Err(FormError::BadEscape));
        // A real U+FFFD sent on purpose is fine.
        assert_eq!(decode(b"a=%EF%BF%BD"), Ok(map(&[("a", "\u{FFFD}")])));
    }

    #[test]
    fn encodes_in_key_order() {
        let fields = map(&[("b", "x y"), ("a", "年/+=&")]);
        assert_eq!(encode(&fields), "a=%E5%B9%B4%2F%2B%3D%26&b=x+y");
    }

    proptest! {
        #[test]
        fn round_trip(fields in prop::collection::btree_map(
            any::<String>().prop_filter("form keys are non-empty", |k| !k.is_empty()),
            any::<String>(),
            0..8,
        )) {
            prop_assert_eq!(decode(encode(&fields).as_bytes()), Ok(fields));
        }

        #[test]
        fn decode_never_panics(body in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&body);
        }

        #[test]
        fn agrees_with_form_urlencoded_when_accepted(
            body in prop::collection::vec(
                prop::sample::select(b"ab=&+%2Fe9F\xc3\xa9\xff".to_vec()), 0..24)
        ) {
            if let Ok(fields) = decode(&body) {
                let lossy: Vec<(String, String)> = form_urlencoded::parse(&body)
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                prop_assert_eq!(lossy.len(), fields.len());
                for (k, v) in lossy {
                    prop_assert_eq!(fields.get(&k), Some(&v));
                }
            }
        }
    }
}
