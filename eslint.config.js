import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules', 'data', 'coverage', '.bench', '.probe', 'test/.guide-tmp'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Config is resolved once in src/config.ts; nothing else reads process.env.
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Read settings through loadConfig() in src/config.ts.' }],
    },
  },
  {
    files: ['src/config.ts', 'scripts/**', 'test/**', 'vitest.config.ts'],
    rules: { 'no-restricted-properties': 'off' },
  },
);
