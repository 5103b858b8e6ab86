import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

// Stages meet only through contracts: a stage folder may import src/pipeline, src/config,
// src/errors.ts and src/observability, never another stage. Only src/main.ts and src/cli wire
// stages together.
const STAGES = ['sources', 'windowing', 'model', 'detection', 'training', 'sinks', 'evaluation', 'view', 'admin'];

const stageRules = STAGES.map((stage) => ({
  files: [`src/${stage}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          {
            regex: `^\\.\\./(?!${stage}/)(${STAGES.join('|')}|cli)(/|$)`,
            message: `src/${stage} may import only contracts (pipeline, config, errors, observability), not another stage; wire stages in src/main.ts or src/cli.`,
          },
          { regex: '^\\.\\./main(\\.js)?$', message: 'stages never import main.' },
        ],
      },
    ],
  },
}));

export default tseslint.config(
  { ignores: ['dist/**', 'eslint.config.js', 'node_modules/**', '.kafka/**', '.venv/**', '.cache/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        { selector: 'ExportDefaultDeclaration', message: 'Named exports only.' },
        { selector: 'ExportAllDeclaration', message: 'No export * barrels.' },
      ],
    },
  },
  {
    // Type-aware rules: a promise nobody awaits loses its error, and a promise handed to a
    // callback that expects void (an event handler, setInterval) is never awaited either.
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', name: ['test', 'it', 'describe', 'suite'], package: 'node:test' },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
    },
  },
  ...stageRules,
  {
    // The live view's and reports' browser scripts: classic scripts over the inlined uPlot.
    files: ['src/view/browser/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: { ...globals.browser, uPlot: 'readonly' },
    },
  },
  {
    files: ['src/view/browser/live.js', 'src/view/browser/report.js'],
    languageOptions: { globals: { aemonCharts: 'readonly' } },
  },
  {
    files: ['src/pipeline/**/*.ts', 'src/config/**/*.ts', 'src/observability/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: `^\\.\\./(${STAGES.join('|')}|cli|main)(/|\\.js|$)`, message: 'contracts never import stages.' },
          ],
        },
      ],
    },
  },
);
