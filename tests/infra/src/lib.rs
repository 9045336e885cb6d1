//! Tests only: `tests/consistency.rs` checks that `infra/` (the SAM template, the customer
//! role, the definition, the OpenAPI document, the pipes) agrees with the code, and
//! `tests/iam.rs` proves each function's policy from its recorded calls. This library holds
//! what they read the infrastructure with. Nothing here is built into any function.

pub mod pipes;
pub mod template;
pub mod workspace;
