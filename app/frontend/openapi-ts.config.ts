// The typed API client, generated from the backend's OpenAPI document (see scripts/client.sh).
// OPENAPI_INPUT and OPENAPI_OUTPUT let the freshness check generate into a scratch directory.
import { defineConfig } from '@hey-api/openapi-ts';

export default defineConfig({
  input: process.env.OPENAPI_INPUT ?? './openapi.json',
  output: { path: process.env.OPENAPI_OUTPUT ?? './src/client' },
  logs: { level: 'warn', file: false },
  plugins: [
    { name: '@hey-api/client-fetch', throwOnError: true },
    '@hey-api/typescript',
    '@hey-api/sdk',
  ],
});
