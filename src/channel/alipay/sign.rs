//! Alipay RSA2: SHA256withRSA (RSASSA-PKCS1-v1_5) signatures, standard Base64
//! without line breaks, plus the three "what exactly is signed" rules.
//!
//! * Requests: every parameter except `sign`, empty values dropped, sorted,
//!   `k=v&…` over raw values, `sign_type` included ([`request_string_to_sign`]).
//! * Notifies: form-decoded fields minus `sign` *and* `sign_type`
//!   ([`notify_string_to_verify`]).
//! * Synchronous responses: the exact bytes of the `<method>_response` value as
//!   received, never a re-serialization ([`response_text`]).
//!
//! Keys come as Alipay hands them out: PKCS#1 or PKCS#8 PEM, SPKI or PKCS#1
//! public PEM, or the bare Base64 body the open-platform console shows.
//! Nothing here prints or echoes private key material.

use std::collections::BTreeMap;
use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{self, RsaKeyPair, UnparsedPublicKey};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{PrivateKeyDer, SubjectPublicKeyInfoDer};

use super::der;

/// Why a key could not be loaded. Messages describe the problem only; they
/// never contain any part of the key text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The text is empty or whitespace.
    #[error("key text is empty")]
    Empty,
    /// PEM armour present, but none of the accepted kinds.
    #[error("no {expected} PEM block found")]
    NotFound {
        /// The PEM labels that would have been accepted.
        expected: &'static str,
    },
    /// A passphrase-protected key; ring cannot decrypt it and neither do we.
    #[error("encrypted private keys are not supported; export the key unencrypted")]
    Encrypted,
    /// Broken PEM: missing END line, stray headers, bad Base64 inside.
    #[error("malformed PEM armour")]
    MalformedPem,
    /// A bare (unarmoured) key that is not standard Base64.
    #[error("bare key body is not valid standard Base64")]
    Base64,
    /// The DER structure is not what an RSA key looks like.
    #[error("malformed key DER: {0}")]
    Der(&'static str),
    /// The key is not an RSA key (wrong algorithm OID, or an EC key).
    #[error("not an RSA key (expected rsaEncryption 1.2.840.113549.1.1.1)")]
    NotRsa,
    /// Modulus outside what `RSA_PKCS1_2048_8192_SHA256` verifies.
    #[error("RSA modulus of {bits} bits is outside 2048..=8192")]
    ModulusSize {
        /// Bit length of the modulus found.
        bits: usize,
    },
    /// Public exponent outside what ring accepts (odd, 3..2^33).
    #[error("RSA public exponent is not an odd value in 3..2^33")]
    Exponent,
    /// ring refused the private key; `reason` is ring's fixed reason word
    /// (e.g. `InvalidEncoding`, `TooSmall`, `InconsistentComponents`).
    #[error("{format} RSA private key rejected by ring: {reason}")]
    Rejected {
        /// `PKCS#1` or `PKCS#8`.
        format: &'static str,
        /// ring's `KeyRejected` text.
        reason: String,
    },
}

impl From<der::DerError> for KeyError {
    fn from(why: der::DerError) -> KeyError {
        KeyError::Der(why)
    }
}

/// An RSA private key for RSA2 signing (the merchant app key, or the sandbox's
/// stand-in for Alipay's key).
pub struct PrivateKey {
    pair: RsaKeyPair,
}

