// Opens the test page in headless Chromium and prints the page's JSON
// report on one line of stdout; exits 0 when the page reported ok, 1
// otherwise. Diagnostics go to stderr.
//
//   node run.mjs PAGE_URL [PROFILE_DIR]
//
// PROFILE_DIR is a fresh, empty directory for Chromium's profile
// (browser_test.go passes one so that it can check that no Chromium
// process outlives this script). The Chromium is Debian's, at
// $CHROMIUM or /usr/bin/chromium; playwright-core downloads nothing.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [pageURL, profileArg] = process.argv.slice(2);
if (!pageURL) {
  console.error("usage: node run.mjs PAGE_URL [PROFILE_DIR]");
  process.exit(2);
}
const timeoutMs = Number(process.env.E2E_TIMEOUT_MS || 40000);
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const profile = profileArg || mkdtempSync(join(tmpdir(), "wsbroker-e2e-"));

const report = { ok: false };
const pageErrors = [];
const handshakes = [];
let context;

// Whatever happens, the browser is closed before the process exits.
const hardStop = setTimeout(() => {
  console.error(`run.mjs: no result after ${timeoutMs + 10000} ms, giving up`);
  finish(1);
}, timeoutMs + 10000);

let finishing = false;
async function finish(code) {
  if (finishing) return;
  finishing = true;
  clearTimeout(hardStop);
  if (context) {
    const c = context;
    context = undefined;
    await c.close().catch((err) => console.error("run.mjs: closing Chromium:", err.message));
  }
  if (!profileArg) rmSync(profile, { recursive: true, force: true });
  process.stdout.write(JSON.stringify(report) + "\n", () => process.exit(code));
}
for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => {
    report.error = `interrupted by ${sig}`;
    finish(1);
  });
}

try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    // We close the browser ourselves on SIGTERM/SIGINT (finish above).
    handleSIGTERM: false,
    handleSIGINT: false,
    handleSIGHUP: false,
    timeout: 20000,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const page = context.pages()[0] || (await context.newPage());
  page.on("console", (m) => console.error(`page console.${m.type()}: ${m.text()}`));
  page.on("pageerror", (err) => {
    pageErrors.push(String(err));
    console.error("page error:", err);
  });

  // The websocket handshake as Chromium saw it, from the DevTools protocol:
  // which extensions were offered and which the broker accepted.
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  const byId = new Map();
  cdp.on("Network.webSocketCreated", (e) => {
    const hs = { url: e.url };
    byId.set(e.requestId, hs);
    handshakes.push(hs);
  });
  cdp.on("Network.webSocketWillSendHandshakeRequest", (e) => {
    const hs = byId.get(e.requestId);
    if (hs) hs.request = lower(e.request.headers);
  });
  cdp.on("Network.webSocketHandshakeResponseReceived", (e) => {
    const hs = byId.get(e.requestId);
    if (hs) {
      hs.status = e.response.status;
      hs.response = lower(e.response.headers);
    }
  });
  cdp.on("Network.webSocketFrameError", (e) => {
    const hs = byId.get(e.requestId);
    if (hs) hs.frameError = e.errorMessage;
  });

  await page.goto(pageURL, { timeout: 10000 });
  await page.waitForFunction(() => document.getElementById("result")?.dataset.done === "1", null, {
    timeout: timeoutMs,
  });
  const text = await page.textContent("#result");
  Object.assign(report, JSON.parse(text));
} catch (err) {
  report.ok = false;
  report.error ||= `run.mjs: ${err?.message || err}`;
  if (context) {
    // Whatever the page got to before it failed.
    try {
      const page = context.pages()[0];
      report.partial = page ? await page.textContent("#result", { timeout: 1000 }) : "";
    } catch {
      // nothing to add
    }
  }
}
report.pageErrors = pageErrors;
report.handshakes = handshakes;
await finish(report.ok && pageErrors.length === 0 ? 0 : 1);

function lower(h) {
  const out = {};
  for (const [k, v] of Object.entries(h || {})) out[k.toLowerCase()] = v;
  return out;
}
