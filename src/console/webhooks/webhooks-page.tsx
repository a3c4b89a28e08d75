import { useMemo, useState } from 'preact/hooks';
import { unwrap, unwrapEnvelope } from '../api.ts';
import { type Organization, useAction, useLoad, useSignedIn } from '../context.ts';
import { ErrorNotice } from '../ui/error-notice.tsx';
import { PageHeader } from '../ui/page-header.tsx';
import { Time } from '../ui/time.tsx';
import { Deliveries } from './deliveries.tsx';
import { DeleteEndpointDialog, EndpointDialog, RotateSecretDialog } from './endpoint-dialogs.tsx';
import type { Endpoint, WebhooksApi } from './types.ts';

type Open = { dialog: 'create' } | { dialog: 'edit' | 'rotate' | 'delete'; endpoint: Endpoint } | undefined;

/**
 * The organization's webhook endpoints and their deliveries, managed with the signed-in user's token through the
 * `/organizations/{organizationId}/webhook-endpoints` twins of the `/v1` operations: any member may.
 */
export function WebhooksPage({ organization }: { organization: Organization }) {
  const { client } = useSignedIn();
  const api = useMemo<WebhooksApi>(
    () => ({ client, organizationId: organization.organizationId }),
    [client, organization.organizationId],
  );
  return (
    <section>
      <PageHeader title="Webhooks" />
      <p class="lead">
        Endpoints that receive <strong>{organization.name}</strong>'s events (a key created, rotated, revoked, expiring,
        leaked; unusual activity), signed with a secret shown once, and each delivery's fate.
      </p>
      <Endpoints api={api} />
    </section>
  );
}

/** The endpoints: the list, "Add endpoint", and each one's actions; the chosen one's deliveries beneath. */
function Endpoints({ api }: { api: WebhooksApi }) {
  const endpoints = useLoad(
    () =>
      unwrapEnvelope(
        api.client.GET('/organizations/{organizationId}/webhook-endpoints', {
          params: { path: { organizationId: api.organizationId } },
        }),
      ),
    [api],
  );
  const action = useAction();
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
  const path = (endpoint: Endpoint) => ({
    params: { path: { organizationId: api.organizationId, endpointId: endpoint.endpointId } },
  });

  async function setDisabled(endpoint: Endpoint, disabled: boolean) {
    const result = await action.run(() =>
      unwrap(
        api.client.PATCH('/organizations/{organizationId}/webhook-endpoints/{endpointId}', {
          ...path(endpoint),
          body: { disabled },
        }),
      ),
    );
    if (result.ok) {
      done(`${disabled ? 'Disabled' : 'Enabled'} ${endpoint.url}.`);
    }
  }
  async function sendTest(endpoint: Endpoint) {
    const result = await action.run(() =>
      unwrap(api.client.POST('/organizations/{organizationId}/webhook-endpoints/{endpointId}/test', path(endpoint))),
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
              <EndpointRow
                key={endpoint.endpointId}
                endpoint={endpoint}
                pending={action.pending}
                deliveriesShown={shown === endpoint.endpointId}
                onOpen={(dialog) => setOpen({ dialog, endpoint })}
                onSetDisabled={(disabled) => setDisabled(endpoint, disabled)}
                onSendTest={() => sendTest(endpoint)}
                onToggleDeliveries={() => setShown(shown === endpoint.endpointId ? undefined : endpoint.endpointId)}
              />
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

/** One endpoint's row: its URL, state and events, and its actions (each button names the endpoint to a screen reader). */
function EndpointRow({
  endpoint,
  pending,
  deliveriesShown,
  onOpen,
  onSetDisabled,
  onSendTest,
  onToggleDeliveries,
}: {
  endpoint: Endpoint;
  pending: boolean;
  deliveriesShown: boolean;
  onOpen: (dialog: 'edit' | 'rotate' | 'delete') => void;
  onSetDisabled: (disabled: boolean) => void;
  onSendTest: () => void;
  onToggleDeliveries: () => void;
}) {
  return (
    <tr>
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
          <button type="button" onClick={() => onOpen('edit')}>
            Edit<span class="visually-hidden"> {endpoint.url}</span>
          </button>
          <button type="button" onClick={() => onSetDisabled(!endpoint.disabled)} disabled={pending}>
            {endpoint.disabled ? 'Enable' : 'Disable'}
            <span class="visually-hidden"> {endpoint.url}</span>
          </button>
          <button type="button" onClick={onSendTest} disabled={pending}>
            Send test<span class="visually-hidden"> to {endpoint.url}</span>
          </button>
          <button type="button" onClick={() => onOpen('rotate')}>
            Rotate secret<span class="visually-hidden"> of {endpoint.url}</span>
          </button>
          <button type="button" aria-pressed={deliveriesShown} onClick={onToggleDeliveries}>
            Deliveries<span class="visually-hidden"> to {endpoint.url}</span>
          </button>
          <button type="button" class="danger-quiet" onClick={() => onOpen('delete')}>
            Delete<span class="visually-hidden"> {endpoint.url}</span>
          </button>
        </div>
      </td>
    </tr>
  );
}