impl PrivateKey {
    /// Loads `-----BEGIN RSA PRIVATE KEY-----` (PKCS#1),
    /// `-----BEGIN PRIVATE KEY-----` (PKCS#8), or a bare Base64 DER body
    /// without armour (the Alipay console's format; PKCS#8 is tried first,
    /// then PKCS#1). Whitespace and line breaks in a bare body are ignored.
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
            || text.contains("Proc-Type: 4,ENCRYPTED")
        {
            return Err(KeyError::Encrypted);
        }
        if !text.contains("-----BEGIN") {
            return Self::from_bare_der(&bare_base64(text)?);
        }
        match PrivateKeyDer::from_pem_slice(text.as_bytes()) {
            Ok(PrivateKeyDer::Pkcs1(der)) => {
                pkcs1_pair(der.secret_pkcs1_der()).map(|pair| Self { pair })
            }
            Ok(PrivateKeyDer::Pkcs8(der)) => {
                pkcs8_pair(der.secret_pkcs8_der()).map(|pair| Self { pair })
            }
            // SEC1 "EC PRIVATE KEY" (and any future non-RSA kind).
            Ok(_) => Err(KeyError::NotRsa),
            Err(pem::Error::NoItemsFound) => Err(KeyError::NotFound {
                expected: "RSA PRIVATE KEY or PRIVATE KEY",
            }),
            Err(_) => Err(KeyError::MalformedPem),
        }
    }

    fn from_bare_der(der: &[u8]) -> Result<Self, KeyError> {
        match pkcs8_pair(der) {
            Ok(pair) => Ok(Self { pair }),
            Err(pkcs8_err) => match pkcs1_pair(der) {
                Ok(pair) => Ok(Self { pair }),
                // Report the PKCS#8 reason when the wrapper parsed but its
                // content was refused; otherwise the PKCS#1 one.
                Err(pkcs1_err) => Err(match &pkcs8_err {
                    KeyError::Rejected { reason, .. } if reason != "InvalidEncoding" => pkcs8_err,
                    _ => pkcs1_err,
                }),
            },
        }
    }

    /// Signs `message` with SHA256withRSA and returns standard Base64.
    ///
    /// PKCS#1 v1.5 signing is deterministic, so equal input gives equal output
    /// (the vectors rely on that). ring only fails here if the output buffer
    /// has the wrong length, which cannot happen as it is sized from the key;
    /// rather than panic on that unreachable path this returns an empty
    /// string, which no verifier accepts.
    pub fn sign(&self, message: &[u8]) -> String {
        let mut sig = vec![0u8; self.pair.public().modulus_len()];
        let rng = SystemRandom::new(); // unused by PKCS#1 v1.5 padding
        match self
            .pair
            .sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut sig)
        {
            Ok(()) => STANDARD.encode(sig),
            Err(_) => String::new(),
        }
    }

    /// The matching public key (e.g. to print a sandbox key pair's public
    /// half for the client side).
    pub fn public_key(&self) -> PublicKey {
        // ring serializes the public half as minimal PKCS#1 RSAPublicKey DER,
        // and it only loads 2048..=4096-bit keys with e >= 65537, so this
        // satisfies every check `PublicKey::from_pkcs1_der` would make.
        PublicKey {
            pkcs1_der: self.pair.public().as_ref().to_vec(),
            bits: self.bits(),
        }
    }

    /// Modulus size in bits (ring only loads multiples of 512, so exact).
    pub fn bits(&self) -> usize {
        self.pair.public().modulus_len() * 8
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey(<redacted, {} bits>)", self.bits())
    }
}

fn pkcs1_pair(der: &[u8]) -> Result<RsaKeyPair, KeyError> {
    RsaKeyPair::from_der(der).map_err(|e| KeyError::Rejected {
        format: "PKCS#1",
        reason: e.to_string(),
    })
}

fn pkcs8_pair(der: &[u8]) -> Result<RsaKeyPair, KeyError> {
    RsaKeyPair::from_pkcs8(der).map_err(|e| KeyError::Rejected {
        format: "PKCS#8",
        reason: e.to_string(),
    })
}

/// An RSA public key for RSA2 verification (Alipay's public key, or the app
/// public key in a sandbox). Held as PKCS#1 `RSAPublicKey` DER because that is
/// what ring's `RSA_PKCS1_2048_8192_SHA256` verifier takes.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    pkcs1_der: Vec<u8>,
    bits: usize,
}

