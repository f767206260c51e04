//! What a connection sends. The engine (`run.rs`) owns timing, connections and
//! measurement; a workload only writes the next request and reads the answers it asked
//! to see (cursors to follow, ids it created). `http` is a fixed weighted mix of URLs;
//! `api-mix` (`apimix.rs`) is stateful.

use crate::client::Answer;
use crate::endpoint::ServerUrl;
use crate::plan::Target;
use std::sync::Arc;

/// One connection's request stream. Lives on its executor; never shared.
pub trait Workload {
    /// Appends the next request to `out`; returns its operation (index into
    /// [`WorkloadFactory::operations`]).
    fn next(&mut self, out: &mut Vec<u8>) -> usize;
    /// Whether the engine should keep the body of an answer to `op` for [`observe`].
    ///
    /// [`observe`]: Workload::observe
    fn wants_body(&self, _op: usize) -> bool {
        false
    }
    /// Sees each answer (cursors, created ids). Not called for failed requests.
    fn observe(&mut self, _op: usize, _answer: &Answer) {}
    /// Unmeasured requests to send after the last one (e.g. delete what was created).
    fn cleanup(&mut self) -> Vec<Vec<u8>> {
        Vec::new()
    }
}

/// Makes one [`Workload`] per connection, on the connection's executor.
pub trait WorkloadFactory: Send + Sync {
    /// The scenario's name in reports.
    fn scenario(&self) -> &'static str;
    /// Operation names, for the per-operation breakdown.
    fn operations(&self) -> Vec<String>;
    fn connection(&self, index: usize) -> Box<dyn Workload>;
}

/// The `http` scenario: GETs over a weighted list of URLs on one server.
pub struct FixedMix {
    names: Vec<String>,
    /// Pre-rendered requests, one entry per unit of weight: (operation, bytes).
    requests: Arc<Vec<(usize, Vec<u8>)>>,
}

impl FixedMix {
    /// All targets must name the same server (one connection pool).
    pub fn new(targets: &[Target]) -> Result<(FixedMix, ServerUrl), String> {
        let first = targets.first().ok_or("no URL given")?;
        if targets
            .iter()
            .any(|t| t.addr != first.addr || t.secure != first.secure)
        {
            return Err("all URLs must name the same server (scheme, host:port)".into());
        }
        let mut requests = Vec::new();
        for (op, t) in targets.iter().enumerate() {
            let mut r = Vec::new();
            crate::client::write_request(&mut r, "GET", &t.host, &t.path, None);
            for _ in 0..t.weight.max(1) {
                requests.push((op, r.clone()));
            }
        }
        let names = targets.iter().map(|t| format!("GET {}", t.path)).collect();
        let requests = Arc::new(requests);
        let server = ServerUrl {
            addr: first.addr,
            secure: first.secure,
        };
        Ok((FixedMix { names, requests }, server))
    }
}

struct FixedConn {
    requests: Arc<Vec<(usize, Vec<u8>)>>,
    k: usize,
}

impl Workload for FixedConn {
    fn next(&mut self, out: &mut Vec<u8>) -> usize {
        let (op, bytes) = &self.requests[self.k % self.requests.len()];
        self.k += 1;
        out.extend_from_slice(bytes);
        *op
    }
}

impl WorkloadFactory for FixedMix {
    fn scenario(&self) -> &'static str {
        "http"
    }
    fn operations(&self) -> Vec<String> {
        self.names.clone()
    }
    fn connection(&self, index: usize) -> Box<dyn Workload> {
        Box::new(FixedConn {
            requests: self.requests.clone(),
            k: index,
        })
    }
}
