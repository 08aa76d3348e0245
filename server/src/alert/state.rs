//! The alert state machine, in one place: one [`AlertState`] per rule and series, stepped by
//! [`AlertState::step`] with the evaluation time and whether the rule's condition held. Time and data are
//! parameters, so tests drive it with a fake clock; the engine persists the state after every step.
//!
//! Inactive → Pending (the condition holds) → Firing (it held for the rule's `for`) → Resolved (it stopped holding,
//! and `keep_firing_for` has passed since it last held) → Pending … A Pending alert whose condition stops holding
//! goes back to Inactive without a notice. A rule and series whose state changes (Firing ⇄ Resolved) too often
//! within the flap window is *flapping*: one notice says so, and its Firing/Resolved notices are held back until it
//! calms down (then one notice gives the current state).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Inactive,
    Pending,
    Firing,
    Resolved,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Inactive => "inactive",
            Phase::Pending => "pending",
            Phase::Firing => "firing",
            Phase::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Phase> {
        Some(match s {
            "inactive" => Phase::Inactive,
            "pending" => Phase::Pending,
            "firing" => Phase::Firing,
            "resolved" => Phase::Resolved,
            _ => return None,
        })
    }
}

/// The timing parameters of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// How long the condition must hold before the alert fires.
    pub for_: Duration,
    /// How long a firing alert stays firing after the condition stops holding (hysteresis).
    pub keep_firing_for: Duration,
    /// The window in which state changes are counted for flap detection.
    pub flap_window: Duration,
    /// State changes (Firing or Resolved) within the window that make an alert flapping; it stops flapping when
    /// at most half as many remain in the window.
    pub flap_threshold: usize,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            for_: Duration::ZERO,
            keep_firing_for: Duration::ZERO,
            flap_window: Duration::from_secs(600),
            flap_threshold: 6,
        }
    }
}

/// What a step tells the notifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Notice {
    Firing,
    Resolved,
    /// The alert started flapping: its Firing/Resolved notices are held back from now on.
    Flapping,
    /// An active alert's series stopped reporting (no sample within the lookback).
    NoData,
    /// The rule's query failed: an active alert's state is kept but cannot be checked.
    Error,
}

/// Whether an alert's series could be checked at the latest evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Health {
    #[default]
    Ok,
    /// No sample within the lookback.
    NoData,
    /// The rule's query failed.
    Error,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::NoData => "nodata",
            Health::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Health {
        match s {
            "nodata" => Health::NoData,
            "error" => Health::Error,
            _ => Health::Ok,
        }
    }
}

/// The persisted state of one rule for one series.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertState {
    pub phase: Phase,
    /// When the condition started holding (Pending and Firing).
    pub active_since: Option<DateTime<Utc>>,
    pub firing_since: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The last evaluation at which the condition held.
    pub last_held: Option<DateTime<Utc>>,
    /// When the alert last went Firing or Resolved, within the flap window.
    pub changes: Vec<DateTime<Utc>>,
    pub flapping: bool,
}

impl Default for AlertState {
    fn default() -> Self {
        AlertState {
            phase: Phase::Inactive,
            active_since: None,
            firing_since: None,
            resolved_at: None,
            last_held: None,
            changes: Vec::new(),
            flapping: false,
        }
    }
}

impl AlertState {
    /// Advances the state to `now`, when the condition `held` (no data counts as not holding). Returns the notices
    /// to send, in order.
    pub fn step(&mut self, now: DateTime<Utc>, held: bool, timing: &Timing) -> Vec<Notice> {
        let mut changed = None;
        if held {
            self.last_held = Some(now);
            match self.phase {
                Phase::Inactive | Phase::Resolved => {
                    self.active_since = Some(now);
                    self.phase = Phase::Pending;
                    if timing.for_.is_zero() {
                        changed = self.fire(now);
                    }
                }
                Phase::Pending => {
                    if self
                        .active_since
                        .is_some_and(|s| elapsed(s, now) >= timing.for_)
                    {
                        changed = self.fire(now);
                    }
                }
                Phase::Firing => {}
            }
        } else {
            match self.phase {
                Phase::Pending => {
                    self.phase = Phase::Inactive;
                    self.active_since = None;
                }
                Phase::Firing => {
                    let kept = self
                        .last_held
                        .is_some_and(|t| elapsed(t, now) < timing.keep_firing_for);
                    if !kept {
                        self.phase = Phase::Resolved;
                        self.resolved_at = Some(now);
                        self.active_since = None;
                        changed = Some(Notice::Resolved);
                    }
                }
                Phase::Inactive | Phase::Resolved => {}
            }
        }

        // Flap detection over the changes still inside the window.
        if changed.is_some() {
            self.changes.push(now);
        }
        self.changes
            .retain(|t| elapsed(*t, now) < timing.flap_window);
        let mut notices = Vec::new();
        if !self.flapping && self.changes.len() >= timing.flap_threshold.max(2) {
            self.flapping = true;
            notices.push(Notice::Flapping);
        } else if self.flapping && self.changes.len() <= timing.flap_threshold / 2 {
            self.flapping = false;
            // Calm again: say where things stand now.
            notices.push(match self.phase {
                Phase::Firing => Notice::Firing,
                _ => Notice::Resolved,
            });
        } else if let Some(notice) = changed.filter(|_| !self.flapping) {
            notices.push(notice);
        }
        notices
    }

