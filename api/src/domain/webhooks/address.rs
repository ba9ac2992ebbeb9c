//! Where webhooks may be sent: addresses on the public internet only, unless the server allows
//! private ones (`GUANXI_WEBHOOK_ALLOW_PRIVATE`, for development and tests). Otherwise an ADMIN
//! could point a webhook at the server's own network (its database, a cloud's metadata service)
//! and read the answers' statuses.
//!
//! The rule is checked when a webhook is registered or changed, and again at every delivery,
//! on the addresses the delivery connects to ([`PublicOnly`]): a name may resolve elsewhere
//! tomorrow.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use crate::domain::values::{self, Refusal};

/// Is `ip` an address on the public internet: not loopback, private, link-local, shared (CGNAT),
/// multicast, reserved or unspecified, in IPv4 or IPv6, nor an IPv6 address carrying one such?
#[must_use]
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // Shared address space (carrier-grade NAT), 100.64.0.0/10.
        || (a == 100 && (b & 0xc0) == 64)
        // IETF protocol assignments, 192.0.0.0/24.
        || (a == 192 && b == 0 && c == 0)
        // Benchmarking, 198.18.0.0/15.
        || (a == 198 && (b & 0xfe) == 18)
        // Reserved, 240.0.0.0/4.
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match segments[0] {
        // NAT64, 64:ff9b::/96: the IPv4 address is the last 32 bits.
        0x64 if segments[1] == 0xff9b && segments[2..6].iter().all(|s| *s == 0) => {
            return is_public_v4(embedded(segments[6], segments[7]));
        }
        // Local-use NAT64, 64:ff9b:1::/48: translated inside the network.
        0x64 if segments[1] == 0xff9b && segments[2] == 1 => return false,
        // 6to4, 2002::/16: the IPv4 address follows the prefix.
        0x2002 => return is_public_v4(embedded(segments[1], segments[2])),
        _ => {}
    }
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_unique_local()
        || ip.is_unicast_link_local()
        // Site-local (deprecated, still routed inside some networks), fec0::/10.
        || (segments[0] & 0xffc0) == 0xfec0
        // IPv4-compatible (deprecated), ::a.b.c.d.
        || (segments[..6].iter().all(|s| *s == 0))
        // Documentation, 2001:db8::/32.
        || (segments[0] == 0x2001 && segments[1] == 0x0db8))
}

/// Checks a webhook address as written: an https URL (http too when private addresses are
/// allowed), without a user name or password, whose host is no private address or local name.
/// Returns it normalised.
///
/// # Errors
/// `INVALID_URL`, `TOO_LONG` or `PRIVATE_ADDRESS`, with a message saying why.
pub fn check(raw: &str, allow_private: bool) -> Result<url::Url, Refusal> {
    let normalised = values::web_address(raw)?;
    let url = url::Url::parse(&normalised).map_err(|e| ("INVALID_URL", format!("'{normalised}' is not a URL: {e}")))?;
    if url.scheme() != "https" && !allow_private {
        return Err(("INVALID_URL", "a webhook address must be https".into()));
    }
    if allow_private {
        return Ok(url);
    }
    match url.host() {
        Some(url::Host::Ipv4(ip)) if !is_public_v4(ip) => Err(private(&ip.to_string())),
        Some(url::Host::Ipv6(ip)) if !is_public_v6(ip) => Err(private(&ip.to_string())),
        Some(url::Host::Domain(name)) if is_local_name(name) => Err(private(name)),
        _ => Ok(url),
    }
}

fn private(what: &str) -> Refusal {
    (
        "PRIVATE_ADDRESS",
        format!("{what} is a loopback, private or link-local address: webhooks go to the public internet only"),
    )
}

/// Names that mean this machine or its network whatever DNS says.
fn is_local_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost") || name.ends_with(".local") || name.ends_with(".internal")
}

/// How long registering a webhook waits for its name to resolve.
const RESOLVE_WAIT: Duration = Duration::from_secs(3);

/// Checks where the host of `url` resolves now: a name resolving to a private address is
/// refused. A name that does not resolve (yet) is accepted: deliveries check again.
///
/// # Errors
/// `PRIVATE_ADDRESS`.
pub async fn check_resolved(url: &url::Url, allow_private: bool) -> Result<(), Refusal> {
    let Some(url::Host::Domain(name)) = url.host() else { return Ok(()) };
    if allow_private {
        return Ok(());
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let Ok(Ok(addrs)) = tokio::time::timeout(RESOLVE_WAIT, tokio::net::lookup_host((name, port))).await else {
        return Ok(());
    };
    match addrs.map(|a| a.ip()).find(|ip| !is_public(*ip)) {
        Some(ip) => Err(private(&format!("{name} resolves to {ip}, which"))),
        None => Ok(()),
    }
}

/// The resolver deliveries connect through: it refuses a name any of whose addresses is not
/// public, so the address checked is the address connected to.
pub struct PublicOnly {
    pub allow_private: bool,
}

/// A name resolved to an address deliveries may not go to.
#[derive(Debug, thiserror::Error)]
#[error("{name} resolves to {ip}, a loopback, private or link-local address")]
pub struct PrivateAddress {
    pub name: String,
    pub ip: IpAddr,
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allow_private && let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
                return Err(Box::new(PrivateAddress { name: host, ip: bad.ip() }) as Box<_>);
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "fec0::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::a0a:a0a",
            "2002:c0a8:0101::1",
            "ff02::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip} counted as public");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "203.119.25.1", "2400:3200::1", "::ffff:8.8.8.8", "64:ff9b::808:808"] {
            assert!(is_public(ip.parse().unwrap()), "{ip} counted as private");
        }
    }

    #[test]
    fn addresses_are_checked_as_written() {
        assert!(check("https://hooks.example.com/guanxi", false).is_ok());
        for (raw, code) in [
            ("http://hooks.example.com/", "INVALID_URL"),
            ("ftp://hooks.example.com/", "INVALID_URL"),
            ("https://user:pw@hooks.example.com/", "INVALID_URL"),
            ("https://127.0.0.1/", "PRIVATE_ADDRESS"),
            ("https://[::1]:8443/", "PRIVATE_ADDRESS"),
            ("https://169.254.169.254/latest/meta-data", "PRIVATE_ADDRESS"),
            ("https://0x7f000001/", "PRIVATE_ADDRESS"),
            ("https://localhost/", "PRIVATE_ADDRESS"),
            ("https://db.internal/", "PRIVATE_ADDRESS"),
        ] {
            assert_eq!(check(raw, false).map_err(|r| r.0), Err(code), "{raw}");
        }
        assert!(check("http://127.0.0.1:9000/hook", true).is_ok(), "allowed in development");
    }
}
