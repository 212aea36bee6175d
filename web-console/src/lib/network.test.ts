import { describe, expect, it } from "vitest";
import { formatPeer, formatPortRange, isIpv4Cidr, nameTags, parsePortRange, portRangeText, protocolLabel, suggestDevice } from "./network";

describe("protocolLabel", () => {
  it("names the usual protocols and numbers the rest", () => {
    expect(protocolLabel("-1")).toBe("All traffic");
    expect(protocolLabel("tcp")).toBe("TCP");
    expect(protocolLabel("17")).toBe("UDP");
    expect(protocolLabel("icmp")).toBe("ICMP");
    expect(protocolLabel("47")).toBe("Protocol 47");
  });
});

describe("formatPortRange", () => {
  it("shows one port, a range, or all for TCP and UDP", () => {
    expect(formatPortRange("tcp", 22, 22)).toBe("22");
    expect(formatPortRange("udp", 8000, 8080)).toBe("8000–8080");
    expect(formatPortRange("tcp", 0, 65535)).toBe("All");
    expect(formatPortRange("tcp", null, null)).toBe("All");
    expect(formatPortRange("tcp", 0, 0)).toBe("0");
  });
  it("shows ICMP's type and code", () => {
    expect(formatPortRange("icmp", -1, -1)).toBe("All types");
    expect(formatPortRange("icmp", 8, -1)).toBe("Type 8");
    expect(formatPortRange("icmp", 3, 4)).toBe("Type 3, code 4");
  });
  it("has no ports for all traffic", () => {
    expect(formatPortRange("-1", null, null)).toBe("All");
  });
});

describe("formatPeer", () => {
  it("shows the CIDR, else the group with its name", () => {
    expect(formatPeer({ cidr: "0.0.0.0/0" })).toBe("0.0.0.0/0");
    expect(formatPeer({ referenced_group_id: "sg-1", referenced_group_name: "web" })).toBe("web (sg-1)");
    expect(formatPeer({ referenced_group_id: "sg-1" })).toBe("sg-1");
    expect(formatPeer({})).toBe("—");
  });
});

describe("parsePortRange", () => {
  it("reads TCP/UDP ports and ranges", () => {
    expect(parsePortRange("tcp", "22")).toEqual({ from_port: 22, to_port: 22 });
    expect(parsePortRange("udp", " 8000 - 8080 ")).toEqual({ from_port: 8000, to_port: 8080 });
    expect(parsePortRange("tcp", "")).toEqual({ from_port: 0, to_port: 65535 });
    expect(parsePortRange("tcp", "All")).toEqual({ from_port: 0, to_port: 65535 });
  });
  it("refuses nonsense in plain words", () => {
    expect(parsePortRange("tcp", "ssh")).toBeInstanceOf(Error);
    expect(parsePortRange("tcp", "70000")).toBeInstanceOf(Error);
    expect((parsePortRange("tcp", "90-80") as Error).message).toMatch(/ends before it starts/);
    expect(parsePortRange("icmp", "300")).toBeInstanceOf(Error);
    expect(parsePortRange("icmp", "echo")).toBeInstanceOf(Error);
  });
  it("reads ICMP types and codes", () => {
    expect(parsePortRange("icmp", "")).toEqual({ from_port: -1, to_port: -1 });
    expect(parsePortRange("icmp", "8")).toEqual({ from_port: 8, to_port: -1 });
    expect(parsePortRange("icmp", "3:4")).toEqual({ from_port: 3, to_port: 4 });
  });
  it("gives no ports for all traffic", () => {
    expect(parsePortRange("-1", "22")).toEqual({ from_port: null, to_port: null });
  });
});

describe("isIpv4Cidr", () => {
  it("accepts blocks within the prefix bounds", () => {
    expect(isIpv4Cidr("10.0.0.0/16")).toBe(true);
    expect(isIpv4Cidr("0.0.0.0/0")).toBe(true);
    expect(isIpv4Cidr("10.0.0.0/8", 16, 28)).toBe(false);
    expect(isIpv4Cidr("10.0.0.0/28", 16, 28)).toBe(true);
  });
  it("refuses what is not a block", () => {
    expect(isIpv4Cidr("10.0.0.0")).toBe(false);
    expect(isIpv4Cidr("10.0.0.256/24")).toBe(false);
    expect(isIpv4Cidr("10.0.0.0/33")).toBe(false);
    expect(isIpv4Cidr("sg-123")).toBe(false);
  });
});

describe("suggestDevice", () => {
  it("gives the first free name from /dev/sdf on, whatever the prefix in use", () => {
    expect(suggestDevice([])).toBe("/dev/sdf");
    expect(suggestDevice(["/dev/xvda", "/dev/sdf"])).toBe("/dev/sdg");
    expect(suggestDevice(["/dev/xvdf", "/dev/vdg"])).toBe("/dev/sdh");
  });
});

describe("names", () => {
  it("tags a name, none when blank", () => {
    expect(nameTags("  web ")).toEqual({ Name: "web" });
    expect(nameTags(" ")).toBeUndefined();
  });
});

describe("portRangeText", () => {
  it("writes what parsePortRange reads back", () => {
    const cases: [string, number | null, number | null][] = [
      ["tcp", 22, 22],
      ["udp", 8000, 8080],
      ["tcp", 0, 65535],
      ["icmp", -1, -1],
      ["icmp", 8, -1],
      ["icmp", 3, 4],
      ["-1", null, null],
    ];
    for (const [protocol, from, to] of cases) {
      const text = portRangeText(protocol, from, to);
      const back = parsePortRange(protocol, text);
      expect(back).toEqual({ from_port: from, to_port: to });
    }
    expect(portRangeText("tcp", 8000, 8080)).toBe("8000-8080");
    expect(portRangeText("tcp", 0, 65535)).toBe("");
    expect(portRangeText("icmp", 3, 4)).toBe("3:4");
  });
});
