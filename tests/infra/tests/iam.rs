//! IAM proven from the code's own calls, both ways.
//!
//! Every function's handler runs its paths on the real AWS adapters: DynamoDB on moto, and
//! aws-smithy-mocks with AWS's real response shapes for what moto does not implement
//! (handshakes, Support, task tokens, STS's ExternalId check). Each adapter's clients carry
//! the call recorder (`migration_aws::clients`), an SDK interceptor that writes down every
//! IAM authorization request a sent request makes (a transaction's items each as their own
//! action), tagged with the function whose handler made it, or with the customer's role for
//! the clients built from its credentials.
//!
//! `tests/infra/iam_check.py` then evaluates every recorded request against that principal's
//! policy as CloudFormation will create it (the translated template, parameters filled with
//! this test's values) with moto's IAM policy evaluator, and fails on any request denied and
//! on any granted (statement, action) that no recorded request of that function used.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock};
use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;
use chrono::{DateTime, Duration, Utc};
use lambda_runtime::{Context, LambdaEvent};
use migration::ports::{MigrationStore, Ports};
use migration::request::AccessLevel;
use migration::rules::Approval;
use migration::workflow::Step;
use migration::{MigrationId, Status};
use migration_aws::{ArnContext, AwsCall, AwsPorts, CallLog, ClientHooks, DynamoStore, Resources, Service, table_definition};
use migration_sim::ManualClock;
use migration_sim::fixtures;
use migration_sim::hooks::{HookedStore, StoreCall, StoreHook, Verdict};
use serde_json::{Value, json};

const REGION: &str = "us-east-1";
const ORGANIZATION: &str = "o-partner0001";
const STACK: &str = "cam-migration";
/// The customer accounts of the scenarios, each approved.
const JOINS: &str = "000123456789"; // accepted before the wait step looks
const DECLINES: &str = "000123456790"; // declined before the wait step looks
const WATCHED: &str = "000123456791"; // open at the wait; the watcher's sweep finds it accepted
const UNSTARTED: &str = "000123456792"; // its execution never started, then ended
const CANCELED: &str = "000123456793"; // the customer cancels the open invitation
const DECLINED_LATER: &str = "000123456794"; // open at the wait; the watcher's sweep finds it declined
const TIMES_OUT: &str = "000123456795"; // open at the wait; then its execution times out
const MANAGES: &str = "000123456796"; // the management account of its own organization: refused
const RACED: &str = "000123456797"; // canceled while its invite was in flight: the invite withdraws its invitation
// Billing transfers, each a management account of its own organization:
const TRANSFERS: &str = "000123456798"; // invited, accepted before the wait looks, confirmed at its start
const TRANSFER_REUSED: &str = "000123456799"; // its invitation was sent already: the invite finds it
const TRANSFER_MISSED: &str = "000123456780"; // still unanswered when the wait looks after the last day to accept
const TRANSFER_SWEPT: &str = "000123456781"; // open at the wait; the watcher's sweep finds it accepted
const TRANSFER_SWEPT_MISSED: &str = "000123456782"; // open at the wait; the sweep finds it unanswered too late
const TRANSFER_CANCELED: &str = "000123456783"; // the customer cancels the open invitation
/// Where every billing transfer of the scenarios starts: the earliest month a request made
/// at `start()` (2026-03-02) can name.
const TRANSFER_START: &str = "2026-04-01T00:00:00Z";
const ROOT: &str = "r-ab12";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

fn required(var: &str) -> bool {
    std::env::var(var).is_ok_and(|x| !x.is_empty() && x != "0" && x != "false")
}

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z").unwrap().with_timezone(&Utc)
}

/// The snapshot bucket's KMS key, by the id `parameters` gives the template's `SnapshotKey`.
const SNAPSHOT_KEY_ID: &str = "snapshot-key-0001";

fn snapshot_key_arn() -> String {
    format!("arn:aws:kms:{REGION}:{}:key/{SNAPSHOT_KEY_ID}", fixtures::PARTNER)
}

fn arns() -> ArnContext {
    ArnContext {
        partition: "aws".into(),
        region: REGION.into(),
        account: fixtures::PARTNER.into(),
        organization: ORGANIZATION.into(),
        snapshot_kms_key: Some(snapshot_key_arn()),
    }
}

fn state_machine_arn() -> String {
    format!("arn:aws:states:{REGION}:{}:stateMachine:{STACK}-migration", fixtures::PARTNER)
}

