// What the console's browser tests share: Debian's Chromium through playwright-core, one
// fresh browser context per user, sign-in, screenshots, console-error collection, and a
// small client of the native API (Bearer token) for setting up and checking behind the UI.
import { mkdirSync } from "node:fs";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const endpoint = (process.env.KUMO_ENDPOINT ?? "").replace(/\/+$/, "");
export const operatorPassword = process.env.KUMO_OPERATOR_PASSWORD ?? "";
export const screenshotsDir = process.env.KUMO_SCREENSHOTS ?? "console-screenshots";
export const CHROMIUM = process.env.KUMO_CHROMIUM ?? "/usr/bin/chromium";

// Bounded waits; a slow machine only waits longer, never fails sooner than these.
export const UI_TIMEOUT = 30_000;
// Instance state changes: seconds on an idle machine, minutes on a loaded one (seen: a
// container's stop took 3 minutes at a load average of 15 on 2 cores).
export const STATE_TIMEOUT = 480_000;

/** Debian's Chromium, headless. As root it needs --no-sandbox; the rest keep it off the
 * network this closed machine does not have (its refusals would be noise and delays). */
export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: run deploy/install-deps.sh --test (Debian package chromium)`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}

// Every page's console errors and uncaught exceptions, with the scenario that saw them.
const consoleErrors = [];
let currentScenario = "";
export function setScenario(name) {
  currentScenario = name;
}
export function allConsoleErrors() {
  return consoleErrors;
}

// Chromium logs every HTTP error response as a console error ("Failed to load resource:
// the server responded with a status of 401"). A 4xx the page handles (sign-in's session
// probe, a not-found URL, a reader's refusal) is the API working, not a console error;
// 5xx answers and everything else count.
const HANDLED_HTTP_ERROR = /^Failed to load resource: the server responded with a status of 4\d\d/;

function watch(page) {
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    const text = message.text();
    if (HANDLED_HTTP_ERROR.test(text)) return;
    const where = message.location()?.url ?? page.url();
    consoleErrors.push({ scenario: currentScenario, page, text: `${text} (at ${where})` });
  });
  page.on("pageerror", (error) => {
    consoleErrors.push({ scenario: currentScenario, page, text: `uncaught: ${error.stack ?? error}` });
  });
}

/** A fresh browser context (its own cookies: one per user) and a page in it, at 1280×800
 * unless `viewport` says otherwise, its console errors collected. */
export async function newUser(browser, { viewport = { width: 1280, height: 800 } } = {}) {
  const context = await browser.newContext({ baseURL: endpoint, viewport, acceptDownloads: true });
  context.setDefaultTimeout(UI_TIMEOUT);
  context.on("page", watch);
  const page = await context.newPage();
  return { context, page };
}

/** The console errors this page logged so far; throws when there are any. */
export function expectNoConsoleErrors(page) {
  const mine = consoleErrors.filter((e) => e.page === page).map((e) => e.text);
  if (mine.length) throw new Error(`console errors on the page:\n  ${mine.join("\n  ")}`);
}

/** Sign in through the sign-in page, then wait for the signed-in layout (its sign-out button). */
export async function signIn(page, account, user, password) {
  await page.goto("/console/");
  await page.getByLabel(/account/i).fill(account);
  await page.getByLabel(/user/i).fill(user);
  await page.getByLabel(/^password/i).fill(password);
  await page.getByRole("button", { name: /sign in/i }).click();
  await signedIn(page);
}

/** Waits until the page shows the signed-in layout. */
export async function signedIn(page) {
  await page.getByRole("button", { name: /sign out/i }).waitFor({ state: "visible" });
}

/** Go to an app path ("/instances") by URL, as a user typing it would. */
export async function open(page, path) {
  await page.goto(`/console${path.startsWith("/") ? path : `/${path}`}`);
}

/** Follow the navigation link named `name` (e.g. "Instances"). */
export async function nav(page, name) {
  const link = page.getByRole("navigation", { name: "Main" }).getByRole("link", { name, exact: true });
  // On a narrow window the navigation hides behind its Menu button.
  if (!(await link.isVisible())) await page.getByRole("button", { name: "Menu" }).click();
  const target = await link.getAttribute("href");
  await link.click();
  await page.waitForURL((url) => url.pathname === target);
  await page.getByRole("main").getByRole("heading", { level: 1 }).first().waitFor();
}

/** Waits for the page's h1 to read `title` (a string: exact; or a RegExp). */
export async function heading(page, title) {
  await page.getByRole("heading", { level: 1, name: title }).waitFor();
}

/** Accept the next confirm() dialog (destructive actions ask first). */
export function acceptDialogs(page) {
  if (page.__kumoDialogs) return;
  page.__kumoDialogs = true;
  page.on("dialog", (dialog) => dialog.accept().catch(() => {}));
}

/** The table row (role row) holding `text`. */
export function row(page, text, tableName) {
  const scope = tableName ? page.getByRole("table", { name: tableName }) : page;
  return scope.getByRole("row").filter({ hasText: text });
}

/** Select the option of the <select> labelled `label` whose text matches `pattern`. */
export async function selectMatching(scope, label, pattern) {
  const select = scope.getByLabel(label);
  await waitUntil(`an option matching ${pattern} in "${label}"`, async () => {
    const options = await select.locator("option").allTextContents();
    return options.some((o) => pattern.test(o));
  }, { timeout: UI_TIMEOUT });
  const options = await select.locator("option").evaluateAll((els) => els.map((e) => ({ value: e.value, text: e.textContent ?? "" })));
  const option = options.find((o) => pattern.test(o.text));
  await select.selectOption(option.value);
}

/** A full-page PNG at KUMO_SCREENSHOTS/<name>.png. */
export async function screenshot(page, name) {
  mkdirSync(screenshotsDir, { recursive: true });
  // Let polling lists settle out of their loading state first (bounded).
  await page.waitForLoadState("networkidle", { timeout: 5_000 }).catch(() => {});
  await page.screenshot({ path: join(screenshotsDir, `${name}.png`), fullPage: true });
  // Every page fits its window's width (wide tables scroll inside their own box).
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 1) {
    const width = page.viewportSize()?.width;
    throw new Error(`${name}: the page is ${overflow}px wider than the ${width}px window (see ${name}.png)`);
  }
}

/** Waits (bounded) until `check()` returns a truthy value, which it returns. */
export async function waitUntil(what, check, { timeout = STATE_TIMEOUT, interval = 500 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, interval));
  }
  throw new Error(`timed out after ${timeout / 1000} s waiting for ${what}${last ? ` (last error: ${last.message})` : ""}`);
}

export function assert(condition, message) {
  if (!condition) throw new Error(message);
}

export function eq(got, want, what) {
  if (got !== want) throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

/** The native API with a Bearer token (POST /v1/login), for setup and checks behind the UI. */
export class Api {
  constructor(token, who) {
    this.token = token;
    this.who = who;
  }

  static async login(account, user, password) {
    const response = await raw("POST", "/v1/login", { account, user_name: user, password });
    if (response.status !== 200) {
      throw new Error(`login as ${account}/${user}: HTTP ${response.status} ${JSON.stringify(response.body)}`);
    }
    return new Api(response.body.token, `${account}/${user}`);
  }

  /** {status, body, headers} whatever the status. */
  call(method, path, body) {
    return raw(method, path, body, { Authorization: `Bearer ${this.token}` });
  }

  /** The body of a 2xx answer; throws with the error otherwise. */
  async ok(method, path, body) {
    const response = await this.call(method, path, body);
    if (response.status < 200 || response.status > 299) {
      throw new Error(`${this.who}: ${method} ${path}: HTTP ${response.status} ${JSON.stringify(response.body)}`);
    }
    return response.body;
  }

  get(path) {
    return this.ok("GET", path);
  }
  post(path, body = {}) {
    return this.ok("POST", path, body);
  }
  del(path) {
    return this.ok("DELETE", path);
  }
}

/** One HTTP request to Kumo: JSON in, JSON (or text) out. */
export async function raw(method, path, body, headers = {}) {
  const response = await fetch(`${endpoint}${path}`, {
    method,
    headers: { Accept: "application/json", ...(body === undefined ? {} : { "Content-Type": "application/json" }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    redirect: "manual",
  });
  const text = await response.text();
  let parsed = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, body: parsed, headers: response.headers };
}

/** A name unique to this run (accounts, buckets and users outlive nothing: each run has its
 * own kumo up, but a re-run against the same endpoint must not collide). */
export const runId = Date.now().toString(36).slice(-5);
