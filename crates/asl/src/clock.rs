//! Clocks: [`SystemClock`] (real time) and [`VirtualClock`] (deterministic test time).
//!
//! # Virtual time
//!
//! Every running execution is a *participant* of its clock, in one of these activities:
//! busy (running state logic or awaiting a task handler), sleeping (Wait state or Retry
//! back-off), awaiting a task token, finished.
//!
//! The virtual clock jumps forward **by itself** only when every participant is idle, at
//! least one sleeps, and none awaits a task token or runs a handler: it then moves to the
//! earliest pending deadline and fires it. Time therefore stands still while a handler runs
//! or while a test is expected to answer a task token; task `TimeoutSeconds`,
//! `HeartbeatSeconds` and the state machine's `TimeoutSeconds` fire only when the clock
//! passes them — through an automatic jump or an explicit [`VirtualClock::advance`] /
//! [`VirtualClock::advance_to_next_deadline`].

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{oneshot, watch};

/// The real clock: `Utc::now()` and tokio timers.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

/// A deterministic clock for tests. Clones share the same time.
#[derive(Clone)]
pub struct VirtualClock {
    inner: Arc<Mutex<VState>>,
}

impl std::fmt::Debug for VirtualClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualClock").field("now", &self.now()).finish()
    }
}

/// The clock an [`crate::Executor`] runs on.
#[derive(Debug, Clone)]
pub enum Clock {
    /// Real time.
    System(SystemClock),
    /// Virtual time (tests).
    Virtual(VirtualClock),
}

impl From<SystemClock> for Clock {
    fn from(c: SystemClock) -> Self {
        Clock::System(c)
    }
}
impl From<VirtualClock> for Clock {
    fn from(c: VirtualClock) -> Self {
        Clock::Virtual(c)
    }
}

/// What a participant (an execution) is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activity {
    Busy,
    Sleeping,
    AwaitingToken,
    Finished,
}

struct TimerEntry {
    owner: u64,
    tx: oneshot::Sender<()>,
}

struct PState {
    activity: Activity,
    watch: Arc<watch::Sender<Activity>>,
}

struct VState {
    now: DateTime<Utc>,
    seq: u64,
    timers: BTreeMap<(DateTime<Utc>, u64), TimerEntry>,
    participants: HashMap<u64, PState>,
}

impl VState {
    fn fire_until(&mut self, target: DateTime<Utc>) {
        while let Some(entry) = self.timers.first_entry() {
            let (deadline, _) = *entry.key();
            if deadline > target {
                break;
            }
            let t = entry.remove();
            if deadline > self.now {
                self.now = deadline;
            }
            if let Some(p) = self.participants.get_mut(&t.owner)
                && p.activity != Activity::Finished
            {
                p.activity = Activity::Busy;
            }
            let _ = t.tx.send(());
        }
        if target > self.now {
            self.now = target;
        }
    }

    /// Jumps to the next deadline while everybody is idle and somebody sleeps.
    fn auto_advance(&mut self) {
        let acts = || self.participants.values().map(|p| p.activity);
        let blocked = acts().any(|a| a == Activity::Busy || a == Activity::AwaitingToken);
        if blocked || !acts().any(|a| a == Activity::Sleeping) {
            return;
        }
        if let Some((&(deadline, _), _)) = self.timers.first_key_value() {
            self.fire_until(deadline);
        }
    }

    fn publish(&self) {
        for p in self.participants.values() {
            p.watch.send_if_modified(|a| {
                let changed = *a != p.activity;
                *a = p.activity;
                changed
            });
        }
    }
}

