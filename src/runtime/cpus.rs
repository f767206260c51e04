//! The CPUs this process may run on. Self-contained (only `std` and `libc`) because the
//! load harness compiles this same file into its binary (`#[path]` in
//! `loadtest/src/main.rs`): one definition for the server and the harness, without the
//! harness depending on the server crate.

/// The CPUs this process may run on (respects `taskset` and cgroup cpusets).
pub(crate) fn allowed_cpus() -> std::io::Result<Vec<usize>> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it for this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok((0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect())
    }
}
