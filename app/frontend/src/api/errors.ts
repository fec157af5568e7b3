// What went wrong with an API call, in terms a person can act on.
//
// Every failed call becomes an ApiError: the HTTP status (0 when no response arrived), the body
// and, for a 422, the message of each field it names (FastAPI's `detail[].loc`).

/** The key of errors that concern the whole form rather than one field. */
export const FORM = '_form';

export type FieldErrors = Readonly<Record<string, string>>;

export class ApiError extends Error {
  readonly status: number;
  readonly detail: unknown;
  readonly fieldErrors: FieldErrors;
  readonly retryAfterSeconds: number | null;

  constructor(status: number, body: unknown, retryAfter: string | null = null) {
    const detail = isRecord(body) ? body.detail : body;
    const fieldErrors = status === 422 ? validationErrors(detail) : {};
    super(messageFor(status, detail, fieldErrors, parseRetryAfter(retryAfter)));
    this.name = 'ApiError';
    this.status = status;
    this.detail = detail;
    this.fieldErrors = fieldErrors;
    this.retryAfterSeconds = parseRetryAfter(retryAfter);
  }
}

/** The error of a fetch that failed: a response with an error status, or none at all. */
export function toApiError(body: unknown, response: Response | undefined): ApiError {
  if (response === undefined) {
    return new ApiError(0, body);
  }
  return new ApiError(response.status, body, response.headers.get('Retry-After'));
}

/** A message for anything a query or mutation may throw. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) {
    return error.message;
  }
  return 'Something went wrong. Retry in a moment.';
}

/** The field errors of a failed call (empty unless it was a 422 naming fields). */
export function fieldErrorsOf(error: unknown): FieldErrors {
  return error instanceof ApiError ? error.fieldErrors : {};
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const LOCATIONS = new Set(['body', 'query', 'path']);

/** FastAPI's `[{loc: ["body", "title"], msg}]` as `{title: msg}`; `["body"]` concerns the form. */
function validationErrors(detail: unknown): FieldErrors {
  if (!Array.isArray(detail)) {
    return {};
  }
  const errors: Record<string, string> = {};
  for (const item of detail) {
    if (!isRecord(item) || typeof item.msg !== 'string' || !Array.isArray(item.loc)) {
      continue;
    }
    const [where, field] = item.loc as unknown[];
    const key =
      typeof where === 'string' && LOCATIONS.has(where) && typeof field === 'string' ? field : FORM;
    const message = item.msg.replace(/^Value error, /, '');
    errors[key] = errors[key] ? `${errors[key]}; ${message}` : message;
  }
  return errors;
}

function parseRetryAfter(value: string | null): number | null {
  if (value === null || !/^\d+$/.test(value.trim())) {
    return null;
  }
  return Number(value);
}

/** The API's own short `detail` string; an HTML error page (from a proxy) is not shown. */
function detailText(detail: unknown): string {
  if (typeof detail !== 'string' || detail.trimStart().startsWith('<')) {
    return '';
  }
  return detail.length < 300 ? detail : '';
}

/** "file: the upload is larger than 10485760 bytes" -> "10 MiB". */
function uploadLimit(detail: unknown): string {
  const match = /larger than (\d+) bytes/.exec(detailText(detail));
  return match?.[1] ? formatBytes(Number(match[1])) : '';
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) {
    return `${bytes} B`;
  }
  const units = ['KiB', 'MiB', 'GiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = value >= 10 || Number.isInteger(value) ? 0 : 1;
  return `${value.toFixed(digits)} ${units[unit] ?? ''}`;
}

function messageFor(
  status: number,
  detail: unknown,
  fieldErrors: FieldErrors,
  retryAfter: number | null,
): string {
  const retry = retryAfter === null ? 'Retry in a few seconds.' : `Retry in ${retryAfter} s.`;
  if (status === 0) {
    return 'The server could not be reached. Check your connection, then retry.';
  }
  if (status === 413) {
    const limit = uploadLimit(detail);
    return limit
      ? `The file is too large: the server accepts files up to ${limit}.`
      : 'The file is too large for the server.';
  }
  if (status === 422) {
    const messages = Object.values(fieldErrors);
    return messages.length > 0
      ? `Please correct: ${messages.join('; ')}.`
      : 'The request was invalid.';
  }
  if (status === 429) {
    return `Too many requests: the server limits how fast one client may call it. ${retry}`;
  }
  if (status === 404) {
    return 'Not found: it may have been deleted in the meantime. Reload the list.';
  }
  const text = detailText(detail);
  if (status >= 500) {
    const why = text ? `: ${text}` : '';
    return `The server could not complete the request (HTTP ${status}${why}). ${retry}`;
  }
  return `The request was refused (HTTP ${status})${text ? `: ${text}` : ''}.`;
}
