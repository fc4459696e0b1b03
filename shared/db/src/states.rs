//! The states a row moves through, as enums. Each is stored as its lower-case name in a TEXT column on both
//! back ends (readable in `psql`, no PostgreSQL enum type to migrate), and a value the enum does not know is a
//! clear error when the row is read, never a silent default.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;

/// A stored state the program does not know (a row written by a newer version, or by hand).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a {kind} (expected one of {expected})")]
pub struct UnknownState {
    pub kind: &'static str,
    pub value: String,
    pub expected: String,
}

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            diesel::AsExpression, diesel::FromSqlRow, serde::Serialize, serde::Deserialize,
        )]
        #[diesel(sql_type = Text)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            pub const ALL: &'static [Self] = &[$(Self::$variant,)+];

            /// The stored (and displayed) name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        /// Compares with the stored name (`state == "healthy"`), as a reader of the table would.
        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownState;

            fn from_str(value: &str) -> Result<Self, UnknownState> {
                match value {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(UnknownState {
                        kind: stringify!($name),
                        value: value.to_string(),
                        expected: [$($text),+].join(", "),
                    }),
                }
            }
        }

        impl<DB: Backend> ToSql<Text, DB> for $name
        where
            str: ToSql<Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                self.as_str().to_sql(out)
            }
        }

        impl<DB: Backend> FromSql<Text, DB> for $name
        where
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                Ok(String::from_sql(bytes)?.parse()?)
            }
        }
    };
}

text_enum! {
    /// Whether the customer's admin consent stands.
    ConsentState {
        /// Consent was given and sua's tokens are issued.
        Granted = "granted",
        /// The app was removed from the customer tenant: nothing is collected until consent is given again.
        Revoked = "revoked",
    }
}

text_enum! {
    /// How the tenant's call-record feed (its Graph subscription) is doing.
    FeedState {
        /// A live subscription delivers notifications.
        Healthy = "healthy",
        /// The subscription lives but its last renewal or repair failed.
        Degraded = "degraded",
        /// No live subscription: notifications are not arriving (backfill closes the gap once it is back).
        Down = "down",
        /// Call records are not collected (CallRecords.Read.All is not granted, or the feed is not set up yet).
        NotCollected = "not_collected",
    }
}

text_enum! {
    /// A sync run (one tenant, one kind, one day).
    RunStatus {
        Running = "running",
        Completed = "completed",
        Failed = "failed",
        /// Completed, and an operator asked for the day to be run again (`sua sync --force`).
        RerunRequested = "rerun_requested",
    }
}

text_enum! {
    /// A licence snapshot: assembled from a sync's parts, then current until a newer one replaces it.
    SnapshotState {
        Assembling = "assembling",
        Current = "current",
        Superseded = "superseded",
    }
}

text_enum! {
    /// A Graph subscription as sua holds it.
    SubscriptionStatus {
        Active = "active",
        /// Deleted, expired or removed by Graph: kept for the record, never renewed.
        Gone = "gone",
    }
}

text_enum! {
    /// A backfill of call records over a window.
    BackfillStatus {
        Queued = "queued",
        Running = "running",
        Completed = "completed",
        Failed = "failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_reads_back_what_it_stores_and_an_unknown_one_is_named() {
        for state in FeedState::ALL {
            assert_eq!(state.as_str().parse::<FeedState>(), Ok(*state));
        }
        let error = "paused".parse::<RunStatus>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "`paused` is not a RunStatus (expected one of running, completed, failed, rerun_requested)"
        );
        assert_eq!(serde_json::to_string(&FeedState::NotCollected).unwrap(), "\"not_collected\"");
    }
}
