-- analytics: directory snapshots per sync run, normalised call records, rollups, price overrides, findings.
-- Expand-only: existing tables gain columns, nothing is dropped or renamed.

-- One snapshot per licence sync run. It becomes `current` when its sync.completed arrived and every page that
-- message counts is stored; the previous current one of the tenant becomes `superseded` (history is kept).
CREATE TABLE analytics.snapshots (
    run_id            TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL,
    day               DATE NOT NULL,
    state             TEXT NOT NULL,              -- assembling | current | superseded
    expected          TEXT,                       -- {"skus": n, "users": n, "teams_activity": n} pages, from sync.completed
    sign_in_activity  BOOLEAN NOT NULL DEFAULT FALSE,
    concealed_names   BOOLEAN,
    created_at        TIMESTAMP NOT NULL,
    completed_at      TIMESTAMP,                  -- sync.completed arrived
    current_at        TIMESTAMP                   -- became current
);
CREATE INDEX snapshots_tenant ON analytics.snapshots (tenant_id, state, day);

-- Which pages of a run arrived (a redelivered page is stored once).
CREATE TABLE analytics.snapshot_parts (
    run_id       TEXT NOT NULL,
    part         TEXT NOT NULL,                   -- skus | users | teams_activity
    page         INTEGER NOT NULL,
    records      INTEGER NOT NULL,
    received_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (run_id, part, page)
);

-- subscribedSkus: purchased = enabled (prepaidUnits.enabled); warning units are in their grace period.
CREATE TABLE analytics.skus (
    run_id             TEXT NOT NULL,
    tenant_id          TEXT NOT NULL,
    sku_id             TEXT NOT NULL,
    sku_part_number    TEXT NOT NULL,
    capability_status  TEXT NOT NULL,
    applies_to         TEXT NOT NULL,
    enabled            BIGINT NOT NULL,
    warning            BIGINT NOT NULL,
    suspended          BIGINT NOT NULL,
    locked_out         BIGINT NOT NULL,
    consumed           BIGINT NOT NULL,
    PRIMARY KEY (run_id, sku_id)
);

CREATE TABLE analytics.sku_plans (
    run_id               TEXT NOT NULL,
    sku_id               TEXT NOT NULL,
    plan_id              TEXT NOT NULL,
    plan_name            TEXT NOT NULL,
    applies_to           TEXT NOT NULL,           -- User | Company
    provisioning_status  TEXT NOT NULL,
    PRIMARY KEY (run_id, sku_id, plan_id)
);

CREATE TABLE analytics.users (
    run_id                   TEXT NOT NULL,
    tenant_id                TEXT NOT NULL,
    id                       TEXT NOT NULL,
    user_principal_name      TEXT NOT NULL,
    display_name             TEXT NOT NULL,
    mail                     TEXT,
    department               TEXT,
    job_title                TEXT,
    office_location          TEXT,
    country                  TEXT,
    usage_location           TEXT,
    account_enabled          BOOLEAN,
    user_type                TEXT,
    created_at               TIMESTAMP,
    last_successful_sign_in  TIMESTAMP,           -- signInActivity.lastSuccessfulSignInDateTime
    last_sign_in             TIMESTAMP,           -- signInActivity.lastSignInDateTime (interactive, may have failed)
    licences                 INTEGER NOT NULL,
    PRIMARY KEY (run_id, id)
);
CREATE INDEX users_department ON analytics.users (run_id, department);

CREATE TABLE analytics.assignments (
    run_id          TEXT NOT NULL,
    tenant_id       TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    sku_id          TEXT NOT NULL,
    disabled_plans  TEXT NOT NULL,                -- comma-separated service plan ids
    PRIMARY KEY (run_id, user_id, sku_id)
);
CREATE INDEX assignments_sku ON analytics.assignments (run_id, sku_id);

-- getTeamsUserActivityUserDetail, a row per user (user_key: the user id, else the reported principal name).
CREATE TABLE analytics.teams_activity (
    run_id                TEXT NOT NULL,
    tenant_id             TEXT NOT NULL,
    user_key              TEXT NOT NULL,
    user_id               TEXT,
    reported_name         TEXT NOT NULL,          -- a 32-hex pseudonym when the tenant conceals names
    period                TEXT NOT NULL,
    report_refresh_date   DATE,
    last_activity_date    DATE,
    team_chat_messages    BIGINT NOT NULL,
    private_chat_messages BIGINT NOT NULL,
    calls                 BIGINT NOT NULL,
    meetings              BIGINT NOT NULL,
    meetings_organized    BIGINT NOT NULL,
    audio_seconds         BIGINT NOT NULL,
    video_seconds         BIGINT NOT NULL,
    screen_share_seconds  BIGINT NOT NULL,
    is_licensed           BOOLEAN,
    PRIMARY KEY (run_id, user_key)
);

