import { NoteComposer } from './components/NoteComposer';
import { NoteList } from './components/NoteList';
import { VersionBadge } from './components/VersionBadge';

export function App() {
  return (
    <>
      <a className="skip-link" href="#notes-heading">
        Skip to the notes
      </a>
      <header className="app-header">
        <h1>Flightdeck notes</h1>
        <VersionBadge />
      </header>
      <main className="layout">
        <section className="panel composer" aria-labelledby="new-note-heading">
          <h2 id="new-note-heading">New note</h2>
          <NoteComposer />
        </section>
        <section className="notes" aria-labelledby="notes-heading">
          <h2 id="notes-heading" tabIndex={-1}>
            Notes
          </h2>
          <NoteList />
        </section>
      </main>
    </>
  );
}
