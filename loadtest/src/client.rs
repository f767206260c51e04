//! The harness's own thin HTTP/1.1 client over `httparse`: keep-alive, Content-Length
//! and chunked bodies, reconnect on `Connection: close`.

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{FromRawFd, IntoRawFd};

/// Why a request failed (reported by kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Connect,
    Timeout,
    Protocol,
}

/// One keep-alive connection.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// A response: status, bytes read, and whether the server closes the connection.
pub struct Answer {
    pub status: u16,
    pub bytes: u64,
    pub close: bool,
}

impl Conn {
    /// Connects, from `source` when given (to spread over loopback addresses).
    pub async fn connect(addr: SocketAddr, source: Option<Ipv4Addr>) -> Result<Conn, Failure> {
        let stream = match source {
            None => TcpStream::connect(addr)
                .await
                .map_err(|_| Failure::Connect)?,
            Some(ip) => {
                // Bind then connect on a plain socket (loopback connects complete at
                // once), then hand the fd to glommio.
                let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                    .map_err(|_| Failure::Connect)?;
                sock.bind(&SocketAddr::from((ip, 0)).into())
                    .map_err(|_| Failure::Connect)?;
                sock.connect(&addr.into()).map_err(|_| Failure::Connect)?;
                sock.set_nonblocking(true).map_err(|_| Failure::Connect)?;
                // SAFETY: the fd is a connected TCP socket we own and hand over.
                unsafe { TcpStream::from_raw_fd(sock.into_raw_fd()) }
            }
        };
        let _ = stream.set_nodelay(true);
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(16 * 1024),
        })
    }

    pub async fn send(&mut self, request: &[u8]) -> Result<(), Failure> {
        self.stream
            .write_all(request)
            .await
            .map_err(|_| Failure::Protocol)
    }

    async fn fill(&mut self) -> Result<(), Failure> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self
            .stream
            .read(&mut chunk)
            .await
            .map_err(|_| Failure::Protocol)?;
        if n == 0 {
            return Err(Failure::Protocol);
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// Reads one whole response.
    pub async fn receive(&mut self) -> Result<Answer, Failure> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(&self.buf) {
                Ok(httparse::Status::Complete(head)) => {
                    let status = resp.code.unwrap_or(0);
                    let mut len = None;
                    let mut chunked = false;
                    let mut close = false;
                    for h in resp.headers.iter() {
                        if h.name.eq_ignore_ascii_case("content-length") {
                            len = std::str::from_utf8(h.value)
                                .ok()
                                .and_then(|v| v.trim().parse::<usize>().ok());
                        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                            chunked = h.value.eq_ignore_ascii_case(b"chunked");
                        } else if h.name.eq_ignore_ascii_case("connection") {
                            close = h.value.eq_ignore_ascii_case(b"close");
                        }
                    }
                    if (100..200).contains(&status) {
                        self.buf.drain(..head);
                        continue;
                    }
                    let total = if chunked {
                        self.chunked_end(head).await?
                    } else {
                        self.sized_end(head, len.unwrap_or(0)).await?
                    };
                    self.buf.drain(..total);
                    return Ok(Answer {
                        status,
                        bytes: total as u64,
                        close,
                    });
                }
                Ok(httparse::Status::Partial) => {
                    if self.buf.len() > 64 * 1024 {
                        return Err(Failure::Protocol);
                    }
                    self.fill().await?;
                }
                Err(_) => return Err(Failure::Protocol),
            }
        }
    }

    async fn sized_end(&mut self, head: usize, len: usize) -> Result<usize, Failure> {
        while self.buf.len() < head + len {
            self.fill().await?;
        }
        Ok(head + len)
    }

    async fn chunked_end(&mut self, head: usize) -> Result<usize, Failure> {
        let mut pos = head;
        loop {
            match httparse::parse_chunk_size(&self.buf[pos..]) {
                Ok(httparse::Status::Complete((used, 0))) => {
                    pos += used;
                    while self.buf.len() < pos + 2 {
                        self.fill().await?;
                    }
                    return Ok(pos + 2);
                }
                Ok(httparse::Status::Complete((used, size))) => {
                    let end = pos + used + size as usize + 2;
                    while self.buf.len() < end {
                        self.fill().await?;
                    }
                    pos = end;
                }
                Ok(httparse::Status::Partial) => self.fill().await?,
                Err(_) => return Err(Failure::Protocol),
            }
        }
    }
}
