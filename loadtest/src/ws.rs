//! The harness's thin WebSocket client (RFC 6455): handshake, masked client text frames,
//! reading server frames (unmasked), answering pings. Enough for listeners.

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;

pub struct WsClient {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Pings answered so far (the server's heartbeat).
    pub pings: u64,
}

/// A server frame: opcode and payload.
pub struct WsFrame {
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl WsClient {
    /// Performs the upgrade on a connected stream.
    pub async fn handshake(mut stream: TcpStream, host: &str) -> std::io::Result<WsClient> {
        let req = format!(
            "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(req.as_bytes()).await?;
        let mut buf = Vec::with_capacity(4096);
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                if !buf.starts_with(b"HTTP/1.1 101") {
                    return Err(std::io::Error::other("upgrade refused"));
                }
                buf.drain(..end + 4);
                return Ok(WsClient {
                    stream,
                    buf,
                    pings: 0,
                });
            }
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends a masked text frame.
    pub async fn send_text(&mut self, text: &str) -> std::io::Result<()> {
        self.send(0x1, text.as_bytes()).await
    }

    /// Sends a close frame (1000, normal closure); the caller then drops the client.
    pub async fn close(&mut self) -> std::io::Result<()> {
        self.send(0x8, &1000u16.to_be_bytes()).await
    }

    async fn send(&mut self, opcode: u8, payload: &[u8]) -> std::io::Result<()> {
        let mut f = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => f.push(0x80 | n as u8),
            n if n < 65536 => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let key = [0x5a, 0x17, 0xc3, 0x2e];
        f.extend_from_slice(&key);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        self.stream.write_all(&f).await
    }

    /// Next data frame (pings answered, pongs skipped); `None` when closed.
    pub async fn next(&mut self) -> std::io::Result<Option<WsFrame>> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Some((opcode, start, len)) = header(&self.buf)
                && self.buf.len() >= start + len
            {
                let payload = self.buf[start..start + len].to_vec();
                self.buf.drain(..start + len);
                match opcode {
                    0x8 => return Ok(None),
                    0x9 => {
                        self.pings += 1;
                        self.send(0xA, &payload).await?
                    }
                    0xA => {}
                    _ => return Ok(Some(WsFrame { opcode, payload })),
                }
                continue;
            }
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(None);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// (opcode, payload start, payload length) of a complete header at the front of `b`.
fn header(b: &[u8]) -> Option<(u8, usize, usize)> {
    if b.len() < 2 {
        return None;
    }
    let opcode = b[0] & 0x0f;
    match b[1] & 0x7f {
        126 if b.len() >= 4 => Some((opcode, 4, u16::from_be_bytes([b[2], b[3]]) as usize)),
        127 if b.len() >= 10 => {
            let mut l = [0u8; 8];
            l.copy_from_slice(&b[2..10]);
            Some((opcode, 10, u64::from_be_bytes(l) as usize))
        }
        126 | 127 => None,
        n => Some((opcode, 2, n as usize)),
    }
}

/// `"published_at_us":<digits>` from a notification's JSON, without a full parse.
pub fn published_at_us(text: &[u8]) -> Option<u64> {
    let key = b"\"published_at_us\":";
    let i = text.windows(key.len()).position(|w| w == key)? + key.len();
    let digits: Vec<u8> = text[i..]
        .iter()
        .copied()
        .take_while(u8::is_ascii_digit)
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_publish_stamp() {
        assert_eq!(
            super::published_at_us(br#"{"a":1,"published_at_us":1234567,"b":2}"#),
            Some(1_234_567)
        );
        assert_eq!(super::header(&[0x81, 0x05]), Some((1, 2, 5)));
        assert_eq!(super::header(&[0x81, 126, 0x01, 0x00]), Some((1, 4, 256)));
    }
}
