import { useState } from 'preact/hooks';
import { unwrap } from '../api.ts';
import { type Organization, useAction, useSignedIn } from '../context.ts';
import { ErrorNotice } from '../ui/error-notice.tsx';
import { TextField } from '../ui/field.tsx';
import { PageHeader } from '../ui/page-header.tsx';
import { MembersSection } from './members-section.tsx';

/** The organization's name and members. What only owners may do is offered to owners; the server decides either way. */
export function OrganizationSettingsPage({ organization }: { organization: Organization }) {
  return (
    <section>
      <PageHeader title="Members and settings" />
      <p class="lead">
        <strong>{organization.name}</strong> · {organization.plan} plan · your role:{' '}
        <strong>{organization.role}</strong>
        {organization.role === 'member' && ' (owners rename the organization and manage its members)'}
      </p>
      {organization.role === 'owner' && <RenameOrganization organization={organization} />}
      <MembersSection organization={organization} />
    </section>
  );
}

/** `PATCH /organizations/{organizationId}`: a new name (owners only). */
function RenameOrganization({ organization }: { organization: Organization }) {
  const { client, refreshProfile } = useSignedIn();
  const { run, pending, failure } = useAction();
  const [name, setName] = useState(organization.name);
  const [status, setStatus] = useState('');
  async function submit(event: Event) {
    event.preventDefault();
    setStatus('');
    const result = await run(() =>
      unwrap(
        client.PATCH('/organizations/{organizationId}', {
          params: { path: { organizationId: organization.organizationId } },
          body: { name },
        }),
      ),
    );
    if (result.ok) {
      await refreshProfile();
      setStatus(`Renamed to ${result.value.name}.`);
    }
  }
  return (
    <form class="card form" noValidate onSubmit={submit} aria-labelledby="rename-organization">
      <h2 id="rename-organization">Name</h2>
      <ErrorNotice failure={failure} fields={['name']} />
      <TextField label="Organization name" name="name" required value={name} onValue={setName} failure={failure} />
      <div class="buttons">
        <button type="submit" class="primary" disabled={pending}>
          Save name
        </button>
        <span role="status">{status}</span>
      </div>
    </form>
  );
}
