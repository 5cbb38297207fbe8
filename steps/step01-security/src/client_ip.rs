//! Who is calling, by network address: the one place that decides a request's client IP, for
//! step 1's sign-in throttle and session records and for step 2's rate limits. The peer
//! address is the truth unless the peer is a proxy this server trusts; then the forwarding
//! header the proxy writes is read from the right, skipping trusted hops, and the first address
//! not in the trusted list is the client ("right-most untrusted"). Everything left of it was
//! written by the client itself and could be anything, which is why the left-most entry is
//! never believed unless every hop is trusted (step 1's `trust_forwarded_for`, meant for a
//! single proxy in front of everything).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderMap};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// The header a trusted proxy writes the client's address into. Only one is read: a client
/// can send either, so reading the one the proxy does not write would let it choose its key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx, most load balancers).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for="[2001:db8::1]:4711"`.
    Forwarded,
}

/// Where the client address comes from.
#[derive(Clone, Debug, Default)]
pub struct ClientIpPolicy {
    /// Peers (and forwarding hops) whose word about the client is believed.
    trusted: Arc<[IpNet]>,
    /// Step 1's `trust_forwarded_for`: every hop is trusted, so the left-most entry wins.
    trust_all: bool,
    header: ForwardedHeader,
}

impl ClientIpPolicy {
    /// The peer address only; forwarding headers are ignored (the default).
    pub fn peer_only() -> Self {
        Self::default()
    }

    /// Step 1's `trust_forwarded_for` flag: behind one proxy that sets `X-Forwarded-For`,
    /// its first entry is the client. Anywhere else a client would choose its own address.
    pub fn from_trust_flag(trust_forwarded_for: bool) -> Self {
        Self {
            trust_all: trust_forwarded_for,
            ..Self::default()
        }
    }

    /// Believes `header` only when the peer is in `proxies` (addresses or networks).
    pub fn trusting(proxies: Vec<IpNet>, header: ForwardedHeader) -> Self {
        Self {
            trusted: proxies.into(),
            trust_all: false,
            header,
        }
    }

    /// Whether forwarding headers are read at all.
    pub fn reads_forwarded(&self) -> bool {
        self.trust_all || !self.trusted.is_empty()
    }

    /// The client address of a request, from its `ConnectInfo<SocketAddr>` (which
    /// `common::Application` provides) and its headers.
    pub fn of_request(&self, extensions: &Extensions, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        self.client_ip(peer, headers)
    }

    /// The client address of a request that came from `peer` (`None` when there is no
    /// network peer, as in an in-process `oneshot` test). `None` when it cannot be known.
    pub fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        if !self.trusts(peer) {
            return peer;
        }
        let hops = self.hops(headers);
        // Walk from the proxy nearest to us towards the client, stopping at the first hop we
        // do not trust. An entry that does not parse ends the walk at the last trusted hop:
        // keying on a proxy is coarse, but it cannot be chosen by the client.
        let mut nearest_trusted = peer;
        for hop in hops.iter().rev() {
            match hop {
                Some(ip) if self.trusts(Some(*ip)) => nearest_trusted = Some(*ip),
                Some(ip) => return Some(*ip),
                None => return nearest_trusted,
            }
        }
        // Every hop is trusted: the left-most is as far as anyone we trust has seen.
        nearest_trusted
    }

    fn trusts(&self, ip: Option<IpAddr>) -> bool {
        match ip {
            Some(ip) => self.trust_all || self.trusted.iter().any(|net| net.contains(&ip)),
            None => self.trust_all,
        }
    }

    /// The addresses of the configured header, left (client side) to right (nearest proxy),
    /// over every instance of the header in order; `None` for an entry that is not an address.
    fn hops(&self, headers: &HeaderMap) -> Vec<Option<IpAddr>> {
        let name = match self.header {
            ForwardedHeader::XForwardedFor => "x-forwarded-for",
            ForwardedHeader::Forwarded => "forwarded",
        };
        let mut hops = Vec::new();
        for value in headers.get_all(name) {
            let Ok(value) = value.to_str() else {
                hops.push(None);
                continue;
            };
            for element in value.split(',') {
                hops.push(match self.header {
                    ForwardedHeader::XForwardedFor => parse_node(element),
                    ForwardedHeader::Forwarded => forwarded_for(element).and_then(parse_node),
                });
            }
        }
        hops
    }
}

