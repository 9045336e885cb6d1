//! Task handlers, keyed by resource.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::TokenError;

/// The error a task handler returns: an error name (e.g. `Migration.NotEligible`) and an
/// optional cause. Retry/Catch match on `error`, like AWS does for Lambda function errors.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{error}: {}", cause.as_deref().unwrap_or(""))]
pub struct TaskError {
    /// Error name.
    pub error: String,
    /// Human-readable cause.
    pub cause: Option<String>,
}

impl TaskError {
    /// A task error with a cause.
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        TaskError { error: error.into(), cause: Some(cause.into()) }
    }
}

/// What a handler receives.
#[derive(Debug, Clone)]
pub struct TaskInput {
    /// The effective input: after InputPath and Parameters; for `lambda:invoke` the
    /// `Payload` field of the Parameters.
    pub input: Value,
    /// Execution context of this invocation.
    pub context: TaskContext,
}

/// Context of one task invocation.
#[derive(Debug, Clone)]
pub struct TaskContext {
    /// The state's `Resource` (after substitution).
    pub resource: String,
    /// The registry key the handler was found under (FunctionName for `lambda:invoke`).
    pub key: String,
    /// The Task state's name.
    pub state_name: String,
    /// How many retries happened before this attempt (`$$.State.RetryCount`).
    pub retry_count: u64,
    /// The task token, for `.waitForTaskToken` resources only.
    pub task_token: Option<String>,
    /// The execution clock's time at invocation.
    pub now: DateTime<Utc>,
    /// The execution's name.
    pub execution_name: String,
    /// The execution's ARN (`$$.Execution.Id`).
    pub execution_id: String,
    /// Resolves task tokens of this executor (e.g. from a spawned callback).
    pub callbacks: TaskCallbacks,
}

/// What resolves task tokens: the executor implements it, so this module never depends on
/// the executor. [`TaskCallbacks`] holds it weakly, as handlers must not keep the executor
/// alive.
pub(crate) trait TokenResolver: Send + Sync {
    /// `SendTaskSuccess`.
    fn task_success(&self, token: &str, output: Value) -> Result<(), TokenError>;
    /// `SendTaskFailure`.
    fn task_failure(&self, token: &str, error: &str, cause: Option<&str>) -> Result<(), TokenError>;
    /// `SendTaskHeartbeat`: resolves once the execution has taken the heartbeat into account.
    fn task_heartbeat<'a>(&'a self, token: &'a str) -> Pin<Box<dyn Future<Output = Result<(), TokenError>> + Send + 'a>>;
}

/// Resolves task tokens from inside handlers (given in [`TaskContext::callbacks`]).
#[derive(Clone)]
pub struct TaskCallbacks {
    inner: Weak<dyn TokenResolver>,
}

impl std::fmt::Debug for TaskCallbacks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TaskCallbacks")
    }
}

impl TaskCallbacks {
    /// Callbacks resolving tokens through `inner` while it lives.
    pub(crate) fn new(inner: Weak<dyn TokenResolver>) -> Self {
        TaskCallbacks { inner }
    }
    fn get(&self, token: &str) -> Result<Arc<dyn TokenResolver>, TokenError> {
        self.inner.upgrade().ok_or_else(|| TokenError::TaskClosed(token.to_string()))
    }
    /// See [`Executor::send_task_success`].
    ///
    /// [`Executor::send_task_success`]: crate::Executor::send_task_success
    pub async fn send_task_success(&self, token: &str, output: Value) -> Result<(), TokenError> {
        self.get(token)?.task_success(token, output)
    }
    /// See [`Executor::send_task_failure`].
    ///
    /// [`Executor::send_task_failure`]: crate::Executor::send_task_failure
    pub async fn send_task_failure(&self, token: &str, error: &str, cause: Option<&str>) -> Result<(), TokenError> {
        self.get(token)?.task_failure(token, error, cause)
    }
    /// See [`Executor::send_task_heartbeat`].
    ///
    /// [`Executor::send_task_heartbeat`]: crate::Executor::send_task_heartbeat
    pub async fn send_task_heartbeat(&self, token: &str) -> Result<(), TokenError> {
        let inner = self.get(token)?;
        inner.task_heartbeat(token).await
    }
}

/// The boxed future a handler returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<Value, TaskError>> + Send>>;
pub(crate) type Handler = Arc<dyn Fn(TaskInput) -> HandlerFuture + Send + Sync>;

/// Async task handlers keyed by resource ARN, or by `FunctionName` for
/// `arn:aws:states:::lambda:invoke`.
///
/// Lookups try the exact key first, then compare Lambda function names, so a handler
/// registered as `my-fn` also serves `arn:aws:lambda:us-east-1:123456789012:function:my-fn`
/// (and qualified `...:my-fn:live`), and vice versa.
#[derive(Clone, Default)]
pub struct TaskRegistry {
    handlers: HashMap<String, Handler>,
}

impl std::fmt::Debug for TaskRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut keys: Vec<_> = self.handlers.keys().collect();
        keys.sort();
        f.debug_struct("TaskRegistry").field("keys", &keys).finish()
    }
}

/// `arn:aws:lambda:region:account:function:name[:qualifier]` → `name`; other keys unchanged.
fn lambda_name(key: &str) -> &str {
    match key.strip_prefix("arn:aws:lambda:") {
        Some(rest) => rest.split(':').nth(3).unwrap_or(key),
        None if key.starts_with("arn:") => key,
        None => key.split(':').next().unwrap_or(key),
    }
}

impl TaskRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `handler` under `key`, replacing any previous one.
    pub fn register<F, Fut>(&mut self, key: impl Into<String>, handler: F) -> &mut Self
    where
        F: Fn(TaskInput) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, TaskError>> + Send + 'static,
    {
        let h: Handler = Arc::new(move |input| Box::pin(handler(input)) as HandlerFuture);
        self.handlers.insert(key.into(), h);
        self
    }

    /// Whether a handler would be found for `key`.
    pub fn contains(&self, key: &str) -> bool {
        self.lookup(key).is_some()
    }

    pub(crate) fn lookup(&self, key: &str) -> Option<Handler> {
        if let Some(h) = self.handlers.get(key) {
            return Some(h.clone());
        }
        let name = lambda_name(key);
        let mut found: Vec<(&String, &Handler)> = self.handlers.iter().filter(|(k, _)| lambda_name(k) == name).collect();
        found.sort_by(|a, b| a.0.cmp(b.0));
        found.first().map(|(_, h)| (*h).clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_handlers_are_found_by_name_or_arn() {
        let mut r = TaskRegistry::new();
        r.register("validate", |_| async { Ok(Value::Null) });
        r.register("arn:aws:lambda:eu-west-1:123456789012:function:other", |_| async { Ok(Value::Null) });
        assert!(r.contains("validate"));
        assert!(r.contains("arn:aws:lambda:us-east-1:123456789012:function:validate"));
        assert!(r.contains("arn:aws:lambda:us-east-1:123456789012:function:validate:live"));
        assert!(r.contains("other"));
        assert!(!r.contains("validat"));
        assert!(!r.contains("arn:aws:states:::sqs:sendMessage"));
    }
}
