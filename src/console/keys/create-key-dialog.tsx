import { useState } from 'preact/hooks';
import { unwrapEnvelope } from '../api.ts';
import { type Organization, useAction, useSignedIn } from '../context.ts';
import { Dialog } from '../ui/dialog.tsx';
import { ErrorNotice } from '../ui/error-notice.tsx';
import { TextField } from '../ui/field.tsx';
import { CREATE_KEY_FIELDS, type KeyFieldValue } from './create-key-fields.tsx';
import { SecretReveal } from './secret-reveal.tsx';
import type { CreateKeyBody } from './types.ts';

const FIELD_NAMES = ['name', ...CREATE_KEY_FIELDS.map((field) => field.name)];

/** "Create key": the key's name and settings, then its secret, shown once. */
export function CreateKeyDialog({
  organization,
  onClose,
  onCreated,
}: {
  organization: Organization;
  onClose: () => void;
  onCreated: () => void;
}) {
  const { client } = useSignedIn();
  const { run, pending, failure } = useAction();
  const [name, setName] = useState('');
  const [values, setValues] = useState<Record<string, KeyFieldValue>>(() =>
    Object.fromEntries(CREATE_KEY_FIELDS.map((f) => [f.name, f.initial])),
  );
  const [created, setCreated] = useState<{ apiKey: string; warning: string; name: string }>();

  async function submit(event: Event) {
    event.preventDefault();
    const body: Record<string, unknown> = { name };
    for (const field of CREATE_KEY_FIELDS) {
      const value = field.toBody(values[field.name] ?? field.initial);
      if (value !== undefined) {
        body[field.name] = value;
      }
    }
    const result = await run(() =>
      unwrapEnvelope(
        client.POST('/organizations/{organizationId}/api-keys', {
          params: { path: { organizationId: organization.organizationId } },
          // As typed: a value the spec refuses is the server's to explain, beside its field.
          body: body as CreateKeyBody,
        }),
      ),
    );
    if (result.ok) {
      setCreated({
        apiKey: result.value.data.apiKey,
        warning: result.value.meta.warning,
        name: result.value.data.name,
      });
      onCreated();
    }
  }

  if (created) {
    return (
      <Dialog key="secret" title={`Your new key: ${created.name}`} onClose={onClose} wide>
        <SecretReveal apiKey={created.apiKey} warning={created.warning} onDone={onClose}>
          <p>
            Send it as <code>Authorization: Bearer &lt;key&gt;</code> or <code>X-API-Key: &lt;key&gt;</code> to the{' '}
            <code>/v1</code> API.
          </p>
        </SecretReveal>
      </Dialog>
    );
  }
  return (
    <Dialog key="form" title="Create key" onClose={onClose} wide>
      <form class="form" noValidate onSubmit={submit}>
        <ErrorNotice failure={failure} fields={FIELD_NAMES} />
        <TextField
          label="Name"
          name="name"
          required
          initialFocus
          value={name}
          onValue={setName}
          failure={failure}
          hint="1 to 100 characters, for example the service or the environment that uses it."
        />
        {CREATE_KEY_FIELDS.map((field) => (
          <field.Input
            key={field.name}
            value={values[field.name] ?? field.initial}
            onValue={(value) => setValues((current) => ({ ...current, [field.name]: value }))}
            failure={failure}
          />
        ))}
        <div class="buttons">
          <button type="submit" class="primary" disabled={pending}>
            Create key
          </button>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  );
}
