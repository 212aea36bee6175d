// Buckets through the console: create, a 20 MiB upload straight to S3 (multipart, presigned)
// with its progress bar, the download (bytes equal), delete.
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { assert, endpoint, eq, expectNoConsoleErrors, heading, nav, row, runId, screenshot, waitUntil } from "./lib.mjs";
import { adminA } from "./tenant.mjs";

const SIZE = 20 << 20;
const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

/** Records in the page whether a progress bar ever showed, and the highest value it read. */
async function watchProgress(page) {
  await page.evaluate(() => {
    const seen = { shown: false, max: 0 };
    window.__kumoProgress = seen;
    const look = () => {
      for (const el of document.querySelectorAll('progress, [role="progressbar"]')) {
        seen.shown = true;
        const value = el instanceof HTMLProgressElement ? (el.value / (el.max || 1)) * 100 : Number(el.getAttribute("aria-valuenow") ?? 0);
        if (value > seen.max) seen.max = value;
      }
    };
    new MutationObserver(look).observe(document.body, { subtree: true, childList: true, attributes: true });
  });
}

export async function uploadDownloadDelete(ctx) {
  const page = await adminA(ctx);
  const bucket = `photos-${runId}`;
  try {
    await nav(page, "Buckets");
    await page.getByRole("button", { name: /create bucket/i }).first().click();
    const form = page.getByRole("form", { name: /bucket/i });
    await form.getByLabel(/name/i).fill(bucket);
    await form.getByRole("button", { name: /create/i }).click();
    await row(page, bucket).getByRole("link", { name: bucket }).click();
    await heading(page, new RegExp(bucket));
  } catch (error) {
    // The later scenarios still get A's bucket (this one still fails).
    const have = await ctx.apiA.get("/v1/buckets");
    if (!have.some((b) => b.name === bucket)) await ctx.apiA.post("/v1/buckets", { name: bucket }).catch(() => {});
    ctx.tenantA.bucket = bucket;
    throw error;
  }
  ctx.tenantA.bucket = bucket;

  const dir = mkdtempSync(join(tmpdir(), "kumo-console-e2e-"));
  try {
    const file = join(dir, "big.bin");
    const bytes = randomBytes(SIZE);
    writeFileSync(file, bytes);
    await watchProgress(page);
    await page.getByLabel(/upload|choose file|file/i).first().setInputFiles(file);
    // Some pages upload on choosing the file, some on a button.
    const start = page.getByRole("button", { name: /^upload/i });
    if (await start.count()) await start.first().click();
    await row(page, "big.bin").first().waitFor({ timeout: 120_000 });
    const progress = await page.evaluate(() => window.__kumoProgress);
    assert(progress.shown, "no progress bar showed during the upload");
    assert(progress.max >= 99, `the progress bar never reached 100% (max ${progress.max})`);
    const objects = await ctx.apiA.get(`/v1/buckets/${bucket}/objects`);
    const object = objects.objects.find((o) => o.key === "big.bin");
    assert(object, "big.bin not in the API's object list");
    eq(object.size, SIZE, "the stored object's size");
    // Multipart: S3's ETag of a multipart object ends in -<parts>.
    assert(/-\d+"?$/.test(object.etag), `20 MiB was not uploaded in parts (ETag ${object.etag})`);
    await screenshot(page, "bucket-objects");

    // Download: a presigned GET link.
    const link = row(page, "big.bin").getByRole("link", { name: /download/i }).or(row(page, "big.bin").getByRole("button", { name: /download/i }));
    const [download] = await Promise.all([page.waitForEvent("download", { timeout: 60_000 }), link.first().click()]);
    const saved = join(dir, "downloaded.bin");
    await download.saveAs(saved);
    const got = readFileSync(saved);
    eq(got.length, SIZE, "downloaded size");
    eq(sha256(got), sha256(bytes), "downloaded bytes' sha256");
    // The link is presigned: it works without the console's cookie, and only until it expires.
    const url = download.url();
    assert(/X-Amz-Signature=/.test(url), `the download is not a presigned URL: ${url}`);
    assert(url.startsWith(`${endpoint}/`), `the download is not from Kumo: ${url}`);

    await row(page, "big.bin").getByRole("button", { name: /delete/i }).first().click();
    await waitUntil("big.bin to leave the list", async () => !(await row(page, "big.bin").count()), { timeout: 30_000 });
    const after = await ctx.apiA.get(`/v1/buckets/${bucket}/objects`);
    assert(!after.objects.some((o) => o.key === "big.bin"), "big.bin still in the API's object list");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  expectNoConsoleErrors(page);
}
