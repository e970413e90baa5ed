import type { CreatedKey, KeyView, RotatedKey } from "@cairn/sdk";
import { type ReactNode, useState } from "react";
import { useApi } from "../api.js";
import { useSession } from "../session.js";
import { Empty, ErrorBanner, Loading, Notice, Page, TableHead, Time } from "../ui.js";
import { listAllKeys } from "./keys/api.js";
import { CreateKeyDialog, RevokeKeyDialog, RotateKeyDialog, type ShownKey, ShownOnceDialog } from "./keys/KeyDialogs.js";
import { KeyRow } from "./keys/KeyRow.js";
import "./keys/keys.css";

/**
 * The tenant's API keys: create (the key shown once), status, prefix, last use and usage per hour, rotate with a
 * grace period, revoke. The keys themselves are never listed: Cairn stores only their hashes.
 */
export function KeysPage() {
  const { me, signOut } = useSession();
  const keys = useApi((client) => listAllKeys(client), []);
  const [creating, setCreating] = useState(false);
  const [rotating, setRotating] = useState<KeyView>();
  const [revoking, setRevoking] = useState<KeyView>();
  const [shown, setShown] = useState<ShownKey>();
  const [notice, setNotice] = useState<ReactNode>();
  const signedInWith = me?.type === "api_key" ? me.id : undefined;

  function created(key: CreatedKey) {
    setCreating(false);
    setShown({ title: "Your new API key", key: key.key, name: key.name });
    setNotice(
      <>
        Created <strong>{key.name}</strong> (<code>cairn_{key.prefix}_…</code>).
      </>,
    );
    void keys.reload();
  }

  function rotated(key: RotatedKey) {
    setRotating(undefined);
    const until = key.rotatedFrom.graceUntil;
    setShown({
      title: "Your rotated API key",
      key: key.key,
      name: key.name,
      note: `The old key (cairn_${key.rotatedFrom.prefix}_…) ${until ? `keeps working until ${new Date(until).toUTCString()}` : "stopped working"}.`,
    });
    setNotice(
      <>
        Rotated <strong>{key.name}</strong>: the new key is <code>cairn_{key.prefix}_…</code>; the old one{" "}
        {until ? (
          <>
            is <code>rotating</code> and stops working <Time at={until} />
          </>
        ) : (
          "stopped working"
        )}
        .
      </>,
    );
    void keys.reload();
  }

  function revoked(key: KeyView) {
    setRevoking(undefined);
    if (key.id === signedInWith) {
      void signOut();
      return;
    }
    setNotice(
      <>
        Revoked <strong>{key.name}</strong> (<code>cairn_{key.prefix}_…</code>): it is refused from now on.
      </>,
    );
    void keys.reload();
  }

  return (
    <Page
      title="API keys"
      actions={
        <>
          <button type="button" onClick={() => void keys.reload()} disabled={keys.loading}>
            Refresh
          </button>
          <button type="button" className="primary" onClick={() => setCreating(true)}>
            New API key
          </button>
        </>
      }
    >
      <p className="muted">
        Keys are shown once, when they are created or rotated; Cairn stores only a hash and the public prefix. Usage is per hour over the
        last day.
      </p>
      <Notice>{notice ? <span>{notice}</span> : null}</Notice>
      <ErrorBanner error={keys.error} />
      {keys.data === undefined ? (
        keys.loading ? (
          <Loading what="Loading API keys" />
        ) : null
      ) : keys.data.length === 0 ? (
        <Empty>No API keys yet.</Empty>
      ) : (
        <div className="table-wrap">
          <table aria-label="API keys">
            <TableHead columns={["Name", "Status", "Key", "Roles", "Last used", "Usage (24 h)", "Expires"]} actions />
            <tbody>
              {keys.data.map((item) => (
                <KeyRow key={item.id} item={item} self={item.id === signedInWith} onRotate={setRotating} onRevoke={setRevoking} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <CreateKeyDialog open={creating} onClose={() => setCreating(false)} onCreated={created} />
      <RotateKeyDialog target={rotating} onClose={() => setRotating(undefined)} onRotated={rotated} />
      <RevokeKeyDialog target={revoking} signedInWith={signedInWith} onClose={() => setRevoking(undefined)} onRevoked={revoked} />
      <ShownOnceDialog shown={shown} onClose={() => setShown(undefined)} />
    </Page>
  );
}
