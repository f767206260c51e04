#![no_main]
//! Audio probing and decoding of arbitrary bytes, as the scanner and the decode pool
//! meet them. symphonia panics on some inputs; the server catches those per file and
//! per job (`probe_guarded`, the pool's `catch_unwind`). libfuzzer-sys's own hook
//! aborts on every panic, caught or not, which would stop this target at the first
//! third-party panic the server already survives. So the hook is silenced here, once:
//! a panic that escapes our guards still reaches libfuzzer-sys's `catch_unwind` around
//! the target and aborts — that is the crash this target looks for.

static QUIET: std::sync::Once = std::sync::Once::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    auralis_server::fuzz_api::audio(data)
});
