//! The billing-transfer port contract of `migration_sim::contract`, run against the AWS
//! adapter. No emulator implements responsibility transfers or Billing Conductor (moto 5.2
//! has neither), so AWS is played on the wire by aws-smithy-mocks rules over one shared state:
//! each answer in AWS's documented shape (the transfer listed inbound with the customer as its
//! `Source`, the invitation's handshake naming its `RESPONSIBILITY_TRANSFER`, the errors AWS
//! names: `ResponsibilityTransferNotFoundException`, `HandshakeAlreadyInStateException`,
//! `InvalidResponsibilityTransferTransitionException`,
//! `ResponsibilityTransferAlreadyInStatusException`). What this proves is the adapter's side:
//! that its requests and its reading of those answers keep the contract the simulation keeps.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_billingconductor::operation::create_billing_group::CreateBillingGroupOutput;
use aws_sdk_billingconductor::operation::list_billing_groups::ListBillingGroupsOutput;
use aws_sdk_billingconductor::types::{BillingGroupListElement, ListBillingGroupAccountGrouping};
use aws_sdk_organizations::operation::cancel_handshake::CancelHandshakeOutput;
use aws_sdk_organizations::operation::describe_handshake::DescribeHandshakeOutput;
use aws_sdk_organizations::operation::describe_responsibility_transfer::DescribeResponsibilityTransferOutput;
use aws_sdk_organizations::operation::invite_organization_to_transfer_responsibility::InviteOrganizationToTransferResponsibilityOutput;
use aws_sdk_organizations::operation::list_inbound_responsibility_transfers::ListInboundResponsibilityTransfersOutput;
use aws_sdk_organizations::operation::terminate_responsibility_transfer::TerminateResponsibilityTransferOutput;
use aws_sdk_organizations::primitives::DateTime as AwsTime;
use aws_sdk_organizations::types::{
    ActionType, Handshake, HandshakeParty, HandshakePartyType, HandshakeResource, HandshakeResourceType, HandshakeState,
    ResponsibilityTransfer, ResponsibilityTransferStatus as Rts, ResponsibilityTransferType, TransferParticipant,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use migration::ids::HandshakeId;
use migration_aws::AwsBillingTransfers;
use migration_sim::contract::{TransferCustomer, TransferFixture, t0};

const PARTNER: &str = "999999999999";
const CUSTOMER: &str = "000123456789";

#[derive(Clone)]
struct Transfer {
    id: String,
    account: String,
    start: AwsTime,
    status: Rts,
    end: Option<AwsTime>,
}

impl Transfer {
    fn handshake_id(&self) -> String {
        format!("h-{}", self.id.trim_start_matches("rt-"))
    }

    fn arn(&self) -> String {
        format!("arn:aws:organizations::{PARTNER}:transfer/o-partner0001/billing/inbound/{}", self.id)
    }

    fn aws(&self) -> ResponsibilityTransfer {
        ResponsibilityTransfer::builder()
            .id(&self.id)
            .arn(self.arn())
            .name("CenturyLink")
            .r#type(ResponsibilityTransferType::Billing)
            .status(self.status.clone())
            .source(TransferParticipant::builder().management_account_id(&self.account).build())
            .target(TransferParticipant::builder().management_account_id(PARTNER).build())
            .start_timestamp(self.start)
            .set_end_timestamp(self.end)
            .set_active_handshake_id((self.status == Rts::Requested).then(|| self.handshake_id()))
            .build()
    }

    fn handshake(&self) -> Handshake {
        let state = match self.status {
            Rts::Requested => HandshakeState::Open,
            Rts::Canceled => HandshakeState::Canceled,
            Rts::Declined => HandshakeState::Declined,
            Rts::Expired => HandshakeState::Expired,
            _ => HandshakeState::Accepted,
        };
        let party = |id: &str| HandshakeParty::builder().id(id).r#type(HandshakePartyType::Account).build().unwrap();
        Handshake::builder()
            .id(self.handshake_id())
            .action(ActionType::TransferResponsibility)
            .state(state)
            .parties(party(PARTNER))
            .parties(party(&self.account))
            .resources(HandshakeResource::builder().r#type(HandshakeResourceType::ResponsibilityTransfer).value(&self.id).build())
            .requested_timestamp(AwsTime::from_secs(t0().timestamp()))
            .expiration_timestamp(AwsTime::from_secs(self.start.secs() - 86_400))
            .build()
    }
}

#[derive(Default)]
struct State {
    transfers: Vec<Transfer>,
    /// (billing group ARN, transfer ARN).
    groups: Vec<(String, String)>,
}

type Shared = Arc<Mutex<State>>;

fn find(state: &Shared, id: &str) -> Option<Transfer> {
    state.lock().unwrap().transfers.iter().find(|t| t.id == id).cloned()
}

fn update(state: &Shared, id: &str, f: impl FnOnce(&mut Transfer)) -> Transfer {
    let mut s = state.lock().unwrap();
    let t = s.transfers.iter_mut().find(|t| t.id == id).expect("matched by the rule");
    f(t);
    t.clone()
}

fn aws_error(code: &str) -> (u16, Option<String>) {
    (400, Some(format!(r#"{{"__type":"{code}","Message":"{code} (AWS on the wire)"}}"#)))
}

/// Rules that compute from the input answer once each (aws-smithy-mocks 0.1): enough copies
/// for any check.
fn times(rule: impl Fn() -> Rule) -> Vec<Rule> {
    (0..32).map(|_| rule()).collect()
}

fn organizations(state: &Shared) -> Vec<Rule> {
    use aws_sdk_organizations::Client;
    let mut rules = Vec::new();
    let s = state.clone();
    rules.extend(times(|| {
        let s = s.clone();
        mock!(Client::list_inbound_responsibility_transfers).then_compute_output(move |_| {
            let transfers = s.lock().unwrap().transfers.iter().map(Transfer::aws).collect();
            ListInboundResponsibilityTransfersOutput::builder().set_responsibility_transfers(Some(transfers)).build()
        })
    }));
    let s = state.clone();
    rules.extend(times(|| {
        let s = s.clone();
        mock!(Client::invite_organization_to_transfer_responsibility).then_compute_output(move |i| {
            let mut state = s.lock().unwrap();
            let transfer = Transfer {
                id: format!("rt-wire{:08}", state.transfers.len() + 1),
                account: i.target().map(|t| t.id().to_owned()).unwrap_or_default(),
                start: *i.start_timestamp().expect("StartTimestamp is required"),
                status: Rts::Requested,
                end: None,
            };
            state.transfers.push(transfer.clone());
            InviteOrganizationToTransferResponsibilityOutput::builder().handshake(transfer.handshake()).build()
        })
    }));
    let s = state.clone();
    rules.extend(times(|| {
        let (s, m) = (s.clone(), s.clone());
        mock!(Client::describe_responsibility_transfer)
            .match_requests(move |i| find(&m, i.id().unwrap_or_default()).is_some())
            .then_compute_output(move |i| {
                let t = find(&s, i.id().unwrap_or_default()).expect("matched");
                DescribeResponsibilityTransferOutput::builder().responsibility_transfer(t.aws()).build()
            })
    }));
    let (status, body) = aws_error("ResponsibilityTransferNotFoundException");
    rules.push(mock!(Client::describe_responsibility_transfer).sequence().http_status(status, body).repeatedly().build());
    let s = state.clone();
    rules.extend(times(|| {
        let s = s.clone();
        mock!(Client::describe_handshake).then_compute_output(move |i| {
            let id = i.handshake_id().unwrap_or_default().to_owned();
            let t = s.lock().unwrap().transfers.iter().find(|t| t.handshake_id() == id).cloned().expect("a known handshake");
            DescribeHandshakeOutput::builder().handshake(t.handshake()).build()
        })
    }));
    // CancelHandshake: an open invitation is canceled; a decided one is left as it is.
    let s = state.clone();
    rules.extend(times(|| {
        let (s, m) = (s.clone(), s.clone());
        mock!(Client::cancel_handshake)
            .match_requests(move |i| {
                let id = i.handshake_id().unwrap_or_default();
                m.lock().unwrap().transfers.iter().any(|t| t.handshake_id() == id && t.status == Rts::Requested)
            })
            .then_compute_output(move |i| {
                let id = i.handshake_id().unwrap_or_default().to_owned();
                let transfer = s.lock().unwrap().transfers.iter().find(|t| t.handshake_id() == id).map(|t| t.id.clone()).unwrap();
                let t = update(&s, &transfer, |t| t.status = Rts::Canceled);
                CancelHandshakeOutput::builder().handshake(t.handshake()).build()
            })
    }));
    let (status, body) = aws_error("HandshakeAlreadyInStateException");
    rules.push(mock!(Client::cancel_handshake).sequence().http_status(status, body).repeatedly().build());
    // TerminateResponsibilityTransfer: an accepted transfer ends; an ended one is already
    // WITHDRAWN; anything else cannot make the transition.
    let s = state.clone();
    rules.extend(times(|| {
        let (s, m) = (s.clone(), s.clone());
        mock!(Client::terminate_responsibility_transfer)
            .match_requests(move |i| find(&m, i.id().unwrap_or_default()).is_some_and(|t| t.status == Rts::Accepted))
            .then_compute_output(move |i| {
                let end = i.end_timestamp().copied();
                let t = update(&s, i.id().unwrap_or_default(), |t| {
                    t.status = Rts::Withdrawn;
                    t.end = end;
                });
                TerminateResponsibilityTransferOutput::builder().responsibility_transfer(t.aws()).build()
            })
    }));
    let m = state.clone();
    let (status, body) = aws_error("ResponsibilityTransferAlreadyInStatusException");
    rules.push(
        mock!(Client::terminate_responsibility_transfer)
            .match_requests(move |i| find(&m, i.id().unwrap_or_default()).is_some_and(|t| t.status == Rts::Withdrawn))
            .sequence()
            .http_status(status, body)
            .repeatedly()
            .build(),
    );
    let (status, body) = aws_error("InvalidResponsibilityTransferTransitionException");
    rules.push(mock!(Client::terminate_responsibility_transfer).sequence().http_status(status, body).repeatedly().build());
    rules
}

fn billing(state: &Shared) -> Vec<Rule> {
    use aws_sdk_billingconductor::Client;
    let mut rules = Vec::new();
    let s = state.clone();
    rules.extend(times(|| {
        let s = s.clone();
        mock!(Client::list_billing_groups).then_compute_output(move |i| {
            let wanted: Vec<String> = i.filters().map(|f| f.responsibility_transfer_arns().to_vec()).unwrap_or_default();
            let groups = s
                .lock()
                .unwrap()
                .groups
                .iter()
                .filter(|(_, transfer)| wanted.is_empty() || wanted.contains(transfer))
                .map(|(arn, transfer)| {
                    BillingGroupListElement::builder()
                        .arn(arn)
                        .creation_time(t0().timestamp())
                        .account_grouping(ListBillingGroupAccountGrouping::builder().responsibility_transfer_arn(transfer).build())
                        .build()
                })
                .collect();
            ListBillingGroupsOutput::builder().set_billing_groups(Some(groups)).build()
        })
    }));
    let s = state.clone();
    rules.extend(times(|| {
        let s = s.clone();
        mock!(Client::create_billing_group).then_compute_output(move |i| {
            let mut state = s.lock().unwrap();
            let arn = format!("arn:aws:billingconductor::{PARTNER}:billinggroup/{:010}", state.groups.len() + 1);
            let transfer = i.account_grouping().and_then(|a| a.responsibility_transfer_arn()).unwrap_or_default().to_owned();
            state.groups.push((arn.clone(), transfer));
            CreateBillingGroupOutput::builder().arn(arn).build()
        })
    }));
    rules
}

/// The customer's management account accepting in the Billing console: AWS's state changes.
struct WireCustomer(Shared);

#[async_trait]
impl TransferCustomer for WireCustomer {
    async fn accept(&self, handshake: &HandshakeId) {
        let mut state = self.0.lock().unwrap();
        let t = state.transfers.iter_mut().find(|t| t.handshake_id() == handshake.as_str()).expect("a known invitation");
        assert_eq!(t.status, Rts::Requested, "only an open invitation is accepted");
        t.status = Rts::Accepted;
    }
}

async fn wire_fixture() -> Option<TransferFixture> {
    let state: Shared = Arc::default();
    let orgs = organizations(&state);
    let groups = billing(&state);
    let orgs = mock_client!(aws_sdk_organizations, RuleMode::MatchAny, &orgs.iter().collect::<Vec<_>>());
    let billing = mock_client!(aws_sdk_billingconductor, RuleMode::MatchAny, &groups.iter().collect::<Vec<_>>());
    Some(TransferFixture {
        port: Arc::new(AwsBillingTransfers::new(orgs, billing)),
        customer: Arc::new(WireCustomer(state)),
        account: CUSTOMER.parse().unwrap(),
        now: t0(),
    })
}

mod transfer_contract {
    migration_sim::transfer_contract_tests!(crate::wire_fixture);
}
