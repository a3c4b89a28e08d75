import { formatDateTime } from '../ui/format.ts';
import { CHART_SERIES, type Granularity, TABLE_COLUMNS, type UsageCounts, type UsagePoint } from './series.ts';

const DAY = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeZone: 'UTC' });

/** A bucket's start in words: the hour's date and time (local), or the day's date (the server's days are UTC). */
function bucketLabel(start: string, granularity: Granularity): string {
  return granularity === 'day' ? `${DAY.format(new Date(start))} (UTC)` : formatDateTime(start);
}

/**
 * The chart's numbers as a table, what a screen reader reads: one row per hour or day that had requests (the caption
 * says the rest had none), a column per status class as the server counts them, and the totals.
 */
export function UsageTable({
  points,
  totals,
  granularity,
  caption,
}: {
  points: readonly UsagePoint[];
  totals: UsageCounts;
  granularity: Granularity;
  caption: string;
}) {
  const busy = points.filter((point) => point.counts.total > 0);
  const unit = granularity === 'hour' ? 'hours' : 'days';
  return (
    <table class="data-table usage-table">
      <caption>
        {caption}: {totals.total.toLocaleString()} request{totals.total === 1 ? '' : 's'}
        {busy.length < points.length ? ` (${unit} without any are left out)` : ''}
      </caption>
      <thead>
        <tr>
          <th scope="col">{granularity === 'hour' ? 'Hour' : 'Day'}</th>
          {TABLE_COLUMNS.map((column) => (
            <th key={column.key} scope="col" class="number">
              {column.label}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {busy.map((point) => (
          <tr key={point.start}>
            <th scope="row">
              <time dateTime={point.start}>{bucketLabel(point.start, granularity)}</time>
            </th>
            {TABLE_COLUMNS.map((column) => (
              <td key={column.key} class="number" data-label={column.label}>
                {point.counts[column.key].toLocaleString()}
              </td>
            ))}
          </tr>
        ))}
        {busy.length === 0 && (
          <tr>
            <td colSpan={TABLE_COLUMNS.length + 1}>No requests in this period.</td>
          </tr>
        )}
      </tbody>
      {busy.length > 1 && (
        <tfoot>
          <tr>
            <th scope="row">All {unit}</th>
            {TABLE_COLUMNS.map((column) => (
              <td key={column.key} class="number" data-label={column.label}>
                {totals[column.key].toLocaleString()}
              </td>
            ))}
          </tr>
        </tfoot>
      )}
    </table>
  );
}

/** The chart's key: a swatch and a name per band (uPlot's own legend is off; the table has the numbers). */
export function UsageLegend() {
  return (
    <ul class="usage-legend" aria-hidden="true">
      {CHART_SERIES.map((series) => (
        <li key={series.key}>
          <span class={`swatch swatch-${series.key}`} />
          {series.label}
        </li>
      ))}
    </ul>
  );
}
