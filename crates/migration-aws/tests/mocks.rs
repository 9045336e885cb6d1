//! What no emulator implements (handshakes, Support, Step Functions task tokens, error
//! shapes), with aws-smithy-mocks rules that answer as AWS does on the wire.

use std::time::Duration;

use aws_sdk_organizations::primitives::DateTime;
use aws_sdk_organizations::types::{
    ActionType, Handshake, HandshakeParty, HandshakePartyType, HandshakeResource, HandshakeResourceType, HandshakeState as AwsState,
};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use migration::error::{AccessError, ExecutionError, OrgError, Refusal, StepError};
use migration::ports::{AccountState, CustomerAccess, Executions, Membership, Organizations, TokenDelivery};
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

/// The partner's own management account, which an emulator lists among `Parties` too.
const PARTNER: &str = "999999999999";

fn party(id: &str, kind: HandshakePartyType) -> HandshakeParty {
    HandshakeParty::builder().id(id).r#type(kind).build().unwrap()
}

fn resource(kind: HandshakeResourceType, value: &str) -> HandshakeResource {
    HandshakeResource::builder().r#type(kind).value(value).build()
}

fn timed(builder: aws_sdk_organizations::types::builders::HandshakeBuilder, id: &str, state: AwsState) -> Handshake {
    builder
        .id(id)
        .state(state)
        .requested_timestamp(DateTime::from_secs(REQUESTED))
        .expiration_timestamp(DateTime::from_secs(REQUESTED + FIFTEEN_DAYS))
        .build()
}

/// An invitation as AWS's examples show it: the organization party, then the invited account.
fn handshake(id: &str, account: &str, state: AwsState) -> Handshake {
    Shape::OrganizationFirst.invitation(id, account, state)
}

/// Where an invitation names the invited account: AWS documents no order of `Parties`.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// `ORGANIZATION o-partner`, then `ACCOUNT <invitee>` (AWS's documented examples).
    OrganizationFirst,
    /// `ACCOUNT <partner management account>` first, then `ACCOUNT <invitee>`: an independent
    /// Organizations emulator's order, where the first ACCOUNT party is not the invitee.
    PartnerAccountFirst,
    /// The invitee in no party, only as an `ACCOUNT` resource nested under the
    /// `ORGANIZATION` resource.
    ResourcesOnly,
}

const SHAPES: [Shape; 3] = [Shape::OrganizationFirst, Shape::PartnerAccountFirst, Shape::ResourcesOnly];

impl Shape {
    fn invitation(self, id: &str, account: &str, state: AwsState) -> Handshake {
        let builder = Handshake::builder().action(ActionType::InviteAccountToOrganization);
        let builder = match self {
            Shape::OrganizationFirst => builder
                .parties(party("o-partner0001", HandshakePartyType::Organization))
                .parties(party(account, HandshakePartyType::Account))
                .resources(resource(HandshakeResourceType::Account, account)),
            Shape::PartnerAccountFirst => builder
                .parties(party(PARTNER, HandshakePartyType::Account))
                .parties(party(account, HandshakePartyType::Account))
                .parties(party("o-partner0001", HandshakePartyType::Organization)),
            Shape::ResourcesOnly => builder
                .parties(party("o-partner0001", HandshakePartyType::Organization))
                .parties(party(PARTNER, HandshakePartyType::Account))
                .resources(resource(HandshakeResourceType::Notes, "Cloud Application Manager migration"))
                .resources(
                    HandshakeResource::builder()
                        .r#type(HandshakeResourceType::Organization)
                        .value("o-partner0001")
                        .resources(resource(HandshakeResourceType::MasterEmail, "partner@example.invalid"))
                        .resources(resource(HandshakeResourceType::Account, account))
                        .build(),
                ),
        };
        timed(builder, id, state)
    }
}

