//! The names samples carry, checked in one place: `app::names` (shared with the engine's callers in `app`) defines
//! [`SourceId`], [`MetricName`], [`LabelName`] and [`LabelSet`], made only by `parse`. Collection (scrapes, probes,
//! pushes, OTLP), the query language, rules, report templates and the configuration parse strings into them where
//! the strings enter, so a name that one accepts the others accept too, and no later function checks it again.
//!
//! Data in: strings from configuration, requests and scraped text. Data out: the typed name, or the problem in words.

pub use app::names::*;
