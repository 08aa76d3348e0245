//! The rule editor's backtest: the engine's own evaluation replayed over recorded samples, so the preview cannot
//! disagree with what fires. Samples enter from [`Alerting::backtest`](super::Alerting::backtest) (the rule's series
//! over the range, from one lookback before it); at each instant the rule's reduction ([`Reduce::over`]), its
//! condition and no-data policy ([`verdict`](super::verdict)) and the state machine ([`AlertState::step`]) run
//! exactly as [`Alerting::evaluate`](super::Alerting::evaluate) runs them. What leaves, per series, is the value the
//! rule saw at each instant and the spans in which the alert was firing.
//!
//! Left out, because they change notices and not states: silences, acknowledgement, repeats and escalation.

use super::rule::Rule;
use super::state::{AlertState, Health, Phase};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// One series replayed.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Replayed {
    /// The value the rule saw at each instant it had data.
    pub values: Vec<(DateTime<Utc>, f64)>,
    /// When the alert was firing: from the instant it fired to the instant it resolved (or `end`).
    pub firing: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

/// Replays `rule` over one series' `samples` (sorted by time) at `instants` (ascending), looking back `lookback`
/// for `last` rules; a span still firing at the last instant ends at `end`.
pub fn replay(
    rule: &Rule,
    lookback: Duration,
    samples: &[(DateTime<Utc>, f64)],
    instants: &[DateTime<Utc>],
    end: DateTime<Utc>,
) -> Replayed {
    let timing = rule.timing();
    let mut state = AlertState::default();
    let mut health = Health::Ok;
    let mut out = Replayed::default();
    let mut firing_since = None;
    for &now in instants {
        let value = rule.reduce.over(samples, now, rule.window, lookback);
        if let Some(v) = value {
            out.values.push((now, v));
        }
        let (held, now_health) = super::verdict(rule, Ok(value), state.phase, health);
        if let Some(held) = held {
            state.step(now, held, &timing);
        }
        health = now_health;
        match (state.phase == Phase::Firing, firing_since) {
            (true, None) => firing_since = Some(now),
            (false, Some(since)) => {
                out.firing.push((since, now));
                firing_since = None;
            }
            _ => {}
        }
    }
    if let Some(since) = firing_since {
        out.firing.push((since, end.max(since)));
    }
    out
}

/// The instants `step` apart from `start` up to `end`.
pub fn instants(start: DateTime<Utc>, end: DateTime<Utc>, step: Duration) -> Vec<DateTime<Utc>> {
    let step = chrono::Duration::from_std(step.max(Duration::from_secs(1))).unwrap_or_default();
    let mut out = Vec::new();
    let mut t = start;
    while t <= end {
        out.push(t);
        t += step;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::types::RuleDraft;

    fn rule(reduce: &str, window: &str, for_: &str, keep: &str, no_data: &str) -> Rule {
        Rule::parse(&RuleDraft {
            name: "r".into(),
            metric: "m".into(),
            reduce: reduce.into(),
            window: window.into(),
            condition: ">".into(),
            threshold: "4".into(),
            for_: for_.into(),
            keep_firing_for: keep.into(),
            no_data: no_data.into(),
            ..Default::default()
        })
        .unwrap()
    }

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    /// One sample every 10 s from `values`.
    fn series(values: &[f64]) -> Vec<(DateTime<Utc>, f64)> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| (at(10 * i as i64), *v))
            .collect()
    }

    fn spans(r: &Replayed) -> Vec<(i64, i64)> {
        r.firing
            .iter()
            .map(|(a, b)| (a.timestamp() - 1_800_000_000, b.timestamp() - 1_800_000_000))
            .collect()
    }

    #[test]
    fn a_last_rule_fires_after_for_and_resolves_when_the_condition_stops() {
        let samples = series(&[1.0, 5.0, 6.0, 7.0, 8.0, 2.0, 1.0]);
        let every = instants(at(0), at(60), Duration::from_secs(10));
        let r = rule("last", "1m", "20s", "0", "keep");
        // Holds from 10 s; 20 s later (30 s) it fires; at 50 s it no longer holds.
        assert_eq!(
            spans(&replay(&r, Duration::ZERO, &samples, &every, at(60))),
            [(30, 50)]
        );
        let r = rule("last", "1m", "0", "0", "keep");
        assert_eq!(
            spans(&replay(&r, Duration::ZERO, &samples, &every, at(60))),
            [(10, 50)]
        );
        // keep_firing_for holds it 15 s past the last instant the condition held (40 s): resolved at 60 s.
        let r = rule("last", "1m", "0", "15s", "keep");
        assert_eq!(
            spans(&replay(&r, Duration::ZERO, &samples, &every, at(60))),
            [(10, 60)]
        );
    }

    #[test]
    fn a_reduction_sees_the_window_before_each_instant() {
        // avg over 30 s: (now-30 s, now] holds three samples.
        let samples = series(&[0.0, 0.0, 12.0, 0.0, 0.0, 0.0]);
        let every = instants(at(0), at(50), Duration::from_secs(10));
        let r = rule("avg", "30s", "0", "0", "keep");
        let replayed = replay(&r, Duration::ZERO, &samples, &every, at(50));
        // At 20, 30 and 40 s the window holds the 12 and two zeros: the average is 4, never above it. The maximum
        // is 12 from 20 s until 50 s, when the 12 has left the window.
        assert!(spans(&replayed).is_empty());
        let r = rule("max", "30s", "0", "0", "keep");
        assert_eq!(
            spans(&replay(&r, Duration::ZERO, &samples, &every, at(50))),
            [(20, 50)]
        );
    }

    #[test]
    fn no_data_follows_the_rules_policy_and_a_firing_span_still_open_ends_at_end() {
        // Data stops after 20 s while firing.
        let samples = series(&[9.0, 9.0, 9.0]);
        let every = instants(at(0), at(80), Duration::from_secs(10));
        let keep = rule("last", "10s", "0", "0", "keep");
        assert_eq!(
            spans(&replay(&keep, Duration::ZERO, &samples, &every, at(90))),
            [(0, 90)]
        );
        let ok = rule("last", "10s", "0", "0", "ok");
        // The sample at 20 s is seen until 30 s (lookback 10 s, inclusive): no data from 40 s resolves.
        assert_eq!(
            spans(&replay(&ok, Duration::ZERO, &samples, &every, at(90))),
            [(0, 40)]
        );
        // A lookback floor of 30 s sees it until 50 s.
        assert_eq!(
            spans(&replay(
                &ok,
                Duration::from_secs(30),
                &samples,
                &every,
                at(90)
            )),
            [(0, 60)]
        );
    }
}