fn json_error(status: u16, code: &str) -> (u16, Option<String>) {
    (status, Some(format!(r#"{{"__type":"{code}","Message":"{code} (mock)"}}"#)))
}

/// What one function's clients answer for the services moto does not serve.
#[derive(Default)]
struct Doubles {
    organizations: Vec<Rule>,
    sts: Vec<Rule>,
    sfn: Vec<Rule>,
    support: Vec<Rule>,
    billing: Vec<Rule>,
    cost_explorer: Vec<Rule>,
}

struct World {
    log: CallLog,
    moto: SdkConfig,
    table: String,
    /// The snapshot bucket, on moto.
    bucket: String,
    clock: Arc<ManualClock>,
}

impl World {
    /// The ports a function's handler gets: its clients recorded as `function`'s.
    fn ports(&self, function: &str, doubles: Doubles) -> Ports {
        let double = |rules: Vec<Rule>| {
            let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
            for rule in &rules {
                interceptor = interceptor.with_rule(rule);
            }
            (Some(create_mock_http_client()), vec![SharedInterceptor::new(interceptor)])
        };
        let mut hooks = ClientHooks::default().recording(&self.log, function, arns());
        for (service, rules) in [
            (Service::Organizations, doubles.organizations),
            (Service::Sts, doubles.sts),
            (Service::StepFunctions, doubles.sfn),
            (Service::Support, doubles.support),
            (Service::BillingConductor, doubles.billing),
            (Service::CostExplorer, doubles.cost_explorer),
        ] {
            let (http, interceptors) = double(rules);
            hooks = hooks.service(service, http, interceptors);
        }
        let resources = Resources::new(&self.table, &state_machine_arn()).with_snapshot_bucket(&self.bucket, Some(&snapshot_key_arn()));
        AwsPorts::from_config_with(&self.moto, &resources, &hooks).into_ports(self.clock.clone(), fixtures::settings())
    }
}

// ------------------------------------------------------------------------------------------
// Doubles, as AWS answers on the wire

/// A rule that answers many times (aws-smithy-mocks 0.1 computes a response from the input
/// only in single-use rules): more copies than any scenario makes calls.
macro_rules! times {
    ($rule:expr) => {
        (0..64).map(|_| $rule).collect::<Vec<Rule>>()
    };
}

mod doubles {
    use super::*;
    use aws_sdk_organizations::primitives::DateTime as OrgTime;
    use aws_sdk_organizations::types::{
        Account, AccountState, ActionType, Handshake, HandshakeParty, HandshakePartyType, HandshakeState, Parent, ParentType,
    };

    /// An invitation (`INVITE`) of `account`, named as its ACCOUNT party.
    pub fn handshake(account: &str, state: HandshakeState) -> Handshake {
        Handshake::builder()
            .id(format!("h-{account}"))
            .state(state)
            .action(ActionType::InviteAccountToOrganization)
            .parties(HandshakeParty::builder().id(ORGANIZATION).r#type(HandshakePartyType::Organization).build().unwrap())
            .parties(HandshakeParty::builder().id(account).r#type(HandshakePartyType::Account).build().unwrap())
            .requested_timestamp(OrgTime::from_secs(start().timestamp()))
            .expiration_timestamp(OrgTime::from_secs(start().timestamp() + 15 * 86_400))
            .build()
    }

    /// Organizations, as the partner's management account sees it: `members` are in the
    /// organization (under the root), `handshakes` says each invited account's state.
    pub fn organizations(members: &'static [&'static str], states: &'static [(&'static str, HandshakeState)]) -> Vec<Rule> {
        use aws_sdk_organizations::Client;
        use aws_sdk_organizations::operation::{
            attach_policy::AttachPolicyOutput, cancel_handshake::CancelHandshakeOutput, describe_account::DescribeAccountOutput,
            describe_handshake::DescribeHandshakeOutput, invite_account_to_organization::InviteAccountToOrganizationOutput,
            list_handshakes_for_organization::ListHandshakesForOrganizationOutput, list_parents::ListParentsOutput,
            list_policies_for_target::ListPoliciesForTargetOutput, move_account::MoveAccountOutput, tag_resource::TagResourceOutput,
        };
        use aws_sdk_organizations::types::{PolicySummary, PolicyType};
        let (status, body) = json_error(400, "AccountNotFoundException");
        let state_of = |id: &str| {
            let account = id.trim_start_matches("h-").to_owned();
            states.iter().find(|(a, _)| *a == account).map(|(_, s)| s.clone()).unwrap_or(HandshakeState::Open)
        };
        [
            times!(
                mock!(Client::describe_account)
                    .match_requests(move |i| members.contains(&i.account_id().unwrap_or_default()))
                    .then_compute_output(|i| {
                        DescribeAccountOutput::builder()
                            .account(
                                // `State`, not the retired `Status`; no `Paths`, so the
                                // hardening scan still asks ListParents.
                                Account::builder()
                                    .id(i.account_id().unwrap_or_default())
                                    .state(AccountState::Active)
                                    .joined_timestamp(OrgTime::from_secs(start().timestamp() + 3_600))
                                    .build(),
                            )
                            .build()
                    })
            ),
            vec![mock!(Client::describe_account).sequence().http_status(status, body).repeatedly().build()],
            vec![
                mock!(Client::list_handshakes_for_organization)
                    .sequence()
                    .output(|| ListHandshakesForOrganizationOutput::builder().set_handshakes(Some(vec![])).build())
                    .repeatedly()
                    .build(),
            ],
            times!(mock!(Client::invite_account_to_organization).then_compute_output(|i| {
                let account = i.target().map(|t| t.id().to_owned()).unwrap_or_default();
                InviteAccountToOrganizationOutput::builder().handshake(handshake(&account, HandshakeState::Open)).build()
            })),
            times!(mock!(Client::describe_handshake).then_compute_output(move |i| {
                let id = i.handshake_id().unwrap_or_default();
                DescribeHandshakeOutput::builder().handshake(handshake(id.trim_start_matches("h-"), state_of(id))).build()
            })),
            times!(mock!(Client::cancel_handshake).then_compute_output(|i| {
                let id = i.handshake_id().unwrap_or_default();
                CancelHandshakeOutput::builder().handshake(handshake(id.trim_start_matches("h-"), HandshakeState::Canceled)).build()
            })),
            vec![
                mock!(Client::list_parents)
                    .sequence()
                    .output(|| ListParentsOutput::builder().parents(Parent::builder().id(ROOT).r#type(ParentType::Root).build()).build())
                    .repeatedly()
                    .build(),
            ],
            vec![mock!(Client::move_account).sequence().output(|| MoveAccountOutput::builder().build()).repeatedly().build()],
            vec![
                // Every OU carries FullAWSAccess only, as CreateOrganizationalUnit leaves it:
                // the scan attaches the baseline SCPs to both OUs.
                mock!(Client::list_policies_for_target)
                    .sequence()
                    .output(|| {
                        ListPoliciesForTargetOutput::builder()
                            .policies(
                                PolicySummary::builder()
                                    .id("p-FullAWSAccess")
                                    .name("FullAWSAccess")
                                    .r#type(PolicyType::ServiceControlPolicy)
                                    .aws_managed(true)
                                    .build(),
                            )
                            .build()
                    })
                    .repeatedly()
                    .build(),
            ],
            vec![mock!(Client::attach_policy).sequence().output(|| AttachPolicyOutput::builder().build()).repeatedly().build()],
            vec![mock!(Client::tag_resource).sequence().output(|| TagResourceOutput::builder().build()).repeatedly().build()],
            vec![
                // Through the customer's role: a standalone account.
                mock!(Client::describe_organization)
                    .sequence()
                    .http_status(
                        json_error(400, "AWSOrganizationsNotInUseException").0,
                        json_error(400, "AWSOrganizationsNotInUseException").1,
                    )
                    .repeatedly()
                    .build(),
            ],
        ]
        .concat()
    }

    pub fn transfer_start() -> i64 {
        DateTime::parse_from_rfc3339(TRANSFER_START).unwrap().timestamp()
    }

    /// The billing transfer of `account` (`rt-<account>`) as the partner's management
    /// account reads it: in `status`, from [`TRANSFER_START`].
    fn responsibility_transfer(
        account: &str,
        status: aws_sdk_organizations::types::ResponsibilityTransferStatus,
    ) -> aws_sdk_organizations::types::ResponsibilityTransfer {
        use aws_sdk_organizations::types::{
            ResponsibilityTransfer, ResponsibilityTransferStatus as Rts, ResponsibilityTransferType, TransferParticipant,
        };
        ResponsibilityTransfer::builder()
            .id(format!("rt-{account}"))
            .arn(format!("arn:aws:organizations::{}:transfer/{ORGANIZATION}/billing/inbound/rt-{account}", fixtures::PARTNER))
            .r#type(ResponsibilityTransferType::Billing)
            .status(status.clone())
            .source(TransferParticipant::builder().management_account_id(account).build())
            .target(TransferParticipant::builder().management_account_id(fixtures::PARTNER).build())
            .start_timestamp(OrgTime::from_secs(transfer_start()))
            .set_active_handshake_id((status == Rts::Requested).then(|| format!("h-t{account}")))
            .build()
    }

    /// A billing-transfer invitation (`TRANSFER_RESPONSIBILITY`, `h-t<account>`) naming its transfer.
    fn transfer_handshake(account: &str) -> Handshake {
        use aws_sdk_organizations::types::{HandshakeResource, HandshakeResourceType};
        Handshake::builder()
            .id(format!("h-t{account}"))
            .state(HandshakeState::Open)
            .action(ActionType::TransferResponsibility)
            .parties(HandshakeParty::builder().id(fixtures::PARTNER).r#type(HandshakePartyType::Account).build().unwrap())
            .parties(HandshakeParty::builder().id(account).r#type(HandshakePartyType::Account).build().unwrap())
            .resources(
                HandshakeResource::builder().r#type(HandshakeResourceType::ResponsibilityTransfer).value(format!("rt-{account}")).build(),
            )
            .requested_timestamp(OrgTime::from_secs(start().timestamp()))
            .expiration_timestamp(OrgTime::from_secs(transfer_start() - 86_400))
            .build()
    }

    /// Organizations' billing transfers: `requested` have an open invitation already (the
    /// inbound listing shows them), `states` says each transfer's status when described
    /// (REQUESTED otherwise). Placed before [`organizations`]: the first rule that matches
    /// answers, and these match the transfer handshakes (`h-t...`) only.
    pub fn transfers(
        requested: &'static [&'static str],
        states: &'static [(&'static str, aws_sdk_organizations::types::ResponsibilityTransferStatus)],
    ) -> Vec<Rule> {
        use aws_sdk_organizations::Client;
        use aws_sdk_organizations::operation::{
            describe_handshake::DescribeHandshakeOutput, describe_responsibility_transfer::DescribeResponsibilityTransferOutput,
            invite_organization_to_transfer_responsibility::InviteOrganizationToTransferResponsibilityOutput,
            list_inbound_responsibility_transfers::ListInboundResponsibilityTransfersOutput,
        };
        use aws_sdk_organizations::types::ResponsibilityTransferStatus as Rts;
        let status_of = move |id: &str| {
            let account = id.trim_start_matches("rt-");
            states.iter().find(|(a, _)| *a == account).map(|(_, s)| s.clone()).unwrap_or(Rts::Requested)
        };
        [
            vec![
                mock!(Client::list_inbound_responsibility_transfers)
                    .sequence()
                    .output(move || {
                        ListInboundResponsibilityTransfersOutput::builder()
                            .set_responsibility_transfers(Some(
                                requested.iter().map(|a| responsibility_transfer(a, Rts::Requested)).collect(),
                            ))
                            .build()
                    })
                    .repeatedly()
                    .build(),
            ],
            times!(mock!(Client::invite_organization_to_transfer_responsibility).then_compute_output(|i| {
                let account = i.target().map(|t| t.id().to_owned()).unwrap_or_default();
                InviteOrganizationToTransferResponsibilityOutput::builder().handshake(transfer_handshake(&account)).build()
            })),
            times!(mock!(Client::describe_responsibility_transfer).then_compute_output(move |i| {
                let id = i.id().unwrap_or_default();
                DescribeResponsibilityTransferOutput::builder()
                    .responsibility_transfer(responsibility_transfer(id.trim_start_matches("rt-"), status_of(id)))
                    .build()
            })),
            times!(mock!(Client::terminate_responsibility_transfer).then_compute_output(|i| {
                let id = i.id().unwrap_or_default();
                let mut transfer = responsibility_transfer(id.trim_start_matches("rt-"), Rts::Withdrawn);
                transfer.end_timestamp = i.end_timestamp().cloned();
                aws_sdk_organizations::operation::terminate_responsibility_transfer::TerminateResponsibilityTransferOutput::builder()
                    .responsibility_transfer(transfer)
                    .build()
            })),
            times!(
                mock!(Client::describe_handshake)
                    .match_requests(|i| i.handshake_id().is_some_and(|h| h.starts_with("h-t")))
                    .then_compute_output(|i| {
                        let id = i.handshake_id().unwrap_or_default();
                        DescribeHandshakeOutput::builder().handshake(transfer_handshake(id.trim_start_matches("h-t"))).build()
                    })
            ),
        ]
        .concat()
    }

    /// Billing Conductor: no billing group yet; creating one succeeds.
    pub fn billing() -> Vec<Rule> {
        use aws_sdk_billingconductor::Client;
        use aws_sdk_billingconductor::operation::{
            create_billing_group::CreateBillingGroupOutput, list_billing_groups::ListBillingGroupsOutput,
        };
        vec![
            mock!(Client::list_billing_groups).sequence().output(|| ListBillingGroupsOutput::builder().build()).repeatedly().build(),
            mock!(Client::create_billing_group)
                .sequence()
                .output(|| {
                    CreateBillingGroupOutput::builder()
                        .arn(format!("arn:aws:billingconductor::{}:billinggroup/0123456789", fixtures::PARTNER))
                        .build()
                })
                .repeatedly()
                .build(),
        ]
    }

    /// Organizations through the customer's role, in an account that manages an organization
    /// of three accounts.
    pub fn manages_an_organization(account: &'static str) -> Vec<Rule> {
        use aws_sdk_organizations::Client;
        use aws_sdk_organizations::operation::{describe_organization::DescribeOrganizationOutput, list_accounts::ListAccountsOutput};
        use aws_sdk_organizations::types::Organization;
        vec![
            mock!(Client::describe_organization)
                .sequence()
                .output(move || {
                    DescribeOrganizationOutput::builder()
                        .organization(Organization::builder().id("o-customer001").master_account_id(account).build())
                        .build()
                })
                .repeatedly()
                .build(),
            mock!(Client::list_accounts)
                .sequence()
                .output(move || {
                    ListAccountsOutput::builder()
                        .set_accounts(Some(
                            [account, "000222333444", "000222333445"].iter().map(|id| Account::builder().id(*id).build()).collect(),
                        ))
                        .build()
                })
                .repeatedly()
                .build(),
        ]
    }

    /// STS as the customer's role answers: only with the ExternalId.
    /// Cost Explorer, through the customer's role: one page of each query (moto has no
    /// ListCostAllocationTags), and one active tag.
    pub fn cost_explorer() -> Vec<Rule> {
        use aws_sdk_costexplorer::Client;
        use aws_sdk_costexplorer::operation::get_cost_and_usage::GetCostAndUsageOutput;
        use aws_sdk_costexplorer::operation::list_cost_allocation_tags::ListCostAllocationTagsOutput;
        use aws_sdk_costexplorer::types::{CostAllocationTag, CostAllocationTagStatus, CostAllocationTagType};
        vec![
            mock!(Client::get_cost_and_usage)
                .sequence()
                .output(|| GetCostAndUsageOutput::builder().set_results_by_time(Some(vec![])).build())
                .repeatedly()
                .build(),
            mock!(Client::list_cost_allocation_tags)
                .sequence()
                .output(|| {
                    ListCostAllocationTagsOutput::builder()
                        .cost_allocation_tags(
                            CostAllocationTag::builder()
                                .tag_key("CostCenter")
                                .r#type(CostAllocationTagType::UserDefined)
                                .status(CostAllocationTagStatus::Active)
                                .build()
                                .unwrap(),
                        )
                        .build()
                })
                .repeatedly()
                .build(),
        ]
    }

    pub fn sts() -> Vec<Rule> {
        use aws_sdk_sts::Client;
        use aws_sdk_sts::operation::assume_role::AssumeRoleOutput;
        use aws_sdk_sts::types::Credentials as StsCredentials;
        let denied = r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not authorized to perform sts:AssumeRole</Message></Error><RequestId>mock</RequestId></ErrorResponse>"#;
        vec![
            mock!(Client::assume_role)
                .match_requests(|i| i.external_id().is_some())
                .sequence()
                .output(|| {
                    AssumeRoleOutput::builder()
                        .credentials(
                            StsCredentials::builder()
                                .access_key_id("ASIAMOCK")
                                .secret_access_key("mock-secret")
                                .session_token("mock-session")
                                .expiration(aws_sdk_sts::primitives::DateTime::from_secs(start().timestamp() + 3_600))
                                .build()
                                .unwrap(),
                        )
                        .build()
                })
                .repeatedly()
                .build(),
            mock!(Client::assume_role).sequence().http_status(403, Some(denied.to_owned())).repeatedly().build(),
        ]
    }

    /// Step Functions: starts succeed (or, with `start_fails`, are throttled; with
    /// `ended`, the name belongs to an execution that ended ABORTED).
    pub fn sfn(start: Start) -> Vec<Rule> {
        use aws_sdk_sfn::Client;
        use aws_sdk_sfn::operation::{
            describe_execution::DescribeExecutionOutput, send_task_failure::SendTaskFailureOutput,
            send_task_success::SendTaskSuccessOutput, start_execution::StartExecutionOutput, stop_execution::StopExecutionOutput,
        };
        use aws_sdk_sfn::primitives::DateTime as SfnTime;
        use aws_sdk_sfn::types::ExecutionStatus;
        let starts = match start {
            Start::Succeeds => times!(mock!(Client::start_execution).then_compute_output(|i| {
                StartExecutionOutput::builder()
                    .execution_arn(format!(
                        "{}:{}",
                        i.state_machine_arn().unwrap_or_default().replace(":stateMachine:", ":execution:"),
                        i.name().unwrap_or_default()
                    ))
                    .start_date(SfnTime::from_secs(0))
                    .build()
                    .unwrap()
            })),
            Start::Throttled => {
                let (s, b) = json_error(400, "ThrottlingException");
                vec![mock!(Client::start_execution).sequence().http_status(s, b).repeatedly().build()]
            }
            Start::Ended | Start::Running => {
                let (s, b) = json_error(400, "ExecutionAlreadyExists");
                vec![mock!(Client::start_execution).sequence().http_status(s, b).repeatedly().build()]
            }
        };
        [
            starts,
            times!(mock!(Client::describe_execution).then_compute_output(move |i| {
                DescribeExecutionOutput::builder()
                    .execution_arn(i.execution_arn().unwrap_or_default())
                    .state_machine_arn(state_machine_arn())
                    .status(if matches!(start, Start::Ended) { ExecutionStatus::Aborted } else { ExecutionStatus::Running })
                    .start_date(SfnTime::from_secs(0))
                    .build()
                    .unwrap()
            })),
            vec![
                mock!(Client::stop_execution)
                    .sequence()
                    .output(|| StopExecutionOutput::builder().stop_date(SfnTime::from_secs(0)).build().unwrap())
                    .repeatedly()
                    .build(),
            ],
            vec![mock!(Client::send_task_success).sequence().output(|| SendTaskSuccessOutput::builder().build()).repeatedly().build()],
            vec![mock!(Client::send_task_failure).sequence().output(|| SendTaskFailureOutput::builder().build()).repeatedly().build()],
        ]
        .concat()
    }

    #[derive(Clone, Copy)]
    pub enum Start {
        Succeeds,
        Throttled,
        /// The name is taken by an execution that ended (ABORTED).
        Ended,
        /// The name is taken by a running execution.
        Running,
    }

    /// Support through the customer's role: Business-class.
    pub fn support() -> Vec<Rule> {
        use aws_sdk_support::Client;
        use aws_sdk_support::operation::describe_severity_levels::DescribeSeverityLevelsOutput;
        use aws_sdk_support::types::SeverityLevel;
        vec![
            mock!(Client::describe_severity_levels)
                .sequence()
                .output(|| {
                    DescribeSeverityLevelsOutput::builder()
                        .set_severity_levels(Some(
                            ["low", "normal", "high", "urgent"]
                                .iter()
                                .map(|c| SeverityLevel::builder().code(*c).name(*c).build())
                                .collect(),
                        ))
                        .build()
                })
                .repeatedly()
                .build(),
        ]
    }
}

use aws_sdk_organizations::types::HandshakeState as Hs;
use aws_sdk_organizations::types::ResponsibilityTransferStatus as Rts;
use doubles::Start;

fn doubles(members: &'static [&'static str], states: &'static [(&'static str, Hs)], start: Start) -> Doubles {
    Doubles {
        organizations: doubles::organizations(members, states),
        sts: doubles::sts(),
        sfn: doubles::sfn(start),
        support: doubles::support(),
        billing: doubles::billing(),
        cost_explorer: doubles::cost_explorer(),
    }
}