/// A billing transfer (`TRANSFER_RESPONSIBILITY`) that names `account` as an invitation
/// would: never to be taken for one.
fn transfer(id: &str, account: &str, state: AwsState) -> Handshake {
    let builder = Handshake::builder()
        .action(ActionType::TransferResponsibility)
        .parties(party(PARTNER, HandshakePartyType::Account))
        .parties(party(account, HandshakePartyType::Account))
        .resources(resource(HandshakeResourceType::Account, account))
        .resources(resource(HandshakeResourceType::ResponsibilityTransfer, "rt-0001"));
    timed(builder, id, state)
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

    /// An invitation of another account, in the shape where the partner's management account
    /// is the first ACCOUNT party; an open billing transfer of our account.
    fn decoys() -> Vec<Handshake> {
        vec![
            Shape::PartnerAccountFirst.invitation("h-otheracct1", "000111222333", AwsState::Open),
            transfer("h-transfer01", ACCOUNT, AwsState::Open),
        ]
    }

    #[tokio::test]
    async fn the_open_invitation_is_found_wherever_the_invitee_is_named() {
        for shape in SHAPES {
            let mut page = decoys();
            page.push(shape.invitation("h-open00001", ACCOUNT, AwsState::Open));
            let list = mock!(Client::list_handshakes_for_organization).then_output(move || listing(page.clone(), None));
            let invite = mock!(Client::invite_account_to_organization).then_output(|| InviteAccountToOrganizationOutput::builder().build());
            let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&list, &invite]);

            let got = AwsOrganizations::new(client)
                .invite_account(&account(), migration_id())
                .await
                .unwrap_or_else(|e| panic!("{shape:?}: {e:?}"));

            assert_eq!(got.id.as_str(), "h-open00001", "{shape:?}: neither the other account's invitation nor the transfer");
            assert_eq!(got.account_id, account(), "{shape:?}: the account we invited, not the partner's");
            assert_eq!(got.state, HandshakeState::Open);
            assert_eq!(invite.num_calls(), 0, "{shape:?}: the open invitation is reused");
        }
    }

    #[tokio::test]
    async fn an_open_billing_transfer_is_no_invitation_to_reuse() {
        let list = mock!(Client::list_handshakes_for_organization).then_output(|| listing(decoys(), None));
        let invite = mock!(Client::invite_account_to_organization).then_output(|| {
            InviteAccountToOrganizationOutput::builder()
                .handshake(Shape::PartnerAccountFirst.invitation("h-new000001", ACCOUNT, AwsState::Open))
                .build()
        });
        let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&list, &invite]);

        let got = AwsOrganizations::new(client).invite_account(&account(), migration_id()).await.expect("invited");

        assert_eq!(got.id.as_str(), "h-new000001");
        assert_eq!(got.account_id, account(), "the invitee, though the partner's account is the first ACCOUNT party");
        assert_eq!(invite.num_calls(), 1, "the transfer was not taken for an open invitation");
    }

    #[tokio::test]
    async fn an_invitation_response_that_is_not_an_invite_of_the_account_is_an_error() {
        for (returned, mentions) in [
            (Shape::PartnerAccountFirst.invitation("h-other00001", "000111222333", AwsState::Open), ACCOUNT),
            (transfer("h-transfer01", ACCOUNT, AwsState::Open), "TRANSFER_RESPONSIBILITY"),
        ] {
            let list = mock!(Client::list_handshakes_for_organization).then_output(|| listing(vec![], None));
            let invite = mock!(Client::invite_account_to_organization)
                .then_output(move || InviteAccountToOrganizationOutput::builder().handshake(returned.clone()).build());
            let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&list, &invite]);

            let err = AwsOrganizations::new(client).invite_account(&account(), migration_id()).await.unwrap_err();

            assert!(matches!(&err, OrgError::Other(m) if m.contains(mentions)), "{mentions}: {err:?}");
        }
    }

    #[tokio::test]
    async fn a_duplicate_handshake_listed_with_the_partner_account_first_is_adopted() {
        let first_list = mock!(Client::list_handshakes_for_organization).then_output(|| listing(vec![], None));
        let invite = mock!(Client::invite_account_to_organization)
            .sequence()
            .http_status(400, json_error("DuplicateHandshakeException", ""))
            .build();
        let second_list = mock!(Client::list_handshakes_for_organization).then_output(|| {
            let mut page = decoys();
            page.push(Shape::PartnerAccountFirst.invitation("h-concurrent1", ACCOUNT, AwsState::Open));
            listing(page, None)
        });
        let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&first_list, &invite, &second_list]);

        let got = AwsOrganizations::new(client).invite_account(&account(), migration_id()).await.expect("adopted, not a retry loop");

        assert_eq!(got.id.as_str(), "h-concurrent1");
        assert_eq!(got.account_id, account());
        assert_eq!((first_list.num_calls(), invite.num_calls(), second_list.num_calls()), (1, 1, 1));
    }

    #[tokio::test]
    async fn describe_handshake_takes_only_an_invitation_of_the_account() {
        for shape in SHAPES {
            let describe =
                mock!(Client::describe_handshake).match_requests(|r| r.handshake_id() == Some("h-open00001")).then_output(move || {
                    DescribeHandshakeOutput::builder().handshake(shape.invitation("h-open00001", ACCOUNT, AwsState::Accepted)).build()
                });
            let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&describe]);

            let got = AwsOrganizations::new(client).describe_handshake(&"h-open00001".parse().unwrap(), &account()).await;

            let got = got.unwrap_or_else(|e| panic!("{shape:?}: {e:?}"));
            assert_eq!((got.account_id, got.state), (account(), HandshakeState::Accepted), "{shape:?}");
        }
        for (returned, mentions) in [
            (transfer("h-transfer01", ACCOUNT, AwsState::Open), "TRANSFER_RESPONSIBILITY"),
            (Shape::PartnerAccountFirst.invitation("h-transfer01", "000111222333", AwsState::Open), ACCOUNT),
            (Shape::ResourcesOnly.invitation("h-transfer01", "000111222333", AwsState::Open), ACCOUNT),
        ] {
            let describe = mock!(Client::describe_handshake)
                .then_output(move || DescribeHandshakeOutput::builder().handshake(returned.clone()).build());
            let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&describe]);

            let err = AwsOrganizations::new(client).describe_handshake(&"h-transfer01".parse().unwrap(), &account()).await.unwrap_err();

            assert!(matches!(&err, OrgError::Other(m) if m.contains("h-transfer01") && m.contains(mentions)), "{mentions}: {err:?}");
        }
    }

    #[tokio::test]
    async fn cancel_handshake_takes_only_an_invitation_of_the_account() {
        for shape in SHAPES {
            // Canceled now, and the decided one described after InvalidHandshakeTransition.
            let cancel = mock!(Client::cancel_handshake).then_output(move || {
                CancelHandshakeOutput::builder().handshake(shape.invitation("h-open00001", ACCOUNT, AwsState::Canceled)).build()
            });
            let decided =
                mock!(Client::cancel_handshake).sequence().http_status(400, json_error("InvalidHandshakeTransitionException", "")).build();
            let describe = mock!(Client::describe_handshake).then_output(move || {
                DescribeHandshakeOutput::builder().handshake(shape.invitation("h-open00001", ACCOUNT, AwsState::Accepted)).build()
            });
            let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&cancel, &decided, &describe]);
            let orgs = AwsOrganizations::new(client);
            let id: HandshakeId = "h-open00001".parse().unwrap();

            let canceled = orgs.cancel_handshake(&id, &account()).await.unwrap_or_else(|e| panic!("{shape:?}: {e:?}"));
            assert_eq!((canceled.account_id, canceled.state), (account(), HandshakeState::Canceled), "{shape:?}");
            let accepted = orgs.cancel_handshake(&id, &account()).await.unwrap_or_else(|e| panic!("{shape:?}: {e:?}"));
            assert_eq!((accepted.account_id, accepted.state), (account(), HandshakeState::Accepted), "{shape:?}");
        }
        for (returned, mentions) in [
            (transfer("h-transfer01", ACCOUNT, AwsState::Canceled), "TRANSFER_RESPONSIBILITY"),
            (Shape::PartnerAccountFirst.invitation("h-transfer01", "000111222333", AwsState::Canceled), ACCOUNT),
        ] {
            let cancel =
                mock!(Client::cancel_handshake).then_output(move || CancelHandshakeOutput::builder().handshake(returned.clone()).build());
            let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&cancel]);

            let err = AwsOrganizations::new(client).cancel_handshake(&"h-transfer01".parse().unwrap(), &account()).await.unwrap_err();

            assert!(matches!(&err, OrgError::Other(m) if m.contains("h-transfer01") && m.contains(mentions)), "{mentions}: {err:?}");
        }
        // Already decided, and what DescribeHandshake reveals is a transfer: an error too.
        let decided =
            mock!(Client::cancel_handshake).sequence().http_status(400, json_error("HandshakeAlreadyInStateException", "")).build();
        let describe = mock!(Client::describe_handshake)
            .then_output(|| DescribeHandshakeOutput::builder().handshake(transfer("h-transfer01", ACCOUNT, AwsState::Canceled)).build());
        let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&decided, &describe]);
        let err = AwsOrganizations::new(client).cancel_handshake(&"h-transfer01".parse().unwrap(), &account()).await.unwrap_err();
        assert!(matches!(&err, OrgError::Other(m) if m.contains("TRANSFER_RESPONSIBILITY")), "{err:?}");
    }

    #[tokio::test]
    async fn already_in_an_organization_is_its_own_refusal_and_step_error() {
        // As Organizations sends it (awsJson 1.1; the member is `Reason`, as in botocore's
        // model), with the bare and the namespaced `__type`.
        for kind in ["HandshakeConstraintViolationException", "com.amazonaws.organizations.v20161128#HandshakeConstraintViolationException"]
        {
            let list = mock!(Client::list_handshakes_for_organization).then_output(|| listing(vec![], None));
            let body = format!(
                r#"{{"__type":"{kind}","Message":"The handshake request is invalid because the invited account is already a member of an organization.","Reason":"ALREADY_IN_AN_ORGANIZATION"}}"#
            );
            let invite = mock!(Client::invite_account_to_organization).sequence().http_status(400, Some(body)).build();
            let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&list, &invite]);

            let err = AwsOrganizations::new(client).invite_account(&account(), migration_id()).await.unwrap_err();

            assert!(matches!(err, OrgError::Refused { refusal: Refusal::AlreadyInAnOrganization, .. }), "{kind}: {err:?}");
            assert_eq!(StepError::from(err), StepError::AlreadyInAnOrganization, "{kind}");
            assert_eq!(invite.num_calls(), 1, "{kind}: refused, not retried");
        }
    }

    /// The daily invitation quota, as Organizations answers it (awsJson 1.1, `Reason` as in
    /// botocore's model; the message is the model's documentation of the reason, AWS's own
    /// wording may differ): its own error, sent once (the SDK does not retry a 400 of this
    /// code), and the invite step defers on it rather than retrying it into a failure.
    #[tokio::test]
    async fn the_daily_invitation_quota_is_its_own_error_sent_once() {
        for kind in ["HandshakeConstraintViolationException", "com.amazonaws.organizations.v20161128#HandshakeConstraintViolationException"]
        {
            let list = mock!(Client::list_handshakes_for_organization).then_output(|| listing(vec![], None));
            let body = format!(
                r#"{{"__type":"{kind}","Message":"You attempted to exceed the number of handshakes that you can send in one day.","Reason":"HANDSHAKE_RATE_LIMIT_EXCEEDED"}}"#
            );
            let invite = mock!(Client::invite_account_to_organization).sequence().http_status(400, Some(body)).repeatedly().build();
            let client =
                mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&list, &invite], |c| c.retry_config(super::fast_retries(3)));

            let err = AwsOrganizations::new(client).invite_account(&account(), migration_id()).await.unwrap_err();

            assert!(
                matches!(&err, OrgError::HandshakeRateLimited(m) if m.contains("one day")),
                "{kind}: the quota is not a refusal of the account, nor a blind retry: {err:?}"
            );
            assert_eq!(invite.num_calls(), 1, "{kind}: sent once");
        }
    }

    #[tokio::test]
    async fn handshake_constraint_reasons_are_retryable_or_refused() {
        let retry = |reason: &str| OrgError::Retryable { code: reason.into(), message: String::new() };
        let refuse = |refusal| OrgError::Refused { refusal, message: String::new() };
        let cases = [
            ("HANDSHAKE_RATE_LIMIT_EXCEEDED", OrgError::HandshakeRateLimited(String::new())),
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
        let err = AwsOrganizations::new(client).attach_policy("p-guard0001", ONBOARDING_OU).await.unwrap_err();
        assert_eq!(without_message(err), OrgError::Retryable { code: "PolicyChangesInProgressException".into(), message: String::new() });
    }

    const ONBOARDING_OU: &str = "ou-ab12-onboard1";

    #[tokio::test]
    async fn the_scps_of_an_ou_are_read_from_every_page_with_the_scp_filter() {
        use aws_sdk_organizations::operation::list_policies_for_target::ListPoliciesForTargetOutput;
        use aws_sdk_organizations::types::{PolicySummary, PolicyType};
        let scp = |id: &str| PolicySummary::builder().id(id).r#type(PolicyType::ServiceControlPolicy).build();
        let asks_for_scps = |r: &aws_sdk_organizations::operation::list_policies_for_target::ListPoliciesForTargetInput| {
            r.target_id() == Some(ONBOARDING_OU) && r.filter() == Some(&PolicyType::ServiceControlPolicy)
        };
        // An empty page that still has a NextToken, as List* operations may answer.
        let first = mock!(Client::list_policies_for_target)
            .match_requests(move |r| asks_for_scps(r) && r.next_token().is_none())
            .then_output(|| ListPoliciesForTargetOutput::builder().set_policies(Some(vec![])).next_token("page-2").build());
        let second = mock!(Client::list_policies_for_target)
            .match_requests(move |r| asks_for_scps(r) && r.next_token() == Some("page-2"))
            .then_output(move || {
                ListPoliciesForTargetOutput::builder().policies(scp("p-FullAWSAccess")).policies(scp("p-guard0001")).build()
            });
        let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&first, &second]);
        let scps = AwsOrganizations::new(client).scps_of(ONBOARDING_OU).await.unwrap();
        assert_eq!(scps, vec!["p-FullAWSAccess".to_owned(), "p-guard0001".to_owned()]);
        assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn attaching_an_scp_to_an_ou_is_done_once_and_its_refusals_are_named() {
        use aws_sdk_organizations::operation::attach_policy::AttachPolicyOutput;
        let ok = mock!(Client::attach_policy)
            .match_requests(|r| r.policy_id() == Some("p-guard0001") && r.target_id() == Some(ONBOARDING_OU))
            .then_output(|| AttachPolicyOutput::builder().build());
        let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&ok]);
        assert_eq!(AwsOrganizations::new(client).attach_policy("p-guard0001", ONBOARDING_OU).await, Ok(()));

        let quota =
            OrgError::Refused { refusal: Refusal::Other("MAX_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED".into()), message: String::new() };
        let cases = [
            ("DuplicatePolicyAttachmentException", "", None),
            ("ConstraintViolationException", r#","Reason":"MAX_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED""#, Some(quota)),
            ("AccessDeniedException", "", Some(OrgError::AccessDenied(String::new()))),
        ];
        for (code, extra, expected) in cases {
            let attach = mock!(Client::attach_policy).sequence().http_status(400, json_error(code, extra)).build();
            let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&attach]);
            let got = AwsOrganizations::new(client).attach_policy("p-guard0001", ONBOARDING_OU).await.map_err(without_message);
            assert_eq!(got, expected.map_or(Ok(()), Err), "{code}");
        }

        // A missing OU names itself; it is no missing account.
        let missing = mock!(Client::attach_policy).sequence().http_status(400, json_error("TargetNotFoundException", "")).build();
        let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&missing]);
        let err = AwsOrganizations::new(client).attach_policy("p-guard0001", ONBOARDING_OU).await.unwrap_err();
        assert!(matches!(&err, OrgError::Other(m) if m.contains(ONBOARDING_OU)), "{err:?}");
        let missing = mock!(Client::attach_policy).sequence().http_status(400, json_error("TargetNotFoundException", "")).build();
        let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&missing]);
        assert_eq!(AwsOrganizations::new(client).attach_policy("p-guard0001", ACCOUNT).await, Err(OrgError::AccountNotFound));
    }

    /// Compares errors by kind and code, not by AWS's wording.
    fn without_message(err: OrgError) -> OrgError {
        match err {
            OrgError::Retryable { code, .. } => OrgError::Retryable { code, message: String::new() },
            OrgError::Refused { refusal, .. } => OrgError::Refused { refusal, message: String::new() },
            OrgError::AccessDenied(_) => OrgError::AccessDenied(String::new()),
            OrgError::HandshakeRateLimited(_) => OrgError::HandshakeRateLimited(String::new()),
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

            let got = AwsOrganizations::new(client).cancel_handshake(&id, &account()).await.expect("described");

            assert_eq!(got.state, expected, "{code}");
            assert_eq!(describe.num_calls(), 1);
        }
    }

    #[tokio::test]
    async fn cancel_of_an_open_handshake_returns_it_canceled() {
        let cancel = mock!(Client::cancel_handshake)
            .then_output(|| CancelHandshakeOutput::builder().handshake(handshake("h-open00001", ACCOUNT, AwsState::Canceled)).build());
        let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&cancel]);
        let got = AwsOrganizations::new(client).cancel_handshake(&"h-open00001".parse().unwrap(), &account()).await.unwrap();
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
            let got = AwsOrganizations::new(client).describe_handshake(&"h-state0001".parse().unwrap(), &account()).await.unwrap();
            assert_eq!(got.state, expected);
            assert_eq!(got.requested_at.timestamp(), REQUESTED);
        }
        let missing = mock!(Client::describe_handshake).sequence().http_status(400, json_error("HandshakeNotFoundException", "")).build();
        let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&missing]);
        let err = AwsOrganizations::new(client).describe_handshake(&"h-missing001".parse().unwrap(), &account()).await.unwrap_err();
        assert_eq!(err, OrgError::HandshakeNotFound);
    }

    #[tokio::test]
    async fn membership_is_the_exact_join_time_or_none() {
        let joined = DateTime::from_fractional_secs(REQUESTED + 3600, 0.25);
        let member = mock!(Client::describe_account).then_output(move || {
            DescribeAccountOutput::builder()
                .account(
                    Account::builder()
                        .id(ACCOUNT)
                        .state(aws_sdk_organizations::types::AccountState::Active)
                        .joined_timestamp(joined)
                        .build(),
                )
                .build()
        });
        let stranger = mock!(Client::describe_account).sequence().http_status(400, json_error("AccountNotFoundException", "")).build();
        let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&member, &stranger]);
        let orgs = AwsOrganizations::new(client);

        let membership = orgs.membership(&account()).await.unwrap().expect("a member");
        assert_eq!(membership.joined_at.timestamp_millis(), (REQUESTED + 3600) * 1000 + 250, "to the millisecond");
        assert_eq!(membership.state, AccountState::Active);
        assert_eq!(orgs.membership(&"000999888777".parse().unwrap()).await.unwrap(), None);
    }

    /// DescribeAccount's answer on the wire (awsJson 1.1), as Organizations sends it.
    fn described_account(extra: &str) -> Option<String> {
        Some(format!(
            r#"{{"Account":{{"Id":"{ACCOUNT}","Arn":"arn:aws:organizations::{PARTNER}:account/o-partner0001/{ACCOUNT}","Email":"a@example.invalid","Name":"customer","JoinedMethod":"INVITED","JoinedTimestamp":{}{extra}}}}}"#,
            REQUESTED + 3600
        ))
    }

    async fn membership_of(body: Option<String>) -> Result<Option<Membership>, OrgError> {
        let describe =
            mock!(Client::describe_account).match_requests(|r| r.account_id() == Some(ACCOUNT)).sequence().http_status(200, body).build();
        let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&describe]);
        AwsOrganizations::new(client).membership(&account()).await
    }

    #[tokio::test]
    async fn membership_state_is_read_from_state_only() {
        for (wire, expected) in [
            ("PENDING_ACTIVATION", AccountState::PendingActivation),
            ("ACTIVE", AccountState::Active),
            ("SUSPENDED", AccountState::Suspended),
            ("PENDING_CLOSURE", AccountState::PendingClosure),
            ("CLOSED", AccountState::Closed),
        ] {
            // The retired Status says ACTIVE throughout: only State counts.
            let got = membership_of(described_account(&format!(r#","Status":"ACTIVE","State":"{wire}""#))).await;
            let membership = got.unwrap_or_else(|e| panic!("{wire}: {e:?}")).expect("a member");
            assert_eq!(membership.state, expected, "{wire}");
            assert_eq!(membership.is_active(), wire == "ACTIVE", "{wire}");
            assert_eq!(membership.joined_at.timestamp(), REQUESTED + 3600);
        }
    }

    #[tokio::test]
    async fn membership_without_a_known_state_is_an_error_never_active() {
        for extra in [r#","Status":"ACTIVE""#, "", r#","Status":"ACTIVE","State":"FROZEN""#] {
            let err = membership_of(described_account(extra)).await.unwrap_err();
            match &err {
                OrgError::Other(m) => assert!(m.contains("State") && m.contains(ACCOUNT), "{extra}: {m}"),
                other => panic!("{extra}: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn membership_parent_is_the_last_segment_of_the_first_path() {
        let state = r#","State":"ACTIVE""#;
        let ending_with_the_account = format!(r#","Paths":["o-partner0001/r-ab12/ou-ab12-onboard01/{ACCOUNT}/"]"#);
        for (paths, expected) in [
            (r#","Paths":["o-partner0001/r-ab12/ou-ab12-onboard01/"]"#, Some("ou-ab12-onboard01")),
            (r#","Paths":["o-partner0001/r-ab12/ou-ab12-parent01/ou-ab12-onboard01/"]"#, Some("ou-ab12-onboard01")),
            (r#","Paths":["o-partner0001/r-ab12/"]"#, Some("r-ab12")),
            // The Path pattern lets a path end with the account's own id: never its parent.
            (ending_with_the_account.as_str(), Some("ou-ab12-onboard01")),
            (r#","Paths":["o-partner0001/r-ab12/ou-ab12-first001/","o-partner0001/r-ab12/ou-ab12-second01/"]"#, Some("ou-ab12-first001")),
            (r#","Paths":[]"#, None),
            ("", None),
        ] {
            let membership = membership_of(described_account(&format!("{state}{paths}"))).await.unwrap().expect("a member");
            assert_eq!(membership.parent.as_deref(), expected, "{paths}");
            assert_eq!(membership.state, AccountState::Active);
        }
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

    const LOW_TO_URGENT: &[&str] = &["low", "normal", "high", "urgent"];
    const LOW_TO_CRITICAL: &[&str] = &["low", "normal", "high", "urgent", "critical"];

    /// Every plan of 2026, legacy and new, and what `DescribeSeverityLevels` answers for it:
    /// its severity levels, or `None` for `SubscriptionRequiredException`.
    const PLANS_2026: &[(&str, Option<&[&str]>, SupportPlan)] = &[
        ("Basic", None, SupportPlan::BasicOrDeveloper),
        ("Developer (legacy)", None, SupportPlan::BasicOrDeveloper),
        ("Business (legacy)", Some(LOW_TO_URGENT), SupportPlan::BusinessClass),
        ("Business Support+", Some(LOW_TO_URGENT), SupportPlan::BusinessClass),
        ("Enterprise On-Ramp (legacy)", Some(LOW_TO_CRITICAL), SupportPlan::EnterpriseClass),
        ("Enterprise (legacy)", Some(LOW_TO_CRITICAL), SupportPlan::EnterpriseClass),
        ("Enterprise Support", Some(LOW_TO_CRITICAL), SupportPlan::EnterpriseClass),
        ("Unified Operations", Some(LOW_TO_CRITICAL), SupportPlan::EnterpriseClass),
    ];

    #[tokio::test]
    async fn every_2026_plan_is_classified_from_its_answer() {
        for (plan, answer, expected) in PLANS_2026 {
            let rule = match *answer {
                Some(codes) => mock!(Client::describe_severity_levels)
                    .match_requests(|r| r.language() == Some("en"))
                    .then_output(move || levels(codes)),
                None => mock!(Client::describe_severity_levels)
                    .sequence()
                    .http_status(400, json_error("SubscriptionRequiredException", ""))
                    .build(),
            };
            let client = mock_client!(aws_sdk_support, RuleMode::Sequential, [&rule]);

            let got = AwsSupportProbe::probe(&client).await;

            assert_eq!(got.plan, *expected, "{plan}");
            let detail = got.detail.unwrap_or_default();
            let wanted = match answer {
                Some(codes) if *expected == SupportPlan::EnterpriseClass => {
                    format!("Enterprise-class support (severity levels: {})", codes.join(", "))
                }
                Some(codes) => format!("Business-class support (severity levels: {})", codes.join(", ")),
                None => "SubscriptionRequiredException".to_owned(),
            };
            assert_eq!(detail, wanted, "{plan}");
            assert_eq!(rule.num_calls(), 1, "{plan}");
        }
    }

    #[tokio::test]
    async fn levels_that_name_no_class_are_still_paid() {
        let rule = mock!(Client::describe_severity_levels).then_output(|| levels(&["low", "normal"]));
        let client = mock_client!(aws_sdk_support, RuleMode::Sequential, [&rule]);
        let answer = AwsSupportProbe::probe(&client).await;
        assert_eq!(answer.plan, SupportPlan::Paid);
        assert_eq!(answer.detail.as_deref(), Some("paid support (severity levels: low, normal)"));
    }

    #[tokio::test]
    async fn a_throttled_probe_is_retried_then_answers() {
        let rule = mock!(Client::describe_severity_levels)
            .sequence()
            .http_status(400, json_error("ThrottlingException", ""))
            .output(|| levels(&["low", "normal", "high", "urgent"]))
            .build();
        let client = mock_client!(aws_sdk_support, RuleMode::Sequential, [&rule], |c| c.retry_config(super::fast_retries(3)));
        assert_eq!(AwsSupportProbe::probe(&client).await.plan, SupportPlan::BusinessClass);
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
    async fn describe_reads_status_error_and_cause_and_a_missing_execution_is_none() {
        use migration::ports::ExecutionStatus as Domain;
        let failed =
            mock!(Client::describe_execution).match_requests(|r| r.execution_arn() == Some(execution_arn().as_str())).then_output(|| {
                DescribeExecutionOutput::builder()
                    .execution_arn(execution_arn())
                    .state_machine_arn(STATE_MACHINE)
                    .status(ExecutionStatus::Failed)
                    .start_date(aws_sdk_sfn::primitives::DateTime::from_secs(REQUESTED))
                    .stop_date(aws_sdk_sfn::primitives::DateTime::from_secs(REQUESTED + 60))
                    .error("Migration.InvitationDeclined")
                    .cause(r#"{"message":"declined"}"#)
                    .build()
                    .unwrap()
            });
        let missing = mock!(Client::describe_execution).sequence().http_status(400, json_error("ExecutionDoesNotExist", "")).build();
        let kms = mock!(Client::describe_execution).sequence().http_status(400, json_error("KmsAccessDeniedException", "")).build();
        let client = mock_client!(aws_sdk_sfn, RuleMode::Sequential, [&failed, &missing, &kms]);
        let port = adapter(client);

        let state = port.describe(migration_id()).await.unwrap().expect("described");
        assert_eq!(state.status, Domain::Failed);
        assert_eq!(state.error.as_deref(), Some("Migration.InvitationDeclined"));
        assert_eq!(state.cause.as_deref(), Some(r#"{"message":"declined"}"#));
        assert_eq!(state.stopped_at.map(|t| t.timestamp()), Some(REQUESTED + 60));
        assert_eq!(port.describe(migration_id()).await.unwrap(), None, "ExecutionDoesNotExist: never started");
        assert!(matches!(port.describe(migration_id()).await, Err(ExecutionError::Other(_))), "a KMS refusal is reported, not hidden");
        assert_eq!(port.execution_arn(migration_id()), Some(execution_arn()));
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

/// Billing transfers: Organizations' responsibility transfers (no emulator has them) and
/// Billing Conductor's billing groups, answered as AWS does on the wire.
mod transfers {
    use super::*;
    use aws_sdk_billingconductor::operation::create_billing_group::CreateBillingGroupOutput;
    use aws_sdk_billingconductor::operation::list_billing_groups::ListBillingGroupsOutput;
    use aws_sdk_billingconductor::types::{BillingGroupListElement, ListBillingGroupAccountGrouping};
    use aws_sdk_organizations::Client;
    use aws_sdk_organizations::operation::cancel_handshake::CancelHandshakeOutput;
    use aws_sdk_organizations::operation::describe_handshake::DescribeHandshakeOutput;
    use aws_sdk_organizations::operation::describe_responsibility_transfer::DescribeResponsibilityTransferOutput;
    use aws_sdk_organizations::operation::invite_organization_to_transfer_responsibility::InviteOrganizationToTransferResponsibilityOutput;
    use aws_sdk_organizations::operation::list_inbound_responsibility_transfers::ListInboundResponsibilityTransfersOutput;
    use aws_sdk_organizations::operation::terminate_responsibility_transfer::TerminateResponsibilityTransferOutput;
    use aws_sdk_organizations::types::{
        ResponsibilityTransfer as AwsTransfer, ResponsibilityTransferStatus as Rts, ResponsibilityTransferType, TransferParticipant,
    };
    use chrono::{TimeZone, Utc};
    use migration::transfer::{BillingGroupSpec, BillingTransfers, TransferError, TransferInvitation, TransferRefusal, TransferStatus};
    use migration_aws::AwsBillingTransfers;

    const TRANSFER: &str = "rt-0a1b2c3d4e";
    const ARN: &str = "arn:aws:organizations::999999999999:transfer/o-partner0001/billing/inbound/rt-0a1b2c3d4e";
    const START: i64 = 1_798_761_600; // 2027-01-01T00:00:00Z
    const PLAN: &str = "arn:aws:billingconductor::999999999999:pricingplan/a1b2c3d4e5";

    fn start() -> chrono::DateTime<Utc> {
        Utc.timestamp_opt(START, 0).unwrap()
    }

    fn invitation() -> TransferInvitation {
        TransferInvitation {
            account: account(),
            start_at: start(),
            source_name: "CenturyLink".into(),
            notes: "Migration 01JNK4Q6X1V8W5Z2Y3A4B5C6D7.".into(),
            migration: migration_id(),
        }
    }

    fn aws_transfer(id: &str, account: &str, status: Rts, start: i64) -> AwsTransfer {
        AwsTransfer::builder()
            .id(id)
            .arn(format!("arn:aws:organizations::{PARTNER}:transfer/o-partner0001/billing/inbound/{id}"))
            .name("CenturyLink")
            .r#type(ResponsibilityTransferType::Billing)
            .status(status)
            .source(TransferParticipant::builder().management_account_id(account).build())
            .target(TransferParticipant::builder().management_account_id(PARTNER).build())
            .start_timestamp(DateTime::from_secs(start))
            .active_handshake_id("h-trans00001")
            .build()
    }

    /// The invitation's handshake as AWS sends it: action TRANSFER_RESPONSIBILITY, the
    /// transfer named as a RESPONSIBILITY_TRANSFER resource.
    fn invitation_handshake(names_transfer: bool) -> Handshake {
        let mut builder = Handshake::builder()
            .action(ActionType::TransferResponsibility)
            .parties(party(PARTNER, HandshakePartyType::Account))
            .parties(party(ACCOUNT, HandshakePartyType::Account))
            .resources(resource(HandshakeResourceType::TransferType, "BILLING"));
        if names_transfer {
            builder = builder.resources(resource(HandshakeResourceType::ResponsibilityTransfer, TRANSFER));
        }
        timed(builder, "h-trans00001", AwsState::Open)
    }

    fn inbound(transfers: Vec<AwsTransfer>, next: Option<&str>) -> ListInboundResponsibilityTransfersOutput {
        ListInboundResponsibilityTransfersOutput::builder()
            .set_responsibility_transfers(Some(transfers))
            .set_next_token(next.map(str::to_owned))
            .build()
    }

    fn adapter(orgs: Client, billing: Option<aws_sdk_billingconductor::Client>) -> AwsBillingTransfers {
        let billing = billing.unwrap_or_else(|| mock_client!(aws_sdk_billingconductor, RuleMode::Sequential, []));
        AwsBillingTransfers::new(orgs, billing)
    }

    #[tokio::test]
    async fn reuses_the_requested_transfer_found_on_a_later_page_without_inviting() {
        let first = mock!(Client::list_inbound_responsibility_transfers)
            .match_requests(|r| r.next_token().is_none() && r.r#type() == Some(&ResponsibilityTransferType::Billing))
            .then_output(|| inbound(vec![], Some("p2")));
        let second =
            mock!(Client::list_inbound_responsibility_transfers).match_requests(|r| r.next_token() == Some("p2")).then_output(|| {
                inbound(
                    vec![
                        // Another account's; ours declined; ours for another month: none is it.
                        aws_transfer("rt-other0001", "000111222333", Rts::Requested, START),
                        aws_transfer("rt-declined1", ACCOUNT, Rts::Declined, START),
                        aws_transfer("rt-feb000001", ACCOUNT, Rts::Requested, START + 31 * 86_400),
                        aws_transfer(TRANSFER, ACCOUNT, Rts::Requested, START),
                    ],
                    None,
                )
            });
        let handshake = mock!(Client::describe_handshake)
            .match_requests(|r| r.handshake_id() == Some("h-trans00001"))
            .then_output(|| DescribeHandshakeOutput::builder().handshake(invitation_handshake(true)).build());
        let invite = mock!(Client::invite_organization_to_transfer_responsibility)
            .then_output(|| InviteOrganizationToTransferResponsibilityOutput::builder().build());
        let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&first, &second, &handshake, &invite]);

        let sent = adapter(client, None).invite(&invitation()).await.expect("reused");

        assert_eq!(sent.transfer.id.as_str(), TRANSFER);
        assert_eq!(sent.transfer.arn, ARN);
        assert_eq!(sent.transfer.customer_account, account());
        assert_eq!(sent.handshake.id.as_str(), "h-trans00001");
        assert_eq!(sent.handshake.expires_at.timestamp(), REQUESTED + FIFTEEN_DAYS);
        assert_eq!(invite.num_calls(), 0, "no second invitation");
    }

    #[tokio::test]
    async fn invites_a_billing_transfer_of_the_account_from_the_first_of_the_month() {
        let list = mock!(Client::list_inbound_responsibility_transfers).then_output(|| inbound(vec![], None));
        let invite = mock!(Client::invite_organization_to_transfer_responsibility)
            .match_requests(|r| {
                r.r#type() == Some(&ResponsibilityTransferType::Billing)
                    && r.target().is_some_and(|t| t.id() == ACCOUNT && t.r#type() == &HandshakePartyType::Account)
                    && r.start_timestamp().is_some_and(|s| s.secs() == START && s.subsec_nanos() == 0)
                    && r.source_name() == Some("CenturyLink")
                    // No tags: they would need organizations:TagResource as well.
                    && r.tags().is_empty()
                    && r.notes().is_some_and(|n| n.contains("01JNK4Q6X1V8W5Z2Y3A4B5C6D7"))
            })
            .then_output(|| InviteOrganizationToTransferResponsibilityOutput::builder().handshake(invitation_handshake(true)).build());
        let describe = mock!(Client::describe_responsibility_transfer).match_requests(|r| r.id() == Some(TRANSFER)).then_output(|| {
            DescribeResponsibilityTransferOutput::builder()
                .responsibility_transfer(aws_transfer(TRANSFER, ACCOUNT, Rts::Requested, START))
                .build()
        });
        let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&list, &invite, &describe]);

        let sent = adapter(client, None).invite(&invitation()).await.expect("invited");

        assert_eq!(sent.transfer.status, TransferStatus::Requested);
        assert_eq!(sent.transfer.start_at, start());
        assert_eq!((invite.num_calls(), describe.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn an_open_invitation_for_another_month_is_reused_not_duplicated() {
        // A retry computed a later default month than the attempt that sent the invitation.
        let listed = mock!(Client::list_inbound_responsibility_transfers)
            .then_output(|| inbound(vec![aws_transfer(TRANSFER, ACCOUNT, Rts::Requested, START - 31 * 86_400)], None));
        let described = mock!(Client::describe_handshake)
            .then_output(|| DescribeHandshakeOutput::builder().handshake(invitation_handshake(true)).build());
        let invite = mock!(Client::invite_organization_to_transfer_responsibility)
            .then_output(|| InviteOrganizationToTransferResponsibilityOutput::builder().build());
        let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&listed, &described, &invite]);
        let sent = adapter(client, None).invite(&invitation()).await.expect("reused");
        assert_eq!((sent.transfer.id.as_str(), sent.transfer.start_at.timestamp()), (TRANSFER, START - 31 * 86_400));
        assert_eq!(invite.num_calls(), 0);
    }

    #[tokio::test]
    async fn an_invitation_aws_reports_as_existing_is_adopted_when_it_is_ours() {
        let empty = mock!(Client::list_inbound_responsibility_transfers).then_output(|| inbound(vec![], None));
        let exists = mock!(Client::invite_organization_to_transfer_responsibility)
            .sequence()
            .http_status(400, json_error("HandshakeConstraintViolationException", r#","Reason":"RESPONSIBILITY_TRANSFER_ALREADY_EXISTS""#))
            .build();
        let listed = mock!(Client::list_inbound_responsibility_transfers)
            .then_output(|| inbound(vec![aws_transfer(TRANSFER, ACCOUNT, Rts::Requested, START)], None));
        let described = mock!(Client::describe_handshake)
            .then_output(|| DescribeHandshakeOutput::builder().handshake(invitation_handshake(true)).build());
        let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&empty, &exists, &listed, &described]);
        assert_eq!(adapter(client, None).invite(&invitation()).await.expect("adopted").transfer.id.as_str(), TRANSFER);
        // One listing after the refusal, not one to decide and another to adopt.
        assert_eq!((empty.num_calls(), listed.num_calls(), described.num_calls()), (1, 1, 1));
    }

    #[tokio::test]
    async fn a_handshake_that_does_not_name_its_transfer_is_matched_by_listing() {
        let empty = mock!(Client::list_inbound_responsibility_transfers).then_output(|| inbound(vec![], None));
        let invite = mock!(Client::invite_organization_to_transfer_responsibility)
            .then_output(|| InviteOrganizationToTransferResponsibilityOutput::builder().handshake(invitation_handshake(false)).build());
        let listed = mock!(Client::list_inbound_responsibility_transfers)
            .then_output(|| inbound(vec![aws_transfer(TRANSFER, ACCOUNT, Rts::Requested, START)], None));
        let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&empty, &invite, &listed]);

        let sent = adapter(client, None).invite(&invitation()).await.expect("invited");
        assert_eq!(sent.transfer.id.as_str(), TRANSFER);
    }

    #[tokio::test]
    async fn a_duplicate_handshake_is_adopted_and_a_join_invitation_is_never_taken_for_it() {
        let empty = mock!(Client::list_inbound_responsibility_transfers).then_output(|| inbound(vec![], None));
        let duplicate = mock!(Client::invite_organization_to_transfer_responsibility)
            .sequence()
            .http_status(400, json_error("DuplicateHandshakeException", ""))
            .build();
        let listed = mock!(Client::list_inbound_responsibility_transfers)
            .then_output(|| inbound(vec![aws_transfer(TRANSFER, ACCOUNT, Rts::Requested, START)], None));
        let described = mock!(Client::describe_handshake)
            .then_output(|| DescribeHandshakeOutput::builder().handshake(invitation_handshake(true)).build());
        let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&empty, &duplicate, &listed, &described]);
        assert_eq!(adapter(client, None).invite(&invitation()).await.expect("adopted").transfer.id.as_str(), TRANSFER);

        // The handshake AWS names is an invitation to join: an error, not our transfer's.
        let listed = mock!(Client::list_inbound_responsibility_transfers)
            .then_output(|| inbound(vec![aws_transfer(TRANSFER, ACCOUNT, Rts::Requested, START)], None));
        let join = mock!(Client::describe_handshake)
            .then_output(|| DescribeHandshakeOutput::builder().handshake(handshake("h-trans00001", ACCOUNT, AwsState::Open)).build());
        let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&listed, &join]);
        let err = adapter(client, None).invite(&invitation()).await.unwrap_err();
        assert!(matches!(&err, TransferError::Other(m) if m.contains("not a billing-transfer invitation")), "{err:?}");
    }

    /// The exception each named reason arrives in (botocore's organizations model).
    fn exception_of(refusal: &TransferRefusal) -> &'static str {
        let reason = refusal.reason();
        if reason.contains("DATE") || reason == "UNSUPPORTED_ACTION_IN_RESPONSIBILITY_TRANSFER" {
            "InvalidInputException"
        } else if reason.ends_with("QUOTA_VIOLATION")
            || reason == "RESPONSIBILITY_TRANSFER_MAX_LEVEL_VIOLATION"
            || reason == "ACTIVE_RESPONSIBILITY_TRANSFER_PROCESS"
            || reason == "UNSUPPORTED_PRICING"
        {
            "ConstraintViolationException"
        } else {
            "HandshakeConstraintViolationException"
        }
    }

    #[tokio::test]
    async fn every_refusal_aws_names_reaches_the_domain_by_its_reason() {
        for refusal in TransferRefusal::NAMED {
            let extra = format!(r#","Reason":"{}""#, refusal.reason());
            let empty = mock!(Client::list_inbound_responsibility_transfers).then_output(|| inbound(vec![], None));
            let refused = mock!(Client::invite_organization_to_transfer_responsibility)
                .sequence()
                .http_status(400, json_error(exception_of(refusal), &extra))
                .build();
            // For the two reasons an invitation of ours could be refused with, the adapter
            // looks again; none is open.
            let still_empty = mock!(Client::list_inbound_responsibility_transfers).then_output(|| inbound(vec![], None));
            let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&empty, &refused, &still_empty]);
            let err = adapter(client, None).invite(&invitation()).await.unwrap_err();
            assert!(matches!(&err, TransferError::Refused { refusal: r, .. } if r == refusal), "{}: {err:?}", refusal.reason());
            let looked_again = matches!(refusal, TransferRefusal::AlreadyExists | TransferRefusal::ActiveTransferProcess);
            assert_eq!(still_empty.num_calls(), usize::from(looked_again), "{}", refusal.reason());
        }
        // A request built wrong (INVALID_PATTERN) is a defect, not a refusal.
        let empty = mock!(Client::list_inbound_responsibility_transfers).then_output(|| inbound(vec![], None));
        let invalid = mock!(Client::invite_organization_to_transfer_responsibility)
            .sequence()
            .http_status(400, json_error("InvalidInputException", r#","Reason":"INVALID_PATTERN""#))
            .build();
        let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&empty, &invalid]);
        assert!(
            matches!(adapter(client, None).invite(&invitation()).await.unwrap_err(), TransferError::Other(m) if m.contains("INVALID_PATTERN"))
        );
    }

    #[tokio::test]
    async fn canceling_an_invitation_already_decided_leaves_it_and_a_missing_one_is_not_found() {
        let ok = mock!(Client::cancel_handshake).then_output(|| CancelHandshakeOutput::builder().build());
        let decided =
            mock!(Client::cancel_handshake).sequence().http_status(400, json_error("InvalidHandshakeTransitionException", "")).build();
        let again = mock!(Client::cancel_handshake).sequence().http_status(400, json_error("HandshakeAlreadyInStateException", "")).build();
        let missing = mock!(Client::cancel_handshake).sequence().http_status(400, json_error("HandshakeNotFoundException", "")).build();
        let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&ok, &decided, &again, &missing]);
        let port = adapter(client, None);
        let id: HandshakeId = "h-trans00001".parse().unwrap();
        port.cancel_invitation(&id).await.expect("canceled");
        port.cancel_invitation(&id).await.expect("decided: left as it is");
        port.cancel_invitation(&id).await.expect("canceled already");
        assert_eq!(port.cancel_invitation(&id).await.unwrap_err(), TransferError::NotFound);
    }

    #[tokio::test]
    async fn terminating_sends_the_end_of_the_month_and_maps_aws_s_answers() {
        let end = Utc.with_ymd_and_hms(2027, 3, 31, 23, 59, 59).unwrap() + chrono::Duration::milliseconds(999);
        let ended = mock!(Client::terminate_responsibility_transfer)
            .match_requests(move |r| {
                r.id() == Some(TRANSFER) && r.end_timestamp().is_some_and(|e| e.to_millis().ok() == Some(end.timestamp_millis()))
            })
            .then_output(move || {
                let mut t = aws_transfer(TRANSFER, ACCOUNT, Rts::Withdrawn, START);
                t.end_timestamp = Some(DateTime::from_millis(end.timestamp_millis()));
                t.active_handshake_id = None;
                TerminateResponsibilityTransferOutput::builder().responsibility_transfer(t).build()
            });
        let already = mock!(Client::terminate_responsibility_transfer)
            .sequence()
            .http_status(400, json_error("ResponsibilityTransferAlreadyInStatusException", ""))
            .build();
        let never_accepted = mock!(Client::terminate_responsibility_transfer)
            .sequence()
            .http_status(400, json_error("InvalidResponsibilityTransferTransitionException", ""))
            .build();
        let too_early = mock!(Client::terminate_responsibility_transfer)
            .sequence()
            .http_status(400, json_error("InvalidInputException", r#","Reason":"END_DATE_TOO_EARLY""#))
            .build();
        let missing = mock!(Client::terminate_responsibility_transfer)
            .sequence()
            .http_status(400, json_error("ResponsibilityTransferNotFoundException", ""))
            .build();
        let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&ended, &already, &never_accepted, &too_early, &missing]);
        let port = adapter(client, None);
        let id: migration::ids::TransferId = TRANSFER.parse().unwrap();

        let t = port.terminate(&id, end).await.expect("terminated");
        assert_eq!((t.status, t.end_at), (TransferStatus::Withdrawn, Some(end)));
        assert!(matches!(port.terminate(&id, end).await.unwrap_err(), TransferError::AlreadyInStatus(_)));
        assert!(matches!(port.terminate(&id, end).await.unwrap_err(), TransferError::InvalidTransition(_)));
        assert!(matches!(
            port.terminate(&id, end).await.unwrap_err(),
            TransferError::Refused { refusal: TransferRefusal::EndDateTooEarly, .. }
        ));
        assert_eq!(port.terminate(&id, end).await.unwrap_err(), TransferError::NotFound);
    }

    #[tokio::test]
    async fn describe_reads_the_customer_as_the_source_and_throttling_is_retryable() {
        let accepted = mock!(Client::describe_responsibility_transfer).then_output(|| {
            DescribeResponsibilityTransferOutput::builder()
                .responsibility_transfer(aws_transfer(TRANSFER, ACCOUNT, Rts::Accepted, START))
                .build()
        });
        let throttled =
            mock!(Client::describe_responsibility_transfer).sequence().http_status(400, json_error("TooManyRequestsException", "")).build();
        let client =
            mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&accepted, &throttled], |c| c.retry_config(super::fast_retries(1)));
        let port = adapter(client, None);
        let id: migration::ids::TransferId = TRANSFER.parse().unwrap();
        let t = port.describe(&id).await.unwrap();
        assert_eq!((t.status, t.customer_account.clone()), (TransferStatus::Accepted, account()));
        assert!(t.in_force_at(start()));
        assert!(matches!(port.describe(&id).await.unwrap_err(), TransferError::Retryable { .. }));
    }

    fn spec() -> BillingGroupSpec {
        BillingGroupSpec {
            name: "cam-01JNK4Q6X1V8W5Z2Y3A4B5C6D7".into(),
            transfer_arn: ARN.into(),
            pricing_plan_arn: PLAN.into(),
            primary_account: account(),
            migration: migration_id(),
        }
    }

    fn group(arn: &str) -> BillingGroupListElement {
        BillingGroupListElement::builder()
            .arn(arn)
            .name("cam-01JNK4Q6X1V8W5Z2Y3A4B5C6D7")
            .creation_time(START)
            .account_grouping(ListBillingGroupAccountGrouping::builder().responsibility_transfer_arn(ARN).build())
            .build()
    }

    #[tokio::test]
    async fn the_billing_group_is_found_by_its_transfer_or_made_once() {
        use aws_sdk_billingconductor::Client as Billing;
        let orgs = || mock_client!(aws_sdk_organizations, RuleMode::Sequential, []);
        // Made already: found by the transfer's ARN, nothing created.
        let listed = mock!(Billing::list_billing_groups)
            .match_requests(|r| r.filters().is_some_and(|f| f.responsibility_transfer_arns() == [ARN.to_owned()]))
            .then_output(|| {
                ListBillingGroupsOutput::builder()
                    .billing_groups(group("arn:aws:billingconductor::999999999999:billinggroup/0123456789"))
                    .build()
            });
        let create = mock!(Billing::create_billing_group).then_output(|| CreateBillingGroupOutput::builder().build());
        let billing = mock_client!(aws_sdk_billingconductor, RuleMode::Sequential, [&listed, &create]);
        let found = adapter(orgs(), Some(billing)).ensure_billing_group(&spec()).await.unwrap();
        assert_eq!(found.created_at.timestamp(), START);
        assert_eq!(create.num_calls(), 0);

        // A listed group that does not name the transfer is not taken for its group.
        let stranger = mock!(Billing::list_billing_groups).then_output(|| {
            ListBillingGroupsOutput::builder()
                .billing_groups(
                    BillingGroupListElement::builder().arn("arn:aws:billingconductor::999999999999:billinggroup/1111111111").build(),
                )
                .build()
        });
        let create = mock!(Billing::create_billing_group).then_output(|| {
            CreateBillingGroupOutput::builder().arn("arn:aws:billingconductor::999999999999:billinggroup/2222222222").build()
        });
        let billing = mock_client!(aws_sdk_billingconductor, RuleMode::Sequential, [&stranger, &create]);
        assert!(adapter(orgs(), Some(billing)).ensure_billing_group(&spec()).await.unwrap().arn.ends_with("2222222222"));

        // Not there: made with the transfer, the pricing plan and the migration as its token.
        let none = mock!(Billing::list_billing_groups).then_output(|| ListBillingGroupsOutput::builder().build());
        let create = mock!(Billing::create_billing_group)
            .match_requests(|r| {
                r.client_token() == Some("01JNK4Q6X1V8W5Z2Y3A4B5C6D7")
                    && r.name() == Some("cam-01JNK4Q6X1V8W5Z2Y3A4B5C6D7")
                    && r.account_grouping().and_then(|a| a.responsibility_transfer_arn()) == Some(ARN)
                    && r.computation_preference().map(|c| c.pricing_plan_arn()) == Some(PLAN)
                    && r.primary_account_id().is_none()
            })
            .then_output(|| {
                CreateBillingGroupOutput::builder().arn("arn:aws:billingconductor::999999999999:billinggroup/9876543210").build()
            });
        let billing = mock_client!(aws_sdk_billingconductor, RuleMode::Sequential, [&none, &create]);
        let made = adapter(orgs(), Some(billing)).ensure_billing_group(&spec()).await.unwrap();
        assert!(made.arn.ends_with("9876543210"));

        // Made concurrently: the conflict is resolved by listing again.
        let none = mock!(Billing::list_billing_groups).then_output(|| ListBillingGroupsOutput::builder().build());
        let conflict = mock!(Billing::create_billing_group)
            .sequence()
            .http_status(
                409,
                Some(r#"{"__type":"ConflictException","message":"exists","resourceId":"x","resourceType":"BillingGroup"}"#.to_owned()),
            )
            .build();
        let listed = mock!(Billing::list_billing_groups).then_output(|| {
            ListBillingGroupsOutput::builder()
                .billing_groups(group("arn:aws:billingconductor::999999999999:billinggroup/0123456789"))
                .build()
        });
        let billing = mock_client!(aws_sdk_billingconductor, RuleMode::Sequential, [&none, &conflict, &listed]);
        let adopted = adapter(orgs(), Some(billing)).ensure_billing_group(&spec()).await.unwrap();
        assert!(adopted.arn.ends_with("0123456789"));
    }
}

/// What `AwsPorts` builds at cold start: every SDK client costs start-up work (its endpoint
/// resolver parses the partition table and compiles its regions' patterns), so a client two
/// ports call is built once.
mod clients_built {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use aws_smithy_runtime_api::box_error::BoxError;
    use aws_smithy_runtime_api::client::http::{
        HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
    };
    use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::client::runtime_components::{RuntimeComponents, RuntimeComponentsBuilder};
    use aws_smithy_types::config_bag::ConfigBag;
    use migration_aws::{AwsPorts, ClientHooks, Needs, Resources, Service};

    /// An HTTP client that sends nothing and counts the SDK clients built over it: each
    /// `Client::from_conf` validates its base configuration with its HTTP client once.
    #[derive(Debug, Default, Clone)]
    struct Counting(Arc<AtomicUsize>);

    #[derive(Debug)]
    struct Refuses;

    impl HttpConnector for Refuses {
        fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
            HttpConnectorFuture::ready(Err(ConnectorError::other("this test sends nothing".into(), None)))
        }
    }

    impl HttpClient for Counting {
        fn http_connector(&self, _: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
            SharedHttpConnector::new(Refuses)
        }

        fn validate_base_client_config(&self, _: &RuntimeComponentsBuilder, _: &ConfigBag) -> Result<(), BoxError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    fn built(needs: Needs, service: Service) -> usize {
        let counting = Counting::default();
        let hooks = ClientHooks::default().service(service, Some(SharedHttpClient::new(counting.clone())), vec![]);
        let config = aws_config::SdkConfig::builder()
            .region(aws_config::Region::from_static("eu-west-1"))
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let resources = Resources::new("cam-migrations", "arn:aws:states:eu-west-1:999999999999:stateMachine:cam-migration");
        AwsPorts::for_needs(&config, needs, &resources, &hooks).unwrap();
        counting.0.load(Ordering::SeqCst)
    }

    #[test]
    fn one_organizations_client_serves_the_partner_organization_and_billing_transfers() {
        let store = Needs { store: true, ..Needs::NOTHING };
        // wait-for-handshake, the watcher and the API need both ports.
        assert_eq!(built(Needs { organizations: true, transfers: true, ..store }, Service::Organizations), 1);
        assert_eq!(built(Needs { organizations: true, ..store }, Service::Organizations), 1);
        // confirm-transfer needs only the billing transfers.
        assert_eq!(built(Needs { transfers: true, ..store }, Service::Organizations), 1);
        assert_eq!(built(Needs { transfers: true, ..store }, Service::BillingConductor), 1);
        assert_eq!(built(store, Service::Organizations), 0);
        assert_eq!(built(store, Service::DynamoDb), 1);
    }
}
