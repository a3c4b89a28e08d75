import { useRef, useState } from 'preact/hooks';
import type { components } from '../../../generated/schema.d.ts';
import { unwrap } from '../api.ts';
import { type Organization, useAction, useLoad, useSignedIn } from '../context.ts';
import { navigate } from '../router.ts';
import { ConfirmDialog } from '../ui/confirm-dialog.tsx';
import { ErrorNotice } from '../ui/error-notice.tsx';
import { Field, TextField } from '../ui/field.tsx';
import { Time } from '../ui/time.tsx';

type Member = components['schemas']['Member'];
type Role = components['schemas']['MemberRole'];

/**
 * The members: owners add people who have signed up, change roles and remove members; anyone may leave. The server's
 * rules hold (an organization keeps an owner: 409 LAST_OWNER) and its refusals are shown as it words them.
 */
export function MembersSection({ organization }: { organization: Organization }) {
  const { client, profile } = useSignedIn();
  const { organizationId } = organization;
  const members = useLoad(
    () => unwrap(client.GET('/organizations/{organizationId}/members', { params: { path: { organizationId } } })),
    [client, organizationId],
  );
  const action = useAction();
  const [status, setStatus] = useState('');
  const [removing, setRemoving] = useState<Member>();
  const isOwner = organization.role === 'owner';
  const me = profile.user.userId;

  async function changeRole(member: Member, role: Role) {
    setStatus('');
    const result = await action.run(() =>
      unwrap(
        client.PATCH('/organizations/{organizationId}/members/{userId}', {
          params: { path: { organizationId, userId: member.userId } },
          body: { role },
        }),
      ),
    );
    if (result.ok) {
      setStatus(`${member.name ?? member.email} is now ${role === 'owner' ? 'an owner' : 'a member'}.`);
      members.reload();
    }
  }

  return (
    <section class="card" aria-labelledby="members-title">
      <h2 id="members-title">Members</h2>
      <p class="status-line" role="status">
        {status}
      </p>
      <ErrorNotice failure={members.failure ?? action.failure} />
      {members.data && (
        <table class="data-table">
          <caption class="visually-hidden">Members of {organization.name}</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Email</th>
              <th scope="col">Role</th>
              <th scope="col">Joined</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {members.data.map((member) => {
              const who = member.name ?? member.email;
              const other: Role = member.role === 'owner' ? 'member' : 'owner';
              return (
                <tr key={member.userId}>
                  <th scope="row" class="row-title">
                    {who}
                    {member.userId === me && ' (you)'}
                  </th>
                  <td data-label="Email">{member.email}</td>
                  <td data-label="Role">{member.role}</td>
                  <td data-label="Joined">
                    <Time iso={member.joinedAt} />
                  </td>
                  <td>
                    <div class="row-actions">
                      {isOwner && (
                        <button type="button" disabled={action.pending} onClick={() => changeRole(member, other)}>
                          {other === 'owner' ? 'Make owner' : 'Make member'}
                          <span class="visually-hidden"> {who}</span>
                        </button>
                      )}
                      {(isOwner || member.userId === me) && (
                        <button type="button" class="danger-quiet" onClick={() => setRemoving(member)}>
                          {member.userId === me ? 'Leave' : 'Remove'}
                          {member.userId !== me && <span class="visually-hidden"> {who}</span>}
                        </button>
                      )}
                    </div>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {isOwner && (
        <AddMember
          organization={organization}
          onAdded={(sentence) => {
            setStatus(sentence);
            members.reload();
          }}
        />
      )}
      {removing && (
        <RemoveMemberDialog
          organization={organization}
          member={removing}
          self={removing.userId === me}
          onClose={() => setRemoving(undefined)}
          onRemoved={(sentence) => {
            setStatus(sentence);
            members.reload();
          }}
        />
      )}
    </section>
  );
}

/** `POST /organizations/{organizationId}/members`: someone who has signed up, by email, as a member or an owner. */
function AddMember({ organization, onAdded }: { organization: Organization; onAdded: (sentence: string) => void }) {
  const { client } = useSignedIn();
  const { run, pending, failure } = useAction();
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<Role>('member');
  async function submit(event: Event) {
    event.preventDefault();
    const result = await run(() =>
      unwrap(
        client.POST('/organizations/{organizationId}/members', {
          params: { path: { organizationId: organization.organizationId } },
          body: { email, role },
        }),
      ),
    );
    if (result.ok) {
      setEmail('');
      onAdded(`Added ${result.value.name ?? result.value.email} as ${result.value.role}.`);
    }
  }
  return (
    <form class="form add-member" noValidate onSubmit={submit} aria-labelledby="add-member-title">
      <h3 id="add-member-title">Add a member</h3>
      <ErrorNotice failure={failure} fields={['email', 'role']} />
      <div class="inline-fields">
        <TextField
          label="Email"
          name="email"
          type="email"
          autoComplete="off"
          required
          value={email}
          onValue={setEmail}
          failure={failure}
          hint="They must have signed up already."
        />
        <Field label="Role" name="role" failure={failure}>
          {(control) => (
            <select {...control} value={role} onChange={(event) => setRole(event.currentTarget.value as Role)}>
              <option value="member">Member</option>
              <option value="owner">Owner</option>
            </select>
          )}
        </Field>
      </div>
      <div class="buttons">
        <button type="submit" class="primary" disabled={pending}>
          Add member
        </button>
      </div>
    </form>
  );
}

/** Removing someone, or leaving, confirmed. Leaving an organization takes the user to their first remaining one. */
function RemoveMemberDialog({
  organization,
  member,
  self,
  onClose,
  onRemoved,
}: {
  organization: Organization;
  member: Member;
  self: boolean;
  onClose: () => void;
  onRemoved: (sentence: string) => void;
}) {
  const { client, refreshProfile } = useSignedIn();
  const { run, pending, failure } = useAction();
  const who = member.name ?? member.email;
  // Once removed, the member's row (and the button that opened this) goes away: focus goes to the page's heading.
  const removed = useRef(false);
  async function remove() {
    const result = await run(() =>
      unwrap(
        client.DELETE('/organizations/{organizationId}/members/{userId}', {
          params: { path: { organizationId: organization.organizationId, userId: member.userId } },
        }),
      ),
    );
    if (!result.ok) {
      return;
    }
    removed.current = true;
    onClose();
    if (self) {
      await refreshProfile();
      navigate({ name: 'home' });
    } else {
      onRemoved(`Removed ${who}.`);
    }
  }
  return (
    <ConfirmDialog
      title={self ? `Leave ${organization.name}?` : `Remove ${who}?`}
      confirmLabel={self ? 'Leave organization' : 'Remove member'}
      onConfirm={remove}
      onClose={onClose}
      pending={pending}
      failure={failure}
      gone={() => removed.current}
    >
      <p>
        {self
          ? 'You lose access to its keys and members. An owner can add you again.'
          : `${who} loses access to ${organization.name}. Its API keys keep working: they belong to the organization.`}
      </p>
    </ConfirmDialog>
  );
}
