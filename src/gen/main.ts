/** `npm run gen`: rewrite every file generated from the catalogue. */
import { writeFileSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { GENERATED_FILES } from './files.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
for (const [rel, render] of Object.entries(GENERATED_FILES)) {
  const path = `${root}${rel}`;
  mkdirSync(path.slice(0, path.lastIndexOf('/')), { recursive: true });
  writeFileSync(path, render());
  console.log(`wrote ${rel}`);
}
