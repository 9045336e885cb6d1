//! What no emulator implements (handshakes, Support, Step Functions task tokens, error
//! shapes), with aws-smithy-mocks rules that answer as AWS does on the wire.

use std::time::Duration;

use aws_sdk_organizations::primitives::DateTime;
use aws_sdk_organizations::types::{ActionType, Handshake, HandshakeParty, HandshakePartyType, HandshakeState as AwsState};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use migration::error::{AccessError, ExecutionError, OrgError, Refusal};
use migration::ports::{CustomerAccess, Executions, Organizations, TokenDelivery};
use migration::record::{HandshakeState, SupportPlan};
use migration::{AwsAccountId, HandshakeId, MigrationId, TaskToken};
use migration_aws::{AwsCustomerAccess, AwsOrganizations, AwsSupportProbe, StepFunctionsExecutions};

const ACCOUNT: &str = "000123456789";
const REQUESTED: i64 = 1_772_442_000; // 2026-03-02T09:00:00Z
const FIFTEEN_DAYS: i64 = 15 * 24 * 3600;

fn account() -> AwsAccountId {
    ACCOUNT.parse().unwrap()
}

fn migration_id() -> MigrationId {
    "01JNK4Q6X1V8W5Z2Y3A4B5C6D7".parse().unwrap()
}

