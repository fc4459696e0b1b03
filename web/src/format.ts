// Numbers, money and dates in the browser's locale. Money is integer minor units of one currency: it is shown in
// major units with its currency and never added across currencies.
import type { Money } from "./types";

const currencyFormats = new Map<string, Intl.NumberFormat>();

function currencyFormat(currency: string): Intl.NumberFormat {
  let format = currencyFormats.get(currency);
  if (!format) {
    format = new Intl.NumberFormat(undefined, { style: "currency", currency });
    currencyFormats.set(currency, format);
  }
  return format;
}

/** Minor units per major unit of `currency` (100 for USD, 1 for JPY, 1000 for BHD), as ISO 4217 says. */
export function minorPerMajor(currency: string): number {
  return 10 ** (currencyFormat(currency).resolvedOptions().maximumFractionDigits ?? 2);
}

export function toMajor(money: Money): number {
  return money.amount_minor / minorPerMajor(money.currency);
}

export function money(value: Money | null | undefined): string {
  if (!value) return "—";
  return currencyFormat(value.currency).format(toMajor(value));
}

/** Amounts of several currencies side by side (never summed); "none" when there are none. */
export function monies(values: Money[] | null | undefined, none = "none"): string {
  if (!values || values.length === 0) return none;
  return values.map(money).join(" · ");
}

const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
export function count(value: number): string {
  return integer.format(value);
}

const percentFormat = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 1 });
export function percent(ratio: number): string {
  return percentFormat.format(ratio);
}

export function minutes(seconds: number): string {
  return integer.format(Math.round(seconds / 60));
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** A calendar day (`YYYY-MM-DD`, UTC in the API) as the browser writes dates. */
export function day(value: string | null | undefined): string {
  if (!value) return "—";
  const [y, m, d] = value.split("-").map(Number);
  return dateFormat.format(new Date(y, m - 1, d));
}

export function shortDay(value: string): string {
  const [y, m, d] = value.split("-").map(Number);
  return new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" }).format(new Date(y, m - 1, d));
}

export function dateTime(value: string | null | undefined): string {
  if (!value) return "—";
  return dateTimeFormat.format(new Date(value));
}

export function date(value: string | null | undefined): string {
  if (!value) return "—";
  return dateFormat.format(new Date(value));
}

/** Today and `days - 1` days before it, as the API's `from`/`to` (UTC days). */
export function lastDays(days: number): { from: string; to: string } {
  const to = new Date();
  const from = new Date(to.getTime() - (days - 1) * 86_400_000);
  return { from: from.toISOString().slice(0, 10), to: to.toISOString().slice(0, 10) };
}

export const KIND_LABELS: Record<string, string> = {
  disabled_account: "Disabled accounts holding licences",
  never_signed_in: "Never signed in",
  inactive_user: "Inactive users",
  redundant_licence: "Redundant licences",
  unused_phone_licence: "Unused phone licences",
  downgrade_candidate: "Downgrade candidates",
  unassigned_seats: "Unassigned seats",
  over_assigned: "Over-assigned (true-up risk)",
};

export function kindLabel(kind: string): string {
  return KIND_LABELS[kind] ?? kind;
}

export const FEED_LABELS: Record<string, string> = {
  healthy: "Healthy",
  degraded: "Degraded",
  down: "Down",
  not_collected: "Not collected yet",
};
