//! Random bytes from the kernel (getrandom(2)), for capabilities that must not be
//! guessed: session ids and their join secrets.

/// Fills `buf` with random bytes.
pub(crate) fn fill(buf: &mut [u8]) -> std::io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: getrandom(2) writes at most the given length into our own buffer.
        let n = unsafe { libc::getrandom(buf[done..].as_mut_ptr().cast(), buf.len() - done, 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        done += n as usize;
    }
    Ok(())
}
