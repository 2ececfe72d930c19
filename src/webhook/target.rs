//! Where a webhook may go. A target is checked on the address the connection is actually made
//! to, not on the URL's text: the delivery client resolves names itself and hands the
//! connector only addresses that pass, so a name that resolves (or later re-resolves, DNS
//! rebinding) to an internal address is refused at the moment of connecting. Redirects are
//! not followed and no proxy is used, for the same reason.

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// An attempt must be answered within this long to count.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The error a refused address turns into; `describe` finds it in the error's chain.
#[derive(Debug, thiserror::Error)]
#[error("blocked address")]
pub struct BlockedAddress;

/// Addresses a webhook may reach: public ones, and those in the operator's allowed networks
/// (`WEBHOOK_ALLOWED_NETWORKS`; a sandbox adds loopback).
#[derive(Debug, Clone, Default)]
pub struct TargetPolicy {
    allowed: Vec<IpNet>,
}

impl TargetPolicy {
    pub fn new(allowed: &[IpNet]) -> TargetPolicy {
        TargetPolicy {
            allowed: allowed.to_vec(),
        }
    }

    pub fn admits(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        is_public(ip) || self.allowed.iter().any(|net| net.contains(&ip))
    }
}

/// `::ffff:127.0.0.1` is 127.0.0.1 to the kernel; judge it as such.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Not loopback, private, link-local, CGNAT, multicast, unspecified, broadcast, or otherwise
/// reserved for something that is not the public Internet.
pub fn is_public(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    let cgnat = a == 100 && (64..128).contains(&b);
    let this_network = a == 0;
    let benchmarking = a == 198 && (b == 18 || b == 19);
    let reserved = a >= 240;
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || cgnat
        || this_network
        || benchmarking
        || reserved)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    let unique_local = (first & 0xfe00) == 0xfc00;
    let link_local = (first & 0xffc0) == 0xfe80;
    let documentation = first == 0x2001 && ip.segments()[1] == 0x0db8;
    // NAT64 and 6to4 embed IPv4 addresses that may be internal.
    let embeds_v4 = first == 0x0064 || first == 0x2002;
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || unique_local
        || link_local
        || documentation
        || embeds_v4)
}

/// Resolves with the system's resolver, then keeps only admitted addresses.
struct GuardedResolver {
    policy: TargetPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let admitted: Vec<SocketAddr> = found
                .into_iter()
                .filter(|addr| policy.admits(addr.ip()))
                .collect();
            if admitted.is_empty() {
                return Err(Box::new(BlockedAddress) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(admitted.into_iter()) as Addrs)
        })
    }
}

/// The client every webhook goes out through: guarded resolution, no redirects, no proxy,
/// bounded connect and total time.
pub fn delivery_client(policy: &TargetPolicy) -> reqwest::Client {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver {
            policy: policy.clone(),
        }))
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(ATTEMPT_TIMEOUT)
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
        .expect("the webhook client builds")
}

/// A URL whose host is an address literal never reaches the resolver: it is judged here, on
/// that very address (what the connector will dial).
pub fn literal_admitted(policy: &TargetPolicy, url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    match parsed.host() {
        Some(url::Host::Ipv4(v4)) => policy.admits(IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => policy.admits(IpAddr::V6(v6)),
        Some(url::Host::Domain(_)) => true,
        None => false,
    }
}

/// A failed attempt in a few coarse words: what a merchant may see of our network, and
/// never the text of whatever answered.
pub fn describe(e: &reqwest::Error) -> &'static str {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = source {
        if s.is::<BlockedAddress>() {
            return "blocked address";
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return "connection refused",
                std::io::ErrorKind::ConnectionReset => return "connection reset",
                std::io::ErrorKind::TimedOut => return "timeout",
                _ => {}
            }
        }
        source = s.source();
    }
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_not_public() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "224.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(!is_public(ip(internal)), "{internal}");
        }
        for public in ["8.8.8.8", "1.1.1.1", "100.128.0.1", "2400:3200::1"] {
            assert!(is_public(ip(public)), "{public}");
        }
    }

    #[test]
    fn allowed_networks_open_internal_addresses() {
        let policy = TargetPolicy::new(&["10.0.0.0/8".parse().unwrap()]);
        assert!(policy.admits(ip("10.9.9.9")));
        assert!(!policy.admits(ip("192.168.1.1")));
        assert!(literal_admitted(&policy, "http://10.0.0.5:8080/paid"));
        assert!(!literal_admitted(&policy, "http://127.0.0.1:8080/paid"));
        assert!(!literal_admitted(&policy, "http://[::1]:8080/paid"));
        assert!(literal_admitted(&policy, "http://shop.example/paid"));
    }
}
