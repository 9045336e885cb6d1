//! A simulated AWS: the partner organization with the real handshake lifecycle, customer
//! accounts with their roles, organizations and support plans. The Organizations,
//! CustomerAccess and SupportProbe ports are views of one shared world, so a customer who
//! accepts an invitation is, from then on, a member everywhere.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::Duration;

use migration::error::{AccessError, OrgError, Refusal};
use migration::ids::{AwsAccountId, ExternalId, HandshakeId, MigrationId, RoleArn};
use migration::ports::{AccountState, Clock, CustomerAccess, CustomerSession, Membership, Organizations, SupportAnswer, SupportProbe};
use migration::record::{Handshake, HandshakeState, SupportPlan};
use migration::rules::CustomerOrganization;
use migration::settings::Settings;
use migration::transfer::{BillingGroup, BillingGroupSpec, ResponsibilityTransfer, TransferRefusal};

/// Invitations expire this long after they are sent.
pub const INVITATION_LIFETIME: Duration = Duration::days(15);

/// The root of the simulated partner organization, where new members land.
pub const ROOT_ID: &str = "r-sim0";

/// The AWS managed SCP that allows everything. As on AWS with SCPs enabled, it is attached to
/// the root, to every OU when it is created and to every account when it joins, and counts
/// toward the 5 SCPs one target can carry.
pub const FULL_AWS_ACCESS: &str = "p-FullAWSAccess";

/// At most this many SCPs attached directly to one root, OU or account (AWS Organizations'
/// quota; one more is `ConstraintViolationException` `MAX_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED`).
pub const MAX_SCPS_PER_TARGET: usize = 5;

/// AWS support plans, as the customer chooses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimSupportPlan {
    Basic,
    Developer,
    Business,
    BusinessSupportPlus,
    EnterpriseOnRamp,
    Enterprise,
    UnifiedOperations,
}

impl SimSupportPlan {
    /// Every plan, legacy and 2026.
    pub const ALL: [SimSupportPlan; 7] = [
        SimSupportPlan::Basic,
        SimSupportPlan::Developer,
        SimSupportPlan::Business,
        SimSupportPlan::BusinessSupportPlus,
        SimSupportPlan::EnterpriseOnRamp,
        SimSupportPlan::Enterprise,
        SimSupportPlan::UnifiedOperations,
    ];

    /// What `DescribeSeverityLevels` returns on the plan; `None`: the call fails with
    /// `SubscriptionRequiredException` (the Support API needs Business-class or higher).
    pub fn severity_levels(self) -> Option<&'static [&'static str]> {
        const BUSINESS: &[&str] = &["low", "normal", "high", "urgent"];
        const ENTERPRISE: &[&str] = &["low", "normal", "high", "urgent", "critical"];
        match self {
            SimSupportPlan::Basic | SimSupportPlan::Developer => None,
            SimSupportPlan::Business | SimSupportPlan::BusinessSupportPlus => Some(BUSINESS),
            SimSupportPlan::EnterpriseOnRamp | SimSupportPlan::Enterprise | SimSupportPlan::UnifiedOperations => Some(ENTERPRISE),
        }
    }
}

/// How the customer's role trusts the partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleTrust {
    /// Only with this ExternalId (what the role template creates).
    ExternalId(ExternalId),
    /// Anyone in the partner account, no ExternalId: refused by the rules.
    NoExternalId,
}

#[derive(Debug, Clone)]
pub struct CustomerAccount {
    pub roles: HashMap<RoleArn, RoleTrust>,
    /// The account's own organization status, when it is not a member of the partner's.
    pub own_organization: CustomerOrganization,
    pub support_plan: SimSupportPlan,
    /// The role may not call support:DescribeSeverityLevels.
    pub support_access_denied: bool,
    /// The role may not call organizations:DescribeOrganization.
    pub organizations_access_denied: bool,
    /// A member of an organization AWS will not transfer it from directly (another region
    /// group): the invitation is refused with `ALREADY_IN_AN_ORGANIZATION`.
    pub transfer_blocked: bool,
}

/// An `AccountDepartedOrganization` event, as the old organization's management account
/// sees it in CloudTrail after a direct transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Departure {
    pub account_id: AwsAccountId,
    pub organization_id: String,
    /// `LEFT`: the account accepted another organization's invitation.
    pub departure_method: &'static str,
    pub at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone)]
struct Member {
    joined_at: chrono::DateTime<chrono::Utc>,
    state: AccountState,
    parent: String,
    policies: BTreeSet<String>,
    tags: BTreeMap<String, String>,
}

