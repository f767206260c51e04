//! Boot: pick CPUs from the process's allowed set, bind the listener group, start one
//! pinned OS thread per core with its own monoio runtime, and wait for them to end.

use super::core_state::{CoreId, CoreState, DriverKind, Shared};
use super::listener::{self, ListenerGroup};
use super::mailbox::{CoreMessage, Mailboxes};
use super::pipeline::{PipelineFactory, Port};
use super::shutdown;
use crate::config::{Config, DriverChoice, ProxyProtocol, TaskRun};
use async_channel::Receiver;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Why the server could not start. Each names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("cannot read the process's CPU affinity: {0}")]
    Affinity(std::io::Error),
    #[error("--cores {asked} but only {available} CPUs are allowed for this process ({cpus:?})")]
    TooManyCores {
        asked: usize,
        available: usize,
        cpus: Vec<usize>,
    },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("core {core} failed to start: {reason}")]
    Core { core: usize, reason: CoreStartError },
    #[error("cannot start core {core}'s thread: {source}")]
    Thread { core: usize, source: std::io::Error },
    #[error("cannot start the decode pool: {0}")]
    DecodePool(std::io::Error),
    #[error("cannot start the monitor thread: {0}")]
    Monitor(std::io::Error),
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    #[error("TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error("cluster broker: {0}")]
    Broker(#[from] crate::cluster::BrokerError),
    #[error("tracing: {0}")]
    Trace(#[from] crate::trace::TraceError),
    #[error("core {core} panicked: {message} (the other cores drained and stopped)")]
    CorePanicked { core: usize, message: String },
}

/// Why one core could not start (sent from its thread to `run`).
#[derive(Debug, thiserror::Error)]
pub enum CoreStartError {
    #[error("io_uring driver requested but unavailable: {0}")]
    IoUringUnavailable(std::io::Error),
    #[error("cannot build the legacy runtime: {0}")]
    LegacyRuntime(std::io::Error),
    #[error("cannot register listener: {0}")]
    Listener(std::io::Error),
    #[error("cannot open the library database: {0}")]
    Library(rusqlite::Error),
    #[error("core thread exited during start-up")]
    Exited,
}

/// What `run` reports once every core is accepting.
#[derive(Debug, Clone)]
pub struct Started {
    pub local_addr: SocketAddr,
    pub cores: usize,
    pub driver: DriverKind,
    pub pinning: super::core_state::PinningMode,
    /// The plain-HTTP redirect listener's bound address (`tls.redirect_listen`).
    pub redirect_addr: Option<SocketAddr>,
}

// Long: start-up in order (CPUs, listeners, shared state, cores, signals, monitor),
// each step failing with its own `BootError`.
/// Runs the server until shutdown. `pipeline` builds each core's connection pipeline
/// on its thread; `on_ready` is called once all cores accept connections.
pub fn run(
    config: Config,
    library: Option<Arc<crate::library::Library>>,
    pipeline: PipelineFactory,
    on_ready: impl FnOnce(&Started),
) -> Result<(), BootError> {
    crate::faults::init();
    crate::trace::install(&config.tracing, &config.cluster.node)?;
    let cpus = super::cpus::allowed_cpus().map_err(BootError::Affinity)?;
    let cores = match config.server.cores {
        0 => cpus.len(),
        n if n <= cpus.len() => n,
        n => {
            return Err(BootError::TooManyCores {
                asked: n,
                available: cpus.len(),
                cpus,
            });
        }
    };
    let addr = config.server.listen;
    let ListenerGroup {
        listeners,
        local_addr,
        pinning,
    } = listener::bind_group(addr, cores, config.server.pin_by_client_ip)
        .map_err(|source| BootError::Listen { addr, source })?;
    let (redirect, redirect_addr) = bind_redirect(&config, cores)?;
    let tls = match config.tls.files() {
        Some((cert, key)) => Some(Arc::new(crate::tls::Tls::new(
            cert,
            key,
            local_addr.port(),
        )?)),
        None => None,
    };
    let shared = Shared::new(config, cores, pinning, library).map_err(BootError::DecodePool)?;
    if let Some(tls) = &tls {
        let _ = shared.tls.set(tls.clone());
    }
    let (mailboxes, inboxes) = Mailboxes::new(cores);
    let _ = shared.mailboxes.set(mailboxes.clone());
    if let Some(url) = &shared.config.cluster.broker_url {
        let inbound = crate::ws::hub::cluster_inbound(shared.clone(), mailboxes.clone());
        let _ = shared
            .broker
            .set(crate::cluster::Broker::start(url, inbound)?);
    }
    if let Some(lib) = &shared.library {
        lib.set_event_sink(crate::ws::hub::library_sink(mailboxes.clone()));
    }
    shared.chunks.set_event_sink(crate::ws::hub::cache_sink(
        mailboxes.clone(),
        shared.broker.get().cloned(),
    ));

    let (ready_tx, ready_rx) = mpsc::channel::<Result<DriverKind, CoreStartError>>();
    let mut threads = Vec::with_capacity(cores);
    let mut redirect = redirect.into_iter();
    for (k, (main, inbox)) in listeners.into_iter().zip(inboxes).enumerate() {
        let cpu = cpus[k];
        let std_listener = CoreListeners {
            main,
            redirect: redirect.next(),
        };
        let shared = shared.clone();
        let ready = ready_tx.clone();
        let handle = std::thread::Builder::new()
            .name(format!("auralis-core-{k}"))
            .spawn(move || {
                let watch = shared.clone();
                let run = std::panic::AssertUnwindSafe(|| {
                    core_thread(
                        CoreId(k as u16),
                        cpu,
                        std_listener,
                        inbox,
                        shared,
                        pipeline,
                        ready,
                    )
                });
                if let Err(panic) = std::panic::catch_unwind(run) {
                    core_died(&watch, k, &*panic);
                }
            })
            .map_err(|source| BootError::Thread { core: k, source })?;
        threads.push(handle);
    }
    drop(ready_tx);
    let mut driver = DriverKind::IoUring;
    for k in 0..cores {
        match ready_rx.recv() {
            Ok(Ok(d)) => {
                if d == DriverKind::Legacy {
                    driver = d;
                }
            }
            Ok(Err(reason)) => {
                mailboxes.broadcast(CoreMessage::Shutdown);
                return Err(BootError::Core { core: k, reason });
            }
            Err(_) => {
                return Err(BootError::Core {
                    core: k,
                    reason: CoreStartError::Exited,
                });
            }
        }
    }
    shutdown::watch_signals(mailboxes.clone(), tls).map_err(BootError::Signals)?;
    crate::monitor::aggregator::start(shared.clone()).map_err(BootError::Monitor)?;
    on_ready(&Started {
        local_addr,
        cores,
        driver,
        pinning,
        redirect_addr,
    });
    wait_for_cores(&shared, threads);
    // Spans of the last requests go out before the process ends (a clean stop).
    crate::trace::flush(std::time::Duration::from_secs(2));
    tracing::info!("all cores stopped");
    match shared.core_died.get() {
        Some((core, message)) => Err(BootError::CorePanicked {
            core: *core,
            message: message.clone(),
        }),
        None => Ok(()),
    }
}

/// Waits until every core thread has ended, except one whose runtime a panic escaped:
/// that thread may never finish tearing its runtime down (an io_uring operation still
/// in flight), and the process must exit all the same.
///
/// Once a core has died the others are told to drain (as on SIGTERM) and given the
/// drain delay plus the shutdown grace, and a little more, before the process goes.
fn wait_for_cores(shared: &Shared, threads: Vec<std::thread::JoinHandle<()>>) {
    let mut give_up: Option<Instant> = None;
    loop {
        let died = shared.core_died.get().map(|(k, _)| *k);
        let running = threads
            .iter()
            .enumerate()
            .any(|(k, t)| !t.is_finished() && Some(k) != died);
        if !running || give_up.is_some_and(|t| Instant::now() > t) {
            break;
        }
        if let (Some(dead), None) = (died, give_up) {
            // Not the dead core's inbox: its unwind may have left the channel's lock
            // held (seen: every sender to it blocked for good).
            if let Some(mailboxes) = shared.mailboxes.get() {
                for k in (0..threads.len()).filter(|&k| k != dead) {
                    let _ = mailboxes.send_to(k, CoreMessage::Shutdown);
                }
            }
            let c = &shared.config;
            let drain = c.cluster.drain_delay_ms + c.server.shutdown_grace_ms + 2000;
            give_up = Some(Instant::now() + Duration::from_millis(drain));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for t in threads.into_iter().filter(|t| t.is_finished()) {
        let _ = t.join();
    }
}

/// A panic escaped core `k`'s runtime (connection tasks and handlers catch their own,
/// so this is a bug in the core's own loops). The core's state (its tables, its
/// `RefCell`s) may be half-changed and its listening socket is closed with it, so it is
/// not restarted in place: readiness fails at once (a balancer moves clients away),
/// the other cores drain as on SIGTERM, and `run` returns an error, so the process
/// exits non-zero and its supervisor (`Restart=on-failure`) starts a whole new one.
fn core_died(shared: &Shared, k: usize, panic: &(dyn std::any::Any + Send)) {
    let message = crate::panics::message(panic);
    tracing::error!(core = k, panic = %message, "a panic escaped this core's runtime; stopping the server");
    // The rest is the main thread's (`wait_for_cores`): this thread's state after an
    // unwind through the runtime is not to be trusted with channels.
    let _ = shared.core_died.set((k, message));
}

/// Spawns a connection's task with its panics caught: the connection closes, the
/// panic is logged with the core and counted, and the core goes on serving.
pub(crate) fn spawn_guarded(
    core: &Rc<CoreState>,
    task: std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>,
) {
    let core = core.clone();
    monoio::spawn(async move {
        if let Err(panic) = crate::panics::CatchUnwind(task).await {
            super::counters::bump(&core.counters.connection_panics);
            let what = crate::panics::message(&*panic);
            tracing::error!(core = core.id.0, panic = %what, "a connection task panicked; connection closed");
        }
    });
}

/// The plain-HTTP redirect group (`tls.redirect_listen`), pinned like the main one.
fn bind_redirect(
    config: &Config,
    cores: usize,
) -> Result<(Vec<std::net::TcpListener>, Option<SocketAddr>), BootError> {
    let Some(addr) = config.tls.redirect_listen else {
        return Ok((Vec::new(), None));
    };
    listener::bind_group(addr, cores, config.server.pin_by_client_ip)
        .map(|g| (g.listeners, Some(g.local_addr)))
        .map_err(|source| BootError::Listen { addr, source })
}

/// A core's listening sockets.
struct CoreListeners {
    main: std::net::TcpListener,
    redirect: Option<std::net::TcpListener>,
}

fn core_thread(
    id: CoreId,
    cpu: usize,
    std_listener: CoreListeners,
    inbox: Receiver<CoreMessage>,
    shared: Arc<Shared>,
    pipeline: PipelineFactory,
    ready: mpsc::Sender<Result<DriverKind, CoreStartError>>,
) {
    if let Err(e) = monoio::utils::bind_to_cpu_set([cpu]) {
        tracing::warn!(core = id.0, cpu, error = ?e, "cannot pin core thread to its CPU");
    }
    let entries = shared.config.server.uring_entries;
    let choice = shared.config.server.driver;
    if choice != DriverChoice::Legacy {
        let mut ring = io_uring::IoUring::builder();
        let sqpoll = shared.config.server.sqpoll_idle_ms;
        if sqpoll > 0 {
            ring.setup_sqpoll(sqpoll);
        }
        match shared.config.server.uring_taskrun {
            TaskRun::Signal => {}
            TaskRun::Coop => {
                ring.setup_coop_taskrun();
            }
            TaskRun::Defer => {
                ring.setup_single_issuer().setup_defer_taskrun();
            }
        }
        match monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
            .with_entries(entries)
            .uring_builder(ring)
            .enable_timer()
            .build()
        {
            Ok(mut rt) => {
                rt.block_on(core_main(
                    id,
                    DriverKind::IoUring,
                    std_listener,
                    inbox,
                    shared,
                    pipeline,
                    ready,
                ));
                return;
            }
            Err(e) if choice == DriverChoice::Auto => {
                if id.0 == 0 {
                    tracing::warn!(error = %e, "io_uring unavailable; using the legacy epoll driver");
                }
            }
            Err(e) => {
                let _ = ready.send(Err(CoreStartError::IoUringUnavailable(e)));
                return;
            }
        }
    }
    match monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
    {
        Ok(mut rt) => rt.block_on(core_main(
            id,
            DriverKind::Legacy,
            std_listener,
            inbox,
            shared,
            pipeline,
            ready,
        )),
        Err(e) => {
            let _ = ready.send(Err(CoreStartError::LegacyRuntime(e)));
        }
    }
}

async fn core_main(
    id: CoreId,
    driver: DriverKind,
    std_listener: CoreListeners,
    inbox: Receiver<CoreMessage>,
    shared: Arc<Shared>,
    pipeline: PipelineFactory,
    ready: mpsc::Sender<Result<DriverKind, CoreStartError>>,
) {
    let listeners = (
        monoio::net::TcpListener::from_std(std_listener.main),
        std_listener
            .redirect
            .map(monoio::net::TcpListener::from_std)
            .transpose(),
    );
    let (listener, redirect) = match listeners {
        (Ok(l), Ok(r)) => (l, r),
        (Err(e), _) | (_, Err(e)) => {
            let _ = ready.send(Err(CoreStartError::Listener(e)));
            return;
        }
    };
    let pipeline = pipeline(&shared);
    let core = match CoreState::new(id, driver, shared) {
        Ok(state) => Rc::new(state),
        Err(e) => {
            let _ = ready.send(Err(CoreStartError::Library(e)));
            return;
        }
    };
    core.gauge().driver.store(
        if driver == DriverKind::IoUring { 1 } else { 2 },
        Ordering::Relaxed,
    );
    monoio::spawn(sweep_deadlines(core.clone()));
    monoio::spawn(crate::ws::heartbeat::sweep(core.clone()));
    monoio::spawn(crate::ws::revocation::watch(core.clone()));
    let _ = ready.send(Ok(driver));
    drop(ready);

    // The inbox has its own task: the accept below must never be cancelled while the
    // server runs. Dropping a pending io_uring accept only requests an asynchronous
    // cancel; the orphaned accept can still take the next connection, whose result is
    // then discarded and the client hangs. (Seen when every WebSocket publish, an inbox
    // message, re-armed the accept.) Only shutdown cancels it.
    let (stop_tx, stop_rx) = async_channel::bounded::<()>(1);
    monoio::spawn(inbox_loop(core.clone(), inbox, stop_tx, pipeline.clone()));
    if let Some(redirect) = redirect {
        let (core, pipeline, stop) = (core.clone(), pipeline.clone(), stop_rx.clone());
        monoio::spawn(accept_loop(core, redirect, pipeline, Port::Redirect, stop));
    }
    accept_loop(core.clone(), listener, pipeline, Port::Main, stop_rx).await;
    core.shutting_down.set(true);
    // WebSocket clients are told (`disconnect`, close 1001) and get a moment to read it.
    crate::ws::heartbeat::going_away(&core);
    let ws_deadline = Instant::now() + Duration::from_millis(500);
    while !core.ws.is_empty() && Instant::now() < ws_deadline {
        monoio::time::sleep(Duration::from_millis(5)).await;
    }
    let grace = Duration::from_millis(core.shared.config.server.shutdown_grace_ms);
    let deadline = Instant::now() + grace;
    while core.connections.borrow().busy() > 0 && Instant::now() < deadline {
        monoio::time::sleep(Duration::from_millis(5)).await;
    }
    let left = core.connections.borrow().busy();
    if left > 0 {
        tracing::warn!(
            core = id.0,
            requests = left,
            "shutdown deadline passed with requests in flight"
        );
    }
    tracing::debug!(core = id.0, "core stopped");
}

/// Accepts on one listener until `stop` closes, handing each connection to the pipeline.
async fn accept_loop(
    core: Rc<CoreState>,
    listener: monoio::net::TcpListener,
    pipeline: Rc<dyn super::pipeline::Pipeline>,
    port: Port,
    stop: Receiver<()>,
) {
    loop {
        monoio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    core.gauge().accepted.fetch_add(1, Ordering::Relaxed);
                    let proxied = core.shared.config.server.proxy_protocol != ProxyProtocol::Off;
                    if port == Port::Main && proxied {
                        let task = super::proxied::serve(core.clone(), pipeline.clone(), stream, peer);
                        spawn_guarded(&core, Box::pin(task));
                    } else {
                        spawn_guarded(&core, pipeline.clone().serve(core.clone(), stream, peer, port));
                    }
                }
                Err(e) => {
                    // EMFILE/ENFILE: back off instead of spinning on a full fd table.
                    tracing::warn!(core = core.id.0, error = %e, "accept failed");
                    monoio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            _ = stop.recv() => break,
        }
    }
}

/// Serves a connection another core accepted for a client of this one.
fn adopt(
    core: &Rc<CoreState>,
    pipeline: &Rc<dyn super::pipeline::Pipeline>,
    handoff: Arc<super::mailbox::Handoff>,
) {
    let Some((std, client)) = super::mailbox::Handoff::take(handoff) else {
        return;
    };
    match monoio::net::TcpStream::from_std(std) {
        Ok(stream) => {
            let serving = pipeline
                .clone()
                .serve(core.clone(), stream, client, Port::Main);
            spawn_guarded(core, serving);
        }
        Err(e) => tracing::warn!(core = core.id.0, error = %e, "cannot adopt a connection"),
    }
}

/// Handles cross-core messages until shutdown, which it passes on to the accept loop.
async fn inbox_loop(
    core: Rc<CoreState>,
    inbox: Receiver<CoreMessage>,
    stop: async_channel::Sender<()>,
    pipeline: Rc<dyn super::pipeline::Pipeline>,
) {
    loop {
        let msg = inbox.recv().await;
        let answered = core.shared.started.elapsed().as_millis() as u64 + 1;
        core.gauge().answered_ms.store(answered, Ordering::Relaxed);
        match msg {
            Ok(CoreMessage::Publish {
                topic,
                text,
                priority,
            }) => {
                crate::ws::hub::deliver_paced(&core, &topic, &text, priority).await;
            }
            Ok(CoreMessage::Adopt(handoff)) => adopt(&core, &pipeline, handoff),
            Ok(CoreMessage::ClearCache { track }) => {
                core.tier1.borrow_mut().remove_track(track);
                core.publish_cache_stats();
            }
            Ok(CoreMessage::Snapshot(reply)) => {
                let _ = reply.send(core.snapshot());
            }
            Ok(CoreMessage::WsConnections(reply)) => {
                let now = core.now_ms();
                let infos = core.ws.all().iter().map(|c| c.info(now)).collect();
                let _ = reply.try_send((core.id.0, infos));
            }
            Ok(CoreMessage::Shutdown) if !core.shutting_down.get() => {
                // Readiness fails from now on; past the drain delay the core stops
                // accepting and drains (a load balancer has moved clients away by then).
                core.shutting_down.set(true);
                let delay = Duration::from_millis(core.shared.config.cluster.drain_delay_ms);
                let (stop, inbox) = (stop.clone(), inbox.clone());
                monoio::spawn(async move {
                    monoio::time::sleep(delay).await;
                    stop.close();
                    // Closing the inbox tells the monitor this core is gone.
                    inbox.close();
                });
            }
            Ok(CoreMessage::Shutdown) => {}
            Err(_) => {
                stop.close();
                return;
            }
        }
    }
}

/// Enforces connection deadlines (header, body, keep-alive, write): one pass per tick
/// over the core's connections, cancelling overdue operations.
async fn sweep_deadlines(core: Rc<CoreState>) {
    let tick = core.shared.config.deadline_tick();
    loop {
        monoio::time::sleep(tick).await;
        let n = core.connections.borrow_mut().expire(Instant::now());
        if n > 0 {
            tracing::debug!(
                core = core.id.0,
                connections = n,
                "deadline passed; closing"
            );
        }
    }
}
