// The browser side of the end-to-end test (see browser_test.go). It talks
// to the broker mounted at /nats on this page's own origin with the real
// NATS JavaScript client, checks what it can itself, and writes a JSON
// report into <pre id="result" data-done="1">. Query parameters:
//   big=N   size in bytes of the large payloads (0: skip those steps)
import { createInbox, headers, wsconnect } from "./nats.js";

const params = new URLSearchParams(location.search);
const big = Number(params.get("big") || 0);
const enc = new TextEncoder();
const dec = new TextDecoder();

// payload returns n deterministic bytes; browser_test.go has the same
// generator: xorshift32 picks tokens that include NUL, CR LF, bytes that
// are not valid UTF-8 and protocol words. The token sequence leaves
// deflate repeats to find, as real messages do.
const TOKENS = ["MSG ", "PUB ", "\r\n", "\x00\xff\x80", "\xc3\x28", '{"subject":"', "browser.big", '","n":',
  "0123", "456789", "}", " ", "HPUB ", "\x00", "NATS/1.0\r\n", "\xe2\x82"].map((s) => Uint8Array.from(s, (c) => c.charCodeAt(0)));

function payload(n, seed) {
  const out = new Uint8Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; ) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    const t = TOKENS[x & 15];
    for (let j = 0; j < t.length && i < n; j++) out[i++] = t[j];
  }
  return out;
}

function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

async function sha256(data) {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return Array.from(d, (v) => v.toString(16).padStart(2, "0")).join("");
}

function within(ms, what, p) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

// first resolves with the first message of a subscription.
async function first(sub) {
  for await (const m of sub) return m;
  throw new Error(`subscription ${sub.getSubject()} ended without a message`);
}

function hdrs(h) {
  const out = {};
  if (!h) return out;
  for (const k of h.keys()) out[k] = h.values(k);
  return out;
}

const report = { ok: false, steps: [], big };
function step(name) {
  report.steps.push(name);
}

async function run() {
  const url = `ws://${location.host}/nats`;
  report.url = url;
  const nc = await within(10000, "connect", wsconnect({ servers: url, name: "e2e-chromium", timeout: 5000, reconnect: false }));
  step("connected");
  const info = nc.info || {};
  report.server = { version: info.version, proto: info.proto, headers: info.headers, max_payload: info.max_payload, server_id: info.server_id };
  report.connectedServer = nc.getServer();

  // Subscribe before announcing ourselves: the Go side answers
  // browser.hello with a message on page.in.
  const inSub = nc.subscribe("page.in", { max: 1 });
  const bigSub = big > 0 ? nc.subscribe("page.big", { max: 1 }) : null;
  await nc.flush();
  step("subscribed");

  const h = headers();
  h.set("X-E2E", "chromium");
  h.append("X-Multi", "one");
  h.append("X-Multi", "two");
  nc.publish("browser.hello", "hi from browser", { headers: h });
  step("published");

  const echo = await nc.request("svc.echo", "ping", { timeout: 5000 });
  report.echo = echo.string();
  step("echo");

  const pin = await within(10000, "page.in", first(inSub));
  report.pageIn = { data: pin.string(), headers: hdrs(pin.headers) };
  step("page.in");

  if (big > 0) {
    // Browser → broker: a large publish; Go compares it byte for byte.
    nc.publish("browser.big", payload(big, 1));
    step("big published");

    // Round trip: a large request echoed by the Go responder.
    const req = payload(big, 2);
    const rep = await nc.request("svc.echo", req, { timeout: 10000 });
    const want = new Uint8Array(5 + req.length);
    want.set(enc.encode("echo:"));
    want.set(req, 5);
    report.bigEcho = { len: rep.data.length, ok: equalBytes(rep.data, want) };
    step("big echo");

    // Broker → browser: Go publishes page.big after seeing browser.big.
    const m = await within(10000, "page.big", first(bigSub));
    report.pageBig = { len: m.data.length, ok: equalBytes(m.data, payload(big, 3)), sha256: await sha256(m.data) };
    step("big received");
  }

  // A request nobody listens to fails at once with the no-responders
  // error, long before its timeout.
  const t0 = performance.now();
  try {
    await nc.request("nobody", "anyone?", { timeout: 10000 });
    report.noResponders = { error: false };
  } catch (err) {
    report.noResponders = {
      error: true,
      name: err?.name,
      message: err?.message,
      causeName: err?.cause?.name,
      isNoResponders: typeof err?.isNoResponders === "function" ? err.isNoResponders() : false,
      ms: Math.round(performance.now() - t0),
    };
  }
  step("no responders");

  // The same, seen raw: the status message the broker sends to the reply
  // subject.
  const inbox = createInbox();
  const rawSub = nc.subscribe(inbox, { max: 1 });
  nc.publish("nobody", "anyone?", { reply: inbox });
  const st = await within(5000, "no-responders status", first(rawSub));
  report.noRespondersRaw = {
    code: st.headers?.code,
    status: st.headers?.status,
    description: st.headers?.description,
    len: st.data.length,
  };
  step("no responders raw");

  await nc.drain();
  const closeErr = await nc.closed();
  report.closed = closeErr ? String(closeErr) : "";
  step("closed");

  report.ok =
    report.echo === "echo:ping" &&
    report.pageIn.data === "hello page from go" &&
    (big === 0 || (report.bigEcho.ok && report.pageBig.ok)) &&
    report.noResponders.isNoResponders === true &&
    report.noRespondersRaw.code === 503 &&
    report.closed === "";
}

const out = document.getElementById("result");
run()
  .catch((err) => {
    report.ok = false;
    report.error = `${err?.name || "Error"}: ${err?.message || err}`;
  })
  .finally(() => {
    report.userAgent = navigator.userAgent;
    out.textContent = JSON.stringify(report);
    out.dataset.done = "1";
    document.title = report.ok ? "wsbroker e2e: ok" : "wsbroker e2e: FAILED";
  });