    fn fire(&mut self, now: DateTime<Utc>) -> Option<Notice> {
        self.phase = Phase::Firing;
        self.firing_since = Some(now);
        self.resolved_at = None;
        Some(Notice::Firing)
    }
}

/// How long from `since` to `now` (zero if `now` is earlier).
pub(crate) fn elapsed(since: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (now - since).to_std().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const F: Notice = Notice::Firing;
    const R: Notice = Notice::Resolved;
    const FLAP: Notice = Notice::Flapping;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// Steps a fresh state through `(time, held)` and checks the phase and notices after each step.
    fn run(timing: Timing, steps: &[(i64, bool, Phase, &[Notice])]) -> AlertState {
        let mut state = AlertState::default();
        for (i, (t, held, phase, notices)) in steps.iter().enumerate() {
            let got = state.step(at(*t), *held, &timing);
            assert_eq!(
                (state.phase, got.as_slice()),
                (*phase, *notices),
                "step {i} (t={t}, held={held})"
            );
        }
        state
    }

    #[test]
    fn fires_only_after_the_condition_held_for_the_whole_for_duration() {
        use Phase::*;
        let timing = Timing {
            for_: secs(60),
            ..Timing::default()
        };
        let state = run(
            timing,
            &[
                (0, false, Inactive, &[]),
                (10, true, Pending, &[]),
                (40, true, Pending, &[]),
                (69, true, Pending, &[]),
                (70, true, Firing, &[F]),
                (80, true, Firing, &[]),
                (90, false, Resolved, &[R]),
                (100, false, Resolved, &[]),
            ],
        );
        assert_eq!(state.firing_since, Some(at(70)));
        assert_eq!(state.resolved_at, Some(at(90)));
    }

    #[test]
    fn a_pending_alert_that_recovers_goes_back_to_inactive_silently_and_starts_over() {
        use Phase::*;
        let timing = Timing {
            for_: secs(30),
            ..Timing::default()
        };
        let state = run(
            timing,
            &[
                (0, true, Pending, &[]),
                (20, false, Inactive, &[]),
                (25, true, Pending, &[]),
                (50, true, Pending, &[]),
                (55, true, Firing, &[F]),
            ],
        );
        assert_eq!(state.active_since, Some(at(25)), "the for-window restarted");
    }

    #[test]
    fn zero_for_fires_at_once() {
        use Phase::*;
        run(
            Timing::default(),
            &[
                (0, true, Firing, &[F]),
                (10, false, Resolved, &[R]),
                (20, true, Firing, &[F]),
            ],
        );
    }

    #[test]
    fn keep_firing_for_rides_out_short_recoveries() {
        use Phase::*;
        let timing = Timing {
            keep_firing_for: secs(30),
            ..Timing::default()
        };
        run(
            timing,
            &[
                (0, true, Firing, &[F]),
                (10, false, Firing, &[]),
                (20, true, Firing, &[]),
                (40, false, Firing, &[]),
                (49, false, Firing, &[]),
                (50, false, Resolved, &[R]),
            ],
        );
    }

    #[test]
    fn flapping_holds_notices_back_and_reports_the_state_when_calm() {
        use Phase::*;
        let timing = Timing {
            flap_window: secs(100),
            flap_threshold: 4,
            ..Timing::default()
        };
        let state = run(
            timing,
            &[
                (0, true, Firing, &[F]),
                (10, false, Resolved, &[R]),
                (20, true, Firing, &[F]),
                // The fourth change inside 100 s: one flapping notice instead of this Resolved.
                (30, false, Resolved, &[FLAP]),
                (40, true, Firing, &[]),
                (50, false, Resolved, &[]),
                (60, true, Firing, &[]),
                // Changes at 40, 50, 60 remain within the window: still flapping.
                (139, true, Firing, &[]),
                // Only the change at 60 remains (at most threshold / 2): calm, and the alert is firing.
                (155, true, Firing, &[F]),
                (160, false, Resolved, &[R]),
            ],
        );
        assert!(!state.flapping);
    }

    #[test]
    fn a_resolved_alert_that_holds_again_waits_for_its_for_duration_anew() {
        use Phase::*;
        let timing = Timing {
            for_: secs(20),
            ..Timing::default()
        };
        let state = run(
            timing,
            &[
                (0, true, Pending, &[]),
                (20, true, Firing, &[F]),
                (30, false, Resolved, &[R]),
                (40, true, Pending, &[]),
                (60, true, Firing, &[F]),
            ],
        );
        assert_eq!(state.firing_since, Some(at(60)));
        assert_eq!(state.resolved_at, None);
    }
}
