// Security-group rules, CIDR blocks and device names as the network and block pages show
// and read them.

/** What a rule's `protocol` means to a person: "-1" → "All traffic", "tcp" → "TCP". */
export function protocolLabel(protocol: string): string {
  switch (protocol.toLowerCase()) {
    case "-1":
    case "all":
      return "All traffic";
    case "tcp":
    case "6":
      return "TCP";
    case "udp":
    case "17":
      return "UDP";
    case "icmp":
    case "1":
      return "ICMP";
    default:
      return `Protocol ${protocol}`;
  }
}

function kind(protocol: string): "tcp" | "udp" | "icmp" | "all" | "other" {
  switch (protocol.toLowerCase()) {
    case "tcp":
    case "6":
      return "tcp";
    case "udp":
    case "17":
      return "udp";
    case "icmp":
    case "1":
      return "icmp";
    case "-1":
    case "all":
      return "all";
    default:
      return "other";
  }
}

/** A rule's ports in words: "22", "8000–8080", "All"; for ICMP its type and code. */
export function formatPortRange(protocol: string, from: number | null | undefined, to: number | null | undefined): string {
  const k = kind(protocol);
  if (k === "tcp" || k === "udp") {
    if (from === null || from === undefined || (from <= 0 && (to ?? 65535) >= 65535)) return "All";
    if (to === null || to === undefined || to === from) return String(from);
    return `${from}–${to}`;
  }
  if (k === "icmp") {
    if (from === null || from === undefined || from < 0) return "All types";
    if (to === null || to === undefined || to < 0) return `Type ${from}`;
    return `Type ${from}, code ${to}`;
  }
  return "All";
}

/** The peer of a rule: its CIDR block or the group it names ("web (sg-1)"). */
export function formatPeer(rule: {
  cidr?: string | null;
  referenced_group_id?: string | null;
  referenced_group_name?: string | null;
}): string {
  if (rule.cidr) return rule.cidr;
  if (rule.referenced_group_id) {
    return rule.referenced_group_name ? `${rule.referenced_group_name} (${rule.referenced_group_id})` : rule.referenced_group_id;
  }
  return "—";
}

export type PortRange = { from_port: number | null; to_port: number | null };

/** Read what a person typed as the ports of a rule of `protocol`: for TCP/UDP "22",
 * "8000-8080" or empty/"all" (0–65535); for ICMP "8" (a type), "8:0" (type and code) or
 * empty/"all" (-1); nothing for all traffic. An Error says what is wrong. */
export function parsePortRange(protocol: string, text: string): PortRange | Error {
  const k = kind(protocol);
  const value = text.trim().toLowerCase();
  if (k === "all" || k === "other") return { from_port: null, to_port: null };
  if (k === "icmp") {
    if (value === "" || value === "all" || value === "-1") return { from_port: -1, to_port: -1 };
    const m = /^(\d{1,3})(?:\s*[:/]\s*(\d{1,3}))?$/.exec(value);
    if (!m) return new Error(`“${text}” is not an ICMP type: give a type (8) or a type and code (3:4), or leave it empty for all.`);
    const type = Number(m[1]);
    const code = m[2] === undefined ? -1 : Number(m[2]);
    if (type > 255 || code > 255) return new Error("ICMP types and codes go from 0 to 255.");
    return { from_port: type, to_port: code };
  }
  if (value === "" || value === "all") return { from_port: 0, to_port: 65535 };
  const m = /^(\d{1,5})(?:\s*[-–:]\s*(\d{1,5}))?$/.exec(value);
  if (!m) return new Error(`“${text}” is not a port range: give a port (22) or a range (8000-8080), or leave it empty for all.`);
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  if (from > 65535 || to > 65535) return new Error("Ports go from 0 to 65535.");
  if (from > to) return new Error(`The range ${from}–${to} ends before it starts.`);
  return { from_port: from, to_port: to };
}

/** Is `text` an IPv4 CIDR block ("10.0.0.0/16"), with the prefix between `minPrefix` and
 * `maxPrefix`? */
export function isIpv4Cidr(text: string, minPrefix = 0, maxPrefix = 32): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text.trim());
  if (!m) return false;
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  return octets.every((o) => o <= 255) && prefix >= minPrefix && prefix <= maxPrefix;
}

/** The first free data-volume device name (/dev/sdf … /dev/sdp, AWS's advice), given the
 * device names an instance already uses. */
export function suggestDevice(used: string[]): string {
  const taken = new Set(used.map((d) => d.replace("/dev/xvd", "/dev/sd").replace("/dev/vd", "/dev/sd")));
  for (let c = "f".charCodeAt(0); c <= "z".charCodeAt(0); c++) {
    const name = `/dev/sd${String.fromCharCode(c)}`;
    if (!taken.has(name)) return name;
  }
  return "/dev/sdf";
}

/** The tags of a create body for a name: `{Name}`, or none for a blank name. */
export function nameTags(name: string): Record<string, string> | undefined {
  const trimmed = name.trim();
  return trimmed ? { Name: trimmed } : undefined;
}

/** What the ports field shows for a stored rule (the text `parsePortRange` reads back):
 * "22", "8000-8080", "" for all ports; for ICMP "8", "3:4", "" for all types. */
export function portRangeText(protocol: string, from: number | null | undefined, to: number | null | undefined): string {
  const k = kind(protocol);
  if (k === "tcp" || k === "udp") {
    if (from === null || from === undefined || (from <= 0 && (to ?? 65535) >= 65535)) return "";
    return to === null || to === undefined || to === from ? String(from) : `${from}-${to}`;
  }
  if (k === "icmp") {
    if (from === null || from === undefined || from < 0) return "";
    return to === null || to === undefined || to < 0 ? String(from) : `${from}:${to}`;
  }
  return "";
}
