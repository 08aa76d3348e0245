//! Time, injected. Whatever decides by the time of day or by time passed (alert evaluation, acknowledgement,
//! silences, the outbox's retries, repeats and escalation; report schedules; retention; the probe's back-off; the
//! sign-in limiter) asks a [`Clock`] handed to it at start, and SQL binds the clock's `now` instead of calling the
//! database's `now()`. In production the clock is the system's; tests hand a [`ManualClock`] and step it, so a
//! scenario over hours runs in milliseconds and the same instants give the same answers.
//!
//! A latency measured around a call (`Instant::now()` … `elapsed()`) is not a decision and stays on `Instant`.

use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where the time comes from: the system's clocks, or a manual one a test sets. Cheap to clone; clones of a
/// manual clock share its time.
#[derive(Clone, Default)]
pub struct Clock(Source);

#[derive(Clone, Default)]
enum Source {
    #[default]
    System,
    Manual(Arc<Mutex<Manual>>),
}

struct Manual {
    wall: DateTime<Utc>,
    /// The monotonic reading: `base` plus how far the clock has been moved forward.
    base: Instant,
    forward: Duration,
}

impl Clock {
    pub fn system() -> Clock {
        Clock(Source::System)
    }

    /// The wall-clock time now.
    pub fn now(&self) -> DateTime<Utc> {
        match &self.0 {
            Source::System => Utc::now(),
            Source::Manual(m) => lock(m).wall,
        }
    }

    /// The monotonic time now (for waits and windows that must not jump with the wall clock).
    pub fn instant(&self) -> Instant {
        match &self.0 {
            Source::System => Instant::now(),
            Source::Manual(m) => {
                let m = lock(m);
                m.base + m.forward
            }
        }
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Source::System => f.write_str("Clock::system"),
            Source::Manual(m) => write!(f, "Clock::manual({})", lock(m).wall),
        }
    }
}

/// A clock that moves only when told: [`ManualClock::set`] or [`ManualClock::advance`]. Its [`Clock`]s (from
/// [`ManualClock::clock`]) all read the time it was last set to.
#[derive(Clone)]
pub struct ManualClock(Arc<Mutex<Manual>>);

impl ManualClock {
    pub fn new(at: DateTime<Utc>) -> ManualClock {
        ManualClock(Arc::new(Mutex::new(Manual {
            wall: at,
            base: Instant::now(),
            forward: Duration::ZERO,
        })))
    }

    pub fn clock(&self) -> Clock {
        Clock(Source::Manual(self.0.clone()))
    }

    /// Sets the wall time to `at`. The monotonic time moves forward by as much (never back: setting the wall
    /// time earlier leaves it where it is, as a system's monotonic clock does).
    pub fn set(&self, at: DateTime<Utc>) {
        let mut m = lock(&self.0);
        if let Ok(ahead) = (at - m.wall).to_std() {
            m.forward += ahead;
        }
        m.wall = at;
    }

    pub fn advance(&self, by: Duration) {
        let mut m = lock(&self.0);
        m.wall += chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX);
        m.forward += by;
    }

    pub fn now(&self) -> DateTime<Utc> {
        lock(&self.0).wall
    }
}

fn lock(m: &Mutex<Manual>) -> std::sync::MutexGuard<'_, Manual> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_its_monotonic_time_never_goes_back() {
        let t0: DateTime<Utc> = "2026-06-01T12:00:00Z".parse().unwrap();
        let manual = ManualClock::new(t0);
        let clock = manual.clock();
        let (wall, mono) = (clock.now(), clock.instant());
        assert_eq!(wall, t0);
        assert_eq!(clock.instant(), mono, "still while not told");
        manual.advance(Duration::from_secs(90));
        assert_eq!(clock.now(), t0 + chrono::Duration::seconds(90));
        assert_eq!(clock.instant() - mono, Duration::from_secs(90));
        manual.set(t0);
        assert_eq!(clock.now(), t0, "the wall time may be set back");
        assert_eq!(
            clock.instant() - mono,
            Duration::from_secs(90),
            "the monotonic time is not"
        );
        manual.set(t0 + chrono::Duration::minutes(5));
        assert_eq!(clock.instant() - mono, Duration::from_secs(390));
    }

    #[test]
    fn the_system_clock_reads_the_system() {
        let clock = Clock::system();
        let before = Utc::now();
        let now = clock.now();
        assert!(now >= before && now <= Utc::now());
    }
}
