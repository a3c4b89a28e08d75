import { useMemo, useState } from 'preact/hooks';
import { createConsoleKeyClient, unwrap, unwrapEnvelope } from '../api.ts';
import { type Organization, useAction, useLoad } from '../context.ts';
import { hrefOf } from '../router.ts';
import { ErrorNotice } from '../ui/error-notice.tsx';
import { TextField } from '../ui/field.tsx';
import { PageHeader } from '../ui/page-header.tsx';
import { Time } from '../ui/time.tsx';
import { Deliveries } from './deliveries.tsx';
import { DeleteEndpointDialog, EndpointDialog, RotateSecretDialog } from './endpoint-dialogs.tsx';
import type { Endpoint, KeyClient } from './types.ts';

type Open = { dialog: 'create' } | { dialog: 'edit' | 'rotate' | 'delete'; endpoint: Endpoint } | undefined;

/**
 * The organization's webhook endpoints and their deliveries. The API manages them with an API key only (`/v1`, the
 * `webhooks:read` and `webhooks:write` permissions; there is no user-token twin), so the page asks for one: it stays in
 * this page's memory, never in storage, and leaving the page forgets it.
 */
export function WebhooksPage({ organization }: { organization: Organization }) {
  const [apiKey, setApiKey] = useState<string>();
  const api = useMemo<KeyClient | undefined>(
    () => (apiKey ? { client: createConsoleKeyClient(apiKey) } : undefined),
    [apiKey],
  );
  return (
    <section>
      <PageHeader title="Webhooks" />
      <p class="lead">
        Endpoints that receive <strong>{organization.name}</strong>'s events (a key created, rotated, revoked, expiring,
        leaked; unusual activity), signed with a secret shown once, and each delivery's fate.
      </p>
      {api ? (
        <Endpoints api={api} onForgetKey={() => setApiKey(undefined)} />
      ) : (
        <KeyForm organization={organization} onKey={setApiKey} />
      )}
    </section>
  );
}

/** Asks for the API key the webhooks operations take, and checks it by listing the endpoints. */
function KeyForm({ organization, onKey }: { organization: Organization; onKey: (key: string) => void }) {
  const [typed, setTyped] = useState('');
  const [problem, setProblem] = useState<string>();
  const { run, pending, failure } = useAction({ apiKey: true });
  async function submit(event: Event) {
    event.preventDefault();
    setProblem(undefined);
    let client: ReturnType<typeof createConsoleKeyClient>;
    try {
      client = createConsoleKeyClient(typed.trim());
    } catch (error) {
      // The client refuses an empty value or a user token before sending anything: its own words.
      setProblem((error as Error).message.replace(/^createMailroomClient: /, ''));
      return;
    }
    const result = await run(() => unwrapEnvelope(client.GET('/v1/webhook-endpoints')));
    if (result.ok) {
      onKey(typed.trim());
    }
  }
  return (
    <form class="card form key-gate" noValidate onSubmit={submit}>
      <h2>Use an API key</h2>
      <p>
        Webhooks are managed through the <code>/v1</code> API with an API key of this organization that holds{' '}
        <code>webhooks:read</code> and <code>webhooks:write</code>.{' '}
        <a href={hrefOf({ name: 'organization', organizationId: organization.organizationId, section: 'keys' })}>
          Create one on the API keys page
        </a>{' '}
        if you have none. It stays in this page's memory only: leaving the page forgets it.
      </p>
      <ErrorNotice failure={problem ? { message: problem } : failure} />
      <TextField
        label="API key"
        name="apiKey"
        type="password"
        autoComplete="off"
        value={typed}
        onValue={setTyped}
        hint="mr_… as it was shown when the key was created."
      />
      <div class="buttons">
        <button type="submit" class="primary" disabled={pending}>
          Use key
        </button>
      </div>
    </form>
  );
}

