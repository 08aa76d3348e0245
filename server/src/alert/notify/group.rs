//! Grouping: notices of one contact point whose alerts share the values of `by` form a group. A channel that
//! batches ([`Channel::batches`](super::channels::Channel::batches)) holds a group's first notice `wait`, later
//! ones until `interval` after the group's previous send, and sends what gathered as one notification (the
//! outbox's `group_key` and `not_before` carry this; the dispatcher claims a group's rows together).

use crate::names::LabelName;
use std::collections::BTreeMap;
use std::time::Duration;

/// How notices are batched per contact point: by the values of `by` (labels of the alert), the first batch sent
/// `wait` after its first notice, later ones no sooner than `interval` after the previous send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    pub by: Vec<LabelName>,
    pub wait: Duration,
    pub interval: Duration,
}

impl Default for Grouping {
    fn default() -> Self {
        Grouping {
            by: vec![LabelName::literal("alertname")],
            wait: Duration::from_secs(5),
            interval: Duration::from_secs(60),
        }
    }
}

/// The labels of an alert (its `labels`) that its group is known by under `grouping`.
pub(super) fn group_labels(
    grouping: &Grouping,
    labels: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    grouping
        .by
        .iter()
        .filter_map(|k| labels.get(k.as_str()).map(|v| (k.to_string(), v.clone())))
        .collect()
}
