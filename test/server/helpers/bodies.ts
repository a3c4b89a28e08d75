import { completeApiKey } from '../../../src/keys/api-key.ts';
import { newEmail, PASSWORD } from './accounts.ts';

/** A well-formed key (its checksum holds) that no server issued. */
const UNISSUED_KEY = completeApiKey(`mr_zzzzzzzz_${'Q'.repeat(32)}`) ?? '';

/**
 * A valid body for each operation that takes one (undefined for the others), for walks over every operation. `tag`
 * marks what it creates; log-in is `owner`'s, and adding a member names `member`, who already belongs (a 409, unless
 * the test gives a newcomer). A password change is from {@link PASSWORD} to another: the caller's own account's.
 */
export function validBodyOf(operationId: string, tag: string, people: { owner: string; member: string }): unknown {
  switch (operationId) {
    case 'createApiKey':
    case 'createOrganizationApiKey':
      return { name: tag };
    case 'renameApiKey':
    case 'renameOrganizationApiKey':
      return { name: `renamed by ${tag}` };
    case 'createContact':
      return { email: newEmail(tag) };
    case 'updateContact':
      return { subscribed: false };
    case 'rotateApiKey':
    case 'rotateOrganizationApiKey':
      return { gracePeriodMinutes: 60 };
    case 'signUp':
      return { email: newEmail(`${tag}-signup`), password: PASSWORD };
    case 'logIn':
      return { email: people.owner, password: PASSWORD };
    case 'createOrganization':
      return { name: `${tag} Ltd` };
    case 'renameOrganization':
      return { name: `${tag} Ltd renamed` };
    case 'addMember':
      return { email: people.member };
    case 'updateMember':
      return { role: 'member' };
    case 'changePassword':
      return { currentPassword: PASSWORD, newPassword: `a new passphrase for ${tag}` };
    case 'createWebhookEndpoint':
    case 'createOrganizationWebhookEndpoint':
      return { url: `http://127.0.0.1:9/${tag}` };
    case 'updateWebhookEndpoint':
    case 'updateOrganizationWebhookEndpoint':
      return { description: `updated by ${tag}` };
    case 'advanceSandboxClock':
      // A minute: a walk that calls it several times leaves the sandbox's keys and tokens as they were.
      return { advanceSeconds: 60 };
    case 'reportLeakedKeys':
      // A token whose checksum holds (so it is looked up) and that no server issued: a false positive.
      return [{ token: UNISSUED_KEY, type: 'mailroom_api_key', url: `https://github.com/${tag}`, source: 'content' }];
    default:
      return undefined;
  }
}
