import { useState } from 'preact/hooks';
import { unwrap } from '../api.ts';
import { type Organization, useAction, useSignedIn } from '../context.ts';
import { ORGANIZATION_MODULES } from '../modules.ts';
import { navigate } from '../router.ts';
import { Dialog } from '../ui/dialog.tsx';
import { ErrorNotice } from '../ui/error-notice.tsx';
import { TextField } from '../ui/field.tsx';

/**
 * Which organization the pages show: a list of the user's organizations and a "Switch" button (choosing in the list
 * alone changes nothing, so moving through it with the arrow keys never leaves the page), and "New organization".
 */
export function OrganizationSwitcher({ current, section }: { current: Organization | undefined; section: string }) {
  const { profile } = useSignedIn();
  const [chosen, setChosen] = useState<string>();
  const [creating, setCreating] = useState(false);
  const selected = chosen ?? current?.organizationId ?? profile.organizations[0]?.organizationId ?? '';
  return (
    <div class="switcher">
      {profile.organizations.length > 0 && (
        <form
          class="switcher-form"
          onSubmit={(event) => {
            event.preventDefault();
            setChosen(undefined);
            navigate({ name: 'organization', organizationId: selected, section: section || 'keys' });
          }}
        >
          <label for="organization-switch">Organization</label>
          <select id="organization-switch" value={selected} onChange={(event) => setChosen(event.currentTarget.value)}>
            {profile.organizations.map((organization) => (
              <option key={organization.organizationId} value={organization.organizationId}>
                {organization.name} ({organization.role})
              </option>
            ))}
          </select>
          <button type="submit">Switch</button>
        </form>
      )}
      <button type="button" onClick={() => setCreating(true)}>
        New organization
      </button>
      {creating && <CreateOrganizationDialog onClose={() => setCreating(false)} />}
    </div>
  );
}

/** `POST /organizations`: a new organization, owned by the user, opened at once. */
function CreateOrganizationDialog({ onClose }: { onClose: () => void }) {
  const { client, refreshProfile } = useSignedIn();
  const { run, pending, failure } = useAction();
  const [name, setName] = useState('');
  async function submit(event: Event) {
    event.preventDefault();
    const result = await run(() => unwrap(client.POST('/organizations', { body: { name } })));
    if (result.ok) {
      await refreshProfile();
      onClose();
      navigate({
        name: 'organization',
        organizationId: result.value.organizationId,
        section: ORGANIZATION_MODULES[0]?.id ?? '',
      });
    }
  }
  return (
    <Dialog title="New organization" onClose={onClose}>
      <form class="form" noValidate onSubmit={submit}>
        <ErrorNotice failure={failure} fields={['name']} />
        <p>You will be its owner. Its API keys share one rate-limit pool, on the free plan to start with.</p>
        <TextField
          label="Organization name"
          name="name"
          required
          initialFocus
          value={name}
          onValue={setName}
          failure={failure}
          hint="1 to 100 characters."
        />
        <div class="buttons">
          <button type="submit" class="primary" disabled={pending}>
            Create organization
          </button>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  );
}
