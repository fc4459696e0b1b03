// The shapes of portal-api's public REST API (/api/v1, OpenAPI at /api/v1/openapi.json).

export interface Money {
  amount_minor: number;
  currency: string;
}

export interface Me {
  tenant_id: string;
  user_id: string;
  name: string;
  roles: string[];
  operator: boolean;
}

export interface TenantSummary {
  tenant_id: string;
  display_name: string;
  consent_state: string;
  feed_state: string;
}

export interface SnapshotInfo {
  run_id: string;
  day: string;
  current_since: string | null;
  sign_in_activity: boolean;
}

export interface UsageCounts {
  calls: number;
  group_calls: number;
  peer_calls: number;
  seconds: number;
  video_calls: number;
  pstn_calls: number;
  streams: number;
  poor_streams: number;
}

export interface KindTotal {
  kind: string;
  effect: string;
  findings: number;
  units: number;
  amount: Money[];
}

export interface Dashboard {
  tenant_id: string;
  display_name: string;
  snapshot: SnapshotInfo | null;
  monthly_licence_cost: Money[];
  monthly_savings: Money[];
  monthly_costs_at_risk: Money[];
  findings: KindTotal[];
  users: number;
  licensed_users: number;
  purchased_units: number;
  assigned_units: number;
  calls_last_30_days: UsageCounts;
  feed_state: string;
  /** Savings realised (licences removed, seat counts lowered) this month, per month, per currency. */
  realised_savings_this_month: Money[];
  /** Every saving realised so far, per month, per currency. */
  realised_savings_total: Money[];
}

export interface LicenceSku {
  sku_id: string;
  sku_part_number: string;
  capability_status: string;
  purchased: number;
  warning: number;
  suspended: number;
  assigned: number;
  available: number;
  over_assigned: number;
  unit_price: Money | null;
  price_source: string | null;
  monthly_cost: Money | null;
  monthly_waste: Money[];
  wasted_units: number;
}

export interface Licences {
  tenant_id: string;
  snapshot: SnapshotInfo | null;
  skus: LicenceSku[];
  monthly_cost: Money[];
  monthly_waste: Money[];
}

export interface UserLicence {
  sku_id: string;
  sku_part_number: string | null;
}

export interface User {
  id: string;
  user_principal_name: string;
  display_name: string;
  mail: string | null;
  department: string | null;
  job_title: string | null;
  country: string | null;
  account_enabled: boolean | null;
  user_type: string | null;
  created_at: string | null;
  last_sign_in: string | null;
  licences: UserLicence[];
  monthly_cost: Money[];
}

export interface Users {
  tenant_id: string;
  snapshot: SnapshotInfo | null;
  total: number;
  items: User[];
  next_cursor: string | null;
}

export interface Finding {
  id: string;
  kind: string;
  user_id: string | null;
  user_principal_name: string | null;
  department: string | null;
  sku_id: string | null;
  sku_part_number: string | null;
  units: number;
  effect: string;
  monthly_amount: Money | null;
  evidence: Record<string, unknown> | null;
  computed_at: string;
}

export interface Findings {
  tenant_id: string;
  total: number;
  items: Finding[];
  next_cursor: string | null;
  totals: KindTotal[];
  monthly_savings: Money[];
  monthly_costs_at_risk: Money[];
}

export type GroupBy = "day" | "user" | "department";

export interface UsageItem extends UsageCounts {
  key: string;
  user_principal_name: string | null;
  display_name: string | null;
  department: string | null;
}

export interface Usage {
  tenant_id: string;
  from: string;
  to: string;
  group_by: GroupBy;
  items: UsageItem[];
  totals: UsageCounts;
  next_cursor: string | null;
}

/** Calls of one PSTN source, from the logs Microsoft bills by (`calls/pstn`). */
export interface PstnUse {
  calls: number;
  seconds: number;
  minutes: number;
  charges: Money[];
}

export interface PstnSources {
  /** Microsoft's Calling Plans. */
  pstn: PstnUse;
  /** The customer's own carrier through Direct Routing (no Microsoft charges). */
  direct_routing: PstnUse;
}

export interface PstnItem extends PstnSources {
  key: string;
  user_principal_name: string | null;
  display_name: string | null;
  department: string | null;
}

export interface PstnUsage {
  tenant_id: string;
  from: string;
  to: string;
  group_by: GroupBy;
  items: PstnItem[];
  totals: PstnSources;
  next_cursor: string | null;
}

export interface QualityDay {
  day: string;
  calls: number;
  streams: number;
  poor_streams: number;
  poor_ratio: number;
}

export interface QualityUser {
  user_id: string;
  user_principal_name: string | null;
  display_name: string | null;
  department: string | null;
  calls: number;
  streams: number;
  poor_streams: number;
  poor_ratio: number;
}

export interface Quality {
  tenant_id: string;
  from: string;
  to: string;
  days: QualityDay[];
  streams: number;
  poor_streams: number;
  poor_ratio: number;
  worst_users: QualityUser[];
  /** When analytics ranked the worst users (the last 7, 30 or 90 days); null when summed for this answer. */
  worst_users_as_of: string | null;
}

