import { describe, expect, it } from 'vitest';

import { ApiError, errorMessage, fieldErrorsOf, FORM, formatBytes, toApiError } from './errors';

describe('ApiError', () => {
  it('maps a 422 to the fields its locations name', () => {
    const error = new ApiError(422, {
      detail: [
        { loc: ['body', 'title'], msg: 'String should have at least 1 character', type: 'x' },
        { loc: ['body', 'body'], msg: 'String should have at most 20000 characters', type: 'x' },
        { loc: ['body', 'title'], msg: 'second problem', type: 'x' },
      ],
    });
    expect(error.fieldErrors).toEqual({
      title: 'String should have at least 1 character; second problem',
      body: 'String should have at most 20000 characters',
    });
    expect(fieldErrorsOf(error)).toBe(error.fieldErrors);
  });

  it('files errors of the whole body under the form, without pydantic prefixes', () => {
    const error = new ApiError(422, {
      detail: [
        {
          loc: ['body'],
          msg: 'Value error, give at least one of the fields title, body',
          type: 'value_error',
        },
      ],
    });
    expect(error.fieldErrors).toEqual({ [FORM]: 'give at least one of the fields title, body' });
    expect(error.message).toBe('Please correct: give at least one of the fields title, body.');
  });

  it('ignores malformed validation details instead of failing', () => {
    expect(new ApiError(422, { detail: 'nope' }).fieldErrors).toEqual({});
    expect(new ApiError(422, { detail: [null, { loc: 'x', msg: 1 }] }).fieldErrors).toEqual({});
    expect(new ApiError(422, '<html>').message).toBe('The request was invalid.');
  });

  it('names the upload limit on 413', () => {
    const error = new ApiError(413, { detail: 'file: the upload is larger than 10485760 bytes' });
    expect(error.message).toBe('The file is too large: the server accepts files up to 10 MiB.');
    // nginx's own 413 page (beyond client_max_body_size) has no JSON detail.
    expect(new ApiError(413, '<html>413</html>').message).toBe(
      'The file is too large for the server.',
    );
  });

  it('explains rate limiting and says when to retry', () => {
    expect(new ApiError(429, '<html>', '7').message).toBe(
      'Too many requests: the server limits how fast one client may call it. Retry in 7 s.',
    );
    expect(new ApiError(429, '').retryAfterSeconds).toBeNull();
    expect(new ApiError(429, '', 'soon').message).toContain('Retry in a few seconds.');
  });

  it('reports 5xx with the status and the detail', () => {
    const error = new ApiError(503, { detail: 'database unavailable, retry later' }, '5');
    expect(error.message).toBe(
      'The server could not complete the request (HTTP 503: database unavailable, retry later). Retry in 5 s.',
    );
    expect(new ApiError(502, '<html>Bad Gateway</html>').message).toBe(
      'The server could not complete the request (HTTP 502). Retry in a few seconds.',
    );
  });

  it('says when no answer came at all', () => {
    const error = toApiError(new TypeError('Failed to fetch'), undefined);
    expect(error.status).toBe(0);
    expect(error.message).toMatch(/could not be reached/);
  });

  it('reads the status and Retry-After of a response', () => {
    const response = new Response(null, { status: 429, headers: { 'Retry-After': '3' } });
    const error = toApiError('', response);
    expect(error.status).toBe(429);
    expect(error.retryAfterSeconds).toBe(3);
  });

  it('describes other errors and non-errors', () => {
    expect(errorMessage(new Error('boom'))).toBe('boom');
    expect(errorMessage('odd')).toBe('Something went wrong. Retry in a moment.');
    expect(new ApiError(404, { detail: 'note_id: no note with this id' }).message).toMatch(
      /deleted/,
    );
    expect(new ApiError(409, { detail: 'conflict' }).message).toBe(
      'The request was refused (HTTP 409): conflict.',
    );
  });
});

describe('formatBytes', () => {
  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1024, '1 KiB'],
    [1536, '1.5 KiB'],
    [10 * 1024 * 1024, '10 MiB'],
    [15 * 1024 * 1024 * 1024, '15 GiB'],
  ])('%d bytes is %s', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });
});
