import { useId, useState } from 'preact/hooks';
import type { Environment } from '../../lib/permissions.ts';
import { unwrapEnvelope } from '../api.ts';
import { type Organization, useLoad, useSignedIn } from '../context.ts';
import { hrefOf } from '../router.ts';
import { ErrorNotice } from '../ui/error-notice.tsx';
import { PageHeader } from '../ui/page-header.tsx';
import { CreateKeyDialog } from './create-key-dialog.tsx';
import { ENVIRONMENTS } from './environments.ts';
import { KEY_COLUMNS } from './key-columns.tsx';
import { RenameKeyDialog, RevokeKeyDialog, RotateKeyDialog } from './key-dialogs.tsx';
import type { ApiKey } from './types.ts';

type Open = { dialog: 'create' } | { dialog: 'rename' | 'rotate' | 'revoke'; key: ApiKey } | undefined;

/** The organization's API keys: the list, "Create key", and each key's "Rename", "Rotate" and "Revoke". */
export function KeysPage({ organization }: { organization: Organization }) {
  const { client } = useSignedIn();
  const [environment, setEnvironment] = useState<Environment | ''>('');
  const keys = useLoad(
    () =>
      unwrapEnvelope(
        client.GET('/organizations/{organizationId}/api-keys', {
          params: {
            path: { organizationId: organization.organizationId },
            // The server filters (the spec's `environment` query parameter), so the count is the environment's.
            query: environment === '' ? {} : { environment },
          },
        }),
      ),
    [client, organization.organizationId, environment],
  );
  const filterId = useId();
  const [open, setOpen] = useState<Open>();
  const [status, setStatus] = useState('');
  const close = () => setOpen(undefined);
  const done = (sentence: string) => {
    setStatus(sentence);
    keys.reload();
  };
  const list = keys.data?.data;

  return (
    <section>
      <PageHeader title="API keys">
        <button type="button" class="primary" onClick={() => setOpen({ dialog: 'create' })}>
          Create key
        </button>
      </PageHeader>
      <p class="lead">
        Keys of <strong>{organization.name}</strong> for the <code>/v1</code> API. They share the organization's{' '}
        <strong>{organization.plan}</strong> plan's rate limits. A key's secret is shown once, when it is created or
        rotated.
      </p>
      <p class="status-line" role="status">
        {status}
      </p>
      <div class="filters">
        <div class="field">
          <label for={filterId}>Environment</label>
          <select
            id={filterId}
            value={environment}
            onChange={(event) => setEnvironment(event.currentTarget.value as Environment | '')}
          >
            <option value="">All environments</option>
            {ENVIRONMENTS.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </div>
      </div>
      <ErrorNotice failure={keys.failure} />
      {list === undefined ? (
        keys.loading && <p aria-busy="true">Loading keys…</p>
      ) : list.length === 0 ? (
        <div class="empty card">
          <p>
            {environment === ''
              ? 'No keys yet. Create one to call the API.'
              : `No ${environment} keys. Create one, or show all environments.`}
          </p>
        </div>
      ) : (
        <KeyTable keys={list} total={keys.data?.meta.total ?? list.length} environment={environment} onOpen={setOpen} />
      )}
      {open?.dialog === 'create' && (
        <CreateKeyDialog organization={organization} onClose={close} onCreated={() => done('Created a key.')} />
      )}
      {open?.dialog === 'rename' && (
        <RenameKeyDialog organization={organization} apiKey={open.key} onClose={close} onDone={done} />
      )}
      {open?.dialog === 'rotate' && (
        <RotateKeyDialog organization={organization} apiKey={open.key} onClose={close} onDone={done} />
      )}
      {open?.dialog === 'revoke' && (
        <RevokeKeyDialog organization={organization} apiKey={open.key} onClose={close} onDone={done} />
      )}
    </section>
  );
}

/** The key list: a table on a wide screen, one card per key on a narrow one (the same markup, restyled). */
function KeyTable({
  keys,
  total,
  environment,
  onOpen,
}: {
  keys: ApiKey[];
  total: number;
  environment: Environment | '';
  onOpen: (open: Open) => void;
}) {
  return (
    <table class="data-table keys-table">
      <caption>
        {total} active key{total === 1 ? '' : 's'}
        {environment === '' ? '' : ` in ${environment}`}
      </caption>
      <thead>
        <tr>
          <th scope="col">Name</th>
          {KEY_COLUMNS.map((column) => (
            <th key={column.id} scope="col">
              {column.header}
            </th>
          ))}
          <th scope="col">
            <span class="visually-hidden">Actions</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {keys.map((key) => (
          <tr key={key.keyId}>
            <th scope="row" class="row-title">
              {key.name}
            </th>
            {KEY_COLUMNS.map((column) => (
              <td key={column.id} data-label={column.header}>
                {column.cell(key)}
              </td>
            ))}
            <td>
              <div class="row-actions">
                <a
                  class="button-link"
                  href={hrefOf({
                    name: 'organization',
                    organizationId: key.organizationId,
                    section: 'usage',
                    item: key.keyId,
                  })}
                >
                  Usage<span class="visually-hidden"> of {key.name}</span>
                </a>
                {(['rename', 'rotate', 'revoke'] as const).map((dialog) => (
                  <button
                    key={dialog}
                    type="button"
                    class={dialog === 'revoke' ? 'danger-quiet' : undefined}
                    onClick={() => onOpen({ dialog, key })}
                  >
                    {dialog === 'rename' ? 'Rename' : dialog === 'rotate' ? 'Rotate' : 'Revoke'}
                    <span class="visually-hidden"> {key.name}</span>
                  </button>
                ))}
              </div>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
