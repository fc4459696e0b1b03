//! Facts about Microsoft Graph that more than one service needs.

/// `https://graph.microsoft.com/v1.0` → `https://graph.microsoft.com/.default`: the scope an app-only token for
/// Graph asks for (the resource's origin; national clouds and the simulator have their own).
pub fn graph_scope(graph_url: &str) -> String {
    match url::Url::parse(graph_url) {
        Ok(url) => format!("{}/.default", url.origin().ascii_serialization()),
        Err(_) => "https://graph.microsoft.com/.default".to_string(),
    }
}
