//! See `fuzz_checks::step_payload` for what this target asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::step_payload(data));
