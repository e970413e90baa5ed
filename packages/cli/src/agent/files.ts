import { randomBytes } from "node:crypto";
import { open, rename, stat, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

export interface WriteOptions {
  /** Mode of a new file (default 0600). */
  mode?: number;
  /** Keep the mode of the file being replaced (default true); false always applies `mode`. */
  keepMode?: boolean;
}

/**
 * Replace `path` with `content` so that a reader sees the old file or the new one, never a part: write a
 * temporary file in the same directory (so the rename stays on one file system), fsync it, rename it over
 * the target, then fsync the directory so the rename itself survives a crash. The file keeps the mode of
 * the one it replaces unless told not to; a new one gets `mode` (0600 by default: it may hold secrets).
 */
export async function writeFileAtomic(path: string, content: string | Buffer, options: WriteOptions = {}): Promise<void> {
  const { mode = 0o600, keepMode = true } = options;
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  const existing = keepMode ? await stat(path).catch(() => undefined) : undefined;
  const fileMode = existing ? existing.mode & 0o7777 : mode;
  const handle = await open(tmp, "wx", fileMode);
  try {
    try {
      await handle.writeFile(content);
      // `open` applies the umask; the mode we mean is the one we said.
      await handle.chmod(fileMode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await syncDirectory(dir);
}

async function syncDirectory(dir: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(dir, "r");
    await handle.sync();
  } catch {
    // Some platforms and file systems cannot fsync a directory; the rename is still atomic there.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}
