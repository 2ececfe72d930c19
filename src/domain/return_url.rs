use serde_json::Value;
use url::Url;

const MAX_URL_BYTES: usize = 1024;

fn parse_http_url(s: &str) -> Result<Url, &'static str> {
    if s.len() > MAX_URL_BYTES {
        return Err("at most 1024 bytes");
    }
    let url = Url::parse(s).map_err(|_| "an absolute http or https URL")?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("an absolute http or https URL");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("a URL without user name or password");
    }
    Ok(url)
}

/// Whether the authority of the absolute URL `s` carries a `:port` (an IPv6 host's colons
/// are inside its brackets).
fn names_a_port(s: &str) -> bool {
    let rest = s.split_once("://").map_or("", |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let after_host = host_port
        .rsplit_once(']')
        .map_or(host_port, |(_, port)| port);
    after_host.contains(':')
}

/// A URL prefix a merchant registered; only URLs that start with one are ever called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnUrlPrefix(String);

impl ReturnUrlPrefix {
    /// Kept in the normalized form `ReturnUrl` compares with (host lower-cased, default port
    /// dropped, path percent-encoded), so that `http://Shop.example:80/支付` admits the URLs
    /// it names. The `/` the parser adds to a bare origin is dropped again, since
    /// `http://127.0.0.1` admits any port of that host, except where the prefix named the
    /// default port: `http://shop.example:80` stays `http://shop.example/`, port 80 only.
    pub fn parse(s: &str) -> Result<ReturnUrlPrefix, String> {
        let url =
            parse_http_url(s).map_err(|rule| format!("return URL prefix {s:?} must be {rule}"))?;
        // Link-local holds cloud metadata services (169.254.169.254); the unspecified address
        // reaches this very machine. Neither is a shop.
        let forbidden = match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_link_local() || ip.is_unspecified(),
            Some(url::Host::Ipv6(ip)) => {
                let mapped = ip.to_ipv4_mapped();
                (ip.segments()[0] & 0xffc0) == 0xfe80
                    || ip.is_unspecified()
                    || mapped.is_some_and(|v4| v4.is_link_local() || v4.is_unspecified())
            }
            _ => false,
        };
        if forbidden {
            return Err(format!(
                "return URL prefix {s:?} must not name a link-local or unspecified address"
            ));
        }
        let mut normalized = url.as_str().to_owned();
        let bare_origin = url.path() == "/" && url.query().is_none() && url.fragment().is_none();
        let default_port_named = url.port().is_none() && names_a_port(s);
        if bare_origin && !s.ends_with('/') && !default_port_named {
            normalized.pop();
        }
        Ok(ReturnUrlPrefix(normalized))
    }

    pub fn from_stored(s: String) -> ReturnUrlPrefix {
        ReturnUrlPrefix(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `url` starts with this prefix, and the prefix ends at a boundary of the URL, so that
    /// `http://shop.example` admits `http://shop.example:8088/notify` and
    /// `http://shop.example/notify` but never `http://shop.example.evil.test/`.
    pub fn admits(&self, url: &str) -> bool {
        let prefix = self.0.as_str();
        match url.strip_prefix(prefix) {
            None => false,
            Some(rest) => {
                prefix.ends_with('/') || rest.is_empty() || rest.starts_with(['/', ':', '?', '#'])
            }
        }
    }
}

/// A URL the payment center will call (or send the shopper to): http(s), absolute, and
/// under one of the merchant's registered prefixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnUrl(String);

impl ReturnUrl {
    pub fn parse(
        field: &str,
        value: &Value,
        prefixes: &[ReturnUrlPrefix],
    ) -> Result<ReturnUrl, String> {
        let s = value
            .as_str()
            .ok_or_else(|| format!("{field} must be a string: an absolute http or https URL"))?;
        ReturnUrl::parse_str(field, s, prefixes)
    }

    pub fn parse_str(
        field: &str,
        s: &str,
        prefixes: &[ReturnUrlPrefix],
    ) -> Result<ReturnUrl, String> {
        let url = parse_http_url(s).map_err(|rule| format!("{field} must be {rule}"))?;
        // The prefix is checked against (and the order keeps) the URL as it will be called:
        // `/api/../admin` is `/admin`, whatever the prefix says of the raw text.
        let normalized = url.as_str();
        if !prefixes.iter().any(|p| p.admits(normalized)) {
            return Err(format!(
                "{field} must start with one of the merchant's registered return URL prefixes"
            ));
        }
        Ok(ReturnUrl(normalized.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefixes(list: &[&str]) -> Vec<ReturnUrlPrefix> {
        list.iter()
            .map(|p| ReturnUrlPrefix::parse(p).unwrap())
            .collect()
    }

    #[test]
    fn prefixes_never_name_link_local_or_unspecified_addresses() {
        for bad in [
            "http://169.254.169.254/latest",
            "http://0.0.0.0:8088",
            "http://0/",
            "http://[::]:8088",
            "http://[fe80::1]/x",
            "http://[::ffff:169.254.169.254]/",
        ] {
            let e = ReturnUrlPrefix::parse(bad).unwrap_err();
            assert!(e.contains("link-local or unspecified"), "{bad}: {e}");
        }
        assert!(ReturnUrlPrefix::parse("http://127.0.0.1").is_ok());
        assert!(ReturnUrlPrefix::parse("http://10.0.0.5:8080/").is_ok());
    }

    #[test]
    fn prefix_must_end_at_a_boundary() {
        let p = ReturnUrlPrefix::parse("http://127.0.0.1").unwrap();
        assert!(p.admits("http://127.0.0.1:8088/orders/notifyMerchantOrderPaid"));
        assert!(p.admits("http://127.0.0.1/x"));
        assert!(p.admits("http://127.0.0.1"));
        assert!(!p.admits("http://127.0.0.1.evil.test/x"));
        assert!(!p.admits("http://127.0.0.10/x"));
        let p = ReturnUrlPrefix::parse("https://shop.example/api/").unwrap();
        assert!(p.admits("https://shop.example/api/notify"));
        assert!(!p.admits("https://shop.example/apix"));
        assert!(!p.admits("http://shop.example/api/notify"));
    }

    #[test]
    fn return_url_rules_name_the_field() {
        let ps = prefixes(&["http://localhost:8088"]);
        assert!(ReturnUrl::parse_str("return_url", "http://localhost:8088/paid", &ps).is_ok());
        let cases = [
            ("ftp://localhost:8088/paid", "an absolute http or https URL"),
            ("/paid", "an absolute http or https URL"),
            ("http://u:p@localhost:8088/paid", "without user name"),
            (
                "http://localhost:9999/paid",
                "registered return URL prefixes",
            ),
        ];
        for (url, expect) in cases {
            let err = ReturnUrl::parse_str("return_url", url, &ps).unwrap_err();
            assert!(err.starts_with("return_url must"), "{err}");
            assert!(err.contains(expect), "{url}: {err}");
        }
        let long = format!("http://localhost:8088/{}", "a".repeat(1100));
        assert!(ReturnUrl::parse_str("return_url", &long, &ps)
            .unwrap_err()
            .contains("1024"));
    }

    #[test]
    fn dot_segments_cannot_climb_out_of_a_prefix() {
        let ps = prefixes(&["https://shop.example/api/"]);
        for sneaky in [
            "https://shop.example/api/../admin",
            "https://shop.example/api/%2e%2e/admin",
        ] {
            assert!(
                ReturnUrl::parse_str("return_url", sneaky, &ps).is_err(),
                "{sneaky}"
            );
        }
        let ok =
            ReturnUrl::parse_str("return_url", "https://shop.example/api/./paid", &ps).unwrap();
        assert_eq!(ok.as_str(), "https://shop.example/api/paid");
    }

    #[test]
    fn a_prefix_admits_what_it_names_however_it_is_spelled() {
        let cases = [
            ("http://Shop.Example", "http://shop.example/paid"),
            ("http://shop.example:80", "http://shop.example/paid"),
            (
                "https://shop.example:443/api/",
                "https://shop.example/api/paid",
            ),
            (
                "https://shop.example/支付/",
                "https://shop.example/支付/回调",
            ),
        ];
        for (prefix, url) in cases {
            let ps = prefixes(&[prefix]);
            assert!(
                ReturnUrl::parse_str("return_url", url, &ps).is_ok(),
                "{prefix} admits {url}"
            );
        }
        assert_eq!(
            ReturnUrlPrefix::parse("http://Shop.Example")
                .unwrap()
                .as_str(),
            "http://shop.example"
        );
        assert_eq!(
            ReturnUrlPrefix::parse("http://Shop.Example:80")
                .unwrap()
                .as_str(),
            "http://shop.example/"
        );
        assert_eq!(
            ReturnUrlPrefix::parse("http://[::1]:8088")
                .unwrap()
                .as_str(),
            "http://[::1]:8088"
        );
        assert_eq!(
            ReturnUrlPrefix::parse("http://127.0.0.1/")
                .unwrap()
                .as_str(),
            "http://127.0.0.1/"
        );
        let ps = prefixes(&["http://shop.example:80"]);
        assert!(ReturnUrl::parse_str("return_url", "http://shop.example:8080/x", &ps).is_err());
    }

    #[test]
    fn prefix_itself_must_be_http() {
        assert!(ReturnUrlPrefix::parse("javascript:alert(1)").is_err());
        assert!(ReturnUrlPrefix::parse("https://shop.example").is_ok());
    }
}
