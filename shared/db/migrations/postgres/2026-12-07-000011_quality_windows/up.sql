-- Call quality's worst users over the last 7, 30 and 90 days (the portal's ranges), kept by analytics so the page
-- reads at most 100 ranked rows instead of summing every user-day with poor streams of the range on each request.
-- A window is recomputed when the tenant's data version has moved on (at most once a minute while calls stream
-- in) and when the day changes; `to_day` is its last day, `version` the data version it was computed from.
CREATE TABLE analytics.call_quality_windows (
    tenant_id    TEXT NOT NULL,
    days         INTEGER NOT NULL,
    to_day       DATE NOT NULL,
    version      BIGINT NOT NULL,
    computed_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, days)
);
CREATE TABLE analytics.call_quality_worst (
    tenant_id     TEXT NOT NULL,
    days          INTEGER NOT NULL,
    rank          BIGINT NOT NULL,
    user_id       TEXT NOT NULL,
    calls         BIGINT NOT NULL,
    group_calls   BIGINT NOT NULL,
    peer_calls    BIGINT NOT NULL,
    seconds       BIGINT NOT NULL,
    video_calls   BIGINT NOT NULL,
    pstn_calls    BIGINT NOT NULL,
    streams       BIGINT NOT NULL,
    poor_streams  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, days, rank)
);
