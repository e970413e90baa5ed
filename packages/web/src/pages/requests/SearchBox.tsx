import { type FormEvent, useState } from "react";
import { absoluteTime } from "../../format.js";
import { Field } from "../../ui.js";
import { type InterpretedFilter, providerLabel, statusInfo } from "./model.js";

/** The plain-words search box (seed 003's "show me all failed requests for AWS yesterday"). */
export function SearchBox({ current, onSearch }: { current: string; onSearch: (q: string) => void }) {
  const [text, setText] = useState(current);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    onSearch(text.trim());
  };
  return (
    <search aria-label="Access requests">
      <form className="rq-search" onSubmit={submit}>
        <Field label="Search in plain words" hint={'e.g. "awaiting approval from ana this week", "failed requests for AWS yesterday"'}>
          {(props) => (
            <input {...props} type="search" value={text} onChange={(e) => setText(e.target.value)} maxLength={500} autoComplete="off" />
          )}
        </Field>
        <div className="rq-search-buttons">
          <button type="submit" className="primary">
            Search
          </button>
          {current ? (
            <button
              type="button"
              onClick={() => {
                setText("");
                onSearch("");
              }}
            >
              Clear search
            </button>
          ) : null}
        </div>
      </form>
    </search>
  );
}

/** How the server read the sentence: one chip per filter field, and the words it did not understand. */
export function Interpretation({
  query,
  filter,
  sentence,
  ignored,
}: {
  query: string;
  filter: InterpretedFilter | undefined;
  sentence: string | undefined;
  ignored: string[] | undefined;
}) {
  const chips: [string, string][] = [];
  if (filter?.status?.length) chips.push(["status", filter.status.map((s) => statusInfo(s).label).join(" or ")]);
  if (filter?.provider?.length) chips.push(["provider", filter.provider.map(providerLabel).join(" or ")]);
  if (filter?.principal) chips.push(["principal", filter.principal]);
  if (filter?.role) chips.push(["role", filter.role]);
  if (filter?.from) chips.push(["since", absoluteTime(filter.from)]);
  if (filter?.to) chips.push(["before", absoluteTime(filter.to)]);
  return (
    <section className="card rq-understood" aria-labelledby="rq-understood-title">
      <h2 id="rq-understood-title">How Cairn read “{query}”</h2>
      {chips.length ? (
        <ul className="rq-chips" aria-label="Filters understood">
          {chips.map(([key, value]) => (
            <li key={key} className="rq-chip">
              <span className="rq-chip-key">{key}</span> = <span className="rq-chip-value">{value}</span>
            </li>
          ))}
        </ul>
      ) : (
        <p className="muted">No filter: every request you may see.</p>
      )}
      {sentence ? (
        <p className="muted rq-sentence">
          Read as: <code>{sentence}</code>
        </p>
      ) : null}
      {ignored?.length ? <p className="rq-ignored">Not understood (ignored): {ignored.map((w) => `“${w}”`).join(", ")}</p> : null}
    </section>
  );
}
