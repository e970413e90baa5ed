import { CairnApiError, type CairnClient, CairnConnectionError } from "@cairn/sdk";
import { type DependencyList, useCallback, useEffect, useRef, useState } from "react";
import { useClient } from "./session.js";

/** What a user should read about a failed call: the problem's title and detail, and the field errors. */
export function describeError(err: unknown): string {
  if (err instanceof CairnApiError) {
    const fields = err.errors.map((e) => `${e.path || "(value)"}: ${e.message}`).join("; ");
    const detail = err.problem.detail && err.problem.detail !== err.problem.title ? `: ${err.problem.detail}` : "";
    return `${err.problem.title}${detail}${fields ? ` (${fields})` : ""}`;
  }
  if (err instanceof CairnConnectionError) return `Cannot reach the Cairn server: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  /** Load again (after a change); keeps showing the old data meanwhile. */
  reload: () => Promise<void>;
  /** Replace the data locally (optimistic update, or a value a live stream delivered). */
  setData: (next: T | ((previous: T | undefined) => T)) => void;
}

/** Loads with the signed-in client when `deps` change; answers that arrive after a newer load are dropped. */
export function useApi<T>(load: (client: CairnClient) => Promise<T>, deps: DependencyList): Loaded<T> {
  const client = useClient();
  const [data, setData] = useState<T>();
  const [error, setError] = useState<unknown>();
  const [loading, setLoading] = useState(true);
  const generation = useRef(0);
  // biome-ignore lint/correctness/useExhaustiveDependencies: the caller's deps decide when to load again
  const reload = useCallback(async () => {
    const mine = ++generation.current;
    setLoading(true);
    try {
      const value = await load(client);
      if (mine === generation.current) {
        setData(() => value);
        setError(undefined);
      }
    } catch (err) {
      if (mine === generation.current) setError(err);
    } finally {
      if (mine === generation.current) setLoading(false);
    }
  }, [client, ...deps]);
  useEffect(() => {
    void reload();
  }, [reload]);
  return { data, error, loading, reload, setData: setData as Loaded<T>["setData"] };
}

export interface Action<A extends unknown[], R> {
  run: (...args: A) => Promise<R | undefined>;
  busy: boolean;
  error: unknown;
  clearError: () => void;
}

/** A mutation: `run` resolves to the result, or to undefined after storing the error for display. */
export function useAction<A extends unknown[], R>(fn: (client: CairnClient, ...args: A) => Promise<R>): Action<A, R> {
  const client = useClient();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const run = useCallback(
    async (...args: A) => {
      setBusy(true);
      setError(undefined);
      try {
        return await fn(client, ...args);
      } catch (err) {
        setError(err);
        return undefined;
      } finally {
        setBusy(false);
      }
    },
    [client, fn],
  );
  return { run, busy, error, clearError: () => setError(undefined) };
}

export interface NamespaceSummary {
  path: string;
  keys: number;
  createdAt: string;
}

/** The namespaces the signed-in caller may browse (GET /api/v1/namespaces), by path. */
export function useNamespaces(): Loaded<NamespaceSummary[]> {
  return useApi(async (client) => (await client.call<{ items: NamespaceSummary[] }>("GET", "/api/v1/namespaces")).items, []);
}
