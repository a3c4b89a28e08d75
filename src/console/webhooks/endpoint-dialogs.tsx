import { useId, useRef, useState } from 'preact/hooks';
import { unwrap, unwrapEnvelope } from '../api.ts';
import { useAction } from '../context.ts';
import { SecretReveal } from '../keys/secret-reveal.tsx';
import { ConfirmDialog } from '../ui/confirm-dialog.tsx';
import { Dialog } from '../ui/dialog.tsx';
import { ErrorNotice } from '../ui/error-notice.tsx';
import { fieldMessages } from '../ui/failure.ts';
import { TextField } from '../ui/field.tsx';
import { Time } from '../ui/time.tsx';
import { type Endpoint, EVENT_TYPES, type EventType, type WebhooksApi } from './types.ts';

const SECRET_ADVICE =
  'Copy it now into your receiver’s configuration: it verifies the webhook-signature header of every delivery. Leaving this page loses it.';

/** The events an endpoint is sent: every one (`*`), or those checked. Sent as chosen; the server explains a refusal. */
function EventsInput({
  value,
  onValue,
  failure,
}: {
  value: readonly EventType[];
  onValue: (value: EventType[]) => void;
  failure: ReturnType<typeof useAction>['failure'];
}) {
  const id = useId();
  const messages = fieldMessages(failure, 'enabledEvents');
  const all = value.includes('*');
  const toggle = (type: EventType, on: boolean) =>
    onValue(EVENT_TYPES.map(([t]) => t).filter((t) => (t === type ? on : value.includes(t))));
  return (
    <fieldset
      class={`choices permissions${messages.length > 0 ? ' field-invalid' : ''}`}
      aria-invalid={messages.length > 0 ? 'true' : undefined}
      aria-describedby={messages.length > 0 ? `${id}-error` : undefined}
    >
      <legend>Events</legend>
      <div class="check">
        <input
          type="checkbox"
          id={`${id}-all`}
          checked={all}
          onChange={(event) => onValue(event.currentTarget.checked ? ['*'] : [])}
        />
        <label for={`${id}-all`}>Every event</label>
        <span class="hint">Including event types added later.</span>
      </div>
      {!all &&
        EVENT_TYPES.map(([type, about]) => (
          <div key={type} class="check">
            <input
              type="checkbox"
              id={`${id}-${type}`}
              checked={value.includes(type)}
              aria-describedby={`${id}-${type}-about`}
              onChange={(event) => toggle(type, event.currentTarget.checked)}
            />
            <label for={`${id}-${type}`}>
              <code>{type}</code>
            </label>
            <span class="hint" id={`${id}-${type}-about`}>
              {about}
            </span>
          </div>
        ))}
      {messages.length > 0 && (
        <p class="field-error" id={`${id}-error`}>
          {messages.join('; ')}
        </p>
      )}
    </fieldset>
  );
}

/**
 * "Add endpoint" (then its signing secret, shown once) and "Edit": the URL, a description and the events. The URL is
 * the server's to judge (https, public addresses, no credentials): its message sits beside the field.
 */
