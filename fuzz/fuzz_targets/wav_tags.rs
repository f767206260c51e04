#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| auralis_server::fuzz_api::wav_tags(data));
