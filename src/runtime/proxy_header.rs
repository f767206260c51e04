//! The PROXY protocol header (HAProxy's `send-proxy` / `send-proxy-v2`) a load
//! balancer puts before a connection's first byte, naming the client it accepted. A
//! pure parser over the bytes peeked so far: it says whether the header is complete,
//! how long it is (exactly that much is then consumed, never a byte of the request
//! behind it) and the client's address; every malformed header is a named error.
//!
//! v1 is one text line of at most 107 bytes (`PROXY TCP4 src dst sport dport\r\n`);
//! v2 a 16-byte binary prefix (12-byte signature, version/command, family, length)
//! and the addresses. `LOCAL` (v2) and `UNKNOWN` (v1) — a balancer's own health
//! check — carry no client: the connection's peer stands.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
const V1_MAX: usize = 107;
/// Bytes after which a prefix of a header cannot be anything else: both signatures are
/// told apart from any request by then, and no header is shorter.
pub(crate) const UNAMBIGUOUS: usize = V2_SIGNATURE.len();
/// Longest v2 header accepted (addresses plus TLVs a balancer may add).
pub(crate) const V2_MAX: usize = 16 + 512;

/// What the bytes so far hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Header {
    /// Not all of it yet: read more.
    Incomplete,
    /// A whole header of `len` bytes; `client` is `None` for LOCAL/UNKNOWN.
    Complete {
        len: usize,
        client: Option<SocketAddr>,
    },
}

/// Why the bytes are not a PROXY header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ProxyHeaderError {
    #[error("the connection did not start with a PROXY protocol header")]
    Missing,
    #[error("PROXY v1 line longer than {V1_MAX} bytes")]
    V1TooLong,
    #[error("malformed PROXY v1 line: {0}")]
    V1(&'static str),
    #[error("PROXY v2 version {0} (only 2 exists)")]
    V2Version(u8),
    #[error("PROXY v2 command {0} (LOCAL or PROXY)")]
    V2Command(u8),
    #[error("PROXY v2 length {0} too short for its address family")]
    V2Short(usize),
    #[error("PROXY v2 header longer than {V2_MAX} bytes")]
    V2TooLong,
}

/// Parses the start of a connection.
pub(crate) fn parse(buf: &[u8]) -> Result<Header, ProxyHeaderError> {
    if buf.is_empty() {
        return Ok(Header::Incomplete);
    }
    let n = buf.len().min(V2_SIGNATURE.len());
    if buf[..n] == V2_SIGNATURE[..n] {
        return v2(buf);
    }
    let n = buf.len().min(6);
    if buf[..n] == b"PROXY "[..n] {
        return v1(buf);
    }
    Err(ProxyHeaderError::Missing)
}

fn v1(buf: &[u8]) -> Result<Header, ProxyHeaderError> {
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
        return if buf.len() >= V1_MAX {
            Err(ProxyHeaderError::V1TooLong)
        } else {
            Ok(Header::Incomplete)
        };
    };
    if end + 2 > V1_MAX {
        return Err(ProxyHeaderError::V1TooLong);
    }
    let line = std::str::from_utf8(&buf[6..end]).map_err(|_| ProxyHeaderError::V1("not ASCII"))?;
    let mut words = line.split(' ');
    let family = words.next().unwrap_or("");
    if family == "UNKNOWN" {
        return Ok(Header::Complete {
            len: end + 2,
            client: None,
        });
    }
    let fields: Vec<&str> = words.collect();
    let [src, _dst, sport, _dport] = fields[..] else {
        return Err(ProxyHeaderError::V1(
            "expected four fields after the family",
        ));
    };
    let ip: IpAddr = match family {
        "TCP4" => IpAddr::V4(
            src.parse()
                .map_err(|_| ProxyHeaderError::V1("bad IPv4 source"))?,
        ),
        "TCP6" => IpAddr::V6(
            src.parse()
                .map_err(|_| ProxyHeaderError::V1("bad IPv6 source"))?,
        ),
        _ => return Err(ProxyHeaderError::V1("family must be TCP4, TCP6 or UNKNOWN")),
    };
    let port: u16 = sport
        .parse()
        .map_err(|_| ProxyHeaderError::V1("bad source port"))?;
    Ok(Header::Complete {
        len: end + 2,
        client: Some(SocketAddr::new(ip, port)),
    })
}