#[derive(Default)]
pub(crate) struct World {
    handshakes: Vec<Handshake>,
    members: HashMap<AwsAccountId, Member>,
    /// The root and the OUs (all directly under the root), with the SCPs attached to each.
    parents: BTreeMap<String, BTreeSet<String>>,
    /// The SCPs that exist in the organization.
    scps: BTreeSet<String>,
    /// Organizations operations the partner's role may not call (`AccessDeniedException`).
    denied: BTreeSet<String>,
    pub(crate) customers: HashMap<AwsAccountId, CustomerAccount>,
    pub(crate) transfers: TransferWorld,
    calls: BTreeMap<&'static str, u64>,
    next_handshake: u64,
    /// The simulated customer upgrades after this many support checks found Basic.
    scheduled_upgrades: HashMap<AwsAccountId, (u32, SimSupportPlan)>,
    support_checks: HashMap<AwsAccountId, u32>,
    departures: Vec<Departure>,
    /// How long after joining a paid plan reads as Basic: AWS cancels a joining account's
    /// plan and reactivates it on the consolidated bill within minutes.
    support_reactivation: Duration,
    /// The organization's account quota (Service Quotas), 0 until set: the daily invitation
    /// quota is the greater of 20 and it.
    account_quota: u32,
}

/// AWS's floor of the invitations an organization may send per 24 hours.
pub const DAILY_INVITATIONS_FLOOR: u32 = 20;

/// Errors of the customer's own actions in the simulation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    #[error("handshake not found")]
    HandshakeNotFound,
    #[error("the handshake is {0:?}, not OPEN")]
    NotOpen(HandshakeState),
    #[error("the account is already in an organization")]
    AlreadyInAnOrganization,
    #[error("an open invitation to this account exists (DuplicateHandshakeException)")]
    DuplicateHandshake,
    #[error("unknown customer account")]
    UnknownAccount,
    #[error(
        "HandshakeConstraintViolationException (HANDSHAKE_RATE_LIMIT_EXCEEDED): you attempted to exceed the number of handshakes that you can send in one day"
    )]
    HandshakeRateLimitExceeded,
    #[error("no such root, OU or member account")]
    UnknownTarget,
    #[error("only the management account of an organization with all features can accept a billing transfer")]
    NotManagementAccount,
    #[error("a billing transfer must be accepted at least 24 hours before its start")]
    TooLateToAccept,
    #[error("the SCP is not attached to the target")]
    NotAttached,
    #[error("a target keeps at least one SCP (ConstraintViolationException MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED)")]
    LastScp,
}

/// The simulated AWS. Cheap to clone; clones share the world.
#[derive(Clone)]
pub struct SimAws {
    world: Arc<Mutex<World>>,
    clock: Arc<dyn Clock>,
    partner: AwsAccountId,
    /// Cost Explorer of every customer account, and the snapshot bucket.
    usage: crate::usage::SimUsage,
    snapshots: crate::usage::MemorySnapshots,
}

impl SimAws {
    /// The partner organization with SCPs enabled: the root, carrying FullAWSAccess.
    pub fn new(partner: AwsAccountId, clock: Arc<dyn Clock>) -> Self {
        let world = World {
            parents: BTreeMap::from([(ROOT_ID.to_owned(), BTreeSet::from([FULL_AWS_ACCESS.to_owned()]))]),
            scps: BTreeSet::from([FULL_AWS_ACCESS.to_owned()]),
            ..World::default()
        };
        Self {
            world: Arc::new(Mutex::new(world)),
            clock,
            partner,
            usage: crate::usage::SimUsage::default(),
            snapshots: crate::usage::MemorySnapshots::default(),
        }
    }

    /// The customers' Cost Explorer.
    pub fn usage(&self) -> crate::usage::SimUsage {
        self.usage.clone()
    }

    /// The snapshot bucket.
    pub fn snapshots(&self) -> crate::usage::MemorySnapshots {
        self.snapshots.clone()
    }

    /// CreateOrganizationalUnit under the root: the new OU carries FullAWSAccess only.
    pub fn create_ou(&self, ou: &str) {
        self.world().parents.entry(ou.to_owned()).or_insert_with(|| BTreeSet::from([FULL_AWS_ACCESS.to_owned()]));
    }

    /// CreatePolicy of a service control policy with this id, attached to nothing.
    pub fn create_scp(&self, scp: &str) {
        self.world().scps.insert(scp.to_owned());
    }

