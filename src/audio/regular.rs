//! Opening a library file for reading, refusing anything that is not a regular file:
//! a FIFO put in place of a scanned file blocked `open(2)` (and then every read) of the
//! thread that tried it, forever — a decode worker, the scanner. Opened with
//! `O_NONBLOCK` (so a FIFO's open returns at once), then checked with `fstat` on the
//! descriptor itself (no window between check and open).

use std::fs::File;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Opens `path` if it is a regular file (symlinks followed); any other kind of file
/// is an `InvalidInput` error naming what it is.
pub fn open_regular(path: &Path) -> std::io::Result<File> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let kind = file.metadata()?.file_type();
    if kind.is_file() {
        return Ok(file);
    }
    let what = if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    };
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("{} is {what}, not a regular file", path.display()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_is_refused_at_once_and_a_file_is_opened() {
        let dir = std::env::temp_dir().join(format!("auralis-regular-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("track.wav");
        let _ = std::fs::remove_file(&fifo);
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo(3) on a path we own.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let started = std::time::Instant::now();
        let err = open_regular(&fifo).unwrap_err();
        assert!(err.to_string().contains("FIFO"), "{err}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "no blocking open"
        );
        let file = dir.join("real.wav");
        std::fs::write(&file, b"RIFF").unwrap();
        assert!(open_regular(&file).is_ok());
        assert!(open_regular(&dir).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
