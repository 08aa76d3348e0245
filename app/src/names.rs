//! The names samples carry, parsed once: [`SourceId`], [`MetricName`], [`LabelName`] and [`LabelSet`] can only be
//! made by `parse`, so a function that takes one never checks it again. Collection (scrapes, probes, pushes,
//! OTLP), rules, queries, source definitions, the configuration and the [`Engine`](crate::engine) trait take these
//! types; strings from requests, files and scraped text are parsed where they enter.
//!
//! Data in: strings (and label maps) from outside. Data out: the checked name, or the problem in words.

use serde::{Deserialize, Serialize};
use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;

/// A sample's labels as plain strings, sorted by name (unchecked: see [`LabelSet`]).
pub type Labels = BTreeMap<String, String>;

/// Most labels per sample, and the longest label name, label value, metric name and source id accepted.
pub const MAX_LABELS: usize = 32;
pub const MAX_LABEL_NAME: usize = 128;
pub const MAX_LABEL_VALUE: usize = 2048;
pub const MAX_METRIC_NAME: usize = 200;
pub const MAX_SOURCE_ID: usize = 64;

/// Why a name was refused, in words for a human (the caller names the field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameError(pub String);

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NameError {}

/// Whether `s` is a source id: 1–64 letters, digits, `.`, `_` or `-`.
pub fn is_source_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_SOURCE_ID
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Whether `s` follows the Prometheus metric name grammar `[a-zA-Z_:][a-zA-Z0-9_:]*` (any length).
pub fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Whether `s` follows the Prometheus label name grammar `[a-zA-Z_][a-zA-Z0-9_]*` (any length, `__` allowed).
pub fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A checked string name: made only by its `parse`, read as a `&str`.
macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(std::sync::Arc<str>);

        /// As the string it is (`"api-1"`), so messages read as they did with plain strings.
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl $name {
            /// A name written in mcpulse's own code (`up`, `self`): panics if it does not parse, which the
            /// first test or run of that code shows.
            pub fn literal(s: &'static str) -> Self {
                $name::parse(s).unwrap_or_else(|e| panic!("{e}"))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0.to_string()
            }

            /// Whether both are the same stored string (a clone of one another: a pointer comparison, used to
            /// skip hashing samples of one series).
            pub fn same(&self, other: &Self) -> bool {
                std::sync::Arc::ptr_eq(&self.0, &other.0)
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                &*self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                &*self.0 == *other
            }
        }

        impl From<$name> for String {
            fn from(n: $name) -> String {
                n.0.to_string()
            }
        }

        impl TryFrom<String> for $name {
            type Error = NameError;
            fn try_from(s: String) -> Result<Self, NameError> {
                $name::parse(&s)
            }
        }

        impl std::str::FromStr for $name {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, NameError> {
                $name::parse(s)
            }
        }
    };
}

/// Names are TEXT in PostgreSQL: bound and read as strings, and parsed again when read (a stored name that no
/// longer parses is a decode error, never an unchecked name).
#[cfg(feature = "ssr")]
macro_rules! text_column {
    ($name:ident) => {
        impl sqlx::Type<sqlx::Postgres> for $name {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <String as sqlx::Type<sqlx::Postgres>>::type_info()
            }
            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <String as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }

        impl sqlx::postgres::PgHasArrayType for $name {
            fn array_type_info() -> sqlx::postgres::PgTypeInfo {
                <String as sqlx::postgres::PgHasArrayType>::array_type_info()
            }
        }

        impl<'q> sqlx::Encode<'q, sqlx::Postgres> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut sqlx::postgres::PgArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<'q, sqlx::Postgres>>::encode(self.as_str(), buf)
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Postgres> for $name {
            fn decode(
                value: sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <&str as sqlx::Decode<'r, sqlx::Postgres>>::decode(value)?;
                Ok($name::parse(text)?)
            }
        }
    };
}

name_type!(
    /// A source's id: 1–64 letters, digits, `.`, `_` or `-` (the `source` label of its samples).
    SourceId
);
name_type!(
    /// A metric name: the Prometheus grammar, at most [`MAX_METRIC_NAME`] bytes.
    MetricName
);
name_type!(
    /// A label name: the Prometheus grammar, at most [`MAX_LABEL_NAME`] bytes. Names starting with `__` are
    /// reserved: a [`LabelSet`] refuses them, a query may name them.
    LabelName
);

#[cfg(feature = "ssr")]
text_column!(SourceId);
#[cfg(feature = "ssr")]
text_column!(MetricName);
#[cfg(feature = "ssr")]
text_column!(LabelName);

impl SourceId {
    pub fn parse(s: &str) -> Result<SourceId, NameError> {
        if is_source_id(s) {
            Ok(SourceId(s.into()))
        } else {
            Err(NameError(format!(
                "`{s}` is not a source id: 1–{MAX_SOURCE_ID} letters, digits, `.`, `_` or `-`"
            )))
        }
    }
}

