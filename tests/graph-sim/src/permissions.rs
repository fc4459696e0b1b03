//! The application permissions Microsoft documents for each endpoint the simulator serves (the "Permissions"
//! table of each API page in microsoft-graph-docs-contrib, `api-reference/v1.0`). A request needs every group;
//! within a group any one permission will do. A token lacking one gets Graph's 403 `Authorization_RequestDenied`.

/// All of the groups, any permission within each.
pub type Required = &'static [&'static [&'static str]];

/// subscribedsku-list: Organization.Read.All (least), Directory.Read.All, Directory.ReadWrite.All,
/// Organization.ReadWrite.All.
pub const SUBSCRIBED_SKUS: Required =
    &[&["Organization.Read.All", "Directory.Read.All", "Directory.ReadWrite.All", "Organization.ReadWrite.All"]];

/// organization-list (`GET /organization`): Directory.Read.All, Directory.ReadWrite.All.
pub const ORGANIZATION_LIST: Required = &[&["Directory.Read.All", "Directory.ReadWrite.All"]];

/// organization-get (`GET /organization/{id}`): Organization.Read.All, Directory.Read.All,
/// Organization.ReadWrite.All, Directory.ReadWrite.All.
pub const ORGANIZATION_GET: Required =
    &[&["Organization.Read.All", "Directory.Read.All", "Organization.ReadWrite.All", "Directory.ReadWrite.All"]];

const USER_READ: &[&str] = &["User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"];

/// user-list: User.Read.All, User.ReadWrite.All, Directory.Read.All, Directory.ReadWrite.All.
pub const USERS: Required = &[USER_READ];

/// user-list with `signInActivity` selected or filtered: "Details for the signInActivity property require … the
/// AuditLog.Read.All permission", besides reading users.
pub const USERS_WITH_SIGN_IN: Required = &[USER_READ, &["AuditLog.Read.All"]];

/// directoryaudit-list: "AuditLog.Read.All and Directory.Read.All".
pub const DIRECTORY_AUDITS: Required = &[&["AuditLog.Read.All"], &["Directory.Read.All"]];

/// reportroot-getteamsuseractivityuserdetail / -counts: Reports.Read.All.
pub const REPORTS: Required = &[&["Reports.Read.All"]];

/// callrecords-callrecord-get, the session and participant lists, and list callRecords: CallRecords.Read.All.
pub const CALL_RECORDS: Required = &[&["CallRecords.Read.All"]];

/// callrecords-callrecord-getpstncalls and -getdirectroutingcalls: CallRecord-PstnCalls.Read.All,
/// CallRecords.Read.All.
pub const PSTN_LOGS: Required = &[&["CallRecord-PstnCalls.Read.All", "CallRecords.Read.All"]];

/// subscription-post-subscriptions and friends, for the `communications/callRecords` resource:
/// CallRecords.Read.All.
pub const CALL_RECORD_SUBSCRIPTIONS: Required = &[&["CallRecords.Read.All"]];

/// Whether `granted` satisfies `required`.
pub fn satisfies(granted: &std::collections::BTreeSet<String>, required: Required) -> bool {
    required.iter().all(|group| group.iter().any(|p| granted.contains(*p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_group_needs_one_of_its_permissions() {
        let granted = |roles: &[&str]| roles.iter().map(|r| r.to_string()).collect();
        assert!(satisfies(&granted(&["User.Read.All", "AuditLog.Read.All"]), USERS_WITH_SIGN_IN));
        assert!(!satisfies(&granted(&["AuditLog.Read.All"]), USERS_WITH_SIGN_IN));
        assert!(!satisfies(&granted(&["User.Read.All"]), USERS_WITH_SIGN_IN));
        assert!(!satisfies(&granted(&["AuditLog.Read.All", "User.Read.All"]), DIRECTORY_AUDITS));
        assert!(satisfies(&granted(&["Organization.Read.All"]), ORGANIZATION_GET));
        assert!(!satisfies(&granted(&["Organization.Read.All"]), ORGANIZATION_LIST));
    }
}