fn event(payload: Value) -> LambdaEvent<Value> {
    LambdaEvent::new(payload, Context::default())
}

fn step(id: MigrationId) -> Value {
    json!({ "migration_id": id.to_string() })
}

async fn status(store: &DynamoStore, id: MigrationId) -> Status {
    store.get(id).await.unwrap().expect("the record").status
}

// ------------------------------------------------------------------------------------------
// The paths

/// Every function's paths on the real adapters; returns every recorded IAM request.
async fn run_every_path(moto: SdkConfig) -> Vec<AwsCall> {
    let client = aws_sdk_dynamodb::Client::new(&moto);
    let table = format!("migrations-iam-{}", ulid::Ulid::new().to_string().to_lowercase());
    table_definition().create(&client, &table).await.expect("table created in moto");
    let bucket = format!("snapshots-iam-{}", ulid::Ulid::new().to_string().to_lowercase());
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&moto).force_path_style(true).build());
    s3.create_bucket().bucket(&bucket).send().await.expect("the snapshot bucket created in moto");
    let world = World { log: CallLog::default(), moto, table: table.clone(), bucket, clock: Arc::new(ManualClock::new(start())) };

    // The operator's data, written by the test itself (not a recorded principal).
    let setup = DynamoStore::new(client.clone(), &table);
    setup.put_org_profile(&fixtures::profile()).await.unwrap();
    setup.put_terms(&fixtures::terms()).await.unwrap();
    for account in [JOINS, DECLINES, WATCHED, UNSTARTED, CANCELED, DECLINED_LATER, TIMES_OUT, MANAGES, RACED] {
        let approval = Approval { account_id: account.parse().unwrap(), ..fixtures::approval(start()) };
        setup.put_approval(&approval).await.unwrap();
    }

    // api: every route that reaches AWS, for each scenario's migration.
    let api_ports = world.ports("api", doubles(&[], &[], Start::Succeeds));
    let api = api::Api::new(api_ports, api::ApiConfig::default());
    let admin = api::Identity::Customer(fixtures::admin());
    let create = |account: &'static str, api: api::Api| {
        let admin = admin.clone();
        async move {
            let mut body = serde_json::to_value(fixtures::request(AccessLevel::FullHardening)).unwrap();
            body["aws_account_id"] = json!(account);
            body["role_arn"] = json!(format!("arn:aws:iam::{account}:role/CenturyLinkFullHardening"));
            let request = api::ApiRequest::new(api::http::Method::POST, "/migrations", admin, &format!("create-{account}"))
                .with_header("idempotency-key", &format!("key-{account}"))
                .with_json(&body);
            let response = api.handle(request).await;
            assert_eq!(response.status.as_u16(), 202, "create for {account}: {}", response.json());
            response.json()["id"].as_str().unwrap().parse::<MigrationId>().unwrap()
        }
    };
    let joins = create(JOINS, api.clone()).await;
    let declines = create(DECLINES, api.clone()).await;
    let watched = create(WATCHED, api.clone()).await;
    let canceled = create(CANCELED, api.clone()).await;
    let declined_later = create(DECLINED_LATER, api.clone()).await;
    let times_out = create(TIMES_OUT, api.clone()).await;
    // A replay of the same create (the idempotency item's read).
    let _ = create(JOINS, api.clone()).await;
    for path in [format!("/migrations/{joins}"), "/migrations".to_owned(), "/onboarding".to_owned()] {
        let response = api.handle(api::ApiRequest::new(api::http::Method::GET, &path, admin.clone(), "read")).await;
        assert_eq!(response.status.as_u16(), 200, "GET {path}: {}", response.json());
    }
    // An execution that never starts (Step Functions throttles the API's start).
    let throttled = api::Api::new(world.ports("api", doubles(&[], &[], Start::Throttled)), api::ApiConfig::default());
    let unstarted = create(UNSTARTED, throttled).await;
    assert_eq!(status(&setup, unstarted).await, Status::Requested);
    // Its customer retries with the same key: the replay starts the execution again, and
    // Step Functions answers that the name is taken (the API then describes the execution).
    let retried = api::Api::new(world.ports("api", doubles(&[], &[], Start::Running)), api::ApiConfig::default());
    assert_eq!(create(UNSTARTED, retried).await, unstarted);

    // validate, invite, wait-for-handshake for the four started migrations.
    let validate = world.ports("validate", doubles(&[], &[], Start::Succeeds));
    let invite = world.ports("invite", doubles(&[], &[], Start::Succeeds));
    let decided: &'static [(&str, Hs)] = &[(JOINS, Hs::Accepted), (DECLINES, Hs::Declined)];
    let wait = world.ports("wait-for-handshake", doubles(&[JOINS], decided, Start::Succeeds));
    let snapshot = world.ports("snapshot-usage", doubles(&[], &[], Start::Succeeds));
    for id in [joins, declines, watched, canceled, declined_later, times_out] {
        functions_runtime::step_handler(&validate, Step::Validate, event(step(id)))
            .await
            .unwrap_or_else(|e| panic!("validate {id}: {e:?}"));
        // The usage snapshot: Cost Explorer through the customer's role, into the bucket.
        functions_runtime::step_handler(&snapshot, Step::SnapshotUsage, event(step(id)))
            .await
            .unwrap_or_else(|e| panic!("snapshot-usage {id}: {e:?}"));
        functions_runtime::step_handler(&invite, Step::Invite, event(step(id))).await.unwrap_or_else(|e| panic!("invite {id}: {e:?}"));
        let payload = json!({ "migration_id": id.to_string(), "task_token": format!("token-{id}") });
        functions_runtime::step_handler(&wait, Step::WaitForHandshake, event(payload)).await.unwrap_or_else(|e| panic!("wait {id}: {e:?}"));
    }
    assert_eq!(status(&setup, joins).await, Status::Joined, "accepted before the wait looked");
    // The administrator reads the migration: the snapshot's links, signed by the API's role.
    let read = api.handle(api::ApiRequest::new(api::http::Method::GET, &format!("/migrations/{joins}"), admin.clone(), "read")).await;
    let links = read.json()["usage_snapshot"]["download"]["files"].clone();
    assert_eq!(read.json()["usage_snapshot"]["state"], "taken", "{}", read.json());
    assert!(links.as_array().is_some_and(|l| !l.is_empty()), "download links: {links}");

    // validate, for a customer whose account manages its own organization: through the
    // customer's role it reads the organization and counts its accounts, then refuses.
    let manages = create(MANAGES, api.clone()).await;
    let mut management = doubles(&[], &[], Start::Succeeds);
    management.organizations = [doubles::manages_an_organization(MANAGES), management.organizations].concat();
    let validate_management = world.ports("validate", management);
    let refused = functions_runtime::step_handler(&validate_management, Step::Validate, event(step(manages))).await;
    let refusal = lambda_runtime::Diagnostic::from(refused.expect_err("a management account is refused"));
    assert_eq!(refusal.error_type, "Migration.NotEligible");
    // The definition's Catch hands the refusal to record-failure.
    let caught = json!({ "migration_id": manages.to_string(), "error": refusal.error_type, "cause": refusal.error_message });
    let record_refusal = world.ports("record-failure", doubles(&[], &[], Start::Succeeds));
    functions_runtime::step_handler(&record_refusal, Step::RecordFailure, event(caught)).await.unwrap();
    assert_eq!(status(&setup, manages).await, Status::Rejected);
    assert_eq!(status(&setup, watched).await, Status::Invited);

    // The customer cancels the open invitation (CancelHandshake, StopExecution, the lock).
    let response =
        api.handle(api::ApiRequest::new(api::http::Method::POST, &format!("/migrations/{canceled}/cancel"), admin.clone(), "cancel")).await;
    assert_eq!(response.status.as_u16(), 200, "cancel: {}", response.json());

    // Operators: read a migration with its execution, list by status across organizations
    // (GSI3) and by organization (GSI1), ask to record a failure (the execution still runs).
    let operator = api::Identity::operator("arn:aws:sts::999999999999:assumed-role/CamOperator/ops");
    for (path, query, expected) in [
        (format!("/admin/migrations/{canceled}"), "", 200),
        ("/admin/migrations".to_owned(), "status=CANCELED", 200),
        ("/admin/migrations".to_owned(), "org=acme&status=INVITED", 200),
    ] {
        let request = api::ApiRequest::new(api::http::Method::GET, &path, operator.clone(), "operator").with_query(query);
        let response = api.handle(request).await;
        assert_eq!(response.status.as_u16(), expected, "GET {path}?{query}: {}", response.json());
    }
    let record = api::ApiRequest::new(api::http::Method::POST, &format!("/admin/migrations/{watched}/record-failure"), operator, "op");
    assert_eq!(api.handle(record).await.status.as_u16(), 409, "the execution still runs");

    // A cancel lands while the invite is in flight: after the invitation, before its write.
    // The invite loses the write and withdraws the invitation it sent (its CancelHandshake).
    let raced = create(RACED, api.clone()).await;
    functions_runtime::step_handler(&validate, Step::Validate, event(step(raced))).await.unwrap();
    let mut racing = world.ports("invite", doubles(&[], &[], Start::Succeeds));
    racing.store =
        Arc::new(HookedStore::new(racing.store.clone(), CancelBeforeWrite { api: api.clone(), id: raced, done: Default::default() }));
    let lost = functions_runtime::step_handler(&racing, Step::Invite, event(step(raced))).await;
    assert_eq!(lambda_runtime::Diagnostic::from(lost.expect_err("the cancel won")).error_type, "Migration.Canceled");
    assert_eq!(status(&setup, raced).await, Status::Canceled);

    // record-failure: the decline the wait step reported, caught by the definition.
    let record = world.ports("record-failure", doubles(&[], &[], Start::Succeeds));
    let mut caught_payload: Value =
        serde_json::from_str(include_str!("../../../functions/record-failure/events/caught-decline.json")).unwrap();
    caught_payload["migration_id"] = json!(declines.to_string());
    functions_runtime::step_handler(&record, Step::RecordFailure, event(caught_payload)).await.unwrap();
    assert_eq!(status(&setup, declines).await, Status::InvitationDeclined);

    // handshake-watcher: the sweep (the unstarted record whose execution ended; the watched
    // invitation, accepted meanwhile) and the AccountJoinedOrganization event.
    world.clock.advance(Duration::hours(1));
    let watcher = world
        .ports("handshake-watcher", doubles(&[JOINS, WATCHED], &[(WATCHED, Hs::Accepted), (DECLINED_LATER, Hs::Declined)], Start::Ended));
    let scheduled: Value = serde_json::from_str(include_str!("../../../functions/handshake-watcher/events/scheduled.json")).unwrap();
    let report = functions_runtime::watcher_handler(&watcher, event(scheduled)).await.expect("the sweep runs to its end");
    assert_eq!(report["ended"], 1, "{report}");
    assert_eq!(status(&setup, unstarted).await, Status::Failed);
    assert_eq!(status(&setup, watched).await, Status::Joined, "{report}");
    assert_eq!(report["resolved"], 2, "the accepted and the declined invitation: {report}");
    let mut joined: Value = serde_json::from_str(include_str!("../../../functions/handshake-watcher/events/account-joined.json")).unwrap();
    set_joined_account(&mut joined, JOINS);
    functions_runtime::watcher_handler(&watcher, event(joined)).await.unwrap();
    let mut timed_out: Value =
        serde_json::from_str(include_str!("../../../functions/handshake-watcher/events/execution-timed-out.json")).unwrap();
    timed_out["detail"]["name"] = json!(times_out.to_string());
    assert_eq!(functions_runtime::watcher_handler(&watcher, event(timed_out)).await.unwrap()["recorded"], true);
    assert_eq!(status(&setup, times_out).await, Status::Failed);

    // check-support and schedule-hardening for the two joined migrations.
    let check = world.ports("check-support", doubles(&[], &[], Start::Succeeds));
    let schedule = world.ports("schedule-hardening", doubles(&[], &[], Start::Succeeds));
    for id in [joins, watched] {
        functions_runtime::step_handler(&check, Step::CheckSupport, event(step(id))).await.unwrap_or_else(|e| panic!("check {id}: {e:?}"));
        functions_runtime::step_handler(&schedule, Step::ScheduleHardening, event(step(id))).await.unwrap();
    }

    billing_transfer_paths(&world, &setup).await;

    // hardening-scan: the baseline OUs checked and given their SCPs (ListPoliciesForTarget,
    // AttachPolicy on each OU), then both Full Hardening accounts, from the root to the
    // Hardened OU.
    world.clock.advance(Duration::hours(1));
    let scan = world.ports("hardening-scan", doubles(&[JOINS, WATCHED], &[], Start::Succeeds));
    let mut context = Context::default();
    context.deadline = u64::try_from(
        (std::time::SystemTime::now() + std::time::Duration::from_secs(300)).duration_since(std::time::UNIX_EPOCH).unwrap().as_millis(),
    )
    .unwrap();
    // The scan takes only its schedule's EventBridge event.
    let scheduled: Value = serde_json::from_str(include_str!("../../../functions/hardening-scan/events/scheduled.json")).unwrap();
    let report = functions_runtime::scan_handler(&scan, LambdaEvent::new(scheduled, context)).await.unwrap();
    assert_eq!(report["completed"], 2, "{report}");
    assert_eq!(status(&setup, joins).await, Status::Hardened);

    world.log.calls()
}

