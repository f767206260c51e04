//! The node's health report: per-core gauges, driver, pinning and the monitor's
//! verdict. Built once here for every transport that shows it.

use super::core_state::{CoreState, DriverKind, PinningMode};
use super::readiness::NotReady;
use serde::Serialize;
use std::sync::atomic::Ordering;

pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Serialize)]
struct CoreHealth {
    core: usize,
    connections: u64,
    accepted: u64,
    ws_connections: u64,
    driver: Option<DriverKind>,
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    /// Should this node get traffic (`/api/health/ready`)?
    ready: bool,
    not_ready: Vec<NotReady>,
    alerts: serde_json::Value,
    version: &'static str,
    uptime_s: f64,
    driver: DriverKind,
    pinning: PinningMode,
    cores: Vec<CoreHealth>,
    connections: u64,
    served_by: u16,
    /// This node's links to the cluster's shared engines; absent on a single node.
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<ClusterHealth>,
}

/// `degraded` while a shared engine is unreachable: the node still serves, and its
/// own subscribers still get every message, but other nodes miss this one's.
#[derive(Serialize)]
struct ClusterHealth {
    status: &'static str,
    node: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    broker: Option<crate::cluster::stats::BrokerReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<crate::library::shared::SharedReport>,
}

fn cluster_health(core: &CoreState) -> Option<ClusterHealth> {
    let broker = core.shared.broker.get();
    let database = core
        .shared
        .library
        .as_ref()
        .and_then(|l| l.writer.shared.as_ref());
    if broker.is_none() && database.is_none() {
        return None;
    }
    let healthy = broker.is_none_or(|b| b.stats.healthy()) && database.is_none_or(|d| d.healthy());
    Some(ClusterHealth {
        status: if healthy { "ok" } else { "degraded" },
        node: core.shared.config.cluster.node.clone(),
        broker: broker.map(|b| b.stats.report()),
        database: database.map(|d| d.report()),
    })
}

/// The health report (`/api/health`, WS `health_check`) and this node's readiness.
pub(crate) fn report(core: &CoreState) -> (serde_json::Value, Vec<NotReady>) {
    let shared = &core.shared;
    let cores: Vec<CoreHealth> = shared
        .gauges
        .iter()
        .enumerate()
        .map(|(i, g)| CoreHealth {
            core: i,
            connections: g.connections.load(Ordering::Relaxed),
            accepted: g.accepted.load(Ordering::Relaxed),
            ws_connections: g.ws_connections.load(Ordering::Relaxed),
            driver: match g.driver.load(Ordering::Relaxed) {
                1 => Some(DriverKind::IoUring),
                2 => Some(DriverKind::Legacy),
                _ => None,
            },
        })
        .collect();
    let reports = shared.monitor.reports();
    let cluster = cluster_health(core);
    let cluster_degraded = cluster.as_ref().is_some_and(|c| c.status != "ok");
    let status = match reports.health {
        crate::monitor::alerts::Health::Healthy if cluster_degraded => "degraded",
        crate::monitor::alerts::Health::Healthy => "healthy",
        crate::monitor::alerts::Health::Degraded => "degraded",
        crate::monitor::alerts::Health::Unhealthy => "unhealthy",
    };
    let not_ready = super::readiness::check(core);
    let report = serde_json::to_value(Health {
        status,
        ready: not_ready.is_empty(),
        not_ready: not_ready.clone(),
        alerts: reports.alerts.clone(),
        version: VERSION,
        uptime_s: shared.started.elapsed().as_secs_f64(),
        driver: core.driver,
        pinning: shared.pinning,
        connections: cores.iter().map(|c| c.connections).sum(),
        cores,
        served_by: core.id.0,
        cluster,
    })
    .unwrap_or_default();
    (report, not_ready)
}