export function EndpointDialog({
  api,
  endpoint,
  onClose,
  onDone,
}: {
  api: WebhooksApi;
  endpoint?: Endpoint;
  onClose: () => void;
  onDone: (status: string) => void;
}) {
  const { run, pending, failure } = useAction();
  const [url, setUrl] = useState(endpoint?.url ?? '');
  const [description, setDescription] = useState(endpoint?.description ?? '');
  const [events, setEvents] = useState<EventType[]>(endpoint?.enabledEvents ?? ['*']);
  const [created, setCreated] = useState<{ secret: string; warning: string; url: string }>();

  async function submit(event: Event) {
    event.preventDefault();
    if (endpoint) {
      const result = await run(() =>
        unwrap(
          api.client.PATCH('/organizations/{organizationId}/webhook-endpoints/{endpointId}', {
            params: { path: { organizationId: api.organizationId, endpointId: endpoint.endpointId } },
            body: { url, description: description === '' ? null : description, enabledEvents: events },
          }),
        ),
      );
      if (result.ok) {
        onDone(`Saved ${result.value.url}.`);
        onClose();
      }
      return;
    }
    const result = await run(() =>
      unwrapEnvelope(
        api.client.POST('/organizations/{organizationId}/webhook-endpoints', {
          params: { path: { organizationId: api.organizationId } },
          body: { url, enabledEvents: events, ...(description === '' ? {} : { description }) },
        }),
      ),
    );
    if (result.ok) {
      const { data, meta } = result.value;
      setCreated({ secret: data.secret, warning: meta.warning, url: data.url });
      onDone(`Added ${data.url}.`);
    }
  }

  if (created) {
    return (
      <Dialog key="secret" title="Your endpoint’s signing secret" onClose={onClose} wide>
        <SecretReveal
          apiKey={created.secret}
          warning={created.warning}
          onDone={onClose}
          label="Signing secret"
          advice={SECRET_ADVICE}
        >
          <p>
            Deliveries to <code>{created.url}</code> are signed with it (Standard Webhooks: <code>webhook-id</code>,{' '}
            <code>webhook-timestamp</code>, <code>webhook-signature</code>); <code>verifyWebhook</code> of{' '}
            <code>@mailroom/client</code> checks them.
          </p>
        </SecretReveal>
      </Dialog>
    );
  }
  const title = endpoint ? 'Edit endpoint' : 'Add endpoint';
  return (
    <Dialog key="form" title={title} onClose={onClose} wide>
      <form class="form" noValidate onSubmit={submit}>
        <ErrorNotice failure={failure} fields={['url', 'description', 'enabledEvents']} />
        <TextField
          label="URL"
          name="url"
          required
          initialFocus
          value={url}
          onValue={setUrl}
          failure={failure}
          hint="Where events are POSTed: https, on a public address."
        />
        <TextField
          label="Description (optional)"
          name="description"
          value={description}
          onValue={setDescription}
          failure={failure}
        />
        <EventsInput value={events} onValue={setEvents} failure={failure} />
        <div class="buttons">
          <button type="submit" class="primary" disabled={pending}>
            {endpoint ? 'Save endpoint' : 'Add endpoint'}
          </button>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/** "Rotate secret": a new secret, shown once; both sign for 24 hours so the receiver can switch without a gap. */
export function RotateSecretDialog({
  api,
  endpoint,
  onClose,
  onDone,
}: {
  api: WebhooksApi;
  endpoint: Endpoint;
  onClose: () => void;
  onDone: (status: string) => void;
}) {
  const { run, pending, failure } = useAction();
  const [rotated, setRotated] = useState<{ secret: string; warning: string; until: string }>();
  async function rotate() {
    const result = await run(() =>
      unwrapEnvelope(
        api.client.POST('/organizations/{organizationId}/webhook-endpoints/{endpointId}/rotate-secret', {
          params: { path: { organizationId: api.organizationId, endpointId: endpoint.endpointId } },
        }),
      ),
    );
    if (result.ok) {
      const { data, meta } = result.value;
      setRotated({ secret: data.secret, warning: meta.warning, until: data.previousSecretExpiresAt });
      onDone(`Rotated the signing secret of ${endpoint.url}.`);
    }
  }
  if (rotated) {
    return (
      <Dialog key="secret" title="New signing secret" onClose={onClose} wide>
        <SecretReveal
          apiKey={rotated.secret}
          warning={rotated.warning}
          onDone={onClose}
          label="Signing secret"
          advice={SECRET_ADVICE}
        >
          <p>
            Until <Time iso={rotated.until} />, every delivery carries two signatures, one per secret: put the new one
            in place before then.
          </p>
        </SecretReveal>
      </Dialog>
    );
  }
  return (
    <ConfirmDialog
      key="confirm"
      title={`Rotate the secret of ${endpoint.url}?`}
      confirmLabel="Rotate secret"
      onConfirm={rotate}
      onClose={onClose}
      pending={pending}
      failure={failure}
      tone="primary"
      wide
    >
      <p>
        A new signing secret is made and shown once. For 24 hours both the old and the new one sign every delivery, so
        the receiver keeps verifying while you deploy the new one.
      </p>
    </ConfirmDialog>
  );
}

/** "Delete", confirmed: the endpoint, its secret and its deliveries go. */
export function DeleteEndpointDialog({
  api,
  endpoint,
  onClose,
  onDone,
}: {
  api: WebhooksApi;
  endpoint: Endpoint;
  onClose: () => void;
  onDone: (status: string) => void;
}) {
  const { run, pending, failure } = useAction();
  const deleted = useRef(false);
  async function remove() {
    const result = await run(() =>
      unwrap(
        api.client.DELETE('/organizations/{organizationId}/webhook-endpoints/{endpointId}', {
          params: { path: { organizationId: api.organizationId, endpointId: endpoint.endpointId } },
        }),
      ),
    );
    if (result.ok) {
      deleted.current = true;
      onDone(`Deleted ${endpoint.url}.`);
      onClose();
    }
  }
  return (
    <ConfirmDialog
      title={`Delete ${endpoint.url}?`}
      confirmLabel="Delete endpoint"
      onConfirm={remove}
      onClose={onClose}
      pending={pending}
      failure={failure}
      gone={() => deleted.current}
    >
      <p>Nothing more is sent to it; its secret and its deliveries, pending ones included, are deleted.</p>
    </ConfirmDialog>
  );
}