impl MetricName {
    pub fn parse(s: &str) -> Result<MetricName, NameError> {
        if s.len() <= MAX_METRIC_NAME && is_metric_name(s) {
            Ok(MetricName(s.into()))
        } else {
            Err(NameError(format!("`{s}` is not a valid metric name")))
        }
    }
}

impl LabelName {
    pub fn parse(s: &str) -> Result<LabelName, NameError> {
        if s.len() <= MAX_LABEL_NAME && is_label_name(s) {
            Ok(LabelName(s.into()))
        } else {
            Err(NameError(format!("`{s}` is not a valid label name")))
        }
    }

    /// Whether the name is reserved (starts with `__`).
    pub fn is_reserved(&self) -> bool {
        self.0.starts_with("__")
    }
}

/// A sample's labels, checked: at most [`MAX_LABELS`], each name a [`LabelName`] that is not reserved, each value
/// at most [`MAX_LABEL_VALUE`] bytes. Read as the sorted map it wraps.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "Labels", into = "Labels")]
pub struct LabelSet(std::sync::Arc<Labels>);

/// As the map it is.
impl fmt::Debug for LabelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl LabelSet {
    pub fn parse(labels: Labels) -> Result<LabelSet, NameError> {
        LabelSet::parse_all(labels).map_err(|mut all| all.remove(0))
    }

    /// [`LabelSet::parse`] saying every problem, not only the first (for forms).
    pub fn parse_all(labels: Labels) -> Result<LabelSet, Vec<NameError>> {
        let problems = problems(&labels);
        if problems.is_empty() {
            Ok(LabelSet(std::sync::Arc::new(labels)))
        } else {
            Err(problems)
        }
    }

    /// Parses `(name, value)` pairs (a later pair of the same name wins).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<LabelSet, NameError> {
        LabelSet::parse(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    pub fn into_inner(self) -> Labels {
        std::sync::Arc::unwrap_or_clone(self.0)
    }

    /// Whether both are the same stored map (a clone of one another: a pointer comparison).
    pub fn same(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Deref for LabelSet {
    type Target = Labels;
    fn deref(&self) -> &Labels {
        &self.0
    }
}

impl IntoIterator for LabelSet {
    type Item = (String, String);
    type IntoIter = std::collections::btree_map::IntoIter<String, String>;
    fn into_iter(self) -> Self::IntoIter {
        self.into_inner().into_iter()
    }
}

impl<'a> IntoIterator for &'a LabelSet {
    type Item = (&'a String, &'a String);
    type IntoIter = std::collections::btree_map::Iter<'a, String, String>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl From<LabelSet> for Labels {
    fn from(l: LabelSet) -> Labels {
        l.into_inner()
    }
}

impl TryFrom<Labels> for LabelSet {
    type Error = NameError;
    fn try_from(l: Labels) -> Result<Self, NameError> {
        LabelSet::parse(l)
    }
}

/// What [`LabelSet::parse_all`] refuses in `labels`, in order.
fn problems(labels: &Labels) -> Vec<NameError> {
    let mut problems = Vec::new();
    if labels.len() > MAX_LABELS {
        problems.push(NameError(format!(
            "{} labels; at most {MAX_LABELS} are allowed",
            labels.len()
        )));
    }
    for (name, value) in labels {
        if name.len() > MAX_LABEL_NAME || !is_label_name(name) || name.starts_with("__") {
            problems.push(NameError(format!("`{name}` is not a valid label name")));
        } else if value.len() > MAX_LABEL_VALUE {
            problems.push(NameError(format!(
                "the value of label `{name}` is longer than {MAX_LABEL_VALUE} bytes"
            )));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_their_grammar_and_limits() {
        assert!(SourceId::parse("api-1.eu_west").is_ok());
        for bad in ["", "has space", "ünï", &"x".repeat(65)] {
            assert!(SourceId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(MetricName::parse("http:requests_total").is_ok());
        for bad in ["", "1abc", "a-b", &"m".repeat(201)] {
            assert!(MetricName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(LabelName::parse("__name__").unwrap().is_reserved());
        for bad in ["", "a:b", "9x", &"l".repeat(129)] {
            assert!(LabelName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_label_set_refuses_reserved_names_long_values_and_too_many_labels() {
        assert!(LabelSet::from_pairs([("tool", "search")]).is_ok());
        assert!(LabelSet::from_pairs([("__x", "1")]).is_err());
        assert!(LabelSet::from_pairs([("v", "x".repeat(MAX_LABEL_VALUE + 1))]).is_err());
        let many = (0..=MAX_LABELS).map(|i| (format!("l{i}"), "v"));
        let err = LabelSet::from_pairs(many).unwrap_err();
        assert!(err.0.contains("at most 32"), "{err}");
    }

    #[test]
    fn names_deserialize_only_when_valid() {
        let id: SourceId = serde_json::from_str("\"api-1\"").unwrap();
        assert_eq!(id, "api-1");
        assert!(serde_json::from_str::<SourceId>("\"bad id\"").is_err());
        assert!(serde_json::from_str::<LabelSet>(r#"{"__x":"1"}"#).is_err());
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"api-1\"");
    }
}