impl PublicKey {
    /// Loads `-----BEGIN PUBLIC KEY-----` (SubjectPublicKeyInfo, what the
    /// Alipay console gives), `-----BEGIN RSA PUBLIC KEY-----` (PKCS#1), or a
    /// bare Base64 body of either (told apart by their DER shape).
    ///
    /// The key is validated now (rsaEncryption OID, strict DER, 2048..=8192-bit
    /// odd modulus, odd exponent 3..2^33) because ring's `UnparsedPublicKey`
    /// only looks at the key when verifying, where every problem would just
    /// read as "bad signature".
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        // rustls-pki-types has no SectionKind for "RSA PUBLIC KEY" and skips
        // such blocks, so that one label is unwrapped here.
        if let Some(body) = armoured_body(text, "RSA PUBLIC KEY")? {
            return Self::from_pkcs1_der(&bare_base64(body)?);
        }
        if !text.contains("-----BEGIN") {
            let der = bare_base64(text)?;
            let seq = der::expect_only(&der, der::SEQUENCE)?;
            let (inner, _, _) = der::read(seq)?;
            return match inner {
                der::SEQUENCE => Self::from_spki_der(&der),
                der::INTEGER => Self::from_pkcs1_der(&der),
                _ => Err(KeyError::Der(
                    "neither SubjectPublicKeyInfo nor RSAPublicKey",
                )),
            };
        }
        match SubjectPublicKeyInfoDer::from_pem_slice(text.as_bytes()) {
            Ok(spki) => Self::from_spki_der(spki.as_ref()),
            Err(pem::Error::NoItemsFound) => Err(KeyError::NotFound {
                expected: "PUBLIC KEY or RSA PUBLIC KEY",
            }),
            Err(_) => Err(KeyError::MalformedPem),
        }
    }

    /// `SEQUENCE { SEQUENCE { OID rsaEncryption, NULL }, BIT STRING { 0x00,
    /// RSAPublicKey } }` → the inner RSAPublicKey.
    fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        let spki = der::expect_only(der, der::SEQUENCE)?;
        let (algorithm, rest) = der::expect(spki, der::SEQUENCE)?;
        let bit_string = der::expect_only(rest, der::BIT_STRING)?;
        let (oid, params) = der::expect(algorithm, der::OID)?;
        if oid != der::RSA_ENCRYPTION {
            return Err(KeyError::NotRsa);
        }
        // RFC 3279 says NULL; tolerate it being absent as some encoders do.
        if !(params.is_empty() || params == [der::NULL, 0]) {
            return Err(KeyError::Der("unexpected rsaEncryption parameters"));
        }
        match bit_string {
            [0, pkcs1 @ ..] => Self::from_pkcs1_der(pkcs1),
            _ => Err(KeyError::Der("BIT STRING has unused bits")),
        }
    }

    /// `SEQUENCE { INTEGER n, INTEGER e }`, strictly DER.
    fn from_pkcs1_der(der: &[u8]) -> Result<Self, KeyError> {
        let seq = der::expect_only(der, der::SEQUENCE)?;
        let (n, rest) = der::expect(seq, der::INTEGER)?;
        let e = der::expect_only(rest, der::INTEGER)?;
        let n = der::positive_integer(n)?;
        let e = der::positive_integer(e)?;
        let (first, last) = match (n.first(), n.last()) {
            (Some(&first), Some(&last)) => (first, last),
            _ => return Err(KeyError::Der("empty modulus")),
        };
        let bits = n.len() * 8 - first.leading_zeros() as usize;
        if !(2048..=8192).contains(&bits) {
            return Err(KeyError::ModulusSize { bits });
        }
        if last & 1 == 0 {
            return Err(KeyError::Der("even modulus"));
        }
        if e.len() > 5 {
            return Err(KeyError::Exponent);
        }
        let e = e.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b));
        if e < 3 || e & 1 == 0 || e >= 1 << 33 {
            return Err(KeyError::Exponent);
        }
        Ok(Self {
            pkcs1_der: der.to_vec(),
            bits,
        })
    }

    /// Verifies a standard-Base64 RSA2 signature over `message`. False on a
    /// bad signature and on anything that is not standard padded Base64
    /// (no whitespace trimming: a `+` turned into a space by a careless form
    /// decoder should fail loudly, not be patched up here).
    pub fn verify(&self, message: &[u8], sign_b64: &str) -> bool {
        let Ok(sig) = STANDARD.decode(sign_b64) else {
            return false;
        };
        UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &self.pkcs1_der)
            .verify(message, &sig)
            .is_ok()
    }

    /// SPKI PEM (`-----BEGIN PUBLIC KEY-----`, 64-character lines, trailing
    /// newline), the same layout `openssl pkey -pubout` writes.
    pub fn to_pem(&self) -> String {
        let mut algorithm = Vec::new();
        der::write(der::OID, der::RSA_ENCRYPTION, &mut algorithm);
        algorithm.extend_from_slice(&[der::NULL, 0]);
        let mut bit_string = Vec::with_capacity(self.pkcs1_der.len() + 1);
        bit_string.push(0);
        bit_string.extend_from_slice(&self.pkcs1_der);
        let mut body = Vec::new();
        der::write(der::SEQUENCE, &algorithm, &mut body);
        der::write(der::BIT_STRING, &bit_string, &mut body);
        let mut spki = Vec::new();
        der::write(der::SEQUENCE, &body, &mut spki);

        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for (i, c) in STANDARD.encode(spki).chars().enumerate() {
            if i > 0 && i % 64 == 0 {
                pem.push('\n');
            }
            pem.push(c);
        }
        pem.push_str("\n-----END PUBLIC KEY-----\n");
        pem
    }

    /// Modulus size in bits.
    pub fn bits(&self) -> usize {
        self.bits
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey(<RSA {} bits>)", self.bits)
    }
}

