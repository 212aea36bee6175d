// Accessibility: axe-core (the engine of most accessibility checkers) on the console's main
// pages, as the operator (who sees every page). A serious or critical WCAG 2 A/AA violation
// fails the scenario, with the rule, its help text and the offending elements.
import { createRequire } from "node:module";
import { endpoint, open, signIn, operatorPassword } from "./lib.mjs";

const require = createRequire(import.meta.url);
const AXE = require.resolve("axe-core/axe.min.js");

/** The console's pages that need no particular resource to exist. */
export const PAGES = [
  "/",
  "/instances",
  "/instances/launch",
  "/images",
  "/key-pairs",
  "/instance-types",
  "/vpcs",
  "/subnets",
  "/security-groups",
  "/addresses",
  "/volumes",
  "/snapshots",
  "/buckets",
  "/users",
  "/account",
  "/operator/overview",
  "/operator/accounts",
  "/operator/hosts",
  "/operator/storage-nodes",
  "/operator/join-tokens",
];

/** The serious and critical violations axe finds on the page as it is now. */
export async function violations(page) {
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")),
    }));
  });
  return result.filter((v) => process.env.KUMO_A11Y_ALL || v.impact === "serious" || v.impact === "critical");
}

function describe(path, found) {
  return found.map((v) => `${path}: ${v.id} (${v.impact}) ${v.help} — ${v.nodes.join(", ")}`).join("\n");
}

export async function mainPages({ browser }) {
  // axe is injected as a script, which the console's CSP rightly refuses: this context
  // alone bypasses it (the other scenarios run under the real policy).
  const context = await browser.newContext({ baseURL: endpoint, viewport: { width: 1280, height: 800 }, bypassCSP: true });
  const page = await context.newPage();
  try {
    await page.goto("/console/");
    const signInProblems = await violations(page);
    await signIn(page, "operator", "operator", operatorPassword);
    const problems = [describe("sign-in", signInProblems)].filter(Boolean);
    for (const path of PAGES) {
      await open(page, path);
      // Lists load after the page: wait until nothing says it is loading.
      await page.waitForFunction(() => !document.querySelector(".loading"), null, { timeout: 30_000 }).catch(() => {});
      const found = await violations(page);
      if (found.length) problems.push(describe(path, found));
    }
    if (problems.length) throw new Error(`accessibility violations:\n${problems.join("\n")}`);
  } finally {
    await context.close();
  }
}