    /// The partner's setup the settings name: the baseline OUs and SCPs exist, and no SCP is
    /// attached to the OUs yet (the hardening scan attaches them on its first run).
    pub fn create_baseline(&self, settings: &Settings) {
        for ou in [&settings.onboarding_ou_id, &settings.hardened_ou_id] {
            self.create_ou(ou);
        }
        for scp in std::iter::once(&settings.guardrail_scp_id).chain(&settings.hardening_scp_ids) {
            self.create_scp(scp);
        }
    }

    /// An operator detaches an SCP from a root, OU or account. AWS refuses to detach a
    /// target's last SCP; so does this.
    pub fn detach_scp(&self, scp: &str, target: &str) -> Result<(), SimError> {
        let mut w = self.world();
        let attached = Self::attached_mut(&mut w, target).ok_or(SimError::UnknownTarget)?;
        if attached.len() == 1 && attached.contains(scp) {
            return Err(SimError::LastScp);
        }
        attached.remove(scp).then_some(()).ok_or(SimError::NotAttached)
    }

    /// The partner's role may no longer call this Organizations operation (`AttachPolicy`,
    /// `ListPoliciesForTarget`, ...): it is answered `AccessDeniedException`.
    pub fn deny(&self, operation: &str) {
        self.world().denied.insert(operation.to_owned());
    }

    /// Undoes [`SimAws::deny`].
    pub fn allow(&self, operation: &str) {
        self.world().denied.remove(operation);
    }

