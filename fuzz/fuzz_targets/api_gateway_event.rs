//! See `fuzz_checks::api_gateway_event` for what this target asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::api_gateway_event(data));
