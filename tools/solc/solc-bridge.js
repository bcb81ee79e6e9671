#!/usr/bin/env node
// Offline stand-in for a native `solc` binary, for py-solc-x (and so Brownie).
// No native solc can be downloaded here; the npm `solc` package (solcjs, WebAssembly)
// is the real compiler. py-solc-x only needs `--version` and `--standard-json`.
//
// We call solcjs's JS API in-process instead of its CLI, which avoids two CLI traps:
// the ">>> Cannot retry compilation with SMT" line on stdout, and stdout truncated past
// 64 KiB when it is a pipe. Imports resolve against the repository root, so a remapping
// such as `@openzeppelin=node_modules/@openzeppelin` works wherever the caller runs.
"use strict";
const fs = require("fs");
const path = require("path");

const root = path.resolve(__dirname, "..", "..");
const solc = require(path.join(root, "node_modules", "solc"));

function findImport(importPath) {
  // Refuse anything that escapes the repository: sources come from here only.
  const candidates = [path.resolve(root, importPath), path.resolve(root, "node_modules", importPath)];
  for (const file of candidates) {
    if (!file.startsWith(root + path.sep)) continue;
    if (fs.existsSync(file)) return { contents: fs.readFileSync(file, "utf8") };
  }
  return { error: `File not found inside ${root}: ${importPath}` };
}

function writeAll(text) {
  // Synchronous writes so nothing is lost when the process exits.
  const buf = Buffer.from(text, "utf8");
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(1, buf, off, buf.length - off);
    } catch (e) {
      if (e.code !== "EAGAIN") throw e;
    }
  }
}

const args = process.argv.slice(2);
if (args.includes("--version")) {
  writeAll(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
  process.exit(0);
}
if (!args.includes("--standard-json")) {
  process.stderr.write("solc-bridge: only --version and --standard-json are supported\n");
  process.exit(2);
}
const input = fs.readFileSync(0, "utf8");
writeAll(solc.compile(input, { import: findImport }) + "\n");