    fn attached_mut<'w>(w: &'w mut World, target: &str) -> Option<&'w mut BTreeSet<String>> {
        match target.parse::<AwsAccountId>() {
            Ok(account) => w.members.get_mut(&account).map(|m| &mut m.policies),
            Err(_) => w.parents.get_mut(target),
        }
    }

    /// The SCPs attached directly to a root, OU or account.
    pub fn scps_attached_to(&self, target: &str) -> Vec<String> {
        let mut w = self.world();
        Self::attached_mut(&mut w, target).map(|p| p.iter().cloned().collect()).unwrap_or_default()
    }

    /// The SCPs that apply to a member account: attached to it, to its OU and to the root
    /// (an SCP attached to an OU or the root applies to every account under it).
    pub fn effective_scps(&self, account: &AwsAccountId) -> Vec<String> {
        let w = self.world();
        let Some(m) = w.members.get(account) else { return Vec::new() };
        let mut all: BTreeSet<String> = m.policies.clone();
        for parent in [m.parent.as_str(), ROOT_ID] {
            all.extend(w.parents.get(parent).into_iter().flatten().cloned());
        }
        all.into_iter().collect()
    }

    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub(crate) fn partner(&self) -> &AwsAccountId {
        &self.partner
    }

    pub(crate) fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().expect("no panics while holding the lock")
    }

    pub(crate) fn count(world: &mut World, call: &'static str) {
        *world.calls.entry(call).or_default() += 1;
    }

    /// Counts a call of the partner's Organizations port; an operation denied to the
    /// partner's role answers `AccessDeniedException`.
    fn call(world: &mut World, call: &'static str) -> Result<(), OrgError> {
        Self::count(world, call);
        if world.denied.contains(call) {
            return Err(OrgError::AccessDenied(format!("AccessDeniedException: not authorized to perform organizations:{call}")));
        }
        Ok(())
    }

    /// How many times an AWS operation was called.
    pub fn calls(&self, operation: &str) -> u64 {
        self.world().calls.get(operation).copied().unwrap_or(0)
    }

    pub fn add_customer(&self, account: AwsAccountId, customer: CustomerAccount) {
        self.world().customers.insert(account, customer);
    }

    /// A standalone account with Basic support and one role per trust given.
    pub fn add_standalone_customer(&self, role: &RoleArn, trust: RoleTrust, plan: SimSupportPlan) {
        let customer = CustomerAccount {
            roles: HashMap::from([(role.clone(), trust)]),
            own_organization: CustomerOrganization::Standalone,
            support_plan: plan,
            support_access_denied: false,
            organizations_access_denied: false,
            transfer_blocked: false,
        };
        self.add_customer(role.account_id(), customer);
    }

    pub fn update_customer(&self, account: &AwsAccountId, f: impl FnOnce(&mut CustomerAccount)) -> Result<(), SimError> {
        let mut w = self.world();
        f(w.customers.get_mut(account).ok_or(SimError::UnknownAccount)?);
        Ok(())
    }

    /// How long after joining a paid plan answers `SubscriptionRequiredException` (zero
    /// unless set: most tests look at the plan, not the gap).
    pub fn set_support_reactivation(&self, gap: Duration) {
        self.world().support_reactivation = gap;
    }

    /// `AccountDepartedOrganization` events of the customers' old organizations.
    pub fn departures(&self) -> Vec<Departure> {
        self.world().departures.clone()
    }

    /// AWS changes a member's lifecycle state (suspension, closure).
    pub fn set_account_state(&self, account: &AwsAccountId, state: AccountState) -> Result<(), SimError> {
        self.world().members.get_mut(account).map(|m| m.state = state).ok_or(SimError::UnknownAccount)
    }

    /// The customer's root user changes the support plan.
    pub fn set_support_plan(&self, account: &AwsAccountId, plan: SimSupportPlan) -> Result<(), SimError> {
        self.update_customer(account, |c| c.support_plan = plan)
    }

    /// The simulated customer's root user upgrades to `plan` once `checks` support checks
    /// have seen the old plan.
    pub fn upgrade_support_after_checks(&self, account: &AwsAccountId, checks: u32, plan: SimSupportPlan) {
        self.world().scheduled_upgrades.insert(account.clone(), (checks, plan));
    }

    /// Lazily applies expiry, as AWS shows it: OPEN past its expiry reads as EXPIRED.
    fn refresh(&self, world: &mut World) {
        let now = self.clock.now();
        for h in &mut world.handshakes {
            if matches!(h.state, HandshakeState::Open | HandshakeState::Requested) && now >= h.expires_at {
                h.state = HandshakeState::Expired;
            }
        }
    }

    fn open_for(world: &World, account: &AwsAccountId) -> Option<Handshake> {
        world
            .handshakes
            .iter()
            .find(|h| &h.account_id == account && matches!(h.state, HandshakeState::Open | HandshakeState::Requested))
            .cloned()
    }

    /// InviteAccountToOrganization as AWS does it: a second invitation while one is open is
    /// a DuplicateHandshakeException.
    pub fn send_invitation(&self, account: &AwsAccountId) -> Result<Handshake, SimError> {
        let mut w = self.world();
        self.refresh(&mut w);
        Self::count(&mut w, "InviteAccountToOrganization");
        if Self::open_for(&w, account).is_some() {
            return Err(SimError::DuplicateHandshake);
        }
        if w.members.contains_key(account) || w.customers.get(account).is_some_and(|c| c.transfer_blocked) {
            return Err(SimError::AlreadyInAnOrganization);
        }
        let now = self.clock.now();
        // AWS's daily quota: 20 or the account quota, whichever is greater; accepted
        // invitations do not count. Modelled as a rolling 24 hours from each invitation
        // (AWS does not say whether its day rolls or is a calendar day).
        let quota = w.account_quota.max(DAILY_INVITATIONS_FLOOR) as usize;
        let counted =
            w.handshakes.iter().filter(|h| h.state != HandshakeState::Accepted && h.requested_at + Duration::hours(24) > now).count();
        if counted >= quota {
            return Err(SimError::HandshakeRateLimitExceeded);
        }
        w.next_handshake += 1;
        let handshake = Handshake {
            id: format!("h-sim{:08}", w.next_handshake).parse().expect("valid handshake id"),
            account_id: account.clone(),
            state: HandshakeState::Open,
            requested_at: now,
            expires_at: now + INVITATION_LIFETIME,
        };
        w.handshakes.push(handshake.clone());
        Ok(handshake)
    }

    /// Sets the organization's account quota, which raises the daily invitation quota above
    /// 20 when it is greater.
    pub fn set_account_quota(&self, quota: u32) {
        self.world().account_quota = quota;
    }

    /// Every invitation the organization sent, in order.
    pub fn invitations(&self) -> Vec<Handshake> {
        let mut w = self.world();
        self.refresh(&mut w);
        w.handshakes.clone()
    }

    /// Invitations ever sent to an account.
    pub fn invitations_to(&self, account: &AwsAccountId) -> Vec<Handshake> {
        let mut w = self.world();
        self.refresh(&mut w);
        w.handshakes.iter().filter(|h| &h.account_id == account).cloned().collect()
    }

    /// The customer's root user accepts in the console. A member of another organization
    /// moves directly (AWS's direct transfer, November 2025): it departs the old
    /// organization (`AccountDepartedOrganization`, `departureMethod: LEFT`) and joins ours
    /// in the same step. A management account cannot join.
    pub fn accept(&self, id: &HandshakeId) -> Result<(), SimError> {
        let mut w = self.world();
        self.refresh(&mut w);
        let h = w.handshakes.iter().find(|h| &h.id == id).cloned().ok_or(SimError::HandshakeNotFound)?;
        if h.state != HandshakeState::Open {
            return Err(SimError::NotOpen(h.state));
        }
        let customer = w.customers.get(&h.account_id).ok_or(SimError::UnknownAccount)?;
        let departs_from = match &customer.own_organization {
            _ if w.members.contains_key(&h.account_id) || customer.transfer_blocked => return Err(SimError::AlreadyInAnOrganization),
            CustomerOrganization::ManagementAccount { .. } => return Err(SimError::AlreadyInAnOrganization),
            CustomerOrganization::Member { organization_id, .. } => Some(organization_id.clone()),
            CustomerOrganization::Standalone => None,
        };
        let now = self.clock.now();
        if let Some(organization_id) = departs_from {
            w.departures.push(Departure { account_id: h.account_id.clone(), organization_id, departure_method: "LEFT", at: now });
            if let Some(c) = w.customers.get_mut(&h.account_id) {
                c.own_organization = CustomerOrganization::Standalone;
            }
        }
        w.members.insert(
            h.account_id.clone(),
            Member {
                joined_at: now,
                state: AccountState::Active,
                parent: ROOT_ID.to_owned(),
                policies: BTreeSet::from([FULL_AWS_ACCESS.to_owned()]),
                tags: BTreeMap::new(),
            },
        );
        Self::set_state(&mut w, id, HandshakeState::Accepted);
        Ok(())
    }

    /// The customer's root user declines.
    pub fn decline(&self, id: &HandshakeId) -> Result<(), SimError> {
        let mut w = self.world();
        self.refresh(&mut w);
        let state = w.handshakes.iter().find(|h| &h.id == id).map(|h| h.state).ok_or(SimError::HandshakeNotFound)?;
        if state != HandshakeState::Open {
            return Err(SimError::NotOpen(state));
        }
        Self::set_state(&mut w, id, HandshakeState::Declined);
        Ok(())
    }

    fn set_state(w: &mut World, id: &HandshakeId, state: HandshakeState) {
        if let Some(h) = w.handshakes.iter_mut().find(|h| &h.id == id) {
            h.state = state;
        }
    }

    /// The account's place in the partner organization: parent, policies, tags.
    pub fn member_view(&self, account: &AwsAccountId) -> Option<(String, Vec<String>, BTreeMap<String, String>)> {
        self.world().members.get(account).map(|m| (m.parent.clone(), m.policies.iter().cloned().collect(), m.tags.clone()))
    }

    pub fn organizations(&self) -> SimOrganizations {
        SimOrganizations(self.clone())
    }

    pub fn customer_access(&self) -> SimCustomerAccess {
        SimCustomerAccess(self.clone())
    }

    pub fn support(&self) -> SimSupport {
        SimSupport(self.clone())
    }
}

