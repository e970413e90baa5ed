import { type CairnClient, isNotFound } from "@cairn/sdk";
import { useCallback, useState } from "react";
import { useAction, useApi } from "../../api.js";
import { absoluteTime } from "../../format.js";
import { CopyButton, ErrorBanner, Loading, Notice, Time } from "../../ui.js";
import type { AuditCheckpoint, AuditPublicKey, AuditVerification } from "./types.js";

async function loadIntegrity(client: CairnClient) {
  const [checkpoint, key] = await Promise.all([
    client.call<AuditCheckpoint>("GET", "/api/v1/audit/checkpoints/latest").catch((e: unknown) => {
      // A log signs its first checkpoint within seconds of its first event; until then there is none.
      if (isNotFound(e)) return null;
      throw e;
    }),
    client.call<AuditPublicKey>("GET", "/api/v1/audit/public-key"),
  ]);
  return { checkpoint, key };
}

/** The outcome of "Verify now", in words: what was verified, or the first bad index and why. */
function VerifyOutcome({ result }: { result: AuditVerification }) {
  if (result.verified) {
    return (
      <Notice>
        <span className="audit-verdict">
          <strong>Verified {result.events} events</strong>
          {result.start > 0 ? ` (indexes ${result.start}–${result.treeSize - 1}; earlier ones are in retention archives)` : ""}, root{" "}
          <code className="audit-hash">{result.root}</code>, {result.checkpoints} checkpoint signature
          {result.checkpoints === 1 ? "" : "s"} checked.
        </span>
      </Notice>
    );
  }
  const where =
    result.firstBadIndex !== undefined
      ? `at index ${result.firstBadIndex}`
      : result.checkpoint !== undefined
        ? `at the checkpoint of tree size ${result.checkpoint}`
        : "";
  return (
    <div className="banner banner-error" role="alert">
      <span className="audit-verdict">
        <strong>Verification failed{where ? ` ${where}` : ""}</strong>: {result.reason}. The log as stored differs from what it signed;
        events from there on cannot be trusted until this is explained.
      </span>
    </div>
  );
}

/** The latest signed checkpoint, the key that signs them, and a server-side verification of the whole log. */
export function IntegrityPanel({ onVerified }: { onVerified?: () => void }) {
  const integrity = useApi(loadIntegrity, []);
  const [result, setResult] = useState<AuditVerification>();
  const verify = useAction(useCallback((client: CairnClient) => client.call<AuditVerification>("POST", "/api/v1/audit/verify"), []));
  const { checkpoint, key } = integrity.data ?? {};

  const runVerify = async () => {
    setResult(undefined);
    const r = await verify.run();
    if (r) {
      setResult(r);
      // Verifying signs a checkpoint of the log as it is, and is itself an audit event.
      void integrity.reload();
      onVerified?.();
    }
  };

  return (
    <section className="card audit-integrity" aria-labelledby="audit-integrity-title">
      <h2 id="audit-integrity-title">Integrity</h2>
      <ErrorBanner error={integrity.error} />
      {integrity.loading && !integrity.data ? <Loading what="Loading the latest checkpoint" /> : null}
      {integrity.data ? (
        <div className="audit-integrity-grid">
          <div>
            <h3>Latest signed checkpoint</h3>
            {checkpoint ? (
              <dl className="audit-dl">
                <dt>Tree size</dt>
                <dd data-testid="checkpoint-size">{checkpoint.treeSize} events</dd>
                <dt>Root hash</dt>
                <dd>
                  <code className="audit-hash">{checkpoint.rootHash}</code>
                </dd>
                <dt>Signed</dt>
                <dd>
                  <Time at={checkpoint.createdAt} /> <span className="muted">({absoluteTime(checkpoint.createdAt)})</span>
                </dd>
              </dl>
            ) : (
              <p className="empty">No checkpoint yet: the log signs one within a minute of its first event.</p>
            )}
            {checkpoint ? (
              <details className="audit-note">
                <summary>Signed note (C2SP tlog-checkpoint)</summary>
                <pre>{checkpoint.note}</pre>
                <CopyButton text={checkpoint.note} label="Copy note" />
              </details>
            ) : null}
          </div>
          <div>
            <h3>Public key</h3>
            {key ? (
              <>
                <p className="muted">
                  Ed25519 key <code>{key.keyId}</code> of <code className="audit-wrap">{key.origin}</code>. Keep a copy out of band: it is
                  what an auditor trusts.
                </p>
                <code className="audit-hash audit-key">{key.verifierKey}</code>
                <div className="row">
                  <CopyButton text={key.verifierKey} label="Copy key" />
                </div>
              </>
            ) : null}
          </div>
        </div>
      ) : null}
      <div className="audit-verify">
        <button
          type="button"
          className="primary"
          onClick={() => void runVerify()}
          disabled={verify.busy}
          aria-describedby="audit-verify-hint"
        >
          {verify.busy ? "Verifying…" : "Verify now"}
        </button>
        <p className="hint" id="audit-verify-hint">
          The server exports the whole log and checks every event, checkpoint signature and consistency proof against the key above. For an
          independent check that does not trust this server, run{" "}
          <code>cairn audit export -o audit.ndjson &amp;&amp; cairn audit verify --file audit.ndjson --public-key audit.pub</code> with a
          key you saved earlier.
        </p>
      </div>
      <ErrorBanner error={verify.error} onDismiss={verify.clearError} />
      {result ? <VerifyOutcome result={result} /> : null}
    </section>
  );
}
