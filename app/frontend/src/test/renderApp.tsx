import { QueryClientProvider } from '@tanstack/react-query';
import { render } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { vi } from 'vitest';

import { client, installErrorHandling } from '../api/client';
import { App } from '../App';
import { createQueryClient } from '../queryClient';
import { FakeNotesApi, FakeXhr } from './fakeApi';

/** The whole app on a fake API, as main.tsx mounts it (same error handling, same defaults). */
export function renderApp(api: FakeNotesApi = new FakeNotesApi()) {
  client.setConfig({ baseUrl: api.baseUrl, fetch: api.fetch });
  installErrorHandling();
  FakeXhr.api = api;
  FakeXhr.last = undefined;
  vi.stubGlobal('XMLHttpRequest', FakeXhr);
  const user = userEvent.setup();
  const view = render(
    <QueryClientProvider client={createQueryClient({ retryDelayMs: 0 })}>
      <App />
    </QueryClientProvider>,
  );
  return { api, user, ...view };
}