/// When an invitation nobody answered expires. AWS documents only that it must be accepted
/// 24 hours before the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HandshakeLifetime {
    /// It expires when it can no longer be accepted: 24 hours before the start.
    #[default]
    UntilAcceptBy,
    /// It lives this long, like an invitation to join (15 days), and may outlive the last
    /// moment it could be accepted: AWS then refuses the acceptance and the invitation
    /// stays open until it expires.
    Fixed(Duration),
}

#[derive(Debug, Clone)]
pub(crate) struct SimTransfer {
    pub(crate) transfer: ResponsibilityTransfer,
    pub(crate) handshake: Handshake,
}

/// The transfers part of the simulated world (their lifecycle is in `crate::transfers`).
#[derive(Default)]
pub(crate) struct TransferWorld {
    pub(crate) transfers: Vec<SimTransfer>,
    pub(crate) groups: Vec<(BillingGroupSpec, BillingGroup)>,
    pub(crate) next: u64,
    pub(crate) lifetime: HandshakeLifetime,
    /// A refusal AWS gives when the partner invites this account (the customer's
    /// organization has an unused prepayment, legacy Billing permissions, ...).
    pub(crate) refusals: std::collections::HashMap<AwsAccountId, TransferRefusal>,
}

/// The Organizations port on the simulation.
#[derive(Clone)]
pub struct SimOrganizations(SimAws);

