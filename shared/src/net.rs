//! Address policy: which hosts a deployed function may be sent to by a URL a tenant
//! wrote. A Lambda function must not be steered at its own network (the Lambda runtime
//! API on loopback, VPC hosts, metadata services), whether by an address in a URL or by
//! a name resolving to one; `pers-local`, whose tenants are its own developer, may go
//! anywhere.

use std::net::{IpAddr, SocketAddr};

use crate::config::Deployment;

/// Which addresses a fetch of a tenant's JWKS URI may connect to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Anywhere: a local server, whose tenants are its own developer.
    Any,
    /// Public addresses only: a deployed function must not be steered by a tenant at
    /// its own network (the Lambda runtime API on loopback, VPC hosts, metadata
    /// services), whether by an address in the URI or by a name resolving to one.
    PublicOnly,
}

impl Reach {
    /// The reach of tenants' URLs in `deployment`.
    pub fn of_tenants_in(deployment: Deployment) -> Self {
        match deployment {
            Deployment::Local => Self::Any,
            Deployment::Lambda => Self::PublicOnly,
        }
    }
}

/// Whether `ip` belongs to a host's or a private network rather than the internet:
/// loopback, private (RFC 1918, IPv6 ULA), link-local, shared (RFC 6598), unspecified,
/// broadcast, multicast, benchmarking (RFC 2544), IETF protocol assignments (RFC 6890),
/// documentation, reserved and 6to4-relay ranges, IPv6 site-local; also when an IPv4
/// address is carried in IPv6 (mapped, compatible, translated, NAT64 per RFC 6052, 6to4
/// per RFC 3056), and Teredo and local-use NAT64 (RFC 8215) prefixes as a whole, since
/// what they reach cannot be told from them.
pub fn internal_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || (a == 192 && b == 0 && c == 0)
                || (a == 192 && b == 88 && c == 99)
        }
        IpAddr::V6(v6) => {
            let segments = v6.segments();
            let octets = v6.octets();
            let embedded = |at: usize| {
                IpAddr::V4(std::net::Ipv4Addr::new(
                    octets[at],
                    octets[at + 1],
                    octets[at + 2],
                    octets[at + 3],
                ))
            };
            if v6.is_loopback() || v6.is_unspecified() {
                return true;
            }
            if let Some(v4) = v6.to_ipv4_mapped().or_else(|| v6.to_ipv4()) {
                return internal_address(IpAddr::V4(v4));
            }
            match segments {
                // NAT64 well-known prefix and IPv4-translated addresses (RFC 6145): the
                // IPv4 address is the last 32 bits.
                [0x64, 0xff9b, 0, 0, 0, 0, _, _] | [0, 0, 0, 0, 0xffff, 0, _, _] => {
                    internal_address(embedded(12))
                }
                // 6to4: the IPv4 address follows the prefix.
                [0x2002, ..] => internal_address(embedded(2)),
                // Local-use NAT64 and Teredo, as whole prefixes.
                [0x64, 0xff9b, 1, ..] | [0x2001, 0, ..] => true,
                // Documentation (RFC 3849) and discard-only (RFC 6666).
                [0x2001, 0xdb8, ..] | [0x100, 0, 0, 0, ..] => true,
                // Site-local (RFC 3879 deprecated it; some stacks still route it).
                [seg, ..] if seg & 0xffc0 == 0xfec0 => true,
                _ => v6.is_unique_local() || v6.is_unicast_link_local() || v6.is_multicast(),
            }
        }
    }
}

/// Whether `host` (a name, an IPv4 address, or an IPv6 one with or without brackets)
/// is this machine's loopback: `localhost` and names under it (RFC 6761), 127.0.0.0/8,
/// `::1`.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => {
            let name = host.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
    }
}

/// An `https` URL whose host is a name or a public address, not an address of the
/// function's own network. Names are checked again when the JWKS is fetched: a name
/// that resolves only to internal addresses is never connected to.
pub fn public_https(raw: &str) -> bool {
    let Ok(url) = url::Url::parse(raw) else {
        return false;
    };
    url.scheme() == "https"
        && match url.host() {
            // RFC 6761: `localhost` and every name under it are loopback.
            Some(url::Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                name != "localhost" && !name.ends_with(".localhost")
            }
            Some(url::Host::Ipv4(v4)) => !internal_address(v4.into()),
            Some(url::Host::Ipv6(v6)) => !internal_address(v6.into()),
            None => false,
        }
}

/// Resolves names as the system does, then keeps only public addresses: a name that
/// resolves to internal ones only fails, so a tenant's JWKS URI cannot reach them.
pub struct PublicOnlyResolver;

impl reqwest::dns::Resolve for PublicOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let public: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| !internal_address(addr.ip()))
                .collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_this_machine_only() {
        for host in [
            "localhost",
            "app.localhost",
            "127.0.0.1",
            "127.1.2.3",
            "[::1]",
            "::1",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "evil.example",
            "localhost.evil.example",
            "10.0.0.1",
            "[::2]",
            "",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn internal_addresses_are_those_of_a_host_or_private_network() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::169.254.169.254",
            "198.18.0.1",
            "198.19.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "240.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:db8::1",
            "::ffff:0:7f00:1",
            "fec0::1",
            "192.88.99.1",
        ] {
            assert!(internal_address(internal.parse().unwrap()), "{internal}");
        }
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "100.128.0.1",
            "172.32.0.1",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
            "198.20.0.1",
            "192.0.1.1",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(!internal_address(public.parse().unwrap()), "{public}");
        }
    }

    #[tokio::test]
    async fn the_public_only_resolver_refuses_names_of_internal_addresses() {
        use reqwest::dns::Resolve as _;
        let resolved = PublicOnlyResolver
            .resolve("localhost".parse().unwrap())
            .await;
        let error = resolved.err().expect("localhost is refused").to_string();
        assert!(error.contains("no public address"), "{error}");
    }

    #[test]
    fn only_https_urls_of_public_hosts_are_public() {
        assert!(public_https("https://issuer.example/jwks"));
        assert!(public_https("https://8.8.8.8/jwks"));
        for internal in [
            "http://issuer.example/jwks",
            "https://localhost/jwks",
            "https://api.localhost./jwks",
            "https://127.0.0.1/jwks",
            "https://[::1]/jwks",
            "https://169.254.169.254/latest",
            "not a url",
        ] {
            assert!(!public_https(internal), "{internal}");
        }
    }
}