fn v2(buf: &[u8]) -> Result<Header, ProxyHeaderError> {
    if buf.len() < 16 {
        return Ok(Header::Incomplete);
    }
    let (version, command) = (buf[12] >> 4, buf[12] & 0x0f);
    if version != 2 {
        return Err(ProxyHeaderError::V2Version(version));
    }
    if command > 1 {
        return Err(ProxyHeaderError::V2Command(command));
    }
    let body = u16::from_be_bytes([buf[14], buf[15]]) as usize;
    let len = 16 + body;
    if len > V2_MAX {
        return Err(ProxyHeaderError::V2TooLong);
    }
    if buf.len() < len {
        return Ok(Header::Incomplete);
    }
    let a = &buf[16..len];
    let client = match (command, buf[13] >> 4) {
        (0, _) => None,
        (_, 1) => {
            let a: &[u8; 12] = a
                .get(..12)
                .and_then(|s| s.try_into().ok())
                .ok_or(ProxyHeaderError::V2Short(body))?;
            let ip = Ipv4Addr::new(a[0], a[1], a[2], a[3]);
            Some(SocketAddr::new(ip.into(), u16::from_be_bytes([a[8], a[9]])))
        }
        (_, 2) => {
            let a: &[u8; 36] = a
                .get(..36)
                .and_then(|s| s.try_into().ok())
                .ok_or(ProxyHeaderError::V2Short(body))?;
            let mut ip = [0u8; 16];
            ip.copy_from_slice(&a[..16]);
            Some(SocketAddr::new(
                Ipv6Addr::from(ip).into(),
                u16::from_be_bytes([a[32], a[33]]),
            ))
        }
        // UNSPEC or UNIX: no IP client to name.
        _ => None,
    };
    Ok(Header::Complete { len, client })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2_header(command: u8, family: u8, addrs: &[u8]) -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.push(0x20 | command);
        h.push(family);
        h.extend_from_slice(&(addrs.len() as u16).to_be_bytes());
        h.extend_from_slice(addrs);
        h
    }

    #[test]
    fn v1_lines_name_the_client_and_their_length() {
        let line = b"PROXY TCP4 203.0.113.7 10.0.0.1 51000 8080\r\nGET / HTTP/1.1\r\n";
        assert_eq!(
            parse(line),
            Ok(Header::Complete {
                len: 44,
                client: Some("203.0.113.7:51000".parse().unwrap())
            })
        );
        let six = b"PROXY TCP6 2001:db8::1 2001:db8::2 4000 443\r\n";
        assert_eq!(
            parse(six).unwrap(),
            Header::Complete {
                len: six.len(),
                client: Some("[2001:db8::1]:4000".parse().unwrap())
            }
        );
        assert_eq!(
            parse(b"PROXY UNKNOWN\r\n"),
            Ok(Header::Complete {
                len: 15,
                client: None
            })
        );
        assert_eq!(parse(b"PROXY TCP4 1.2.3.4"), Ok(Header::Incomplete));
        assert_eq!(parse(b"PRO"), Ok(Header::Incomplete));
        assert_eq!(parse(&[b'P'; 1][..]), Ok(Header::Incomplete));
        assert!(matches!(
            parse(b"PROXY TCP4 1.2.3.x 1.1.1.1 1 2\r\n"),
            Err(ProxyHeaderError::V1(_))
        ));
        assert!(matches!(
            parse(b"PROXY TCP4 1.2.3.4 1.1.1.1 99999 2\r\n"),
            Err(ProxyHeaderError::V1(_))
        ));
        assert!(matches!(
            parse(b"PROXY UDP4 1.2.3.4 1.1.1.1 1 2\r\n"),
            Err(ProxyHeaderError::V1(_))
        ));
        assert_eq!(parse(b""), Ok(Header::Incomplete));
        let long = format!("PROXY TCP4 {}", "1".repeat(120));
        assert_eq!(parse(long.as_bytes()), Err(ProxyHeaderError::V1TooLong));
    }

    #[test]
    fn v2_headers_name_the_client_or_leave_the_peer() {
        let v4 = v2_header(
            1,
            0x11,
            &[198, 51, 100, 9, 10, 0, 0, 1, 0xc3, 0x50, 0x1f, 0x90],
        );
        let mut with_request = v4.clone();
        with_request.extend_from_slice(b"GET / HTTP/1.1\r\n");
        assert_eq!(
            parse(&with_request),
            Ok(Header::Complete {
                len: 28,
                client: Some("198.51.100.9:50000".parse().unwrap())
            })
        );
        for cut in 0..v4.len() {
            assert_eq!(
                parse(&v4[..cut]).unwrap_or(Header::Incomplete),
                Header::Incomplete,
                "cut {cut}"
            );
        }
        let mut a6 = vec![0u8; 36];
        a6[15] = 1;
        a6[32..34].copy_from_slice(&443u16.to_be_bytes());
        assert_eq!(
            parse(&v2_header(1, 0x21, &a6)).unwrap(),
            Header::Complete {
                len: 52,
                client: Some("[::1]:443".parse().unwrap())
            }
        );
        assert_eq!(
            parse(&v2_header(0, 0x00, &[])),
            Ok(Header::Complete {
                len: 16,
                client: None
            })
        );
        assert_eq!(
            parse(&v2_header(1, 0x11, &[1, 2, 3])),
            Err(ProxyHeaderError::V2Short(3))
        );
        let mut bad = v4.clone();
        bad[12] = 0x11;
        assert_eq!(parse(&bad), Err(ProxyHeaderError::V2Version(1)));
        bad[12] = 0x22;
        assert_eq!(parse(&bad), Err(ProxyHeaderError::V2Command(2)));
        let mut huge = v4.clone();
        huge[14..16].copy_from_slice(&2000u16.to_be_bytes());
        assert_eq!(parse(&huge), Err(ProxyHeaderError::V2TooLong));
        assert_eq!(parse(b"GET / HTTP/1.1\r\n"), Err(ProxyHeaderError::Missing));
    }

    proptest::proptest! {
        /// Any bytes, and any bytes after either signature: no panic, and a complete
        /// header never claims more bytes than were there.
        #[test]
        fn never_panics_nor_overclaims(
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            start in 0usize..3,
        ) {
            let mut bytes = match start {
                0 => Vec::new(),
                1 => V2_SIGNATURE.to_vec(),
                _ => b"PROXY ".to_vec(),
            };
            bytes.extend_from_slice(&tail);
            if let Ok(Header::Complete { len, .. }) = parse(&bytes) {
                proptest::prop_assert!(len <= bytes.len());
            }
        }
    }
}
