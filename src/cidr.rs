//! Address ranges (`10.0.0.0/8`, `::1/128`) for the settings that decide whom to
//! believe (`server.trusted_proxies`), and the one place an address is put in canonical
//! form: `::ffff:127.0.0.1` on a dual-stack listener is the IPv4 loopback, and every
//! check by address (loopback trust, proxies, rate-limit buckets) must see it as such.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::net::IpAddr;

/// An address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// Why a CIDR string is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an address range like 10.0.0.0/8 or ::1/128")]
pub struct CidrError(String);

impl std::str::FromStr for Cidr {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Self, CidrError> {
        let bad = || CidrError(s.to_string());
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= max)
                .ok_or_else(bad)?,
            None => max,
        };
        Ok(Cidr {
            addr: canonical(addr),
            prefix: if addr.is_ipv6() && canonical(addr).is_ipv4() {
                prefix.saturating_sub(96)
            } else {
                prefix
            },
        })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Cidr {
    /// Whether `ip` (in any form) lies in this range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                mask(u32::from(net).into(), 32, self.prefix)
                    == mask(u32::from(ip).into(), 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                mask(u128::from(net), 128, self.prefix) == mask(u128::from(ip), 128, self.prefix)
            }
            _ => false,
        }
    }
}

fn mask(bits: u128, width: u8, prefix: u8) -> u128 {
    let host = u32::from(width - prefix.min(width));
    bits.checked_shr(host).unwrap_or(0)
}

/// The address as checks must see it: an IPv4-mapped IPv6 address becomes IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// The key a client is counted under (rate-limit buckets, connections per address):
/// its canonical address, an IPv6 one cut to its `v6_prefix` network, since one
/// subscriber gets a whole /64 and could otherwise pose as 2^64 clients.
pub fn client_key(ip: IpAddr, v6_prefix: u8) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => {
            let bits = mask(u128::from(v6), 128, v6_prefix)
                .checked_shl(u32::from(128 - v6_prefix.min(128)))
                .unwrap_or(0);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

/// Loopback in either family, mapped forms included.
pub fn is_loopback(ip: IpAddr) -> bool {
    canonical(ip).is_loopback()
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_contain_their_addresses_in_either_form() {
        let lo: Cidr = "127.0.0.0/8".parse().unwrap();
        assert!(lo.contains(ip("127.9.9.9")));
        assert!(lo.contains(ip("::ffff:127.0.0.1")), "mapped loopback");
        assert!(!lo.contains(ip("128.0.0.1")));
        assert!(!lo.contains(ip("::1")));
        let ten: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(ten.contains(ip("10.255.0.1")) && !ten.contains(ip("11.0.0.1")));
        let one: Cidr = "192.0.2.7".parse().unwrap();
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:1::5")) && !v6.contains(ip("2001:db9::1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        let mapped: Cidr = "::ffff:10.0.0.0/104".parse().unwrap();
        assert!(
            mapped.contains(ip("10.1.2.3")),
            "a mapped range is the IPv4 range"
        );
        for bad in ["10.0.0.0/33", "::/129", "nope", "10.0.0.0/-1", ""] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        assert!(is_loopback(ip("::ffff:127.0.0.1")) && is_loopback(ip("::1")));
        assert!(!is_loopback(ip("::ffff:10.0.0.1")));
        assert_eq!(
            client_key(ip("2001:db8:1:2:aaaa::1"), 64),
            client_key(ip("2001:db8:1:2:ffff::9"), 64),
            "one /64, one client"
        );
        assert_ne!(
            client_key(ip("2001:db8:1:2::1"), 64),
            client_key(ip("2001:db8:1:3::1"), 64)
        );
        assert_ne!(
            client_key(ip("2001:db8::1"), 128),
            client_key(ip("2001:db8::2"), 128)
        );
        assert_eq!(client_key(ip("::ffff:10.1.2.3"), 64), ip("10.1.2.3"));
    }
}
