import { diffLines } from "diff";
import { pretty } from "./model.js";

interface DiffLine {
  kind: "added" | "removed" | "same";
  text: string;
}

/** Line diff of two values as pretty JSON. */
export function diffJson(before: unknown, after: unknown): DiffLine[] {
  const lines: DiffLine[] = [];
  for (const part of diffLines(`${pretty(before)}\n`, `${pretty(after)}\n`)) {
    const kind = part.added ? "added" : part.removed ? "removed" : "same";
    const texts = part.value.split("\n");
    if (texts[texts.length - 1] === "") texts.pop();
    for (const text of texts) lines.push({ kind, text });
  }
  return lines;
}

const sign = { added: "+", removed: "-", same: " " } as const;

/** The diff, one line per row: added lines marked `+` (class .added), removed ones `-` (class .removed). */
export function JsonDiff({ before, after, label }: { before: unknown; after: unknown; label: string }) {
  const lines = diffJson(before, after);
  const added = lines.filter((l) => l.kind === "added").length;
  const removed = lines.filter((l) => l.kind === "removed").length;
  return (
    <figure className="cfg-diff">
      <figcaption className="muted">
        {label}: {added} line{added === 1 ? "" : "s"} added, {removed} removed
      </figcaption>
      <div className="diff">
        {lines.map((line, i) => (
          <div
            // biome-ignore lint/suspicious/noArrayIndexKey: lines have no identity but their position
            key={i}
            className={`line${line.kind === "same" ? "" : ` ${line.kind}`}`}
          >
            <span aria-hidden="true">{sign[line.kind]} </span>
            {line.kind === "same" ? null : <span className="visually-hidden">{line.kind}: </span>}
            {line.text}
          </div>
        ))}
      </div>
    </figure>
  );
}
