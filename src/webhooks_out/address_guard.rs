//! Which webhook URLs may be called: `https` only, and never an address in
//! a range an attacker could use to reach our own network (loopback,
//! RFC 1918, ULA, link-local, CGNAT, unspecified, multicast, cloud
//! metadata). URLs are checked at registration, and every connection goes
//! through [`GuardedResolver`], which drops refused addresses, so a DNS
//! answer that changes after registration (rebinding) is caught too.
//! `ONROLL_WEBHOOKS_ALLOW_PRIVATE=true` lifts both checks and allows
//! `http://`, for tests and the demo, whose receivers are on 127.0.0.1.

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Why a URL may not be called.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlRefusal {
    #[error("the URL could not be read: {0}")]
    Malformed(String),
    #[error("webhook URLs must use https")]
    NotHttps,
    #[error("the URL may not carry a user name or password")]
    Credentials,
    #[error("the URL's host does not resolve")]
    Unresolvable,
    #[error("the URL's host resolves to {0}, a loopback, private, link-local or metadata address")]
    PrivateAddress(IpAddr),
}

/// Whether an address is one webhooks may never reach.
pub fn refused(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => refused_v6(v6),
    }
}

fn refused_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16, the metadata address among them
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || a >= 240 // reserved
}

fn refused_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return refused_v4(v4);
    }
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // ULA fc00::/7, fd00:ec2::254 among them
        || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
}

/// Parses and checks a URL as registration does: the scheme, no
/// credentials, and every address its host resolves to.
pub async fn check_url(text: &str, allow_private: bool) -> Result<Url, UrlRefusal> {
    let url = check_shape(text, allow_private)?;
    if allow_private {
        return Ok(url);
    }
    let host = url.host_str().ok_or_else(|| UrlRefusal::Malformed("no host".to_owned()))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return if refused(ip) { Err(UrlRefusal::PrivateAddress(ip)) } else { Ok(url) };
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> =
        tokio::net::lookup_host((host, port)).await.map_err(|_| UrlRefusal::Unresolvable)?.collect();
    if addrs.is_empty() {
        return Err(UrlRefusal::Unresolvable);
    }
    if let Some(bad) = addrs.iter().find(|a| refused(a.ip())) {
        return Err(UrlRefusal::PrivateAddress(bad.ip()));
    }
    Ok(url)
}

/// The checks that need no DNS: scheme, credentials and, for an IP
/// literal, its address. Run before every attempt too, since a resolver
/// is not asked about IP literals.
pub fn check_shape(text: &str, allow_private: bool) -> Result<Url, UrlRefusal> {
    let url = Url::parse(text.trim()).map_err(|err| UrlRefusal::Malformed(err.to_string()))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        _ => return Err(UrlRefusal::NotHttps),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlRefusal::Credentials);
    }
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        Some(url::Host::Domain(_)) => None,
        None => return Err(UrlRefusal::Malformed("no host".to_owned())),
    };
    match ip {
        Some(ip) if !allow_private && refused(ip) => Err(UrlRefusal::PrivateAddress(ip)),
        _ => Ok(url),
    }
}

/// A resolver for the delivery client that answers only addresses
/// [`refused`] lets through: a host that resolves to nothing else fails
/// to connect.
#[derive(Debug, Default)]
pub struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let found = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let allowed: Vec<SocketAddr> = found.filter(|a| !refused(a.ip())).collect();
            if allowed.is_empty() {
                let err = std::io::Error::other("the host resolves only to refused addresses");
                return Err(Box::new(err) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_refused_and_allowed() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(refused(bad.parse().expect("literal")), "{bad} should be refused");
        }
        for good in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "100.128.0.1"] {
            assert!(!refused(good.parse().expect("literal")), "{good} should be allowed");
        }
    }

    #[test]
    fn shapes() {
        assert_eq!(check_shape("http://example.com/x", false), Err(UrlRefusal::NotHttps));
        assert!(check_shape("http://127.0.0.1:9/x", true).is_ok());
        assert_eq!(check_shape("ftp://example.com", true), Err(UrlRefusal::NotHttps));
        assert_eq!(check_shape("https://u:p@example.com", false), Err(UrlRefusal::Credentials));
        assert!(matches!(check_shape("https://[::1]/", false), Err(UrlRefusal::PrivateAddress(_))));
        assert!(matches!(check_shape("not a url", false), Err(UrlRefusal::Malformed(_))));
        assert!(check_shape("https://example.com/hook", false).is_ok());
    }
}
