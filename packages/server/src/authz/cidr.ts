import { isIPv4, isIPv6 } from "node:net";

/**
 * A small CIDR matcher for IPv4 and IPv6. Addresses become big integers; an IPv4-mapped IPv6 address
 * (`::ffff:10.1.2.3`, what a dual-stack socket reports) is treated as the IPv4 address it carries, and a
 * CIDR inside `::ffff:0:0/96` as the matching IPv4 block, so either spelling matches the other.
 */
export interface IpAddress {
  version: 4 | 6;
  value: bigint;
}

export interface Cidr {
  source: string;
  version: 4 | 6;
  /** The network with host bits cleared. */
  network: bigint;
  prefix: number;
}

const bitsOf = (version: 4 | 6) => (version === 4 ? 32 : 128);
const MAPPED_PREFIX = 0xffffn << 32n;

function v4(text: string): bigint {
  return text.split(".").reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
}

function v6(text: string): bigint {
  let s = text;
  const tail: bigint[] = [];
  // A trailing dotted quad (`::ffff:10.1.2.3`) fills the last two groups.
  const lastColon = s.lastIndexOf(":");
  if (s.slice(lastColon + 1).includes(".")) {
    const n = v4(s.slice(lastColon + 1));
    tail.push(n >> 16n, n & 0xffffn);
    s = s.slice(0, lastColon + 1);
    if (!s.endsWith("::")) s = s.slice(0, -1);
  }
  const groups = (part: string | undefined) => (part ? part.split(":").map((g) => BigInt(Number.parseInt(g, 16))) : []);
  const gap = s.indexOf("::");
  const left = groups(gap === -1 ? s : s.slice(0, gap));
  const right = gap === -1 ? [] : groups(s.slice(gap + 2));
  const fill = gap === -1 ? [] : new Array<bigint>(8 - left.length - right.length - tail.length).fill(0n);
  return [...left, ...fill, ...right, ...tail].reduce((acc, g) => (acc << 16n) | g, 0n);
}

/** Parses an IPv4 or IPv6 address (no zone id); undefined when it is not one. */
export function parseIp(text: string): IpAddress | undefined {
  const s = text.trim();
  if (isIPv4(s)) return { version: 4, value: v4(s) };
  if (!isIPv6(s) || s.includes("%")) return undefined;
  const value = v6(s);
  if (value >> 32n === 0xffffn) return { version: 4, value: value & 0xffffffffn };
  return { version: 6, value };
}

export class CidrError extends Error {
  override name = "CidrError";
}

/** `10.0.0.0/8`, `2001:db8::/32`, or a bare address (a block of one). Host bits set are ignored. */
export function parseCidr(source: string): Cidr {
  const slash = source.indexOf("/");
  const addressText = slash === -1 ? source : source.slice(0, slash);
  const prefixText = slash === -1 ? undefined : source.slice(slash + 1);
  const trimmed = addressText.trim();
  const family = isIPv4(trimmed) ? 4 : isIPv6(trimmed) && !trimmed.includes("%") ? 6 : undefined;
  if (!family) throw new CidrError(`"${source}" is not an IPv4 or IPv6 address or CIDR block (e.g. 10.0.0.0/8, 2001:db8::/32)`);
  let value = family === 4 ? v4(trimmed) : v6(trimmed);
  let version: 4 | 6 = family;
  let prefix = bitsOf(family);
  if (prefixText !== undefined) {
    if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > bitsOf(family)) {
      throw new CidrError(`"${source}": the prefix length must be 0–${bitsOf(family)}`);
    }
    prefix = Number(prefixText);
  }
  if (version === 6 && prefix >= 96 && value >> 32n === 0xffffn) {
    version = 4;
    value &= 0xffffffffn;
    prefix -= 96;
  }
  return { source, version, network: mask(value, prefix, version), prefix };
}

function mask(value: bigint, prefix: number, version: 4 | 6): bigint {
  const bits = BigInt(bitsOf(version));
  if (prefix === 0) return 0n;
  const m = ((1n << BigInt(prefix)) - 1n) << (bits - BigInt(prefix));
  return value & m;
}

export function cidrContains(cidr: Cidr, ip: IpAddress): boolean {
  if (cidr.version !== ip.version) {
    // An IPv4 address is also the IPv4-mapped IPv6 address `::ffff:a.b.c.d`, so `::/0` covers it.
    return cidr.version === 6 && mask(MAPPED_PREFIX | ip.value, cidr.prefix, 6) === cidr.network;
  }
  return mask(ip.value, cidr.prefix, ip.version) === cidr.network;
}
