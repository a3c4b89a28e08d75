import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { completeApiKey } from '../../../src/keys/api-key.ts';
import { ALL_PERMISSIONS } from '../../../src/lib/permissions.ts';
import { readSeedFile, SeedError } from '../../../src/server/sandbox/seed-file.ts';

// A fixture (`mailroom serve --seed FILE`) is checked before anything is stored: its syntax, the shipped JSON Schema
// (generated/seed.schema.json), then what a schema can't say. Every problem names the file, the line and column, and
// the field. Each case below is a small fixture with one mistake, and the exact line it must produce.

const PLANS = ['free', 'pro', 'enterprise'];
const FIXED = completeApiKey(`mr_acme0001_${'A'.repeat(32)}`) as string;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mailroom-seed-file-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let files = 0;
/** Writes `text` to a fixture file of its own; returns its path. */
async function fixture(text: string, extension = 'yaml'): Promise<string> {
  const path = join(dir, `fixture-${++files}.${extension}`);
  await writeFile(path, text);
  return path;
}

/** The lines of the SeedError reading `text` throws, with the file's path shortened to `F`. */
async function problemsOf(text: string, options = { sandbox: true }, extension = 'yaml'): Promise<string[]> {
  const path = await fixture(text, extension);
  const error = await readSeedFile(path, { plans: PLANS, ...options }).then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(SeedError);
  return (error as SeedError).message.split('\n').map((line) => line.replace(path, 'F'));
}

const USER = ['users:', '  - email: ada@example.com', '    password: correct horse battery staple'];

describe('a fixture that is valid', () => {
  test('is read into what it declares, YAML or JSON', async () => {
    const yaml = [
      ...USER,
      '    name: Ada Lovelace',
      'organizations:',
      '  - name: Acme',
      '    plan: pro',
      '    members: [{ email: ADA@example.com, role: owner }]',
      '    keys:',
      '      - name: CI',
      `        apiKey: ${FIXED}`,
      '        permissions: [contacts:read]',
      '        environment: development',
      '        rateLimit: 600',
      '        expiresAt: 2020-01-01T00:00:00Z',
      '    contacts:',
      '      - { email: grace@example.com, firstName: Grace }',
    ].join('\n');
    const read = await readSeedFile(await fixture(yaml), { plans: PLANS, sandbox: true });
    expect(read.seed).toEqual({
      users: [{ email: 'ada@example.com', password: 'correct horse battery staple', name: 'Ada Lovelace' }],
      organizations: [
        {
          name: 'Acme',
          plan: 'pro',
          members: [{ email: 'ADA@example.com', role: 'owner' }],
          keys: [
            {
              name: 'CI',
              apiKey: FIXED,
              permissions: ['contacts:read'],
              environment: 'development',
              rateLimit: 600,
              // YAML 1.2's core schema: a timestamp stays a string, as it would in JSON.
              expiresAt: '2020-01-01T00:00:00Z',
            },
          ],
          contacts: [{ email: 'grace@example.com', firstName: 'Grace' }],
        },
      ],
    });
    const json = await readSeedFile(await fixture(JSON.stringify(read.seed, null, 2), 'json'), {
      plans: PLANS,
      sandbox: true,
    });
    expect(json.seed).toEqual(read.seed);
  });

  test('may be empty of records, and name its schema for editors', async () => {
    const read = await readSeedFile(await fixture('$schema: ./node_modules/mailroom/generated/seed.schema.json\n'), {
      plans: PLANS,
      sandbox: false,
    });
    expect(read.seed).toEqual({ $schema: './node_modules/mailroom/generated/seed.schema.json' });
  });
});