fn with_transfers(mut d: Doubles, requested: &'static [&'static str], states: &'static [(&'static str, Rts)]) -> Doubles {
    d.organizations = [doubles::transfers(requested, states), d.organizations].concat();
    d
}

fn ports_at(world: &World, function: &str, d: Doubles, at: DateTime<Utc>) -> Ports {
    Ports { clock: Arc::new(ManualClock::new(at)), ..world.ports(function, d) }
}

/// Every billing-transfer path, each function on its real adapters: invite (a new
/// invitation, and one found sent already), wait-for-handshake (accepted at once; still open;
/// unanswered after the last day to accept, withdrawn), the customer's cancel, the watcher's
/// sweep (accepted; unanswered too late, withdrawn) and confirm-transfer at the start.
async fn billing_transfer_paths(world: &World, setup: &DynamoStore) {
    let accepted: &'static [(&str, Rts)] = &[(TRANSFERS, Rts::Accepted), (TRANSFER_SWEPT, Rts::Accepted)];
    let accounts = [TRANSFERS, TRANSFER_REUSED, TRANSFER_MISSED, TRANSFER_SWEPT, TRANSFER_SWEPT_MISSED, TRANSFER_CANCELED];
    let mut ids = Vec::new();
    for account in accounts {
        ids.push(validated_billing_transfer(setup, account).await);
    }
    let [transfers, reused, missed, swept, swept_missed, canceled] = ids[..] else { unreachable!() };
    let start_at = DateTime::parse_from_rfc3339(TRANSFER_START).unwrap().with_timezone(&Utc);
    let accept_by = start_at - Duration::hours(24);

    let invite = world.ports("invite", with_transfers(doubles(&[], &[], Start::Succeeds), &[TRANSFER_REUSED], &[]));
    for id in [transfers, reused, missed, swept, swept_missed, canceled] {
        functions_runtime::step_handler(&invite, Step::Invite, event(step(id))).await.unwrap_or_else(|e| panic!("invite {id}: {e:?}"));
        assert_eq!(status(setup, id).await, Status::TransferInvited);
    }

    let waiting = |id: MigrationId| json!({ "migration_id": id.to_string(), "task_token": format!("token-{id}") });
    let wait = world.ports("wait-for-handshake", with_transfers(doubles(&[], &[], Start::Succeeds), &[], accepted));
    for id in [transfers, swept, swept_missed] {
        functions_runtime::step_handler(&wait, Step::WaitForHandshake, event(waiting(id)))
            .await
            .unwrap_or_else(|e| panic!("wait {id}: {e:?}"));
    }
    assert_eq!(status(setup, transfers).await, Status::TransferAccepted, "accepted before the wait looked");
    let late_wait = ports_at(
        world,
        "wait-for-handshake",
        with_transfers(doubles(&[], &[], Start::Succeeds), &[], accepted),
        accept_by + Duration::hours(1),
    );
    // The wait step withdraws the invitation nobody can accept any more and tells the
    // execution through its token (SendTaskFailure), so the step itself succeeds.
    functions_runtime::step_handler(&late_wait, Step::WaitForHandshake, event(waiting(missed))).await.expect("the wait step runs");
    let late = setup.get(missed).await.unwrap().unwrap();
    let handshake = late.billing_transfer.as_ref().and_then(|bt| bt.handshake.as_ref()).expect("invited");
    assert_eq!(handshake.state, migration::record::HandshakeState::Canceled, "the invitation was withdrawn");
    assert!(late.due_at.is_none() && late.task_token.is_none(), "nothing waits on it any more");

    let cancel = api::ApiRequest::new(
        api::http::Method::POST,
        &format!("/migrations/{canceled}/cancel"),
        api::Identity::Customer(fixtures::admin()),
        "cancel-transfer",
    );
    let transfer_api =
        api::Api::new(world.ports("api", with_transfers(doubles(&[], &[], Start::Succeeds), &[], &[])), api::ApiConfig::default());
    let response = transfer_api.handle(cancel).await;
    assert_eq!(response.status.as_u16(), 200, "cancel a billing transfer: {}", response.json());

    let watcher = ports_at(
        world,
        "handshake-watcher",
        with_transfers(doubles(&[], &[], Start::Ended), &[], accepted),
        accept_by + Duration::hours(2),
    );
    let scheduled: Value = serde_json::from_str(include_str!("../../../functions/handshake-watcher/events/scheduled.json")).unwrap();
    let report = functions_runtime::watcher_handler(&watcher, event(scheduled)).await.expect("the sweep runs to its end");
    assert_eq!(status(setup, swept).await, Status::TransferAccepted, "{report}");
    let swept_missed_record = setup.get(swept_missed).await.unwrap().unwrap();
    assert!(swept_missed_record.due_at.is_none(), "the sweep withdrew the invitation nobody accepted in time: {report}");

    let confirm = ports_at(
        world,
        "confirm-transfer",
        with_transfers(doubles(&[], &[], Start::Succeeds), &[], accepted),
        start_at + Duration::hours(1),
    );
    functions_runtime::step_handler(&confirm, Step::ConfirmTransfer, event(step(transfers))).await.unwrap();
    assert_eq!(status(setup, transfers).await, Status::BillingTransferred);

    // Offboarding: the customer ends the transfer at the end of its first month.
    let end = api::ApiRequest::new(
        api::http::Method::POST,
        &format!("/migrations/{transfers}/end-transfer"),
        api::Identity::Customer(fixtures::admin()),
        "end-transfer",
    )
    .with_json(&json!({ "end_month": "2026-04" }));
    let response = transfer_api.handle(end).await;
    assert_eq!(response.status.as_u16(), 200, "end a billing transfer: {}", response.json());
    assert_eq!(response.json()["billing_transfer"]["billing_ends_at"], "2026-04-30T23:59:59.999Z");
}

