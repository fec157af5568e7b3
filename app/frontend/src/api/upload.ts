// Attachment upload with progress. fetch() cannot report upload progress, so this one call
// uses XMLHttpRequest; its URL, form field and result are typed by the generated client.
import { formDataBodySerializer } from '../client/client';
import type { Attachment, DownloadAttachmentData, UploadAttachmentData } from '../client/types.gen';
import { client } from './client';
import { ApiError } from './errors';

export interface UploadProgress {
  loaded: number;
  total: number;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

export function uploadAttachment(
  noteId: string,
  file: File,
  onProgress: (progress: UploadProgress) => void,
  signal?: AbortSignal,
): Promise<Attachment> {
  const request: UploadAttachmentData = {
    body: { file },
    path: { note_id: noteId },
    url: '/api/notes/{note_id}/attachments',
  };
  const url = client.buildUrl(request);
  const form = formDataBodySerializer.bodySerializer(request.body);
  return new Promise<Attachment>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url);
    xhr.upload.addEventListener('progress', (event) => {
      onProgress({ loaded: event.loaded, total: event.lengthComputable ? event.total : file.size });
    });
    xhr.addEventListener('load', () => {
      const body = parseJson(xhr.responseText);
      if (xhr.status === 201) {
        resolve(body as Attachment);
      } else {
        reject(new ApiError(xhr.status, body, xhr.getResponseHeader('Retry-After')));
      }
    });
    xhr.addEventListener('error', () => {
      reject(new ApiError(0, null));
    });
    xhr.addEventListener('abort', () => {
      reject(new DOMException('The upload was cancelled.', 'AbortError'));
    });
    signal?.addEventListener('abort', () => {
      xhr.abort();
    });
    xhr.send(form);
  });
}

/** Where the browser downloads an attachment (the API answers with Content-Disposition). */
export function attachmentUrl(noteId: string, attachmentId: string): string {
  const request: DownloadAttachmentData = {
    path: { note_id: noteId, attachment_id: attachmentId },
    url: '/api/notes/{note_id}/attachments/{attachment_id}',
  };
  return client.buildUrl(request);
}
