import { PERMISSIONS } from '../../lib/permissions.ts';
import { type Failure, otherDetails } from './failure.ts';
import { formatTime, formatWait } from './format.ts';

/**
 * A request's failure: the envelope's message, the per-field details no field of the form shows, when to retry after
 * a 429, and the request id to quote. Announced as an alert, so a screen reader hears it when it appears.
 */
export function ErrorNotice({ failure, fields = [] }: { failure: Failure | undefined; fields?: readonly string[] }) {
  if (!failure) {
    return null;
  }
  const { error } = failure;
  // A 403 names the permissions the caller lacks in `details.permissions`: said as such, with what each one allows.
  const missing = error?.status === 403 ? (error.details?.permissions ?? []) : [];
  const details = Object.entries(otherDetails(failure, [...fields, ...(missing.length > 0 ? ['permissions'] : [])]));
  const fieldCount = Object.keys(error?.details ?? {}).length - details.length;
  return (
    <div class="notice notice-error" role="alert">
      <p class="notice-title">{failure.message}</p>
      {missing.length > 0 && <MissingPermissions permissions={missing} />}
      {fieldCount > (missing.length > 0 ? 1 : 0) && <p>See the messages beside the fields below.</p>}
      {details.length > 0 && (
        <ul>
          {details.map(([field, messages]) => (
            <li key={field}>
              <code>{field}</code>: {messages.join('; ')}
            </li>
          ))}
        </ul>
      )}
      {error?.status === 429 && <RetryHint seconds={error.retryAfterSeconds} />}
      {error?.requestId && (
        <p class="muted">
          Request id <code class="request-id">{error.requestId}</code>
        </p>
      )}
    </div>
  );
}

/** A 403's missing permissions, each with what it allows (from the spec's table). */
function MissingPermissions({ permissions }: { permissions: readonly string[] }) {
  return (
    <div class="missing-permissions">
      <p>
        Not permitted: this needs {permissions.length === 1 ? 'the permission' : 'the permissions'} below, which the
        caller lacks.
      </p>
      <ul>
        {permissions.map((permission) => {
          const about = PERMISSIONS.find((entry) => entry.permission === permission)?.description;
          return (
            <li key={permission}>
              <code>{permission}</code>
              {about ? `: ${about}` : ''}
            </li>
          );
        })}
      </ul>
    </div>
  );
}

/** When a rate-limited request may be sent again, from its `Retry-After`. */
function RetryHint({ seconds }: { seconds: number | undefined }) {
  if (seconds === undefined) {
    return <p>Too many requests: wait a moment, then try again.</p>;
  }
  const at = new Date(Date.now() + seconds * 1000);
  return (
    <p class="retry-hint">
      Try again in {formatWait(seconds)} (at <time dateTime={at.toISOString()}>{formatTime(at)}</time>).
    </p>
  );
}
