//! The local runner's library: what `cam-local` runs, testable in-process.

pub mod demo;
pub mod serve;
pub mod soak;
pub mod stack;
