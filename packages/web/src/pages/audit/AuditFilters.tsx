import { type FormEvent, useEffect, useState } from "react";
import { Field } from "../../ui.js";
import type { AuditFilters, AuditResult } from "./types.js";

/** `2026-11-25T23:00:00.000Z` → the `datetime-local` value of that moment in the browser's time zone. */
function toLocalInput(iso: string | undefined): string {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function fromLocalInput(value: string): string | undefined {
  if (!value) return undefined;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

const clean = (s: string) => s.trim() || undefined;

/** The filter form of the event list: applied on submit (Enter or "Apply filters"), cleared at once. */
export function AuditFilterForm({
  value,
  eventTypes,
  onApply,
}: {
  value: AuditFilters;
  /** Event types seen so far, offered as suggestions. */
  eventTypes: string[];
  onApply: (filters: AuditFilters) => void;
}) {
  const [from, setFrom] = useState(toLocalInput(value.from));
  const [to, setTo] = useState(toLocalInput(value.to));
  const [actor, setActor] = useState(value.actor ?? "");
  const [eventType, setEventType] = useState(value.eventType ?? "");
  const [namespace, setNamespace] = useState(value.namespace ?? "");
  const [result, setResult] = useState<AuditResult | "">(value.result ?? "");

  // Follow the URL (back/forward, a cleared filter).
  useEffect(() => {
    setFrom(toLocalInput(value.from));
    setTo(toLocalInput(value.to));
    setActor(value.actor ?? "");
    setEventType(value.eventType ?? "");
    setNamespace(value.namespace ?? "");
    setResult(value.result ?? "");
  }, [value.from, value.to, value.actor, value.eventType, value.namespace, value.result]);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    onApply({
      from: fromLocalInput(from),
      to: fromLocalInput(to),
      actor: clean(actor),
      eventType: clean(eventType),
      namespace: clean(namespace),
      result: result || undefined,
    });
  };

  return (
    <form className="card audit-filters" onSubmit={submit} aria-label="Filter audit events">
      <div className="audit-filter-grid">
        <Field label="Event type" hint="exact, or a prefix ending in * (config.*)">
          {(p) => (
            <input
              {...p}
              list="audit-event-types"
              value={eventType}
              onChange={(e) => setEventType(e.target.value)}
              placeholder="config.*"
            />
          )}
        </Field>
        <datalist id="audit-event-types">
          {eventTypes.map((t) => (
            <option key={t} value={t} />
          ))}
        </datalist>
        <Field label="Actor" hint="key_…, usr_… or system">
          {(p) => <input {...p} value={actor} onChange={(e) => setActor(e.target.value)} />}
        </Field>
        <Field label="Namespace" hint="exact, or ending in /** for everything below">
          {(p) => <input {...p} value={namespace} onChange={(e) => setNamespace(e.target.value)} placeholder="payments/**" />}
        </Field>
        <Field label="Result">
          {(p) => (
            <select {...p} value={result} onChange={(e) => setResult(e.target.value as AuditResult | "")}>
              <option value="">any</option>
              <option value="success">success</option>
              <option value="failure">failure</option>
              <option value="denied">denied</option>
            </select>
          )}
        </Field>
        <Field label="From" hint="your local time">
          {(p) => <input {...p} type="datetime-local" value={from} onChange={(e) => setFrom(e.target.value)} />}
        </Field>
        <Field label="To" hint="your local time">
          {(p) => <input {...p} type="datetime-local" value={to} onChange={(e) => setTo(e.target.value)} />}
        </Field>
      </div>
      <div className="row">
        <button type="submit" className="primary">
          Apply filters
        </button>
        <button type="button" onClick={() => onApply({})}>
          Clear filters
        </button>
      </div>
    </form>
  );
}
