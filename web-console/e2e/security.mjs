// Security through the browser: the session JWT is not readable by page scripts; a forged
// cross-site (and a same-site, cross-origin) POST carries no CSRF token and is refused; a
// second account sees none of the first's resources, not even by typed URLs; a reader sees
// no write buttons and is refused in plain words when it writes anyway.
import { createServer } from "node:http";
import {
  Api,
  acceptDialogs,
  assert,
  endpoint,
  eq,
  expectNoConsoleErrors,
  heading,
  nav,
  newUser,
  open,
  runId,
  screenshot,
  signIn,
  waitUntil,
} from "./lib.mjs";
import { adminA } from "./tenant.mjs";

export async function jwtNotReadable(ctx) {
  const page = await adminA(ctx);
  const cookies = await ctx.a.context.cookies(`${endpoint}/v1/`);
  const session = cookies.find((c) => c.name === "kumo_session");
  assert(session, `no kumo_session cookie in the browser (cookies: ${cookies.map((c) => c.name)})`);
  assert(session.httpOnly, "kumo_session is not HttpOnly");
  eq(session.sameSite, "Strict", "kumo_session's SameSite");
  const seen = await page.evaluate(() => ({
    cookie: document.cookie,
    storage: JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }),
  }));
  assert(!seen.cookie.includes("kumo_session"), `document.cookie shows the session: ${seen.cookie}`);
  assert(!seen.cookie.includes(session.value), "document.cookie holds the JWT");
  assert(!seen.storage.includes(session.value) && !/eyJ[\w-]+\.eyJ/.test(seen.storage), "a JWT is in local/session storage");
  expectNoConsoleErrors(page);
}

/** A page on another origin that auto-submits a JSON-shaped text/plain form (the classic
 * CSRF against JSON APIs) to create a key pair, and fires a no-cors fetch doing the same. */
function attackerPage(formName, fetchName) {
  const target = `${endpoint}/v1/key-pairs`;
  return `<!doctype html><html><body>
<form id="f" method="post" action="${target}" enctype="text/plain">
<input type="hidden" name='{"key_name":"${formName}","x":"' value='"}'>
</form>
<script>
fetch(${JSON.stringify(target)}, { method: "POST", mode: "no-cors", credentials: "include",
  headers: { "Content-Type": "text/plain" }, body: JSON.stringify({ key_name: ${JSON.stringify(fetchName)} }) })
  .finally(() => document.getElementById("f").submit());
</script></body></html>`;
}

async function attackFrom(page, origin) {
  const target = `${endpoint}/v1/key-pairs`;
  const answers = [];
  const onResponse = async (response) => {
    if (response.url() === target && response.request().method() === "POST") {
      const kind = response.request().resourceType();
      answers.push({ kind, status: response.status(), body: await response.text().catch(() => "") });
    }
  };
  page.on("response", onResponse);
  await page.goto(`${origin}/attack`);
  await waitUntil(`both forged POSTs from ${origin} to be answered`, () => answers.length >= 2, { timeout: 20_000 });
  page.off("response", onResponse);
  console.log(`  forged POSTs from ${origin}: ${answers.map((a) => `${a.kind} → HTTP ${a.status}`).join(", ")}`);
  for (const { status, body } of answers) {
    assert(status === 401 || status === 403, `a forged POST from ${origin} got HTTP ${status}: ${body}`);
  }
  return answers;
}

