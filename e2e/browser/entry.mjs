// The part of the NATS JavaScript client the test page uses. build.mjs
// bundles it (and its dependencies) into one ESM file for the browser.
export { createInbox, headers, wsconnect } from "@nats-io/nats-core";
