import { formatDateTime, formatRelative } from './format.ts';

/** A moment as a `<time>`: the date and time, or how long ago / how far ahead with the date in its title. */
export function Time({ iso, relative = false }: { iso: string; relative?: boolean }) {
  return (
    <time dateTime={iso} title={relative ? formatDateTime(iso) : iso}>
      {relative ? formatRelative(iso) : formatDateTime(iso)}
    </time>
  );
}