export async function crossSiteFormRefused(ctx) {
  await adminA(ctx); // signed in: the context holds a live session cookie
  const tags = { crossSite: `csrf-x-${runId}`, sameSite: `csrf-s-${runId}` };
  let html = "";
  const server = createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "text/html" });
    res.end(html);
  });
  await new Promise((resolve) => server.listen(0, resolve));
  const port = server.address().port;
  const page = await ctx.a.context.newPage();
  try {
    // localhost is another site than 127.0.0.1: SameSite=Strict keeps the cookie home.
    html = attackerPage(`${tags.crossSite}-form`, `${tags.crossSite}-fetch`);
    await attackFrom(page, `http://localhost:${port}`);
    // Same site, other origin (another port): the cookie goes, the CSRF token cannot.
    html = attackerPage(`${tags.sameSite}-form`, `${tags.sameSite}-fetch`);
    const answers = await attackFrom(page, `http://127.0.0.1:${port}`);
    for (const { kind, status, body } of answers) {
      eq(status, 403, `a same-site forged POST (${kind})`);
      // The form's answer is a page the browser shows, so its body is readable here.
      if (kind === "document") assert(body.includes("InvalidCsrfToken"), `a same-site forged form was refused without InvalidCsrfToken: ${body}`);
    }
  } finally {
    await page.close();
    server.close();
  }
  const keys = await ctx.apiA.get("/v1/key-pairs");
  const made = keys.filter((k) => k.key_name.startsWith("csrf-"));
  eq(made.length, 0, `key pairs the forged posts created (${made.map((k) => k.key_name)})`);
  // The real console still works with the same cookie (the refusals were about the token).
  const page2 = await adminA(ctx);
  await nav(page2, "Key pairs");
  expectNoConsoleErrors(page2);
}

