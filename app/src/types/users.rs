//! Who may do what: roles, user accounts and API tokens.

use super::*;

/// What a signed-in user may do. Ordered: a higher role includes everything a lower one may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Editor,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Editor, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "viewer" => Ok(Role::Viewer),
            "editor" => Ok(Role::Editor),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role `{other}` (expected viewer, editor or admin)"
            )),
        }
    }
}

/// What an API token may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// `POST /api/v1/ingest` and `POST /v1/metrics`.
    Ingest,
    /// The REST data routes' GET requests (acting with the token's role).
    Read,
    /// The REST data routes' state-changing requests (acting with the token's role: editor or admin).
    Write,
    /// mcpulse's MCP endpoint `/mcp`.
    Mcp,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Ingest, Scope::Read, Scope::Write, Scope::Mcp];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Mcp => "mcp",
        }
    }

    /// Parses `ingest,read` (duplicates once), or an `Invalid` error on field `scopes`.
    pub fn parse_list(s: &str) -> Result<Vec<Scope>, crate::error::AppError> {
        use crate::error::AppError;
        let mut scopes = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let scope: Scope = part
                .parse()
                .map_err(|e: String| AppError::invalid("scopes", e))?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        if scopes.is_empty() {
            return Err(AppError::invalid(
                "scopes",
                "name at least one scope (ingest, read, write, mcp)",
            ));
        }
        Ok(scopes)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "ingest" => Ok(Scope::Ingest),
            "read" => Ok(Scope::Read),
            "write" => Ok(Scope::Write),
            "mcp" => Ok(Scope::Mcp),
            other => Err(format!(
                "unknown scope `{other}` (expected ingest, read, write or mcp)"
            )),
        }
    }
}

/// A token to create, checked: what the token form and the CLI ask for.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRequest {
    pub name: String,
    pub scopes: Vec<Scope>,
    /// How long from its creation it works (`None`: until revoked).
    pub expires_in: Option<std::time::Duration>,
    /// What it may do on the REST API and `/mcp`.
    pub role: Role,
}

impl TokenRequest {
    /// Checks a token form's fields (`scopes`: `ingest,read`; `expires_in`: a duration like `30d`, empty or `never`
    /// for never; `role`: empty for viewer), naming every bad field at once.
    pub fn parse(
        name: &str,
        scopes: &str,
        expires_in: &str,
        role: &str,
    ) -> Result<TokenRequest, crate::error::AppError> {
        use crate::error::{AppError, Problems};
        let mut problems = Problems::new();
        let name = name.trim();
        if name.is_empty() || name.len() > 64 {
            problems.add("name", "give the token a name of 1 to 64 characters");
        }
        let scopes = problems.take(Scope::parse_list(scopes));
        let role: Option<Role> = match role.trim() {
            "" => Some(Role::Viewer),
            r => problems.take(r.parse().map_err(|e: String| AppError::invalid("role", e))),
        };
        let expires_in = match expires_in.trim() {
            "" | "never" => Some(None),
            text => problems.take(
                humantime::parse_duration(text)
                    .ok()
                    .filter(|d| !d.is_zero() && chrono::Duration::from_std(*d).is_ok())
                    .map(Some)
                    .ok_or_else(|| {
                        AppError::invalid(
                            "expires_in",
                            format!(
                                "`{text}` is not a duration such as 30d (empty: never expires)"
                            ),
                        )
                    }),
            ),
        };
        problems.finish()?;
        let (Some(scopes), Some(role), Some(expires_in)) = (scopes, role, expires_in) else {
            unreachable!("every missing value was recorded as a problem");
        };
        Ok(TokenRequest {
            name: name.to_string(),
            scopes,
            expires_in,
            role,
        })
    }
}

/// The signed-in user as the UI sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub id: i64,
    pub username: String,
    pub role: Role,
}

/// An API token as admins see it (never the secret itself).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    /// The first characters of the token, to recognise it.
    pub prefix: String,
    pub scopes: Vec<String>,
    /// The role the token acts with on `/mcp` (never more than its creator's current role).
    pub role: Role,
    pub created_by: String,
    #[serde(with = "crate::wire::time")]
    pub created_at: DateTime<Utc>,
    #[serde(default, with = "crate::wire::opt_time")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default, with = "crate::wire::opt_time")]
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked: bool,
}

/// A freshly created token: the secret is shown once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedToken {
    pub info: TokenInfo,
    pub token: String,
}
