// The generated client (src/client) as the application uses it: same-origin requests, and every
// failure thrown as an ApiError with its status.
import { client } from '../client/client.gen';
import { toApiError } from './errors';

export { client };

let installed = false;

/** Make every SDK call throw an ApiError. Idempotent. */
export function installErrorHandling(): void {
  if (installed) {
    return;
  }
  client.interceptors.error.use((error, response) => toApiError(error, response));
  installed = true;
}
