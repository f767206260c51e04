//! Start-up checks with clear messages: open files for the connections, locked memory
//! for glommio's io_uring rings (it needs ≥ 512 KiB and otherwise fails late, at join).

pub fn check(connections: usize, cores: usize) -> Result<(), String> {
    // SAFETY: getrlimit fills a plain struct.
    let (nofile, memlock) = unsafe {
        let mut n: libc::rlimit = std::mem::zeroed();
        let mut m: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut n);
        libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut m);
        (n.rlim_cur, m.rlim_cur)
    };
    let need = connections as u64 + 64 * cores as u64 + 64;
    if nofile != libc::RLIM_INFINITY && nofile < need {
        return Err(format!(
            "{connections} connections need about {need} open files but `ulimit -n` is {nofile}: raise it (ulimit -n {need}) or use fewer connections"
        ));
    }
    let need_lock = 512 * 1024 * cores as u64;
    if memlock != libc::RLIM_INFINITY && memlock < need_lock {
        return Err(format!(
            "glommio needs {} KiB of locked memory for {cores} executors but `ulimit -l` is {} KiB: raise it (ulimit -l {})",
            need_lock / 1024,
            memlock / 1024,
            need_lock / 1024
        ));
    }
    Ok(())
}
