import { unwrap, unwrapEnvelope } from '../api.ts';
import { useAction, useLoad } from '../context.ts';
import { ErrorNotice } from '../ui/error-notice.tsx';
import { Time } from '../ui/time.tsx';
import type { Delivery, Endpoint, WebhooksApi } from './types.ts';

/** An endpoint's latest deliveries, newest first: status, attempts, the last answer, the next attempt, and "Retry". */
export function Deliveries({
  api,
  endpoint,
  generation,
  onStatus,
}: {
  api: WebhooksApi;
  endpoint: Endpoint;
  /** Bumped by the page when it queued one (a test event), so the list is read again. */
  generation: number;
  onStatus: (status: string) => void;
}) {
  const path = { organizationId: api.organizationId, endpointId: endpoint.endpointId };
  const deliveries = useLoad(
    () =>
      unwrapEnvelope(
        api.client.GET('/organizations/{organizationId}/webhook-endpoints/{endpointId}/deliveries', {
          params: { path },
        }),
      ),
    [api, endpoint.endpointId, generation],
  );
  const retry = useAction();
  async function retryDelivery(delivery: Delivery) {
    const result = await retry.run(() =>
      unwrap(
        api.client.POST(
          '/organizations/{organizationId}/webhook-endpoints/{endpointId}/deliveries/{deliveryId}/retry',
          {
            params: { path: { ...path, deliveryId: delivery.deliveryId } },
          },
        ),
      ),
    );
    if (result.ok) {
      onStatus(`Retrying the ${delivery.eventType} delivery ${delivery.deliveryId}.`);
      deliveries.reload();
    }
  }
  const list = deliveries.data?.data;
  return (
    <section class="deliveries" aria-labelledby="deliveries-heading">
      <div class="page-header">
        <h2 id="deliveries-heading">
          Deliveries to <code>{endpoint.url}</code>
        </h2>
        <div class="page-actions">
          <button type="button" onClick={deliveries.reload} disabled={deliveries.loading}>
            Refresh deliveries
          </button>
        </div>
      </div>
      <ErrorNotice failure={deliveries.failure ?? retry.failure} />
      {list === undefined ? (
        deliveries.loading && <p aria-busy="true">Loading deliveries…</p>
      ) : list.length === 0 ? (
        <div class="empty card">
          <p>No deliveries yet. "Send test" sends a ping event.</p>
        </div>
      ) : (
        <table class="data-table deliveries-table">
          <caption>
            The latest {list.length} deliver{list.length === 1 ? 'y' : 'ies'}, newest first
          </caption>
          <thead>
            <tr>
              <th scope="col">Event</th>
              <th scope="col">Status</th>
              <th scope="col">Attempts</th>
              <th scope="col">Last answer</th>
              <th scope="col">Last attempt</th>
              <th scope="col">Next attempt</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {list.map((delivery) => (
              <tr key={delivery.deliveryId}>
                <th scope="row" class="row-title">
                  <code>{delivery.eventType}</code>
                  <span class="operation muted">{delivery.deliveryId}</span>
                </th>
                <td data-label="Status">
                  <span class={`delivery-status delivery-${delivery.status}`}>{delivery.status}</span>
                </td>
                <td data-label="Attempts">{delivery.attempts}</td>
                <td data-label="Last answer">
                  {delivery.lastResponseStatus !== null
                    ? `HTTP ${delivery.lastResponseStatus}`
                    : (delivery.lastError ?? 'None yet')}
                </td>
                <td data-label="Last attempt">
                  {delivery.lastAttemptAt ? <Time iso={delivery.lastAttemptAt} relative /> : 'Never'}
                </td>
                <td data-label="Next attempt">
                  {delivery.nextAttemptAt ? <Time iso={delivery.nextAttemptAt} relative /> : '—'}
                </td>
                <td>
                  <div class="row-actions">
                    <button type="button" onClick={() => retryDelivery(delivery)} disabled={retry.pending}>
                      Retry
                      <span class="visually-hidden">
                        {' '}
                        the {delivery.eventType} delivery {delivery.deliveryId}
                      </span>
                    </button>
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
