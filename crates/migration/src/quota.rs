//! The partner organization's invitation quota, shared by every invite: a ledger of the
//! invitation slots taken in the last [`INVITATION_WINDOW`], one per migration.
//!
//! AWS Organizations lets an organization send, per 24 hours, 20 invitations or its account
//! quota, whichever is greater; past that `InviteAccountToOrganization` answers
//! `HandshakeConstraintViolationException` with reason `HANDSHAKE_RATE_LIMIT_EXCEEDED`
//! ("you attempted to exceed the number of handshakes that you can send in one day").
//! What AWS does not document, and this ledger therefore does not rely on:
//!
//! - whether "one day" is a rolling 24 hours or a calendar day (UTC): a rolling window from
//!   each reservation is never less strict than either;
//! - exactly which invitations count: the quotas page says accepted ones do not (and pending
//!   ones count toward the account quota, a different refusal,
//!   `ACCOUNT_NUMBER_LIMIT_EXCEEDED`). The ledger counts every slot taken, accepted or not,
//!   canceled, declined or never sent (a migration canceled while it waited), for the whole
//!   window: it may make a migration wait longer than AWS would, never shorter.
//!
//! Both store adapters keep the ledger with these functions (in memory behind a lock, in
//! DynamoDB as one item written on a version condition), so the semantics are one.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::MigrationId;

/// How long a slot counts. AWS's 24 hours plus a margin: a slot is reserved a moment before
/// the invitation is sent, so without it the ledger could free a slot a moment before AWS does.
pub const INVITATION_WINDOW: Duration = Duration::minutes(24 * 60 + 5);

/// How long past the time it was told to come back a waiting migration keeps its place in
/// line. A migration canceled (or failed) while it waited never comes back; after this it no
/// longer holds up the ones behind it. One that comes back later queues again at the end.
pub const WAITER_GRACE: Duration = Duration::hours(1);

/// The most migrations the ledger keeps in line (with the slots, what one DynamoDB item
/// holds). Past it a migration still waits, without a place: it is told the time after the
/// last in line and asks again then.
pub const MAX_WAITING: usize = 2000;

/// The answer to a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Reservation {
    /// The migration holds a slot, counted from `at` (now). A migration that held one
    /// already keeps that slot (a retry never takes a second), counted again from now.
    Granted { at: DateTime<Utc> },
    /// No slot for this migration now: every slot of the window is taken, or the free ones
    /// belong to migrations ahead of it in line. Its turn comes at `next_free_at`, when
    /// enough slots will have aged out for everyone ahead of it and for it.
    Full { next_free_at: DateTime<Utc> },
}

/// A migration in line for a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiter {
    /// When it first found no slot: the line is in this order (then by migration id).
    pub since: DateTime<Utc>,
    /// When it was told its turn comes.
    pub expected_at: DateTime<Utc>,
}

/// The slots of the window (who took each, when) and the line of migrations waiting for
/// one, first come first served: a slot that frees goes to the first in line, not to
/// whoever asks first, so the time a waiting customer is told is the time it gets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationLedger {
    /// Optimistic lock of the stored ledger: every write is conditional on it.
    #[serde(default)]
    pub version: u64,
    #[serde(default)]
    pub slots: BTreeMap<MigrationId, DateTime<Utc>>,
    #[serde(default)]
    pub waiting: BTreeMap<MigrationId, Waiter>,
}

impl InvitationLedger {
    /// Reserves a slot of `quota` for `migration` at `now`. Returns the answer and whether the
    /// ledger changed (and must be written back). Slots older than [`INVITATION_WINDOW`] are
    /// dropped first: that is the only way a slot is released. Waiters more than
    /// [`WAITER_GRACE`] late are dropped too.
    pub fn reserve(&mut self, migration: MigrationId, now: DateTime<Utc>, quota: u32) -> (Reservation, bool) {
        let before = self.clone();
        let quota = quota.max(1) as usize;
        self.slots.retain(|_, at| *at + INVITATION_WINDOW > now);
        self.waiting.retain(|id, w| *id == migration || w.expected_at + WAITER_GRACE > now);

        let ahead = match self.waiting.get(&migration) {
            Some(mine) => {
                let key = (mine.since, migration);
                self.waiting.iter().filter(|(id, w)| (w.since, **id) < key).count()
            }
            None => self.waiting.len(),
        };
        let free = quota.saturating_sub(self.slots.len());
        // A migration that holds a slot keeps it, counted from now: its invitation is sent
        // (or found open) now, and AWS counts it from when it is sent.
        if self.slots.contains_key(&migration) || free > ahead {
            self.slots.insert(migration, now);
            self.waiting.remove(&migration);
            return (Reservation::Granted { at: now }, *self != before);
        }
        let next_free_at = self.turn(ahead, now, quota);
        if self.waiting.contains_key(&migration) || self.waiting.len() < MAX_WAITING {
            let waiter = self.waiting.entry(migration).or_insert(Waiter { since: now, expected_at: next_free_at });
            waiter.expected_at = next_free_at;
        }
        (Reservation::Full { next_free_at }, *self != before)
    }

