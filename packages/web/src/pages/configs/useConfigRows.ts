import { isNotFound, type ResolvedConfig } from "@cairn/sdk";
import { useCallback, useEffect, useRef, useState } from "react";
import { type Loaded, useApi } from "../../api.js";
import { useClient } from "../../session.js";
import { type ConfigRow, rowsFrom } from "./model.js";

export type LiveState = "off" | "connecting" | "live" | "reconnecting" | "stopped";

export interface ConfigRows extends Loaded<ConfigRow[]> {
  /** Reads one key again in every environment (after a write, or when the watch says it changed). */
  reloadKey: (key: string) => Promise<void>;
  live: LiveState;
  /** Why following stopped (refused by the server), for an ErrorBanner. */
  liveError: unknown;
  /** Keys a live change touched in the last few seconds (highlighted in the table). */
  flashed: ReadonlySet<string>;
}

const orEmpty = <T>(promise: Promise<T>, empty: T): Promise<T> =>
  promise.catch((err: unknown) => {
    if (isNotFound(err)) return empty;
    throw err;
  });

/**
 * The keys of `namespace` with their resolved entry in each environment, side by side; at `at` when given
 * (a point-in-time view, not followed), else kept current by a watch on the namespace: a change reloads that row.
 */
export function useConfigRows(
  namespace: string | undefined,
  environments: string[] | undefined,
  at: string | undefined,
  onKeyChanged?: (key: string) => void,
): ConfigRows {
  const client = useClient();
  const envKey = environments?.join(",") ?? "";
  const rows = useApi(
    async (c) => {
      if (!namespace || !environments) return [];
      const lists = await Promise.all(
        environments.map((environment) =>
          orEmpty(
            c.list(namespace, { environment, at }).then((l) => l.items),
            [] as ResolvedConfig[],
          ),
        ),
      );
      return rowsFrom(environments, lists);
    },
    [namespace, envKey, at],
  );

  // Reads of one key can overlap (a live event and a save): only the last one issued may update the row,
  // or an answer read before a write could land after the write's own reload and show the old value.
  const issued = useRef(new Map<string, number>());
  const reloadKey = useCallback(
    async (key: string) => {
      if (!namespace || !environments) return;
      const mine = (issued.current.get(key) ?? 0) + 1;
      issued.current.set(key, mine);
      const entries = await Promise.all(
        environments.map((environment) => orEmpty(client.get(namespace, key, { environment }), undefined as ResolvedConfig | undefined)),
      );
      const row: ConfigRow = { key, byEnv: {} };
      entries.forEach((entry, i) => {
        row.byEnv[environments[i] as string] = entry;
      });
      if (issued.current.get(key) !== mine) return;
      const gone = entries.every((e) => e === undefined);
      rows.setData((previous = []) => {
        const others = previous.filter((r) => r.key !== key);
        return gone ? others : [...others, row].sort((a, b) => a.key.localeCompare(b.key));
      });
    },
    [client, namespace, environments, rows.setData],
  );

  const [live, setLive] = useState<LiveState>("off");
  const [liveError, setLiveError] = useState<unknown>();
  const [flashed, setFlashed] = useState<ReadonlySet<string>>(new Set());
  // The latest callbacks, for the long-lived watch loop.
  const latest = useRef({ reload: rows.reload, reloadKey, onKeyChanged });
  latest.current = { reload: rows.reload, reloadKey, onKeyChanged };

  useEffect(() => {
    if (!namespace || !envKey || at) {
      setLive("off");
      return;
    }
    const stop = new AbortController();
    const pending = new Set<string>();
    const timers = new Set<ReturnType<typeof setTimeout>>();
    const later = (fn: () => void, ms: number) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        fn();
      }, ms);
      timers.add(timer);
    };
    let flushing = false;
    const flush = () => {
      flushing = false;
      const keys = [...pending];
      pending.clear();
      for (const key of keys) {
        latest.current.reloadKey(key).catch((err: unknown) => setLiveError(err));
        latest.current.onKeyChanged?.(key);
      }
      setFlashed((previous) => new Set([...previous, ...keys]));
      later(() => setFlashed((previous) => new Set([...previous].filter((k) => !keys.includes(k)))), 4000);
    };
    setLive("connecting");
    setLiveError(undefined);
    const stream = client.watch({ namespace, signal: stop.signal, onReconnect: () => setLive("reconnecting") });
    (async () => {
      try {
        for await (const event of stream) {
          if (stop.signal.aborted) break;
          if (event.type === "ready") {
            setLive("live");
            // Whatever changed before this connection was live is in a fresh list.
            void latest.current.reload();
          } else if (event.namespace === namespace) {
            pending.add(event.key);
            if (!flushing) {
              flushing = true;
              later(flush, 100);
            }
          }
        }
      } catch (err) {
        if (!stop.signal.aborted) {
          setLive("stopped");
          setLiveError(err);
        }
      }
    })();
    return () => {
      stop.abort();
      for (const timer of timers) clearTimeout(timer);
    };
  }, [client, namespace, envKey, at]);

  return { ...rows, reloadKey, live, liveError, flashed };
}