export async function secondAccountIsolated(ctx) {
  const a = ctx.tenantA;
  assert(a?.vm && a.bucket && a.keyName, "tenant A's instances, bucket or key pair are missing (earlier scenarios failed)");
  // A small object in A's bucket, to be looked for by B.
  const put = await fetch(`${endpoint}/v1/buckets/${a.bucket}/objects/private-notes.txt`, {
    method: "PUT",
    headers: { Authorization: `Bearer ${ctx.apiA.token}`, "Content-Type": "application/octet-stream" },
    body: "A's private notes",
  });
  assert(put.ok, `PUT private-notes.txt: HTTP ${put.status}`);
  const vm = await ctx.apiA.get(`/v1/instances/${a.vm}`);
  const vmIp = vm.network_interfaces[0].private_ip_address;

  // Tenant B, set up through the API (the UI path is the operator scenario's).
  const accountB = `tenant-b-${runId}`;
  const passwordB = `b-admin-${runId}-secret`;
  const made = await ctx.operatorApi.post("/v1/accounts", { name: accountB });
  await ctx.operatorApi.post(`/v1/accounts/${made.account_id}/users`, { user_name: "admin", role: "admin", password: passwordB });
  const { context, page } = await newUser(ctx.browser);
  acceptDialogs(page);
  try {
    await signIn(page, accountB, "admin", passwordB);
    const mustNotShow = [...a.containers, a.vm, a.keyName, a.bucket, vmIp];
    const check = async (where) => {
      const text = await page.locator("body").innerText();
      const leaked = mustNotShow.filter((s) => text.includes(s));
      assert(leaked.length === 0, `${where} shows tenant A's ${leaked.join(", ")}`);
    };
    for (const [name, settledText] of [
      ["Instances", /no instances|launch/i],
      ["Key pairs", /no key pairs|import/i],
      ["Buckets", /no buckets|create bucket/i],
      ["Volumes", /no volumes|create/i],
    ]) {
      await nav(page, name);
      await page.getByText(settledText).first().waitFor();
      await check(`B's ${name} page`);
    }
    // Typing A's URLs: a plain not-found, nothing of A's.
    await open(page, `/instances/${a.vm}`);
    await page.getByText(/not found|does not exist|no such|doesn't exist/i).first().waitFor();
    await check(`B's /console/instances/${a.vm}`);
    await screenshot(page, "isolation-instance-not-found");
    await open(page, `/buckets/${a.bucket}`);
    await page.getByRole("alert").first().waitFor();
    await check(`B's /console/buckets/${a.bucket}`);
    const bodyText = await page.locator("body").innerText();
    assert(!bodyText.includes("private-notes.txt"), "B sees the object in A's bucket");
    // And the API agrees.
    const apiB = await Api.login(accountB, "admin", passwordB);
    eq((await apiB.call("GET", `/v1/instances/${a.vm}`)).status, 404, "B's GET of A's instance");
    expectNoConsoleErrors(page);
  } finally {
    await context.close();
  }
}

const WRITE_BUTTON = /^(launch|create|import|register|delete|terminate|stop|start|reboot|upload|remove|add|new|enable|disable|suspend|allocate|associate|attach|detach|release|snapshot|copy|restore|change|end all)\b/i;

export async function readerIsReadOnly(ctx) {
  const a = ctx.tenantA;
  const password = `reader-${runId}-secret`;
  await ctx.apiA.post(`/v1/accounts/${a.accountId}/users`, { user_name: "viewer", role: "reader", password });
  const { context, page } = await newUser(ctx.browser);
  try {
    await signIn(page, a.account, "viewer", password);
    const pages = [
      ["Instances", a.containers?.[0]],
      ["Key pairs", a.keyName],
      ["Buckets", a.bucket],
      ["Users and keys", "viewer"],
      ["Volumes", undefined],
    ];
    for (const [name, shows] of pages) {
      await nav(page, name);
      if (shows) await page.getByText(shows).first().waitFor();
      const writes = await writeControls(page);
      assert(writes.length === 0, `the reader sees ${writes.join(", ")} on ${name}`);
    }
    await screenshot(page, "reader-instances-read-only");
    if (a.containers?.[0]) {
      await open(page, `/instances/${a.containers[0]}`);
      await heading(page, new RegExp(a.containers[0]));
      const writes = await writeControls(page);
      assert(writes.length === 0, `the reader sees ${writes.join(", ")} on an instance`);
    }
    if (a.bucket) {
      await open(page, `/buckets/${a.bucket}`);
      await heading(page, new RegExp(a.bucket));
      const writes = await writeControls(page);
      assert(writes.length === 0, `the reader sees ${writes.join(", ")} in a bucket`);
    }
    // Calling the API anyway, as a page script with the console's own CSRF token: refused
    // with a 403 whose message says why in plain words.
    const refused = await page.evaluate(async () => {
      const csrf = document.cookie.split("; ").find((c) => c.startsWith("kumo_csrf="))?.slice("kumo_csrf=".length) ?? "";
      const response = await fetch("/v1/key-pairs", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": decodeURIComponent(csrf) },
        body: JSON.stringify({ key_name: "reader-wrote-this" }),
      });
      return { status: response.status, body: await response.json().catch(() => null), hadCsrf: csrf.length > 0 };
    });
    assert(refused.hadCsrf, "the reader's page has no kumo_csrf cookie");
    eq(refused.status, 403, "a reader's POST /v1/key-pairs");
    const message = refused.body?.error?.message ?? "";
    assert(message.split(" ").length >= 4, `the refusal is not in plain words: ${JSON.stringify(refused.body)}`);
    assert(refused.body?.request_id, "the refusal has no request id");
    assert(!(await ctx.apiA.get("/v1/key-pairs")).some((k) => k.key_name === "reader-wrote-this"), "the reader's key pair was created");
    // The launch wizard's URL typed by a reader: told its role may not, no form.
    await open(page, "/instances/launch");
    await page.getByText(/your role \(reader\)/i).first().waitFor();
    eq(await page.getByRole("form").count(), 0, "forms on the launch page for a reader");
    // A reader typing an operator page's URL: told plainly, nothing shown.
    await open(page, "/operator/accounts");
    await page.getByText(/not found|not allowed|no page/i).first().waitFor();
    expectNoConsoleErrors(page);
  } finally {
    await context.close();
  }
}

/** The names of visible buttons and links that would change something. */
async function writeControls(page) {
  const names = [];
  for (const control of await page.locator("main").getByRole("button").or(page.locator("main").getByRole("link")).all()) {
    if (!(await control.isVisible())) continue;
    const name = ((await control.getAttribute("aria-label")) ?? (await control.innerText())).trim();
    if (WRITE_BUTTON.test(name)) names.push(name);
  }
  return names;
}
