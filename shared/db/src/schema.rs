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
        day -> Nullable<Date>,
        duration_seconds -> BigInt,
        participants -> Integer,
        pstn -> Bool,
        streams -> Integer,
        poor_streams -> Integer,
    }
}

diesel::table! {
    snapshots (run_id) {
        run_id -> Text,
        tenant_id -> Text,
        day -> Date,
        state -> Text,
        expected -> Nullable<Text>,
        sign_in_activity -> Bool,
        concealed_names -> Nullable<Bool>,
        created_at -> Timestamp,
        completed_at -> Nullable<Timestamp>,
        current_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    snapshot_parts (run_id, part, page) {
        run_id -> Text,
        part -> Text,
        page -> Integer,
        records -> Integer,
        received_at -> Timestamp,
    }
}

diesel::table! {
    skus (run_id, sku_id) {
        run_id -> Text,
        tenant_id -> Text,
        sku_id -> Text,
        sku_part_number -> Text,
        capability_status -> Text,
        applies_to -> Text,
        enabled -> BigInt,
        warning -> BigInt,
        suspended -> BigInt,
        locked_out -> BigInt,
        consumed -> BigInt,
    }
}

diesel::table! {
    sku_plans (run_id, sku_id, plan_id) {
        run_id -> Text,
        sku_id -> Text,
        plan_id -> Text,
        plan_name -> Text,
        applies_to -> Text,
        provisioning_status -> Text,
    }
}

diesel::table! {
    users (run_id, id) {
        run_id -> Text,
        tenant_id -> Text,
        id -> Text,
        user_principal_name -> Text,
        display_name -> Text,
        mail -> Nullable<Text>,
        department -> Nullable<Text>,
        job_title -> Nullable<Text>,
        office_location -> Nullable<Text>,
        country -> Nullable<Text>,
        usage_location -> Nullable<Text>,
        account_enabled -> Nullable<Bool>,
        user_type -> Nullable<Text>,
        created_at -> Nullable<Timestamp>,
        last_successful_sign_in -> Nullable<Timestamp>,
        last_sign_in -> Nullable<Timestamp>,
        licences -> Integer,
    }
}

diesel::table! {
    assignments (run_id, user_id, sku_id) {
        run_id -> Text,
        tenant_id -> Text,
        user_id -> Text,
        sku_id -> Text,
        disabled_plans -> Text,
    }
}

diesel::table! {
    teams_activity (run_id, user_key) {
        run_id -> Text,
        tenant_id -> Text,
        user_key -> Text,
        user_id -> Nullable<Text>,
        reported_name -> Text,
        period -> Text,
        report_refresh_date -> Nullable<Date>,
        last_activity_date -> Nullable<Date>,
        team_chat_messages -> BigInt,
        private_chat_messages -> BigInt,
        calls -> BigInt,
        meetings -> BigInt,
        meetings_organized -> BigInt,
        audio_seconds -> BigInt,
        video_seconds -> BigInt,
        screen_share_seconds -> BigInt,
        is_licensed -> Nullable<Bool>,
    }
}

diesel::table! {
    call_participants (tenant_id, call_id, participant_key) {
        tenant_id -> Text,
        call_id -> Text,
        participant_key -> Text,
        kind -> Text,
        user_id -> Nullable<Text>,
        phone -> Nullable<Text>,
        display_name -> Nullable<Text>,
        organizer -> Bool,
    }
}

diesel::table! {
    call_sessions (tenant_id, call_id, session_id) {
        tenant_id -> Text,
        call_id -> Text,
        session_id -> Text,
        start_at -> Timestamp,
        end_at -> Timestamp,
        modalities -> Text,
        caller_kind -> Text,
        caller_id -> Nullable<Text>,
        callee_kind -> Text,
        callee_id -> Nullable<Text>,
    }
}

diesel::table! {
    call_segments (tenant_id, call_id, session_id, segment_id) {
        tenant_id -> Text,
        call_id -> Text,
        session_id -> Text,
        segment_id -> Text,
        start_at -> Timestamp,
        end_at -> Timestamp,
        caller_kind -> Text,
        caller_id -> Nullable<Text>,
        callee_kind -> Text,
        callee_id -> Nullable<Text>,
    }
}

diesel::table! {
    call_streams (tenant_id, call_id, session_id, segment_id, ordinal) {
        tenant_id -> Text,
        call_id -> Text,
        session_id -> Text,
        segment_id -> Text,
        ordinal -> Integer,
        media_label -> Text,
        direction -> Text,
        audio -> Bool,
        avg_packet_loss -> Nullable<Double>,
        avg_jitter_ms -> Nullable<Double>,
        avg_round_trip_ms -> Nullable<Double>,
        packet_utilization -> Nullable<BigInt>,
        poor -> Nullable<Bool>,
    }
}

diesel::table! {
    call_user_facts (tenant_id, call_id, user_id) {
        tenant_id -> Text,
        call_id -> Text,
        user_id -> Text,
        day -> Date,
        group_call -> Integer,
        video -> Integer,
        pstn -> Integer,
        seconds -> BigInt,
        streams -> Integer,
        poor_streams -> Integer,
    }
}

diesel::table! {
    pstn_calls (tenant_id, source, id) {
        tenant_id -> Text,
        source -> Text,
        id -> Text,
        user_id -> Nullable<Text>,
        user_principal_name -> Nullable<Text>,
        call_type -> Text,
        start_at -> Timestamp,
        end_at -> Nullable<Timestamp>,
        day -> Date,
        duration_seconds -> BigInt,
        charge_minor -> Nullable<BigInt>,
        currency -> Nullable<Text>,
        destination -> Nullable<Text>,
        raw -> Text,
    }
}

diesel::table! {
    call_usage_daily (tenant_id, day, user_id) {
        tenant_id -> Text,
        day -> Date,
        user_id -> Text,
        calls -> BigInt,
        group_calls -> BigInt,
        peer_calls -> BigInt,
        seconds -> BigInt,
        video_calls -> BigInt,
        pstn_calls -> BigInt,
        streams -> BigInt,
        poor_streams -> BigInt,
    }
}

diesel::table! {
    call_usage_tenant_daily (tenant_id, day) {
        tenant_id -> Text,
        day -> Date,
        calls -> BigInt,
        group_calls -> BigInt,
        peer_calls -> BigInt,
        seconds -> BigInt,
        video_calls -> BigInt,
        pstn_calls -> BigInt,
        streams -> BigInt,
        poor_streams -> BigInt,
    }
}

diesel::table! {
    pstn_usage_daily (tenant_id, day, user_id, source, currency) {
        tenant_id -> Text,
        day -> Date,
        user_id -> Text,
        source -> Text,
        currency -> Text,
        calls -> BigInt,
        seconds -> BigInt,
        charge_minor -> BigInt,
    }
}

diesel::table! {
    rollup_marks (seq) {
        seq -> BigInt,
        tenant_id -> Text,
        day -> Date,
    }
}

diesel::table! {
    findings_marks (seq) {
        seq -> BigInt,
        tenant_id -> Text,
    }
}

diesel::table! {
    price_overrides (tenant_id, sku_part_number) {
        tenant_id -> Text,
        sku_part_number -> Text,
        amount_minor -> BigInt,
        currency -> Text,
        updated_at -> Timestamp,
        updated_by -> Text,
    }
}

diesel::table! {
    tenant_settings (tenant_id) {
        tenant_id -> Text,
        inactive_days -> Integer,
        new_account_grace_days -> Integer,
        phone_idle_days -> Integer,
        excluded_users -> Text,
        updated_at -> Timestamp,
        updated_by -> Text,
    }
}

diesel::table! {
    findings (tenant_id, id) {
        tenant_id -> Text,
        id -> Text,
        run_id -> Text,
        kind -> Text,
        user_id -> Nullable<Text>,
        user_principal_name -> Nullable<Text>,
        department -> Nullable<Text>,
        sku_id -> Nullable<Text>,
        sku_part_number -> Nullable<Text>,
        units -> BigInt,
        effect -> Text,
        amount_minor -> Nullable<BigInt>,
        currency -> Nullable<Text>,
        evidence -> Text,
        computed_at -> Timestamp,
    }
}

diesel::table! {
    audit_log (seq) {
        seq -> BigInt,
        at -> Timestamp,
        tenant_id -> Nullable<Text>,
        actor_tenant -> Text,
        actor_id -> Text,
        actor_name -> Text,
        action -> Text,
        target -> Text,
        before -> Nullable<Text>,
        after -> Nullable<Text>,
    }
}

diesel::table! {
    installation (name) {
        name -> Text,
        value -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    data_versions (tenant_id) {
        tenant_id -> Text,
        version -> BigInt,
        changed_at -> Timestamp,
    }
}

diesel::table! {
    tenant_daily (tenant_id, day) {
        tenant_id -> Text,
        day -> Date,
        run_id -> Text,
        users -> BigInt,
        licensed_users -> BigInt,
        active_users -> Nullable<BigInt>,
        computed_at -> Timestamp,
    }
}

diesel::table! {
    licence_cost_daily (tenant_id, day, sku_id) {
        tenant_id -> Text,
        day -> Date,
        sku_id -> Text,
        sku_part_number -> Text,
        purchased -> BigInt,
        assigned -> BigInt,
        available -> BigInt,
        currency -> Text,
        unit_price_minor -> Nullable<BigInt>,
        cost_minor -> Nullable<BigInt>,
    }
}

diesel::table! {
    savings_daily (tenant_id, day, kind, effect, currency) {
        tenant_id -> Text,
        day -> Date,
        kind -> Text,
        effect -> Text,
        currency -> Text,
        findings -> BigInt,
        units -> BigInt,
        amount_minor -> BigInt,
    }
}

diesel::table! {
    department_cost_daily (tenant_id, day, department, sku_id) {
        tenant_id -> Text,
        day -> Date,
        department -> Text,
        sku_id -> Text,
        sku_part_number -> Text,
        calling_plan -> Bool,
        units -> BigInt,
        currency -> Text,
        cost_minor -> Nullable<BigInt>,
    }
}

diesel::table! {
    realised_savings (tenant_id, day, sku_id, kind) {
        tenant_id -> Text,
        day -> Date,
        sku_id -> Text,
        kind -> Text,
        sku_part_number -> Text,
        units -> BigInt,
        currency -> Text,
        amount_minor -> BigInt,
        description -> Text,
        recorded_at -> Timestamp,
    }
}

diesel::joinable!(sync_runs -> tenants (tenant_id));
diesel::joinable!(subscriptions -> tenants (tenant_id));
diesel::table! {
    pstn_usage_tenant_daily (tenant_id, day, source, currency) {
        tenant_id -> Text,
        day -> Date,
        source -> Text,
        currency -> Text,
        calls -> BigInt,
        seconds -> BigInt,
        charge_minor -> BigInt,
    }
}

diesel::table! {
    pstn_department_daily (tenant_id, day, department, source, currency) {
        tenant_id -> Text,
        day -> Date,
        department -> Text,
        source -> Text,
        currency -> Text,
        run_id -> Text,
        calls -> BigInt,
        seconds -> BigInt,
        charge_minor -> BigInt,
    }
}

diesel::table! {
    call_usage_department_daily (tenant_id, day, department) {
        tenant_id -> Text,
        day -> Date,
        department -> Text,
        run_id -> Text,
        calls -> BigInt,
        group_calls -> BigInt,
        peer_calls -> BigInt,
        seconds -> BigInt,
        video_calls -> BigInt,
        pstn_calls -> BigInt,
        streams -> BigInt,
        poor_streams -> BigInt,
    }
}

diesel::table! {
    finding_totals (tenant_id, kind, effect, sku_id, currency) {
        tenant_id -> Text,
        kind -> Text,
        effect -> Text,
        sku_id -> Text,
        currency -> Text,
        findings -> BigInt,
        units -> BigInt,
        amount_minor -> BigInt,
    }
}

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
    rate_limit_buckets,
    snapshots,
    snapshot_parts,
    skus,
    sku_plans,
    users,
    assignments,
    teams_activity,
    call_participants,
    call_sessions,
    call_segments,
    call_streams,
    call_user_facts,
    pstn_calls,
    call_usage_daily,
    call_usage_tenant_daily,
    pstn_usage_daily,
    pstn_usage_tenant_daily,
    pstn_department_daily,
    call_usage_department_daily,
    rollup_marks,
    findings_marks,
    price_overrides,
    tenant_settings,
    findings,
    finding_totals,
    audit_log,
    installation,
    data_versions,
    tenant_daily,
    licence_cost_daily,
    savings_daily,
    department_cost_daily,
    realised_savings
);