/// A billing-transfer migration of `account`, validated (written by the test, not a
/// recorded principal: validate's own calls are the join kind's, recorded above).
async fn validated_billing_transfer(setup: &DynamoStore, account: &str) -> MigrationId {
    use migration::record::{Actor, ChangeBuilder, created_event};
    let mut request = fixtures::transfer_request(None);
    request.aws_account_id = account.into();
    request.role_arn = format!("arn:aws:iam::{account}:role/CenturyLinkOptimized");
    let valid = request.validate().expect("a valid billing-transfer request");
    let record = migration::Migration::new(
        MigrationId::new_at(start()),
        fixtures::admin().org,
        "US".parse().unwrap(),
        fixtures::admin().user,
        valid,
        start(),
    );
    assert_eq!(
        record.billing_transfer.as_ref().unwrap().start_at().to_rfc3339(),
        DateTime::parse_from_rfc3339(TRANSFER_START).unwrap().to_rfc3339()
    );
    setup.create(&record, &created_event(&record), None).await.unwrap();
    let change =
        ChangeBuilder::new(&record, Actor::System("iam-test".into()), start()).transition(Status::Validated, "set up").unwrap().build();
    setup.update(&change).await.unwrap();
    record.id
}

/// The hook of an invite's store: the customer cancels the record (through the API) just
/// before the invite writes its invitation (its first update).
struct CancelBeforeWrite {
    api: api::Api,
    id: MigrationId,
    done: std::sync::atomic::AtomicBool,
}

