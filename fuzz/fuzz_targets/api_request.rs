//! See `fuzz_checks::api_request` for what this target asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::api_request(data));
