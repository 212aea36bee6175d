// The console's browser tests against a running Kumo, in order (later scenarios use what
// earlier ones made). Driven by cli/tests/console.rs, which starts `kumo up` and sets
//   KUMO_ENDPOINT           http://127.0.0.1:<port>
//   KUMO_OPERATOR_PASSWORD  the operator's password (<state>/operator-password)
//   KUMO_SCREENSHOTS        where the screenshots go (target/console-screenshots)
//   KUMO_TOKEN_TTL_SECS     only with a Kumo whose tokens live that long: runs the expiry scenario alone
// By hand: `KUMO_ENDPOINT=... KUMO_OPERATOR_PASSWORD=... node web-console/e2e/run.mjs [name-prefix...]`.
// Prints `ok - <name>` or `not ok - <name>` with the error per scenario; exits 1 on any failure.
import { allConsoleErrors, endpoint, launchBrowser, operatorPassword, screenshotsDir, setScenario } from "./lib.mjs";
import * as operator from "./operator.mjs";
import * as tenant from "./tenant.mjs";
import * as buckets from "./buckets.mjs";
import * as security from "./security.mjs";
import * as session from "./session.mjs";
import * as network from "./network.mjs";
import * as a11y from "./a11y.mjs";

const mainScenarios = [
  ["console is served with its security headers", operator.servedWithHeaders],
  ["operator signs in and sees the cloud at a glance", operator.overview],
  ["operator creates an account and its admin", operator.createsAccountAndAdmin],
  ["operator pages: hosts, storage nodes, join tokens", operator.infrastructurePages],
  ["admin imports a key pair", tenant.importsKeyPair],
  ["admin launches two containers and a VM and watches them reach running", tenant.launchesInstances],
  ["admin reads the VM's console output", tenant.readsVmConsole],
  ["admin stops and starts an instance", tenant.stopsAndStarts],
  ["admin browses images and instance types", tenant.browsesCatalog],
  ["admin creates an access key and sees the secret once", tenant.createsAccessKey],
  ["admin uploads 20 MiB to a bucket, downloads it equal, deletes it", buckets.uploadDownloadDelete],
  ["admin edits a security group's rules and makes a volume", network.securityGroupRulesAndVolumes],
  ["the session cookie is not readable from page scripts", security.jwtNotReadable],
  ["a cross-site form post without the CSRF token is refused", security.crossSiteFormRefused],
  ["a second account's admin sees none of the first's resources", security.secondAccountIsolated],
  ["a reader sees no create/delete buttons and a write is refused in plain words", security.readerIsReadOnly],
  ["the main pages pass axe's WCAG 2.1 A/AA checks (no serious or critical violation)", a11y.mainPages],
  ["admin terminates all instances", tenant.terminatesAll],
  ["password change, sign-out, and a lost session back to sign-in", session.passwordAndSessionLoss],
  ["works on a narrow window", session.narrowWindow],
];

// With KUMO_TOKEN_TTL_SECS (a Kumo started with a short --token-ttl-secs): only the expiry.
const scenarios = process.env.KUMO_TOKEN_TTL_SECS
  ? [["a session expires and the page goes back to sign-in with the message", session.expires]]
  : mainScenarios;

async function main() {
  if (!endpoint || !operatorPassword) {
    console.error("set KUMO_ENDPOINT and KUMO_OPERATOR_PASSWORD (cli/tests/console.rs does)");
    process.exit(2);
  }
  const only = process.argv.slice(2);
  const browser = await launchBrowser();
  const ctx = { browser };
  let failed = 0;
  const started = Date.now();
  for (const [name, run] of scenarios) {
    if (only.length && !only.some((prefix) => name.startsWith(prefix))) continue;
    setScenario(name);
    const t0 = Date.now();
    try {
      await run(ctx);
      console.log(`ok - ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    } catch (error) {
      failed++;
      console.log(`not ok - ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      console.log(`  ${String(error?.stack ?? error).split("\n").join("\n  ")}`);
    }
  }
  // No console errors anywhere, on any page of any scenario.
  const errors = allConsoleErrors();
  if (errors.length) {
    failed++;
    console.log(`not ok - no console errors (${errors.length})`);
    for (const e of errors) console.log(`  [${e.scenario}] ${e.text}`);
  } else {
    console.log("ok - no console errors");
  }
  await browser.close();
  console.log(`${failed ? "FAILED" : "passed"} in ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${screenshotsDir}`);
  process.exit(failed ? 1 : 0);
}

// A hung browser must not hang the test suite.
setTimeout(() => {
  console.log("not ok - the console tests took over 20 minutes");
  process.exit(1);
}, 20 * 60_000).unref();

main().catch((error) => {
  console.log(`not ok - harness: ${error?.stack ?? error}`);
  process.exit(1);
});
