-- Daily aggregates analytics writes whenever a tenant's findings are recomputed (a snapshot made current, a price
-- or threshold changed): one set of rows per tenant and day, the day's last recompute replacing the earlier ones.
-- Trends and chargeback read these (and the call rollups), never raw rows. Money columns are monthly amounts in
-- minor units; currency '' where sua knows no price.

-- Users of the tenant's current snapshot; active_users is NULL when sign-in times are not measured.
CREATE TABLE tenant_daily (
    tenant_id       TEXT NOT NULL,
    day             DATE NOT NULL,
    run_id          TEXT NOT NULL,
    users           BIGINT NOT NULL,
    licensed_users  BIGINT NOT NULL,
    active_users    BIGINT,
    computed_at     TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, day)
);

-- Licence cost per SKU: purchased units × unit price.
CREATE TABLE licence_cost_daily (
    tenant_id         TEXT NOT NULL,
    day               DATE NOT NULL,
    sku_id            TEXT NOT NULL,
    sku_part_number   TEXT NOT NULL,
    purchased         BIGINT NOT NULL,
    assigned          BIGINT NOT NULL,
    available         BIGINT NOT NULL,
    currency          TEXT NOT NULL,
    unit_price_minor  BIGINT,
    cost_minor        BIGINT,
    PRIMARY KEY (tenant_id, day, sku_id)
);

-- Savings (and costs at risk) the findings show, per kind, effect and currency.
CREATE TABLE savings_daily (
    tenant_id     TEXT NOT NULL,
    day           DATE NOT NULL,
    kind          TEXT NOT NULL,
    effect        TEXT NOT NULL,
    currency      TEXT NOT NULL,
    findings      BIGINT NOT NULL,
    units         BIGINT NOT NULL,
    amount_minor  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, day, kind, effect, currency)
);

-- Assigned licences per department ('' for users without one) and SKU, priced: the chargeback's licence cost.
CREATE TABLE department_cost_daily (
    tenant_id         TEXT NOT NULL,
    day               DATE NOT NULL,
    department        TEXT NOT NULL,
    sku_id            TEXT NOT NULL,
    sku_part_number   TEXT NOT NULL,
    calling_plan      BOOLEAN NOT NULL,
    units             BIGINT NOT NULL,
    currency          TEXT NOT NULL,
    cost_minor        BIGINT,
    PRIMARY KEY (tenant_id, day, department, sku_id)
);

-- Savings realised: money that stopped because a licence was removed or a seat count lowered, per snapshot day,
-- SKU and finding kind. A second change of the same key on the same day adds to the row.
CREATE TABLE realised_savings (
    tenant_id         TEXT NOT NULL,
    day               DATE NOT NULL,
    sku_id            TEXT NOT NULL,
    kind              TEXT NOT NULL,
    sku_part_number   TEXT NOT NULL,
    units             BIGINT NOT NULL,
    currency          TEXT NOT NULL,
    amount_minor      BIGINT NOT NULL,
    description       TEXT NOT NULL,
    recorded_at       TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, day, sku_id, kind)
);
