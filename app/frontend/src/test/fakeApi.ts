// An in-memory stand-in for the notes API, for component tests only: it answers the generated
// client's fetch calls and the upload's XMLHttpRequest in the backend's shapes (docs/backend.md).
// The real backend is exercised by the browser tests (e2e/), through the real ingress.
import type { Attachment, Note, NotePage, Version } from '../client/types.gen';

interface Failure {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

const BASE = 'http://flightdeck.test';

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  if (status === 204) {
    return new Response(null, { status });
  }
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', ...headers },
  });
}

export class FakeNotesApi {
  readonly baseUrl = BASE;
  notes: Note[] = [];
  version: Version = { version: '1.0.0', track: 'stable', commit: 'abc1234' };
  readonly requests: string[] = [];
  private readonly failures = new Map<string, Failure[]>();
  private counter = 0;

  /** The next request `METHOD /path` (path without query) answers this instead. */
  failNext(route: string, failure: Failure): void {
    this.failures.set(route, [...(this.failures.get(route) ?? []), failure]);
  }

  addNote(title: string, body = ''): Note {
    this.counter += 1;
    // Strictly increasing times: the newest note has the latest created_at.
    const at = new Date(Date.UTC(2026, 0, 1, 12, 0, this.counter)).toISOString();
    const note: Note = {
      id: this.counter.toString(16).padStart(24, '0'),
      title,
      body,
      created_at: at,
      updated_at: at,
      attachments: [],
    };
    this.notes.unshift(note);
    return note;
  }

  private takeFailure(route: string): Failure | undefined {
    const queue = this.failures.get(route);
    return queue?.shift();
  }

  readonly fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    const route = `${request.method} ${url.pathname}`;
    this.requests.push(`${route}${url.search}`);
    const failure = this.takeFailure(route);
    if (failure) {
      return json(failure.status, failure.body, failure.headers);
    }
    return this.answer(request, url);
  };

  private async answer(request: Request, url: URL): Promise<Response> {
    const path = url.pathname;
    if (request.method === 'GET' && path === '/api/version') {
      return json(200, this.version);
    }
    if (request.method === 'GET' && path === '/api/notes') {
      return json(200, this.page(url.searchParams));
    }
    if (request.method === 'POST' && path === '/api/notes') {
      const body = (await request.json()) as { title: string; body?: string };
      return json(201, this.addNote(body.title, body.body ?? ''));
    }
    const match = /^\/api\/notes\/([0-9a-f]{24})$/.exec(path);
    const note = match ? this.notes.find((n) => n.id === match[1]) : undefined;
    if (!note) {
      return json(404, { detail: 'note_id: no note with this id' });
    }
    if (request.method === 'PATCH') {
      const changes = (await request.json()) as Partial<Pick<Note, 'title' | 'body'>>;
      Object.assign(note, changes, { updated_at: new Date().toISOString() });
      return json(200, note);
    }
    if (request.method === 'DELETE') {
      this.notes = this.notes.filter((n) => n !== note);
      return json(204, null);
    }
    return json(405, { detail: 'Method Not Allowed' });
  }

  private page(params: URLSearchParams): NotePage {
    const limit = Number(params.get('limit') ?? '20');
    const start = Number(params.get('cursor') ?? '0');
    const items = this.notes.slice(start, start + limit);
    const next = start + limit < this.notes.length ? String(start + limit) : null;
    return { items, next_cursor: next };
  }

  /** The upload endpoint, as the fake XMLHttpRequest reaches it. */
  upload(path: string, file: File): Failure {
    const failure = this.takeFailure(`POST ${path}`);
    if (failure) {
      return failure;
    }
    const match = /^\/api\/notes\/([0-9a-f]{24})\/attachments$/.exec(path);
    const note = this.notes.find((n) => n.id === match?.[1]);
    if (!note) {
      return { status: 404, body: { detail: 'note_id: no note with this id' } };
    }
    this.counter += 1;
    const attachment: Attachment = {
      id: this.counter.toString(16).padStart(24, 'a'),
      filename: file.name,
      content_type: file.type || 'application/octet-stream',
      size: file.size,
      created_at: new Date().toISOString(),
    };
    note.attachments.push(attachment);
    return { status: 201, body: attachment };
  }
}

type Listener = (event: ProgressEvent) => void;

/**
 * XMLHttpRequest as the upload uses it, driven by the test: `progress(loaded)` reports upload
 * progress, `respond()` lets the fake API answer. The last instance is `FakeXhr.last`.
 */
export class FakeXhr {
  static api: FakeNotesApi;
  static last: FakeXhr | undefined;
  status = 0;
  responseText = '';
  method = '';
  url = '';
  file: File | undefined;
  aborted = false;
  private readonly listeners = new Map<string, Listener[]>();
  private readonly uploadListeners = new Map<string, Listener[]>();
  private responseHeaders: Record<string, string> = {};
  readonly upload = {
    addEventListener: (type: string, listener: Listener) => {
      this.uploadListeners.set(type, [...(this.uploadListeners.get(type) ?? []), listener]);
    },
  };

  constructor() {
    FakeXhr.last = this;
  }

  addEventListener(type: string, listener: Listener): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }

  open(method: string, url: string): void {
    this.method = method;
    this.url = url;
  }

  send(body: FormData): void {
    const file = body.get('file');
    this.file = file instanceof File ? file : undefined;
  }

  abort(): void {
    this.aborted = true;
    this.emit(this.listeners, 'abort', 0);
  }

  getResponseHeader(name: string): string | null {
    return this.responseHeaders[name] ?? null;
  }

  progress(loaded: number): void {
    this.emit(this.uploadListeners, 'progress', loaded);
  }

  respond(): void {
    if (!this.file) {
      throw new Error('the upload sent no file field');
    }
    const answer = FakeXhr.api.upload(new URL(this.url).pathname, this.file);
    this.status = answer.status;
    this.responseText = JSON.stringify(answer.body);
    this.responseHeaders = answer.headers ?? {};
    this.emit(this.listeners, 'load', this.file.size);
  }

  private emit(map: Map<string, Listener[]>, type: string, loaded: number): void {
    const total = this.file?.size ?? 0;
    const event = { loaded, total, lengthComputable: true } as ProgressEvent;
    for (const listener of map.get(type) ?? []) {
      listener(event);
    }
  }
}
