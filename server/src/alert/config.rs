//! The alerting's configuration (`alerts.*` keys and `[[rules]]` tables), as `crate::config` parses it: handed
//! whole to [`Alerting::from_config`](super::Alerting::from_config).

use std::time::Duration;

/// Alert evaluation and notifications, and the rules declared in `[[rules]]`.
#[derive(Debug, Clone)]
pub struct AlertsConfig {
    pub enabled: bool,
    pub interval: Duration,
    pub repeat_interval: Duration,
    pub group_by: Vec<crate::names::LabelName>,
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub send_timeout: Duration,
    /// Hosts notifications may reach although they are loopback, private or link-local.
    pub allowed_hosts: Vec<String>,
    /// Alert rules declared in `[[rules]]` tables (checked like rules made in the UI).
    pub rules: Vec<app::types::RuleDraft>,
}
