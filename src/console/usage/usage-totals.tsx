import { useId, useState } from 'preact/hooks';
import type { components } from '../../../generated/schema.d.ts';
import { unwrap } from '../api.ts';
import { type Organization, useLoad, useSignedIn } from '../context.ts';
import type { ApiKey } from '../keys/types.ts';
import { ErrorNotice } from '../ui/error-notice.tsx';
import { TABLE_COLUMNS } from './series.ts';

type GroupBy = components['schemas']['UsageGroupBy'];

const GROUPINGS: Record<GroupBy, string> = { key: 'Key', environment: 'Environment', operation: 'Operation' };

/**
 * The organization's totals over the same period, by key, environment or operation (`GET …/usage?groupBy=`), the
 * busiest first: how the keys of each environment are used, side by side.
 */
export function UsageTotals({
  organization,
  keys,
  hours,
  periodLabel,
}: {
  organization: Organization;
  keys: readonly ApiKey[];
  hours: number;
  periodLabel: string;
}) {
  const { client } = useSignedIn();
  const [groupBy, setGroupBy] = useState<GroupBy>('environment');
  const id = useId();
  const totals = useLoad(() => {
    const to = new Date();
    return unwrap(
      client.GET('/organizations/{organizationId}/usage', {
        params: {
          path: { organizationId: organization.organizationId },
          query: { groupBy, from: new Date(to.getTime() - hours * 3_600_000).toISOString(), to: to.toISOString() },
        },
      }),
    );
  }, [client, organization.organizationId, groupBy, hours]);
  const names = new Map(keys.map((key) => [key.keyId, key.name]));
  const groups = totals.data?.groups;
  // What the table shows is what the last answer was grouped by (the choice may be newer, its answer on the way).
  const shownBy = totals.data?.groupBy ?? groupBy;
  const label = (group: string | null) =>
    group === null
      ? shownBy === 'operation'
        ? 'Paths the API does not have'
        : 'User tokens (members)'
      : shownBy === 'key'
        ? (names.get(group) ?? `${group} (revoked)`)
        : group;
  return (
    <section class="usage-totals" aria-labelledby={`${id}-heading`}>
      <div class="page-header">
        <h2 id={`${id}-heading`}>All of {organization.name}</h2>
        <div class="field inline-field">
          <label for={id}>Totals by</label>
          <select id={id} value={groupBy} onChange={(event) => setGroupBy(event.currentTarget.value as GroupBy)}>
            {(Object.entries(GROUPINGS) as [GroupBy, string][]).map(([value, text]) => (
              <option key={value} value={value}>
                {text}
              </option>
            ))}
          </select>
        </div>
      </div>
      <ErrorNotice failure={totals.failure} />
      {groups && (
        <table class="data-table usage-table">
          <caption>
            {periodLabel}, by {GROUPINGS[shownBy].toLowerCase()}: {totals.data?.totals.total.toLocaleString()} requests
          </caption>
          <thead>
            <tr>
              <th scope="col">{GROUPINGS[shownBy]}</th>
              {TABLE_COLUMNS.map((column) => (
                <th key={column.key} scope="col" class="number">
                  {column.label}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {groups.map((group) => (
              <tr key={group.group ?? 'none'}>
                <th scope="row">{label(group.group)}</th>
                {TABLE_COLUMNS.map((column) => (
                  <td key={column.key} class="number" data-label={column.label}>
                    {group.counts[column.key].toLocaleString()}
                  </td>
                ))}
              </tr>
            ))}
            {groups.length === 0 && (
              <tr>
                <td colSpan={TABLE_COLUMNS.length + 1}>No requests in this period.</td>
              </tr>
            )}
          </tbody>
        </table>
      )}
    </section>
  );
}
