//! The request path without sockets: parse → middleware → route → envelope → encode,
//! exactly the code a connection runs per request. Reported in ns per request.

mod common;

#[global_allocator]
static ALLOC: common::alloc::Counting = common::alloc::Counting;

use auralis_server::config::Config;
use auralis_server::http::parse::{Parsed, parse_request};
use auralis_server::http::service::poll_once;
use auralis_server::runtime::core_state::DriverKind;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::net::SocketAddr;

fn request_path(c: &mut Criterion) {
    let mut cfg = Config::default();
    // Keep the limiter on the path but never refusing, so every iteration is a 200.
    cfg.rate_limit.requests_per_minute = u32::MAX;
    let (core, service) = common::core(cfg, None, DriverKind::IoUring);
    let limits = common::limits();
    let peer: SocketAddr = "127.0.0.2:40000".parse().unwrap();
    let wire: &[u8] =
        b"GET /api/version HTTP/1.1\r\nHost: bench\r\nUser-Agent: criterion\r\nAccept: */*\r\n\r\n";
    let mut out = Vec::with_capacity(1024);

    let mut one = || {
        out.clear();
        let Ok(Parsed::Complete { request, .. }) = parse_request(wire, &limits) else {
            panic!("bench request must parse");
        };
        let resp = poll_once(service.handle(&core, peer, request)).expect("sync handler");
        resp.encode(true, 1, &mut out);
    };
    common::alloc::print_sites(&mut one);
    // Allocations per request on this path, printed next to the timing.
    let (allocs, bytes) = common::alloc::per_call(10_000, &mut one);
    println!("request_path/get_api_version: {allocs:.1} allocations, {bytes:.0} bytes per request");
    let mut group = c.benchmark_group("request_path");
    group.throughput(Throughput::Elements(1));
    group.bench_function("get_api_version", |b| {
        b.iter(|| {
            out.clear();
            let Ok(Parsed::Complete { request, .. }) = parse_request(black_box(wire), &limits)
            else {
                panic!("bench request must parse");
            };
            let resp = poll_once(service.handle(&core, peer, request)).expect("sync handler");
            resp.encode(true, 1, &mut out);
            black_box(out.len())
        })
    });
    group.bench_function("parse_only", |b| {
        b.iter(|| black_box(parse_request(black_box(wire), &limits).is_ok()))
    });
    group.finish();
}

criterion_group!(benches, request_path);
criterion_main!(benches);
