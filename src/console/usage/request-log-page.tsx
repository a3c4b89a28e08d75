import { useEffect, useRef, useState } from 'preact/hooks';
import type { components, operations } from '../../../generated/schema.d.ts';
import { unwrap, unwrapEnvelope } from '../api.ts';
import { type Organization, useAction, useLoad, useSignedIn } from '../context.ts';
import type { ApiKey } from '../keys/types.ts';
import { CopyButton } from '../ui/copy-button.tsx';
import { ErrorNotice } from '../ui/error-notice.tsx';
import { Field, TextField } from '../ui/field.tsx';
import { PageHeader } from '../ui/page-header.tsx';
import { Time } from '../ui/time.tsx';

/** One recorded request. */
type LogEntry = components['schemas']['RequestLogEntry'];

/** The filters as the form holds them (strings); empty means "any". */
interface Filters {
  keyId: string;
  status: string;
  operationId: string;
  from: string;
  to: string;
}

const NO_FILTERS: Filters = { keyId: '', status: '', operationId: '', from: '', to: '' };
const PAGE_SIZE = 50;
const THIRTY_DAYS_MS = 30 * 86_400_000;

/** A `datetime-local` value (the reader's time) as an RFC 3339 instant; as typed when it isn't a time. */
function toInstant(value: string): string {
  const time = new Date(value);
  return Number.isNaN(time.getTime()) ? value : time.toISOString();
}

/** The query parameters of a request-log read, as the spec types them. */
type LogQuery = NonNullable<operations['listOrganizationRequestLogs']['parameters']['query']>;

/**
 * The query of a request-log read: each filter that was set, and the cursor of the next page. A value the spec refuses
 * (status 600, a start after the end) is sent as it is: the server's to explain, beside its field. A number input
 * holds only numbers, so the status is one or is empty.
 */
function toQuery(filters: Filters, cursor?: string): LogQuery {
  return {
    limit: PAGE_SIZE,
    ...(filters.keyId ? { keyId: filters.keyId } : {}),
    ...(filters.status.trim() ? { status: Number(filters.status) } : {}),
    ...(filters.operationId ? { operationId: filters.operationId } : {}),
    ...(filters.from ? { from: toInstant(filters.from) } : {}),
    ...(filters.to ? { to: toInstant(filters.to) } : {}),
    ...(cursor ? { cursor } : {}),
  };
}

const FIELDS = ['query.keyId', 'query.status', 'query.operationId', 'query.from', 'query.to', 'query.cursor'];

/**
 * The organization's request log, newest first: filters (key, status, operation, time), a page at a time, each entry
 * with its request id to copy (the `X-Request-Id` its caller saw).
 */
