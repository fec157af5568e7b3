import { describe, expect, it } from 'vitest';

import { ApiError } from './api/errors';
import { shouldRetry } from './queryClient';

describe('shouldRetry', () => {
  it('retries answers that may change: none at all, and 5xx', () => {
    expect(shouldRetry(0, new ApiError(0, null))).toBe(true);
    expect(shouldRetry(1, new ApiError(503, {}))).toBe(true);
  });

  it('gives up after two retries', () => {
    expect(shouldRetry(2, new ApiError(503, {}))).toBe(false);
  });

  it('never retries a 4xx or an unknown error', () => {
    for (const status of [404, 413, 422, 429]) {
      expect(shouldRetry(0, new ApiError(status, {}))).toBe(false);
    }
    expect(shouldRetry(0, new Error('x'))).toBe(false);
  });
});
