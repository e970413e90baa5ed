import { lookup as dnsLookup } from "node:dns/promises";
import { BlockList, isIP } from "node:net";

/**
 * Server-side request forgery guard for webhook and Slack targets: an alert must not become a way to
 * make Cairn talk to its own network (metadata services, databases, admin ports). Targets whose address
 * is private, loopback, link-local, carrier-grade NAT, multicast or reserved are refused — checked on the
 * literal address, on every address a name resolves to, and again at delivery time (the connection is
 * then made to exactly the address that was checked, so a DNS answer cannot change between the two).
 */
const blocked = new BlockList();
for (const [net, bits] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24],
  ["192.88.99.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
] as const) {
  blocked.addSubnet(net, bits, "ipv4");
}
for (const [net, bits] of [
  ["::", 128],
  ["::1", 128],
  ["100::", 64],
  ["2001:db8::", 32],
  ["fc00::", 7],
  ["fe80::", 10],
  ["fec0::", 10],
  ["ff00::", 8],
] as const) {
  blocked.addSubnet(net, bits, "ipv6");
}

/** The IPv4 address an IPv6 address carries (mapped, NAT64, 6to4, compatible), if any. */
function embeddedV4(address: string): string | undefined {
  const lower = address.toLowerCase();
  const dotted = /^(?:::ffff:|::ffff:0:|64:ff9b::|::)(\d{1,3}(?:\.\d{1,3}){3})$/.exec(lower);
  if (dotted?.[1]) return dotted[1];
  const groups = expandV6(lower);
  if (!groups) return undefined;
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  const [g0, g1, g2, g3, g4, g5, g6, g7] = groups as [number, number, number, number, number, number, number, number];
  // ::ffff:a.b.c.d written in hex, and the deprecated IPv4-compatible ::a.b.c.d
  if (g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0 && (g5 === 0xffff || g5 === 0) && (g6 !== 0 || g5 === 0xffff))
    return v4(g6, g7);
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) return v4(g6, g7); // NAT64
  if (g0 === 0x2002) return v4(g1, g2); // 6to4
  return undefined;
}

function expandV6(address: string): number[] | undefined {
  const [head = "", tail] = address.split("::");
  const parse = (s: string) => (s ? s.split(":").map((g) => Number.parseInt(g, 16)) : []);
  if (address.includes(".")) return undefined;
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  const fill = 8 - left.length - right.length;
  if (fill < 0 || (tail === undefined && fill !== 0)) return undefined;
  const groups = [...left, ...new Array(fill).fill(0), ...right];
  return groups.some((g) => Number.isNaN(g)) ? undefined : groups;
}

/** Is this literal IP address one a public alert target may not have? */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return blocked.check(address, "ipv4");
  if (family === 6) {
    const v4 = embeddedV4(address);
    if (v4 && isIP(v4) === 4) return blocked.check(v4, "ipv4");
    return blocked.check(address, "ipv6");
  }
  return true; // not an address at all: refuse rather than guess
}

export class TargetRefused extends Error {
  override name = "TargetRefused";
}

export interface ResolvedTarget {
  /** Host name as written in the URL (brackets stripped). */
  host: string;
  /** The checked addresses the connection may use. */
  addresses: { address: string; family: 4 | 6 }[];
}

/**
 * Resolves a target's host and checks every address. Throws TargetRefused naming the host (never the
 * URL: its path may be the secret) when an address is private and private targets are not allowed.
 */
export async function resolveTarget(url: URL, allowPrivate: boolean): Promise<ResolvedTarget> {
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const family = isIP(host);
  let addresses: { address: string; family: 4 | 6 }[];
  if (family) addresses = [{ address: host, family: family as 4 | 6 }];
  else {
    try {
      addresses = (await dnsLookup(host, { all: true, verbatim: true })).map((a) => ({ address: a.address, family: a.family as 4 | 6 }));
    } catch (e) {
      throw new Error(`cannot resolve ${host}: ${(e as NodeJS.ErrnoException).code ?? "lookup failed"}`);
    }
    if (addresses.length === 0) throw new Error(`cannot resolve ${host}: no addresses`);
  }
  if (!allowPrivate) {
    const bad = addresses.find((a) => isPrivateAddress(a.address));
    if (bad) {
      throw new TargetRefused(
        `${host} resolves to ${bad.address}, a private, loopback or link-local address; alert targets must be public ` +
          "(set CAIRN_ALERTS_ALLOW_PRIVATE_TARGETS=true to allow internal targets)",
      );
    }
  }
  return { host, addresses };
}

/** A `lookup` for http(s).request that answers with the addresses already checked, never asking DNS again. */
export function pinnedLookup(target: ResolvedTarget) {
  return (
    _hostname: string,
    options: { all?: boolean } | number | undefined,
    callback: (err: NodeJS.ErrnoException | null, address: string | { address: string; family: number }[], family?: number) => void,
  ) => {
    const first = target.addresses[0] as { address: string; family: 4 | 6 };
    if (typeof options === "object" && options?.all) callback(null, target.addresses);
    else callback(null, first.address, first.family);
  };
}
