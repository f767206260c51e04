//! The shared engines a cluster runs on, started for real on loopback ports in a
//! temp dir and stopped on drop: Redis (the broker). A test whose engine is not
//! installed is skipped by its caller with a printed message.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn wait_listening(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A `redis-server` without persistence; `stop` and `start_again` keep its port.
pub struct Redis {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
}

impl Redis {
    /// `None` when `redis-server` is not installed.
    pub fn start() -> Option<Redis> {
        Command::new("redis-server")
            .arg("--version")
            .output()
            .ok()?;
        let port = super::free_port();
        let mut r = Redis {
            child: None,
            port,
            dir: super::temp_dir("redis"),
        };
        r.start_again();
        Some(r)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn start_again(&mut self) {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        wait_listening(self.port, "redis-server");
    }

    /// Kills the server (SIGKILL): the broker is gone, as in a crash.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}
