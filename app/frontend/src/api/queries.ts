// Data fetching: TanStack Query over the generated SDK (src/client). Every mutation refreshes
// the notes list; errors are ApiErrors (see client.ts).
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';

import { createNote, deleteNote, listNotes, updateNote, version } from '../client/sdk.gen';
import type { NoteCreate, NoteUpdate } from '../client/types.gen';
import { uploadAttachment, type UploadProgress } from './upload';

export const PAGE_SIZE = 20;
/** How often the version badge asks again, so that a canary or a blue-green switch shows. */
export const VERSION_REFRESH_MS = 15_000;

const NOTES_KEY = ['notes', { limit: PAGE_SIZE }] as const;
const VERSION_KEY = ['version'] as const;

/** The notes, newest first: one page per cursor, the next cursor from the page before. */
export function useNotes() {
  return useInfiniteQuery({
    queryKey: NOTES_KEY,
    queryFn: async ({ pageParam, signal }) => {
      const cursor = pageParam ?? undefined;
      const { data } = await listNotes({ query: { limit: PAGE_SIZE, cursor }, signal });
      return data;
    },
    initialPageParam: null as string | null,
    getNextPageParam: (page) => page.next_cursor,
  });
}

export function useVersion() {
  return useQuery({
    queryKey: VERSION_KEY,
    queryFn: async ({ signal }) => (await version({ signal })).data,
    refetchInterval: VERSION_REFRESH_MS,
  });
}

function useRefreshNotes() {
  const queryClient = useQueryClient();
  return () => queryClient.invalidateQueries({ queryKey: NOTES_KEY });
}

export function useCreateNote() {
  const onSuccess = useRefreshNotes();
  return useMutation({
    mutationFn: async (note: NoteCreate) => (await createNote({ body: note })).data,
    onSuccess,
  });
}

export function useUpdateNote(noteId: string) {
  const onSuccess = useRefreshNotes();
  return useMutation({
    mutationFn: async (changes: NoteUpdate) =>
      (await updateNote({ path: { note_id: noteId }, body: changes })).data,
    onSuccess,
  });
}

export function useDeleteNote(noteId: string) {
  const onSuccess = useRefreshNotes();
  return useMutation({
    mutationFn: async () => {
      await deleteNote({ path: { note_id: noteId } });
    },
    onSuccess,
  });
}

export interface UploadRequest {
  file: File;
  onProgress: (progress: UploadProgress) => void;
  signal: AbortSignal;
}

export function useUploadAttachment(noteId: string) {
  const onSuccess = useRefreshNotes();
  return useMutation({
    mutationFn: ({ file, onProgress, signal }: UploadRequest) =>
      uploadAttachment(noteId, file, onProgress, signal),
    onSuccess,
  });
}
