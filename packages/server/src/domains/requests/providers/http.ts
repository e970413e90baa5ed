import { TransientProviderError } from "./types.js";

/** Error codes of a connection that failed on the way (worth a retry). */
export const NETWORK_CODES: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_SOCKET",
]);

/**
 * fetch with a timeout for a cloud provider's API; a network failure or timeout becomes a
 * TransientProviderError (retried with backoff). Messages name the provider, the step and the origin,
 * never a header or body.
 */
export async function sendToProvider(provider: string, what: string, url: string, init: RequestInit, timeoutMs: number): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    const err = e as Error & { cause?: { code?: string } };
    const code = err.name === "TimeoutError" ? "timeout" : (err.cause?.code ?? err.name);
    if (err.name === "TimeoutError" || NETWORK_CODES.has(code) || err instanceof TypeError) {
      throw new TransientProviderError(`${provider}: ${what} failed, will retry: ${code} reaching ${new URL(url).origin}`);
    }
    throw new Error(`${provider}: ${what} failed: ${code}`);
  }
}
