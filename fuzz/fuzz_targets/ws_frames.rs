#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| auralis_server::fuzz_api::ws_frames(data));