/// An awsJson error response, as Organizations, Support and Step Functions send them.
fn json_error(code: &str, extra: &str) -> Option<String> {
    Some(format!(r#"{{"__type":"{code}","Message":"{code} from the mock"{extra}}}"#))
}

fn handshake(id: &str, account: &str, state: AwsState) -> Handshake {
    Handshake::builder()
        .id(id)
        .state(state)
        .action(ActionType::InviteAccountToOrganization)
        .parties(HandshakeParty::builder().id("o-partner0001").r#type(HandshakePartyType::Organization).build().unwrap())
        .parties(HandshakeParty::builder().id(account).r#type(HandshakePartyType::Account).build().unwrap())
        .requested_timestamp(DateTime::from_secs(REQUESTED))
        .expiration_timestamp(DateTime::from_secs(REQUESTED + FIFTEEN_DAYS))
        .build()
}

mod organizations {
    use super::*;
    use aws_sdk_organizations::Client;
    use aws_sdk_organizations::operation::cancel_handshake::CancelHandshakeOutput;
    use aws_sdk_organizations::operation::describe_account::DescribeAccountOutput;
    use aws_sdk_organizations::operation::describe_handshake::DescribeHandshakeOutput;
    use aws_sdk_organizations::operation::invite_account_to_organization::InviteAccountToOrganizationOutput;
    use aws_sdk_organizations::operation::list_handshakes_for_organization::ListHandshakesForOrganizationOutput;
    use aws_sdk_organizations::types::Account;

    fn listing(handshakes: Vec<Handshake>, next: Option<&str>) -> ListHandshakesForOrganizationOutput {
        ListHandshakesForOrganizationOutput::builder().set_handshakes(Some(handshakes)).set_next_token(next.map(str::to_owned)).build()
    }

    #[tokio::test]
    async fn reuses_an_open_invitation_found_after_an_empty_page_without_inviting() {
        let empty_first = mock!(Client::list_handshakes_for_organization)
            .match_requests(|r| {
                r.next_token().is_none() && r.filter().and_then(|f| f.action_type()) == Some(&ActionType::InviteAccountToOrganization)
            })
            .then_output(|| listing(vec![], Some("page-2")));
        let second =
            mock!(Client::list_handshakes_for_organization).match_requests(|r| r.next_token() == Some("page-2")).then_output(|| {
                listing(
                    vec![handshake("h-declined01", ACCOUNT, AwsState::Declined), handshake("h-otheracct1", "000111222333", AwsState::Open)],
                    Some("page-3"),
                )
            });
        let third = mock!(Client::list_handshakes_for_organization)
            .match_requests(|r| r.next_token() == Some("page-3"))
            .then_output(|| listing(vec![handshake("h-open00001", ACCOUNT, AwsState::Open)], None));
        let invite = mock!(Client::invite_account_to_organization).then_output(|| InviteAccountToOrganizationOutput::builder().build());
        let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&empty_first, &second, &third, &invite]);

        let got = AwsOrganizations::new(client).invite_account(&account(), migration_id()).await.expect("reused");

        assert_eq!(got.id.as_str(), "h-open00001");
        assert_eq!(got.state, HandshakeState::Open);
        assert_eq!(got.account_id, account());
        assert_eq!(got.expires_at.timestamp(), REQUESTED + FIFTEEN_DAYS);
        assert_eq!((empty_first.num_calls(), second.num_calls(), third.num_calls()), (1, 1, 1), "every page was read");
        assert_eq!(invite.num_calls(), 0, "no invitation is sent");
    }

    #[tokio::test]
    async fn invites_when_no_open_invitation_exists_naming_the_migration() {
        let list = mock!(Client::list_handshakes_for_organization)
            .then_output(|| listing(vec![handshake("h-expired001", ACCOUNT, AwsState::Expired)], None));
        let invite = mock!(Client::invite_account_to_organization)
            .match_requests(|r| {
                r.target().is_some_and(|t| t.id() == ACCOUNT && t.r#type() == &HandshakePartyType::Account)
                    && r.notes().is_some_and(|n| n.contains("01JNK4Q6X1V8W5Z2Y3A4B5C6D7"))
            })
            .then_output(|| {
                InviteAccountToOrganizationOutput::builder().handshake(handshake("h-new000001", ACCOUNT, AwsState::Open)).build()
            });
        let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&list, &invite]);

        let got = AwsOrganizations::new(client).invite_account(&account(), migration_id()).await.expect("invited");

        assert_eq!(got.id.as_str(), "h-new000001");
        assert_eq!(invite.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_duplicate_handshake_is_adopted() {
        let first_list = mock!(Client::list_handshakes_for_organization).then_output(|| listing(vec![], None));
        let invite = mock!(Client::invite_account_to_organization)
            .sequence()
            .http_status(400, json_error("DuplicateHandshakeException", ""))
            .build();
        let second_list = mock!(Client::list_handshakes_for_organization)
            .then_output(|| listing(vec![handshake("h-concurrent1", ACCOUNT, AwsState::Requested)], None));
        let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&first_list, &invite, &second_list]);

        let got = AwsOrganizations::new(client).invite_account(&account(), migration_id()).await.expect("adopted");

        assert_eq!(got.id.as_str(), "h-concurrent1");
        assert_eq!(got.state, HandshakeState::Requested);
        assert_eq!((first_list.num_calls(), invite.num_calls(), second_list.num_calls()), (1, 1, 1));
    }

    #[tokio::test]
    async fn handshake_constraint_reasons_are_retryable_or_refused() {
        let retry = |reason: &str| OrgError::Retryable { code: reason.into(), message: String::new() };
        let refuse = |refusal| OrgError::Refused { refusal, message: String::new() };
        let cases = [
            ("HANDSHAKE_RATE_LIMIT_EXCEEDED", retry("HANDSHAKE_RATE_LIMIT_EXCEEDED")),
            ("ORGANIZATION_MEMBERSHIP_CHANGE_RATE_LIMIT_EXCEEDED", retry("ORGANIZATION_MEMBERSHIP_CHANGE_RATE_LIMIT_EXCEEDED")),
            ("ACCOUNT_NUMBER_LIMIT_EXCEEDED", refuse(Refusal::AccountNumberLimitExceeded)),
            ("PAYMENT_INSTRUMENT_REQUIRED", refuse(Refusal::PaymentInstrumentRequired)),
            ("ORGANIZATION_FROM_DIFFERENT_SELLER_OF_RECORD", refuse(Refusal::DifferentSellerOfRecord)),
            ("ALREADY_IN_AN_ORGANIZATION", refuse(Refusal::AlreadyInAnOrganization)),
            ("MANAGEMENT_ACCOUNT_EMAIL_NOT_VERIFIED", refuse(Refusal::AccountOwnerNotVerified)),
            ("INVITE_DISABLED_DURING_ENABLE_ALL_FEATURES", refuse(Refusal::Other("INVITE_DISABLED_DURING_ENABLE_ALL_FEATURES".into()))),
        ];
        for (reason, expected) in cases {
            let list = mock!(Client::list_handshakes_for_organization).then_output(|| listing(vec![], None));
            let body = json_error("HandshakeConstraintViolationException", &format!(r#","Reason":"{reason}""#));
            let invite = mock!(Client::invite_account_to_organization).sequence().http_status(400, body).build();
            let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&list, &invite]);

            let err = AwsOrganizations::new(client).invite_account(&account(), migration_id()).await.unwrap_err();

            assert_eq!(without_message(err), expected, "{reason}");
        }
    }

    #[tokio::test]
    async fn other_invitation_errors_are_classified() {
        let retry = |code: &str| OrgError::Retryable { code: code.into(), message: String::new() };
        let cases = [
            ("AccountOwnerNotVerifiedException", OrgError::Refused { refusal: Refusal::AccountOwnerNotVerified, message: String::new() }),
            ("ConcurrentModificationException", retry("ConcurrentModificationException")),
            ("TooManyRequestsException", retry("TooManyRequestsException")),
            ("FinalizingOrganizationException", retry("FinalizingOrganizationException")),
            ("ServiceException", retry("ServiceException")),
            ("AccessDeniedException", OrgError::AccessDenied(String::new())),
        ];
        for (code, expected) in cases {
            let list = mock!(Client::list_handshakes_for_organization).then_output(|| listing(vec![], None));
            // Repeated, so the retryable ones stay refused through the client's own retries.
            let invite =
                mock!(Client::invite_account_to_organization).sequence().http_status(400, json_error(code, "")).repeatedly().build();
            let client =
                mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&list, &invite], |c| c.retry_config(super::fast_retries(2)));
            let err = AwsOrganizations::new(client).invite_account(&account(), migration_id()).await.unwrap_err();
            assert_eq!(without_message(err), expected, "{code}");
        }
    }

    #[tokio::test]
    async fn the_parent_is_found_after_an_empty_page_and_none_at_all_is_account_not_found() {
        use aws_sdk_organizations::operation::list_parents::ListParentsOutput;
        use aws_sdk_organizations::types::{Parent, ParentType};
        let empty_first = mock!(Client::list_parents)
            .match_requests(|r| r.child_id() == Some(ACCOUNT) && r.next_token().is_none())
            .then_output(|| ListParentsOutput::builder().set_parents(Some(vec![])).next_token("page-2").build());
        let second = mock!(Client::list_parents).match_requests(|r| r.next_token() == Some("page-2")).then_output(|| {
            ListParentsOutput::builder()
                .parents(Parent::builder().id("ou-ab12-onboard").r#type(ParentType::OrganizationalUnit).build())
                .build()
        });
        let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&empty_first, &second]);
        assert_eq!(AwsOrganizations::new(client).parent_of(&account()).await, Ok("ou-ab12-onboard".to_owned()));
        assert_eq!(second.num_calls(), 1);

        let none = mock!(Client::list_parents).then_output(|| ListParentsOutput::builder().set_parents(Some(vec![])).build());
        let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&none]);
        assert_eq!(AwsOrganizations::new(client).parent_of(&account()).await, Err(OrgError::AccountNotFound));
    }

    #[tokio::test]
    async fn policy_changes_in_progress_is_retryable() {
        // AttachPolicy's PolicyChangesInProgressException: "try the operation again later".
        let attach = mock!(Client::attach_policy)
            .sequence()
            .http_status(400, json_error("PolicyChangesInProgressException", ""))
            .repeatedly()
            .build();
        let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&attach], |c| c.retry_config(super::fast_retries(2)));
        let err = AwsOrganizations::new(client).attach_policy("p-guard0001", &account()).await.unwrap_err();
        assert_eq!(without_message(err), OrgError::Retryable { code: "PolicyChangesInProgressException".into(), message: String::new() });
    }

    /// Compares errors by kind and code, not by AWS's wording.
    fn without_message(err: OrgError) -> OrgError {
        match err {
            OrgError::Retryable { code, .. } => OrgError::Retryable { code, message: String::new() },
            OrgError::Refused { refusal, .. } => OrgError::Refused { refusal, message: String::new() },
            OrgError::AccessDenied(_) => OrgError::AccessDenied(String::new()),
            other => other,
        }
    }

    #[tokio::test]
    async fn cancel_on_a_decided_handshake_returns_the_state_it_reveals() {
        let id: HandshakeId = "h-decided001".parse().unwrap();
        for (code, state, expected) in [
            ("InvalidHandshakeTransitionException", AwsState::Accepted, HandshakeState::Accepted),
            ("HandshakeAlreadyInStateException", AwsState::Canceled, HandshakeState::Canceled),
        ] {
            let cancel = mock!(Client::cancel_handshake).sequence().http_status(400, json_error(code, "")).build();
            let describe =
                mock!(Client::describe_handshake).match_requests(|r| r.handshake_id() == Some("h-decided001")).then_output(move || {
                    DescribeHandshakeOutput::builder().handshake(handshake("h-decided001", ACCOUNT, state.clone())).build()
                });
            let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&cancel, &describe]);

            let got = AwsOrganizations::new(client).cancel_handshake(&id).await.expect("described");

            assert_eq!(got.state, expected, "{code}");
            assert_eq!(describe.num_calls(), 1);
        }
    }

    #[tokio::test]
    async fn cancel_of_an_open_handshake_returns_it_canceled() {
        let cancel = mock!(Client::cancel_handshake)
            .then_output(|| CancelHandshakeOutput::builder().handshake(handshake("h-open00001", ACCOUNT, AwsState::Canceled)).build());
        let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&cancel]);
        let got = AwsOrganizations::new(client).cancel_handshake(&"h-open00001".parse().unwrap()).await.unwrap();
        assert_eq!(got.state, HandshakeState::Canceled);
    }

    #[tokio::test]
    async fn describe_handshake_maps_every_state_and_not_found() {
        let cases = [
            (AwsState::Requested, HandshakeState::Requested),
            (AwsState::Open, HandshakeState::Open),
            (AwsState::Canceled, HandshakeState::Canceled),
            (AwsState::Accepted, HandshakeState::Accepted),
            (AwsState::Declined, HandshakeState::Declined),
            (AwsState::Expired, HandshakeState::Expired),
        ];
        for (aws, expected) in cases {
            let describe = mock!(Client::describe_handshake)
                .then_output(move || DescribeHandshakeOutput::builder().handshake(handshake("h-state0001", ACCOUNT, aws.clone())).build());
            let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&describe]);
            let got = AwsOrganizations::new(client).describe_handshake(&"h-state0001".parse().unwrap()).await.unwrap();
            assert_eq!(got.state, expected);
            assert_eq!(got.requested_at.timestamp(), REQUESTED);
        }
        let missing = mock!(Client::describe_handshake).sequence().http_status(400, json_error("HandshakeNotFoundException", "")).build();
        let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&missing]);
        let err = AwsOrganizations::new(client).describe_handshake(&"h-missing001".parse().unwrap()).await.unwrap_err();
        assert_eq!(err, OrgError::HandshakeNotFound);
    }

    #[tokio::test]
    async fn membership_is_the_exact_join_time_or_none() {
        let joined = DateTime::from_fractional_secs(REQUESTED + 3600, 0.25);
        let member = mock!(Client::describe_account).then_output(move || {
            DescribeAccountOutput::builder().account(Account::builder().id(ACCOUNT).joined_timestamp(joined).build()).build()
        });
        let stranger = mock!(Client::describe_account).sequence().http_status(400, json_error("AccountNotFoundException", "")).build();
        let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&member, &stranger]);
        let orgs = AwsOrganizations::new(client);

        let membership = orgs.membership(&account()).await.unwrap().expect("a member");
        assert_eq!(membership.joined_at.timestamp_millis(), (REQUESTED + 3600) * 1000 + 250, "to the millisecond");
        assert_eq!(orgs.membership(&"000999888777".parse().unwrap()).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_throttled_listing_is_retried_by_the_client_then_succeeds() {
        let list = mock!(Client::list_handshakes_for_organization)
            .sequence()
            .http_status(400, json_error("TooManyRequestsException", ""))
            .output(|| listing(vec![handshake("h-open00001", ACCOUNT, AwsState::Open)], None))
            .build();
        let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&list], |c| c.retry_config(super::fast_retries(3)));

        let got = AwsOrganizations::new(client).invite_account(&account(), migration_id()).await.expect("retried");

        assert_eq!(got.id.as_str(), "h-open00001");
        assert_eq!(list.num_calls(), 2, "one throttled attempt, one success");
    }
}