export interface SyncInfo {
  run_id: string;
  day: string;
  status: string;
  attempt: number;
  started_at: string;
  finished_at: string | null;
  error: string | null;
}

export interface BackfillInfo {
  status: string;
  reason: string;
  window_from: string;
  window_to: string;
  listed: number;
  queued: number;
  error: string | null;
}

export interface TenantStatus {
  tenant_id: string;
  display_name: string;
  consent_state: string;
  consented_at: string | null;
  permissions: Record<string, string>;
  missing_permissions: string[];
  entra_id_p1: boolean | null;
  last_sync: SyncInfo | null;
  feed_state: string;
  feed_since: string | null;
  feed_error: string | null;
  subscription_expires_at: string | null;
  last_backfill: BackfillInfo | null;
}

export interface PriceEntry {
  sku_part_number: string;
  unit_price: Money | null;
  origin: string;
  source: string | null;
  updated_at: string | null;
  updated_by: string | null;
  in_use: boolean;
}

export interface Prices {
  tenant_id: string;
  items: PriceEntry[];
}

export interface Settings {
  inactive_days: number;
  new_account_grace_days: number;
  phone_idle_days: number;
  excluded_users: string[];
}

export interface AuditEntry {
  at: string;
  tenant_id: string | null;
  actor_tenant: string;
  actor_id: string;
  actor_name: string;
  action: string;
  target: string;
  before: unknown;
  after: unknown;
}

export interface AuditLog {
  tenant_id: string | null;
  items: AuditEntry[];
  next_cursor: string | null;
}

export interface TenantMoney {
  tenant_id: string;
  display_name: string;
  consent_state: string;
  feed_state: string;
  last_sync_day: string | null;
  monthly_licence_cost: Money[];
  monthly_savings: Money[];
  monthly_costs_at_risk: Money[];
  findings: number;
  realised_savings_this_month: Money[];
  realised_savings_total: Money[];
}

export interface AllTenants {
  tenants: TenantMoney[];
  monthly_licence_cost: Money[];
  monthly_savings: Money[];
  monthly_costs_at_risk: Money[];
  realised_savings_this_month: Money[];
  realised_savings_total: Money[];
}

/** One SKU's days in the trends, as columns: `days[i]` had `purchased[i]` units costing `monthly_cost_minor[i]`. */
export interface SkuSeries {
  sku_id: string;
  sku_part_number: string;
  /** Absent when no price is known for these days. */
  currency: string | null;
  days: string[];
  purchased: number[];
  assigned: number[];
  available: number[];
  monthly_cost_minor: (number | null)[];
}

/** One day of a tenant (`/tenants/{id}/trends`); licence fields are absent on days without licence aggregates. */
export interface TrendPoint {
  day: string;
  users: number | null;
  licensed_users: number | null;
  /** Absent when sign-in is not measured. */
  active_users: number | null;
  monthly_licence_cost: Money[];
  monthly_savings: Money[];
  findings: KindTotal[];
  /** Units of every SKU that day; absent on days without licence aggregates. */
  purchased_units: number | null;
  assigned_units: number | null;
  calls: number;
  call_seconds: number;
  pstn_calls: number;
  pstn_seconds: number;
  pstn_charges: Money[];
}

export interface Trends {
  tenant_id: string;
  from: string;
  to: string;
  /** Days with licence aggregates or calls, in day order. */
  points: TrendPoint[];
  /** Units and cost per SKU and day. */
  skus: SkuSeries[];
}

export interface RealisedSaving {
  day: string;
  sku_id: string;
  sku_part_number: string;
  kind: string;
  units: number;
  monthly_amount: Money;
  description: string;
}

export interface RealisedTotal {
  /** `YYYY-MM`. */
  month: string;
  kind: string;
  units: number;
  monthly_amount: Money[];
}

export interface RealisedSavings {
  tenant_id: string;
  from: string;
  to: string;
  /** In day order. */
  items: RealisedSaving[];
  totals: RealisedTotal[];
  total: Money[];
}

export interface ChargebackLicence {
  sku_id: string;
  sku_part_number: string;
  /** Counted in `calling_plan_cost`, not `licence_cost`. */
  calling_plan: boolean;
  units: number;
  monthly_cost: Money | null;
}

export interface DepartmentCharge {
  /** `unassigned` for users without a department. */
  department: string;
  licences: ChargebackLicence[];
  licence_cost: Money[];
  calling_plan_cost: Money[];
  pstn_charges: Money[];
  total: Money[];
}

export interface Chargeback {
  tenant_id: string;
  month: string;
  /** The day whose licences the month is charged for; absent when the month has no licence aggregates. */
  licences_day: string | null;
  departments: DepartmentCharge[];
  licence_cost: Money[];
  calling_plan_cost: Money[];
  pstn_charges: Money[];
  total: Money[];
}

export interface Invitation {
  id: string;
  customer_name: string;
  admin_email: string;
  consent_url: string;
  expires_at: string;
  emailed: boolean;
  email_error: string | null;
}

export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
}

export interface ClientConfig {
  authority: string;
  client_id: string;
  scope: string;
  api: string;
}
