import { useSignedIn } from '../context.ts';
import { hrefOf } from '../router.ts';
import { PageHeader } from '../ui/page-header.tsx';
import { Time } from '../ui/time.tsx';

/**
 * The signed-in user: who they are and their organizations. Sessions and the password change are the page beside this
 * one (ACCOUNT_MODULES: sessions-page.tsx).
 */
export function ProfilePage() {
  const { profile } = useSignedIn();
  const { user, organizations } = profile;
  return (
    <section>
      <PageHeader title="Account" />
      <dl class="card facts">
        <dt>Name</dt>
        <dd>{user.name ?? '—'}</dd>
        <dt>Email</dt>
        <dd>{user.email}</dd>
        <dt>Signed up</dt>
        <dd>
          <Time iso={user.createdAt} />
        </dd>
      </dl>
      <section class="card" aria-labelledby="organizations-title">
        <h2 id="organizations-title">Your organizations</h2>
        {organizations.length === 0 ? (
          <p>You belong to no organization. Create one with "New organization" above.</p>
        ) : (
          <ul class="plain-list">
            {organizations.map((organization) => (
              <li key={organization.organizationId}>
                <a
                  href={hrefOf({ name: 'organization', organizationId: organization.organizationId, section: 'keys' })}
                >
                  {organization.name}
                </a>{' '}
                <span class="muted">
                  ({organization.role}, {organization.plan} plan)
                </span>
              </li>
            ))}
          </ul>
        )}
      </section>
    </section>
  );
}