export function RequestLogPage({ organization }: { organization: Organization }) {
  const { client } = useSignedIn();
  const organizationId = organization.organizationId;
  const path = { organizationId };
  const keys = useLoad(
    () => unwrapEnvelope(client.GET('/organizations/{organizationId}/api-keys', { params: { path } })),
    [client, organizationId],
  );
  // The operations called in the retention period, busiest first: what the operation filter offers.
  const operations = useLoad(
    () =>
      unwrap(
        client.GET('/organizations/{organizationId}/usage', {
          params: {
            path,
            query: { groupBy: 'operation', from: new Date(Date.now() - THIRTY_DAYS_MS + 60_000).toISOString() },
          },
        }),
      ),
    [client, organizationId],
  );
  const [draft, setDraft] = useState<Filters>(NO_FILTERS);
  const [entries, setEntries] = useState<LogEntry[]>();
  const [next, setNext] = useState<string | null>(null);
  const [applied, setApplied] = useState<Filters>(NO_FILTERS);
  const { run, pending, failure } = useAction();

  async function show(filters: Filters, cursor?: string) {
    const result = await run(() =>
      unwrapEnvelope(
        client.GET('/organizations/{organizationId}/request-logs', {
          params: { path, query: toQuery(filters, cursor) },
        }),
      ),
    );
    if (result.ok) {
      setApplied(filters);
      setEntries((current) => (cursor ? [...(current ?? []), ...result.value.data] : result.value.data));
      setNext(result.value.meta.nextCursor);
    }
  }

  // The first page, unfiltered, when the page opens (once per organization: `show` is remade every render).
  useEffect(() => {
    show(NO_FILTERS);
  }, [organizationId]);

  const keyNames = new Map((keys.data?.data ?? []).map((key: ApiKey) => [key.keyId, key]));
  const set = (name: keyof Filters) => (value: string) => setDraft((current) => ({ ...current, [name]: value }));
  return (
    <section>
      <PageHeader title="Request log" />
      <p class="lead">
        Requests to <strong>{organization.name}</strong>, newest first: with its keys, and with its members' user tokens
        (this console's included). Never a key, a body or a query value. Without a time, the last 24 hours.
      </p>
      <form
        class="filters log-filters"
        noValidate
        onSubmit={(event) => {
          event.preventDefault();
          show(draft);
        }}
      >
        <Field label="Key" name="query.keyId" failure={failure}>
          {(control) => (
            <select {...control} value={draft.keyId} onChange={(event) => set('keyId')(event.currentTarget.value)}>
              <option value="">Any key or user</option>
              {(keys.data?.data ?? []).map((key) => (
                <option key={key.keyId} value={key.keyId}>
                  {key.name} ({key.keyPrefix})
                </option>
              ))}
            </select>
          )}
        </Field>
        <TextField
          label="Status"
          name="query.status"
          type="number"
          inputMode="numeric"
          value={draft.status}
          onValue={set('status')}
          failure={failure}
          hint="For example 403 or 429."
        />
        <Field label="Operation" name="query.operationId" failure={failure}>
          {(control) => (
            <select
              {...control}
              value={draft.operationId}
              onChange={(event) => set('operationId')(event.currentTarget.value)}
            >
              <option value="">Any operation</option>
              {(operations.data?.groups ?? [])
                .flatMap((group) => (group.group === null ? [] : [group.group]))
                .map((operationId) => (
                  <option key={operationId} value={operationId}>
                    {operationId}
                  </option>
                ))}
            </select>
          )}
        </Field>
        <TimeField label="From" name="query.from" value={draft.from} onValue={set('from')} failure={failure} />
        <TimeField label="To" name="query.to" value={draft.to} onValue={set('to')} failure={failure} />
        <div class="buttons">
          <button type="submit" class="primary" disabled={pending}>
            Show requests
          </button>
          <button
            type="button"
            onClick={() => {
              setDraft(NO_FILTERS);
              show(NO_FILTERS);
            }}
          >
            Clear filters
          </button>
        </div>
      </form>
      <ErrorNotice failure={failure} fields={FIELDS} />
      {entries === undefined ? (
        pending && <p aria-busy="true">Loading requests…</p>
      ) : entries.length === 0 ? (
        <div class="empty card">
          <p>
            No requests match
            {Object.values(applied).every((value) => value === '') ? ' in the last 24 hours' : ' these filters'}.
          </p>
        </div>
      ) : (
        <>
          <LogTable entries={entries} keyNames={keyNames} />
          {next && (
            <div class="buttons">
              <button type="button" onClick={() => show(applied, next)} disabled={pending}>
                Older requests
              </button>
            </div>
          )}
        </>
      )}
    </section>
  );
}

/** A `datetime-local` input in the reader's time zone. */
function TimeField(props: {
  label: string;
  name: string;
  value: string;
  onValue: (value: string) => void;
  failure: ReturnType<typeof useAction>['failure'];
}) {
  const { value, onValue, ...field } = props;
  return (
    <Field {...field} hint="Your time zone.">
      {(control) => (
        <input
          {...control}
          type="datetime-local"
          value={value}
          onInput={(event) => onValue(event.currentTarget.value)}
        />
      )}
    </Field>
  );
}

/** The log's entries: a table on a wide screen, a card per request on a narrow one. */
function LogTable({ entries, keyNames }: { entries: LogEntry[]; keyNames: Map<string, ApiKey> }) {
  return (
    <table class="data-table log-table">
      <caption>
        {entries.length} request{entries.length === 1 ? '' : 's'}, newest first
      </caption>
      <thead>
        <tr>
          <th scope="col">Request</th>
          <th scope="col">Status</th>
          <th scope="col">Time</th>
          <th scope="col">Key or user</th>
          <th scope="col" class="number">
            Duration
          </th>
          <th scope="col">From</th>
          <th scope="col">Request id</th>
        </tr>
      </thead>
      <tbody>
        {entries.map((entry) => (
          <LogRow
            key={entry.requestId + entry.at}
            entry={entry}
            apiKey={entry.keyId ? keyNames.get(entry.keyId) : undefined}
          />
        ))}
      </tbody>
    </table>
  );
}

function LogRow({ entry, apiKey }: { entry: LogEntry; apiKey: ApiKey | undefined }) {
  const idRef = useRef<HTMLElement>(null);
  const status = entry.status;
  return (
    <tr>
      <th scope="row" class="row-title">
        <span class="method">{entry.method}</span> <code>{entry.path ?? '(no such path)'}</code>
        {entry.operationId && <span class="operation muted">{entry.operationId}</span>}
      </th>
      <td data-label="Status">
        <span class={`status status-${Math.floor(status / 100)}xx${status === 429 ? ' status-429' : ''}`}>
          {status}
        </span>
      </td>
      <td data-label="Time">
        <Time iso={entry.at} relative />
      </td>
      <td data-label="Key or user">
        {entry.keyId === null ? (
          'User token'
        ) : apiKey ? (
          <>
            {apiKey.name} <span class="muted">({entry.environment})</span>
          </>
        ) : (
          <code>{entry.keyId}</code>
        )}
      </td>
      <td data-label="Duration" class="number">
        {entry.durationMs < 10 ? entry.durationMs.toFixed(1) : Math.round(entry.durationMs)} ms
      </td>
      <td data-label="From">
        <span class="origin">
          <span>{entry.clientAddress}</span>
          {entry.userAgent && <span class="user-agent muted">{entry.userAgent}</span>}
        </span>
      </td>
      <td data-label="Request id">
        <span class="request-id-cell">
          <code class="request-id" ref={idRef}>
            {entry.requestId}
          </code>
          <CopyButton text={entry.requestId} field={idRef} label={`request id ${entry.requestId}`} />
        </span>
      </td>
    </tr>
  );
}
