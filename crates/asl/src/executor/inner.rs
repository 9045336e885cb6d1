//! What every part of the executor shares: the definition, registry, clock and options, the
//! executions by name, and the open task tokens, which it resolves as the registry's
//! [`TokenResolver`].

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::clock::{Activity, Clock};
use crate::definition::Definition;
use crate::error::TokenError;
use crate::executor::state::{ExecShared, MAX_PAYLOAD_BYTES, lock};
use crate::registry::{TaskRegistry, TokenResolver};
use crate::rng::Rng;

/// Options of an [`Executor`].
///
/// [`Executor`]: crate::Executor
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// State machine name (`$$.StateMachine.Name`, ARNs). Default `state-machine`.
    pub state_machine_name: String,
    /// Region used in ARNs. Default `us-east-1`.
    pub region: String,
    /// Account used in ARNs. Default `123456789012`.
    pub account: String,
    /// Seed of the random numbers (UUID, MathRandom, FULL jitter, task tokens). Default 0:
    /// runs are reproducible unless a different seed is chosen.
    pub seed: u64,
}

impl Default for ExecutorOptions {
    fn default() -> Self {
        ExecutorOptions { state_machine_name: "state-machine".into(), region: "us-east-1".into(), account: "123456789012".into(), seed: 0 }
    }
}

pub(super) enum TokenEvent {
    Success(Value),
    Failure(String, Option<String>),
    Heartbeat(oneshot::Sender<()>),
}

pub(super) struct TokenSlot {
    pub(super) execution: Weak<ExecShared>,
    pub(super) tx: Option<mpsc::UnboundedSender<TokenEvent>>,
}

pub(super) struct ExecutorInner {
    pub(super) def: Definition,
    pub(super) registry: TaskRegistry,
    pub(super) clock: Clock,
    pub(super) opts: ExecutorOptions,
    pub(super) state_machine_arn: String,
    pub(super) executions: Mutex<HashMap<String, Arc<ExecShared>>>,
    pub(super) tokens: Mutex<HashMap<String, TokenSlot>>,
    pub(super) rng: Mutex<Rng>,
}

impl ExecutorInner {
    /// Takes the sender of an open token, closing the slot.
    fn take_slot(&self, token: &str) -> Result<(mpsc::UnboundedSender<TokenEvent>, Arc<ExecShared>), TokenError> {
        let mut tokens = lock(&self.tokens);
        let slot = tokens.get_mut(token).ok_or_else(|| TokenError::InvalidToken(token.to_string()))?;
        let exec = slot.execution.upgrade().ok_or_else(|| TokenError::TaskClosed(token.to_string()))?;
        let tx = slot.tx.take().ok_or_else(|| TokenError::TaskClosed(token.to_string()))?;
        // Mark busy before anyone can observe the execution idle again.
        exec.participant.set(Activity::Busy);
        Ok((tx, exec))
    }

    pub(super) fn send_success(&self, token: &str, output: Value) -> Result<(), TokenError> {
        let size = output.to_string().len();
        if size > MAX_PAYLOAD_BYTES {
            return Err(TokenError::InvalidOutput(format!("the output has {size} bytes, more than {MAX_PAYLOAD_BYTES}")));
        }
        let (tx, _) = self.take_slot(token)?;
        tx.send(TokenEvent::Success(output)).map_err(|_| TokenError::TaskClosed(token.to_string()))
    }

    pub(super) fn send_failure(&self, token: &str, error: &str, cause: Option<&str>) -> Result<(), TokenError> {
        let (tx, _) = self.take_slot(token)?;
        tx.send(TokenEvent::Failure(error.to_string(), cause.map(str::to_string))).map_err(|_| TokenError::TaskClosed(token.to_string()))
    }

    pub(super) async fn send_heartbeat(&self, token: &str) -> Result<(), TokenError> {
        let tx = {
            let tokens = lock(&self.tokens);
            let slot = tokens.get(token).ok_or_else(|| TokenError::InvalidToken(token.to_string()))?;
            slot.tx.clone().ok_or_else(|| TokenError::TaskClosed(token.to_string()))?
        };
        let (ack_tx, ack_rx) = oneshot::channel();
        tx.send(TokenEvent::Heartbeat(ack_tx)).map_err(|_| TokenError::TaskClosed(token.to_string()))?;
        ack_rx.await.map_err(|_| TokenError::TaskClosed(token.to_string()))
    }

    pub(super) fn close_token(&self, token: &str) {
        if let Some(slot) = lock(&self.tokens).get_mut(token) {
            slot.tx = None;
        }
    }
}

impl TokenResolver for ExecutorInner {
    fn task_success(&self, token: &str, output: Value) -> Result<(), TokenError> {
        self.send_success(token, output)
    }

    fn task_failure(&self, token: &str, error: &str, cause: Option<&str>) -> Result<(), TokenError> {
        self.send_failure(token, error, cause)
    }

    fn task_heartbeat<'a>(&'a self, token: &'a str) -> Pin<Box<dyn Future<Output = Result<(), TokenError>> + Send + 'a>> {
        Box::pin(self.send_heartbeat(token))
    }
}