#[async_trait]
impl Organizations for SimOrganizations {
    async fn invite_account(&self, account: &AwsAccountId, _migration: MigrationId) -> Result<Handshake, OrgError> {
        let sim = &self.0;
        {
            let mut w = sim.world();
            sim.refresh(&mut w);
            SimAws::count(&mut w, "ListHandshakesForOrganization");
            if let Some(open) = SimAws::open_for(&w, account) {
                return Ok(open);
            }
        }
        if account == &sim.partner {
            return Err(OrgError::Refused { refusal: Refusal::InviteToSelf, message: "cannot invite the management account".into() });
        }
        match sim.send_invitation(account) {
            Ok(h) => Ok(h),
            Err(SimError::DuplicateHandshake) => {
                let w = sim.world();
                SimAws::open_for(&w, account).ok_or_else(|| OrgError::Other("duplicate handshake vanished".into()))
            }
            Err(SimError::AlreadyInAnOrganization) => {
                Err(OrgError::Refused { refusal: Refusal::AlreadyInAnOrganization, message: "already a member".into() })
            }
            Err(e @ SimError::HandshakeRateLimitExceeded) => Err(OrgError::HandshakeRateLimited(e.to_string())),
            Err(e) => Err(OrgError::Other(e.to_string())),
        }
    }

    async fn describe_handshake(&self, id: &HandshakeId, account: &AwsAccountId) -> Result<Handshake, OrgError> {
        let mut w = self.0.world();
        self.0.refresh(&mut w);
        SimAws::count(&mut w, "DescribeHandshake");
        let h = w.handshakes.iter().find(|h| &h.id == id).cloned().ok_or(OrgError::HandshakeNotFound)?;
        invitation_of(h, account)
    }

    async fn cancel_handshake(&self, id: &HandshakeId, account: &AwsAccountId) -> Result<Handshake, OrgError> {
        let mut w = self.0.world();
        self.0.refresh(&mut w);
        SimAws::count(&mut w, "CancelHandshake");
        let h = w.handshakes.iter_mut().find(|h| &h.id == id).ok_or(OrgError::HandshakeNotFound)?;
        if &h.account_id != account {
            return invitation_of(h.clone(), account);
        }
        if matches!(h.state, HandshakeState::Open | HandshakeState::Requested) {
            h.state = HandshakeState::Canceled;
        }
        Ok(h.clone())
    }

    async fn membership(&self, account: &AwsAccountId) -> Result<Option<Membership>, OrgError> {
        let mut w = self.0.world();
        SimAws::call(&mut w, "DescribeAccount")?;
        // AWS's DescribeAccount gives `Paths` since 2026-03: the parent comes with it.
        Ok(w.members.get(account).map(|m| Membership { joined_at: m.joined_at, state: m.state, parent: Some(m.parent.clone()) }))
    }

    async fn parent_of(&self, account: &AwsAccountId) -> Result<String, OrgError> {
        let mut w = self.0.world();
        SimAws::call(&mut w, "ListParents")?;
        w.members.get(account).map(|m| m.parent.clone()).ok_or(OrgError::AccountNotFound)
    }

    async fn move_account(&self, account: &AwsAccountId, from: &str, to: &str) -> Result<(), OrgError> {
        let mut w = self.0.world();
        SimAws::call(&mut w, "MoveAccount")?;
        if !w.parents.contains_key(to) {
            return Err(OrgError::Other(format!("DestinationParentNotFoundException: no root or OU {to}")));
        }
        let m = w.members.get_mut(account).ok_or(OrgError::AccountNotFound)?;
        if m.parent != from {
            return Err(OrgError::Other(format!("SourceParentNotFoundException: the account is not in {from}")));
        }
        m.parent = to.to_owned();
        Ok(())
    }

    async fn scps_of(&self, target: &str) -> Result<Vec<String>, OrgError> {
        let mut w = self.0.world();
        SimAws::call(&mut w, "ListPoliciesForTarget")?;
        SimAws::attached_mut(&mut w, target).map(|p| p.iter().cloned().collect()).ok_or_else(|| not_found(target))
    }

    async fn attach_policy(&self, policy_id: &str, target: &str) -> Result<(), OrgError> {
        let mut w = self.0.world();
        SimAws::call(&mut w, "AttachPolicy")?;
        if !w.scps.contains(policy_id) {
            return Err(OrgError::Other(format!("PolicyNotFoundException: no policy {policy_id}")));
        }
        let attached = SimAws::attached_mut(&mut w, target).ok_or_else(|| not_found(target))?;
        // DuplicatePolicyAttachmentException, which the port takes as done.
        if attached.contains(policy_id) {
            return Ok(());
        }
        if attached.len() >= MAX_SCPS_PER_TARGET {
            return Err(OrgError::Refused {
                refusal: Refusal::Other("MAX_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED".into()),
                message: format!("{target} already carries {MAX_SCPS_PER_TARGET} SCPs"),
            });
        }
        attached.insert(policy_id.to_owned());
        Ok(())
    }

