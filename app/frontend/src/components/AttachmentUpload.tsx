import { useId, useRef, useState, type ChangeEvent } from 'react';

import { useUploadAttachment } from '../api/queries';
import type { UploadProgress } from '../api/upload';
import { ErrorMessage } from './ErrorMessage';

function percent(progress: UploadProgress): number {
  return progress.total > 0 ? Math.round((100 * progress.loaded) / progress.total) : 0;
}

function isCancellation(error: unknown): boolean {
  return error instanceof DOMException && error.name === 'AbortError';
}

/** Pick a file and it uploads at once, with a progress bar and a way to cancel. */
export function AttachmentUpload({ noteId, noteTitle }: { noteId: string; noteTitle: string }) {
  const upload = useUploadAttachment(noteId);
  const inputId = useId();
  const [progress, setProgress] = useState<UploadProgress | null>(null);
  const [fileName, setFileName] = useState('');
  const controller = useRef<AbortController | null>(null);

  const start = (event: ChangeEvent<HTMLInputElement>) => {
    const file = event.target.files?.[0];
    event.target.value = ''; // the same file can be chosen again after a failure
    if (!file) {
      return;
    }
    const abort = new AbortController();
    controller.current = abort;
    setFileName(file.name);
    setProgress({ loaded: 0, total: file.size });
    upload.mutate(
      { file, onProgress: setProgress, signal: abort.signal },
      {
        onSettled: () => {
          setProgress(null);
          controller.current = null;
        },
      },
    );
  };

  return (
    <div className="upload">
      <label htmlFor={inputId} className="upload-label">
        Attach a file
        <span className="visually-hidden"> to “{noteTitle}”</span>
      </label>
      <input
        id={inputId}
        className="upload-input"
        type="file"
        disabled={upload.isPending}
        onChange={start}
      />
      {progress && (
        <div className="upload-progress">
          <progress max={100} value={percent(progress)} aria-label={`Uploading ${fileName}`} />
          <span aria-hidden="true">{percent(progress)}%</span>
          <button
            type="button"
            className="button secondary small"
            onClick={() => controller.current?.abort()}
          >
            Cancel upload
          </button>
        </div>
      )}
      {upload.isError && !isCancellation(upload.error) && <ErrorMessage error={upload.error} />}
      {upload.isError && isCancellation(upload.error) && (
        <p role="status">The upload of {fileName} was cancelled.</p>
      )}
      {upload.isSuccess && <p role="status">Uploaded {fileName}.</p>}
    </div>
  );
}