/// The `for=` value of one `Forwarded` element (`for=1.2.3.4;proto=https`).
fn forwarded_for(element: &str) -> Option<&str> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then(|| value.trim().trim_matches('"'))
    })
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `[2001:db8::1]`,
/// `[2001:db8::1]:4711`. Obfuscated identifiers (`_hidden`) and `unknown` are not addresses.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim();
    node.parse::<IpAddr>()
        .ok()
        .or_else(|| node.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            node.strip_prefix('[')
                .and_then(|n| n.strip_suffix(']'))
                .and_then(|n| n.parse().ok())
        })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(name: &'static str, values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(name, HeaderValue::from_static(v));
        }
        headers
    }

    fn proxies(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn the_peer_is_the_client_when_no_proxy_is_trusted() {
        let policy = ClientIpPolicy::peer_only();
        let h = headers("x-forwarded-for", &["203.0.113.9"]);
        assert_eq!(
            policy.client_ip(Some(ip("10.0.0.1")), &h),
            Some(ip("10.0.0.1"))
        );
    }

    #[test]
    fn a_forwarded_header_from_an_untrusted_peer_is_ignored() {
        let policy =
            ClientIpPolicy::trusting(proxies(&["10.0.0.0/8"]), ForwardedHeader::XForwardedFor);
        let h = headers("x-forwarded-for", &["203.0.113.9"]);
        assert_eq!(
            policy.client_ip(Some(ip("192.0.2.7")), &h),
            Some(ip("192.0.2.7"))
        );
    }

    #[test]
    fn the_right_most_untrusted_address_is_the_client_behind_trusted_proxies() {
        let policy =
            ClientIpPolicy::trusting(proxies(&["10.0.0.0/8"]), ForwardedHeader::XForwardedFor);
        // The client claims 1.1.1.1; its real address, appended by our proxy, is 203.0.113.9.
        let h = headers("x-forwarded-for", &["1.1.1.1, 203.0.113.9", "10.0.0.2"]);
        assert_eq!(
            policy.client_ip(Some(ip("10.0.0.1")), &h),
            Some(ip("203.0.113.9"))
        );
    }

    #[test]
    fn a_garbage_hop_ends_the_walk_at_the_nearest_trusted_proxy() {
        let policy =
            ClientIpPolicy::trusting(proxies(&["10.0.0.0/8"]), ForwardedHeader::XForwardedFor);
        let h = headers("x-forwarded-for", &["203.0.113.9, not-an-ip, 10.0.0.2"]);
        assert_eq!(
            policy.client_ip(Some(ip("10.0.0.1")), &h),
            Some(ip("10.0.0.2"))
        );
    }

    #[test]
    fn the_forwarded_header_is_read_with_quotes_ports_and_brackets() {
        let policy =
            ClientIpPolicy::trusting(proxies(&["127.0.0.1/32"]), ForwardedHeader::Forwarded);
        let h = headers(
            "forwarded",
            &["for=192.0.2.60;proto=http, for=\"[2001:db8:cafe::17]:4711\";by=10.0.0.1"],
        );
        assert_eq!(
            policy.client_ip(Some(ip("127.0.0.1")), &h),
            Some(ip("2001:db8:cafe::17"))
        );
        // The header the proxy does not write is not read.
        let xff = headers("x-forwarded-for", &["198.51.100.1"]);
        assert_eq!(
            policy.client_ip(Some(ip("127.0.0.1")), &xff),
            Some(ip("127.0.0.1"))
        );
    }

    #[test]
    fn step_1s_trust_flag_takes_the_first_entry() {
        let policy = ClientIpPolicy::from_trust_flag(true);
        let h = headers("x-forwarded-for", &["198.51.100.1, 10.0.0.2"]);
        assert_eq!(
            policy.client_ip(Some(ip("10.0.0.1")), &h),
            Some(ip("198.51.100.1"))
        );
        assert_eq!(policy.client_ip(None, &h), Some(ip("198.51.100.1")));
        assert_eq!(
            ClientIpPolicy::from_trust_flag(false).client_ip(None, &h),
            None
        );
    }
}
