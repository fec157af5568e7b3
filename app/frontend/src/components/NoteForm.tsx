import { useEffect, useRef, useState, type FormEvent } from 'react';

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
  const ids = {
    title: `${idPrefix}-title`,
    body: `${idPrefix}-body`,
    titleError: `${idPrefix}-title-error`,
    bodyError: `${idPrefix}-body-error`,
  };
  const fieldInError = titleError ? 'title' : bodyError ? 'text' : null;

  return (
    <form className="note-form" noValidate onSubmit={submit}>
      <div className="field">
        <label htmlFor={ids.title}>Title</label>
        <input
          ref={titleRef}
          id={ids.title}
          name="title"
          type="text"
          autoComplete="off"
          maxLength={TITLE_MAX}
          aria-required="true"
          aria-invalid={titleError ? true : undefined}
          aria-describedby={titleError ? ids.titleError : undefined}
          value={values.title}
          onChange={(event) => {
            setValues({ ...values, title: event.target.value });
          }}
        />
        {titleError && (
          <p id={ids.titleError} className="field-error">
            {titleError}
          </p>
        )}
      </div>
      <div className="field">
        <label htmlFor={ids.body}>Text</label>
        <textarea
          ref={bodyRef}
          id={ids.body}
          name="body"
          rows={4}
          maxLength={BODY_MAX}
          aria-invalid={bodyError ? true : undefined}
          aria-describedby={bodyError ? ids.bodyError : undefined}
          value={values.body}
          onChange={(event) => {
            setValues({ ...values, body: event.target.value });
          }}
        />
        {bodyError && (
          <p id={ids.bodyError} className="field-error">
            {bodyError}
          </p>
        )}
      </div>
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
