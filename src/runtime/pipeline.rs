//! What a core runs for each accepted connection, handed in at boot: the runtime
//! accepts and pins connections but names no protocol (the HTTP service, with its
//! WebSocket upgrade, is this server's pipeline).

use super::core_state::{CoreState, Shared};
use monoio::net::TcpStream;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;

/// Which of the core's listeners accepted a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// `server.listen`: the service (HTTPS when TLS is on).
    Main,
    /// `tls.redirect_listen`: plain HTTP that only points to the main port.
    Redirect,
}

/// Serves accepted connections on one core. Core-owned: built on the core's thread.
pub trait Pipeline {
    /// Serves one accepted connection until it ends.
    fn serve(
        self: Rc<Self>,
        core: Rc<CoreState>,
        stream: TcpStream,
        peer: SocketAddr,
        port: Port,
    ) -> Pin<Box<dyn Future<Output = ()>>>;
}

/// Builds a core's pipeline on that core's thread (pipelines are not `Send`).
pub(crate) type PipelineFactory = fn(&Shared) -> Rc<dyn Pipeline>;
