//! WeChat Pay v2's message format: one flat `<xml>` of text elements, often CDATA.
//! Decoded into (and encoded from) a sorted map, for client, notify and sandbox alike.
//! A DOCTYPE (and with it any entity definition), nested elements, repeated fields and
//! bodies over `MAX_BODY` are refused.

use quick_xml::events::Event;
use quick_xml::Reader;
use std::collections::BTreeMap;

pub const MAX_BODY: usize = 64 * 1024;

pub type Fields = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("the XML body is larger than {MAX_BODY} bytes")]
    TooLarge,
    #[error("a DOCTYPE is not allowed")]
    Doctype,
    #[error("the document must be one <xml> element of text fields")]
    NotFlat,
    #[error("field {0} appears twice")]
    Duplicate(String),
    #[error("malformed XML: {0}")]
    Malformed(String),
}

pub fn decode(body: &[u8]) -> Result<Fields, XmlError> {
    if body.len() > MAX_BODY {
        return Err(XmlError::TooLarge);
    }
    let mut reader = Reader::from_reader(body);
    let config = reader.config_mut();
    config.trim_text(false);
    config.expand_empty_elements = true;
    config.check_end_names = true;

    let malformed = |e: quick_xml::Error| XmlError::Malformed(e.to_string());
    let mut fields = Fields::new();
    // 0: before <xml>, 1: inside <xml>, 2: inside a field, 3: after </xml>
    let mut depth = 0u8;
    let mut current: Option<(String, String)> = None;
    loop {
        match reader.read_event().map_err(malformed)? {
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::Decl(_) | Event::Comment(_) => {}
            Event::PI(_) => return Err(XmlError::NotFlat),
            Event::Start(start) => {
                let name = std::str::from_utf8(start.name().as_ref())
                    .map_err(|e| XmlError::Malformed(e.to_string()))?
                    .to_owned();
                match depth {
                    0 if name == "xml" => depth = 1,
                    1 => {
                        current = Some((name, String::new()));
                        depth = 2;
                    }
                    _ => return Err(XmlError::NotFlat),
                }
            }
            Event::End(_) => match depth {
                2 => {
                    let (name, value) = current.take().expect("inside a field");
                    if fields.contains_key(&name) {
                        return Err(XmlError::Duplicate(name));
                    }
                    fields.insert(name, value);
                    depth = 1;
                }
                1 => depth = 3,
                _ => return Err(XmlError::NotFlat),
            },
            Event::Text(text) => {
                let text = text.unescape().map_err(malformed)?;
                match (&mut current, depth) {
                    (Some((_, value)), 2) => value.push_str(&text),
                    _ if text.trim().is_empty() => {}
                    _ => return Err(XmlError::NotFlat),
                }
            }
            Event::CData(cdata) => match (&mut current, depth) {
                (Some((_, value)), 2) => {
                    let raw = cdata.into_inner();
                    let text = std::str::from_utf8(&raw)
                        .map_err(|e| XmlError::Malformed(e.to_string()))?;
                    value.push_str(text);
                }
                _ => return Err(XmlError::NotFlat),
            },
            Event::Empty(_) => return Err(XmlError::NotFlat),
            Event::Eof => break,
        }
    }
    if depth != 3 {
        return Err(XmlError::NotFlat);
    }
    Ok(fields)
}

/// `<xml><k><![CDATA[v]]></k>…</xml>`. A value containing `]]>` is split across two CDATA
/// sections, so every string round-trips. Field names must be XML names (ours always are).
pub fn encode<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::with_capacity(512);
    out.push_str("<xml>");
    for (name, value) in fields {
        out.push('<');
        out.push_str(name);
        out.push('>');
        out.push_str("<![CDATA[");
        out.push_str(&value.replace("]]>", "]]]]><![CDATA[>"));
        out.push_str("]]>");
        out.push_str("</");
        out.push_str(name);
        out.push('>');
    }
    out.push_str("</xml>");
    out
}

pub fn encode_map(fields: &Fields) -> String {
    encode(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_wechat_style_cdata_and_plain_text() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<xml>
   <return_code><![CDATA[SUCCESS]]></return_code>
   <total_fee>1</total_fee>
   <body>a &amp; b &lt;c&gt; &#20013;</body>
   <attach></attach>
   <empty/>
</xml>"#;
        let fields = decode(body).unwrap();
        assert_eq!(fields["return_code"], "SUCCESS");
        assert_eq!(fields["total_fee"], "1");
        assert_eq!(fields["body"], "a & b <c> 中");
        assert_eq!(fields["attach"], "");
        assert_eq!(fields["empty"], "");
    }

    #[test]
    fn refuses_doctype_and_entities() {
        let xxe = br#"<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><a>&x;</a></xml>"#;
        assert_eq!(decode(xxe), Err(XmlError::Doctype));
        assert!(matches!(
            decode(b"<xml><a>&x;</a></xml>"),
            Err(XmlError::Malformed(_))
        ));
    }

    #[test]
    fn refuses_anything_but_one_flat_xml() {
        for bad in [
            &b"<xml><a><b>1</b></a></xml>"[..],
            b"<root><a>1</a></root>",
            b"<xml>text<a>1</a></xml>",
            b"<xml><a>1</a>",
            b"<xml><a>1</b></xml>",
            b"",
            b"not xml",
            b"<xml><a>1</a></xml><xml></xml>",
        ] {
            assert!(decode(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(
            decode(b"<xml><a>1</a><a>2</a></xml>"),
            Err(XmlError::Duplicate("a".into()))
        );
    }

    #[test]
    fn refuses_oversized_bodies() {
        let big = format!("<xml><a>{}</a></xml>", "x".repeat(MAX_BODY));
        assert_eq!(decode(big.as_bytes()), Err(XmlError::TooLarge));
    }

    #[test]
    fn encodes_hostile_values_so_they_decode_unchanged() {
        let mut fields = Fields::new();
        fields.insert("a".into(), "x]]>y<z>&amp;]]]]>".into());
        fields.insert("b".into(), String::new());
        let xml = encode_map(&fields);
        assert_eq!(decode(xml.as_bytes()).unwrap(), fields);
    }

    fn xml_char() -> impl Strategy<Value = char> {
        // Every character XML 1.0 can carry (minus \r, which XML normalizes to \n).
        prop_oneof![
            Just('\t'),
            Just('\n'),
            proptest::char::range('\u{20}', '\u{D7FF}'),
            proptest::char::range('\u{E000}', '\u{FFFD}'),
            proptest::char::range('\u{10000}', '\u{10FFFF}'),
        ]
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::collection::vec(xml_char(), 0..40).prop_map(|c| c.into_iter().collect()),
            prop::collection::vec(
                prop_oneof![
                    Just("]]>".to_owned()),
                    Just("<".to_owned()),
                    Just("&".to_owned()),
                    Just("&amp;".to_owned()),
                    Just("天天吃货".to_owned()),
                    Just(String::new()),
                    Just("]]".to_owned()),
                    Just(">".to_owned()),
                ],
                0..8
            )
            .prop_map(|parts| parts.concat()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn encode_then_decode_is_the_identity(
            fields in prop::collection::btree_map("[a-z_][a-z0-9_]{0,20}", value(), 0..12)
        ) {
            let xml = encode_map(&fields);
            prop_assert_eq!(decode(xml.as_bytes()).unwrap(), fields);
        }

        #[test]
        fn decode_never_panics(body in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&body);
        }
    }
}
