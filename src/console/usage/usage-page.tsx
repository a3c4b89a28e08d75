import type { FunctionComponent } from 'preact';
import { useEffect, useId, useState } from 'preact/hooks';
import { unwrap, unwrapEnvelope } from '../api.ts';
import { type Organization, useLoad, useSignedIn } from '../context.ts';
import type { ApiKey } from '../keys/types.ts';
import { useRoute } from '../router.ts';
import { ErrorNotice } from '../ui/error-notice.tsx';
import { PageHeader } from '../ui/page-header.tsx';
import type { Granularity, UsagePoint } from './series.ts';
import { UsageLegend, UsageTable } from './usage-table.tsx';
import { UsageTotals } from './usage-totals.tsx';

/** The periods offered, in hours back from now; each has the granularity that suits it. */
const PERIODS = [
  { id: '24h', label: 'Last 24 hours', hours: 24, granularity: 'hour' },
  { id: '7d', label: 'Last 7 days', hours: 24 * 7, granularity: 'hour' },
  { id: '30d', label: 'Last 30 days', hours: 24 * 30, granularity: 'day' },
] as const;

type ChartComponent = FunctionComponent<{ points: readonly UsagePoint[]; granularity: Granularity }>;

/**
 * The chart's module, imported once on first use: uPlot is the heaviest library the console has, and only this page
 * draws with it, so the build puts it in a chunk of its own.
 */
let chartModule: Promise<ChartComponent> | undefined;
function loadChart(): Promise<ChartComponent> {
  chartModule ??= import('./usage-chart.tsx').then((module) => module.UsageChart);
  return chartModule;
}

/** A key's requests by hour or day, split by status class: a chart, and the same numbers as a table. */
export function UsagePage({ organization }: { organization: Organization }) {
  const { client } = useSignedIn();
  const organizationId = organization.organizationId;
  const keys = useLoad(
    () =>
      unwrapEnvelope(client.GET('/organizations/{organizationId}/api-keys', { params: { path: { organizationId } } })),
    [client, organizationId],
  );
  const list = keys.data?.data;
  // A key's "Usage" link opens the page on that key (#/organizations/{id}/usage/{keyId}).
  const route = useRoute();
  const [keyId, setKeyId] = useState(route.name === 'organization' ? (route.item ?? '') : '');
  const chosen = list?.find((key) => key.keyId === keyId) ?? list?.[0];
  const [periodId, setPeriodId] = useState<(typeof PERIODS)[number]['id']>('24h');
  const period = PERIODS.find((p) => p.id === periodId) ?? PERIODS[0];
  const [granularity, setGranularity] = useState<Granularity>(period.granularity);
  const ids = { key: useId(), period: useId(), granularity: useId() };

  return (
    <section>
      <PageHeader title="Usage" />
      <p class="lead">
        Every request made with a key of <strong>{organization.name}</strong>, refused ones included, counted by the
        hour or the day and by status class. Counts are recorded within about a second.
      </p>
      <ErrorNotice failure={keys.failure} />
      {list === undefined ? (
        keys.loading && <p aria-busy="true">Loading keys…</p>
      ) : list.length === 0 || !chosen ? (
        <div class="empty card">
          <p>No keys yet: create one on the API keys page, then its usage shows here.</p>
        </div>
      ) : (
        <>
          <div class="filters">
            <div class="field">
              <label for={ids.key}>Key</label>
              <select id={ids.key} value={chosen.keyId} onChange={(event) => setKeyId(event.currentTarget.value)}>
                {list.map((key) => (
                  <option key={key.keyId} value={key.keyId}>
                    {key.name} ({key.keyPrefix}, {key.environment})
                  </option>
                ))}
              </select>
            </div>
            <div class="field">
              <label for={ids.period}>Period</label>
              <select
                id={ids.period}
                value={period.id}
                onChange={(event) => {
                  const next = PERIODS.find((p) => p.id === event.currentTarget.value) ?? PERIODS[0];
                  setPeriodId(next.id);
                  setGranularity(next.granularity);
                }}
              >
                {PERIODS.map((p) => (
                  <option key={p.id} value={p.id}>
                    {p.label}
                  </option>
                ))}
              </select>
            </div>
            <div class="field">
              <label for={ids.granularity}>Bars</label>
              <select
                id={ids.granularity}
                value={granularity}
                onChange={(event) => setGranularity(event.currentTarget.value as Granularity)}
              >
                <option value="hour">By hour</option>
                <option value="day">By day</option>
              </select>
            </div>
          </div>
          <KeyUsage
            organization={organization}
            apiKey={chosen}
            hours={period.hours}
            periodLabel={period.label}
            granularity={granularity}
          />
          <UsageTotals organization={organization} keys={list} hours={period.hours} periodLabel={period.label} />
        </>
      )}
    </section>
  );
}

/** One key's usage over a period: the chart (loaded on demand) above the table of the same numbers. */
function KeyUsage({
  organization,
  apiKey,
  hours,
  periodLabel,
  granularity,
}: {
  organization: Organization;
  apiKey: ApiKey;
  hours: number;
  periodLabel: string;
  granularity: Granularity;
}) {
  const { client } = useSignedIn();
  const usage = useLoad(() => {
    const to = new Date();
    const from = new Date(to.getTime() - hours * 3_600_000);
    return unwrap(
      client.GET('/organizations/{organizationId}/api-keys/{keyId}/usage', {
        params: {
          path: { organizationId: organization.organizationId, keyId: apiKey.keyId },
          query: { from: from.toISOString(), to: to.toISOString(), granularity },
        },
      }),
    );
  }, [client, organization.organizationId, apiKey.keyId, hours, granularity]);
  const [Chart, setChart] = useState<ChartComponent>();
  useEffect(() => {
    loadChart().then((component) => setChart(() => component));
  }, []);
  const data = usage.data;
  // The views show the answer's own granularity: a newer choice's answer may still be on its way.
  const shown = data?.granularity ?? granularity;
  const caption = `${apiKey.name}, ${periodLabel.toLowerCase()}, by ${shown}`;
  return (
    <div class="usage" aria-busy={usage.loading}>
      <ErrorNotice failure={usage.failure} />
      <div class="page-actions">
        <button type="button" onClick={usage.reload} disabled={usage.loading}>
          Refresh
        </button>
      </div>
      {data && (
        <>
          <figure class="card chart-card">
            <figcaption>
              Requests with <strong>{apiKey.name}</strong> by {shown}: {data.totals.total.toLocaleString()} in all,{' '}
              {data.totals.status429.toLocaleString()} rate limited. The table below holds the same numbers.
            </figcaption>
            <UsageLegend />
            {Chart ? <Chart points={data.buckets} granularity={shown} /> : <p>Loading the chart…</p>}
          </figure>
          <UsageTable points={data.buckets} totals={data.totals} granularity={shown} caption={caption} />
        </>
      )}
    </div>
  );
}
