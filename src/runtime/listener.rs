//! The listening sockets: one SO_REUSEPORT socket per core in one group, and the classic
//! BPF program that picks the socket (hence the core) from a hash of the client's IP.
//!
//! Why a socket filter: all connections of one client land on one core, so that client's
//! rate-limit bucket and caches live on exactly one core and need no sharing.

use super::core_state::PinningMode;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Golden-ratio multiplier: spreads neighbouring addresses (127.0.0.2, .3, …) so they
/// don't alternate cores in a pattern.
const HASH_MUL: u32 = 0x9E37_79B1;

/// The core a client IPv4 address is pinned to: the same computation as the BPF program
/// below, for tests and operators predicting placement.
pub fn core_for_ipv4(ip: std::net::Ipv4Addr, cores: u32) -> u32 {
    (u32::from(ip).wrapping_mul(HASH_MUL) >> 16) % cores.max(1)
}

/// The core a client IPv6 address is pinned to: its /64 (the first two words,
/// XOR-folded). One subscriber's /64 is one client for the rate limiter
/// (`rate_limit.ipv6_prefix`), so it must be one core too: pinned by the whole address,
/// a /64 got a budget and a connection cap on every core.
pub fn core_for_ipv6(ip: std::net::Ipv6Addr, cores: u32) -> u32 {
    let o = ip.octets();
    let w = |i: usize| u32::from_be_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]]);
    ((w(0) ^ w(4)).wrapping_mul(HASH_MUL) >> 16) % cores.max(1)
}

// Classic BPF opcodes (linux/filter.h, linux/bpf_common.h).
// BPF_LD (0x00) | size (W 0x00, B 0x10) | BPF_ABS (0x20).
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_LD_B_ABS: u16 = 0x30;
const BPF_ALU_RSH_K: u16 = 0x04 | 0x70;
const BPF_ALU_MUL_K: u16 = 0x04 | 0x20;
const BPF_ALU_MOD_K: u16 = 0x04 | 0x90;
const BPF_ALU_XOR_X: u16 = 0x04 | 0xa0 | 0x08;
const BPF_JMP_JEQ_K: u16 = 0x05 | 0x10;
const BPF_JMP_JA: u16 = 0x05;
const BPF_MISC_TAX: u16 = 0x07;
const BPF_RET_A: u16 = 0x06 | 0x10;
/// `SKF_NET_OFF`: negative offsets relative to the network header. A reuseport program
/// runs with the packet pointer past the TCP header, so plain offsets read nothing.
const NET: u32 = (-0x0010_0000i32) as u32;
const SO_ATTACH_REUSEPORT_CBPF: libc::c_int = 51;

fn ins(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// The program: IPv4 source word, or the IPv6 source's /64 (its first two words
/// XOR-ed, as `core_for_ipv6`); multiply, take the high half, modulo the number of
/// sockets.
fn pinning_program(cores: u32) -> Vec<libc::sock_filter> {
    vec![
        ins(BPF_LD_B_ABS, 0, 0, NET),           // 0: A = version/IHL byte
        ins(BPF_ALU_RSH_K, 0, 0, 4),            // 1: A >>= 4
        ins(BPF_JMP_JEQ_K, 2, 0, 6),            // 2: IPv6 ? goto 5
        ins(BPF_LD_W_ABS, 0, 0, NET + 12),      // 3: A = IPv4 source
        ins(BPF_JMP_JA, 0, 0, 4),               // 4: goto 9
        ins(BPF_LD_W_ABS, 0, 0, NET + 8),       // 5: IPv6 source word 0
        ins(BPF_MISC_TAX, 0, 0, 0),             // 6
        ins(BPF_LD_W_ABS, 0, 0, NET + 12),      // 7: word 1
        ins(BPF_ALU_XOR_X, 0, 0, 0),            // 8
        ins(BPF_ALU_MUL_K, 0, 0, HASH_MUL),     // 9: A *= HASH_MUL
        ins(BPF_ALU_RSH_K, 0, 0, 16),           // 10: A >>= 16
        ins(BPF_ALU_MOD_K, 0, 0, cores.max(1)), // 11: A %= cores
        ins(BPF_RET_A, 0, 0, 0),                // 12: socket index
    ]
}

fn attach_pinning(sock: &Socket, cores: u32) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let mut prog = pinning_program(cores);
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_mut_ptr(),
    };
    // SAFETY: fprog points at `prog`, alive for the call; the kernel copies the program.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_ATTACH_REUSEPORT_CBPF,
            (&fprog as *const libc::sock_fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn new_socket(addr: SocketAddr) -> io::Result<Socket> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    sock.set_reuse_port(true)?;
    sock.set_nonblocking(true)?;
    if addr.is_ipv6() {
        sock.set_only_v6(false)?;
    }
    Ok(sock)
}

