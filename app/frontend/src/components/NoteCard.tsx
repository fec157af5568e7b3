import { useEffect, useRef, useState } from 'react';

import { formatBytes } from '../api/errors';
import { useDeleteNote, useUpdateNote } from '../api/queries';
import { attachmentUrl } from '../api/upload';
import type { Note } from '../client/types.gen';
import { AttachmentUpload } from './AttachmentUpload';
import { ErrorMessage } from './ErrorMessage';
import { NoteForm } from './NoteForm';

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

function When({ iso }: { iso: string }) {
  return <time dateTime={iso}>{dateFormat.format(new Date(iso))}</time>;
}

type Mode = 'view' | 'edit' | 'confirm-delete';

export function NoteCard({ note }: { note: Note }) {
  const [mode, setMode] = useState<Mode>('view');
  const update = useUpdateNote(note.id);
  const remove = useDeleteNote(note.id);
  const editButton = useRef<HTMLButtonElement>(null);
  const confirmButton = useRef<HTMLButtonElement>(null);
  const titleId = `note-${note.id}-title`;
  const count = note.attachments.length;

  // Whether the Edit button takes the keyboard back once the card shows the note again.
  const returnFocus = useRef(false);

  // The keyboard follows the card: to the choice that appears on Delete, and back to where
  // the user started after editing (once that button is rendered again).
  useEffect(() => {
    if (mode === 'confirm-delete') {
      confirmButton.current?.focus();
    } else if (mode === 'view' && returnFocus.current) {
      returnFocus.current = false;
      editButton.current?.focus();
    }
  }, [mode]);

  const backToView = () => {
    returnFocus.current = true;
    setMode('view');
  };

  return (
    <article className="note" aria-labelledby={titleId}>
      {mode === 'edit' ? (
        <>
          <h3 id={titleId} className="visually-hidden">
            Editing “{note.title}”
          </h3>
          <NoteForm
            idPrefix={`edit-${note.id}`}
            initial={{ title: note.title, body: note.body }}
            submitLabel="Save"
            pendingLabel="Saving…"
            pending={update.isPending}
            error={update.error}
            focusOnMount
            onSubmit={(values) => {
              update.mutate(values, { onSuccess: backToView });
            }}
            onCancel={() => {
              update.reset();
              backToView();
            }}
          />
        </>
      ) : (
        <>
          <h3 id={titleId} className="note-title">
            {note.title}
          </h3>
          <p className="note-meta">
            <When iso={note.created_at} />
            {note.updated_at !== note.created_at && (
              <>
                {' · updated '}
                <When iso={note.updated_at} />
              </>
            )}
          </p>
          {note.body && <p className="note-body">{note.body}</p>}
        </>
      )}

      {count > 0 && (
        <ul className="attachments" aria-label={`Attachments of “${note.title}”`}>
          {note.attachments.map((attachment) => (
            <li key={attachment.id}>
              <a href={attachmentUrl(note.id, attachment.id)} download={attachment.filename}>
                {attachment.filename}
              </a>{' '}
              <span className="attachment-size">({formatBytes(attachment.size)})</span>
            </li>
          ))}
        </ul>
      )}

      {mode !== 'edit' && <AttachmentUpload noteId={note.id} noteTitle={note.title} />}

      {mode === 'view' && (
        <div className="actions">
          <button
            ref={editButton}
            type="button"
            aria-label={`Edit “${note.title}”`}
            className="button secondary"
            onClick={() => {
              setMode('edit');
            }}
          >
            Edit
          </button>
          <button
            type="button"
            className="button danger"
            aria-label={`Delete “${note.title}”`}
            onClick={() => {
              setMode('confirm-delete');
            }}
          >
            Delete
          </button>
        </div>
      )}
      {mode === 'confirm-delete' && (
        <div className="confirm" role="group" aria-label="Confirm the deletion">
          <p>
            Delete this note
            {count > 0 && ` and its ${count} attachment${count === 1 ? '' : 's'}`}? This cannot be
            undone.
          </p>
          <div className="actions">
            <button
              type="button"
              className="button danger"
              ref={confirmButton}
              disabled={remove.isPending}
              onClick={() => {
                remove.mutate(undefined, {
                  // The note is gone: the keyboard continues from the list's heading.
                  onSuccess: () => document.getElementById('notes-heading')?.focus(),
                });
              }}
            >
              {remove.isPending ? 'Deleting…' : 'Yes, delete'}
            </button>
            <button
              type="button"
              className="button secondary"
              onClick={() => {
                remove.reset();
                backToView();
              }}
            >
              Keep it
            </button>
          </div>
          {remove.isError && <ErrorMessage error={remove.error} />}
        </div>
      )}
    </article>
  );
}