fn fast_retries(attempts: u32) -> aws_smithy_types::retry::RetryConfig {
    aws_smithy_types::retry::RetryConfig::standard()
        .with_max_attempts(attempts)
        .with_initial_backoff(Duration::from_millis(1))
        .with_max_backoff(Duration::from_millis(5))
}

mod support {
    use super::*;
    use aws_sdk_support::Client;
    use aws_sdk_support::operation::describe_severity_levels::DescribeSeverityLevelsOutput;
    use aws_sdk_support::types::SeverityLevel;

    fn levels(codes: &'static [&'static str]) -> DescribeSeverityLevelsOutput {
        DescribeSeverityLevelsOutput::builder()
            .set_severity_levels(Some(codes.iter().map(|c| SeverityLevel::builder().code(*c).name(*c).build()).collect()))
            .build()
    }

    #[tokio::test]
    async fn subscription_required_means_basic_or_developer() {
        let rule =
            mock!(Client::describe_severity_levels).sequence().http_status(400, json_error("SubscriptionRequiredException", "")).build();
        let client = mock_client!(aws_sdk_support, RuleMode::Sequential, [&rule]);
        let answer = AwsSupportProbe::probe(&client).await;
        assert_eq!(answer.plan, SupportPlan::BasicOrDeveloper);
    }

    #[tokio::test]
    async fn errors_that_say_nothing_of_the_plan_are_unknown_never_basic() {
        for (status, code) in [
            (400, "AccessDeniedException"),
            (400, "ThrottlingException"),
            (500, "InternalServerError"),
            (400, "UnrecognizedClientException"),
        ] {
            let rule = mock!(Client::describe_severity_levels).sequence().http_status(status, json_error(code, "")).repeatedly().build();
            let client = mock_client!(aws_sdk_support, RuleMode::Sequential, [&rule], |c| c.retry_config(super::fast_retries(2)));
            let answer = AwsSupportProbe::probe(&client).await;
            assert_eq!(answer.plan, SupportPlan::Unknown, "{code}");
            assert!(answer.detail.as_deref().is_some_and(|d| d.contains(code)), "{code}: {:?}", answer.detail);
        }
    }

    #[tokio::test]
    async fn an_answer_means_paid_and_names_the_plan_class() {
        for (codes, class) in [
            (&["low", "normal", "high", "urgent", "critical"][..], "Enterprise-class"),
            (&["low", "normal", "high", "urgent"][..], "Business-class"),
        ] {
            let rule = mock!(Client::describe_severity_levels).then_output(move || levels(codes));
            let client = mock_client!(aws_sdk_support, RuleMode::Sequential, [&rule]);
            let answer = AwsSupportProbe::probe(&client).await;
            assert_eq!(answer.plan, SupportPlan::Paid);
            assert!(answer.detail.as_deref().is_some_and(|d| d.starts_with(class)), "{:?}", answer.detail);
        }
    }

    #[tokio::test]
    async fn a_throttled_probe_is_retried_then_answers() {
        let rule = mock!(Client::describe_severity_levels)
            .sequence()
            .http_status(400, json_error("ThrottlingException", ""))
            .output(|| levels(&["low", "normal", "high", "urgent"]))
            .build();
        let client = mock_client!(aws_sdk_support, RuleMode::Sequential, [&rule], |c| c.retry_config(super::fast_retries(3)));
        assert_eq!(AwsSupportProbe::probe(&client).await.plan, SupportPlan::Paid);
        assert_eq!(rule.num_calls(), 2);
    }
}