/// Fails when someone already listens on `addr`: SO_REUSEPORT would otherwise silently
/// join their group (another instance, or our own previous process still draining after
/// a quick restart, which would also scramble the socket order). Retries briefly so a
/// restart waits for the old group to drain.
fn ensure_port_free(addr: SocketAddr) -> io::Result<()> {
    if addr.port() == 0 {
        return Ok(());
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let probe = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        probe.set_reuse_address(true)?;
        match probe.bind(&SockAddr::from(addr)) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("{addr} is already in use: {e}"),
                ));
            }
        }
    }
}

/// The bound group: one std listener per core (index = socket index in the group), the
/// address actually bound (port 0 resolved) and the pinning mode achieved.
pub struct ListenerGroup {
    pub listeners: Vec<std::net::TcpListener>,
    pub local_addr: SocketAddr,
    pub pinning: PinningMode,
}

/// Binds and listens `cores` sockets in order, then attaches the pinning program.
pub fn bind_group(addr: SocketAddr, cores: usize, pin: bool) -> io::Result<ListenerGroup> {
    ensure_port_free(addr)?;
    let mut sockets = Vec::with_capacity(cores);
    let mut bound = addr;
    for _ in 0..cores {
        let sock = new_socket(bound)?;
        sock.bind(&SockAddr::from(bound))?;
        if bound.port() == 0 {
            bound = sock
                .local_addr()?
                .as_socket()
                .ok_or_else(|| io::Error::other("bound address is not an IP address"))?;
        }
        sockets.push(sock);
    }
    // Listen in index order: the kernel numbers the group's sockets in this order, and
    // the program's return value indexes them.
    for sock in &sockets {
        sock.listen(4096)?;
    }
    let pinning = if !pin {
        PinningMode::Kernel
    } else {
        match attach_pinning(&sockets[0], cores as u32) {
            Ok(()) => PinningMode::ClientIp,
            Err(e) => {
                tracing::warn!(error = %e, "cannot attach the client-IP socket filter; using the kernel's connection hash");
                PinningMode::Kernel
            }
        }
    };
    Ok(ListenerGroup {
        listeners: sockets
            .into_iter()
            .map(std::net::TcpListener::from)
            .collect(),
        local_addr: bound,
        pinning,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_spreads_neighbouring_addresses() {
        let cores: Vec<u32> = (2..=20u8)
            .map(|i| core_for_ipv4(std::net::Ipv4Addr::new(127, 0, 0, i), 2))
            .collect();
        assert!(cores.contains(&0) && cores.contains(&1), "{cores:?}");
        assert_eq!(pinning_program(2).len(), 13);
    }

    #[test]
    fn an_ipv6_64_is_one_core_and_networks_spread() {
        let ip = |s: &str| s.parse::<std::net::Ipv6Addr>().unwrap();
        let one = core_for_ipv6(ip("2001:db8:1:2::1"), 8);
        for other in [
            "2001:db8:1:2::2",
            "2001:db8:1:2::ffff",
            "2001:db8:1:2:aaaa:bbbb:cccc:dddd",
        ] {
            assert_eq!(core_for_ipv6(ip(other), 8), one, "{other}");
        }
        let cores: std::collections::BTreeSet<u32> = (0..64u16)
            .map(|n| core_for_ipv6(ip(&format!("2001:db8:{n:x}:1::1")), 8))
            .collect();
        assert!(cores.len() > 4, "networks spread over cores: {cores:?}");
    }
}
