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
use migration::ports::{
    AccountState, Clock, CustomerAccess, CustomerSession, Executions, Membership, MigrationStore, Organizations, Ports, SupportAnswer,
    SupportProbe,
};
use migration::record::{Handshake, HandshakeState, SupportPlan};
use migration::rules::CustomerOrganization;
use migration::settings::Settings;

/// Invitations expire this long after they are sent.
pub const INVITATION_LIFETIME: Duration = Duration::days(15);

/// The root of the simulated partner organization, where new members land.
pub const ROOT_ID: &str = "r-sim0";

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
struct World {
    handshakes: Vec<Handshake>,
    members: HashMap<AwsAccountId, Member>,
    customers: HashMap<AwsAccountId, CustomerAccount>,
    calls: BTreeMap<&'static str, u64>,
    next_handshake: u64,
    /// The simulated customer upgrades after this many support checks found Basic.
    scheduled_upgrades: HashMap<AwsAccountId, (u32, SimSupportPlan)>,
    support_checks: HashMap<AwsAccountId, u32>,
    departures: Vec<Departure>,
    /// How long after joining a paid plan reads as Basic: AWS cancels a joining account's
    /// plan and reactivates it on the consolidated bill within minutes.
    support_reactivation: Duration,
}

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
}

/// The simulated AWS. Cheap to clone; clones share the world.
#[derive(Clone)]
pub struct SimAws {
    world: Arc<Mutex<World>>,
    clock: Arc<dyn Clock>,
    partner: AwsAccountId,
}

impl SimAws {
    pub fn new(partner: AwsAccountId, clock: Arc<dyn Clock>) -> Self {
        Self { world: Arc::default(), clock, partner }
    }

    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().expect("no panics while holding the lock")
    }

    fn count(world: &mut World, call: &'static str) {
        *world.calls.entry(call).or_default() += 1;
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
        w.next_handshake += 1;
        let now = self.clock.now();
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
                policies: BTreeSet::new(),
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

    /// Ports with this simulation behind Organizations, customer access and Support, and
    /// the caller's store, executions, clock and settings.
    pub fn ports(
        &self,
        store: Arc<dyn MigrationStore>,
        executions: Arc<dyn Executions>,
        clock: Arc<dyn Clock>,
        settings: Settings,
    ) -> Ports {
        Ports {
            store,
            orgs: Arc::new(self.organizations()),
            customer: Arc::new(self.customer_access()),
            support: Arc::new(self.support()),
            executions,
            clock,
            settings: Arc::new(settings),
        }
    }
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
        SimAws::count(&mut w, "DescribeAccount");
        // AWS's DescribeAccount gives `Paths` since 2026-03: the parent comes with it.
        Ok(w.members.get(account).map(|m| Membership { joined_at: m.joined_at, state: m.state, parent: Some(m.parent.clone()) }))
    }

    async fn parent_of(&self, account: &AwsAccountId) -> Result<String, OrgError> {
        let mut w = self.0.world();
        SimAws::count(&mut w, "ListParents");
        w.members.get(account).map(|m| m.parent.clone()).ok_or(OrgError::AccountNotFound)
    }

    async fn move_account(&self, account: &AwsAccountId, from: &str, to: &str) -> Result<(), OrgError> {
        let mut w = self.0.world();
        SimAws::count(&mut w, "MoveAccount");
        let m = w.members.get_mut(account).ok_or(OrgError::AccountNotFound)?;
        if m.parent != from {
            return Err(OrgError::Other(format!("SourceParentNotFoundException: the account is not in {from}")));
        }
        m.parent = to.to_owned();
        Ok(())
    }

    async fn attach_policy(&self, policy_id: &str, account: &AwsAccountId) -> Result<(), OrgError> {
        let mut w = self.0.world();
        SimAws::count(&mut w, "AttachPolicy");
        w.members.get_mut(account).ok_or(OrgError::AccountNotFound)?.policies.insert(policy_id.to_owned());
        Ok(())
    }

    async fn tag_account(&self, account: &AwsAccountId, tags: &[(String, String)]) -> Result<(), OrgError> {
        let mut w = self.0.world();
        SimAws::count(&mut w, "TagResource");
        let m = w.members.get_mut(account).ok_or(OrgError::AccountNotFound)?;
        m.tags.extend(tags.iter().cloned());
        Ok(())
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