impl StoreHook for CancelBeforeWrite {
    async fn before(&self, call: &StoreCall<'_>) -> Verdict<migration::StoreError> {
        if matches!(call, StoreCall::Update { .. }) && !self.done.swap(true, std::sync::atomic::Ordering::SeqCst) {
            let admin = api::Identity::Customer(fixtures::admin());
            let path = format!("/migrations/{}/cancel", self.id);
            let response = self.api.handle(api::ApiRequest::new(api::http::Method::POST, &path, admin, "cancel-raced")).await;
            assert_eq!(response.status.as_u16(), 200, "cancel: {}", response.json());
        }
        Verdict::Proceed
    }
}

/// Puts `account` wherever the event fixture names the joined account.
fn set_joined_account(event: &mut Value, account: &str) {
    fn walk(v: &mut Value, from: &str, to: &str) {
        match v {
            Value::String(s) if s == from => *s = to.to_owned(),
            Value::Array(items) => items.iter_mut().for_each(|i| walk(i, from, to)),
            Value::Object(map) => map.values_mut().for_each(|i| walk(i, from, to)),
            _ => {}
        }
    }
    walk(event, fixtures::ACCOUNT, account);
}

// ------------------------------------------------------------------------------------------
// The check

fn moto_python() -> PathBuf {
    std::env::var_os("MOTO_PYTHON").map(PathBuf::from).unwrap_or_else(|| root().join(".venv-moto/bin/python"))
}