/// Strips whitespace and decodes standard, padded Base64.
fn bare_base64(text: &str) -> Result<Vec<u8>, KeyError> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return Err(KeyError::Empty);
    }
    STANDARD.decode(compact).map_err(|_| KeyError::Base64)
}

/// The text between `-----BEGIN <label>-----` and `-----END <label>-----`, if
/// the BEGIN line is there at all.
fn armoured_body<'a>(text: &'a str, label: &str) -> Result<Option<&'a str>, KeyError> {
    let begin = format!("-----BEGIN {label}-----");
    let Some(start) = text.find(&begin) else {
        return Ok(None);
    };
    let rest = text.get(start + begin.len()..).unwrap_or_default();
    match rest.find(&format!("-----END {label}-----")) {
        Some(end) => Ok(rest.get(..end)),
        None => Err(KeyError::MalformedPem),
    }
}

/// The request string to sign (rules.request_sign): every parameter except
/// `sign`, empty values dropped, sorted by key, `k=v` joined with `&` over the
/// raw (not URL-encoded) values. `sign_type` IS included: Alipay's gateway
/// signs requests that way and a request signed without it is rejected.
pub fn request_string_to_sign(params: &BTreeMap<String, String>) -> String {
    join_sorted(
        params
            .iter()
            .filter(|(k, v)| k.as_str() != "sign" && !v.is_empty()),
    )
}

/// The notify string to verify (rules.notify_verify): the form-decoded fields
/// minus `sign` AND `sign_type`, sorted, `k=v` joined with `&`.
///
/// Empty values are dropped, following gopay (and Alipay's own request
/// signer). The Java SDK check keeps them as `k=`; Alipay notifies do not carry
/// empty fields in practice, so both readings agree on real traffic. The
/// consequence to keep in mind: an empty field added in transit does not break
/// the signature, so callers must never give meaning to a field merely being
/// present with an empty value.
pub fn notify_string_to_verify(fields: &BTreeMap<String, String>) -> String {
    join_sorted(
        fields
            .iter()
            .filter(|(k, v)| k.as_str() != "sign" && k.as_str() != "sign_type" && !v.is_empty()),
    )
}

/// BTreeMap<String, _> iterates in byte order, which is ASCII ascending.
fn join_sorted<'a>(pairs: impl Iterator<Item = (&'a String, &'a String)>) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// `"alipay.trade.precreate"` → `"alipay_trade_precreate_response"`.
pub fn response_key(method: &str) -> String {
    format!("{}_response", method.replace('.', "_"))
}

