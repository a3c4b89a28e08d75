import type { components } from '../../../generated/schema.d.ts';

/** How many requests, by status class, as the server counts them (`status429` is within `status4xx` too). */
export type UsageCounts = components['schemas']['UsageCounts'];

/** One bucket of a key's usage (`start`, `counts`). */
export type UsagePoint = components['schemas']['UsageBucket'];

/** Hour or day buckets. */
export type Granularity = components['schemas']['UsageGranularity'];

/**
 * The kinds of answer the chart stacks, bottom to top, each a part of the total: 429s are drawn apart from the other
 * 4xx (the server counts them in `status4xx` too). The colours keep at least 3:1 against white and differ in lightness
 * as well as hue, for readers who don't tell hues apart.
 */
export const CHART_SERIES = [
  { key: '2xx', label: '2xx success', color: '#1e7a3c', count: (c: UsageCounts) => c.status2xx },
  {
    key: '4xx',
    label: '4xx refused (not 429)',
    color: '#b35c00',
    count: (c: UsageCounts) => c.status4xx - c.status429,
  },
  { key: '429', label: '429 rate limited', color: '#6b3fb8', count: (c: UsageCounts) => c.status429 },
  { key: '5xx', label: '5xx server error', color: '#b3261e', count: (c: UsageCounts) => c.status5xx },
] as const;

/** The table's columns: the server's own counts, as its `UsageCounts` names them. */
export const TABLE_COLUMNS = [
  { key: 'status2xx', label: '2xx' },
  { key: 'status4xx', label: '4xx' },
  { key: 'status429', label: 'of which 429' },
  { key: 'status5xx', label: '5xx' },
  { key: 'total', label: 'Total' },
] as const satisfies readonly { key: keyof UsageCounts; label: string }[];
