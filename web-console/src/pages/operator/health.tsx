// A yes/no health badge ("reachable"/"unreachable") in the state colours.
export function Health({ ok, yes, no }: { ok: boolean; yes: string; no: string }) {
  return <span class={`badge ${ok ? "good" : "bad"}`}>{ok ? yes : no}</span>;
}
