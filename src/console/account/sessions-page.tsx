import { useRef, useState } from 'preact/hooks';
import type { components } from '../../../generated/schema.d.ts';
import { unwrap, unwrapEnvelope } from '../api.ts';
import { useAction, useLoad, useSignedIn } from '../context.ts';
import { ConfirmDialog } from '../ui/confirm-dialog.tsx';
import { ErrorNotice } from '../ui/error-notice.tsx';
import { TextField } from '../ui/field.tsx';
import { PageHeader } from '../ui/page-header.tsx';
import { Time } from '../ui/time.tsx';

/** A session as `GET /auth/sessions` lists it. */
type Session = components['schemas']['Session'];
type Origin = components['schemas']['SessionOrigin'];

/**
 * The account's sessions (where each was signed in and last used; "End session", "End all other sessions") and the
 * password change, which keeps this session and ends the others.
 */
export function SessionsPage() {
  const { client } = useSignedIn();
  const sessions = useLoad(() => unwrapEnvelope(client.GET('/auth/sessions')), [client]);
  const [status, setStatus] = useState('');
  const [confirming, setConfirming] = useState(false);
  const done = (sentence: string) => {
    setStatus(sentence);
    sessions.reload();
  };
  // This session first, then the others newest first (the server's order).
  const list = sessions.data && [...sessions.data.data].sort((a, b) => Number(b.current) - Number(a.current));
  const others = list?.filter((session) => !session.current).length ?? 0;

  return (
    <section>
      <PageHeader title="Sessions and password">
        <button type="button" onClick={() => setConfirming(true)} disabled={others === 0}>
          End all other sessions
        </button>
      </PageHeader>
      <p class="lead">
        Every sign-in (here, from a script, on another device) is a session. End the ones you don't recognise: they stop
        working at once, on every server.
      </p>
      <p class="status-line" role="status">
        {status}
      </p>
      <ErrorNotice failure={sessions.failure} />
      {list === undefined ? (
        sessions.loading && <p aria-busy="true">Loading sessions…</p>
      ) : (
        <SessionTable sessions={list} total={sessions.data?.meta.total ?? list.length} onEnded={done} />
      )}
      {confirming && <EndOthersDialog count={others} onClose={() => setConfirming(false)} onDone={done} />}
      <ChangePassword onChanged={done} />
    </section>
  );
}

/** Where a session was signed in or used: the address, and the user agent beneath it ("—" when never used). */
function From({ origin }: { origin: Origin | null }) {
  if (origin === null) {
    return <span class="muted">—</span>;
  }
  if (origin.address === null && origin.userAgent === null) {
    return <span class="muted">unknown</span>;
  }
  return (
    <span class="origin">
      <span>{origin.address ?? 'unknown address'}</span>
      {origin.userAgent && <span class="muted user-agent">{origin.userAgent}</span>}
    </span>
  );
}

/** The sessions: a table on a wide screen, one card per session on a narrow one. */
function SessionTable({
  sessions,
  total,
  onEnded,
}: {
  sessions: Session[];
  total: number;
  onEnded: (sentence: string) => void;
}) {
  const { client } = useSignedIn();
  const { run, pending, failure } = useAction();
  async function end(session: Session) {
    const result = await run(() =>
      unwrap(client.DELETE('/auth/sessions/{sessionId}', { params: { path: { sessionId: session.sessionId } } })),
    );
    if (result.ok) {
      onEnded(`Ended the session signed in from ${session.createdFrom.address ?? 'an unknown address'}.`);
    }
  }
  return (
    <>
      <ErrorNotice failure={failure} />
      <table class="data-table">
        <caption>
          {total} active session{total === 1 ? '' : 's'}
        </caption>
        <thead>
          <tr>
            <th scope="col">Signed in</th>
            <th scope="col">From</th>
            <th scope="col">Last used</th>
            <th scope="col">Last used from</th>
            <th scope="col">Expires</th>
            <th scope="col">
              <span class="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {sessions.map((session) => (
            <tr key={session.sessionId}>
              <th scope="row" class="row-title">
                <Time iso={session.createdAt} />
                {session.current && <span class="badge">This session</span>}
              </th>
              <td data-label="From">
                <From origin={session.createdFrom} />
              </td>
              <td data-label="Last used">
                {session.lastUsedAt === null ? 'Never' : <Time iso={session.lastUsedAt} relative />}
              </td>
              <td data-label="Last used from">
                <From origin={session.lastUsedFrom} />
              </td>
              <td data-label="Expires">
                <Time iso={session.expiresAt} relative />
              </td>
              <td>
                <div class="row-actions">
                  {!session.current && (
                    <button type="button" class="danger-quiet" onClick={() => end(session)} disabled={pending}>
                      End session
                      <span class="visually-hidden"> signed in from {session.createdFrom.address}</span>
                    </button>
                  )}
                </div>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

/** "End all other sessions", confirmed: every session but this one stops working at once. */
function EndOthersDialog({
  count,
  onClose,
  onDone,
}: {
  count: number;
  onClose: () => void;
  onDone: (sentence: string) => void;
}) {
  const { client } = useSignedIn();
  const { run, pending, failure } = useAction();
  const ended = useRef(false);
  async function endOthers() {
    const result = await run(() => unwrap(client.POST('/auth/sessions/revoke-others')));
    if (result.ok) {
      ended.current = true;
      const n = result.value.revokedCount;
      onDone(`Ended ${n} other session${n === 1 ? '' : 's'}.`);
      onClose();
    }
  }
  return (
    <ConfirmDialog
      title="End all other sessions?"
      confirmLabel="End other sessions"
      onConfirm={endOthers}
      onClose={onClose}
      pending={pending}
      failure={failure}
    >
      <p>
        {count} other session{count === 1 ? '' : 's'} stop working at once, on every server. This one stays signed in.
      </p>
    </ConfirmDialog>
  );
}

/** `POST /auth/password`: the current and a new password; the server says what it refuses, beside the field. */
function ChangePassword({ onChanged }: { onChanged: (sentence: string) => void }) {
  const { client } = useSignedIn();
  const { run, pending, failure } = useAction();
  const [currentPassword, setCurrent] = useState('');
  const [newPassword, setNew] = useState('');
  async function submit(event: Event) {
    event.preventDefault();
    const result = await run(() => unwrap(client.POST('/auth/password', { body: { currentPassword, newPassword } })));
    if (result.ok) {
      setCurrent('');
      setNew('');
      const n = result.value.revokedCount;
      onChanged(
        `Password changed. ${n === 0 ? 'No other session was' : `${n} other session${n === 1 ? ' was' : 's were'}`} ended.`,
      );
    }
  }
  return (
    <form class="card form" noValidate onSubmit={submit} aria-labelledby="change-password">
      <h2 id="change-password">Change password</h2>
      <ErrorNotice failure={failure} fields={['currentPassword', 'newPassword']} />
      <TextField
        label="Current password"
        name="currentPassword"
        type="password"
        autoComplete="current-password"
        required
        value={currentPassword}
        onValue={setCurrent}
        failure={failure}
      />
      <TextField
        label="New password"
        name="newPassword"
        type="password"
        autoComplete="new-password"
        required
        value={newPassword}
        onValue={setNew}
        failure={failure}
        hint="10 to 256 characters, not a common password. Your other sessions are ended; this one stays."
      />
      <div class="buttons">
        <button type="submit" class="primary" disabled={pending}>
          Change password
        </button>
      </div>
    </form>
  );
}