-- Call records, normalised. The record row keeps `raw`; its children are replaced when a newer version arrives.
ALTER TABLE analytics.call_records ADD COLUMN day DATE;
ALTER TABLE analytics.call_records ADD COLUMN duration_seconds BIGINT NOT NULL DEFAULT 0;
ALTER TABLE analytics.call_records ADD COLUMN participants INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics.call_records ADD COLUMN pstn BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE analytics.call_records ADD COLUMN streams INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics.call_records ADD COLUMN poor_streams INTEGER NOT NULL DEFAULT 0;
UPDATE analytics.call_records SET day = CAST(start_at AS DATE) WHERE day IS NULL;
CREATE INDEX call_records_tenant_day ON analytics.call_records (tenant_id, day);

-- participants_v2 (and organizer_v2): a user, a phone number, a guest or an application.
CREATE TABLE analytics.call_participants (
    tenant_id     TEXT NOT NULL,
    call_id       TEXT NOT NULL,
    participant_key TEXT NOT NULL,                -- participant id as Graph gives it
    kind          TEXT NOT NULL,                  -- user | phone | guest | application | unknown
    user_id       TEXT,
    phone         TEXT,
    display_name  TEXT,
    organizer     BOOLEAN NOT NULL,
    PRIMARY KEY (tenant_id, call_id, participant_key)
);
CREATE INDEX call_participants_user ON analytics.call_participants (tenant_id, user_id);

CREATE TABLE analytics.call_sessions (
    tenant_id    TEXT NOT NULL,
    call_id      TEXT NOT NULL,
    session_id   TEXT NOT NULL,
    start_at     TIMESTAMP NOT NULL,
    end_at       TIMESTAMP NOT NULL,
    modalities   TEXT NOT NULL,
    caller_kind  TEXT NOT NULL,                   -- user | phone | service | unknown
    caller_id    TEXT,
    callee_kind  TEXT NOT NULL,
    callee_id    TEXT,
    PRIMARY KEY (tenant_id, call_id, session_id)
);

CREATE TABLE analytics.call_segments (
    tenant_id    TEXT NOT NULL,
    call_id      TEXT NOT NULL,
    session_id   TEXT NOT NULL,
    segment_id   TEXT NOT NULL,
    start_at     TIMESTAMP NOT NULL,
    end_at       TIMESTAMP NOT NULL,
    caller_kind  TEXT NOT NULL,
    caller_id    TEXT,
    callee_kind  TEXT NOT NULL,
    callee_id    TEXT,
    PRIMARY KEY (tenant_id, call_id, session_id, segment_id)
);

-- Media streams of segments; poor by the Call Quality Dashboard's stream classification (audio only; NULL =
-- not classified).
CREATE TABLE analytics.call_streams (
    tenant_id           TEXT NOT NULL,
    call_id             TEXT NOT NULL,
    session_id          TEXT NOT NULL,
    segment_id          TEXT NOT NULL,
    ordinal             INTEGER NOT NULL,
    media_label         TEXT NOT NULL,
    direction           TEXT NOT NULL,
    audio               BOOLEAN NOT NULL,
    avg_packet_loss     DOUBLE PRECISION,
    avg_jitter_ms       DOUBLE PRECISION,
    avg_round_trip_ms   DOUBLE PRECISION,
    packet_utilization  BIGINT,
    poor                BOOLEAN,
    PRIMARY KEY (tenant_id, call_id, session_id, segment_id, ordinal)
);

-- Each user's part in each call (what the per-user rollup sums): flags are 0/1 so sums are portable.
CREATE TABLE analytics.call_user_facts (
    tenant_id     TEXT NOT NULL,
    call_id       TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    day           DATE NOT NULL,
    group_call    INTEGER NOT NULL,
    video         INTEGER NOT NULL,
    pstn          INTEGER NOT NULL,
    seconds       BIGINT NOT NULL,
    streams       INTEGER NOT NULL,
    poor_streams  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, call_id, user_id)
);
CREATE INDEX call_user_facts_day ON analytics.call_user_facts (tenant_id, day);