    async fn tag_account(&self, account: &AwsAccountId, tags: &[(String, String)]) -> Result<(), OrgError> {
        let mut w = self.0.world();
        SimAws::call(&mut w, "TagResource")?;
        let m = w.members.get_mut(account).ok_or(OrgError::AccountNotFound)?;
        m.tags.extend(tags.iter().cloned());
        Ok(())
    }
}

/// A target that does not exist, as the AWS adapter reports it: a member account is
/// `AccountNotFound`, a root or OU names itself.
fn not_found(target: &str) -> OrgError {
    match target.parse::<AwsAccountId>() {
        Ok(_) => OrgError::AccountNotFound,
        Err(_) => OrgError::Other(format!("TargetNotFoundException: no root or OU {target}")),
    }
}

/// The handshake if it is the invitation of `account`, as the AWS adapter checks it.
fn invitation_of(h: Handshake, account: &AwsAccountId) -> Result<Handshake, OrgError> {
    if &h.account_id == account {
        Ok(h)
    } else {
        Err(OrgError::Other(format!("handshake {} is not an invitation of account {account}", h.id)))
    }
}

/// The customer-access port on the simulation.
#[derive(Clone)]
pub struct SimCustomerAccess(SimAws);

fn session(account: &AwsAccountId, sim: &SimAws) -> CustomerSession {
    CustomerSession {
        account_id: account.clone(),
        access_key_id: "ASIASIMULATED".into(),
        secret_access_key: "simulated-secret".into(),
        session_token: "simulated-token".into(),
        expires_at: sim.clock.now() + Duration::hours(1),
    }
}

#[async_trait]
impl CustomerAccess for SimCustomerAccess {
    async fn assume(&self, role: &RoleArn, external_id: &ExternalId, _migration: MigrationId) -> Result<CustomerSession, AccessError> {
        let mut w = self.0.world();
        SimAws::count(&mut w, "AssumeRole");
        let account = role.account_id();
        let trust = w.customers.get(&account).and_then(|c| c.roles.get(role));
        match trust {
            Some(RoleTrust::ExternalId(expected)) if expected == external_id => Ok(session(&account, &self.0)),
            Some(RoleTrust::NoExternalId) => Ok(session(&account, &self.0)),
            _ => Err(AccessError::NotAssumable(format!("AccessDenied: not authorized to perform sts:AssumeRole on {role}"))),
        }
    }

    async fn assumable_without_external_id(&self, role: &RoleArn, _migration: MigrationId) -> Result<bool, AccessError> {
        let mut w = self.0.world();
        SimAws::count(&mut w, "AssumeRole");
        Ok(matches!(w.customers.get(&role.account_id()).and_then(|c| c.roles.get(role)), Some(RoleTrust::NoExternalId)))
    }

    async fn organization(&self, session: &CustomerSession) -> Result<CustomerOrganization, AccessError> {
        let mut w = self.0.world();
        SimAws::count(&mut w, "DescribeOrganization");
        let customer = w.customers.get(&session.account_id).ok_or_else(|| AccessError::Other("unknown account".into()))?;
        if customer.organizations_access_denied {
            return Err(AccessError::AccessDenied("organizations:DescribeOrganization".into()));
        }
        if w.members.contains_key(&session.account_id) {
            return Ok(CustomerOrganization::Member {
                organization_id: "o-simpartner".into(),
                management_account_id: self.0.partner.clone(),
            });
        }
        Ok(customer.own_organization.clone())
    }
}

/// The support probe on the simulation.
#[derive(Clone)]
pub struct SimSupport(SimAws);

