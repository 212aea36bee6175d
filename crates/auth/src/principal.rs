//! Who is calling.

use serde::{Deserialize, Serialize};

/// A user's role. `Operator` runs the whole cloud; the others act within their own account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(
    feature = "sqlx",
    derive(sqlx::Type),
    sqlx(type_name = "text", rename_all = "lowercase")
)]
pub enum Role {
    Operator,
    Admin,
    Member,
    Reader,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Reader => "reader",
        }
    }

    /// May this role change things (as opposed to only reading)?
    pub fn can_write(self) -> bool {
        !matches!(self, Role::Reader)
    }

    /// May this role manage the users and keys of its account?
    pub fn can_administer_account(self) -> bool {
        matches!(self, Role::Operator | Role::Admin)
    }

    /// How much this role may do: operator 3, admin 2, member 1, reader 0.
    pub fn rank(self) -> u8 {
        match self {
            Role::Operator => 3,
            Role::Admin => 2,
            Role::Member => 1,
            Role::Reader => 0,
        }
    }

    /// The lesser of two roles: what a credential may do when it claims `self` and its
    /// user now holds `other` (or the other way round).
    pub fn at_most(self, other: Role) -> Role {
        if other.rank() < self.rank() {
            other
        } else {
            self
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            "reader" => Ok(Role::Reader),
            other => Err(format!(
                "unknown role '{other}' (expected operator, admin, member or reader)"
            )),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the caller proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMethod {
    /// `Authorization: Bearer <JWT>`.
    Bearer,
    /// The same JWT in the web console's `kumo_session` cookie (native API only).
    Session,
    /// AWS SigV4, by header or presigned URL.
    SigV4 {
        access_key_id: String,
        service: String,
        region: String,
    },
    /// An S3 presigned URL signed with Signature Version 2 (HMAC-SHA1).
    PresignedV2 { access_key_id: String },
}

/// The authenticated caller. Every handler receives it and scopes every query by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// 12-digit account id.
    pub account_id: String,
    /// Stable user id (`AIDA…`).
    pub user_id: String,
    pub user_name: String,
    pub role: Role,
    pub method: AuthMethod,
}

impl Principal {
    pub fn is_operator(&self) -> bool {
        self.role == Role::Operator
    }

    /// May this caller act within `account_id`? Operators may act in any account.
    pub fn may_access_account(&self, account_id: &str) -> bool {
        self.is_operator() || self.account_id == account_id
    }

    /// The IAM-style ARN of the calling user.
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::{}:user/{}", self.account_id, self.user_name)
    }
}
