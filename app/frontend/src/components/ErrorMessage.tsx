import { errorMessage } from '../api/errors';

interface ErrorMessageProps {
  error: unknown;
  onRetry?: () => void;
}

/** A failed request, announced to screen readers, with a retry button when one helps. */
export function ErrorMessage({ error, onRetry }: ErrorMessageProps) {
  return (
    <div className="error-message" role="alert">
      <p>{errorMessage(error)}</p>
      {onRetry && (
        <button type="button" className="button secondary" onClick={onRetry}>
          Retry
        </button>
      )}
    </div>
  );
}
