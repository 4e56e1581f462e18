import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Type-checks with the repo's tsconfig.json while some files read differently: `files` maps a path
 * relative to the repo root to its text, replacing the file on disk or adding one that does not exist.
 * Nothing is written, so nothing can be left behind. `roots`: 'project' checks every file `npm run
 * typecheck` checks (plus the added ones); a list checks those files and what they import.
 * Returns the diagnostics as "path:line: message" lines.
 */
export function typecheckWith(files: Readonly<Record<string, string>>, roots: 'project' | readonly string[]): string[] {
  const parsed = ts.parseJsonConfigFileContent(ts.readConfigFile(path.join(repoRoot, 'tsconfig.json'), ts.sys.readFile).config, ts.sys, repoRoot);
  const virtual = new Map(Object.entries(files).map(([file, text]) => [path.join(repoRoot, file), text]));
  const host = ts.createCompilerHost(parsed.options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (fileName, language, onError, shouldCreate) => {
    const text = virtual.get(path.resolve(fileName));
    return text === undefined ? getSourceFile.call(host, fileName, language, onError, shouldCreate) : ts.createSourceFile(fileName, text, language);
  };
  host.fileExists = (fileName) => virtual.has(path.resolve(fileName)) || fileExists.call(host, fileName);
  host.readFile = (fileName) => virtual.get(path.resolve(fileName)) ?? readFile.call(host, fileName);

  const rootNames = roots === 'project' ? [...new Set([...parsed.fileNames, ...virtual.keys()])] : roots.map((file) => path.join(repoRoot, file));
  const program = ts.createProgram({ rootNames, options: parsed.options, host });
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (!d.file || d.start === undefined) return message;
    const { line } = d.file.getLineAndCharacterOfPosition(d.start);
    return `${path.relative(repoRoot, d.file.fileName)}:${line + 1}: ${message}`;
  });
}
