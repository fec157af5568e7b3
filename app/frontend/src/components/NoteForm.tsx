import { useEffect, useRef, useState, type FormEvent, type ReactNode } from 'react';

import { fieldErrorsOf } from '../api/errors';
import { ErrorMessage } from './ErrorMessage';

export const TITLE_MAX = 200;
export const BODY_MAX = 20_000;

export interface NoteValues {
  title: string;
  body: string;
}

interface NoteFormProps {
  /** Prefix of the element ids, unique on the page. */
  idPrefix: string;
  initial: NoteValues;
  submitLabel: string;
  pendingLabel: string;
  pending: boolean;
  /** The error of the last submission: a 422 shows next to the fields it names. */
  error: unknown;
  onSubmit: (values: NoteValues) => void;
  onCancel?: () => void;
  /** Put the keyboard in the title when the form appears (editing). */
  focusOnMount?: boolean;
}

interface FieldProps {
  id: string;
  label: string;
  /** The API's message for this field, shown under it and announced with it. */
  error: string | undefined;
  children: (aria: {
    id: string;
    'aria-invalid': true | undefined;
    'aria-describedby': string | undefined;
  }) => ReactNode;
}

/** A labelled control with its error message, linked by aria-describedby. */
function Field({ id, label, error, children }: FieldProps) {
  const errorId = `${id}-error`;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children({
        id,
        'aria-invalid': error ? true : undefined,
        'aria-describedby': error ? errorId : undefined,
      })}
      {error && (
        <p id={errorId} className="field-error">
          {error}
        </p>
      )}
    </div>
  );
}

/**
 * The title and body of a note, for creating and for editing. The API validates (a title of
 * only spaces, too long a body, ...) and its 422 names the field, shown next to it; the form
 * does not duplicate the rules, so the two can never disagree.
 */
export function NoteForm({
  idPrefix,
  initial,
  submitLabel,
  pendingLabel,
  pending,
  error,
  onSubmit,
  onCancel,
  focusOnMount = false,
}: NoteFormProps) {
  const [values, setValues] = useState(initial);
  const titleRef = useRef<HTMLInputElement>(null);
  const bodyRef = useRef<HTMLTextAreaElement>(null);
  const fieldErrors = fieldErrorsOf(error);
  const titleError = fieldErrors.title;
  const bodyError = fieldErrors.body;

  useEffect(() => {
    if (focusOnMount) {
      titleRef.current?.focus();
    }
  }, [focusOnMount]);

  // After a refused submission, take the keyboard to the first field that needs a change.
  useEffect(() => {
    if (titleError) {
      titleRef.current?.focus();
    } else if (bodyError) {
      bodyRef.current?.focus();
    }
  }, [error, titleError, bodyError]);

  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    onSubmit(values);
  };
  const ids = { title: `${idPrefix}-title`, body: `${idPrefix}-body` };
  const fieldInError = titleError ? 'title' : bodyError ? 'text' : null;

  return (
    <form className="note-form" noValidate onSubmit={submit}>
      <Field id={ids.title} label="Title" error={titleError}>
        {(aria) => (
          <input
            ref={titleRef}
            {...aria}
            name="title"
            type="text"
            autoComplete="off"
            maxLength={TITLE_MAX}
            aria-required="true"
            value={values.title}
            onChange={(event) => {
              setValues({ ...values, title: event.target.value });
            }}
          />
        )}
      </Field>
      <Field id={ids.body} label="Text" error={bodyError}>
        {(aria) => (
          <textarea
            ref={bodyRef}
            {...aria}
            name="body"
            rows={4}
            maxLength={BODY_MAX}
            value={values.body}
            onChange={(event) => {
              setValues({ ...values, body: event.target.value });
            }}
          />
        )}
      </Field>
      {Boolean(error) &&
        !pending &&
        // One announcement for the whole submission; each field carries its own message.
        (fieldInError ? (
          <p className="error-message" role="alert">
            The note was not saved: correct the {fieldInError} field.
          </p>
        ) : (
          <ErrorMessage error={error} />
        ))}
      <div className="actions">
        <button type="submit" className="button primary" disabled={pending}>
          {pending ? pendingLabel : submitLabel}
        </button>
        {onCancel && (
          <button type="button" className="button secondary" onClick={onCancel}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}