fn translated_template() -> PathBuf {
    std::env::var_os("CAM_TRANSLATED_TEMPLATE").map(PathBuf::from).unwrap_or_else(|| root().join("target/infra/template.cfn.json"))
}

/// The template's parameters as this test's world has them.
fn parameters(table: &str, bucket: &str) -> Value {
    let settings = fixtures::settings();
    json!({
        "AWS::AccountId": fixtures::PARTNER,
        "AWS::Region": REGION,
        "AWS::Partition": "aws",
        "AWS::StackName": STACK,
        "PartnerAccountId": fixtures::PARTNER,
        "OrganizationId": ORGANIZATION,
        "OnboardingOuId": settings.onboarding_ou_id,
        "GuardrailScpId": settings.guardrail_scp_id,
        "HardenedOuId": settings.hardened_ou_id,
        "HardeningScpIds": settings.hardening_scp_ids.join(","),
        "MigrationTable": table,
        "BillingPricingPlanArn": settings.billing_pricing_plan_arn,
        "SnapshotBucket": bucket,
        "SnapshotKey": SNAPSHOT_KEY_ID,
    })
}

fn evaluate(calls: &[AwsCall], table: &str, bucket: &str, template: &Path) -> (bool, String) {
    let dir = root().join("target/infra");
    std::fs::create_dir_all(&dir).unwrap();
    let calls_path = dir.join("aws-calls.json");
    std::fs::write(&calls_path, serde_json::to_vec_pretty(calls).unwrap()).unwrap();
    let params_path = dir.join("iam-parameters.json");
    std::fs::write(&params_path, serde_json::to_vec_pretty(&parameters(table, bucket)).unwrap()).unwrap();
    let out = Command::new(moto_python())
        .arg(root().join("tests/infra/iam_check.py"))
        .arg(template)
        .arg(&calls_path)
        .arg(&params_path)
        .arg(template.with_file_name("customer-role.json"))
        .output()
        .expect("the moto venv's python runs (scripts/test installs it)");
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), report)
}

