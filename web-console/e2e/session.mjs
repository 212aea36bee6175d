// The session's life: password change, sign-out, a wrong password in plain words, a session
// that ends under the page (revoked: the same 401 as an expired one) back to sign-in with a
// clear message; and the console on a narrow window, signed in with the keyboard alone.
import { Api, acceptDialogs, assert, expectNoConsoleErrors, heading, nav, newUser, open, operatorPassword, screenshot, signIn, signedIn } from "./lib.mjs";
import { adminA } from "./tenant.mjs";

export async function passwordAndSessionLoss(ctx) {
  const a = ctx.tenantA;
  const page = await adminA(ctx);
  const newPassword = `${a.password}-2`;
  await nav(page, "My account");
  const form = page.getByRole("form", { name: /password/i });
  await form.getByLabel(/current password/i).fill(a.password);
  await form.getByLabel(/^new password/i).fill(newPassword);
  const confirm = form.getByLabel(/confirm|repeat|again/i);
  if (await confirm.count()) await confirm.fill(newPassword);
  await form.getByRole("button", { name: /change password/i }).click();
  await page.getByText(/password (was |is )?changed/i).first().waitFor();
  // Still signed in (fresh cookies came with the change).
  await nav(page, "Instances");
  a.password = newPassword;
  ctx.apiA = await Api.login(a.account, a.user, newPassword);

  // Sign out: back to the sign-in page; the old password is refused in plain words.
  await page.getByRole("button", { name: /sign out/i }).click();
  await page.getByRole("button", { name: /sign in/i }).waitFor();
  await page.getByLabel(/account/i).fill(a.account);
  await page.getByLabel(/user/i).fill(a.user);
  await page.getByLabel(/^password/i).fill(`${newPassword.slice(0, -2)}`);
  await page.getByRole("button", { name: /sign in/i }).click();
  const alert = page.getByRole("alert").first();
  await alert.waitFor();
  const said = await alert.innerText();
  assert(said.split(/\s+/).length >= 4, `the wrong-password message is not in plain words: ${said}`);
  assert(/request id/i.test(said), `the wrong-password message has no request id: ${said}`);
  await screenshot(page, "sign-in-refused");
  await signIn(page, a.account, a.user, newPassword);

  // The session ends under the page: the operator signs the user out everywhere.
  await ctx.operatorApi.post(`/v1/accounts/${a.accountId}/users/${a.user}/sign-out`);
  await nav(page, "Key pairs").catch(() => {});
  await page.getByText(/session has expired or was signed out/i).first().waitFor();
  await page.getByRole("button", { name: /sign in/i }).waitFor();
  await screenshot(page, "session-signed-out");
  await signIn(page, a.account, a.user, newPassword);
  ctx.apiA = await Api.login(a.account, a.user, newPassword);
  expectNoConsoleErrors(page);
}

export async function narrowWindow(ctx) {
  const a = ctx.tenantA;
  const { context, page } = await newUser(ctx.browser, { viewport: { width: 390, height: 800 } });
  acceptDialogs(page);
  try {
    // The keyboard alone: focus the first field, type, Tab, type, Tab, type, Enter.
    await page.goto("/console/");
    await page.getByLabel(/account/i).focus();
    await page.keyboard.type(a.account);
    await page.keyboard.press("Tab");
    await page.keyboard.type(a.user);
    await page.keyboard.press("Tab");
    await page.keyboard.type(a.password);
    await page.keyboard.press("Enter");
    await signedIn(page);
    // The main pages fit the window (screenshot() checks the width).
    for (const [name, shot] of [
      ["Instances", "narrow-instances"],
      ["Key pairs", "narrow-key-pairs"],
      ["Buckets", "narrow-buckets"],
      ["Security groups", "narrow-security-groups"],
      ["Users and keys", "narrow-users"],
      ["My account", "narrow-account"],
    ]) {
      await nav(page, name);
      await heading(page, name);
      await screenshot(page, shot);
    }
    if (a.vm) {
      await open(page, `/instances/${a.vm}`);
      await heading(page, new RegExp(a.vm));
      await screenshot(page, "narrow-instance-detail");
    }
    expectNoConsoleErrors(page);
  } finally {
    await context.close();
  }
}

/** Against a Kumo whose tokens live KUMO_TOKEN_TTL_SECS (cli/tests/console.rs starts one with
 * 10 s): a signed-in page left alone past that goes back to sign-in with the message. */
export async function expires(ctx) {
  const ttl = Number(process.env.KUMO_TOKEN_TTL_SECS);
  assert(ttl > 0 && ttl <= 60, `KUMO_TOKEN_TTL_SECS=${process.env.KUMO_TOKEN_TTL_SECS}: this scenario wants a short token life`);
  const { context, page } = await newUser(ctx.browser);
  try {
    await signIn(page, "operator", "operator", operatorPassword);
    await nav(page, "Accounts");
    await new Promise((r) => setTimeout(r, (ttl + 2) * 1000));
    await nav(page, "Hosts").catch(() => {});
    await page.getByText(/session has expired or was signed out/i).first().waitFor();
    await page.getByRole("button", { name: /sign in/i }).waitFor();
    await screenshot(page, "session-expired");
    // Signing in again works.
    await signIn(page, "operator", "operator", operatorPassword);
    expectNoConsoleErrors(page);
  } finally {
    await context.close();
  }
}
