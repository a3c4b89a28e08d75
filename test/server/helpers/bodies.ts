import { newEmail, PASSWORD } from './accounts.ts';

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
    default:
      return undefined;
  }
}
