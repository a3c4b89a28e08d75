import type { FunctionComponent } from 'preact';
import { ProfilePage } from './account/profile-page.tsx';
import { SessionsPage } from './account/sessions-page.tsx';
import type { Organization } from './context.ts';
import { KeysPage } from './keys/keys-page.tsx';
import { OrganizationSettingsPage } from './organizations/settings-page.tsx';
import { RequestLogPage } from './usage/request-log-page.tsx';
import { UsagePage } from './usage/usage-page.tsx';
import { WebhooksPage } from './webhooks/webhooks-page.tsx';

/**
 * The console's pages, by where they live. A new page is one entry here and one folder beside this file; the shell
 * builds the navigation and the routes (`#/organizations/{id}/{id of the page}`, `#/account/{id}`) from these lists.
 *
 * A page whose library is heavy (the usage chart's uPlot) imports it on demand, so the rest of the console doesn't
 * carry it: the build splits it into a chunk of its own.
 */
export interface OrganizationModule {
  /** The route's section and the key of the navigation link. */
  id: string;
  /** The navigation link's text, and the page's title. */
  label: string;
  Page: FunctionComponent<{ organization: Organization }>;
}

/** A page of the signed-in user's own account. */
export interface AccountModule {
  id: string;
  label: string;
  Page: FunctionComponent;
}

/** An organization's pages, in the navigation's order; the first is where the console opens. */
export const ORGANIZATION_MODULES: readonly OrganizationModule[] = [
  { id: 'keys', label: 'API keys', Page: KeysPage },
  { id: 'usage', label: 'Usage', Page: UsagePage },
  { id: 'request-log', label: 'Request log', Page: RequestLogPage },
  { id: 'webhooks', label: 'Webhooks', Page: WebhooksPage },
  { id: 'settings', label: 'Members and settings', Page: OrganizationSettingsPage },
];

/** The account's pages. */
export const ACCOUNT_MODULES: readonly AccountModule[] = [
  { id: 'profile', label: 'Account', Page: ProfilePage },
  { id: 'sessions', label: 'Sessions and password', Page: SessionsPage },
];
