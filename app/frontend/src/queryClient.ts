import { QueryClient } from '@tanstack/react-query';

import { ApiError } from './api/errors';

const MAX_RETRIES = 2;

/** Retry reads that may succeed later (no answer, 5xx); a 4xx will not change by retrying. */
export function shouldRetry(failures: number, error: unknown): boolean {
  const transient = error instanceof ApiError && (error.status === 0 || error.status >= 500);
  return transient && failures < MAX_RETRIES;
}

/** `retryDelayMs` replaces TanStack's exponential back-off (tests use 0). */
export function createQueryClient({ retryDelayMs }: { retryDelayMs?: number } = {}): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        retry: shouldRetry,
        staleTime: 5_000,
        ...(retryDelayMs === undefined ? {} : { retryDelay: retryDelayMs }),
      },
      mutations: { retry: false },
    },
  });
}
