import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import { createConsoleClient, endsSession, unwrap } from './api.ts';
import { type Profile, type SignedIn, SignedInContext, useSignedIn } from './context.ts';
import { ACCOUNT_MODULES, ORGANIZATION_MODULES } from './modules.ts';
import { OrganizationSwitcher } from './organizations/organization-switcher.tsx';
import { hrefOf, type Route } from './router.ts';
import { ErrorNotice } from './ui/error-notice.tsx';
import { type Failure, toFailure } from './ui/failure.ts';

interface ShellProps {
  token: string;
  route: Route;
  onEnd: (reason: string) => void;
}

/** Everything after sign-in: reads the profile, then the header, the organization's navigation and the page. */
export function SignedInShell({ token, route, onEnd }: ShellProps) {
  const client = useMemo(() => createConsoleClient(token), [token]);
  const [profile, setProfile] = useState<Profile>();
  const [failure, setFailure] = useState<Failure>();

  const refreshProfile = useCallback(async () => {
    try {
      setProfile(await unwrap(client.GET('/auth/me')));
      setFailure(undefined);
    } catch (error) {
      if (endsSession(error)) {
        onEnd(`Your session ended: ${error.message}`);
      } else {
        setFailure(toFailure(error));
      }
    }
  }, [client, onEnd]);

  useEffect(() => {
    refreshProfile();
  }, [refreshProfile]);

  const signedIn = useMemo<SignedIn | undefined>(
    () =>
      profile && {
        client,
        profile,
        refreshProfile,
        endSession: (reason) => onEnd(`Your session ended: ${reason}`),
      },
    [client, profile, refreshProfile, onEnd],
  );

  // Home (and the sign-in pages, once signed in) open the first organization's first page.
  const firstOrganization = profile?.organizations[0];
  useEffect(() => {
    if (profile && (route.name === 'home' || route.name === 'login' || route.name === 'signup')) {
      window.location.replace(
        firstOrganization
          ? hrefOf({
              name: 'organization',
              organizationId: firstOrganization.organizationId,
              section: ORGANIZATION_MODULES[0]?.id ?? '',
            })
          : hrefOf({ name: 'account', section: ACCOUNT_MODULES[0]?.id ?? '' }),
      );
    }
  }, [profile, route.name, firstOrganization]);

  async function logOut() {
    try {
      await unwrap(client.POST('/auth/logout'));
    } catch {
      // Logged out or not, the token is forgotten here; a refused token is already useless.
    }
    onEnd('You have logged out.');
  }

  if (!signedIn) {
    return (
      <main id="main" class="loading" aria-busy={!failure}>
        {failure ? (
          <div class="card">
            <ErrorNotice failure={failure} />
            <button type="button" onClick={refreshProfile}>
              Retry
            </button>
          </div>
        ) : (
          <p>Loading your account…</p>
        )}
      </main>
    );
  }
  const organization =
    route.name === 'organization'
      ? signedIn.profile.organizations.find((o) => o.organizationId === route.organizationId)
      : undefined;
  return (
    <SignedInContext.Provider value={signedIn}>
      <header class="topbar">
        {/* A button, not a #main link: the hash is the console's route. */}
        <button type="button" class="skip-link" onClick={() => document.getElementById('main')?.focus()}>
          Skip to content
        </button>
        <span class="brand">Mailroom console</span>
        <OrganizationSwitcher current={organization} section={route.name === 'organization' ? route.section : ''} />
        <nav class="account-nav" aria-label="Account">
          <a
            href={hrefOf({ name: 'account', section: 'profile' })}
            aria-current={route.name === 'account' ? 'page' : undefined}
          >
            {signedIn.profile.user.name ?? signedIn.profile.user.email}
          </a>
          <button type="button" onClick={logOut}>
            Log out
          </button>
        </nav>
      </header>
      {organization && route.name === 'organization' && (
        <nav class="tabs" aria-label={`${organization.name} pages`}>
          {ORGANIZATION_MODULES.map((module) => (
            <a
              key={module.id}
              href={hrefOf({ name: 'organization', organizationId: organization.organizationId, section: module.id })}
              aria-current={route.section === module.id ? 'page' : undefined}
            >
              {module.label}
            </a>
          ))}
        </nav>
      )}
      {route.name === 'account' && (
        <nav class="tabs" aria-label="Account pages">
          {ACCOUNT_MODULES.map((module) => (
            <a
              key={module.id}
              href={hrefOf({ name: 'account', section: module.id })}
              aria-current={route.section === module.id ? 'page' : undefined}
            >
              {module.label}
            </a>
          ))}
        </nav>
      )}
      <main id="main" tabIndex={-1}>
        <RoutedPage route={route} />
      </main>
    </SignedInContext.Provider>
  );
}

/** The page a route names, from the module lists. */
function RoutedPage({ route }: { route: Route }) {
  const { profile } = useSignedIn();
  if (route.name === 'organization') {
    const organization = profile.organizations.find((o) => o.organizationId === route.organizationId);
    if (!organization) {
      return (
        <div class="card">
          <h1>Organization not found</h1>
          <p>
            You don't belong to an organization <code>{route.organizationId}</code>.{' '}
            <a href={hrefOf({ name: 'home' })}>Go to your first organization</a>.
          </p>
        </div>
      );
    }
    const module = ORGANIZATION_MODULES.find((m) => m.id === route.section) ?? ORGANIZATION_MODULES[0];
    return module ? <module.Page key={organization.organizationId} organization={organization} /> : null;
  }
  if (route.name === 'account') {
    const module = ACCOUNT_MODULES.find((m) => m.id === route.section) ?? ACCOUNT_MODULES[0];
    return module ? <module.Page /> : null;
  }
  return <p>Opening…</p>;
}