/// The exact text of the top-level `"<response_key>"` object in a gateway
/// response body as received, from its `{` to the matching `}`: the bytes
/// Alipay signed.
///
/// The whole top-level object is walked with a small scanner (strings with
/// escapes, nested objects/arrays via an explicit stack, no recursion), so a
/// key name or brace inside a string or a nested value is never mistaken for
/// the real one. `None` when the body is not a single JSON object, the key is
/// missing, its value is not an object, or the key appears more than once at
/// the top level (which value was signed would be ambiguous, and a later JSON
/// parser might pick the other one).
///
/// Deserialize the returned slice, not the whole body, so only verified bytes
/// are acted on. Keys are compared as raw text; Alipay never escapes them.
pub fn response_text<'a>(body: &'a str, response_key: &str) -> Option<&'a str> {
    let b = body.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return None; // `{}`: nothing to find
    }
    let mut found = None;
    loop {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let key_end = string_end(b, i)?;
        let key = b.get(i + 1..key_end - 1)?;
        i = skip_ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(b, i + 1);
        let value_end = value_end(b, i)?;
        if key == response_key.as_bytes() {
            if found.is_some() || b.get(i) != Some(&b'{') {
                return None;
            }
            found = Some(body.get(i..value_end)?);
        }
        i = skip_ws(b, value_end);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b'}') => break,
            _ => return None,
        }
    }
    if skip_ws(b, i + 1) != b.len() {
        return None; // trailing garbage after the object
    }
    found
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// `b[start]` is `"`; returns the index just past the closing quote.
fn string_end(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    loop {
        match b.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' => i += 2, // skip the escaped byte (`\"`, `\\`, `\u`…)
            _ => i += 1,
        }
    }
}

/// Index just past the JSON value starting at `b[start]`.
fn value_end(b: &[u8], start: usize) -> Option<usize> {
    match b.get(start)? {
        b'"' => string_end(b, start),
        b'{' | b'[' => {
            let mut closers = Vec::new();
            let mut i = start;
            loop {
                match b.get(i)? {
                    b'"' => i = string_end(b, i)?,
                    b'{' => {
                        closers.push(b'}');
                        i += 1;
                    }
                    b'[' => {
                        closers.push(b']');
                        i += 1;
                    }
                    c @ (b'}' | b']') => {
                        if closers.pop()? != *c {
                            return None;
                        }
                        i += 1;
                        if closers.is_empty() {
                            return Some(i);
                        }
                    }
                    _ => i += 1,
                }
            }
        }
        _ => {
            // Numbers, true, false, null.
            let len = b
                .get(start..)?
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
                .count();
            (len > 0).then_some(start + len)
        }
    }
}

