//! Just enough DER for RSA public keys: single-byte tags, definite lengths up
//! to 64 KiB, minimal encodings only, every length checked against the input.

/// What is wrong with the DER, in a few fixed words (never the key's bytes).
pub type DerError = &'static str;

pub const INTEGER: u8 = 0x02;
pub const BIT_STRING: u8 = 0x03;
pub const NULL: u8 = 0x05;
pub const OID: u8 = 0x06;
pub const SEQUENCE: u8 = 0x30;
/// 1.2.840.113549.1.1.1, content octets.
pub const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// One TLV from the front of `input`: `(tag, value, rest)`.
pub fn read(input: &[u8]) -> Result<(u8, &[u8], &[u8]), DerError> {
    let err = |why: DerError| why;
    let (&tag, rest) = input.split_first().ok_or(err("truncated tag"))?;
    if tag & 0x1f == 0x1f {
        return Err(err("multi-byte tag"));
    }
    let (&first, rest) = rest.split_first().ok_or(err("truncated length"))?;
    let (len, rest) = match (first, rest) {
        (0..=0x7f, rest) => (usize::from(first), rest),
        (0x81, [b, rest @ ..]) if *b >= 0x80 => (usize::from(*b), rest),
        (0x82, [hi, lo, rest @ ..]) if *hi != 0 => (usize::from(*hi) << 8 | usize::from(*lo), rest),
        (0x81 | 0x82, _) => return Err(err("truncated or non-minimal length")),
        _ => return Err(err("unsupported length form")),
    };
    if rest.len() < len {
        return Err(err("value runs past the end"));
    }
    let (value, rest) = rest.split_at(len);
    Ok((tag, value, rest))
}

/// Reads a TLV that must carry `tag`: `(value, rest)`.
pub fn expect(input: &[u8], tag: u8) -> Result<(&[u8], &[u8]), DerError> {
    match read(input)? {
        (t, value, rest) if t == tag => Ok((value, rest)),
        _ => Err("unexpected tag"),
    }
}

/// Like [`expect`], with nothing allowed after it.
pub fn expect_only(input: &[u8], tag: u8) -> Result<&[u8], DerError> {
    match expect(input, tag)? {
        (value, []) => Ok(value),
        _ => Err("trailing data"),
    }
}

/// Magnitude of a positive, minimally encoded INTEGER (leading 0 removed).
pub fn positive_integer(value: &[u8]) -> Result<&[u8], DerError> {
    match value {
        [] => Err("empty INTEGER"),
        [0] => Err("zero INTEGER"),
        [0, next, ..] if next & 0x80 == 0 => Err("non-minimal INTEGER"),
        [0, magnitude @ ..] => Ok(magnitude),
        [first, ..] if first & 0x80 != 0 => Err("negative INTEGER"),
        _ => Ok(value),
    }
}

/// Appends a TLV with a minimal definite length.
pub fn write(tag: u8, value: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(value);
}
