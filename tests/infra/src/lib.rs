//! Tests only: `tests/consistency.rs` checks that `infra/` (the SAM template, the customer
//! role, the per-function IAM action lists) agrees with the code and the state machine
//! definition. Nothing here is built into any function.
