import { act, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';

import { PAGE_SIZE } from './api/queries';
import { FakeNotesApi, FakeXhr } from './test/fakeApi';
import { renderApp } from './test/renderApp';

function noteCard(title: string): HTMLElement {
  return screen.getByRole('article', { name: title });
}

describe('the notes list', () => {
  it('shows placeholders, then the empty state when there are no notes', async () => {
    renderApp();
    expect(screen.getByText('Loading the notes…')).toBeInTheDocument();
    expect(await screen.findByText('No notes yet')).toBeInTheDocument();
    expect(screen.queryByRole('list')).not.toBeInTheDocument();
  });

  it('lists the newest first and loads older pages on demand', async () => {
    const api = new FakeNotesApi();
    for (let index = 1; index <= PAGE_SIZE + 3; index += 1) {
      api.addNote(`note ${index}`);
    }
    const { user } = renderApp(api);
    const list = await screen.findByRole('list');
    const titles = within(list)
      .getAllByRole('heading', { level: 3 })
      .map((heading) => heading.textContent);
    expect(titles).toHaveLength(PAGE_SIZE);
    expect(titles[0]).toBe(`note ${PAGE_SIZE + 3}`);
    await user.click(screen.getByRole('button', { name: 'Show older notes' }));
    await waitFor(() => {
      expect(screen.getAllByRole('heading', { level: 3 })).toHaveLength(PAGE_SIZE + 3);
    });
    expect(screen.queryByRole('button', { name: 'Show older notes' })).not.toBeInTheDocument();
    expect(api.requests).toContain(`GET /api/notes?limit=${PAGE_SIZE}&cursor=${PAGE_SIZE}`);
  });

  it('explains a rate limit and recovers with Retry', async () => {
    const api = new FakeNotesApi();
    api.addNote('survivor');
    api.failNext('GET /api/notes', { status: 429, body: '<html>429</html>' });
    const { user } = renderApp(api);
    expect(await screen.findByRole('alert')).toHaveTextContent(
      'Too many requests: the server limits how fast one client may call it.',
    );
    await user.click(screen.getByRole('button', { name: 'Retry' }));
    expect(await screen.findByRole('heading', { name: 'survivor' })).toBeInTheDocument();
  });

  it('reports a server error after retrying it', async () => {
    const api = new FakeNotesApi();
    const outage = {
      status: 503,
      body: { detail: 'database unavailable, retry later' },
      headers: { 'Retry-After': '5' },
    };
    for (let attempt = 0; attempt < 3; attempt += 1) {
      api.failNext('GET /api/notes', outage);
    }
    renderApp(api);
    expect(await screen.findByRole('alert')).toHaveTextContent(
      'The server could not complete the request (HTTP 503: database unavailable, retry later). Retry in 5 s.',
    );
    expect(api.requests.filter((r) => r.startsWith('GET /api/notes'))).toHaveLength(3);
  });
});

describe('writing notes', () => {
  it('creates a note, which appears on top, and empties the form', async () => {
    const api = new FakeNotesApi();
    api.addNote('older');
    const { user } = renderApp(api);
    await screen.findByRole('heading', { name: 'older' });
    await user.type(screen.getByLabelText('Title'), 'Groceries');
    await user.type(screen.getByLabelText('Text'), 'eggs\nmilk');
    await user.click(screen.getByRole('button', { name: 'Add note' }));
    const headings = await screen.findAllByRole('heading', { level: 3 });
    await waitFor(() => {
      expect(screen.getAllByRole('heading', { level: 3 })[0]).toHaveTextContent('Groceries');
    });
    expect(headings.length).toBeGreaterThan(0);
    expect(screen.getByLabelText('Title')).toHaveValue('');
    expect(screen.getByText(/eggs\s+milk/)).toBeInTheDocument();
    expect(screen.getByText('Added “Groceries”.')).toBeInTheDocument();
  });

  it('shows the 422 message next to the field it names, and focuses it', async () => {
    const api = new FakeNotesApi();
    api.failNext('POST /api/notes', {
      status: 422,
      body: {
        detail: [
          {
            type: 'string_too_short',
            loc: ['body', 'title'],
            msg: 'String should have at least 1 character',
            input: '',
          },
        ],
      },
    });
    const { user } = renderApp(api);
    await screen.findByText('No notes yet');
    await user.type(screen.getByLabelText('Title'), '   ');
    await user.click(screen.getByRole('button', { name: 'Add note' }));
    const title = screen.getByLabelText('Title');
    await waitFor(() => {
      expect(title).toHaveAttribute('aria-invalid', 'true');
    });
    expect(title).toHaveAccessibleDescription('String should have at least 1 character');
    expect(title).toHaveFocus();
    expect(screen.getByRole('alert')).toHaveTextContent(
      'The note was not saved: correct the title field.',
    );
    expect(screen.getByLabelText('Text')).not.toHaveAttribute('aria-invalid');
  });

  it('edits a note in place and returns the focus to its Edit button', async () => {
    const api = new FakeNotesApi();
    api.addNote('Draft', 'first words');
    const { user } = renderApp(api);
    await user.click(await screen.findByRole('button', { name: 'Edit “Draft”' }));
    const form = within(screen.getByRole('article', { name: 'Editing “Draft”' }));
    const editTitle = form.getByLabelText('Title');
    expect(form.getByLabelText('Text')).toHaveValue('first words');
    expect(editTitle).toHaveFocus();
    await user.clear(editTitle);
    await user.type(editTitle, 'Final');
    await user.click(form.getByRole('button', { name: 'Save' }));
    expect(await screen.findByRole('heading', { name: 'Final' })).toBeInTheDocument();
    expect(api.notes[0]?.title).toBe('Final');
    await waitFor(() => {
      expect(screen.getByRole('button', { name: 'Edit “Final”' })).toHaveFocus();
    });
  });

  it('deletes a note only after confirmation', async () => {
    const api = new FakeNotesApi();
    api.addNote('Obsolete');
    const { user } = renderApp(api);
    await user.click(await screen.findByRole('button', { name: 'Delete “Obsolete”' }));
    const confirm = screen.getByRole('button', { name: 'Yes, delete' });
    expect(confirm).toHaveFocus();
    await user.click(screen.getByRole('button', { name: 'Keep it' }));
    expect(api.notes).toHaveLength(1);
    await user.click(screen.getByRole('button', { name: 'Delete “Obsolete”' }));
    await user.click(screen.getByRole('button', { name: 'Yes, delete' }));
    expect(await screen.findByText('No notes yet')).toBeInTheDocument();
    expect(api.notes).toHaveLength(0);
    expect(screen.getByRole('heading', { name: 'Notes' })).toHaveFocus();
  });
});

describe('attachments', () => {
  it('shows upload progress, then the attachment as a download link', async () => {
    const api = new FakeNotesApi();
    const note = api.addNote('Report');
    const { user } = renderApp(api);
    const card = await screen.findByRole('article', { name: 'Report' });
    const file = new File(['x'.repeat(1000)], 'report.pdf', { type: 'application/pdf' });
    await user.upload(within(card).getByLabelText('Attach a file to “Report”'), file);
    const xhr = FakeXhr.last;
    expect(xhr?.url).toBe(`${api.baseUrl}/api/notes/${note.id}/attachments`);
    act(() => {
      xhr?.progress(500);
    });
    const bar = within(card).getByRole('progressbar', { name: 'Uploading report.pdf' });
    expect(bar).toHaveAttribute('value', '50');
    act(() => {
      xhr?.respond();
    });
    const link = await within(noteCard('Report')).findByRole('link', { name: 'report.pdf' });
    const attachment = api.notes[0]?.attachments[0];
    expect(link).toHaveAttribute(
      'href',
      `${api.baseUrl}/api/notes/${note.id}/attachments/${attachment?.id ?? ''}`,
    );
    expect(link).toHaveAttribute('download', 'report.pdf');
    expect(screen.queryByRole('progressbar')).not.toBeInTheDocument();
    expect(screen.getByText('Uploaded report.pdf.')).toBeInTheDocument();
  });

  it('says how large a file may be when the API answers 413', async () => {
    const api = new FakeNotesApi();
    const note = api.addNote('Big');
    api.failNext(`POST /api/notes/${note.id}/attachments`, {
      status: 413,
      body: { detail: 'file: the upload is larger than 10485760 bytes' },
    });
    const { user } = renderApp(api);
    const card = await screen.findByRole('article', { name: 'Big' });
    await user.upload(within(card).getByLabelText(/Attach a file/), new File(['x'], 'huge.iso'));
    act(() => {
      FakeXhr.last?.respond();
    });
    expect(await within(card).findByRole('alert')).toHaveTextContent(
      'The file is too large: the server accepts files up to 10 MiB.',
    );
    expect(api.notes[0]?.attachments).toHaveLength(0);
  });

  it('cancels an upload', async () => {
    const api = new FakeNotesApi();
    api.addNote('Slow');
    const { user } = renderApp(api);
    const card = await screen.findByRole('article', { name: 'Slow' });
    await user.upload(within(card).getByLabelText(/Attach a file/), new File(['x'], 'a.txt'));
    await user.click(within(card).getByRole('button', { name: 'Cancel upload' }));
    expect(FakeXhr.last?.aborted).toBe(true);
    expect(await within(card).findByText('The upload of a.txt was cancelled.')).toBeVisible();
    expect(within(card).queryByRole('progressbar')).not.toBeInTheDocument();
  });
});

describe('the version badge', () => {
  it('shows the version and track that answered', async () => {
    const api = new FakeNotesApi();
    api.version = { version: '2.0.0-rc.1', track: 'canary', commit: 'def' };
    renderApp(api);
    const badge = await screen.findByText('2.0.0-rc.1 · canary');
    expect(badge).toHaveAttribute('data-track', 'canary');
    expect(badge).toHaveTextContent('Served by 2.0.0-rc.1 · canary');
  });

  it('says so when the version is unknown', async () => {
    const api = new FakeNotesApi();
    api.failNext('GET /api/version', { status: 404, body: { detail: 'Not Found' } });
    renderApp(api);
    expect(await screen.findByText('version unknown')).toHaveAttribute('data-track', 'unknown');
  });
});
