// Bundles entry.mjs into a single browser ES module: node build.mjs OUTFILE
import { build } from "esbuild";
import { fileURLToPath } from "node:url";

const outfile = process.argv[2];
if (!outfile) {
  console.error("usage: node build.mjs OUTFILE");
  process.exit(2);
}
await build({
  entryPoints: [fileURLToPath(new URL("./entry.mjs", import.meta.url))],
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  outfile,
  // tweetnacl (under @nats-io/nkeys) falls back to Node's crypto only when
  // the global Web Crypto is missing; in a browser it never is.
  external: ["crypto"],
  logLevel: "warning",
});