describe('each problem of a fixture names the file, the line, the column and the field', () => {
  test.each([
    // given: the fixture → want: its one problem
    [
      'a field the schema does not have',
      [...USER, '    colour: blue'],
      'F:4:5: users[0].colour: is not a field here; the fields are email, password, name',
    ],
    ['a missing required field', ['users:', '  - email: ada@example.com'], 'F:2:5: users[0].password: is required'],
    [
      'a password under 10 characters',
      ['users:', '  - email: ada@example.com', '    password: short'],
      'F:3:15: users[0].password: must NOT have fewer than 10 characters',
    ],
    [
      'an email that is none',
      ['users:', '  - email: ada', '    password: correct horse battery staple'],
      'F:2:12: users[0].email: must be an email address',
    ],
    [
      'a permission the spec lacks',
      ['organizations:', '  - name: Acme', '    keys: [{ name: CI, permissions: [contacts:delete] }]'],
      `F:3:38: organizations[0].keys[0].permissions[0]: must be one of ${ALL_PERMISSIONS.join(', ')}`,
    ],
    [
      'an environment the spec lacks',
      ['organizations:', '  - name: Acme', '    keys: [{ name: CI, environment: qa }]'],
      'F:3:37: organizations[0].keys[0].environment: must be one of development, staging, production',
    ],
    [
      'a rate limit out of bounds',
      ['organizations:', '  - name: Acme', '    keys: [{ name: CI, rateLimit: 0 }]'],
      'F:3:35: organizations[0].keys[0].rateLimit: must be >= 1',
    ],
    [
      'an expiry that is no date',
      ['organizations:', '  - name: Acme', '    keys: [{ name: CI, expiresAt: tomorrow }]'],
      'F:3:35: organizations[0].keys[0].expiresAt: must be a date and time with its offset, e.g. 2027-01-01T00:00:00Z',
    ],
    [
      'a key text of the wrong shape',
      ['organizations:', '  - name: Acme', '    keys: [{ name: CI, apiKey: mr_short_x }]'],
      'F:3:32: organizations[0].keys[0].apiKey: must be an API key, mr_<8 lowercase letters or digits>_<38 letters or digits> (npx mailroom keys generate prints one)',
    ],
    [
      'a contact with an unknown field',
      ['organizations:', '  - name: Acme', '    contacts: [{ email: a@example.com, phone: "1" }]'],
      'F:3:40: organizations[0].contacts[0].phone: is not a field here; the fields are email, firstName, lastName, subscribed',
    ],
    [
      'a member without an email',
      ['organizations:', '  - name: Acme', '    members: [{ role: owner }]'],
      'F:3:15: organizations[0].members[0].email: is required',
    ],
    ['a list where an object belongs', ['organizations: Acme'], 'F:1:16: organizations: must be array'],
    [
      'an unknown top-level field',
      ['apiKeys: []'],
      'F:1:1: apiKeys: is not a field here; the fields are users, organizations',
    ],
  ])('%s', async (_name, lines, want) => {
    expect(await problemsOf(lines.join('\n'))).toEqual([want]);
  });

  test.each([
    [
      'an email given to two users',
      [...USER, '  - email: Ada@Example.com', '    password: another long password'],
      ['F:4:12: users[1].email: users[0] has this email already'],
    ],
    [
      'an organization name given twice',
      ['organizations:', '  - name: Acme', '  - name: Acme'],
      ['F:3:11: organizations[1].name: organizations[0] has this name already'],
    ],
    [
      'a plan the server lacks',
      ['organizations:', '  - name: Acme', '    plan: gold'],
      ['F:3:11: organizations[0].plan: unknown plan "gold"; this server\'s plans: free, pro, enterprise'],
    ],
    [
      'a member who is no user of the file',
      [
        ...USER,
        'organizations:',
        '  - name: Acme',
        '    members: [{ email: ada@example.com, role: owner }, { email: bob@example.com }]',
      ],
      ['F:6:65: organizations[0].members[1].email: no user of this file has this email (list it under users)'],
    ],
    [
      'members without an owner',
      [...USER, 'organizations:', '  - name: Acme', '    members: [{ email: ada@example.com }]'],
      ['F:6:5: organizations[0].members: an organization with members needs an owner (role: owner)'],
    ],
    [
      'access that disagrees with permissions',
      ['organizations:', '  - name: Acme', '    keys: [{ name: CI, permissions: [contacts:read], access: full }]'],
      [
        `F:3:62: organizations[0].keys[0].access: full stands for ${ALL_PERMISSIONS.join(', ')}; it disagrees with permissions`,
      ],
    ],
    [
      'both kinds of expiry',
      [
        'organizations:',
        '  - name: Acme',
        '    keys: [{ name: CI, expirationDays: 3, expiresAt: "2030-01-01T00:00:00Z" }]',
      ],
      ['F:3:54: organizations[0].keys[0].expiresAt: give expiresAt or expirationDays, not both'],
    ],
    [
      'a contact email given twice in one organization',
      ['organizations:', '  - name: Acme', '    contacts: [{ email: a@example.com }, { email: A@example.com }]'],
      ['F:3:51: organizations[0].contacts[1].email: contacts[0] has this email already'],
    ],
  ])('%s (what the schema cannot say)', async (_name, lines, want) => {
    expect(await problemsOf(lines.join('\n'))).toEqual(want);
  });

  test('a fixed key whose checksum is wrong is refused, naming the valid key with its id and secret', async () => {
    const wrong = `${FIXED.slice(0, -6)}zzzzzz`;
    const lines = ['organizations:', '  - name: Acme', `    keys: [{ name: CI, apiKey: ${wrong} }]`];
    expect(await problemsOf(lines.join('\n'))).toEqual([
      `F:3:32: organizations[0].keys[0].apiKey: its checksum does not match: the valid key with this id and secret is ${FIXED}`,
    ]);
  });

  test('two fixed keys with one public id are refused', async () => {
    const other = completeApiKey(`mr_acme0001_${'B'.repeat(32)}`);
    const lines = [
      'organizations:',
      '  - name: Acme',
      `    keys: [{ name: A, apiKey: ${FIXED} }, { name: B, apiKey: ${other} }]`,
    ];
    expect(await problemsOf(lines.join('\n'))).toEqual([
      'F:3:104: organizations[0].keys[1].apiKey: organizations[0].keys[0].apiKey has the same public id (acme0001); each key needs its own',
    ]);
  });

  test('fixed keys outside sandbox mode are one line, at the first of them', async () => {
    const other = completeApiKey(`mr_acme0002_${'B'.repeat(32)}`);
    const lines = [
      'organizations:',
      '  - name: Acme',
      '    keys:',
      `      - { name: A, apiKey: ${FIXED} }`,
      `      - { name: B, apiKey: ${other} }`,
    ];
    expect(await problemsOf(lines.join('\n'), { sandbox: false })).toEqual([
      'F:4:28: organizations[0].keys[0].apiKey: a fixed API key is allowed only in sandbox mode (mailroom serve --sandbox, MAILROOM_SANDBOX=1) (and 1 more)',
    ]);
  });

  test('every problem of a file is reported, in the order of its lines', async () => {
    const lines = ['users:', '  - email: ada', '    password: short', 'organizations:', '  - name: ""', '    plan: 7'];
    expect(await problemsOf(lines.join('\n'))).toEqual([
      'F:2:12: users[0].email: must be an email address',
      'F:3:15: users[0].password: must NOT have fewer than 10 characters',
      'F:5:11: organizations[0].name: must NOT have fewer than 1 characters',
      'F:6:11: organizations[0].plan: must be string',
    ]);
  });

  test('a JSON fixture gets its lines too', async () => {
    const json = '{\n  "users": [\n    { "email": "ada@example.com", "password": "short" }\n  ]\n}\n';
    expect(await problemsOf(json, { sandbox: true }, 'json')).toEqual([
      'F:3:47: users[0].password: must NOT have fewer than 10 characters',
    ]);
  });

  test('text that is neither YAML nor JSON names where it breaks', async () => {
    expect(
      await problemsOf('users:\n  - email: a@example.com\n  - email: b@example.com\n    email: c@example.com\n'),
    ).toEqual(['F:4:5: not valid YAML or JSON: Map keys must be unique']);
  });

  test('a file that does not exist is one line naming it', async () => {
    const missing = join(dir, 'missing.yaml');
    await expect(readSeedFile(missing, { plans: PLANS, sandbox: true })).rejects.toThrow(
      `${missing}: cannot read the seed file: no such file`,
    );
  });
});
