//! The local stack: the real `statemachine/migration.asl.json` on the in-process ASL
//! executor, every step handler in-process over the in-memory adapters, all on one clock.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use migration::error::ExecutionError;
use migration::ports::{Clock, ExecutionState, ExecutionStatus, Executions, Ports, TokenDelivery};
use migration::workflow::{Step, run_step};
use migration::{MigrationId, TaskToken};
use migration_sim::fixtures::Fixture;

/// The state machine definition, as deployed.
pub const DEFINITION: &str = include_str!("../../../statemachine/migration.asl.json");

/// The domain's clock is the executor's clock, so waits, timeouts and records agree.
pub struct ExecutorClock(pub asl::Clock);

impl Clock for ExecutorClock {
    fn now(&self) -> DateTime<Utc> {
        match &self.0 {
            asl::Clock::Virtual(v) => v.now(),
            asl::Clock::System(_) => Utc::now(),
        }
    }
}

/// The executions port on the in-process executor (set once the executor exists, since
/// the executor's handlers need the ports that hold this).
#[derive(Default)]
pub struct LocalExecutions(OnceLock<asl::Executor>);

impl LocalExecutions {
    /// Connects the executor this port starts and answers executions on. Set once, after
    /// the executor (whose handlers need the ports holding this) exists.
    pub fn attach(&self, executor: &asl::Executor) {
        assert!(self.0.set(executor.clone()).is_ok(), "one executions port serves one executor");
    }

    fn executor(&self) -> Result<&asl::Executor, ExecutionError> {
        self.0.get().ok_or_else(|| ExecutionError::Other("the local executor is not ready".into()))
    }
}

fn delivery(result: Result<(), asl::TokenError>) -> Result<TokenDelivery, ExecutionError> {
    match result {
        Ok(()) => Ok(TokenDelivery::Delivered),
        Err(asl::TokenError::TaskClosed(_)) => Ok(TokenDelivery::AlreadyResolved),
        Err(e) => Err(ExecutionError::Other(e.to_string())),
    }
}

#[async_trait]
impl Executions for LocalExecutions {
    async fn start(&self, migration: MigrationId, input: serde_json::Value) -> Result<(), ExecutionError> {
        let executor = self.executor()?;
        match executor.start(&migration.to_string(), input).await {
            Ok(_) => Ok(()),
            // As the AWS adapter: an ended execution is told apart from a running one.
            Err(asl::StartError::ExecutionAlreadyExists(name)) => match executor.execution(&name).map(|h| h.status()) {
                Some(status) if status != asl::Status::Running => Err(ExecutionError::Ended(status.to_string())),
                _ => Err(ExecutionError::NameTaken(name)),
            },
            Err(e) => Err(ExecutionError::Other(e.to_string())),
        }
    }

    async fn stop(&self, migration: MigrationId, error: &str, cause: &str) -> Result<(), ExecutionError> {
        if let Some(handle) = self.executor()?.execution(&migration.to_string()) {
            handle.stop(Some(error), Some(cause)).await;
        }
        Ok(())
    }

    async fn send_task_success(&self, token: &TaskToken, output: serde_json::Value) -> Result<TokenDelivery, ExecutionError> {
        delivery(self.executor()?.send_task_success(token.expose(), output).await)
    }

    async fn send_task_failure(&self, token: &TaskToken, error: &str, cause: &str) -> Result<TokenDelivery, ExecutionError> {
        delivery(self.executor()?.send_task_failure(token.expose(), error, Some(cause)).await)
    }

    fn execution_arn(&self, migration: MigrationId) -> Option<String> {
        let executor = self.0.get()?;
        Some(migration::ports::execution_arn(executor.state_machine_arn(), migration))
    }

    async fn describe(&self, migration: MigrationId) -> Result<Option<ExecutionState>, ExecutionError> {
        let Some(handle) = self.executor()?.execution(&migration.to_string()) else { return Ok(None) };
        let outcome = handle.describe();
        let status = match outcome.status {
            asl::Status::Running => ExecutionStatus::Running,
            asl::Status::Succeeded => ExecutionStatus::Succeeded,
            asl::Status::Failed => ExecutionStatus::Failed,
            asl::Status::TimedOut => ExecutionStatus::TimedOut,
            asl::Status::Aborted => ExecutionStatus::Aborted,
        };
        Ok(Some(ExecutionState {
            status,
            started_at: outcome.start_date,
            stopped_at: outcome.stop_date,
            error: outcome.error,
            cause: outcome.cause,
        }))
    }
}

/// The ARNs the template substitutes, for the local region and account.
pub fn substitutions() -> HashMap<String, String> {
    Step::ALL
        .into_iter()
        .map(|s| (s.substitution().to_owned(), format!("arn:aws:lambda:us-east-1:123456789012:function:{}", s.function_name())))
        .collect()
}

/// The in-process executor with one handler per step over `ports`. `executions` must be
/// the port inside `ports`, so steps that start, stop or answer executions reach it.
pub fn build_executor(ports: &Ports, executions: &LocalExecutions, clock: asl::Clock) -> Result<asl::Executor, asl::LoadError> {
    build_executor_with(ports, executions, clock, |step, ports, task| async move { run_task(&ports, step, task).await })
}

/// The task handler as the deployed Lambda behaves: the step on the task's input, its
/// error named as the definition's `ErrorEquals` expects.
pub async fn run_task(ports: &Ports, step: Step, task: asl::TaskInput) -> Result<serde_json::Value, asl::TaskError> {
    run_step(ports, step, task.input).await.map_err(|e| asl::TaskError::new(e.name(), e.cause()))
}

/// [`build_executor`] with every step's handler given by `handler` (the step, a clone of
/// `ports`, the task), so tests can wrap [`run_task`] with faults.
pub fn build_executor_with<F, Fut>(
    ports: &Ports,
    executions: &LocalExecutions,
    clock: asl::Clock,
    handler: F,
) -> Result<asl::Executor, asl::LoadError>
where
    F: Fn(Step, Ports, asl::TaskInput) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<serde_json::Value, asl::TaskError>> + Send + 'static,
{
    let definition = asl::Definition::load(DEFINITION, &substitutions())?;
    let mut registry = asl::TaskRegistry::new();
    for step in Step::ALL {
        let ports = ports.clone();
        let handler = handler.clone();
        registry.register(step.function_name(), move |task: asl::TaskInput| handler(step, ports.clone(), task));
    }
    let options = asl::ExecutorOptions { state_machine_name: "cam-migration".into(), ..Default::default() };
    let executor = asl::Executor::with_options(definition, registry, clock, options);
    executions.attach(&executor);
    Ok(executor)
}

/// The seeded in-memory world of the fixtures, on the executor.
pub struct LocalStack {
    pub fixture: Fixture<ExecutorClock>,
    pub executor: asl::Executor,
}

impl LocalStack {
    pub async fn new(clock: asl::Clock) -> Result<Self, asl::LoadError> {
        let executions = Arc::new(LocalExecutions::default());
        let fixture = Fixture::build(Arc::new(ExecutorClock(clock.clone())), executions.clone()).await;
        let executor = build_executor(&fixture.ports, &executions, clock)?;
        Ok(Self { fixture, executor })
    }

    pub fn execution(&self, id: MigrationId) -> Option<asl::ExecutionHandle> {
        self.executor.execution(&id.to_string())
    }
}