-- getPstnCalls and getDirectRoutingCalls rows; charges in minor units of `currency`.
CREATE TABLE analytics.pstn_calls (
    tenant_id            TEXT NOT NULL,
    source               TEXT NOT NULL,           -- pstn | direct_routing
    id                   TEXT NOT NULL,
    user_id              TEXT,
    user_principal_name  TEXT,
    call_type            TEXT NOT NULL,
    start_at             TIMESTAMP NOT NULL,
    end_at               TIMESTAMP,
    day                  DATE NOT NULL,
    duration_seconds     BIGINT NOT NULL,
    charge_minor         BIGINT,
    currency             TEXT,
    destination          TEXT,
    raw                  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, source, id)
);
CREATE INDEX pstn_calls_user ON analytics.pstn_calls (tenant_id, user_id, start_at);

-- Rollups per tenant, day and user (a call counts once for each user who took part) and per tenant and day.
CREATE TABLE analytics.call_usage_daily (
    tenant_id     TEXT NOT NULL,
    day           DATE NOT NULL,
    user_id       TEXT NOT NULL,
    calls         BIGINT NOT NULL,
    group_calls   BIGINT NOT NULL,
    peer_calls    BIGINT NOT NULL,
    seconds       BIGINT NOT NULL,
    video_calls   BIGINT NOT NULL,
    pstn_calls    BIGINT NOT NULL,
    streams       BIGINT NOT NULL,
    poor_streams  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, day, user_id)
);

CREATE TABLE analytics.call_usage_tenant_daily (
    tenant_id     TEXT NOT NULL,
    day           DATE NOT NULL,
    calls         BIGINT NOT NULL,
    group_calls   BIGINT NOT NULL,
    peer_calls    BIGINT NOT NULL,
    seconds       BIGINT NOT NULL,
    video_calls   BIGINT NOT NULL,
    pstn_calls    BIGINT NOT NULL,
    streams       BIGINT NOT NULL,
    poor_streams  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, day)
);

-- PSTN and Direct Routing use per user and day ('' = a row without a user); money never summed across currencies.
CREATE TABLE analytics.pstn_usage_daily (
    tenant_id     TEXT NOT NULL,
    day           DATE NOT NULL,
    user_id       TEXT NOT NULL,
    source        TEXT NOT NULL,
    currency      TEXT NOT NULL,                  -- '' when the row carries no charge
    calls         BIGINT NOT NULL,
    seconds       BIGINT NOT NULL,
    charge_minor  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, day, user_id, source, currency)
);

-- Append-only marks written in the same transaction as the data they concern; the recompute worker deletes the
-- marks it sees and recomputes in one transaction, so no change is ever missed and writers never contend.
CREATE TABLE analytics.rollup_marks (
    seq        BIGSERIAL PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    day        DATE NOT NULL
);
CREATE INDEX rollup_marks_key ON analytics.rollup_marks (tenant_id, day);

CREATE TABLE analytics.findings_marks (
    seq        BIGSERIAL PRIMARY KEY,
    tenant_id  TEXT NOT NULL
);
CREATE INDEX findings_marks_tenant ON analytics.findings_marks (tenant_id);

-- Per-tenant prices replacing the shipped price book for a skuPartNumber.
CREATE TABLE analytics.price_overrides (
    tenant_id        TEXT NOT NULL,
    sku_part_number  TEXT NOT NULL,
    amount_minor     BIGINT NOT NULL,             -- per unit per month
    currency         TEXT NOT NULL,
    updated_at       TIMESTAMP NOT NULL,
    updated_by       TEXT NOT NULL,
    PRIMARY KEY (tenant_id, sku_part_number)
);

-- Per-tenant thresholds of the findings (defaults when absent).
CREATE TABLE analytics.tenant_settings (
    tenant_id               TEXT PRIMARY KEY,
    inactive_days           INTEGER NOT NULL,
    new_account_grace_days  INTEGER NOT NULL,
    phone_idle_days         INTEGER NOT NULL,
    excluded_users          TEXT NOT NULL,        -- JSON array of user ids or principal names
    updated_at              TIMESTAMP NOT NULL,
    updated_by              TEXT NOT NULL
);

-- The tenant's findings from its current snapshot, replaced as a whole on each recompute.
CREATE TABLE analytics.findings (
    tenant_id            TEXT NOT NULL,
    id                   TEXT NOT NULL,           -- kind:user:sku, stable across recomputes
    run_id               TEXT NOT NULL,
    kind                 TEXT NOT NULL,
    user_id              TEXT,
    user_principal_name  TEXT,
    department           TEXT,
    sku_id               TEXT,
    sku_part_number      TEXT,
    units                BIGINT NOT NULL,
    effect               TEXT NOT NULL,           -- saving | cost
    amount_minor         BIGINT,                  -- per month; NULL when the price is unknown
    currency             TEXT,
    evidence             TEXT NOT NULL,           -- JSON
    computed_at          TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX findings_kind ON analytics.findings (tenant_id, kind);