    /// When the migration with `ahead` migrations before it in line gets a slot: the times
    /// the slots open (free ones now, taken ones as they age out, the first that only bring
    /// a lowered quota back down to it opening nothing), each again a window later for the
    /// next round of the line.
    fn turn(&self, ahead: usize, now: DateTime<Utc>, quota: usize) -> DateTime<Utc> {
        let mut frees: Vec<DateTime<Utc>> = self.slots.values().map(|at| *at + INVITATION_WINDOW).collect();
        frees.sort();
        let surplus = frees.len().saturating_sub(quota);
        let mut opens: Vec<DateTime<Utc>> = std::iter::repeat_n(now, quota.saturating_sub(frees.len())).collect();
        opens.extend(frees.into_iter().skip(surplus));
        let round = i32::try_from(ahead / quota).unwrap_or(i32::MAX);
        opens[ahead % quota] + INVITATION_WINDOW * round
    }

    /// Slots taken in the window ending at `now`.
    pub fn taken(&self, now: DateTime<Utc>) -> usize {
        self.slots.values().filter(|at| **at + INVITATION_WINDOW > now).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z").unwrap().with_timezone(&Utc)
    }

    #[test]
    fn grants_up_to_the_quota_reuses_a_migrations_slot_and_frees_slots_after_the_window() {
        let mut ledger = InvitationLedger::default();
        let ids: Vec<MigrationId> = (0..4).map(|i| MigrationId::new_at(t0() + Duration::seconds(i))).collect();
        assert_eq!(ledger.reserve(ids[0], t0(), 2), (Reservation::Granted { at: t0() }, true));
        let later = t0() + Duration::hours(1);
        assert_eq!(ledger.reserve(ids[1], later, 2), (Reservation::Granted { at: later }, true));
        let full = Reservation::Full { next_free_at: t0() + INVITATION_WINDOW };
        assert_eq!(ledger.reserve(ids[2], later, 2), (full, true), "it joins the line");
        // One moment before the window ends the slot still counts; at its end it is free.
        assert_eq!(ledger.reserve(ids[2], t0() + INVITATION_WINDOW - Duration::seconds(1), 2).0, full);
        let freed = t0() + INVITATION_WINDOW;
        assert_eq!(ledger.reserve(ids[2], freed, 2), (Reservation::Granted { at: freed }, true));
        assert_eq!(ledger.taken(freed), 2);
        assert!(!ledger.slots.contains_key(&ids[0]), "aged-out slots leave the ledger");
        // A retry of a migration that holds a slot: the same slot, counted from the retry.
        let retry = freed + Duration::minutes(30);
        assert_eq!(ledger.reserve(ids[1], retry, 2), (Reservation::Granted { at: retry }, true));
        assert_eq!(ledger.taken(retry), 2, "no second slot");
        assert_eq!(ledger.reserve(ids[3], retry, 2).0, Reservation::Full { next_free_at: freed + INVITATION_WINDOW });
    }

    #[test]
    fn a_freed_slot_goes_to_the_first_in_line_at_the_time_it_was_told() {
        let mut ledger = InvitationLedger::default();
        let [a, b, c, d] = [0, 1, 2, 3].map(|i| MigrationId::new_at(t0() + Duration::seconds(i)));
        let w = INVITATION_WINDOW;
        assert_eq!(ledger.reserve(a, t0(), 1).0, Reservation::Granted { at: t0() });
        assert_eq!(ledger.reserve(b, t0() + Duration::minutes(1), 1).0, Reservation::Full { next_free_at: t0() + w });
        // Second in line for one slot: the round after.
        assert_eq!(ledger.reserve(c, t0() + Duration::minutes(2), 1).0, Reservation::Full { next_free_at: t0() + w * 2 });
        // The slot frees; c asks before b does, and still waits its turn.
        assert_eq!(ledger.reserve(c, t0() + w, 1).0, Reservation::Full { next_free_at: t0() + w * 2 });
        let b_at = t0() + w + Duration::seconds(1);
        assert_eq!(ledger.reserve(b, b_at, 1), (Reservation::Granted { at: b_at }, true));
        assert!(!ledger.waiting.contains_key(&b), "a granted migration leaves the line");
        // c never comes back (canceled while it waited): after the grace it holds up nobody.
        let late = t0() + w * 2 + WAITER_GRACE + Duration::seconds(1);
        assert_eq!(ledger.reserve(d, late, 1), (Reservation::Granted { at: late }, true));
        assert!(ledger.waiting.is_empty());
    }

    #[test]
    fn a_lowered_quota_opens_slots_only_once_the_surplus_aged_out() {
        let mut ledger = InvitationLedger::default();
        let ids: Vec<MigrationId> = (0..4).map(|i| MigrationId::new_at(t0() + Duration::seconds(i))).collect();
        for (i, id) in ids.iter().take(3).enumerate() {
            ledger.reserve(*id, t0() + Duration::minutes(i64::try_from(i).unwrap()), 3);
        }
        // The quota drops to 1: two slots must age out before one opens.
        assert_eq!(
            ledger.reserve(ids[3], t0() + Duration::minutes(5), 1).0,
            Reservation::Full { next_free_at: t0() + Duration::minutes(2) + INVITATION_WINDOW }
        );
    }
}
