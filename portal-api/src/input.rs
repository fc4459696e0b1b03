//! Input every endpoint refuses before a handler sees it.
//!
//! PostgreSQL's text cannot hold NUL (U+0000): a `%00` in a path segment or query parameter, or a `\u0000` in
//! a JSON body, reaching a query fails it with "invalid byte sequence for encoding UTF8: 0x00", which would be a
//! 500 (or, for an export, a 200 cut short). No value sua stores or looks up can contain it, so such requests are
//! answered 400 here, once for every endpoint. Cursors carry their values encoded: `api::decode_cursor` applies
//! the same rule to what they decode to.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;

use crate::error::ApiError;

/// The largest request body portal-api reads (`portal.max_body_bytes`).
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

fn nul(where_: &str) -> actix_web::Error {
    ApiError::BadRequest(format!("the {where_} contains a NUL character (U+0000), which no value can hold")).into()
}

/// Whether percent-decoding `raw` yields a NUL byte.
fn decodes_to_nul(raw: &str) -> bool {
    raw.contains("%00") || raw.as_bytes().contains(&0)
}

fn json_has_nul(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(json_has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || json_has_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// The middleware: path, query and body checked; the body (read whole, it is small) handed on unchanged.
pub async fn refuse_nul(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if decodes_to_nul(req.uri().path()) {
        return Err(nul("path"));
    }
    if decodes_to_nul(req.query_string()) {
        return Err(nul("query"));
    }
    if matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH) {
        let limit = req.app_data::<BodyLimit>().map_or(usize::MAX, |l| l.0);
        let mut payload = req.parts_mut().1.take();
        let mut body = BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| actix_web::Error::from(ApiError::BadRequest(format!("the body: {e}"))))?;
            if body.len() + chunk.len() > limit {
                return Err(ApiError::PayloadTooLarge(format!("the body is larger than {limit} bytes")).into());
            }
            body.extend_from_slice(&chunk);
        }
        let body: Bytes = body.freeze();
        if body.contains(&0) {
            return Err(nul("body"));
        }
        // Escaped NULs (`\u0000`) exist only once the JSON is parsed; a body that is not JSON is the handler's
        // to refuse.
        if body.windows(2).any(|w| w == b"\\u")
            && let Ok(value) = serde_json::from_slice::<serde_json::Value>(&body)
            && json_has_nul(&value)
        {
            return Err(nul("body"));
        }
        req.set_payload(actix_web::dev::Payload::from(body));
    }
    next.call(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nul_is_found_however_it_is_written() {
        assert!(decodes_to_nul("department=a%00b"));
        assert!(decodes_to_nul("/api/v1/tenants/t/prices/a%00"));
        assert!(!decodes_to_nul("department=a%2500b"), "%2500 is the text %00, not a NUL");
        assert!(json_has_nul(&json!({"prices": [{"sku_part_number": "a\u{0}"}]})));
        assert!(json_has_nul(&json!({"excluded_users": ["x"], "k\u{0}": 1})));
        assert!(!json_has_nul(&json!({"note": "\\u0000 is text here"})));
    }
}