#[async_trait]
impl SupportProbe for SimSupport {
    async fn support_plan(&self, session: &CustomerSession) -> SupportAnswer {
        let mut w = self.0.world();
        SimAws::count(&mut w, "DescribeSeverityLevels");
        let seen = {
            let n = w.support_checks.entry(session.account_id.clone()).or_default();
            *n += 1;
            *n
        };
        if let Some((after, plan)) = w.scheduled_upgrades.get(&session.account_id).copied()
            && seen > after
            && let Some(c) = w.customers.get_mut(&session.account_id)
        {
            c.support_plan = plan;
        }
        let Some(customer) = w.customers.get(&session.account_id) else {
            return SupportAnswer { plan: SupportPlan::Unknown, detail: Some("unknown account".into()) };
        };
        if customer.support_access_denied {
            return SupportAnswer { plan: SupportPlan::Unknown, detail: Some("AccessDeniedException".into()) };
        }
        let reactivating = w.members.get(&session.account_id).is_some_and(|m| self.0.clock.now() < m.joined_at + w.support_reactivation);
        match customer.support_plan.severity_levels() {
            Some(levels) if !reactivating => {
                SupportAnswer { plan: SupportPlan::from_severity_levels(levels.iter().copied()), detail: Some(levels.join(", ")) }
            }
            _ => SupportAnswer { plan: SupportPlan::BasicOrDeveloper, detail: Some("SubscriptionRequiredException".into()) },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;

    fn sim_with_member() -> (SimAws, AwsAccountId) {
        let sim = SimAws::new("999999999999".parse().unwrap(), Arc::new(ManualClock::new(chrono::Utc::now())));
        let member: AwsAccountId = "000123456789".parse().unwrap();
        let role = format!("arn:aws:iam::{member}:role/CenturyLinkFullHardening").parse().unwrap();
        sim.add_standalone_customer(&role, RoleTrust::NoExternalId, SimSupportPlan::Business);
        let handshake = sim.send_invitation(&member).unwrap();
        sim.accept(&handshake.id).unwrap();
        (sim, member)
    }

    #[tokio::test]
    async fn an_scp_attached_to_an_ou_applies_to_the_accounts_in_it_only_while_they_are() {
        let (sim, member) = sim_with_member();
        sim.create_ou("ou-sim0-onboard1");
        sim.create_scp("p-guardrail1");
        let orgs = sim.organizations();
        orgs.attach_policy("p-guardrail1", "ou-sim0-onboard1").await.unwrap();
        assert_eq!(sim.effective_scps(&member), vec![FULL_AWS_ACCESS.to_owned()], "under the root: only what the root and it carry");

        orgs.move_account(&member, ROOT_ID, "ou-sim0-onboard1").await.unwrap();
        assert_eq!(sim.effective_scps(&member), vec![FULL_AWS_ACCESS.to_owned(), "p-guardrail1".to_owned()]);
        assert_eq!(sim.scps_attached_to(member.as_str()), vec![FULL_AWS_ACCESS.to_owned()], "inherited, not attached");

        orgs.move_account(&member, "ou-sim0-onboard1", ROOT_ID).await.unwrap();
        assert!(!sim.effective_scps(&member).contains(&"p-guardrail1".to_owned()), "left behind with the OU");
    }

    #[tokio::test]
    async fn a_target_takes_at_most_five_scps_full_aws_access_included() {
        let (sim, member) = sim_with_member();
        sim.create_ou("ou-sim0-hardened");
        let orgs = sim.organizations();
        for i in 1..=5 {
            sim.create_scp(&format!("p-extra{i:05}"));
        }
        for i in 1..=4 {
            orgs.attach_policy(&format!("p-extra{i:05}"), "ou-sim0-hardened").await.unwrap();
            orgs.attach_policy(&format!("p-extra{i:05}"), member.as_str()).await.unwrap();
        }
        for target in ["ou-sim0-hardened", member.as_str()] {
            assert_eq!(sim.scps_attached_to(target).len(), MAX_SCPS_PER_TARGET);
            let refused = orgs.attach_policy("p-extra00005", target).await.unwrap_err();
            assert!(
                matches!(&refused, OrgError::Refused { refusal: Refusal::Other(r), .. } if r == "MAX_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED"),
                "{refused:?}"
            );
            orgs.attach_policy("p-extra00004", target).await.expect("attaching an attached SCP again is no sixth attachment");
        }
    }

    #[tokio::test]
    async fn unknown_policies_and_targets_and_denied_calls_are_errors() {
        let (sim, member) = sim_with_member();
        sim.create_ou("ou-sim0-onboard1");
        let orgs = sim.organizations();
        assert!(
            matches!(orgs.attach_policy("p-nosuchscp", "ou-sim0-onboard1").await, Err(OrgError::Other(m)) if m.starts_with("PolicyNotFoundException"))
        );
        assert!(matches!(orgs.scps_of("ou-sim0-nosuchou").await, Err(OrgError::Other(m)) if m.starts_with("TargetNotFoundException")));
        assert!(orgs.move_account(&member, ROOT_ID, "ou-sim0-nosuchou").await.is_err());
        assert_eq!(sim.detach_scp(FULL_AWS_ACCESS, "ou-sim0-onboard1"), Err(SimError::LastScp));

        sim.deny("ListPoliciesForTarget");
        assert!(matches!(orgs.scps_of("ou-sim0-onboard1").await, Err(OrgError::AccessDenied(_))));
        assert_eq!(sim.calls("ListPoliciesForTarget"), 2, "a denied call is still a call");
    }
}