async fn moto_config() -> Option<SdkConfig> {
    let endpoint = match std::env::var("MOTO_ENDPOINT") {
        Ok(e) if !e.trim().is_empty() => e,
        _ => {
            assert!(!required("REQUIRE_MOTO") && !required("CI"), "MOTO_ENDPOINT is not set but REQUIRE_MOTO/CI requires the IAM check");
            eprintln!("SKIPPED: MOTO_ENDPOINT is not set (scripts/test starts moto)");
            return None;
        }
    };
    Some(
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(Region::from_static(REGION))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .retry_config(RetryConfig::standard().with_max_attempts(1))
            .load()
            .await,
    )
}

#[tokio::test]
async fn every_call_of_every_function_is_allowed_and_every_grant_is_used() {
    let Some(moto) = moto_config().await else { return };
    let template = translated_template();
    assert!(
        template.is_file(),
        "{} is missing: `scripts/infra-checks static` translates the SAM template (scripts/test runs it first)",
        template.display()
    );
    let calls = run_every_path(moto).await;
    let table = calls
        .iter()
        .find_map(|c| c.resource.strip_prefix(&format!("arn:aws:dynamodb:{REGION}:{}:table/", fixtures::PARTNER)))
        .map(|t| t.split('/').next().unwrap().to_owned())
        .expect("some DynamoDB call");
    let principals: std::collections::BTreeSet<&str> = calls.iter().map(|c| c.principal.as_str()).collect();
    for function in [
        "api",
        "validate",
        "snapshot-usage",
        "invite",
        "wait-for-handshake",
        "check-support",
        "schedule-hardening",
        "record-failure",
        "confirm-transfer",
        "handshake-watcher",
        "hardening-scan",
        migration_aws::clients::CUSTOMER_ROLE,
    ] {
        assert!(principals.contains(function), "no call was recorded for {function}: {principals:?}");
    }
    let bucket = calls
        .iter()
        .find_map(|c| c.resource.strip_prefix("arn:aws:s3:::"))
        .map(|o| o.split('/').next().unwrap().to_owned())
        .expect("some S3 call");
    let (ok, report) = evaluate(&calls, &table, &bucket, &template);
    println!("{report}");
    assert!(ok, "IAM check failed:\n{report}");
}
