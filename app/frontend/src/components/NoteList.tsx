import { useNotes } from '../api/queries';
import { ErrorMessage } from './ErrorMessage';
import { NoteCard } from './NoteCard';

/** Placeholders of the first page's height while it loads, so nothing jumps when it arrives. */
function NoteListSkeleton() {
  return (
    <>
      <p className="visually-hidden" role="status">
        Loading the notes…
      </p>
      <ul className="note-list" aria-hidden="true">
        {[0, 1, 2].map((index) => (
          <li key={index} className="note skeleton" />
        ))}
      </ul>
    </>
  );
}

function EmptyState() {
  return (
    <div className="empty-state">
      <p className="empty-title">No notes yet</p>
      <p>Write the first one with the form: a title is enough. You can attach files to it after.</p>
    </div>
  );
}

/** The notes, newest first, a page at a time. */
export function NoteList() {
  const notes = useNotes();

  if (notes.isPending) {
    return <NoteListSkeleton />;
  }
  if (notes.isError && notes.data === undefined) {
    return <ErrorMessage error={notes.error} onRetry={() => void notes.refetch()} />;
  }
  const items = notes.data.pages.flatMap((page) => page.items);
  return (
    <>
      {/* A failed refresh keeps the list it had, with the reason. */}
      {notes.isError && <ErrorMessage error={notes.error} onRetry={() => void notes.refetch()} />}
      {items.length === 0 ? (
        <EmptyState />
      ) : (
        <ul className="note-list" aria-busy={notes.isFetching}>
          {items.map((note) => (
            <li key={note.id}>
              <NoteCard note={note} />
            </li>
          ))}
        </ul>
      )}
      {notes.hasNextPage && (
        <button
          type="button"
          className="button secondary load-more"
          disabled={notes.isFetchingNextPage}
          onClick={() => void notes.fetchNextPage()}
        >
          {notes.isFetchingNextPage ? 'Loading…' : 'Show older notes'}
        </button>
      )}
    </>
  );
}