impl VirtualClock {
    /// A virtual clock starting at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        VirtualClock { inner: Arc::new(Mutex::new(VState { now: start, seq: 0, timers: BTreeMap::new(), participants: HashMap::new() })) }
    }

    fn lock(&self) -> MutexGuard<'_, VState> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current virtual time.
    pub fn now(&self) -> DateTime<Utc> {
        self.lock().now
    }

    /// Moves time forward by `d`, firing (in deadline order) every timer that falls due:
    /// task timeouts, heartbeat timeouts, execution timeouts, waits.
    pub fn advance(&self, d: Duration) {
        let mut s = self.lock();
        let target = s.now + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        s.fire_until(target);
        s.auto_advance();
        s.publish();
    }

    /// Moves time to the earliest pending deadline (if any) and fires it; returns it.
    pub fn advance_to_next_deadline(&self) -> Option<DateTime<Utc>> {
        let mut s = self.lock();
        let (&(deadline, _), _) = s.timers.first_key_value()?;
        s.fire_until(deadline);
        s.auto_advance();
        s.publish();
        Some(deadline)
    }

    /// The earliest pending deadline, if any.
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        self.lock().timers.first_key_value().map(|(k, _)| k.0)
    }

    /// Holds the clock for a driver that acts at times of its own between the executions'
    /// deadlines (a simulated customer who asks at 10:25): while the guard lives, time moves
    /// only through [`advance`](Self::advance) and
    /// [`advance_to_next_deadline`](Self::advance_to_next_deadline), never by itself, as if
    /// one more participant awaited a task token.
    pub fn hold(&self) -> ClockHold {
        let mut s = self.lock();
        s.seq += 1;
        let id = s.seq;
        let (watch, _) = watch::channel(Activity::AwaitingToken);
        s.participants.insert(id, PState { activity: Activity::AwaitingToken, watch: Arc::new(watch) });
        ClockHold { clock: self.clone(), id }
    }
}

/// A hold on a [`VirtualClock`] (see [`VirtualClock::hold`]); dropping it lets time jump
/// by itself again.
pub struct ClockHold {
    clock: VirtualClock,
    id: u64,
}

impl Drop for ClockHold {
    fn drop(&mut self) {
        let mut s = self.clock.lock();
        s.participants.remove(&self.id);
        s.auto_advance();
        s.publish();
    }
}

impl Clock {
    pub(crate) fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System(_) => Utc::now(),
            Clock::Virtual(v) => v.now(),
        }
    }

    pub(crate) fn is_virtual(&self) -> bool {
        matches!(self, Clock::Virtual(_))
    }

    /// Registers a participant, initially busy.
    pub(crate) fn participant(&self) -> Participant {
        let (tx, _) = watch::channel(Activity::Busy);
        let watch = Arc::new(tx);
        let id = match self {
            Clock::System(_) => 0,
            Clock::Virtual(v) => {
                let mut s = v.lock();
                s.seq += 1;
                let id = s.seq;
                s.participants.insert(id, PState { activity: Activity::Busy, watch: watch.clone() });
                id
            }
        };
        Participant { id, clock: self.clone(), watch }
    }
}

/// An execution's membership in its clock.
pub(crate) struct Participant {
    id: u64,
    clock: Clock,
    watch: Arc<watch::Sender<Activity>>,
}

