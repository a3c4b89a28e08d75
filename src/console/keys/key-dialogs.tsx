import { useId, useRef, useState } from 'preact/hooks';
import { unwrap, unwrapEnvelope } from '../api.ts';
import { type Organization, useAction, useSignedIn } from '../context.ts';
import { ConfirmDialog } from '../ui/confirm-dialog.tsx';
import { Dialog } from '../ui/dialog.tsx';
import { ErrorNotice } from '../ui/error-notice.tsx';
import { fieldMessages } from '../ui/failure.ts';
import { TextField } from '../ui/field.tsx';
import { formatMinutes } from '../ui/format.ts';
import { Time } from '../ui/time.tsx';
import { SecretReveal } from './secret-reveal.tsx';
import type { ApiKey } from './types.ts';

interface KeyDialogProps {
  organization: Organization;
  apiKey: ApiKey;
  onClose: () => void;
  /** Called once the server has made the change, with a sentence for the page's status line. */
  onDone: (status: string) => void;
}

/** The path parameters of a key's operations. */
function keyPath(organization: Organization, key: ApiKey) {
  return { params: { path: { organizationId: organization.organizationId, keyId: key.keyId } } };
}

/** "Rename": a new name; the key itself is unchanged. */
export function RenameKeyDialog({ organization, apiKey, onClose, onDone }: KeyDialogProps) {
  const { client } = useSignedIn();
  const { run, pending, failure } = useAction();
  const [name, setName] = useState(apiKey.name);
  async function submit(event: Event) {
    event.preventDefault();
    const result = await run(() =>
      unwrap(
        client.PATCH('/organizations/{organizationId}/api-keys/{keyId}', {
          ...keyPath(organization, apiKey),
          body: { name },
        }),
      ),
    );
    if (result.ok) {
      onDone(`Renamed ${apiKey.name} to ${result.value.name}.`);
      onClose();
    }
  }
  return (
    <Dialog title={`Rename ${apiKey.name}`} onClose={onClose}>
      <form class="form" noValidate onSubmit={submit}>
        <ErrorNotice failure={failure} fields={['name']} />
        <TextField label="Name" name="name" required initialFocus value={name} onValue={setName} failure={failure} />
        <div class="buttons">
          <button type="submit" class="primary" disabled={pending}>
            Save name
          </button>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/** The grace periods offered for the old key, in minutes: the spec's default (24 hours) is chosen first. */
export const GRACE_PRESETS = [0, 60, 1440, 10080] as const;
const DEFAULT_GRACE = '1440';

/**
 * "Rotate": a new key with the old one's settings; the old one keeps working for the grace period (a preset or typed
 * minutes), answering with `Deprecation` and `Sunset` meanwhile. Then the new secret, shown once.
 */
export function RotateKeyDialog({ organization, apiKey, onClose, onDone }: KeyDialogProps) {
  const { client } = useSignedIn();
  const { run, pending, failure } = useAction();
  const [choice, setChoice] = useState<string>(DEFAULT_GRACE);
  const [typed, setTyped] = useState('');
  const [rotated, setRotated] = useState<{ apiKey: string; warning: string; previousExpires: string | null }>();
  const legendId = useId();

  async function submit(event: Event) {
    event.preventDefault();
    const text = choice === 'other' ? typed : choice;
    const minutes = text.trim() === '' ? undefined : Number(text);
    const body = { gracePeriodMinutes: (Number.isFinite(minutes) ? minutes : text) as number };
    const result = await run(() =>
      unwrapEnvelope(
        client.POST('/organizations/{organizationId}/api-keys/{keyId}/rotate', {
          ...keyPath(organization, apiKey),
          body,
        }),
      ),
    );
    if (result.ok) {
      const { data, meta } = result.value;
      setRotated({ apiKey: data.apiKey, warning: meta.warning, previousExpires: data.previousKey.expirationTs });
      onDone(`Rotated ${apiKey.name}: the new key is ${data.keyPrefix}.`);
    }
  }

  if (rotated) {
    return (
      <Dialog key="secret" title={`New key for ${apiKey.name}`} onClose={onClose} wide>
        <SecretReveal apiKey={rotated.apiKey} warning={rotated.warning} onDone={onClose}>
          <p>
            The old key <code>{apiKey.keyPrefix}</code>{' '}
            {rotated.previousExpires === null ? (
              'keeps working.'
            ) : (
              <>
                works until <Time iso={rotated.previousExpires} />, answering with a <code>Deprecation</code> header
                meanwhile. Put the new key in place before then.
              </>
            )}
          </p>
        </SecretReveal>
      </Dialog>
    );
  }
  const typedMessages = fieldMessages(failure, 'gracePeriodMinutes');
  return (
    <Dialog key="form" title={`Rotate ${apiKey.name}`} onClose={onClose} wide>
      <form class="form" noValidate onSubmit={submit}>
        <ErrorNotice failure={failure} fields={['gracePeriodMinutes']} />
        <p>
          A new key replaces <code>{apiKey.keyPrefix}</code> with the same name, environment, permissions, rate limit
          and expiry policy. Its secret is shown once.
        </p>
        <fieldset class="choices" aria-describedby={`${legendId}-hint`}>
          <legend id={legendId}>How long the old key keeps working</legend>
          {GRACE_PRESETS.map((minutes) => (
            <label key={minutes} class="choice">
              <input
                type="radio"
                name="grace"
                value={String(minutes)}
                checked={choice === String(minutes)}
                onChange={() => setChoice(String(minutes))}
              />
              {minutes === 0 ? 'Not at all: it stops at once (a leaked key)' : formatMinutes(minutes)}
            </label>
          ))}
          <label class="choice">
            <input
              type="radio"
              name="grace"
              value="other"
              checked={choice === 'other'}
              onChange={() => setChoice('other')}
            />
            Another period
          </label>
          <p class="hint" id={`${legendId}-hint`}>
            Never past the old key's own expiry.
          </p>
        </fieldset>
        {(choice === 'other' || typedMessages.length > 0) && (
          <TextField
            label="Grace period in minutes"
            name="gracePeriodMinutes"
            type="number"
            inputMode="numeric"
            value={typed}
            onValue={setTyped}
            failure={failure}
            hint="0 to 10080 minutes (7 days)."
          />
        )}
        <div class="buttons">
          <button type="submit" class="primary" disabled={pending}>
            Rotate key
          </button>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/** "Revoke", confirmed: the key stops working at once, everywhere, for good. */
export function RevokeKeyDialog({ organization, apiKey, onClose, onDone }: KeyDialogProps) {
  const { client } = useSignedIn();
  const { run, pending, failure } = useAction();
  // Once revoked, the key's row (and the button that opened this) goes away: focus goes to the page's heading.
  const revoked = useRef(false);
  async function revoke() {
    const result = await run(() =>
      unwrap(client.DELETE('/organizations/{organizationId}/api-keys/{keyId}', keyPath(organization, apiKey))),
    );
    if (result.ok) {
      revoked.current = true;
      onDone(`Revoked ${apiKey.name} (${apiKey.keyPrefix}).`);
      onClose();
    }
  }
  return (
    <ConfirmDialog
      title={`Revoke ${apiKey.name}?`}
      confirmLabel="Revoke key"
      onConfirm={revoke}
      onClose={onClose}
      pending={pending}
      failure={failure}
      gone={() => revoked.current}
    >
      <p>
        <code>{apiKey.keyPrefix}</code> stops working at once, on every server, and can't be restored. Requests made
        with it are refused with 401.
      </p>
    </ConfirmDialog>
  );
}