mod step_functions {
    use super::*;
    use aws_sdk_sfn::Client;
    use aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput;
    use aws_sdk_sfn::operation::send_task_failure::SendTaskFailureOutput;
    use aws_sdk_sfn::operation::send_task_success::SendTaskSuccessOutput;
    use aws_sdk_sfn::operation::start_execution::StartExecutionOutput;
    use aws_sdk_sfn::operation::stop_execution::StopExecutionOutput;
    use aws_sdk_sfn::types::ExecutionStatus;

    const STATE_MACHINE: &str = "arn:aws:states:us-east-1:999999999999:stateMachine:cam-migration";

    fn execution_arn() -> String {
        format!("arn:aws:states:us-east-1:999999999999:execution:cam-migration:{}", migration_id())
    }

    fn described(input: &'static str, status: ExecutionStatus) -> DescribeExecutionOutput {
        DescribeExecutionOutput::builder()
            .execution_arn(execution_arn())
            .state_machine_arn(STATE_MACHINE)
            .status(status)
            .start_date(aws_sdk_sfn::primitives::DateTime::from_secs(REQUESTED))
            .input(input)
            .build()
            .unwrap()
    }

    fn adapter(client: Client) -> StepFunctionsExecutions {
        StepFunctionsExecutions::new(client, STATE_MACHINE)
    }