impl Participant {
    /// Changes the activity; `Finished` is final.
    pub(crate) fn set(&self, activity: Activity) {
        match &self.clock {
            Clock::System(_) => {
                self.watch.send_if_modified(|a| {
                    let changed = *a != activity && *a != Activity::Finished;
                    if changed {
                        *a = activity;
                    }
                    changed
                });
            }
            Clock::Virtual(v) => {
                let mut s = v.lock();
                if let Some(p) = s.participants.get_mut(&self.id)
                    && p.activity != Activity::Finished
                {
                    p.activity = activity;
                }
                s.auto_advance();
                s.publish();
                if activity == Activity::Finished {
                    s.participants.remove(&self.id);
                    // the watch already carries Finished
                    self.watch.send_replace(Activity::Finished);
                }
            }
        }
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<Activity> {
        self.watch.subscribe()
    }

    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    /// A timer firing at `deadline`; under the virtual clock firing makes this participant busy.
    pub(crate) fn timer(&self, deadline: DateTime<Utc>) -> Timer {
        match &self.clock {
            Clock::System(_) => {
                let d = (deadline - Utc::now()).to_std().unwrap_or(Duration::ZERO);
                Timer(TimerInner::System(Box::pin(tokio::time::sleep(d))))
            }
            Clock::Virtual(v) => {
                let mut s = v.lock();
                let (tx, rx) = oneshot::channel();
                if deadline <= s.now {
                    let _ = tx.send(());
                    return Timer(TimerInner::Virtual { rx, key: None, clock: v.clone() });
                }
                s.seq += 1;
                let key = (deadline, s.seq);
                s.timers.insert(key, TimerEntry { owner: self.id, tx });
                Timer(TimerInner::Virtual { rx, key: Some(key), clock: v.clone() })
            }
        }
    }

    /// Sleeps until `deadline` as a Wait state or a retry back-off.
    pub(crate) async fn sleep_until(&self, deadline: DateTime<Utc>) {
        let timer = self.timer(deadline);
        self.set(Activity::Sleeping);
        timer.await;
        self.set(Activity::Busy);
    }
}

impl Drop for Participant {
    fn drop(&mut self) {
        self.set(Activity::Finished);
    }
}

/// A one-shot timer; dropping it cancels it.
pub(crate) struct Timer(TimerInner);

enum TimerInner {
    System(Pin<Box<tokio::time::Sleep>>),
    Virtual { rx: oneshot::Receiver<()>, key: Option<(DateTime<Utc>, u64)>, clock: VirtualClock },
}

impl Future for Timer {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.0 {
            TimerInner::System(s) => s.as_mut().poll(cx),
            TimerInner::Virtual { rx, key, .. } => match Pin::new(rx).poll(cx) {
                Poll::Ready(_) => {
                    *key = None;
                    Poll::Ready(())
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        if let TimerInner::Virtual { key: Some(key), clock, .. } = &self.0 {
            clock.lock().timers.remove(key);
        }
    }
}

/// Awaits an optional timer; `None` never fires.
pub(crate) async fn maybe(timer: &mut Option<Timer>) {
    match timer {
        Some(t) => t.await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
    }

    #[tokio::test]
    async fn a_lone_sleeper_jumps_the_clock_to_its_deadline() {
        let clock = VirtualClock::new(t0());
        let p = Clock::from(clock.clone()).participant();
        p.sleep_until(t0() + chrono::Duration::seconds(30)).await;
        assert_eq!(clock.now(), t0() + chrono::Duration::seconds(30));
    }

    #[tokio::test]
    async fn time_stands_still_while_another_participant_awaits_a_token() {
        let clock = VirtualClock::new(t0());
        let c = Clock::from(clock.clone());
        let waiting = c.participant();
        waiting.set(Activity::AwaitingToken);
        let sleeper = c.participant();
        let task = tokio::spawn(async move { sleeper.sleep_until(t0() + chrono::Duration::seconds(10)).await });
        tokio::task::yield_now().await;
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert_eq!(clock.now(), t0(), "the clock must not move");
        assert!(!task.is_finished());
        waiting.set(Activity::Finished);
        task.await.unwrap();
        assert_eq!(clock.now(), t0() + chrono::Duration::seconds(10));
    }

    #[tokio::test]
    async fn dropped_timers_are_cancelled_and_advance_fires_due_ones_in_order() {
        let clock = VirtualClock::new(t0());
        let p = Clock::from(clock.clone()).participant();
        let dropped = p.timer(t0() + chrono::Duration::seconds(1));
        drop(dropped);
        assert_eq!(clock.next_deadline(), None);
        let mut a = Some(p.timer(t0() + chrono::Duration::seconds(5)));
        let b = p.timer(t0() + chrono::Duration::seconds(50));
        clock.advance(Duration::from_secs(6));
        maybe(&mut a).await;
        assert_eq!(clock.now(), t0() + chrono::Duration::seconds(6));
        assert_eq!(clock.advance_to_next_deadline(), Some(t0() + chrono::Duration::seconds(50)));
        b.await;
    }
}