/** The endpoints: the list, "Add endpoint", and each one's actions; the chosen one's deliveries beneath. */
function Endpoints({ api, onForgetKey }: { api: KeyClient; onForgetKey: () => void }) {
  const endpoints = useLoad(() => unwrapEnvelope(api.client.GET('/v1/webhook-endpoints')), [api], { apiKey: true });
  const action = useAction({ apiKey: true });
  const [open, setOpen] = useState<Open>();
  const [status, setStatus] = useState('');
  const [shown, setShown] = useState<string>();
  const [generation, setGeneration] = useState(0);
  const list = endpoints.data?.data;
  const selected = list?.find((endpoint) => endpoint.endpointId === shown);
  const done = (sentence: string) => {
    setStatus(sentence);
    endpoints.reload();
  };
  const path = (endpoint: Endpoint) => ({ params: { path: { endpointId: endpoint.endpointId } } });

  async function setDisabled(endpoint: Endpoint, disabled: boolean) {
    const result = await action.run(() =>
      unwrap(api.client.PATCH('/v1/webhook-endpoints/{endpointId}', { ...path(endpoint), body: { disabled } })),
    );
    if (result.ok) {
      done(`${disabled ? 'Disabled' : 'Enabled'} ${endpoint.url}.`);
    }
  }
  async function sendTest(endpoint: Endpoint) {
    const result = await action.run(() =>
      unwrap(api.client.POST('/v1/webhook-endpoints/{endpointId}/test', path(endpoint))),
    );
    if (result.ok) {
      setStatus(`Sent a test event to ${endpoint.url} (delivery ${result.value.deliveryId}).`);
      setShown(endpoint.endpointId);
      setGeneration((n) => n + 1);
    }
  }

  return (
    <>
      <div class="page-actions toolbar">
        <button type="button" class="primary" onClick={() => setOpen({ dialog: 'create' })}>
          Add endpoint
        </button>
        <button type="button" onClick={onForgetKey}>
          Forget key
        </button>
      </div>
      <p class="status-line" role="status">
        {status}
      </p>
      <ErrorNotice failure={endpoints.failure ?? action.failure} />
      {list === undefined ? (
        endpoints.loading && <p aria-busy="true">Loading endpoints…</p>
      ) : list.length === 0 ? (
        <div class="empty card">
          <p>No endpoints yet. Add one to receive events.</p>
        </div>
      ) : (
        <table class="data-table endpoints-table">
          <caption>
            {list.length} endpoint{list.length === 1 ? '' : 's'}
          </caption>
          <thead>
            <tr>
              <th scope="col">URL</th>
              <th scope="col">State</th>
              <th scope="col">Events</th>
              <th scope="col">Created</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {list.map((endpoint) => (
              <tr key={endpoint.endpointId}>
                <th scope="row" class="row-title">
                  <code class="endpoint-url">{endpoint.url}</code>
                  {endpoint.description && <span class="operation muted">{endpoint.description}</span>}
                </th>
                <td data-label="State">
                  {endpoint.disabled ? (
                    <span class="delivery-status delivery-failed">Disabled</span>
                  ) : (
                    <span class="delivery-status delivery-succeeded">Enabled</span>
                  )}
                  {endpoint.disabledReason && <span class="operation muted">{endpoint.disabledReason}</span>}
                </td>
                <td data-label="Events">
                  {endpoint.enabledEvents.includes('*') ? (
                    'Every event'
                  ) : (
                    <ul class="inline-list">
                      {endpoint.enabledEvents.map((type) => (
                        <li key={type}>
                          <code>{type}</code>
                        </li>
                      ))}
                    </ul>
                  )}
                </td>
                <td data-label="Created">
                  <Time iso={endpoint.createdAt} dateOnly />
                </td>
                <td>
                  <div class="row-actions wrap">
                    <button type="button" onClick={() => setOpen({ dialog: 'edit', endpoint })}>
                      Edit<span class="visually-hidden"> {endpoint.url}</span>
                    </button>
                    <button
                      type="button"
                      onClick={() => setDisabled(endpoint, !endpoint.disabled)}
                      disabled={action.pending}
                    >
                      {endpoint.disabled ? 'Enable' : 'Disable'}
                      <span class="visually-hidden"> {endpoint.url}</span>
                    </button>
                    <button type="button" onClick={() => sendTest(endpoint)} disabled={action.pending}>
                      Send test<span class="visually-hidden"> to {endpoint.url}</span>
                    </button>
                    <button type="button" onClick={() => setOpen({ dialog: 'rotate', endpoint })}>
                      Rotate secret<span class="visually-hidden"> of {endpoint.url}</span>
                    </button>
                    <button
                      type="button"
                      aria-pressed={shown === endpoint.endpointId}
                      onClick={() => setShown(shown === endpoint.endpointId ? undefined : endpoint.endpointId)}
                    >
                      Deliveries<span class="visually-hidden"> to {endpoint.url}</span>
                    </button>
                    <button type="button" class="danger-quiet" onClick={() => setOpen({ dialog: 'delete', endpoint })}>
                      Delete<span class="visually-hidden"> {endpoint.url}</span>
                    </button>
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {selected && <Deliveries api={api} endpoint={selected} generation={generation} onStatus={setStatus} />}
      {open?.dialog === 'create' && <EndpointDialog api={api} onClose={() => setOpen(undefined)} onDone={done} />}
      {open?.dialog === 'edit' && (
        <EndpointDialog api={api} endpoint={open.endpoint} onClose={() => setOpen(undefined)} onDone={done} />
      )}
      {open?.dialog === 'rotate' && (
        <RotateSecretDialog api={api} endpoint={open.endpoint} onClose={() => setOpen(undefined)} onDone={done} />
      )}
      {open?.dialog === 'delete' && (
        <DeleteEndpointDialog api={api} endpoint={open.endpoint} onClose={() => setOpen(undefined)} onDone={done} />
      )}
    </>
  );
}
