//! See `fuzz_checks::watcher_event` for what this target asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::watcher_event(data));