    #[tokio::test]
    async fn start_names_the_execution_after_the_migration() {
        let start = mock!(Client::start_execution)
            .match_requests(|r| r.name() == Some("01JNK4Q6X1V8W5Z2Y3A4B5C6D7") && r.state_machine_arn() == Some(STATE_MACHINE))
            .then_output(|| {
                StartExecutionOutput::builder()
                    .execution_arn(execution_arn())
                    .start_date(aws_sdk_sfn::primitives::DateTime::from_secs(0))
                    .build()
                    .unwrap()
            });
        let client = mock_client!(aws_sdk_sfn, RuleMode::Sequential, [&start]);
        adapter(client).start(migration_id(), serde_json::json!({"migration_id": migration_id()})).await.expect("started");
        assert_eq!(start.num_calls(), 1);
    }

    #[tokio::test]
    async fn an_existing_execution_with_the_same_input_is_success_and_another_input_is_name_taken() {
        for (stored, expected) in [
            (r#"{ "migration_id": "01JNK4Q6X1V8W5Z2Y3A4B5C6D7" }"#, Ok(())),
            (r#"{"migration_id":"SOMETHING-ELSE"}"#, Err(ExecutionError::NameTaken(migration_id().to_string()))),
        ] {
            let start = mock!(Client::start_execution).sequence().http_status(400, json_error("ExecutionAlreadyExists", "")).build();
            let describe = mock!(Client::describe_execution)
                .match_requests(|r| r.execution_arn() == Some(execution_arn().as_str()))
                .then_output(move || described(stored, ExecutionStatus::Running));
            let client = mock_client!(aws_sdk_sfn, RuleMode::Sequential, [&start, &describe]);

            let got = adapter(client).start(migration_id(), serde_json::json!({"migration_id": migration_id()})).await;

            assert_eq!(got, expected, "{stored}");
            assert_eq!(describe.num_calls(), 1);
        }
    }

    #[tokio::test]
    async fn an_ended_execution_is_reported_ended_whatever_its_input() {
        // AWS: "when the original execution is closed, ExecutionAlreadyExists is returned
        // regardless of input"; the same input must not pass for a started execution then.
        for (status, input) in [
            (ExecutionStatus::Aborted, r#"{"migration_id":"01JNK4Q6X1V8W5Z2Y3A4B5C6D7"}"#),
            (ExecutionStatus::Failed, r#"{"migration_id":"SOMETHING-ELSE"}"#),
            (ExecutionStatus::Succeeded, r#"{"migration_id":"01JNK4Q6X1V8W5Z2Y3A4B5C6D7"}"#),
        ] {
            let start = mock!(Client::start_execution).sequence().http_status(400, json_error("ExecutionAlreadyExists", "")).build();
            let expected = status.as_str().to_owned();
            let describe = mock!(Client::describe_execution).then_output(move || described(input, status.clone()));
            let client = mock_client!(aws_sdk_sfn, RuleMode::Sequential, [&start, &describe]);

            let got = adapter(client).start(migration_id(), serde_json::json!({"migration_id": migration_id()})).await;

            assert_eq!(got, Err(ExecutionError::Ended(expected)), "{input}");
        }
    }

    #[tokio::test]
    async fn stopping_a_missing_or_finished_execution_is_success() {
        let missing = mock!(Client::stop_execution).sequence().http_status(400, json_error("ExecutionDoesNotExist", "")).build();
        let client = mock_client!(aws_sdk_sfn, RuleMode::Sequential, [&missing]);
        adapter(client).stop(migration_id(), "Migration.Canceled", "canceled by the customer").await.expect("missing is fine");

        let finished = mock!(Client::stop_execution).sequence().http_status(400, json_error("ValidationException", "")).build();
        let describe = mock!(Client::describe_execution).then_output(|| described("{}", ExecutionStatus::Failed));
        let client = mock_client!(aws_sdk_sfn, RuleMode::Sequential, [&finished, &describe]);
        adapter(client).stop(migration_id(), "Migration.Canceled", "x").await.expect("finished is fine");

        let stopped = mock!(Client::stop_execution)
            .match_requests(|r| r.error() == Some("Migration.Canceled") && r.execution_arn() == Some(execution_arn().as_str()))
            .then_output(|| StopExecutionOutput::builder().stop_date(aws_sdk_sfn::primitives::DateTime::from_secs(0)).build().unwrap());
        let client = mock_client!(aws_sdk_sfn, RuleMode::Sequential, [&stopped]);
        adapter(client).stop(migration_id(), "Migration.Canceled", "x").await.expect("stopped");
        assert_eq!(stopped.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_timed_out_or_unknown_task_was_already_resolved() {
        let token = TaskToken::new("AQCEAAAAKgAAAAMAAAAAAAAAAbcd");
        for code in ["TaskTimedOut", "TaskDoesNotExist"] {
            let success = mock!(Client::send_task_success).sequence().http_status(400, json_error(code, "")).build();
            let failure = mock!(Client::send_task_failure).sequence().http_status(400, json_error(code, "")).build();
            let client = mock_client!(aws_sdk_sfn, RuleMode::Sequential, [&success, &failure]);
            let sfn = adapter(client);
            assert_eq!(sfn.send_task_success(&token, serde_json::json!({})).await, Ok(TokenDelivery::AlreadyResolved), "{code}");
            assert_eq!(
                sfn.send_task_failure(&token, "Migration.InvitationDeclined", "x").await,
                Ok(TokenDelivery::AlreadyResolved),
                "{code}"
            );
        }
        let invalid = mock!(Client::send_task_success).sequence().http_status(400, json_error("InvalidToken", "")).build();
        let client = mock_client!(aws_sdk_sfn, RuleMode::Sequential, [&invalid]);
        let err = adapter(client).send_task_success(&token, serde_json::json!({})).await.unwrap_err();
        assert!(matches!(err, ExecutionError::Other(ref m) if m.starts_with("InvalidToken")), "{err:?}");
    }

    #[tokio::test]
    async fn tokens_are_delivered_with_the_error_name() {
        let token = TaskToken::new("token-1");
        let success = mock!(Client::send_task_success)
            .match_requests(|r| r.task_token() == Some("token-1") && r.output() == Some(r#"{"joined_at":"x"}"#))
            .then_output(|| SendTaskSuccessOutput::builder().build());
        let failure = mock!(Client::send_task_failure)
            .match_requests(|r| r.error() == Some("Migration.InvitationExpired"))
            .then_output(|| SendTaskFailureOutput::builder().build());
        let client = mock_client!(aws_sdk_sfn, RuleMode::Sequential, [&success, &failure]);
        let sfn = adapter(client);
        assert_eq!(sfn.send_task_success(&token, serde_json::json!({"joined_at": "x"})).await, Ok(TokenDelivery::Delivered));
        assert_eq!(sfn.send_task_failure(&token, "Migration.InvitationExpired", "expired").await, Ok(TokenDelivery::Delivered));
    }

    #[tokio::test]
    async fn a_throttled_delivery_is_retried_then_delivered() {
        let rule = mock!(Client::send_task_success)
            .sequence()
            .http_status(400, json_error("ThrottlingException", ""))
            .output(|| SendTaskSuccessOutput::builder().build())
            .build();
        let client = mock_client!(aws_sdk_sfn, RuleMode::Sequential, [&rule], |c| c.retry_config(super::fast_retries(3)));
        let got = adapter(client).send_task_success(&TaskToken::new("t"), serde_json::json!({})).await;
        assert_eq!(got, Ok(TokenDelivery::Delivered));
        assert_eq!(rule.num_calls(), 2);
    }

    #[tokio::test]
    async fn throttling_beyond_the_retries_is_retryable() {
        let rule = mock!(Client::start_execution).sequence().http_status(400, json_error("ThrottlingException", "")).repeatedly().build();
        let client = mock_client!(aws_sdk_sfn, RuleMode::Sequential, [&rule], |c| c.retry_config(super::fast_retries(2)));
        let err = adapter(client).start(migration_id(), serde_json::json!({})).await.unwrap_err();
        assert!(matches!(err, ExecutionError::Retryable(ref m) if m.starts_with("ThrottlingException")), "{err:?}");
        assert_eq!(rule.num_calls(), 2, "the client retried once before giving up");
    }
}

mod dynamodb {
    use super::*;
    use aws_sdk_dynamodb::Client;
    use migration::StoreError;
    use migration::ports::MigrationStore;
    use migration_aws::DynamoStore;

    /// A TransactWriteItems refusal with one cancellation reason per item, as DynamoDB sends it.
    fn canceled(codes: &[&str]) -> Option<String> {
        let reasons: Vec<String> = codes.iter().map(|c| format!(r#"{{"Code":"{c}","Message":"{c} from the mock"}}"#)).collect();
        json_error(
            "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            &format!(r#","CancellationReasons":[{}]"#, reasons.join(",")),
        )
    }

    #[tokio::test]
    async fn a_canceled_transaction_is_unavailable_only_when_throttled() {
        let at = migration_sim::contract::t0();
        let record = migration_sim::contract::sample_record("acme", ACCOUNT, at);
        let event = migration::record::created_event(&record);
        for (codes, transient) in [
            (&["ThrottlingError", "None", "None"][..], true),
            (&["None", "ProvisionedThroughputExceeded", "None"][..], true),
            (&["ValidationError", "None", "None"][..], false),
            (&["None", "None", "ItemCollectionSizeLimitExceeded"][..], false),
        ] {
            let body = canceled(codes);
            let transact = mock!(Client::transact_write_items).sequence().http_status(400, body).build();
            let client = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&transact]);

            let err = DynamoStore::new(client, "cam-migrations").create(&record, &event, None).await.unwrap_err();

            match (transient, &err) {
                (true, StoreError::Unavailable(m)) | (false, StoreError::Other(m)) => {
                    assert!(m.contains(codes.iter().find(|c| **c != "None").unwrap()), "{m}")
                }
                _ => panic!("{codes:?}: {err:?}"),
            }
        }
    }
}

mod sts {
    use super::*;
    use aws_sdk_sts::Client;

    fn query_error(code: &str) -> Option<String> {
        Some(format!(
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{code} from the mock</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"
        ))
    }

    fn role() -> migration::RoleArn {
        format!("arn:aws:iam::{ACCOUNT}:role/CenturyLinkFullHardening").parse().unwrap()
    }

    async fn base_config() -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder().behavior_version(aws_config::BehaviorVersion::latest()).build()
    }

    #[tokio::test]
    async fn access_denied_means_not_assumable_and_throttling_is_retryable() {
        let denied = mock!(Client::assume_role)
            .match_requests(|r| {
                r.external_id() == Some("cam-acme-7f3a9c") && r.role_session_name() == Some("cam-migration-01JNK4Q6X1V8W5Z2Y3A4B5C6D7")
            })
            .sequence()
            .http_status(403, query_error("AccessDenied"))
            .build();
        let throttled = mock!(Client::assume_role).sequence().http_status(400, query_error("Throttling")).repeatedly().build();
        let client = mock_client!(aws_sdk_sts, RuleMode::Sequential, [&denied, &throttled], |c| c.retry_config(super::fast_retries(2)));
        let access = AwsCustomerAccess::new(client, base_config().await);

        let err = access.assume(&role(), &"cam-acme-7f3a9c".parse().unwrap(), migration_id()).await.unwrap_err();
        assert!(matches!(err, AccessError::NotAssumable(ref m) if m.starts_with("AccessDenied")), "{err:?}");
        let err = access.assume(&role(), &"cam-acme-7f3a9c".parse().unwrap(), migration_id()).await.unwrap_err();
        assert!(matches!(err, AccessError::Retryable(_)), "{err:?}");
    }

    #[tokio::test]
    async fn refused_without_external_id_is_false() {
        let denied = mock!(Client::assume_role)
            .match_requests(|r| r.external_id().is_none())
            .sequence()
            .http_status(403, query_error("AccessDenied"))
            .build();
        let client = mock_client!(aws_sdk_sts, RuleMode::Sequential, [&denied]);
        let access = AwsCustomerAccess::new(client, base_config().await);
        assert_eq!(access.assumable_without_external_id(&role(), migration_id()).await, Ok(false));
        assert_eq!(denied.num_calls(), 1);
    }
}
