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

/// A PostgreSQL server made by `initdb` in a temp dir (trust auth, no fsync), run
/// as the `postgres` user when the tests run as root (PostgreSQL refuses root).
pub struct Postgres {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
}

fn pg_bin() -> Option<PathBuf> {
    let on_path = Command::new("initdb").arg("--version").output().ok();
    if on_path.is_some_and(|o| o.status.success()) {
        return Some(PathBuf::new());
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|b| b.join("initdb").exists())
        .collect();
    found.sort();
    found.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl Postgres {
    /// `None` when PostgreSQL's server binaries are not installed.
    pub fn start() -> Option<Postgres> {
        let bin = pg_bin()?;
        let dir = super::temp_dir("pg");
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(&dir)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "chown the PostgreSQL dir to the postgres user");
        }
        let mut pg = Postgres {
            child: None,
            port: super::free_port(),
            dir,
            bin,
        };
        let out = pg
            .command("initdb")
            .args([
                "-U",
                "auralis",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(pg.dir.join("data"))
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        pg.start_again();
        Some(pg)
    }

    fn command(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    pub fn url(&self) -> String {
        format!("postgres://auralis@127.0.0.1:{}/postgres", self.port)
    }

    pub fn start_again(&mut self) {
        let child = self
            .command("postgres")
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-k")
            .arg(&self.dir)
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-p"])
            .arg(self.port.to_string())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join("postgres.log")).expect("log"))
            .spawn()
            .expect("start postgres");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match postgres::Client::connect(&self.url(), postgres::NoTls) {
                Ok(_) => break,
                Err(e) => {
                    assert!(Instant::now() < deadline, "postgres did not start: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }

    /// Stops the server at once, as in a crash (SIGQUIT to the postmaster: immediate
    /// shutdown; signalling `runuser` would leave postgres running).
    pub fn stop(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        let pid = std::fs::read_to_string(self.dir.join("data/postmaster.pid"))
            .ok()
            .and_then(|s| s.lines().next().and_then(|l| l.trim().parse::<i32>().ok()));
        if let Some(pid) = pid {
            let _ = Command::new("kill")
                .args(["-QUIT", &pid.to_string()])
                .status();
        } else {
            let _ = c.kill();
        }
        let _ = c.wait();
        // Its children (backends) exit once the postmaster is gone; wait for the port.
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = std::fs::remove_file(self.dir.join("data/postmaster.pid"));
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}