/// Builds `{"<method>_response":<text>,"sign":"<b64>"}` the way Alipay's
/// gateway does, for a sandbox. `response_json_text` goes in verbatim: it is
/// exactly the signed text, so it must not be re-serialized.
pub fn sign_response_body(method: &str, response_json_text: &str, key: &PrivateKey) -> String {
    // serde_json quotes and escapes the key name; method names never need it,
    // but the output stays valid JSON whatever the caller passes.
    let name = serde_json::Value::String(response_key(method)).to_string();
    let sign = key.sign(response_json_text.as_bytes());
    format!("{{{name}:{response_json_text},\"sign\":\"{sign}\"}}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: &str = "alipay_trade_precreate_response";

    #[test]
    fn response_key_from_method() {
        assert_eq!(response_key("alipay.trade.precreate"), KEY);
        assert_eq!(
            response_key("alipay.trade.query"),
            "alipay_trade_query_response"
        );
    }

    #[test]
    fn response_text_with_brace_and_escaped_quote_in_strings() {
        let inner = r#"{"msg":"a } b \" c \\","x":{"y":[1,{"z":"]"}]},"n":-1.5e3,"t":true}"#;
        let body = format!("{{\"{KEY}\":{inner},\"sign\":\"abc\"}}");
        assert_eq!(response_text(&body, KEY), Some(inner));
    }

    #[test]
    fn response_text_ignores_key_inside_nested_value_and_string() {
        let real = r#"{"code":"10000"}"#;
        let body = format!(
            "{{\"note\":\"\\\"{KEY}\\\":{{\\\"code\\\":\\\"1\\\"}}\",\
             \"other\":{{\"{KEY}\":{{\"code\":\"evil\"}}}},\
             \"{KEY}\" : {real} ,\"sign\":\"abc\"}}"
        );
        assert_eq!(response_text(&body, KEY), Some(real));
    }

    #[test]
    fn response_text_whitespace_and_unicode() {
        let inner = "{\"subject\":\"年度会员卡\"}";
        let body = format!(" {{ \"sign\" : \"x\" ,\n \"{KEY}\"\t:\r\n{inner} }} \n");
        assert_eq!(response_text(&body, KEY), Some(inner));
    }

    #[test]
    fn response_text_refusals() {
        let cases = [
            String::new(),
            "{}".to_string(),
            "[]".to_string(),
            r#"{"error_response":{"code":"40002"},"sign":""}"#.to_string(),
            format!(r#"{{"sign":"x","other":{{"{KEY}":{{}}}}}}"#),
            format!(r#"{{"note":"{KEY}"}}"#),
            format!(r#"{{"{KEY}":"not an object"}}"#),
            format!(r#"{{"{KEY}":{{"a":1}},"{KEY}":{{"a":2}}}}"#),
            format!(r#"{{"{KEY}":{{"a":"unterminated}}}}"#),
            format!(r#"{{"{KEY}":{{"a":[1}}]}}"#),
            format!(r#"{{"{KEY}":{{"a":1}}"#),
            format!(r#"{{"{KEY}":{{"a":1}}}} trailing"#),
            format!(r#"{{"{KEY}":{{"a":1}} "sign":"x"}}"#),
            format!(r#"{{"{KEY}":{{"a":1}},}}"#),
        ];
        for body in &cases {
            assert_eq!(response_text(body, KEY), None, "{body}");
        }
    }

    #[test]
    fn string_rules() {
        let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let fields = map(&[
            ("sign", "S"),
            ("sign_type", "RSA2"),
            ("b", "2"),
            ("a", "1 &="),
            ("empty", ""),
            ("B", "up"),
        ]);
        assert_eq!(
            request_string_to_sign(&fields),
            "B=up&a=1 &=&b=2&sign_type=RSA2"
        );
        assert_eq!(notify_string_to_verify(&fields), "B=up&a=1 &=&b=2");
        assert_eq!(request_string_to_sign(&BTreeMap::new()), "");
    }

    proptest! {
        #[test]
        fn response_text_never_panics(body in any::<String>()) {
            let _ = response_text(&body, KEY);
        }

        #[test]
        fn response_text_never_panics_on_jsonish(
            body in prop::collection::vec(
                prop::sample::select(vec!["{", "}", "[", "]", "\"", "\\", ":", ",", " ", "a", "1",
                    "\"alipay_trade_precreate_response\"", "é"]),
                0..40,
            )
        ) {
            let body: String = body.concat();
            if let Some(text) = response_text(&body, KEY) {
                let framed = text.starts_with('{') && text.ends_with('}');
                prop_assert!(framed, "not an object: {}", text);
            }
        }

        #[test]
        fn response_text_finds_embedded_json(v in "[a-z\"\\\\{}\\[\\] é]{0,20}") {
            // Any string value, serialized by serde_json, is found verbatim.
            let inner = format!("{{\"msg\":{}}}", serde_json::Value::String(v));
            let body = format!("{{\"x\":\"{{\",\"{KEY}\":{inner},\"sign\":\"s\"}}");
            prop_assert_eq!(response_text(&body, KEY), Some(inner.as_str()));
        }

        #[test]
        fn key_parsing_never_panics(text in any::<String>()) {
            let _ = PrivateKey::from_pem(&text);
            let _ = PublicKey::from_pem(&text);
        }

        #[test]
        fn bare_der_never_panics(der in prop::collection::vec(any::<u8>(), 0..600)) {
            let text = STANDARD.encode(&der);
            let _ = PrivateKey::from_pem(&text);
            let _ = PublicKey::from_pem(&text);
        }
    }
}
