//! Diesel table definitions shared by PostgreSQL and SQLite.
//!
//! Written to match the migrations under `migrations/` with portable SQL types only (diesel's `print-schema`
//! would emit schema-qualified, backend-specific tables). `tests::schema_matches_both_backends` selects every
//! column of every table on both backends, so a drift between this file and a migration fails a test.

diesel::table! {
    tenants (id) {
        id -> Text,
        display_name -> Text,
        consent_state -> Text,
        permissions -> Text,
        prerequisites -> Text,
        consented_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        invitation_id -> Nullable<Text>,
        feed_state -> Text,
        feed_since -> Nullable<Timestamp>,
        feed_error -> Nullable<Text>,
    }
}

diesel::table! {
    invitations (id) {
        id -> Text,
        customer_name -> Text,
        admin_email -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        emailed_at -> Nullable<Timestamp>,
        email_error -> Nullable<Text>,
        tenant_id -> Nullable<Text>,
        consented_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    rate_limit_keys (key) {
        key -> Text,
    }
}

diesel::table! {
    rate_limit_grants (key, granted_at) {
        key -> Text,
        granted_at -> Timestamp,
    }
}

diesel::table! {
    sync_runs (id) {
        id -> Text,
        tenant_id -> Text,
        kind -> Text,
        day -> Date,
        status -> Text,
        attempt -> Integer,
        started_at -> Timestamp,
        heartbeat_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        error -> Nullable<Text>,
        counts -> Nullable<Text>,
    }
}

diesel::table! {
    subscriptions (id) {
        id -> Text,
        tenant_id -> Text,
        resource -> Text,
        client_state_hash -> Text,
        status -> Text,
        expires_at -> Timestamp,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        verified_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    callrecord_fetches (tenant_id, id) {
        tenant_id -> Text,
        id -> Text,
        version -> BigInt,
        start_at -> Nullable<Timestamp>,
        fetched_at -> Timestamp,
    }
}

diesel::table! {
    backfills (id) {
        id -> Text,
        tenant_id -> Text,
        window_from -> Timestamp,
        window_to -> Timestamp,
        reason -> Text,
        status -> Text,
        listed -> Integer,
        queued -> Integer,
        created_at -> Timestamp,
        heartbeat_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    collection_cursors (tenant_id, source) {
        tenant_id -> Text,
        source -> Text,
        collected_until -> Timestamp,
    }
}

diesel::table! {
    rate_limit_buckets (key) {
        key -> Text,
        tokens -> Double,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    call_records (tenant_id, id) {
        tenant_id -> Text,
        id -> Text,
        version -> BigInt,
        call_type -> Text,
        start_at -> Timestamp,
        end_at -> Timestamp,
        modalities -> Text,
        organizer_id -> Nullable<Text>,
        raw -> Text,
        received_at -> Timestamp,
    }
}

diesel::joinable!(sync_runs -> tenants (tenant_id));
diesel::joinable!(subscriptions -> tenants (tenant_id));
diesel::allow_tables_to_appear_in_same_query!(
    tenants,
    invitations,
    rate_limit_keys,
    rate_limit_grants,
    sync_runs,
    subscriptions,
    call_records,
    callrecord_fetches,
    backfills,
    collection_cursors,
    rate_limit_buckets
);
