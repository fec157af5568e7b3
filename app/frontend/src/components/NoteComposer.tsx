import { useState } from 'react';

import { useCreateNote } from '../api/queries';
import { NoteForm } from './NoteForm';

const EMPTY = { title: '', body: '' };

export function NoteComposer() {
  const create = useCreateNote();
  // A new key re-mounts the form: empty fields once a note is added.
  const [generation, setGeneration] = useState(0);
  return (
    <>
      <NoteForm
        key={generation}
        idPrefix="new-note"
        initial={EMPTY}
        submitLabel="Add note"
        pendingLabel="Adding…"
        pending={create.isPending}
        error={create.error}
        onSubmit={(values) => {
          create.mutate(values, {
            onSuccess: () => {
              setGeneration((value) => value + 1);
            },
          });
        }}
      />
      <p className="visually-hidden" role="status">
        {create.isSuccess ? `Added “${create.data.title}”.` : ''}
      </p>
    </>
  );
}
