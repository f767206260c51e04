//! Blocking one-connection HTTP/1.1 for set-up work off the executors: discovering the
//! API and the library before an `api-mix` or `listeners` run, and the `ws-broadcast`
//! publisher. Not used for measured requests.

use crate::endpoint::{BlockingIo, Endpoint};
use std::time::Duration;

/// A keep-alive connection for a handful of set-up requests.
pub struct SetupClient {
    stream: Box<dyn BlockingIo>,
    host: String,
    buf: Vec<u8>,
}

impl SetupClient {
    pub fn connect(server: &Endpoint) -> Result<SetupClient, String> {
        let stream = server.connect_blocking(Duration::from_secs(30))?;
        Ok(SetupClient {
            stream,
            host: server.addr.to_string(),
            buf: Vec::new(),
        })
    }

    /// One request; the answer's status and body (`Content-Length` bodies only).
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        json: Option<&str>,
    ) -> Result<(u16, Vec<u8>), String> {
        let mut req = Vec::new();
        crate::client::write_request(&mut req, method, &self.host, path, json);
        let fail = |e: std::io::Error| format!("{method} {path}: {e}");
        self.stream.write_all(&req).map_err(fail)?;
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut resp = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(head) = resp
                .parse(&self.buf)
                .map_err(|e| format!("{method} {path}: bad response: {e}"))?
            {
                let status = resp.code.unwrap_or(0);
                let len = resp
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
                    .ok_or_else(|| format!("{method} {path}: answer without Content-Length"))?;
                let len: usize = len;
                while self.buf.len() < head + len {
                    let n = self.stream.read(&mut chunk).map_err(fail)?;
                    if n == 0 {
                        return Err(format!("{method} {path}: connection closed mid-answer"));
                    }
                    self.buf.extend_from_slice(&chunk[..n]);
                }
                let body = self.buf[head..head + len].to_vec();
                self.buf.drain(..head + len);
                return Ok((status, body));
            }
            let n = self.stream.read(&mut chunk).map_err(fail)?;
            if n == 0 {
                return Err(format!("{method} {path}: connection closed"));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// GET of an auralis-server JSON endpoint: its `data` member, or an error naming
    /// the status.
    pub fn get_data(&mut self, path: &str) -> Result<serde_json::Value, String> {
        let (status, body) = self.request("GET", path, None)?;
        if status != 200 {
            return Err(format!(
                "GET {path}: status {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            ));
        }
        let mut v: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| format!("GET {path}: not JSON: {e}"))?;
        Ok(v.get_mut("data").map(serde_json::Value::take).unwrap_or(v))
    }
}
