import { useVersion } from '../api/queries';

/**
 * Which build answered (GET /api/version): its version and track. During a canary rollout or
 * after a blue-green switch the badge changes, so a person sees which version serves them.
 */
export function VersionBadge() {
  const version = useVersion();
  const track = version.data?.track ?? 'unknown';
  let text = 'version …';
  if (version.data) {
    text = `${version.data.version} · ${version.data.track}`;
  } else if (version.isError) {
    text = 'version unknown';
  }
  return (
    <p
      className="version-badge"
      data-track={track}
      aria-live="polite"
      title="The backend version and track that answered this page"
    >
      <span className="visually-hidden">Served by </span>
      {text}
    </p>
  );
}
