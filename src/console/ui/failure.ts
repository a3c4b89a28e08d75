import type { ErrorDetails } from '../../client/index.ts';
import { describeError, type MailroomError } from '../api.ts';

/** What went wrong with a request, as the views show it: the envelope's message, and the error itself when there was one. */
export interface Failure {
  message: string;
  error?: MailroomError;
}

/** A thrown value as a {@link Failure}. */
export function toFailure(error: unknown): Failure {
  return describeError(error);
}

/** Whether a detail's key is about a field: the field itself, or one of its items (`permissions.0`). */
function isAbout(key: string, name: string): boolean {
  return key === name || key.startsWith(`${name}.`);
}

/** The server's messages for one field of the form (`error.details[name]` and its items' `name.N`), or none. */
export function fieldMessages(failure: Failure | undefined, name: string): string[] {
  return Object.entries(failure?.error?.details ?? {})
    .filter(([key]) => isAbout(key, name))
    .flatMap(([, messages]) => messages);
}

/** The details that name no field of the form (`fields`): shown with the form's message instead of beside a field. */
export function otherDetails(failure: Failure | undefined, fields: readonly string[]): ErrorDetails {
  const details = failure?.error?.details ?? {};
  return Object.fromEntries(Object.entries(details).filter(([key]) => !fields.some((field) => isAbout(key, field))));
}
